// How nodes look in tables and documents. Pure: the caller passes the time.
import { Node } from '@flotilla/proto';
import { formatAge } from './age.js';
import { formatCpuQuantity, formatMemoryQuantity } from './quantity.js';
import { none, orNone, renderTable } from './table.js';

export const nodeColumns = ['NAME', 'STATUS', 'AGE', 'CPU', 'MEMORY', 'ADDRESS'] as const;
export const nodeWideColumns = [
  ...nodeColumns,
  'OS-IMAGE',
  'KERNEL',
  'RUNTIME',
  'AGENT',
  'LAST-HEARTBEAT',
  'REASON',
] as const;

// Kubernetes' core group: a Node manifest reads the same in both tools.
export const apiVersion = 'v1';

function readyCondition(node: Node) {
  return node.status?.conditions.find((c) => c.type === 'Ready');
}

/**
 * Ready, NotReady or Unknown as kubectl shows them: a Ready condition of "False" or
 * "Unknown" (heartbeats stopped) is NotReady; no Ready condition at all is Unknown.
 */
export function nodeStatus(node: Node): string {
  const ready = readyCondition(node);
  let status = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  if (node.spec?.unschedulable) status += ',SchedulingDisabled';
  return status;
}

export function isNodeReady(node: Node): boolean {
  return readyCondition(node)?.status === 'True';
}

/** The InternalIP, else the first address of any kind. */
export function nodeAddress(node: Node): string {
  const addresses = node.status?.addresses ?? [];
  return (addresses.find((a) => a.type === 'InternalIP') ?? addresses[0])?.address || none;
}

export function nodeRow(node: Node, now: Date, wide: boolean): string[] {
  const capacity = node.status?.capacity ?? {};
  const row = [
    orNone(node.metadata?.name),
    nodeStatus(node),
    formatAge(node.metadata?.creationTimestamp, now),
    orNone(formatCpuQuantity(capacity.cpu)),
    orNone(formatMemoryQuantity(capacity.memory)),
    nodeAddress(node),
  ];
  if (!wide) return row;
  const info = node.status?.nodeInfo;
  const ready = readyCondition(node);
  const heartbeat = ready?.lastHeartbeatTime ? `${formatAge(ready.lastHeartbeatTime, now)} ago` : none;
  return [
    ...row,
    orNone(info?.osImage),
    orNone(info?.kernelVersion),
    orNone(info?.containerRuntimeVersion),
    orNone(info?.agentVersion),
    heartbeat,
    orNone(ready?.reason),
  ];
}

export function byName(a: Node, b: Node): number {
  return (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}

export function nodesTable(nodes: readonly Node[], now: Date, wide: boolean): string {
  const rows = [...nodes].sort(byName).map((n) => nodeRow(n, now, wide));
  return renderTable(wide ? nodeWideColumns : nodeColumns, rows);
}

/** A node's JSON form, with apiVersion and kind filled in when the server left them out. */
export function nodeDocument(node: Node): Record<string, unknown> {
  const json = Node.toJSON(node) as Record<string, unknown>;
  // apiVersion and kind first, as kubectl prints them.
  return { apiVersion: node.apiVersion || apiVersion, kind: node.kind || 'Node', ...json };
}

export function nodeListDocument(nodes: readonly Node[]): Record<string, unknown> {
  return { apiVersion, kind: 'List', items: [...nodes].sort(byName).map(nodeDocument) };
}
