// Node liveness: which nodes have been silent for longer than the grace period. Pure:
// the caller passes the nodes, when each was last heard from, and the time.
import type { Node } from '@flotilla/proto';
import { readyCondition, reasons, withReadyCondition } from '../nodes/conditions.js';

export interface NodeLivenessUpdate {
  name: string;
  /** The revision the decision was made on; the write is guarded by it. */
  resourceVersion: string;
  node: Node;
}

/**
 * The nodes to mark Ready=Unknown. Grace counts from the later of the last heartbeat
 * and the controller's start, so a controller that just started (and has heard nothing
 * yet) gives every node a full grace period before doubting it.
 */
export function decideNodeLiveness(
  nodes: readonly Node[],
  lastSeen: ReadonlyMap<string, number>,
  now: number,
  graceMs: number,
  controllerStart: number,
): NodeLivenessUpdate[] {
  const updates: NodeLivenessUpdate[] = [];
  for (const node of nodes) {
    const name = node.metadata?.name ?? '';
    if (name === '' || readyCondition(node)?.status === 'Unknown') continue;
    const seen = lastSeen.get(name);
    const since = Math.max(seen ?? 0, controllerStart);
    if (now - since <= graceMs) continue;
    // For the message, the best knowledge of the last heartbeat: this process's own, or
    // the stored one when this process has heard none since it started.
    const stored = Date.parse(readyCondition(node)?.lastHeartbeatTime ?? '');
    const heardAt = seen ?? (Number.isFinite(stored) ? stored : since);
    const silentFor = Math.max(0, Math.floor((now - heardAt) / 1000));
    updates.push({
      name,
      resourceVersion: node.metadata?.resourceVersion ?? '',
      node: withReadyCondition(
        node,
        {
          status: 'Unknown',
          reason: reasons.nodeStatusUnknown,
          message: `no heartbeat for ${silentFor}s`,
          heartbeat: false,
        },
        new Date(now),
      ),
    });
  }
  return updates;
}

/** When each node was last heard from (heartbeat or registration), in this process. */
export class LastSeen {
  private readonly seen = new Map<string, number>();

  observe(node: string, at: number): void {
    this.seen.set(node, Math.max(at, this.seen.get(node) ?? 0));
  }

  get map(): ReadonlyMap<string, number> {
    return this.seen;
  }
}
