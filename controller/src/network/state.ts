// The NetworkState a node is sent, built from the controller's copies of the nodes,
// services and endpoints. Pure. The shared part (nodes, services with their ready
// endpoints) is built once per change; each node's state adds only whether it is
// web-facing.
import type {
  Endpoints,
  NetworkNode,
  NetworkState,
  Node,
  Service,
  ServicePortRoute,
  ServiceRoute,
} from '@flotilla/proto';
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
