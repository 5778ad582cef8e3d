// Where a new pod without spec.nodeName goes until the scheduler lands (issue 5): the
// first node, in name order, that fits. Pure. The reasons a node does not fit are
// Kubernetes' scheduler reasons, counted over the nodes, in its message format.
import type { Node, Pod } from '@flotilla/proto';
import { isNodeReady } from '../nodes/conditions.js';
import { hostPortsCollide } from './validate-pod.js';
import {
  formatAmount,
  resourceAmount,
  resourceNames,
  scaledQuantity,
  type ResourceName,
} from './quantity.js';

export type Placement =
  | { nodeName: string }
  | {
      nodeName: undefined;
      /** "0/2 nodes are available: 1 insufficient memory, 1 node(s) were not ready" */
      message: string;
    };

/** A finished pod holds no resources and no ports. */
export function isPodFinished(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/**
 * The pod's requests per resource, as Kubernetes counts them: the sum over containers,
 * where a container with a limit but no request requests its limit.
 */
export function podRequests(pod: Pod): Map<ResourceName, bigint> {
  const total = new Map<ResourceName, bigint>();
  for (const c of pod.spec?.containers ?? []) {
    for (const name of resourceNames) {
      const text = c.resources?.requests[name] ?? c.resources?.limits[name];
      if (text === undefined) continue;
      const amount = resourceAmount(name, text) ?? 0n;
      total.set(name, (total.get(name) ?? 0n) + amount);
    }
  }
  return total;
}

interface HostPort {
  ip: string;
  port: number;
  protocol: string;
}

function hostPorts(pod: Pod): HostPort[] {
  return (pod.spec?.containers ?? []).flatMap((c) =>
    c.ports
      .filter((p) => p.hostPort > 0)
      .map((p) => ({ ip: p.hostIP, port: p.hostPort, protocol: p.protocol || 'TCP' })),
  );
}

const byName = (a: Node, b: Node): number => {
  const x = a.metadata?.name ?? '';
  const y = b.metadata?.name ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Why the pod does not fit on the node (Kubernetes' wording), empty when it fits. */
export function unfitReasons(pod: Pod, node: Node, boundPods: readonly Pod[]): string[] {
  if (!isNodeReady(node)) return ['node(s) were not ready'];
  if (node.spec?.unschedulable) return ['node(s) were unschedulable'];
  const reasons: string[] = [];
  const taint = node.spec?.taints.find((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  if (taint) reasons.push(`node(s) had untolerated taint {${taint.key}: ${taint.value}}`);
  const labels = node.metadata?.labels ?? {};
  const selector = pod.spec?.nodeSelector ?? {};
  if (Object.entries(selector).some(([k, v]) => labels[k] !== v)) {
    reasons.push("node(s) didn't match Pod's node affinity/selector");
  }

  const running = boundPods.filter((p) => !isPodFinished(p));
  const allocatable = node.status?.allocatable ?? {};
  const wanted = podRequests(pod);
  const used = new Map<ResourceName, bigint>();
  for (const p of running) {
    for (const [name, amount] of podRequests(p)) used.set(name, (used.get(name) ?? 0n) + amount);
  }
  for (const name of resourceNames) {
    const want = wanted.get(name) ?? 0n;
    const text = allocatable[name];
    if (want === 0n || text === undefined) continue;
    const total = resourceAmount(name, text);
    if (total === undefined) continue;
    if ((used.get(name) ?? 0n) + want > total) reasons.push(`insufficient ${name}`);
  }
  const maxPods = allocatable.pods !== undefined ? scaledQuantity(allocatable.pods, 1n) : undefined;
  if (maxPods !== undefined && BigInt(running.length) + 1n > maxPods) reasons.push('too many pods');

  const taken = running.flatMap(hostPorts);
  if (hostPorts(pod).some((want) => taken.some((t) => hostPortsCollide(t, want)))) {
    reasons.push("node(s) didn't have free ports for the requested pod ports");
  }
  return reasons;
}

/**
 * The first node, in name order, that is Ready, not cordoned, matches the nodeSelector,
 * has room for the pod's requests (allocatable minus the requests of the unfinished pods
 * bound to it) and has the pod's host ports free. pods: every pod in the cluster.
 */
export function placePod(pod: Pod, nodes: readonly Node[], pods: readonly Pod[]): Placement {
  const bound = new Map<string, Pod[]>();
  for (const p of pods) {
    const n = p.spec?.nodeName ?? '';
    if (n === '') continue;
    bound.set(n, [...(bound.get(n) ?? []), p]);
  }
  const counts = new Map<string, number>();
  for (const node of [...nodes].sort(byName)) {
    const name = node.metadata?.name ?? '';
    const reasons = unfitReasons(pod, node, bound.get(name) ?? []);
    if (reasons.length === 0) return { nodeName: name };
    for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const parts = [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([reason, n]) => `${n} ${reason}`);
  const message =
    nodes.length === 0
      ? '0/0 nodes are available: no node has joined the cluster'
      : `0/${nodes.length} nodes are available: ${parts.join(', ')}`;
  return { nodeName: undefined, message };
}

/** The requests of a pod as text, for logs: "cpu=500m, memory=256Mi". */
export function describeRequests(pod: Pod): string {
  return [...podRequests(pod)].map(([name, amount]) => `${name}=${formatAmount(name, amount)}`).join(', ');
}
