// Whether a pod being stopped has left every node's service rules. Pure. Two steps:
// first no Endpoints object may list the pod as a ready address; the endpoints revision
// at that moment is the target; then every Ready node must have acknowledged
// (NetworkApplied) a state at least that new. NotReady nodes are not waited for: they
// send no traffic we could drop, and waiting for them would stall every rollout behind
// a dead host.
import type { EndpointAddress, Endpoints, Node } from '@flotilla/proto';
import { isNodeReady } from '../nodes/conditions.js';

export interface DrainingPod {
  namespace: string;
  name: string;
  uid: string;
  /** The pod's IP, when known; '' matches by uid only. */
  ip: string;
}

export interface DrainInput {
  pod: DrainingPod;
  endpoints: readonly Endpoints[];
  nodes: readonly Node[];
  /** Per node, the highest endpointsRevision it has acknowledged. */
  acks: ReadonlyMap<string, number>;
  /** The revision through which the endpoints copy has applied changes. */
  endpointsRevision: number;
  /** Fixed once the pod left the endpoints (a later change must not move it). */
  target?: number;
}

export type DrainVerdict =
  | { drained: true; target: number }
  | { drained: false; step: 'endpoints'; services: string[]; target: undefined }
  | { drained: false; step: 'nodes'; target: number; nodes: string[] };

/** The address is the pod's: by targetRef uid when both have one, else by IP. */
export function isPodAddress(address: EndpointAddress, pod: DrainingPod): boolean {
  const uid = address.targetRef?.uid ?? '';
  if (uid !== '' && pod.uid !== '' && uid === pod.uid) return true;
  const ref = address.targetRef;
  if (ref && pod.uid === '' && ref.name === pod.name && ref.namespace === pod.namespace) return true;
  return pod.ip !== '' && address.ip === pod.ip;
}

/** The services ("namespace/name") whose Endpoints list the pod as a ready address, sorted. */
export function servicesListing(endpoints: readonly Endpoints[], pod: DrainingPod): string[] {
  return endpoints
    .filter((e) => e.subsets.some((s) => s.addresses.some((a) => isPodAddress(a, pod))))
    .map((e) => `${e.metadata?.namespace ?? ''}/${e.metadata?.name ?? ''}`)
    .sort();
}

/** Ready nodes that have not acknowledged target yet, sorted. */
export function pendingNodes(
  nodes: readonly Node[],
  acks: ReadonlyMap<string, number>,
  target: number,
): string[] {
  return nodes
    .filter((n) => isNodeReady(n) && (acks.get(n.metadata?.name ?? '') ?? 0) < target)
    .map((n) => n.metadata?.name ?? '')
    .sort();
}

export function drainDecision(input: DrainInput): DrainVerdict {
  let target = input.target;
  if (target === undefined) {
    const services = servicesListing(input.endpoints, input.pod);
    if (services.length > 0) return { drained: false, step: 'endpoints', services, target: undefined };
    target = input.endpointsRevision;
  }
  const nodes = pendingNodes(input.nodes, input.acks, target);
  return nodes.length === 0 ? { drained: true, target } : { drained: false, step: 'nodes', target, nodes };
}
