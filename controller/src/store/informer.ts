// A local copy of one prefix, kept current by list-then-watch: readers that run often
// (heartbeat ingest, the lifecycle loop) look here instead of asking etcd every time.
// It re-lists when the watch history was compacted, and waits out etcd outages.
import { errorMessage, type Logger } from '@flotilla/common';
import { Backoff, sleep } from '../util/backoff.js';
import { isCompactedError, type Codec, type Store, type WatchEvent } from './types.js';

/** Where an informer's changes come from after its list: the store, or a shared watch. */
export type WatchSource<T> = (afterRevision: number, signal: AbortSignal) => AsyncIterable<WatchEvent<T>>;

/**
 * A change to the copy, for loops that keep state derived from it (the scheduler's
 * snapshot, the deployment loop's queue); previous is what the copy held before.
 */
export type InformerChange<T> =
  | { type: 'put'; key: string; value: T; modRevision: number; previous: T | undefined }
  | { type: 'delete'; key: string; previous: T | undefined };

export type InformerListener<T> = (change: InformerChange<T>) => void;

export class Informer<T> {
  private items = new Map<string, T>();
  private revisions = new Map<string, number>();
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private listeners: InformerListener<T>[] = [];
  private applied = 0;

  constructor(
    private readonly store: Store,
    private readonly codec: Codec<T>,
    private readonly prefix: string,
    private readonly log: Logger,
    /** A shared watch of the same prefix (the controller's PodWatchHub), instead of a watch of its own. */
    private readonly watchSource?: WatchSource<T>,
  ) {}

  /** Lists and watches until the signal aborts. Never throws for store failures. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
    while (!signal.aborted) {
      try {
        const { entries, revision } = await this.store.list(this.codec, this.prefix);
        const before = this.revisions;
        const beforeItems = this.items;
        this.items = new Map(entries.map((e) => [e.key, e.value]));
        this.revisions = new Map(entries.map((e) => [e.key, e.modRevision]));
        this.applied = Math.max(this.applied, revision);
        if (this.listeners.length > 0) {
          for (const key of before.keys()) {
            if (!this.revisions.has(key)) this.emit({ type: 'delete', key, previous: beforeItems.get(key) });
          }
          for (const e of entries) {
            if (before.get(e.key) !== e.modRevision) {
              this.emit({
                type: 'put',
                key: e.key,
                value: e.value,
                modRevision: e.modRevision,
                previous: beforeItems.get(e.key),
              });
            }
          }
        }
        this.markSynced();
        backoff.reset();
        const changes = this.watchSource
          ? this.watchSource(revision, signal)
          : this.store.watch(this.codec, this.prefix, revision, signal);
        for await (const ev of changes) {
          // refresh() may already hold a newer version than a lagging watch delivers.
          if ((this.revisions.get(ev.key) ?? 0) >= ev.revision) continue;
          const previous = this.items.get(ev.key) ?? ev.previous;
          // Before the listeners run: what they read of appliedRevision includes this event.
          this.applied = Math.max(this.applied, ev.revision);
          if (ev.type === 'put') {
            this.items.set(ev.key, ev.value);
            this.revisions.set(ev.key, ev.revision);
            this.emit({ type: 'put', key: ev.key, value: ev.value, modRevision: ev.revision, previous });
          } else {
            this.items.delete(ev.key);
            this.revisions.delete(ev.key);
            this.emit({ type: 'delete', key: ev.key, previous });
          }
        }
      } catch (err) {
        if (signal.aborted) break;
        if (isCompactedError(err)) {
          this.log.info('watch history compacted; listing again', { prefix: this.prefix });
          continue;
        }
        const delay = backoff.next();
        this.log.warn('cannot list or watch; retrying', {
          prefix: this.prefix,
          err: errorMessage(err),
          retryInMs: delay,
        });
        await sleep(delay, signal);
      }
    }
  }

  /**
   * Re-reads one key, for a caller that found the copy stale (a guarded write conflicted):
   * the copy heals even if the watch has fallen behind.
   */
  async refresh(key: string): Promise<void> {
    const entry = await this.store.get(this.codec, key);
    const current = this.revisions.get(key) ?? 0;
    const previous = this.items.get(key);
    if (!entry) {
      const had = this.revisions.has(key);
      this.items.delete(key);
      this.revisions.delete(key);
      if (had) this.emit({ type: 'delete', key, previous });
    } else if (entry.modRevision > current) {
      this.items.set(key, entry.value);
      this.revisions.set(key, entry.modRevision);
      this.emit({ type: 'put', key, value: entry.value, modRevision: entry.modRevision, previous });
    }
  }

  /**
   * Calls listener with every change to the copy from now on, in order: each watched
   * change, each refresh, and after a re-list the differences from what was held —
   * until the returned function is called. Listeners must not throw.
   */
  onChange(listener: InformerListener<T>): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /**
   * The store revision through which the copy holds every change under the prefix (the
   * list's revision, then each watched event's), as listeners see it: it is advanced
   * before they are called.
   */
  get appliedRevision(): number {
    return this.applied;
  }

  /** The mod revision of the key in the copy. */
  modRevision(key: string): number | undefined {
    return this.revisions.get(key);
  }

  private emit(change: InformerChange<T>): void {
    for (const l of this.listeners) l(change);
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  /** How many keys the copy holds. */
  get size(): number {
    return this.items.size;
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been loaded. */
  waitSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private markSynced(): void {
    this.synced = true;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }
}
