// The service proxy's decision: a NetworkState in, the iptables-restore input out, in
// kube-proxy's chain layout (pkg/proxy/iptables/proxier.go). Pure: the executor
// (proxy-apply.ts) reads which chains exist, calls this, and feeds the text to one
// `iptables-restore --noflush`, so every change lands at once.
//
// nat:
//   PREROUTING, OUTPUT → <P>-SERVICES: per service port `-d <clusterIP>/32 -p <proto>
//     --dport <port>` → <P>-SVC-<hash>; last, on web-facing nodes, `-m addrtype
//     --dst-type LOCAL` → <P>-NODEPORTS (`--dport <nodePort>` → the same SVC chain).
//   <P>-SVC-<hash>: → <P>-MARK-MASQ (every service connection is masqueraded: kube-proxy's
//     --masquerade-all, so same-host and hairpin traffic return through the node without
//     br_netfilter), then one rule per endpoint: `-m statistic --mode random
//     --probability 1/n` with n the endpoints left, the last one unconditional.
//   <P>-SEP-<hash>: DNAT to the endpoint's ip:port.
//   POSTROUTING → <P>-POSTROUTING: MASQUERADE what carries the mark (and clear it).
// filter:
//   OUTPUT, FORWARD (new connections) → <P>-SERVICES: REJECT cluster IP ports without
//     endpoints; INPUT, FORWARD (new) → <P>-EXTERNAL: REJECT such node ports.
//   INPUT → <P>-FIREWALL: drop outside packets to 127.0.0.0/8 that were not DNATed,
//     since route_localnet=1 (for node ports on 127.0.0.1) would let them in otherwise.
import { createHash } from 'node:crypto';
import { compareNatural, compareText, serviceRouteKey } from '@flotilla/common';
import type { NetworkState, ServicePortRoute, ServiceRoute } from '@flotilla/proto';

/** iptables' limit on a chain name (XT_EXTENSION_MAXNAMELEN less the terminating NUL). */
export const maxChainNameLength = 28;
/** The longest chain prefix: "<P>-SVC-<12>" must fit the 28 characters. */
export const maxChainPrefixLength = 10;
/** Characters of the base32 hash in SVC/SEP chain names. */
const hashLength = 12;
/** The bit of the packet mark that asks POSTROUTING to masquerade (kube-proxy's). */
export const masqueradeMark = '0x4000';

export type ProxyTable = 'nat' | 'filter';

/** The chain names of one agent. */
export function proxyChains(prefix: string) {
  return {
    services: `${prefix}-SERVICES`,
    nodePorts: `${prefix}-NODEPORTS`,
    postrouting: `${prefix}-POSTROUTING`,
    markMasq: `${prefix}-MARK-MASQ`,
    /** filter: REJECT of cluster IP ports without endpoints. */
    filterServices: `${prefix}-SERVICES`,
    /** filter: REJECT of node ports without endpoints. */
    external: `${prefix}-EXTERNAL`,
    firewall: `${prefix}-FIREWALL`,
  };
}

function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

function hashOf(text: string): string {
  return base32(createHash('sha256').update(text).digest()).slice(0, hashLength);
}

/**
 * The chain prefix of an agent, from its --netns-prefix (unique per agent on one host,
 * since its netns names must be): as is when short enough, else its start and a hash.
 */
export function chainPrefixFor(netnsPrefix: string): string {
  if (netnsPrefix.length <= maxChainPrefixLength) return netnsPrefix;
  return netnsPrefix.slice(0, 4) + hashOf(netnsPrefix).slice(0, maxChainPrefixLength - 4);
}

/** True for the chains this agent made (and none of an agent whose prefix merely starts like ours). */
export function isOwnChain(prefix: string, chain: string): boolean {
  if (!chain.startsWith(`${prefix}-`)) return false;
  const rest = chain.slice(prefix.length + 1);
  return /^(SERVICES|NODEPORTS|POSTROUTING|MARK-MASQ|EXTERNAL|FIREWALL|(SVC|SEP)-[A-Z2-7]{12})$/.test(rest);
}

/** "ns/name:port" as kube-proxy names a service port in its comments. */
function servicePortName(svc: ServiceRoute, port: ServicePortRoute): string {
  const base = `${svc.namespace || 'default'}/${svc.name}`;
  return port.name ? `${base}:${port.name}` : base;
}

function protocolOf(port: ServicePortRoute): 'tcp' | 'udp' | 'sctp' | undefined {
  const p = (port.protocol || 'TCP').toLowerCase();
  return p === 'tcp' || p === 'udp' || p === 'sctp' ? p : undefined;
}

const ipv4Re = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
function isIpv4(text: string): boolean {
  const m = ipv4Re.exec(text);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

const validPort = (n: number): boolean => Number.isInteger(n) && n > 0 && n < 65536;

/** kube-proxy's probability format: 1/n with ten decimals. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

export interface ProxyRulesInput {
  chainPrefix: string;
  /** The newest state; undefined: no services (the chains stay, empty). */
  state: NetworkState | undefined;
  /** The chains of ours that exist now per table (from iptables-save): the ones no longer wanted are deleted. */
  existing?: Partial<Record<ProxyTable, readonly string[]>>;
}

export interface ProxyRules {
  /** The iptables-restore --noflush input: both tables, each committed whole. */
  text: string;
  /** Every chain the text fills, per table. */
  chains: Record<ProxyTable, string[]>;
  /** Chains the text deletes. */
  deleted: Record<ProxyTable, string[]>;
  /** Service ports left out, each with why (bad address, protocol, port). */
  skipped: string[];
}

function quote(text: string): string {
  // iptables-restore splits on spaces; a quoted comment keeps them. Service names
  // cannot hold quotes, but never let one end the string.
  return `"${text.replace(/["\\]/g, '')}"`;
}

/** The restore input for one state. Deterministic: the same input gives the same text. */
export function proxyRules(input: ProxyRulesInput): ProxyRules {
  const p = input.chainPrefix;
  if (p.length === 0 || p.length > maxChainPrefixLength || !/^[A-Za-z0-9_.-]+$/.test(p))
    throw new RangeError(
      `chain prefix ${JSON.stringify(p)} must be 1-${maxChainPrefixLength} letters, digits, "_", "." or "-"`,
    );
  const c = proxyChains(p);
  const state = input.state;
  const webFacing = state?.webFacing ?? false;
  const skipped: string[] = [];

  const natChains: string[] = [c.services, c.postrouting, c.markMasq];
  if (webFacing) natChains.push(c.nodePorts);
  const filterChains: string[] = [c.filterServices, c.external, c.firewall];

  const services: string[] = [];
  const nodePorts: string[] = [];
  const svcRules: string[] = [];
  const sepRules: string[] = [];
  const rejects: string[] = [];
  const externalRejects: string[] = [];

  const sorted = [...(state?.services ?? [])].sort((a, b) =>
    compareText(serviceRouteKey(a), serviceRouteKey(b)),
  );
  for (const svc of sorted) {
    for (const port of svc.ports) {
      const name = servicePortName(svc, port);
      const proto = protocolOf(port);
      if (proto === undefined) {
        skipped.push(`${name}: protocol ${JSON.stringify(port.protocol)} is not TCP, UDP or SCTP`);
        continue;
      }
      if (!isIpv4(svc.clusterIP)) {
        // Headless ("None") and not yet allocated: nothing to program.
        if (svc.clusterIP !== '' && svc.clusterIP !== 'None')
          skipped.push(`${name}: cluster IP ${JSON.stringify(svc.clusterIP)} is not an IPv4 address`);
        continue;
      }
      if (!validPort(port.port)) {
        skipped.push(`${name}: port ${port.port} is not 1-65535`);
        continue;
      }
      const nodePort = webFacing && validPort(port.nodePort) ? port.nodePort : undefined;
      const match = `-p ${proto} -m ${proto} --dport`;
      const endpoints = port.endpoints.filter((e) => isIpv4(e.ip) && validPort(e.port));
      // A TCP reset, not kube-proxy's ICMP port unreachable: the kernel rate-limits ICMP
      // errors (net.ipv4.icmp_ratelimit), so under load some connections to a port without
      // endpoints hung until their timeout instead of being refused.
      const reject = proto === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable';
      if (endpoints.length === 0) {
        rejects.push(
          `-A ${c.filterServices} -d ${svc.clusterIP}/32 ${match} ${port.port} -m comment --comment ${quote(`${name} has no endpoints`)} -j REJECT --reject-with ${reject}`,
        );
        if (nodePort !== undefined)
          externalRejects.push(
            `-A ${c.external} -m addrtype --dst-type LOCAL ${match} ${nodePort} -m comment --comment ${quote(`${name} has no endpoints`)} -j REJECT --reject-with ${reject}`,
          );
        continue;
      }
      const svcChain = `${p}-SVC-${hashOf(`${name}/${proto}`)}`;
      natChains.push(svcChain);
      services.push(
        `-A ${c.services} -d ${svc.clusterIP}/32 ${match} ${port.port} -m comment --comment ${quote(`${name} cluster IP`)} -j ${svcChain}`,
      );
      if (nodePort !== undefined)
        nodePorts.push(
          `-A ${c.nodePorts} ${match} ${nodePort} -m comment --comment ${quote(name)} -j ${svcChain}`,
        );
      svcRules.push(`-A ${svcChain} -m comment --comment ${quote(name)} -j ${c.markMasq}`);
      const ordered = [...endpoints].sort((a, b) => compareNatural(`${a.ip}:${a.port}`, `${b.ip}:${b.port}`));
      ordered.forEach((ep, i) => {
        const target = `${ep.ip}:${ep.port}`;
        const sepChain = `${p}-SEP-${hashOf(`${name}/${proto}/${target}`)}`;
        natChains.push(sepChain);
        const left = ordered.length - i;
        const statistic = left > 1 ? ` -m statistic --mode random --probability ${probability(left)}` : '';
        svcRules.push(
          `-A ${svcChain} -m comment --comment ${quote(`${name} -> ${target}`)}${statistic} -j ${sepChain}`,
        );
        sepRules.push(
          `-A ${sepChain} -m comment --comment ${quote(name)} ${match.replace(' --dport', '')} -j DNAT --to-destination ${target}`,
        );
      });
    }
  }

  const wanted: Record<ProxyTable, string[]> = { nat: natChains, filter: filterChains };
  const deleted: Record<ProxyTable, string[]> = { nat: [], filter: [] };
  for (const table of ['nat', 'filter'] as const) {
    const keep = new Set(wanted[table]);
    deleted[table] = [...new Set(input.existing?.[table] ?? [])]
      .filter((chain) => isOwnChain(p, chain) && !keep.has(chain))
      .sort();
  }

  const declare = (chains: string[]): string[] => chains.map((chain) => `:${chain} - [0:0]`);
  const nat = [
    '*nat',
    // Declaring a chain under --noflush empties it; declaring a stale one first lets -X
    // delete it even when it still jumps somewhere.
    ...declare([...natChains, ...deleted.nat]),
    `-A ${c.postrouting} -m mark ! --mark ${masqueradeMark}/${masqueradeMark} -j RETURN`,
    // Cleared so a packet that is re-routed (or meets another agent's chain) is not masqueraded twice.
    `-A ${c.postrouting} -j MARK --xor-mark ${masqueradeMark}`,
    `-A ${c.postrouting} -m comment --comment ${quote('flotilla service traffic requiring SNAT')} -j MASQUERADE`,
    `-A ${c.markMasq} -j MARK --or-mark ${masqueradeMark}`,
    ...services,
    ...(webFacing
      ? [
          `-A ${c.services} -m comment --comment ${quote('node ports; must be last')} -m addrtype --dst-type LOCAL -j ${c.nodePorts}`,
        ]
      : []),
    ...nodePorts,
    ...svcRules,
    ...sepRules,
    ...deleted.nat.map((chain) => `-X ${chain}`),
    'COMMIT',
  ];
  const filter = [
    '*filter',
    ...declare([...filterChains, ...deleted.filter]),
    ...rejects,
    ...externalRejects,
    `-A ${c.firewall} ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment ${quote('block incoming localnet connections')} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    ...deleted.filter.map((chain) => `-X ${chain}`),
    'COMMIT',
  ];
  return {
    text: [...nat, ...filter].join('\n') + '\n',
    chains: { nat: natChains, filter: filterChains },
    deleted,
    skipped,
  };
}

/** One jump from a built-in chain to ours, ensured with `iptables -C … || iptables -I …`. */
export interface ProxyJump {
  table: ProxyTable;
  chain: string;
  /** The rule's arguments after `-I <chain>` / `-C <chain>`. */
  rule: string[];
}

export function proxyJumps(prefix: string): ProxyJump[] {
  const c = proxyChains(prefix);
  const comment = (text: string): string[] => ['-m', 'comment', '--comment', text];
  const newConn = ['-m', 'conntrack', '--ctstate', 'NEW'];
  return [
    { table: 'nat', chain: 'PREROUTING', rule: [...comment('flotilla service portals'), '-j', c.services] },
    { table: 'nat', chain: 'OUTPUT', rule: [...comment('flotilla service portals'), '-j', c.services] },
    {
      table: 'nat',
      chain: 'POSTROUTING',
      rule: [...comment('flotilla postrouting rules'), '-j', c.postrouting],
    },
    {
      table: 'filter',
      chain: 'OUTPUT',
      rule: [...newConn, ...comment('flotilla service portals'), '-j', c.filterServices],
    },
    {
      table: 'filter',
      chain: 'FORWARD',
      rule: [...newConn, ...comment('flotilla service portals'), '-j', c.filterServices],
    },
    {
      table: 'filter',
      chain: 'INPUT',
      rule: [...newConn, ...comment('flotilla externally-visible service portals'), '-j', c.external],
    },
    {
      table: 'filter',
      chain: 'FORWARD',
      rule: [...newConn, ...comment('flotilla externally-visible service portals'), '-j', c.external],
    },
    { table: 'filter', chain: 'INPUT', rule: [...comment('flotilla localnet firewall'), '-j', c.firewall] },
  ];
}

/** The chain names in `iptables-save -t <table>` output. */
export function parseSavedChains(saveOutput: string): string[] {
  const chains: string[] = [];
  for (const line of saveOutput.split('\n')) {
    const m = /^:(\S+) /.exec(line);
    if (m?.[1] !== undefined) chains.push(m[1]);
  }
  return chains;
}
