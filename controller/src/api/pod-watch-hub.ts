// The controller's one copy of the pods: one list and one etcd watch of pods/ per
// controller, each pod decoded once, shared by every node's assignments stream and by the
// loops' pod informers (through sharedPodStore, store/shared-pods.ts). With a watch per
// stream, each pod change was decoded once per connected node; with a watch and a copy per
// loop, each was decoded three times more and every pod held in memory four times
// (BENCHMARKS.md, "Control plane"). The hub keeps the recent events so a stream or an
// informer can start from any revision it still holds; an older revision gets its own
// store watch, exactly as before. Consumers share the decoded pods: they must not change
// them (nobody here does; every change is a new object).
import type { Pod } from '@flotilla/proto';
import { errorMessage, type Logger } from '@flotilla/common';
import { podCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import {
  isCompactedError,
  type Entry,
  type ListResult,
  type Store,
  type WatchEvent,
} from '../store/types.js';
import type { SharedPods } from '../store/shared-pods.js';
import { AsyncQueue } from '../util/async-queue.js';
import { Backoff, sleep } from '../util/backoff.js';

interface Subscriber {
  after: number;
  queue: AsyncQueue<WatchEvent<Pod>>;
}

/** A watch of the pod changes that concern one node. */
export interface NodePodWatch extends AsyncIterable<WatchEvent<Pod>> {
  /**
   * A revision through which every change concerning the node has been handed to the
   * consumer, counting those left out, when it has taken everything queued (0 when it
   * cannot say). Bookmarks use it: without it they would only move with the node's own
   * changes.
   */
  idleRevision(): number;
}

/**
 * The nodes a pod change can matter to: the one it was bound to and the one it is bound to
 * now; 'every' node when nothing says (a delete whose previous value is unknown).
 */
function nodesConcerned(ev: WatchEvent<Pod>): readonly string[] | 'every' {
  if (ev.previous === undefined && ev.type === 'delete') return 'every';
  const was = nodeOf(ev.previous);
  const is = ev.type === 'put' ? nodeOf(ev.value) : '';
  if (is === '' || is === was) return was === '' ? [] : [was];
  return was === '' ? [is] : [was, is];
}

/** Whether a pod change can matter to node: the pod is or was bound to it, or nothing says. */
export function concernsNode(ev: WatchEvent<Pod>, node: string): boolean {
  const nodes = nodesConcerned(ev);
  return nodes === 'every' || nodes.includes(node);
}

interface Held {
  value: Pod;
  modRevision: number;
  createRevision: number;
}

const nodeOf = (pod: Pod | undefined): string => pod?.spec?.nodeName ?? '';

export class PodWatchHub implements SharedPods {
  /** Events with revisions after historyFrom, oldest first. */
  private history: WatchEvent<Pod>[] = [];
  /** -1 while the hub is not watching: every watch then goes to the store. */
  private historyFrom = -1;
  /** The watches of every change (the loops' informers). */
  private readonly allSubscribers = new Set<Subscriber>();
  /**
   * Node watches by node: a change is handed to the watches of the node it was and is
   * bound to only. Offering each change to every node's watch to be filtered there was
   * 60 us per event at 1,000 nodes, the largest item of controller code while placing.
   */
  private readonly nodeSubscribers = new Map<string, Set<Subscriber>>();
  /** Every pod as of applied, while synced. */
  private current = new Map<string, Held>();
  /** The keys of the pods bound to each node. */
  private byNode = new Map<string, Set<string>>();
  private applied = 0;
  private synced = false;
  private changeWaiters: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** How many recent events are kept for streams that resume a little behind. */
    private readonly historyLimit = 20_000,
  ) {}

  /** Lists, then watches until the signal aborts; etcd failures are waited out. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
    while (!signal.aborted) {
      try {
        const { entries, revision } = await this.store.list(podCodec, keys.pods);
        this.load(entries, revision);
        for await (const ev of this.store.watch(podCodec, keys.pods, revision, signal)) {
          backoff.reset();
          this.apply(ev);
        }
      } catch (err) {
        if (signal.aborted) break;
        this.stopFollowing(err);
        const delay = backoff.next();
        this.log[isCompactedError(err) ? 'info' : 'warn']('pod watch interrupted; watching again', {
          err: errorMessage(err),
          retryInMs: delay,
        });
        await sleep(delay, signal).catch(() => undefined);
      }
    }
    this.stopFollowing(undefined);
  }

  private load(entries: readonly Entry<Pod>[], revision: number): void {
    this.current = new Map();
    this.byNode = new Map();
    for (const e of entries) {
      this.current.set(e.key, {
        value: e.value,
        modRevision: e.modRevision,
        createRevision: e.createRevision,
      });
      this.index(e.key, undefined, e.value);
    }
    this.history = [];
    this.historyFrom = revision;
    this.applied = revision;
    this.synced = true;
    this.wakeWaiters();
  }

  private apply(raw: WatchEvent<Pod>): void {
    const held = this.current.get(raw.key);
    // The copy holds the previous value already: no need to decode etcd's.
    const previous = held ? held.value : raw.previous;
    let ev: WatchEvent<Pod>;
    if (raw.type === 'put') {
      ev = { type: 'put', key: raw.key, value: raw.value, previous, revision: raw.revision };
      this.current.set(raw.key, {
        value: raw.value,
        modRevision: raw.revision,
        createRevision: held?.createRevision ?? raw.revision,
      });
      this.index(raw.key, previous, raw.value);
    } else {
      ev = { type: 'delete', key: raw.key, previous, revision: raw.revision };
      this.current.delete(raw.key);
      this.index(raw.key, previous, undefined);
    }
    this.applied = Math.max(this.applied, raw.revision);
    this.history.push(ev);
    if (this.history.length > this.historyLimit) {
      // Drop the oldest tenth at once: shifting one at a time moves the whole array each event.
      const drop = this.history.length - this.historyLimit + Math.ceil(this.historyLimit / 10);
      this.historyFrom = this.history[drop - 1]?.revision ?? this.historyFrom;
      this.history = this.history.slice(drop);
    }
    for (const sub of this.allSubscribers) this.deliver(sub, ev);
    const nodes = nodesConcerned(ev);
    const concerned =
      nodes === 'every' ? [...this.nodeSubscribers.values()] : nodes.map((n) => this.nodeSubscribers.get(n));
    for (const subs of concerned) for (const sub of subs ?? []) this.deliver(sub, ev);
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const waiters = this.changeWaiters;
    this.changeWaiters = [];
    for (const w of waiters) w();
  }

  private deliver(sub: Subscriber, ev: WatchEvent<Pod>): void {
    if (ev.revision > sub.after) sub.queue.push(ev);
  }

  private index(key: string, before: Pod | undefined, after: Pod | undefined): void {
    const was = nodeOf(before);
    const is = nodeOf(after);
    if (was === is) return;
    if (was !== '') {
      const set = this.byNode.get(was);
      set?.delete(key);
      if (set?.size === 0) this.byNode.delete(was);
    }
    if (is !== '') {
      let set = this.byNode.get(is);
      if (!set) {
        set = new Set();
        this.byNode.set(is, set);
      }
      set.add(key);
    }
  }

  /** Not following any more (an error, or the end): the streams on the hub are ended. */
  private stopFollowing(err: unknown): void {
    this.historyFrom = -1;
    this.synced = false;
    this.current = new Map();
    this.byNode = new Map();
    this.history = [];
    // The streams on the hub cannot know what they missed: end them, their agents resume.
    for (const sub of this.subscribers()) {
      if (err === undefined) sub.queue.end();
      else sub.queue.fail(err);
    }
    this.allSubscribers.clear();
    this.nodeSubscribers.clear();
  }

  /** The pod changes after afterRevision, as Store.watch gives them. */
  watch(afterRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent<Pod>> {
    return this.subscribe(afterRevision, signal, undefined);
  }

  /**
   * The changes after afterRevision that concern node (concernsNode): everything
   * assignmentForEvent may send, which leaves out some more (status-only changes). From
   * the store (every change) when the hub does not hold that revision.
   */
  watchNode(node: string, afterRevision: number, signal: AbortSignal): NodePodWatch {
    return this.subscribe(afterRevision, signal, node);
  }

  private subscribe(afterRevision: number, signal: AbortSignal, node: string | undefined): NodePodWatch {
    if (this.historyFrom < 0 || afterRevision < this.historyFrom) {
      const watch = this.store.watch(podCodec, keys.pods, afterRevision, signal);
      return { [Symbol.asyncIterator]: () => watch[Symbol.asyncIterator](), idleRevision: () => 0 };
    }
    const queue = new AsyncQueue<WatchEvent<Pod>>(signal);
    const sub: Subscriber = { after: afterRevision, queue };
    // Replay and subscription in one synchronous step: nothing can slip between them.
    for (const ev of this.history) if (node === undefined || concernsNode(ev, node)) this.deliver(sub, ev);
    let set = this.allSubscribers;
    if (node !== undefined) {
      set = this.nodeSubscribers.get(node) ?? new Set();
      this.nodeSubscribers.set(node, set);
    }
    set.add(sub);
    const subscribed = set;
    const done = AbortSignal.any([signal, queue.consumerGone]);
    done.addEventListener(
      'abort',
      () => {
        subscribed.delete(sub);
        if (node !== undefined && subscribed.size === 0 && this.nodeSubscribers.get(node) === subscribed)
          this.nodeSubscribers.delete(node);
      },
      { once: true },
    );
    return {
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
      // Every change through the copy's revision that concerns the node was handed over
      // when it was applied (whole revisions at a time: the store's watch never splits
      // one): with nothing queued, the consumer has taken all of them. Below the
      // revision it resumed after, the hub cannot speak for it.
      idleRevision: () => (queue.size === 0 && this.applied >= sub.after ? this.applied : 0),
    };
  }

  /** The pods under prefix as of the copy's revision (not in key order), or undefined while not synced. */
  list(prefix: string = keys.pods): ListResult<Pod> | undefined {
    if (!this.synced) return undefined;
    const entries: Entry<Pod>[] = [];
    const all = prefix === keys.pods;
    for (const [key, held] of this.current) {
      if (!all && !key.startsWith(prefix)) continue;
      entries.push({
        key,
        value: held.value,
        modRevision: held.modRevision,
        createRevision: held.createRevision,
      });
    }
    return { entries, revision: this.applied };
  }

  /** Resolves when the copy next changes (or is listed again), or after ms. */
  nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.changeWaiters.push(done);
    });
  }

  /** The pods bound to node as of the copy's revision, or undefined while not synced. */
  podsOn(node: string): { pods: Pod[]; revision: number } | undefined {
    if (!this.synced) return undefined;
    const pods: Pod[] = [];
    for (const key of this.byNode.get(node) ?? []) {
      const held = this.current.get(key);
      if (held) pods.push(held.value);
    }
    return { pods, revision: this.applied };
  }

  private *subscribers(): Iterable<Subscriber> {
    yield* this.allSubscribers;
    for (const subs of this.nodeSubscribers.values()) yield* subs;
  }

  /** For tests and metrics: how many streams follow the hub. */
  get subscriberCount(): number {
    let count = this.allSubscribers.size;
    for (const subs of this.nodeSubscribers.values()) count += subs.size;
    return count;
  }
}
