// Routes to the other nodes' pod CIDRs: the pure plan. Each is `<peer podCIDR> via <peer
// InternalIP> proto 188`; the protocol number marks them as ours, so the plan deletes
// stale ones and never touches a route anyone else made.
import { compareText } from '@flotilla/common';
import type { NetworkState } from '@flotilla/proto';
import { ipv4CidrProblem } from './config.js';

/** The `proto` of every route the agent makes (unassigned in /etc/iproute2/rt_protos). */
export const routeProtocol = 188;

export interface PodRoute {
  /** "10.244.1.0/24" */
  dst: string;
  /** The peer's InternalIP. */
  via: string;
}

export interface RoutePlan {
  /** `ip route replace <dst> via <via> proto 188`: missing, or through another gateway. */
  replace: PodRoute[];
  /** `ip route del <dst> proto 188`: ours, no longer any peer's. */
  delete: string[];
  /** Peers left out, each with why. */
  skipped: string[];
}

export interface RoutePlanInput {
  /** This node's name: its own CIDR is on its bridge, not routed. */
  nodeName: string;
  state: NetworkState | undefined;
  /** Ours now (`ip -j route show proto 188`). */
  current: readonly PodRoute[];
  /**
   * This netns's own IPv4 addresses: a peer at one of them shares the host (agents side by
   * side in one netns), its bridge is here already and a route via ourselves is no route.
   */
  localAddresses?: readonly string[];
}

const ipv4Re = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4ToNumber(ip: string): number | undefined {
  const m = ipv4Re.exec(ip);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The CIDR with its host bits cleared ("10.244.1.7/24" → "10.244.1.0/24"), as the kernel keeps it. */
export function canonicalCidr(cidr: string): string | undefined {
  const [ip, bitsText] = cidr.includes('/') ? cidr.split('/') : [cidr, '32'];
  const n = ipv4ToNumber(ip ?? '');
  const bits = Number(bitsText);
  if (n === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  return `${numberToIpv4(Math.floor(n / size) * size)}/${bits}`;
}

export function planRoutes(input: RoutePlanInput): RoutePlan {
  const local = new Set(input.localAddresses ?? []);
  const skipped: string[] = [];
  const desired = new Map<string, string>();
  const nodes = [...(input.state?.nodes ?? [])].sort((a, b) => compareText(a.name, b.name));
  for (const node of nodes) {
    if (node.name === input.nodeName) continue;
    if (node.podCIDR === '' || node.internalIP === '') {
      skipped.push(`${node.name}: no ${node.podCIDR === '' ? 'pod CIDR' : 'InternalIP'} yet`);
      continue;
    }
    const dst = ipv4CidrProblem(node.podCIDR) === undefined ? canonicalCidr(node.podCIDR) : undefined;
    if (dst === undefined) {
      skipped.push(`${node.name}: pod CIDR ${JSON.stringify(node.podCIDR)} is not an IPv4 CIDR`);
      continue;
    }
    if (ipv4ToNumber(node.internalIP) === undefined) {
      skipped.push(`${node.name}: InternalIP ${JSON.stringify(node.internalIP)} is not an IPv4 address`);
      continue;
    }
    if (local.has(node.internalIP)) {
      skipped.push(`${node.name}: shares this host (${node.internalIP})`);
      continue;
    }
    const other = desired.get(dst);
    if (other !== undefined && other !== node.internalIP) {
      skipped.push(`${node.name}: pod CIDR ${dst} is also routed via ${other}`);
      continue;
    }
    desired.set(dst, node.internalIP);
  }
  const current = new Map<string, string>();
  for (const r of input.current) {
    const dst = canonicalCidr(r.dst);
    if (dst !== undefined) current.set(dst, r.via);
  }
  const replace: PodRoute[] = [];
  for (const [dst, via] of desired) if (current.get(dst) !== via) replace.push({ dst, via });
  const del = [...current.keys()].filter((dst) => !desired.has(dst)).sort();
  return { replace, delete: del, skipped };
}

/** The array `ip -j` prints; empty output (nothing matched), bad JSON or another shape: none. */
function ipJsonArray(json: string): unknown[] {
  try {
    const parsed: unknown = JSON.parse(json.trim() === '' ? '[]' : json);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/** Our routes from `ip -j route show proto 188` (a JSON array; host routes come without "/32"). */
export function parseIpRoutes(json: string): PodRoute[] {
  const routes: PodRoute[] = [];
  for (const entry of ipJsonArray(json)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const r = entry as Record<string, unknown>;
    if (typeof r.dst !== 'string' || r.dst === 'default') continue;
    const dst = canonicalCidr(r.dst);
    if (dst === undefined) continue;
    routes.push({ dst, via: typeof r.gateway === 'string' ? r.gateway : '' });
  }
  return routes;
}

/** The IPv4 addresses in `ip -j -4 addr show` output. */
export function parseIpAddresses(json: string): string[] {
  const out: string[] = [];
  for (const link of ipJsonArray(json)) {
    const infos = (link as { addr_info?: unknown }).addr_info;
    if (!Array.isArray(infos)) continue;
    for (const info of infos) {
      const a = info as { family?: unknown; local?: unknown };
      if (a.family === 'inet' && typeof a.local === 'string') out.push(a.local);
    }
  }
  return out;
}
