// The EventRecorder the controller's loops and API record through: events are stored as
// Kubernetes Events under events/<namespace>/<object>.<hex>. A repeat of the same
// object, type, reason and message raises count and lastTimestamp of the event already
// written instead of adding one. record() only queues; a timer writes the queue in
// batched transactions, so a caller never waits on etcd and a failed write loses an event,
// never the caller's work. Events not repeated for an hour are deleted by a sweeper.
// Repeats are recognised among the 4,096 most recent distinct events, as Kubernetes'
// event correlator does (its LRU cache of 4,096): remembering every event of the hour kept
// two per pod (Scheduled, SuccessfulCreate), some 150 MB at 50,000 pods.
import type { Event } from '@flotilla/proto';
import { errorMessage, type Logger } from '@flotilla/common';
import { eventCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { putOp, type Store, type TxnOp } from '../store/types.js';
import type { EventInput, EventRecorder } from './recorder.js';

export const defaultEventTtlMs = 60 * 60 * 1000;

export interface StoreEventRecorderOptions {
  store: Store;
  log: Logger;
  /** Who records: the controller's name in event.source.component. */
  component?: string;
  host?: string;
  /** How long after its last repeat an event is deleted; one hour. */
  ttlMs?: number;
  /** How long record() waits for more events before writing; 100 ms. */
  flushDelayMs?: number;
  sweepIntervalMs?: number;
  /** How many distinct recent events a repeat is recognised among; 4,096. */
  remembered?: number;
  now?: () => Date;
}

/** The events of one transaction at most (etcd allows 128 operations by default). */
const batchSize = 100;
/** How many distinct events are remembered for counting repeats. */
export const defaultRememberedEvents = 4096;

interface Aggregate {
  event: Event;
  key: string;
}

function aggregateKey(e: EventInput): string {
  const o = e.involvedObject;
  return JSON.stringify([o.kind, o.namespace, o.name, o.uid, o.fieldPath, e.type, e.reason, e.message]);
}

export class StoreEventRecorder implements EventRecorder {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly flushDelayMs: number;
  private readonly sweepIntervalMs: number;
  private readonly now: () => Date;
  private readonly source: { component: string; host: string };
  /** The most recent distinct events, least recently recorded first. */
  private readonly known = new Map<string, Aggregate>();
  private readonly remembered: number;
  /** What the next flush writes: a forgotten event is still written. */
  private pending = new Map<string, Aggregate>();
  private flushTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private sequence = 0;

  constructor(options: StoreEventRecorderOptions) {
    this.store = options.store;
    this.log = options.log;
    this.ttlMs = options.ttlMs ?? defaultEventTtlMs;
    this.flushDelayMs = options.flushDelayMs ?? 100;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.remembered = Math.max(1, options.remembered ?? defaultRememberedEvents);
    this.now = options.now ?? (() => new Date());
    this.source = { component: options.component ?? 'flotilla-controller', host: options.host ?? '' };
  }

  record(input: EventInput): void {
    try {
      const at = this.now().toISOString();
      const id = aggregateKey(input);
      // Forgotten but not yet written: still counted on the one event.
      let agg = this.known.get(id) ?? this.pending.get(id);
      if (agg) {
        agg.event = { ...agg.event, count: agg.event.count + 1, lastTimestamp: at };
        // Most recently recorded last.
        this.known.delete(id);
        this.known.set(id, agg);
      } else {
        const o = input.involvedObject;
        // Kubernetes keeps the events of cluster-scoped objects (nodes) in "default".
        const namespace = o.namespace || 'default';
        const name = `${o.name || o.kind.toLowerCase()}.${(this.now().getTime() * 1000 + (this.sequence++ % 1000)).toString(16)}`;
        const event: Event = {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: {
            name,
            namespace,
            uid: '',
            resourceVersion: '',
            generation: 0,
            creationTimestamp: at,
            deletionTimestamp: '',
            labels: {},
            annotations: {},
            ownerReferences: [],
          },
          involvedObject: { ...o },
          reason: input.reason,
          message: input.message,
          type: input.type,
          count: 1,
          firstTimestamp: at,
          lastTimestamp: at,
          source: { ...this.source },
        };
        agg = { event, key: keys.event(namespace, name) };
        this.known.set(id, agg);
      }
      while (this.known.size > this.remembered) {
        const oldest = this.known.keys().next().value;
        if (oldest === undefined) break;
        this.known.delete(oldest);
      }
      this.pending.set(id, agg);
      this.flushTimer ??= setTimeout(() => {
        this.flushTimer = undefined;
        void this.flush();
      }, this.flushDelayMs).unref();
    } catch (err) {
      this.log.warn('event not recorded', { reason: input.reason, err: errorMessage(err) });
    }
  }

  /** Writes what is queued; resolves when it is written (or given up on). */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.writePending());
    return this.writing;
  }

  private async writePending(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const ops: TxnOp[] = [];
    for (const agg of batch.values()) ops.push(putOp(eventCodec, agg.key, agg.event));
    for (let i = 0; i < ops.length; i += batchSize) {
      try {
        await this.store.commit(ops.slice(i, i + batchSize));
      } catch (err) {
        this.log.warn('events not written', {
          events: ops.slice(i, i + batchSize).length,
          err: errorMessage(err),
        });
      }
    }
  }

  /** Starts the sweeper: events whose last repeat is older than the TTL are deleted. */
  start(): void {
    this.sweepTimer ??= setInterval(() => void this.sweep(), this.sweepIntervalMs).unref();
  }

  async sweep(): Promise<number> {
    const cutoff = this.now().getTime() - this.ttlMs;
    for (const [id, agg] of this.known) {
      if (Date.parse(agg.event.lastTimestamp) < cutoff) this.known.delete(id);
    }
    try {
      const { entries } = await this.store.list(eventCodec, keys.events);
      const expired = entries.filter((e) => {
        const last = Date.parse(e.value.lastTimestamp || e.value.metadata?.creationTimestamp || '');
        return !Number.isFinite(last) || last < cutoff;
      });
      for (let i = 0; i < expired.length; i += batchSize) {
        const ops: TxnOp[] = expired
          .slice(i, i + batchSize)
          .map((e) => ({ type: 'delete', key: e.key, expect: e.modRevision }));
        // A guard that fails means an event was repeated meanwhile: the next sweep decides again.
        await this.store.commit(ops).catch(() => undefined);
      }
      if (expired.length > 0) this.log.debug('expired events deleted', { events: expired.length });
      return expired.length;
    } catch (err) {
      this.log.warn('event sweep failed', { err: errorMessage(err) });
      return 0;
    }
  }

  /** Stops the timers and writes what is still queued. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flush();
  }
}
