// The agent's answer to a resync request: everything the controller needs to rebuild
// its view of this node. JSON, so it can be read with `nats req` while debugging.

export interface ResyncSummary {
  nodeName: string;
  agentInstance: string;
  /** The last assignments revision applied; 0 before the first snapshot. */
  revision: number;
  /** Whether the desired set is complete (a snapshot arrived). */
  synced: boolean;
  /** Desired pods, "<namespace>/<name>", sorted. */
  desiredPods: string[];
  runningPods: number;
  heartbeatSequence: number;
  time: string;
}

const encoder = new TextEncoder();

export function encodeResyncSummary(summary: ResyncSummary): Uint8Array {
  return encoder.encode(JSON.stringify(summary));
}
