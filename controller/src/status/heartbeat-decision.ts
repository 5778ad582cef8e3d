// What a heartbeat changes in the stored Node. Pure. Writes are kept rare: the Ready
// condition when it changes, and lastHeartbeatTime at most every refresh interval —
// liveness itself is judged from receive times kept in memory, not from etcd.
import type { Node, NodeHeartbeat } from '@flotilla/proto';
import { nodeSubjectToken } from '@flotilla/common';
import { readyCondition, reasons, withReadyCondition } from '../nodes/conditions.js';

export const heartbeatRefreshMs = 10_000;

/** Why a heartbeat is ignored, or undefined when it counts. */
export function heartbeatProblem(subjectToken: string, heartbeat: NodeHeartbeat): string | undefined {
  if (heartbeat.nodeName === '') return 'the heartbeat names no node';
  if (nodeSubjectToken(heartbeat.nodeName) !== subjectToken) {
    return `the heartbeat for node "${heartbeat.nodeName}" came on the subject of "${subjectToken}"`;
  }
  return undefined;
}

/** The node to write after a heartbeat at now, or undefined when nothing needs writing. */
export function heartbeatUpdate(node: Node, now: Date, refreshMs = heartbeatRefreshMs): Node | undefined {
  const ready = readyCondition(node);
  if (ready?.status !== 'True') {
    return withReadyCondition(
      node,
      {
        status: 'True',
        reason: reasons.nodeReady,
        message: 'the agent is posting heartbeats',
        heartbeat: true,
      },
      now,
    );
  }
  const last = Date.parse(ready.lastHeartbeatTime);
  if (Number.isFinite(last) && now.getTime() - last < refreshMs) return undefined;
  return withReadyCondition(
    node,
    { status: 'True', reason: ready.reason, message: ready.message, heartbeat: true },
    now,
  );
}
