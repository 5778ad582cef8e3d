// What a deployment pass waits for before it decides again from the informers' copies:
// its own last writes, seen by those copies (Kubernetes' controller "expectations").
// A pass that decided from a copy without its previous pass's pods would create them a
// second time; one without its own ReplicaSet scale-up would delete the pods it had just
// made. Unlike Kubernetes' counters these are per key, and exact: a write committed at
// revision R is seen once the copy holds the key at R or later, or has applied an event
// after R (every event at R then is in, a later delete of the key included).

/** The part of an informer an expectation reads. */
export interface CopyState {
  /** The store revision through which the copy holds every change. */
  readonly appliedRevision: number;
  modRevision(key: string): number | undefined;
}

export type Expectation =
  /** A put (or create) of key committed at revision. */
  | { copy: CopyState; key: string; kind: 'written'; revision: number }
  /** A delete committed at revision: the key gone from the copy, or written again after. */
  | { copy: CopyState; key: string; kind: 'deleted'; revision: number }
  /**
   * A write whose revision the caller did not learn (the graceful pod deletion): the copy
   * no longer holds the key at the mod revision it had when the pass decided.
   */
  | { copy: CopyState; key: string; kind: 'changed'; from: number };

export function isSeen(e: Expectation): boolean {
  const held = e.copy.modRevision(e.key);
  switch (e.kind) {
    case 'written':
      return e.copy.appliedRevision > e.revision || (held ?? 0) >= e.revision;
    case 'deleted':
      return e.copy.appliedRevision > e.revision || held === undefined || held > e.revision;
    case 'changed':
      return held !== e.from;
  }
}

/**
 * Expectations per queue key. A key whose expectations are not all seen is not decided
 * on; past expireMs they are dropped (a copy that stopped following the store), as
 * Kubernetes' expire after five minutes.
 */
export class Expectations {
  /** Per key, its writes not yet seen, oldest first, each with when it was expected. */
  private readonly pending = new Map<string, { at: number; e: Expectation }[]>();

  constructor(
    private readonly expireMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds what a pass just wrote for key. */
  expect(key: string, items: readonly Expectation[]): void {
    if (items.length === 0) return;
    const at = this.now();
    const entry = this.pending.get(key) ?? [];
    for (const e of items) entry.push({ at, e });
    this.pending.set(key, entry);
  }

  /**
   * "seen" when the copies hold every write of key, "waiting" when not yet, "expired"
   * when they were waited for too long (and are forgotten now). Cheap enough to ask after
   * every change of a copy: writes are seen about in the order they were made, so it
   * drops the seen ones from the front and stops at the first unseen.
   */
  check(key: string): 'seen' | 'waiting' | 'expired' {
    const entry = this.pending.get(key);
    if (!entry) return 'seen';
    let seen = 0;
    while (seen < entry.length && isSeen((entry[seen] as { e: Expectation }).e)) seen++;
    if (seen > 0) entry.splice(0, seen);
    const first = entry[0];
    if (!first) {
      this.pending.delete(key);
      return 'seen';
    }
    if (this.now() - first.at >= this.expireMs) {
      this.pending.delete(key);
      return 'expired';
    }
    return 'waiting';
  }

  /** Forgets key (its object is gone). */
  forget(key: string): void {
    this.pending.delete(key);
  }

  /** How many writes of key are not seen yet (tests, logs). */
  unseen(key: string): number {
    return this.pending.get(key)?.length ?? 0;
  }
}
