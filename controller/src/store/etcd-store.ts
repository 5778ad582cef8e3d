// The Store over etcd (etcd3 client). Every key lives under rootPrefix; conditional
// writes are etcd transactions on the key's create or mod revision.
import { Etcd3, Range, type Election, type IKeyValue, type Namespace } from 'etcd3';
import {
  conflict,
  errorMessage,
  FlotillaError,
  type Logger,
  silentLogger,
  unavailable,
} from '@flotilla/common';
import { AsyncQueue } from '../util/async-queue.js';
import { Backoff, sleep } from '../util/backoff.js';
import { rootPrefix } from './keys.js';
import {
  CompactedError,
  isCompactedError,
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
import { staleKeys, tooManyOps } from './memory-store.js';

export interface EtcdStoreOptions {
  /** http://host:port URLs. */
  endpoints: string[];
  prefix?: string;
  logger?: Logger;
  /** How long a call may wait for a connection before it fails as Unavailable. */
  dialTimeoutMs?: number;
  /** Deadline of each non-streaming call. */
  callTimeoutMs?: number;
  /** Keys per request of a list (tests make it small to cross pages). */
  listPageSize?: number;
}

/** Keys per page of a list: about 1 MB of pods, some 10 ms of decoding. */
export const defaultListPageSize = 500;

/** The largest etcd response the store reads (a whole list is one response). */
export const maxResponseBytes = 512 * 1024 * 1024;

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private readonly endpoints: string[];
  private readonly log: Logger;
  private readonly listPageSize: number;
  private readonly callTimeoutMs: number;

  constructor(options: EtcdStoreOptions) {
    this.endpoints = options.endpoints;
    this.listPageSize = Math.max(1, options.listPageSize ?? defaultListPageSize);
    this.log = options.logger ?? silentLogger;
    this.callTimeoutMs = options.callTimeoutMs ?? 5_000;
    // The client library treats a call past its gRPC deadline as a failed host: it closes
    // every connection to it (failing all calls in flight and every watch) and three in a
    // row open its circuit breaker, which fails every call for 5 s. A busy controller whose
    // event loop reads a reply late met exactly that and lost its leadership. So each call
    // gives up on its own after callTimeoutMs (call(), below), and the gRPC deadline is only
    // a backstop for a call etcd never answers.
    const deadlineMs = Math.max(60_000, 12 * this.callTimeoutMs);
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: options.dialTimeoutMs ?? 3_000,
      // A hung etcd must not hang API calls forever; watches are long-lived and exempt.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + deadlineMs }),
      // A list of a big prefix (10,000 pods are ~8 MB) is one response: grpc-js refuses more
      // than 4 MB by default, and those failures open the client's circuit breaker, which
      // then fails every call, the leader's lease renewal included.
      grpcOptions: { 'grpc.max_receive_message_length': maxResponseBytes },
    });
    this.ns = this.client.namespace(options.prefix ?? rootPrefix);
  }

  async get<T>(codec: Codec<T>, key: string): Promise<Entry<T> | undefined> {
    const res = await this.call(`read ${key}`, () => this.ns.get(key).exec());
    const kv = res.kvs[0];
    return kv ? toEntry(codec, key, kv) : undefined;
  }

  async getMany<T>(codec: Codec<T>, keys: readonly string[]): Promise<(Entry<T> | undefined)[]> {
    const first = keys[0];
    if (first === undefined) return [];
    tooManyOps(keys.length);
    // One transaction of reads: one round trip and one revision for all of them. Its
    // compare always holds (every create revision, 0 for a missing key, is above -1).
    const res = await this.call(`read ${keys.length} keys`, () =>
      this.ns
        .if(first, 'Create', '>', -1)
        .then(...keys.map((key) => this.ns.get(key)))
        .commit(),
    );
    return keys.map((key, i) => {
      const kv = res.responses[i]?.response_range?.kvs[0];
      return kv ? toEntry(codec, key, kv) : undefined;
    });
  }

  /**
   * Reads the prefix in pages of listPageSize keys, all at the revision of the first page,
   * and lets the event loop run between pages: a list of 50,000 pods decoded in one go
   * held the loop for more than a second, and every API call and watch with it.
   */
  async list<T>(codec: Codec<T>, prefix: string): Promise<ListResult<T>> {
    const end = Range.prefix(prefix).end;
    for (let attempt = 1; ; attempt++) {
      const entries: Entry<T>[] = [];
      let start = Buffer.from(prefix);
      let revision: number | undefined;
      try {
        for (;;) {
          const at = revision;
          const res = await this.call(`list ${prefix}`, () => {
            const range = this.ns.getAll().inRange(new Range(start, end)).limit(this.listPageSize);
            return (at === undefined ? range : range.revision(at)).exec();
          });
          revision ??= Number(res.header.revision);
          for (const kv of res.kvs) entries.push(toEntry(codec, kv.key.toString(), kv));
          const last = res.kvs[res.kvs.length - 1];
          if (!res.more || !last) break;
          // The next page starts just after the last key read.
          start = Buffer.concat([last.key, Buffer.from([0])]);
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        return { entries, revision: revision ?? 0 };
      } catch (err) {
        // The revision of the first page was compacted away meanwhile: read again, now.
        if (!isCompactedError(err) || revision === undefined || attempt >= 3) throw err;
      }
    }
  }

  async create<T>(codec: Codec<T>, key: string, value: T): Promise<CreateResult<T>> {
    const text = codec.encode(value);
    const res = await this.call(`create ${key}`, () =>
      this.ns.if(key, 'Create', '==', 0).then(this.ns.put(key).value(text)).else(this.ns.get(key)).commit(),
    );
    if (res.succeeded) {
      const revision = Number(res.header.revision);
      return {
        created: true,
        entry: { key, value: codec.decode(text, revision), modRevision: revision, createRevision: revision },
      };
    }
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (!kv) {
      // Created and deleted between the compare and the read: a writer got there first.
      throw conflict(`${codec.kind} ${key} is being created and deleted concurrently; try again`, {
        object: key,
      });
    }
    return { created: false, entry: toEntry(codec, key, kv) };
  }

  async update<T>(codec: Codec<T>, key: string, value: T, modRevision: number): Promise<Entry<T>> {
    const text = codec.encode(value);
    const res = await this.call(`update ${key}`, () =>
      this.ns.if(key, 'Mod', '==', modRevision).then(this.ns.put(key).value(text)).commit(),
    );
    if (!res.succeeded) {
      throw conflict(
        `${codec.kind} ${key} was changed by someone else (resourceVersion ${modRevision} is stale); read it again`,
        { object: key },
      );
    }
    const revision = Number(res.header.revision);
    return { key, value: codec.decode(text, revision), modRevision: revision, createRevision: 0 };
  }

  async delete(key: string, modRevision?: number): Promise<boolean> {
    if (modRevision === undefined) {
      const res = await this.call(`delete ${key}`, () => this.ns.delete().key(key).exec());
      return Number(res.deleted) > 0;
    }
    const res = await this.call(`delete ${key}`, () =>
      this.ns
        .if(key, 'Mod', '==', modRevision)
        .then(this.ns.delete().key(key))
        .else(this.ns.get(key))
        .commit(),
    );
    if (res.succeeded) return true;
    if ((res.responses[0]?.response_range?.kvs.length ?? 0) === 0) return false;
    throw conflict(`${key} was changed by someone else (resourceVersion ${modRevision} is stale)`, {
      object: key,
    });
  }

  async commit(ops: readonly TxnOp[]): Promise<TxnResult> {
    tooManyOps(ops.length);
    const guarded = ops.filter((op) => op.expect !== undefined);
    // A missing key has mod revision 0, so "must not exist" is Mod == 0. With no guard at
    // all, a compare that always holds (every create revision is above -1).
    const first = guarded[0];
    let builder = first
      ? this.ns.if(first.key, 'Mod', '==', first.expect ?? 0)
      : this.ns.if(ops[0]?.key ?? 'cluster/ca', 'Create', '>', -1);
    for (const op of guarded.slice(1)) builder = builder.and(op.key, 'Mod', '==', op.expect ?? 0);
    const writes = ops
      .filter((op) => op.type !== 'check')
      .map((op) => (op.type === 'put' ? this.ns.put(op.key).value(op.text) : this.ns.delete().key(op.key)));
    const reads = guarded.map((op) => this.ns.get(op.key));
    const res = await this.call(`commit ${ops.length} writes`, () =>
      builder
        .then(...writes)
        .else(...reads)
        .commit(),
    );
    if (res.succeeded) return { revision: Number(res.header.revision) };
    const stale = guarded
      .filter((op, i) => Number(res.responses[i]?.response_range?.kvs[0]?.mod_revision ?? 0) !== op.expect)
      .map((op) => op.key);
    throw staleKeys(stale.length > 0 ? stale : guarded.map((op) => op.key));
  }

  watch<T>(
    codec: Codec<T>,
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
  ): AsyncIterable<WatchEvent<T>> {
    const queue = new AsyncQueue<WatchEvent<T>>(signal);
    void this.runWatch(codec, prefix, afterRevision, AbortSignal.any([signal, queue.consumerGone]), queue);
    return queue;
  }

  /**
   * Keeps one etcd watcher alive, re-creating it after a disconnection from the last
   * revision delivered. (The client library would resume by itself, but from the
   * revision in the last response header, which can run ahead of the events delivered
   * while a watcher is catching up on history.)
   */
  private async runWatch<T>(
    codec: Codec<T>,
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
    queue: AsyncQueue<WatchEvent<T>>,
  ): Promise<void> {
    let last = afterRevision;
    const backoff = new Backoff({ initialMs: 100, maxMs: 3_000 });
    let slicer: WatchSlicer | undefined;
    while (!signal.aborted && !queue.closed) {
      const watcher = this.ns
        .watch()
        .prefix(prefix)
        .withPreviousKV()
        .startRevision(String(last + 1))
        .watcher();
      const done = new AbortController();
      const outcome = await new Promise<WatchOutcome>((resolve) => {
        if (signal.aborted) resolve({ kind: 'aborted' });
        signal.addEventListener('abort', () => resolve({ kind: 'aborted' }), {
          once: true,
          signal: done.signal,
        });
        watcher.on('connected', () => backoff.reset());
        watcher.on('disconnected', () => resolve({ kind: 'disconnected' }));
        watcher.on('error', (error) => resolve({ kind: 'cancelled', error }));
        const deliver = (type: 'Put' | 'Delete', kv: IKeyValue, prev: IKeyValue | undefined): void => {
          const revision = Number(kv.mod_revision);
          try {
            queue.push(toWatchEvent(codec, type, kv, prev, revision));
          } catch (err) {
            this.log.warn('skipping a watch event that does not decode', { key: kv.key.toString(), err });
          }
          last = Math.max(last, revision);
        };
        slicer = new WatchSlicer(deliver);
        const received = slicer;
        watcher.on('put', (kv, prev) => received.push('Put', kv, prev));
        watcher.on('delete', (kv, prev) => received.push('Delete', kv, prev));
      });
      // Events received and not yet delivered are not kept: the next watcher starts after
      // the last one delivered, and etcd sends them again.
      slicer?.stop();
      done.abort();
      watcher.removeAllListeners();
      // An emitter without an 'error' listener throws; the watcher may still report one while it closes.
      watcher.on('error', () => undefined);
      // A watch etcd cancelled is already gone; cancelling it again makes etcd answer for
      // an id the client library no longer knows, which it treats as a fatal error.
      if (outcome.kind !== 'cancelled') await watcher.cancel().catch(() => undefined);
      if (outcome.kind === 'aborted') break;
      if (outcome.kind === 'cancelled' && (await this.isCompacted(prefix, last + 1))) {
        queue.fail(new CompactedError(last));
        break;
      }
      this.log.debug('etcd watch interrupted; re-creating it', { prefix, afterRevision: last, outcome });
      await sleep(backoff.next(), signal);
    }
    queue.end();
  }

  private async isCompacted(prefix: string, revision: number): Promise<boolean> {
    try {
      await this.ns.getAll().prefix(prefix).limit(1).revision(revision).exec();
      return false;
    } catch (err) {
      return /compacted/i.test(errorMessage(err));
    }
  }

  async revision(): Promise<number> {
    const res = await this.call('read the current revision', () => this.ns.get('cluster/ca').exec());
    return Number(res.header.revision);
  }

  async prefixState(prefix: string): Promise<PrefixState> {
    // The newest key by mod revision, and etcd counts the whole range whatever the limit.
    const res = await this.call(`read the state of ${prefix}`, () =>
      this.ns.getAll().prefix(prefix).sort('Mod', 'Descend').limit(1).exec(),
    );
    return {
      count: Number(res.count),
      maxModRevision: Number(res.kvs[0]?.mod_revision ?? 0),
      revision: Number(res.header.revision),
    };
  }

  async ping(): Promise<string> {
    const status = await this.call('ask etcd for its status', () => this.client.maintenance.status());
    return `etcd ${status.version}`;
  }

  /**
   * The etcd election `name` under this store's prefix (keys election/<name>/<lease>), for
   * leader/etcd-candidate.ts: its keys live in the same keyspace as the objects, so a
   * commit can be fenced on them.
   */
  election(name: string, ttlSeconds: number): Election {
    return this.ns.election(name, ttlSeconds);
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** etcd failures as Unavailable errors that say which endpoints were tried. */
  private async call<R>(what: string, fn: () => Promise<R>): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.callTimeoutMs} ms`)),
        this.callTimeoutMs,
      );
    });
    try {
      const pending = fn();
      // A call given up on may still fail later: nobody waits for it any more.
      pending.catch(() => undefined);
      return await Promise.race([pending, timeout]);
    } catch (err) {
      if (err instanceof FlotillaError) throw err;
      if (/compacted/i.test(errorMessage(err))) throw new CompactedError(0);
      throw unavailable(`etcd at ${this.endpoints.join(',')}: cannot ${what}: ${errorMessage(err)}`, {}, err);
    } finally {
      clearTimeout(timer);
    }
  }
}

type WatchOutcome = { kind: 'aborted' } | { kind: 'disconnected' } | { kind: 'cancelled'; error: unknown };

/** Events decoded and delivered per turn of the event loop, at most (see WatchSlicer). */
export const watchSliceEvents = 64;
/** Decoding time per turn of the event loop, at most. */
export const watchSliceMs = 4;

/**
 * Delivers a watcher's events a slice per turn of the event loop. etcd sends a watch
 * response with many events (a transaction of 100 bindings is one revision of 100), and
 * grpc-js hands over several responses from one read: decoded and delivered in one go,
 * with every consumer's handling of each in the microtasks after it, one read was a task
 * of up to 0.8 s at 1,000 nodes (the pod hub fanning each event out to 1,000 streams), and
 * every API call waited behind it. A slice is at most watchSliceEvents events or
 * watchSliceMs of decoding; the rest waits for setImmediate, after the consumers have
 * handled the slice and other I/O had its turn. Order is kept.
 */
class WatchSlicer {
  private readonly pending: { type: 'Put' | 'Delete'; kv: IKeyValue; prev: IKeyValue | undefined }[] = [];
  private next = 0;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly deliver: (type: 'Put' | 'Delete', kv: IKeyValue, prev: IKeyValue | undefined) => void,
  ) {}

  push(type: 'Put' | 'Delete', kv: IKeyValue, prev: IKeyValue | undefined): void {
    if (this.stopped) return;
    this.pending.push({ type, kv, prev });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  stop(): void {
    this.stopped = true;
    this.pending.length = 0;
    this.next = 0;
  }

  private drain(): void {
    this.scheduled = false;
    const until = performance.now() + watchSliceMs;
    let count = 0;
    while (!this.stopped && this.next < this.pending.length) {
      const ev = this.pending[this.next++];
      if (ev) this.deliver(ev.type, ev.kv, ev.prev);
      // A slice ends between revisions only (a transaction's events come in one response):
      // a watcher re-created after a stop resumes after the last revision delivered, which
      // must then be whole, and consumers take a revision as complete once they saw it.
      count++;
      const following = this.pending[this.next];
      if (following !== undefined && following.kv.mod_revision === ev?.kv.mod_revision) continue;
      if (count >= watchSliceEvents || performance.now() >= until) break;
    }
    if (this.next >= this.pending.length) {
      this.pending.length = 0;
      this.next = 0;
    } else if (!this.stopped) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}

/**
 * A watch event whose previous value is decoded only when read (once): most consumers hold
 * the previous value already (an informer's copy), and decoding it for each of them was
 * half the cost of every watched change. A previous value that does not decode reads as
 * undefined, as etcd gives none after a compaction.
 */
function toWatchEvent<T>(
  codec: Codec<T>,
  type: 'Put' | 'Delete',
  kv: IKeyValue,
  prev: IKeyValue | undefined,
  revision: number,
): WatchEvent<T> {
  const key = kv.key.toString();
  const event =
    type === 'Put'
      ? { type: 'put' as const, key, value: codec.decode(kv.value.toString(), revision), revision }
      : { type: 'delete' as const, key, revision };
  let undecoded = prev;
  let previous: T | undefined;
  Object.defineProperty(event, 'previous', {
    enumerable: true,
    get(): T | undefined {
      if (undecoded) {
        const kv = undecoded;
        undecoded = undefined;
        try {
          previous = codec.decode(kv.value.toString(), Number(kv.mod_revision));
        } catch {
          previous = undefined;
        }
      }
      return previous;
    },
  });
  return event;
}

function toEntry<T>(codec: Codec<T>, key: string, kv: IKeyValue): Entry<T> {
  const modRevision = Number(kv.mod_revision);
  return {
    key,
    value: codec.decode(kv.value.toString(), modRevision),
    modRevision,
    createRevision: Number(kv.create_revision),
  };
}
