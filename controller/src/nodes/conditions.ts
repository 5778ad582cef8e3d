// The Node's Ready condition: the one condition the controller maintains. Its
// lifecycle: absent → True (registered or heartbeating) ⇄ Unknown (no heartbeat for the
// grace period); False is reserved for an agent that reports itself unhealthy.
import type { Node, NodeCondition } from '@flotilla/proto';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export const readyType = 'Ready';

export const reasons = {
  /** The agent called RegisterNode: it is alive right now. */
  agentRegistered: 'AgentRegistered',
  /** Heartbeats arrive again after the node was not Ready. */
  nodeReady: 'NodeReady',
  /** No heartbeat within the grace period. */
  nodeStatusUnknown: 'NodeStatusUnknown',
} as const;

export function readyCondition(node: Node): NodeCondition | undefined {
  return node.status?.conditions.find((c) => c.type === readyType);
}

export function isNodeReady(node: Node): boolean {
  return readyCondition(node)?.status === 'True';
}

export interface ReadyChange {
  status: ConditionStatus;
  reason: string;
  message: string;
  /** The node was heard from now: move lastHeartbeatTime. */
  heartbeat: boolean;
}

/**
 * The node with its Ready condition set. lastTransitionTime moves only when the status
 * changes, so it says since when the node has been in this state.
 */
export function withReadyCondition(node: Node, change: ReadyChange, now: Date): Node {
  const at = now.toISOString();
  const previous = readyCondition(node);
  const transitioned = previous?.status !== change.status;
  const condition: NodeCondition = {
    type: readyType,
    status: change.status,
    reason: change.reason,
    message: change.message,
    lastHeartbeatTime: change.heartbeat ? at : (previous?.lastHeartbeatTime ?? ''),
    lastTransitionTime: transitioned ? at : (previous?.lastTransitionTime ?? at),
  };
  const status = node.status ?? {
    capacity: {},
    allocatable: {},
    conditions: [],
    addresses: [],
    nodeInfo: undefined,
    daemonEndpoints: undefined,
    images: [],
  };
  const others = status.conditions.filter((c) => c.type !== readyType);
  return { ...node, status: { ...status, conditions: [condition, ...others] } };
}
