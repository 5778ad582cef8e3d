// The endpoints decision, Kubernetes' v1 Endpoints controller as a pure function: a Service
// and the pods of its namespace → the Endpoints it should have; and, against what is
// stored, what to write. The loop (loop.ts) applies it.
//
// Words:
// - selected: the pod is in the service's namespace and its labels hold every pair of the
//   service's selector. A service with no selector has no managed Endpoints (only the
//   controller writes Endpoints here, so there are none to leave alone either).
// - eligible: selected, bound to a node, has a podIP, and not finished (Succeeded/Failed).
// - ready: eligible, its Ready condition True, no deletionTimestamp, and its node Ready
//   (when the caller says which nodes are: a host that stopped heartbeating takes its pods
//   out at once, as Kubernetes' node lifecycle controller does by marking them not ready).
//   Eligible pods that are not ready (probing, being deleted, on a lost node) are
//   notReadyAddresses, so a pod being stopped leaves the ready addresses the moment it is
//   marked for deletion.
// - capacity: at most maxAddresses addresses (Kubernetes' 1,000), ready ones kept first;
//   a truncated object carries the over-capacity annotation, as Kubernetes' does. (etcd
//   refuses values over 1.5 MB; a v1 Endpoints object is one value.)
// - resolved port: a service port's targetPort on one pod: a number, empty (= the
//   service port), or the name of one of the pod's container ports (same protocol). A
//   pod on which a named port does not resolve is left out of that port only.
// - subset: addresses (ready and not) sharing one resolved port set, as RepackSubsets
//   groups them. Everything is sorted, so the same inputs give the same object.
import { compareText } from '@flotilla/common';
import type {
  EndpointAddress,
  EndpointPort,
  EndpointSubset,
  Endpoints,
  Pod,
  Service,
  ServicePort,
} from '@flotilla/proto';

/** The fields an Endpoints object is compared on: what the loop writes. */
export interface DesiredEndpoints {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  subsets: EndpointSubset[];
  /** Set when addresses were left out (more than maxAddresses). */
  truncated: boolean;
}

/** Kubernetes' cap on one v1 Endpoints object (endpoints.kubernetes.io/over-capacity). */
export const maxAddresses = 1000;
export const overCapacityAnnotation = 'endpoints.kubernetes.io/over-capacity';

export interface DesiredOptions {
  /** Whether a node is Ready; pods elsewhere are not ready addresses. Default: all are. */
  nodeReady?: (nodeName: string) => boolean;
  /** Default maxAddresses. */
  maxAddresses?: number;
}

const nameOf = (o: { metadata?: { name: string } | undefined }): string => o.metadata?.name ?? '';
const namespaceOf = (o: { metadata?: { namespace: string } | undefined }): string =>
  o.metadata?.namespace || 'default';

/** Whether the service's selector picks pods (a map with at least one pair). */
export function hasSelector(service: Service): boolean {
  return Object.keys(service.spec?.selector ?? {}).length > 0;
}

/** Whether labels hold every pair of the service's selector (false for no selector). */
export function selectorMatches(service: Service, labels: Record<string, string> | undefined): boolean {
  const selector = service.spec?.selector ?? {};
  const pairs = Object.entries(selector);
  if (pairs.length === 0) return false;
  return pairs.every(([k, v]) => labels?.[k] === v);
}

/** Ready condition True and not being deleted. */
export function podReady(pod: Pod): boolean {
  if ((pod.metadata?.deletionTimestamp ?? '') !== '') return false;
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Bound, addressed and not finished: an address of some kind (ready or not). */
export function podEligible(pod: Pod): boolean {
  if (!pod.spec?.nodeName || !pod.status?.podIP) return false;
  const phase = pod.status.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

const protocolOf = (p: { protocol: string }): string => p.protocol || 'TCP';

/** The port servicePort reaches on pod, or undefined when its named targetPort is not there. */
export function resolveTargetPort(servicePort: ServicePort, pod: Pod): number | undefined {
  const target = servicePort.targetPort.trim();
  if (target === '') return servicePort.port;
  if (/^\d+$/.test(target)) {
    const n = Number(target);
    return n >= 1 && n <= 65535 ? n : undefined;
  }
  const protocol = protocolOf(servicePort);
  for (const container of pod.spec?.containers ?? []) {
    for (const port of container.ports) {
      if (port.name === target && protocolOf(port) === protocol) return port.containerPort;
    }
  }
  return undefined;
}

function compareAddresses(a: EndpointAddress, b: EndpointAddress): number {
  return (
    compareIps(a.ip, b.ip) ||
    (a.targetRef?.name ?? '').localeCompare(b.targetRef?.name ?? '') ||
    (a.targetRef?.uid ?? '').localeCompare(b.targetRef?.uid ?? '')
  );
}

/** Numerically for IPv4 ("10.0.0.9" before "10.0.0.10"), else as text. */
function compareIps(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  if (pa.length === 4 && pb.length === 4 && [...pa, ...pb].every((n) => Number.isInteger(n))) {
    for (let i = 0; i < 4; i++) {
      const d = (pa[i] ?? 0) - (pb[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  }
  return a.localeCompare(b);
}

function comparePorts(a: EndpointPort, b: EndpointPort): number {
  return a.name.localeCompare(b.name) || a.port - b.port || a.protocol.localeCompare(b.protocol);
}

const portSetKey = (ports: readonly EndpointPort[]): string =>
  ports.map((p) => `${p.name}\u0000${p.port}\u0000${p.protocol}`).join('\u0001');

/**
 * The Endpoints the service should have given every pod of the cluster or of its namespace
 * (other namespaces' pods are ignored); undefined when it should have none (no selector).
 */
export function desiredEndpoints(
  service: Service,
  pods: readonly Pod[],
  options: DesiredOptions = {},
): DesiredEndpoints | undefined {
  if (!hasSelector(service)) return undefined;
  const namespace = namespaceOf(service);
  const groups = new Map<string, EndpointSubset>();
  const servicePorts = service.spec?.ports ?? [];
  for (const pod of pods) {
    if (namespaceOf(pod) !== namespace) continue;
    if (!selectorMatches(service, pod.metadata?.labels)) continue;
    if (!podEligible(pod)) continue;
    const ports: EndpointPort[] = [];
    for (const sp of servicePorts) {
      const port = resolveTargetPort(sp, pod);
      if (port !== undefined) ports.push({ name: sp.name, port, protocol: protocolOf(sp) });
    }
    // A service with ports whose ports all fail to resolve on this pod: nothing to reach.
    if (servicePorts.length > 0 && ports.length === 0) continue;
    ports.sort(comparePorts);
    const key = portSetKey(ports);
    let subset = groups.get(key);
    if (!subset) {
      subset = { addresses: [], notReadyAddresses: [], ports };
      groups.set(key, subset);
    }
    const address: EndpointAddress = {
      ip: pod.status?.podIP ?? '',
      nodeName: pod.spec?.nodeName ?? '',
      targetRef: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace,
        name: nameOf(pod),
        uid: pod.metadata?.uid ?? '',
        resourceVersion: '',
        fieldPath: '',
      },
    };
    const ready = podReady(pod) && (options.nodeReady?.(address.nodeName) ?? true);
    (ready ? subset.addresses : subset.notReadyAddresses).push(address);
  }
  const subsets = [...groups.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([, s]) => ({
      ...s,
      addresses: s.addresses.sort(compareAddresses),
      notReadyAddresses: s.notReadyAddresses.sort(compareAddresses),
    }));
  const truncated = truncate(subsets, options.maxAddresses ?? maxAddresses);
  return {
    namespace,
    name: nameOf(service),
    labels: { ...(service.metadata?.labels ?? {}) },
    subsets: subsets.filter((s) => s.addresses.length + s.notReadyAddresses.length > 0),
    truncated,
  };
}

/** Leaves at most max addresses, ready ones first, in subset order; whether any went. */
function truncate(subsets: EndpointSubset[], max: number): boolean {
  let left = max;
  let cut = false;
  for (const kind of ['addresses', 'notReadyAddresses'] as const) {
    for (const s of subsets) {
      if (s[kind].length > left) {
        s[kind] = s[kind].slice(0, left);
        cut = true;
      }
      left -= s[kind].length;
    }
  }
  return cut;
}

/** What the loop does to one service's Endpoints. */
export type EndpointsAction =
  | { type: 'create'; key: { namespace: string; name: string }; value: Endpoints }
  | { type: 'update'; key: { namespace: string; name: string }; value: Endpoints; expect: number }
  | { type: 'delete'; key: { namespace: string; name: string }; expect: number; why: string };

export interface StoredEndpoints {
  value: Endpoints;
  modRevision: number;
}

export interface WriteContext {
  now: Date;
  uid: () => string;
}

/** The stored annotations with the over-capacity one as desired says. */
function annotationsFor(stored: Record<string, string>, desired: DesiredEndpoints): Record<string, string> {
  const out = { ...stored };
  delete out[overCapacityAnnotation];
  if (desired.truncated) out[overCapacityAnnotation] = 'truncated';
  return out;
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** Canonical text of subsets, for comparison (field order as the proto defines it). */
function subsetsText(subsets: readonly EndpointSubset[]): string {
  return JSON.stringify(
    subsets.map((s) => ({
      a: s.addresses.map(addressText),
      n: s.notReadyAddresses.map(addressText),
      p: s.ports.map((p) => [p.name, p.port, p.protocol || 'TCP']),
    })),
  );
}

const addressText = (a: EndpointAddress): string[] => [
  a.ip,
  a.nodeName,
  a.targetRef?.kind ?? '',
  a.targetRef?.namespace ?? '',
  a.targetRef?.name ?? '',
  a.targetRef?.uid ?? '',
];

/**
 * The one write (or none) that takes stored to desired: service is undefined when it is
 * gone, desired undefined when it should have no Endpoints.
 */
export function decideEndpointsWrite(
  namespace: string,
  name: string,
  service: Service | undefined,
  desired: DesiredEndpoints | undefined,
  stored: StoredEndpoints | undefined,
  ctx: WriteContext,
): EndpointsAction | undefined {
  const key = { namespace, name };
  if (!service || !desired) {
    if (!stored) return undefined;
    return {
      type: 'delete',
      key,
      expect: stored.modRevision,
      why: service ? 'the service has no selector' : 'the service is gone',
    };
  }
  if (stored) {
    const meta = stored.value.metadata;
    const annotations = annotationsFor(meta?.annotations ?? {}, desired);
    if (
      sameMap(meta?.annotations ?? {}, annotations) &&
      sameMap(meta?.labels ?? {}, desired.labels) &&
      subsetsText(stored.value.subsets) === subsetsText(desired.subsets)
    )
      return undefined;
    return {
      type: 'update',
      key,
      expect: stored.modRevision,
      value: {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: {
          name,
          namespace,
          uid: meta?.uid || ctx.uid(),
          resourceVersion: '',
          generation: 0,
          creationTimestamp: meta?.creationTimestamp || ctx.now.toISOString(),
          deletionTimestamp: '',
          labels: desired.labels,
          annotations,
          ownerReferences: [],
        },
        subsets: desired.subsets,
      },
    };
  }
  return {
    type: 'create',
    key,
    value: {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: {
        name,
        namespace,
        uid: ctx.uid(),
        resourceVersion: '',
        generation: 0,
        creationTimestamp: ctx.now.toISOString(),
        deletionTimestamp: '',
        labels: desired.labels,
        annotations: annotationsFor({}, desired),
        ownerReferences: [],
      },
      subsets: desired.subsets,
    },
  };
}

/** What a service port reaches: the ready, not terminating addresses with that port. */
export interface ReadyTarget {
  ip: string;
  port: number;
  nodeName: string;
  podNamespace: string;
  podName: string;
}

/**
 * The ready targets of the service port named portName (and protocol, default TCP) in an
 * Endpoints object, sorted by IP and port: what a proxy balances over. NetworkState's
 * EndpointTarget has these fields.
 */
export function readyTargets(
  endpoints: Endpoints | undefined,
  portName: string,
  protocol = 'TCP',
): ReadyTarget[] {
  const out: ReadyTarget[] = [];
  for (const subset of endpoints?.subsets ?? []) {
    const port = subset.ports.find(
      (p) => p.name === portName && (p.protocol || 'TCP') === (protocol || 'TCP'),
    );
    if (!port) continue;
    for (const a of subset.addresses) {
      out.push({
        ip: a.ip,
        port: port.port,
        nodeName: a.nodeName,
        podNamespace: a.targetRef?.namespace ?? '',
        podName: a.targetRef?.name ?? '',
      });
    }
  }
  return out.sort((a, b) => compareIps(a.ip, b.ip) || a.port - b.port || a.podName.localeCompare(b.podName));
}
