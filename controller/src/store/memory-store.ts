// An in-memory Store with etcd's semantics (one revision counter, mod revisions, watch
// history, compaction), for tests of the logic above the store without servers.
import { compareText, conflict, invalidArgument } from '@flotilla/common';
import { AsyncQueue } from '../util/async-queue.js';
import {
  CompactedError,
  maxTxnOps,
  type Codec,
  type CreateResult,
  type Entry,
  type ListResult,
  type PrefixState,
  type Store,
  type TxnOp,
  type TxnResult,
  type WatchEvent,
} from './types.js';

interface Stored {
  text: string;
  modRevision: number;
  createRevision: number;
}

interface RawEvent {
  type: 'put' | 'delete';
  key: string;
  text?: string;
  previous?: Stored;
  revision: number;
}

interface RawWatcher {
  prefix: string;
  deliver(event: RawEvent): void;
}

export class MemoryStore implements Store {
  private readonly data = new Map<string, Stored>();
  private readonly history: RawEvent[] = [];
  private readonly watchers = new Set<RawWatcher>();
  private current = 1;
  private compactRevision = 0;

  async get<T>(codec: Codec<T>, key: string): Promise<Entry<T> | undefined> {
    const stored = this.data.get(key);
    return stored ? toEntry(codec, key, stored) : undefined;
  }

  async getMany<T>(codec: Codec<T>, keys: readonly string[]): Promise<(Entry<T> | undefined)[]> {
    tooManyOps(keys.length);
    return keys.map((key) => {
      const stored = this.data.get(key);
      return stored ? toEntry(codec, key, stored) : undefined;
    });
  }

  async list<T>(codec: Codec<T>, prefix: string): Promise<ListResult<T>> {
    const entries = [...this.data.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => compareText(a, b))
      .map(([key, stored]) => toEntry(codec, key, stored));
    return { entries, revision: this.current };
  }

  async create<T>(codec: Codec<T>, key: string, value: T): Promise<CreateResult<T>> {
    const existing = this.data.get(key);
    if (existing) return { created: false, entry: toEntry(codec, key, existing) };
    return { created: true, entry: toEntry(codec, key, this.put(key, codec.encode(value))) };
  }

  async update<T>(codec: Codec<T>, key: string, value: T, modRevision: number): Promise<Entry<T>> {
    const existing = this.data.get(key);
    if (!existing || existing.modRevision !== modRevision) {
      throw conflict(
        `${codec.kind} ${key} was changed by someone else (resourceVersion ${modRevision} is stale); read it again`,
        { object: key },
      );
    }
    return toEntry(codec, key, this.put(key, codec.encode(value)));
  }

  async delete(key: string, modRevision?: number): Promise<boolean> {
    const existing = this.data.get(key);
    if (!existing) return false;
    if (modRevision !== undefined && existing.modRevision !== modRevision) {
      throw conflict(`${key} was changed by someone else (resourceVersion ${modRevision} is stale)`, {
        object: key,
      });
    }
    this.current++;
    this.data.delete(key);
    this.emit({ type: 'delete', key, previous: existing, revision: this.current });
    return true;
  }

  async commit(ops: readonly TxnOp[]): Promise<TxnResult> {
    tooManyOps(ops.length);
    const stale = ops
      .filter((op) => op.expect !== undefined && (this.data.get(op.key)?.modRevision ?? 0) !== op.expect)
      .map((op) => op.key);
    if (stale.length > 0) throw staleKeys(stale);
    this.current++;
    const revision = this.current;
    for (const op of ops) {
      if (op.type === 'check') continue;
      const previous = this.data.get(op.key);
      if (op.type === 'delete') {
        if (!previous) continue;
        this.data.delete(op.key);
        this.emit({ type: 'delete', key: op.key, previous, revision });
      } else {
        const stored = {
          text: op.text,
          modRevision: revision,
          createRevision: previous?.createRevision ?? revision,
        };
        this.data.set(op.key, stored);
        this.emit({ type: 'put', key: op.key, text: op.text, previous, revision });
      }
    }
    return { revision };
  }

  watch<T>(
    codec: Codec<T>,
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
  ): AsyncIterable<WatchEvent<T>> {
    const queue = new AsyncQueue<WatchEvent<T>>(signal);
    if (afterRevision + 1 < this.compactRevision) {
      queue.fail(new CompactedError(afterRevision, this.compactRevision));
      return queue;
    }
    const deliver = (raw: RawEvent): void => {
      if (!raw.key.startsWith(prefix) || raw.revision <= afterRevision) return;
      try {
        queue.push(decodeEvent(codec, raw));
      } catch (err) {
        queue.fail(err);
      }
    };
    for (const raw of this.history) deliver(raw);
    const watcher: RawWatcher = { prefix, deliver };
    this.watchers.add(watcher);
    const stop = AbortSignal.any([signal, queue.consumerGone]);
    stop.addEventListener('abort', () => this.watchers.delete(watcher), { once: true });
    return queue;
  }

  async revision(): Promise<number> {
    return this.current;
  }

  async prefixState(prefix: string): Promise<PrefixState> {
    let count = 0;
    let maxModRevision = 0;
    for (const [key, stored] of this.data) {
      if (!key.startsWith(prefix)) continue;
      count++;
      maxModRevision = Math.max(maxModRevision, stored.modRevision);
    }
    return { count, maxModRevision, revision: this.current };
  }

  async ping(): Promise<string> {
    return 'memory';
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }

  /** Forgets the history before revision and keeps revision itself, as etcd's compaction does. */
  compact(revision: number): void {
    this.compactRevision = Math.max(this.compactRevision, revision);
    while (this.history.length > 0 && (this.history[0]?.revision ?? 0) < revision) this.history.shift();
  }

  private put(key: string, text: string): Stored {
    this.current++;
    const previous = this.data.get(key);
    const stored: Stored = {
      text,
      modRevision: this.current,
      createRevision: previous?.createRevision ?? this.current,
    };
    this.data.set(key, stored);
    this.emit({ type: 'put', key, text, previous, revision: this.current });
    return stored;
  }

  private emit(event: RawEvent): void {
    this.history.push(event);
    for (const watcher of this.watchers) watcher.deliver(event);
  }
}

/** etcd's refusal of a transaction above --max-txn-ops, so tests meet it too. */
export function tooManyOps(count: number): void {
  if (count > maxTxnOps) {
    throw invalidArgument(`a transaction of ${count} operations is more than etcd allows (${maxTxnOps})`, {
      value: count,
    });
  }
}

export function staleKeys(keys: readonly string[]): Error {
  return conflict(
    `${keys.join(', ')} changed since ${keys.length === 1 ? 'it was' : 'they were'} read; read again and retry`,
    { object: keys.join(','), value: keys },
  );
}

function toEntry<T>(codec: Codec<T>, key: string, stored: Stored): Entry<T> {
  return {
    key,
    value: codec.decode(stored.text, stored.modRevision),
    modRevision: stored.modRevision,
    createRevision: stored.createRevision,
  };
}

function decodeEvent<T>(codec: Codec<T>, raw: RawEvent): WatchEvent<T> {
  const previous = raw.previous ? codec.decode(raw.previous.text, raw.previous.modRevision) : undefined;
  if (raw.type === 'put') {
    return {
      type: 'put',
      key: raw.key,
      value: codec.decode(raw.text ?? '', raw.revision),
      previous,
      revision: raw.revision,
    };
  }
  return { type: 'delete', key: raw.key, previous, revision: raw.revision };
}
