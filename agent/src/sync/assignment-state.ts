// The desired set of pods for this node, as the assignments stream describes it.
// Pure: an event and the current state in, the next state and what changed out.
import { AssignmentEvent_Type, type AssignmentEvent, Pod } from '@flotilla/proto';

export interface AssignmentState {
  /** The last revision applied; what a reconnect resumes from. 0 before the first snapshot. */
  revision: number;
  /** True once a SNAPSHOT arrived: only then is the set complete. */
  synced: boolean;
  /** By pod key, "<namespace>/<name>". */
  pods: ReadonlyMap<string, Pod>;
}

export const emptyAssignmentState: AssignmentState = { revision: 0, synced: false, pods: new Map() };

export type DesiredChangeKind = 'snapshot' | 'added' | 'modified' | 'deleted';

/** What one event changed, by pod key. */
export interface DesiredChange {
  kind: DesiredChangeKind;
  revision: number;
  added: string[];
  modified: string[];
  deleted: string[];
}

export interface ApplyResult {
  state: AssignmentState;
  /** Absent when nothing in the set changed (bookmarks, stale or empty events). */
  change?: DesiredChange;
  /** Why (part of) the event was skipped, for the log. */
  skipped?: string;
}

export function podKey(pod: Pod): string | undefined {
  const name = pod.metadata?.name;
  if (!name) return undefined;
  return `${pod.metadata?.namespace || 'default'}/${name}`;
}

function samePod(a: Pod, b: Pod): boolean {
  const rvA = a.metadata?.resourceVersion;
  const rvB = b.metadata?.resourceVersion;
  if (rvA && rvB) return rvA === rvB;
  return JSON.stringify(Pod.toJSON(a)) === JSON.stringify(Pod.toJSON(b));
}

function keyed(pods: Pod[]): { map: Map<string, Pod>; unnamed: number } {
  const map = new Map<string, Pod>();
  let unnamed = 0;
  for (const pod of pods) {
    const key = podKey(pod);
    if (key === undefined) unnamed++;
    else map.set(key, pod);
  }
  return { map, unnamed };
}

function applySnapshot(state: AssignmentState, event: AssignmentEvent): ApplyResult {
  const { map, unnamed } = keyed(event.pods);
  const added: string[] = [];
  const modified: string[] = [];
  const deleted: string[] = [];
  for (const [key, pod] of map) {
    const old = state.pods.get(key);
    if (!old) added.push(key);
    else if (!samePod(old, pod)) modified.push(key);
  }
  for (const key of state.pods.keys()) if (!map.has(key)) deleted.push(key);
  const result: ApplyResult = {
    state: { revision: event.revision, synced: true, pods: map },
    change: { kind: 'snapshot', revision: event.revision, added, modified, deleted },
  };
  if (unnamed > 0) result.skipped = `${unnamed} pod(s) without metadata.name`;
  return result;
}

function applyChange(state: AssignmentState, event: AssignmentEvent, kind: DesiredChangeKind): ApplyResult {
  const revision = Math.max(state.revision, event.revision);
  const pods = new Map(state.pods);
  const change: DesiredChange = { kind, revision, added: [], modified: [], deleted: [] };
  const skipped: string[] = [];
  for (const pod of event.pods) {
    const key = podKey(pod);
    if (key === undefined) {
      skipped.push('a pod without metadata.name');
      continue;
    }
    const old = pods.get(key);
    if (kind === 'deleted') {
      if (old) {
        pods.delete(key);
        change.deleted.push(key);
      } else skipped.push(`${key} was not assigned`);
    } else if (!old) {
      pods.set(key, pod);
      change.added.push(key);
    } else if (!samePod(old, pod)) {
      pods.set(key, pod);
      change.modified.push(key);
    }
  }
  if (event.pods.length === 0) skipped.push(`a ${kind} event without a pod`);
  const result: ApplyResult = { state: { ...state, revision, pods } };
  if (change.added.length + change.modified.length + change.deleted.length > 0) result.change = change;
  if (skipped.length > 0) result.skipped = skipped.join('; ');
  return result;
}

export function applyAssignmentEvent(state: AssignmentState, event: AssignmentEvent): ApplyResult {
  // Only a snapshot may move the revision back (a fresh one after etcd compacted history).
  if (event.type !== AssignmentEvent_Type.SNAPSHOT && event.revision > 0 && event.revision < state.revision) {
    return { state, skipped: `stale event at revision ${event.revision}, already at ${state.revision}` };
  }
  switch (event.type) {
    case AssignmentEvent_Type.SNAPSHOT:
      return applySnapshot(state, event);
    case AssignmentEvent_Type.ADDED:
      return applyChange(state, event, 'added');
    case AssignmentEvent_Type.MODIFIED:
      return applyChange(state, event, 'modified');
    case AssignmentEvent_Type.DELETED:
      return applyChange(state, event, 'deleted');
    case AssignmentEvent_Type.BOOKMARK:
      return { state: { ...state, revision: Math.max(state.revision, event.revision) } };
    // A newer controller may send types this agent does not know: skip, do not fail.
    case AssignmentEvent_Type.TYPE_UNSPECIFIED:
    case AssignmentEvent_Type.UNRECOGNIZED:
      return { state, skipped: `unknown event type ${String(event.type)}` };
  }
}
