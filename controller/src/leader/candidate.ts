// What a controller needs from an election: campaign until elected, and learn who leads.
// The leader-only loops run under a Leadership; every write they make carries its fence,
// so a deposed leader that has not noticed yet (a GC pause, a partition) cannot write.
import type { Store, TxnOp, TxnResult } from '../store/types.js';
import { isFlotillaError, unavailable } from '@flotilla/common';

export interface Leadership {
  /** The identity this controller campaigned with. */
  readonly identity: string;
  /** When this controller became the leader (ms since the epoch). */
  readonly since: number;
  /**
   * The guards a leader-only commit adds: the election key still at the revision it was
   * won with. Once the lease is gone (expired, revoked) the key is too, and the commit fails.
   */
  readonly fence: readonly TxnOp[];
  /** Aborts when the leadership ends: lease lost, etcd unreachable for the lease TTL, resigned. */
  readonly lost: AbortSignal;
  resign(): Promise<void>;
}

export interface Candidate {
  /** Campaigns until elected (resolves) or until signal aborts (rejects). */
  campaign(identity: string, signal: AbortSignal): Promise<Leadership>;
  /** The identity of the current leader, undefined when there is none. */
  leader(): Promise<string | undefined>;
}

/** The error a leader-only write gets once its leadership is over. */
export function notLeader(identity: string): Error {
  return unavailable(`controller ${identity} is not the leader any more; the write was not made`, {
    value: identity,
  });
}

/**
 * Commits ops guarded by the leadership's fence. A failed fence is "not the leader"
 * (Unavailable), not a Conflict: re-deciding would not help, only the new leader may write.
 */
export async function commitAsLeader(
  store: Store,
  leadership: Leadership,
  ops: readonly TxnOp[],
): Promise<TxnResult> {
  if (leadership.lost.aborted) throw notLeader(leadership.identity);
  try {
    return await store.commit([...leadership.fence, ...ops]);
  } catch (err) {
    const stale = isFlotillaError(err, 'Conflict') ? err.context.value : undefined;
    const fenceKeys = leadership.fence.map((op) => op.key);
    if (Array.isArray(stale) && stale.some((k) => fenceKeys.includes(String(k)))) {
      throw notLeader(leadership.identity);
    }
    throw err;
  }
}

/** The only controller there is (a store without elections, e.g. MemoryStore in tests). */
export const soleCandidate: Candidate = {
  campaign: async (identity) => ({
    identity,
    since: Date.now(),
    fence: [],
    lost: new AbortController().signal,
    resign: async () => undefined,
  }),
  leader: async () => undefined,
};
