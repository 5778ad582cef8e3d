// Hosts made of network namespaces, as data: N netns on one Linux bridge in the root netns,
// each with its own address, for `deploy up --nodes N` and the multi-host test helper.
// Every name carries the run's prefix, so teardown (teardown.ts) finds everything by it.
//
//   root netns:  <prefix>br  (bridge, <subnet>.1/24)
//                  ├─ <prefix>v1 ──veth── eth0 in netns <prefix>-h1 (<subnet>.2/24, default via .1)
//                  ├─ <prefix>v2 ──veth── eth0 in netns <prefix>-h2 (<subnet>.3/24)
//                  └─ …
// Pure: no I/O here; apply.ts runs the commands.

/** The largest N `deploy up --nodes` and the helper accept (a /24 has room for far more). */
export const maxHosts = 20;

/** Interface names are at most 15 bytes: "<prefix>br" and "<prefix>v20" must fit. */
export const maxPrefixLength = 11;

export interface HostSpec {
  /** 1-based. */
  index: number;
  /** The netns name, /run/netns/<name>; also the node's name. */
  name: string;
  netnsPath: string;
  /** The host's address on the bridge (its InternalIP). */
  address: string;
  /** The veth end on the bridge, in the root netns. */
  rootVeth: string;
  /** The veth end inside the host's netns. */
  hostVeth: string;
  /** Per host names the agent inside uses; all carry the prefix. */
  agent: {
    bridgeName: string;
    netnsPrefix: string;
    cgroupParent: string;
  };
}

export interface HostsPlan {
  prefix: string;
  bridge: string;
  /** "a.b.c.0/24". */
  subnet: string;
  /** The bridge's (root netns side) address: where etcd, NATS, the registry and the controller listen. */
  gateway: string;
  prefixLength: number;
  hosts: HostSpec[];
}

export class HostsPlanError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly value: string | number,
  ) {
    super(message);
    this.name = 'HostsPlanError';
  }
}

/** A prefix every name can be made from: letters and digits, 2..11 characters, a letter first. */
export function checkPrefix(prefix: string): string {
  if (!/^[a-z][a-z0-9]{1,10}$/.test(prefix)) {
    throw new HostsPlanError(
      `host prefix "${prefix}" must be 2-${maxPrefixLength} lowercase letters and digits, starting with a letter`,
      'prefix',
      prefix,
    );
  }
  return prefix;
}

/** Validates N: 1..maxHosts. */
export function checkHostCount(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > maxHosts) {
    throw new HostsPlanError(`the number of hosts must be an integer from 1 to ${maxHosts}`, 'nodes', n);
  }
  return n;
}

export function ipv4ToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new HostsPlanError(`"${ip}" is not an IPv4 address`, 'address', ip);
  }
  return parts.reduce((acc, o) => acc * 256 + o, 0);
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** [first, last] address of a CIDR ("10.1.2.0/24"); a bare address is a /32. */
export function cidrRange(cidr: string): [number, number] {
  const [base = '', bitsText = '32'] = cidr.split('/');
  const bits = Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) {
    throw new HostsPlanError(`"${cidr}" is not an IPv4 CIDR`, 'cidr', cidr);
  }
  const size = 2 ** (32 - bits);
  const start = Math.floor(ipv4ToInt(base) / size) * size;
  return [start, start + size - 1];
}

export function cidrsOverlap(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}

/**
 * IPv4 prefixes named by `ip -4 route show table all` and `ip -4 -o addr show` output
 * (pure): every "a.b.c.d[/n]" that is a route's destination or an interface's address.
 * "default" routes name no prefix of their own and are left out.
 */
export function prefixesInUse(ipRoutes: string, ipAddrs: string): string[] {
  const out = new Set<string>();
  for (const line of ipRoutes.split('\n')) {
    const words = line.trim().split(/\s+/);
    // "broadcast 10.0.0.255 dev …", "local 127.0.0.1 dev …": the type comes first.
    const dest = [
      'local',
      'broadcast',
      'unicast',
      'anycast',
      'multicast',
      'blackhole',
      'unreachable',
      'prohibit',
    ].includes(words[0] ?? '')
      ? words[1]
      : words[0];
    if (dest && /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dest)) out.add(dest.includes('/') ? dest : `${dest}/32`);
  }
  for (const line of ipAddrs.split('\n')) {
    const m = /\binet (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(line);
    if (m?.[1]) out.add(m[1]);
  }
  return [...out];
}

/**
 * Ranges the hosts' bridge must never take even when no route names them yet: the pod
 * and service networks the controller hands out by default, and loopback.
 */
export const reservedRanges = ['127.0.0.0/8', '10.244.0.0/16', '10.96.0.0/12'];

/**
 * The first /24 of the candidates that overlaps nothing in use (pure). Candidates are
 * 10.<second>.<third>.0/24, walked from a start the caller picks (a hash of a data
 * directory for a stable choice, random for a test) so that parallel runs spread out.
 */
export function pickSubnet(inUse: readonly string[], start: number): string {
  const taken = [...inUse, ...reservedRanges];
  // 10.200.0.0 .. 10.239.255.0: clear of the defaults above and of common 10.0/10.1 LANs.
  const count = 40 * 256;
  for (let i = 0; i < count; i++) {
    const k = ((((start % count) + count) % count) + i) % count;
    const cidr = `10.${200 + Math.floor(k / 256)}.${k % 256}.0/24`;
    if (!taken.some((t) => cidrsOverlap(t, cidr))) return cidr;
  }
  throw new HostsPlanError('no free /24 in 10.200.0.0/13 for the hosts bridge', 'subnet', '10.200.0.0/13');
}

export function hostName(prefix: string, index: number): string {
  return `${prefix}-h${index}`;
}

/** The hosts of a run (pure). subnet is a /24; the bridge is .1, host i is .(i+1). */
export function hostsPlan(prefix: string, count: number, subnet: string): HostsPlan {
  checkPrefix(prefix);
  checkHostCount(count);
  const [base, bits] = subnet.split('/');
  if (bits !== '24' || base === undefined) {
    throw new HostsPlanError(`the hosts subnet must be a /24, not "${subnet}"`, 'subnet', subnet);
  }
  const first = cidrRange(subnet)[0];
  const hosts: HostSpec[] = [];
  for (let i = 1; i <= count; i++) {
    const name = hostName(prefix, i);
    hosts.push({
      index: i,
      name,
      netnsPath: `/run/netns/${name}`,
      address: intToIpv4(first + 1 + i),
      rootVeth: `${prefix}v${i}`,
      hostVeth: 'eth0',
      agent: {
        // Inside the host's netns; the prefix keeps it recognisable all the same.
        bridgeName: `${prefix}p${i}`,
        // Pod netns live in /run/netns beside the hosts': "<prefix>h<i>-<pod>".
        netnsPrefix: `${prefix}h${i}`,
        cgroupParent: `/${prefix}-h${i}`,
      },
    });
  }
  return {
    prefix,
    bridge: `${prefix}br`,
    subnet: intToIpv4(first) + '/24',
    gateway: intToIpv4(first + 1),
    prefixLength: 24,
    hosts,
  };
}

/** One command to run; `ok` lists failures that mean "already so" and are not errors. */
export interface HostCommand {
  argv: string[];
  /** Why it runs, for logs and errors. */
  what: string;
}

/** argv that runs argv inside a host's network namespace (and only that one: no private mounts). */
export function inHost(host: Pick<HostSpec, 'netnsPath'>, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${host.netnsPath}`, ...argv];
}

/**
 * The commands that make the plan's bridge and hosts from nothing (pure), in order.
 * Run after a teardown of the prefix, so none of the names exist yet.
 */
export function setupCommands(plan: HostsPlan): HostCommand[] {
  const cidr = `${plan.gateway}/${plan.prefixLength}`;
  const cmds: HostCommand[] = [
    { argv: ['ip', 'link', 'add', plan.bridge, 'type', 'bridge'], what: `create bridge ${plan.bridge}` },
    { argv: ['ip', 'addr', 'add', cidr, 'dev', plan.bridge], what: `address ${cidr} on ${plan.bridge}` },
    { argv: ['ip', 'link', 'set', plan.bridge, 'up'], what: `bridge ${plan.bridge} up` },
  ];
  for (const h of plan.hosts) {
    const run = (argv: string[], what: string): void => {
      cmds.push({ argv: inHost(h, argv), what: `${h.name}: ${what}` });
    };
    cmds.push({ argv: ['ip', 'netns', 'add', h.name], what: `create netns ${h.name}` });
    cmds.push({
      argv: ['ip', 'link', 'add', h.rootVeth, 'type', 'veth', 'peer', 'name', h.hostVeth, 'netns', h.name],
      what: `veth ${h.rootVeth} <-> ${h.name}/${h.hostVeth}`,
    });
    cmds.push({
      argv: ['ip', 'link', 'set', h.rootVeth, 'master', plan.bridge, 'up'],
      what: `${h.rootVeth} on ${plan.bridge}`,
    });
    run(['ip', 'link', 'set', 'lo', 'up'], 'lo up');
    run(
      ['ip', 'addr', 'add', `${h.address}/${plan.prefixLength}`, 'dev', h.hostVeth],
      `address ${h.address}`,
    );
    run(['ip', 'link', 'set', h.hostVeth, 'up'], `${h.hostVeth} up`);
    run(['ip', 'route', 'add', 'default', 'via', plan.gateway], `default route via ${plan.gateway}`);
    // /proc/sys/net is per netns: this sets the host's own, as a router of its pods must.
    run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], 'ip_forward on');
  }
  return cmds;
}

/** Cutting a host off the bridge, and back: its root-side veth down or up. */
export function linkCommand(plan: HostsPlan, index: number, up: boolean): HostCommand {
  const h = plan.hosts.find((x) => x.index === index);
  if (!h) throw new HostsPlanError(`no host ${index} in the plan`, 'host', index);
  return {
    argv: ['ip', 'link', 'set', h.rootVeth, up ? 'up' : 'down'],
    what: `${h.name} ${up ? 'reconnected' : 'cut off'}`,
  };
}
