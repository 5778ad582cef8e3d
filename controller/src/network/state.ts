// The NetworkState a node is sent, built from the controller's copies of the nodes,
// services and endpoints. Pure. The shared part (nodes, services with their ready
// endpoints) is built once per change; each node's state adds only whether it is
// web-facing. A delta (to agents that accept them) carries only the entries a change
// touched: diffSharedNetwork finds them once per change, for every follower.
import type {
  Endpoints,
  NetworkNode,
  NetworkState,
  Node,
  Service,
  ServicePortRoute,
  ServiceRoute,
} from '@flotilla/proto';
import { serviceRouteKey } from '@flotilla/common';
import { matchesLabels, type LabelSelector } from '../labels/labels.js';
import { readyTargets } from '../endpoints/decide.js';
import { isNodeReady } from '../nodes/conditions.js';

export interface NetworkConfig {
  clusterDomain: string;
  serviceCidr: string;
  clusterCidr: string;
  /** Nodes whose labels match open node ports (--web-facing-selector). */
  webFacing: LabelSelector;
}

export interface NetworkSnapshot {
  nodes: readonly Node[];
  services: readonly Service[];
  endpoints: readonly Endpoints[];
  /** The revision through which the endpoints copy has applied changes. */
  endpointsRevision: number;
}

/** What every node's state has in common. */
export interface SharedNetwork {
  endpointsRevision: number;
  nodes: NetworkNode[];
  services: ServiceRoute[];
}

const nsName = (m: { namespace: string; name: string } | undefined): string =>
  `${m?.namespace ?? ''}/${m?.name ?? ''}`;

/** The address other nodes route this node's pod CIDR to. */
export function internalIpOf(node: Node): string {
  return node.status?.addresses.find((a) => a.type === 'InternalIP')?.address ?? '';
}

/** The nodes part of a state: every node with a pod CIDR, by name. */
export function networkNodes(nodes: readonly Node[]): NetworkNode[] {
  return nodes
    .filter((n) => (n.spec?.podCIDR ?? '') !== '')
    .map((n) => ({
      name: n.metadata?.name ?? '',
      internalIP: internalIpOf(n),
      podCIDR: n.spec?.podCIDR ?? '',
      ready: isNodeReady(n),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The services part of a state: services with a cluster IP, ports resolved to ready targets. */
export function serviceRoutes(services: readonly Service[], endpoints: readonly Endpoints[]): ServiceRoute[] {
  const byName = new Map(endpoints.map((e) => [nsName(e.metadata), e]));
  return services
    .filter((s) => (s.spec?.clusterIP ?? '') !== '' && s.spec?.clusterIP !== 'None')
    .map((s): ServiceRoute => {
      const spec = s.spec;
      const type = spec?.type || 'ClusterIP';
      const eps = byName.get(nsName(s.metadata));
      const ports = (spec?.ports ?? []).map((p): ServicePortRoute => ({
        name: p.name,
        protocol: p.protocol || 'TCP',
        port: p.port,
        nodePort: type === 'NodePort' ? p.nodePort : 0,
        // Sorted by address: the agent's rules (its iptables-restore input) change only when the endpoints do.
        endpoints: readyTargets(eps, p.name, p.protocol || 'TCP'),
      }));
      return {
        namespace: s.metadata?.namespace ?? '',
        name: s.metadata?.name ?? '',
        clusterIP: spec?.clusterIP ?? '',
        type,
        ports,
      };
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

export function buildSharedNetwork(snapshot: NetworkSnapshot): SharedNetwork {
  return {
    endpointsRevision: snapshot.endpointsRevision,
    nodes: networkNodes(snapshot.nodes),
    services: serviceRoutes(snapshot.services, snapshot.endpoints),
  };
}

/**
 * Whether a node's change touches any state: its pod CIDR, InternalIP, readiness or
 * web-facing. Heartbeats rewrite nodes every few seconds without touching any of them,
 * and must not cost every node a new state.
 */
export function networkFieldsChanged(
  previous: Node | undefined,
  next: Node | undefined,
  config: NetworkConfig,
): boolean {
  if (!previous || !next) return previous !== next;
  return (
    (previous.spec?.podCIDR ?? '') !== (next.spec?.podCIDR ?? '') ||
    internalIpOf(previous) !== internalIpOf(next) ||
    isNodeReady(previous) !== isNodeReady(next) ||
    isWebFacing(previous, config) !== isWebFacing(next, config)
  );
}

export function isWebFacing(node: Node | undefined, config: NetworkConfig): boolean {
  return node !== undefined && matchesLabels(config.webFacing, node.metadata?.labels);
}

/** node's state from the shared part; an unknown node (not registered yet) is not web-facing. */
export function networkStateFor(
  shared: SharedNetwork,
  node: Node | undefined,
  config: NetworkConfig,
): NetworkState {
  return {
    endpointsRevision: shared.endpointsRevision,
    nodes: shared.nodes,
    services: shared.services,
    webFacing: isWebFacing(node, config),
    clusterDomain: config.clusterDomain,
    serviceCidr: config.serviceCidr,
    clusterCidr: config.clusterCidr,
    delta: false,
    removedNodes: [],
    removedServices: [],
  };
}

/**
 * What changed between two shared parts: per node name and per service ("namespace/name"),
 * the new entry, or undefined for one gone. Map order is the order entries are sent in.
 */
export interface NetworkChange {
  nodes: Map<string, NetworkNode | undefined>;
  services: Map<string, ServiceRoute | undefined>;
}

function sameNode(a: NetworkNode, b: NetworkNode): boolean {
  return a.internalIP === b.internalIP && a.podCIDR === b.podCIDR && a.ready === b.ready;
}

function samePort(a: ServicePortRoute, b: ServicePortRoute): boolean {
  return (
    a.name === b.name &&
    a.protocol === b.protocol &&
    a.port === b.port &&
    a.nodePort === b.nodePort &&
    a.endpoints.length === b.endpoints.length &&
    a.endpoints.every((e, i) => {
      const f = b.endpoints[i];
      return (
        f !== undefined &&
        e.ip === f.ip &&
        e.port === f.port &&
        e.nodeName === f.nodeName &&
        e.podNamespace === f.podNamespace &&
        e.podName === f.podName
      );
    })
  );
}

function sameService(a: ServiceRoute, b: ServiceRoute): boolean {
  return (
    a.clusterIP === b.clusterIP &&
    a.type === b.type &&
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => {
      const q = b.ports[i];
      return q !== undefined && samePort(p, q);
    })
  );
}

function diffBy<T>(
  before: readonly T[],
  after: readonly T[],
  key: (t: T) => string,
  same: (a: T, b: T) => boolean,
): Map<string, T | undefined> {
  const out = new Map<string, T | undefined>();
  // The same array: the part was not rebuilt, nothing in it changed.
  if (before === after) return out;
  const old = new Map(before.map((t) => [key(t), t]));
  for (const t of after) {
    const k = key(t);
    const was = old.get(k);
    old.delete(k);
    if (was === undefined || !same(was, t)) out.set(k, t);
  }
  for (const k of old.keys()) out.set(k, undefined);
  return out;
}

/** The entries after differs from before in (everything, when there is no before). */
export function diffSharedNetwork(before: SharedNetwork | undefined, after: SharedNetwork): NetworkChange {
  return {
    nodes: diffBy(before?.nodes ?? [], after.nodes, (n) => n.name, sameNode),
    services: diffBy(before?.services ?? [], after.services, serviceRouteKey, sameService),
  };
}

/** Folds later into earlier (later wins): the change across both. */
export function mergeNetworkChanges(changes: readonly NetworkChange[]): NetworkChange {
  if (changes.length === 1 && changes[0]) return changes[0];
  const merged: NetworkChange = { nodes: new Map(), services: new Map() };
  for (const c of changes) {
    for (const [k, v] of c.nodes) merged.nodes.set(k, v);
    for (const [k, v] of c.services) merged.services.set(k, v);
  }
  return merged;
}

/** node's delta state: change on top of the state sent before; the scalar fields complete. */
export function networkDeltaFor(
  shared: SharedNetwork,
  change: NetworkChange,
  node: Node | undefined,
  config: NetworkConfig,
): NetworkState {
  const nodes: NetworkNode[] = [];
  const removedNodes: string[] = [];
  for (const [name, n] of change.nodes) {
    if (n) nodes.push(n);
    else removedNodes.push(name);
  }
  const services: ServiceRoute[] = [];
  const removedServices: string[] = [];
  for (const [key, s] of change.services) {
    if (s) services.push(s);
    else removedServices.push(key);
  }
  return {
    ...networkStateFor({ ...shared, nodes, services }, node, config),
    delta: true,
    removedNodes,
    removedServices,
  };
}

/** The NetworkState of nodeName, from scratch. */
export function buildNetworkState(
  snapshot: NetworkSnapshot,
  config: NetworkConfig,
  nodeName: string,
): NetworkState {
  const node = snapshot.nodes.find((n) => n.metadata?.name === nodeName);
  return networkStateFor(buildSharedNetwork(snapshot), node, config);
}
