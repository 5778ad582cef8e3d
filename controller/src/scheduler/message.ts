// The PodScheduled=False message: kube-scheduler's "0/3 nodes are available: 2
// insufficient memory, 1 node(s) were unschedulable." — each reason with the number of
// nodes it rejected, in text order so the same situation always reads the same.
import { compareText } from '@flotilla/common';

export function unschedulableMessage(nodeCount: number, counts: ReadonlyMap<string, number>): string {
  if (nodeCount === 0) return '0/0 nodes are available: no node has joined the cluster.';
  const parts = [...counts.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([reason, n]) => `${n} ${reason}`);
  return `0/${nodeCount} nodes are available: ${parts.join(', ')}.`;
}
