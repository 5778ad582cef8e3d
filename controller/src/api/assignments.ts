// The assignments stream (docs/CONTRACTS.md): the pods bound to one node, as a SNAPSHOT
// at a revision and then the changes after it; resumable by revision, with a fresh
// snapshot when the history to resume from is gone.
import { AssignmentEvent_Type, Pod, type AssignmentEvent } from '@flotilla/proto';
import { changedBeyondStatus, type Logger } from '@flotilla/common';
import { podCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { isCompactedError, type Store, type WatchEvent } from '../store/types.js';

export const defaultBookmarkIntervalMs = 30_000;

/** Pod changes for one node's stream, and how far they are known to be complete when idle. */
export interface NodeChanges extends AsyncIterable<WatchEvent<Pod>> {
  /** A revision through which nothing is left for this node once the queue is drained (0: unknown). */
  idleRevision(): number;
}

const onNode = (pod: Pod | undefined, node: string): boolean => pod?.spec?.nodeName === node;

/** A pod carrying only the namespace and name its key names. */
function podOfKey(key: string): Pod | undefined {
  const m = /(?:^|\/)pods\/([^/]+)\/([^/]+)$/.exec(key);
  if (!m) return undefined;
  return Pod.fromJSON({ metadata: { namespace: m[1], name: m[2] } });
}

/** What one pod change means to node, or undefined when it does not concern it. Pure. */
export function assignmentForEvent(node: string, ev: WatchEvent<Pod>): AssignmentEvent | undefined {
  const was = onNode(ev.previous, node);
  if (ev.type === 'delete') {
    if (ev.previous === undefined) {
      // etcd gives no previous value to a watch that starts exactly at the compaction
      // revision; the node may hold this pod, so say it is gone (a pod the agent does not
      // know is ignored there).
      const pod = podOfKey(ev.key);
      return pod ? { type: AssignmentEvent_Type.DELETED, revision: ev.revision, pods: [pod] } : undefined;
    }
    return was
      ? { type: AssignmentEvent_Type.DELETED, revision: ev.revision, pods: [ev.previous] }
      : undefined;
  }
  const is = onNode(ev.value, node);
  // Still on the node and changed only in status: nothing the agent acts on (it never
  // reads a desired pod's status, and ignores such a change itself); most of these are its
  // own reports coming back, several per pod start, each a whole pod to encode here and
  // decode there. A reconnect converges: its SNAPSHOT carries the pods, status and all.
  if (is && was && ev.previous !== undefined && !changedBeyondStatus(ev.previous, ev.value)) return undefined;
  if (is)
    return {
      type: was ? AssignmentEvent_Type.MODIFIED : AssignmentEvent_Type.ADDED,
      revision: ev.revision,
      pods: [ev.value],
    };
  // Moved to another node (or unbound): gone from this one.
  if (was) return { type: AssignmentEvent_Type.DELETED, revision: ev.revision, pods: [ev.value] };
  return undefined;
}

export interface AssignmentsOptions {
  store: Store;
  node: string;
  resumeRevision: number;
  send: (event: AssignmentEvent) => Promise<void>;
  signal: AbortSignal;
  log: Logger;
  bookmarkIntervalMs?: number;
  /**
   * The controller's shared pod copy; without it the stream lists and watches the store
   * itself. podsOn gives a snapshot from the copy (undefined while it has none).
   */
  podWatch?: {
    watch(afterRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent<Pod>>;
    /** Only the changes that can concern node (see PodWatchHub.watchNode). */
    watchNode?(node: string, afterRevision: number, signal: AbortSignal): NodeChanges;
    podsOn?(node: string): { pods: Pod[]; revision: number } | undefined;
  };
}

/** Runs the stream until the signal aborts; store failures are thrown to the caller. */
export async function streamAssignments(options: AssignmentsOptions): Promise<void> {
  const { store, node, send, signal, log } = options;
  const bookmarkMs = options.bookmarkIntervalMs ?? defaultBookmarkIntervalMs;
  let resume = options.resumeRevision;
  while (!signal.aborted) {
    let revision: number;
    // A revision beyond the store's means etcd is not the one the agent knew: start over.
    if (resume > 0 && resume <= (await store.revision())) {
      revision = resume;
      log.debug('resuming assignments', { node, revision });
    } else {
      // From the shared copy's index when there is one: a list of every pod per stream was
      // all the pods decoded once per node whenever the nodes (re)connected at once.
      let snapshot = options.podWatch?.podsOn?.(node);
      if (!snapshot) {
        const list = await store.list(podCodec, keys.pods);
        snapshot = {
          pods: list.entries.map((e) => e.value).filter((p) => onNode(p, node)),
          revision: list.revision,
        };
      }
      const pods = snapshot.pods;
      revision = snapshot.revision;
      await send({ type: AssignmentEvent_Type.SNAPSHOT, revision, pods });
      log.debug('sent assignments snapshot', { node, revision, pods: pods.length });
    }
    try {
      const { podWatch } = options;
      const changes = (after: number): NodeChanges => {
        if (podWatch?.watchNode) return podWatch.watchNode(node, after, signal);
        const all = podWatch
          ? podWatch.watch(after, signal)
          : store.watch(podCodec, keys.pods, after, signal);
        return { [Symbol.asyncIterator]: () => all[Symbol.asyncIterator](), idleRevision: () => 0 };
      };
      await follow(changes, node, revision, send, signal, bookmarkMs);
      return;
    } catch (err) {
      if (!isCompactedError(err)) throw err;
      log.info('assignment history compacted; sending a fresh snapshot', { node, revision });
      resume = 0;
    }
  }
}

/**
 * Sends the changes after revision. A BOOKMARK carries the newest revision this watch
 * has seen (including changes to other nodes' pods): never a revision whose events it
 * has not processed, so resuming from a bookmark cannot skip anything.
 */
async function follow(
  changes: (afterRevision: number) => NodeChanges,
  node: string,
  afterRevision: number,
  send: (event: AssignmentEvent) => Promise<void>,
  signal: AbortSignal,
  bookmarkMs: number,
): Promise<void> {
  let seen = afterRevision;
  let lastSent = Date.now();
  // Bookmarks and events share one ordered chain of writes.
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown;
  const enqueue = (event: AssignmentEvent): void => {
    lastSent = Date.now();
    chain = chain
      .then(() => send(event))
      .catch((err: unknown) => {
        failure ??= err;
      });
  };
  const source = changes(afterRevision);
  // While an event is being handled, what the source left out after it is not yet covered.
  let busy = false;
  const timer = setInterval(
    () => {
      if (Date.now() - lastSent < bookmarkMs) return;
      if (!busy) seen = Math.max(seen, source.idleRevision());
      enqueue({ type: AssignmentEvent_Type.BOOKMARK, revision: seen, pods: [] });
    },
    Math.max(10, Math.min(bookmarkMs, 1_000)),
  );
  timer.unref();
  try {
    for await (const ev of source) {
      busy = true;
      seen = Math.max(seen, ev.revision);
      const event = assignmentForEvent(node, ev);
      if (event) enqueue(event);
      await chain;
      busy = false;
      if (failure) throw failure instanceof Error ? failure : new Error('sending an assignment failed');
    }
    await chain;
  } finally {
    clearInterval(timer);
  }
}
