// One etcd watch on pods/ per controller, shared by every node's assignments stream.
// With a watch per stream, each pod change was decoded once per connected node (nodes ×
// events): at 200 simulated nodes that starved the scheduler's own informer and left the
// streams minutes behind (BENCHMARKS.md, "Control plane"). The hub keeps the recent
// events (decoded once) so a stream can start from any revision it still holds; an older
// revision gets its own store watch, exactly as before.
import type { Pod } from '@flotilla/proto';
import { errorMessage, type Logger } from '@flotilla/common';
import { podCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { isCompactedError, type Store, type WatchEvent } from '../store/types.js';
import { AsyncQueue } from '../util/async-queue.js';
import { Backoff, sleep } from '../util/backoff.js';

interface Subscriber {
  after: number;
  queue: AsyncQueue<WatchEvent<Pod>>;
}

export class PodWatchHub {
  /** Events with revisions after historyFrom, oldest first. */
  private history: WatchEvent<Pod>[] = [];
  /** -1 while the hub is not watching: every watch then goes to the store. */
  private historyFrom = -1;
  private readonly subscribers = new Set<Subscriber>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** How many recent events are kept for streams that resume a little behind. */
    private readonly historyLimit = 20_000,
  ) {}

  /** Watches until the signal aborts; etcd failures are waited out. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
    while (!signal.aborted) {
      try {
        const from = await this.store.revision();
        this.history = [];
        this.historyFrom = from;
        for await (const ev of this.store.watch(podCodec, keys.pods, from, signal)) {
          backoff.reset();
          this.history.push(ev);
          while (this.history.length > this.historyLimit)
            this.historyFrom = this.history.shift()?.revision ?? from;
          for (const sub of this.subscribers) if (ev.revision > sub.after) sub.queue.push(ev);
        }
      } catch (err) {
        if (signal.aborted) break;
        // The streams on the hub cannot know what they missed: end them, their agents resume.
        this.historyFrom = -1;
        for (const sub of this.subscribers) sub.queue.fail(err);
        this.subscribers.clear();
        const delay = backoff.next();
        this.log[isCompactedError(err) ? 'info' : 'warn']('pod watch interrupted; watching again', {
          err: errorMessage(err),
          retryInMs: delay,
        });
        await sleep(delay, signal).catch(() => undefined);
      }
    }
    this.historyFrom = -1;
    for (const sub of this.subscribers) sub.queue.end();
    this.subscribers.clear();
  }

  /** The pod changes after afterRevision, as Store.watch gives them. */
  watch(afterRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent<Pod>> {
    if (this.historyFrom < 0 || afterRevision < this.historyFrom) {
      return this.store.watch(podCodec, keys.pods, afterRevision, signal);
    }
    const queue = new AsyncQueue<WatchEvent<Pod>>(signal);
    // Replay and subscription in one synchronous step: nothing can slip between them.
    for (const ev of this.history) if (ev.revision > afterRevision) queue.push(ev);
    const sub: Subscriber = { after: afterRevision, queue };
    this.subscribers.add(sub);
    const done = AbortSignal.any([signal, queue.consumerGone]);
    done.addEventListener('abort', () => this.subscribers.delete(sub), { once: true });
    return queue;
  }

  /** For tests and metrics: how many streams follow the hub. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }
}
