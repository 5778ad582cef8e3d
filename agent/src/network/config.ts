// Pure decisions for pod networking: the CNI network configuration list, the
// portMappings runtime config, the names a pod's network gets, and what each
// plugin in the list receives on stdin. No I/O here; pod-network.ts applies it.
import { FlotillaError, failedPrecondition, invalidArgument } from '@flotilla/common';
import type { Pod } from '@flotilla/proto';

/**
 * Debian bookworm ships containernetworking-plugins 1.1.1, whose plugins speak CNI
 * 0.1.0 to 1.0.0 (`/usr/lib/cni/bridge --version`); 1.0.0 is the newest they share.
 */
export const cniVersion = '1.0.0';
export const defaultCniBinDir = '/usr/lib/cni';
export const podInterfaceName = 'eth0';

/** What differs per node (and per test host on one machine): nothing here may collide. */
export interface NodeNetworkOptions {
  /** The CNI network name; also keys the portmap chains (CNI-DN-<hash(name, id)>). */
  networkName: string;
  /** Linux bridge name, at most 15 characters, e.g. "flt<prefix>0". */
  bridgeName: string;
  /**
   * The node's pod CIDR, e.g. "10.88.3.0/24"; the bridge gets its first address. Empty
   * while the node does not know it yet: no pod network is created then (the agent sets
   * it once the controller's registration answer names it).
   */
  podCidr: string;
  /** host-local's allocation directory; separate per node so agents on one host don't share leases. */
  ipamDataDir: string;
  /** Prefix of the netns names and CNI container IDs this node creates. */
  netnsPrefix: string;
  /** Where each pod network's record (its host ports and CNI result) is kept. Default <ipamDataDir>/flotilla-results. */
  resultsDir?: string;
  /** Directory of the CNI plugin binaries. Default /usr/lib/cni. */
  cniBinDir?: string;
  /** Masquerade pod traffic leaving the node. Off unless asked: routes to peers carry pod IPs. */
  ipMasq?: boolean;
}

export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniConfigList {
  cniVersion: string;
  name: string;
  plugins: CniPluginConf[];
}

/** One entry of portmap's `portMappings` capability. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** Absent means every host address. */
  hostIP?: string;
}

export interface CniRuntimeConfig {
  portMappings?: PortMapping[];
}

const interfaceNameRe = /^[A-Za-z0-9_.-]{1,15}$/;
const cidrRe = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Validates a dotted-quad IPv4 CIDR; returns why it is not one, or undefined. */
export function ipv4CidrProblem(cidr: string): string | undefined {
  const m = cidrRe.exec(cidr);
  if (!m) return 'must be an IPv4 CIDR such as 10.88.0.0/24';
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return 'has an octet above 255';
  const bits = Number(m[5]);
  // host-local needs a network, a gateway and at least one pod address.
  if (bits > 30) return 'must be /30 or larger to hold a gateway and pods';
  return undefined;
}

/**
 * The network configuration list for a node: bridge (with host-local IPAM on the pod
 * CIDR) then portmap. Loopback is not in the list: it has no result to chain and is
 * brought up on its own (see pod-network.ts).
 */
export function cniConfigList(options: NodeNetworkOptions): CniConfigList {
  if (!interfaceNameRe.test(options.bridgeName))
    throw invalidArgument(
      `bridge name ${JSON.stringify(options.bridgeName)} must be 1-15 letters, digits, "_", "." or "-" (a Linux interface name)`,
      { field: 'bridgeName', value: options.bridgeName },
    );
  if (options.podCidr === '')
    throw failedPrecondition(
      'this node has no pod CIDR yet: waiting for the controller to assign one at registration (or pass --pod-cidr)',
      { field: 'podCidr' },
    );
  const cidrProblem = ipv4CidrProblem(options.podCidr);
  if (cidrProblem)
    throw invalidArgument(`pod CIDR ${JSON.stringify(options.podCidr)} ${cidrProblem}`, {
      field: 'podCidr',
      value: options.podCidr,
    });
  if (!options.ipamDataDir.startsWith('/'))
    throw invalidArgument(`IPAM data dir ${JSON.stringify(options.ipamDataDir)} must be an absolute path`, {
      field: 'ipamDataDir',
      value: options.ipamDataDir,
    });
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(options.networkName))
    throw invalidArgument(
      `network name ${JSON.stringify(options.networkName)} must be letters, digits, "_", "." or "-"`,
      {
        field: 'networkName',
        value: options.networkName,
      },
    );
  return {
    cniVersion,
    name: options.networkName,
    plugins: [
      {
        type: 'bridge',
        bridge: options.bridgeName,
        // The bridge holds the gateway address, so the node routes to its pods and a
        // host-port DNAT to a pod address has a way there.
        isGateway: true,
        ipMasq: options.ipMasq ?? false,
        // A pod reaching itself through a service or host port comes back on its own veth.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: options.podCidr }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: options.ipamDataDir,
        },
      },
      {
        type: 'portmap',
        capabilities: { portMappings: true },
        // snat makes host ports answer on 127.0.0.1 too: portmap then sets
        // net.ipv4.conf.<bridge>.route_localnet=1 (so a packet from 127.0.0.1 DNATed to a
        // pod address may be routed out of the bridge) and masquerades 127.0.0.0/8
        // sources in CNI-HOSTPORT-MASQ (so the pod's reply is not addressed to its own
        // loopback). Without it only the node's other addresses would answer.
        snat: true,
      },
    ],
  };
}

/**
 * The plugins a pod's ADD and DEL run: the node's list, without portmap for a pod that
 * maps no host port. portmap has nothing to do then (containernetworking-plugins 1.1.1:
 * its ADD prints prevResult back, its DEL runs no iptables; checked with strace), and
 * leaving it out saves one process per pod start and per teardown.
 */
export function podConfigList(list: CniConfigList, runtimeConfig: CniRuntimeConfig): CniConfigList {
  if ((runtimeConfig.portMappings ?? []).length > 0) return list;
  return { ...list, plugins: list.plugins.filter((p) => p.type !== 'portmap') };
}

function podObject(pod: Pod): string {
  return `pod/${pod.metadata?.namespace || 'default'}/${pod.metadata?.name ?? ''}`;
}

const protocols = new Set(['tcp', 'udp', 'sctp']);

/**
 * portMappings from every container port with a hostPort. hostIP "" means all host
 * addresses and is then left out (portmap's own default). The same host port twice
 * (same protocol, overlapping host IP) is refused: the second DNAT would never match.
 */
export function portMappings(pod: Pod): PortMapping[] {
  const out: PortMapping[] = [];
  const taken: Array<{ protocol: string; hostPort: number; hostIP: string | undefined; field: string }> = [];
  const containers = pod.spec?.containers ?? [];
  containers.forEach((container, ci) => {
    container.ports.forEach((port, pi) => {
      const field = `spec.containers[${ci}].ports[${pi}]`;
      if (!port.hostPort) return;
      if (!Number.isInteger(port.hostPort) || port.hostPort < 1 || port.hostPort > 65535)
        throw invalidArgument(`hostPort ${port.hostPort} is not a port number (1-65535)`, {
          object: podObject(pod),
          field: `${field}.hostPort`,
          value: port.hostPort,
        });
      if (!Number.isInteger(port.containerPort) || port.containerPort < 1 || port.containerPort > 65535)
        throw invalidArgument(`containerPort ${port.containerPort} is not a port number (1-65535)`, {
          object: podObject(pod),
          field: `${field}.containerPort`,
          value: port.containerPort,
        });
      const protocol = (port.protocol || 'TCP').toLowerCase();
      if (!protocols.has(protocol))
        throw invalidArgument(`protocol ${JSON.stringify(port.protocol)} must be TCP, UDP or SCTP`, {
          object: podObject(pod),
          field: `${field}.protocol`,
          value: port.protocol,
        });
      const hostIP = port.hostIP && port.hostIP !== '0.0.0.0' ? port.hostIP : undefined;
      // "All addresses" collides with any address; a specific address with itself.
      const clash = taken.find(
        (o) =>
          o.protocol === protocol &&
          o.hostPort === port.hostPort &&
          (!o.hostIP || !hostIP || o.hostIP === hostIP),
      );
      if (clash)
        throw invalidArgument(
          `hostPort ${port.hostPort}/${protocol.toUpperCase()} is already mapped by ${clash.field}; give each mapping its own host port`,
          { object: podObject(pod), field: `${field}.hostPort`, value: port.hostPort },
        );
      taken.push({ protocol, hostPort: port.hostPort, hostIP, field });
      out.push({
        hostPort: port.hostPort,
        containerPort: port.containerPort,
        protocol: protocol as PortMapping['protocol'],
        ...(hostIP === undefined ? {} : { hostIP }),
      });
    });
  });
  return out;
}

/** The names a pod's network gets on this node. */
export interface PodNetworkNames {
  /** The netns under /run/netns, also the CNI container ID (IPAM leases, portmap comments). */
  netnsName: string;
  netnsPath: string;
  containerId: string;
}

/**
 * Names from the pod UID: stable across agent restarts (re-adoption finds the same
 * netns) and unique per pod incarnation, unlike namespace/name.
 */
export function podNetworkNames(pod: Pod, options: Pick<NodeNetworkOptions, 'netnsPrefix'>): PodNetworkNames {
  const uid = pod.metadata?.uid ?? '';
  const short = uid
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 12)
    .toLowerCase();
  if (short.length < 8)
    throw invalidArgument(`pod UID ${JSON.stringify(uid)} is too short to name a network namespace`, {
      object: podObject(pod),
      field: 'metadata.uid',
      value: uid,
    });
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(options.netnsPrefix))
    throw invalidArgument(
      `netns prefix ${JSON.stringify(options.netnsPrefix)} must be letters, digits, "_", "." or "-"`,
      {
        field: 'netnsPrefix',
        value: options.netnsPrefix,
      },
    );
  const netnsName = `${options.netnsPrefix}-${short}`;
  return { netnsName, netnsPath: `/run/netns/${netnsName}`, containerId: netnsName };
}

/**
 * The stdin of plugin `index` in a list (CNI spec, "Deriving execution configuration
 * from the network configuration"): the list's cniVersion and name, the plugin's own
 * keys, runtimeConfig only for the capabilities the plugin declares, and the previous
 * plugin's result.
 */
export function pluginStdin(
  list: CniConfigList,
  index: number,
  runtimeConfig: CniRuntimeConfig,
  prevResult: unknown,
): Record<string, unknown> {
  const plugin = list.plugins[index];
  if (!plugin)
    throw new FlotillaError('Internal', `network ${list.name} has no plugin ${index}`, {
      field: 'plugins',
      value: index,
    });
  const { capabilities, ...rest } = plugin;
  const out: Record<string, unknown> = { ...rest, cniVersion: list.cniVersion, name: list.name };
  const rc: Record<string, unknown> = {};
  for (const [cap, enabled] of Object.entries(capabilities ?? {})) {
    const value = (runtimeConfig as Record<string, unknown>)[cap];
    if (enabled && value !== undefined) rc[cap] = value;
  }
  if (Object.keys(rc).length > 0) out.runtimeConfig = rc;
  if (prevResult !== undefined) out.prevResult = prevResult;
  return out;
}

/** The loopback plugin's stdin: not part of the list, so it gets its own tiny config. */
export function loopbackStdin(networkName: string): Record<string, unknown> {
  return { cniVersion, name: `${networkName}-lo`, type: 'loopback' };
}

/** The parts of a CNI 1.0 result the agent uses. */
export interface PodNetworkAddress {
  /** The pod's IPv4 address, no prefix length. */
  ip: string;
  /** The address with its prefix, as the plugin returned it, e.g. 10.88.3.2/24. */
  cidr: string;
  gateway?: string;
  /** The interface in the pod's netns it sits on. */
  interfaceName?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The pod's IPv4 address from the final result: the first ips[] entry whose interface
 * is inside the sandbox (bridge also lists the bridge and the host veth).
 */
export function podAddressFromResult(result: unknown): PodNetworkAddress {
  if (!isRecord(result) || !Array.isArray(result.ips))
    throw new FlotillaError('Internal', 'CNI result has no ips list', { field: 'ips', value: result });
  const interfaces: unknown[] = Array.isArray(result.interfaces) ? (result.interfaces as unknown[]) : [];
  for (const entry of result.ips as unknown[]) {
    if (!isRecord(entry) || typeof entry.address !== 'string') continue;
    const [ip, bits] = entry.address.split('/');
    if (!ip || !bits || ip.includes(':')) continue;
    const ifIndex = typeof entry.interface === 'number' ? entry.interface : undefined;
    const iface = ifIndex === undefined ? undefined : interfaces[ifIndex];
    // An address whose interface has no sandbox is on the host side, not the pod's.
    if (
      iface !== undefined &&
      (!isRecord(iface) || typeof iface.sandbox !== 'string' || iface.sandbox === '')
    )
      continue;
    return {
      ip,
      cidr: entry.address,
      ...(typeof entry.gateway === 'string' ? { gateway: entry.gateway } : {}),
      ...(isRecord(iface) && typeof iface.name === 'string' ? { interfaceName: iface.name } : {}),
    };
  }
  throw new FlotillaError('Internal', 'CNI result holds no IPv4 address inside the pod', {
    field: 'ips',
    value: result.ips,
  });
}

/** A CNI error result (stdout of a failed plugin), or undefined when it is not one. */
export interface CniErrorResult {
  code: number;
  msg: string;
  details?: string;
}

export function parseCniError(stdout: string): CniErrorResult | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout) as unknown;
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed.code !== 'number' || typeof parsed.msg !== 'string')
    return undefined;
  return {
    code: parsed.code,
    msg: parsed.msg,
    ...(typeof parsed.details === 'string' && parsed.details !== '' ? { details: parsed.details } : {}),
  };
}
