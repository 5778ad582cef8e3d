// A local copy of one prefix, kept current by list-then-watch: readers that run often
// (heartbeat ingest, the lifecycle loop) look here instead of asking etcd every time.
// It re-lists when the watch history was compacted, and waits out etcd outages.
import { errorMessage, type Logger } from '@flotilla/common';
import { Backoff, sleep } from '../util/backoff.js';
import { isCompactedError, type Codec, type Store } from './types.js';

export type InformerListener<T> = (key: string, value: T | undefined, previous: T | undefined) => void;

export class Informer<T> {
  private items = new Map<string, T>();
  private revisions = new Map<string, number>();
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private readonly listeners = new Set<InformerListener<T>>();

  constructor(
    private readonly store: Store,
    private readonly codec: Codec<T>,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  /** Lists and watches until the signal aborts. Never throws for store failures. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
    while (!signal.aborted) {
      try {
        const { entries, revision } = await this.store.list(this.codec, this.prefix);
        const before = this.items;
        this.items = new Map(entries.map((e) => [e.key, e.value]));
        this.revisions = new Map(entries.map((e) => [e.key, e.modRevision]));
        this.markSynced();
        // A (re)list may hide changes the watch never delivered: tell listeners about every key.
        for (const [key, value] of this.items) this.emit(key, value, before.get(key));
        for (const [key, value] of before) if (!this.items.has(key)) this.emit(key, undefined, value);
        backoff.reset();
        for await (const ev of this.store.watch(this.codec, this.prefix, revision, signal)) {
          // refresh() may already hold a newer version than a lagging watch delivers.
          if ((this.revisions.get(ev.key) ?? 0) >= ev.revision) continue;
          const previous = this.items.get(ev.key);
          if (ev.type === 'put') {
            this.items.set(ev.key, ev.value);
            this.revisions.set(ev.key, ev.revision);
            this.emit(ev.key, ev.value, previous);
          } else {
            this.items.delete(ev.key);
            this.revisions.delete(ev.key);
            this.emit(ev.key, undefined, previous ?? ev.previous);
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
    if (!entry) {
      this.items.delete(key);
      this.revisions.delete(key);
    } else if (entry.modRevision > current) {
      this.items.set(key, entry.value);
      this.revisions.set(key, entry.modRevision);
    }
  }

  /**
   * Calls listener after every change the copy takes in from a list or the watch (value
   * undefined: deleted), until the returned function is called. Listeners must not throw.
   */
  onChange(listener: InformerListener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(key: string, value: T | undefined, previous: T | undefined): void {
    for (const listener of this.listeners) listener(key, value, previous);
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
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
