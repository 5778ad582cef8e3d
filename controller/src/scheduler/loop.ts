// The scheduler loop: keeps a SchedulingSnapshot current from informers over nodes and
// pods, plans the pending pods (no spec.nodeName, not being deleted) in batches, and
// writes each batch as one guarded etcd transaction. A conflict means the snapshot was
// stale: the changed pods are re-read and the batch planned again. A pod that fits
// nowhere gets PodScheduled=False/Unschedulable with the counted reasons and waits for
// capacity — a node that comes or changes, a pod that goes or finishes — instead of
// being retried in a loop. Runs only on the leader (one scheduler per cluster).
import { commitAsLeader, type Leadership } from '../leader/candidate.js';
import type { Node, ObjectReference, Pod, PodCondition } from '@flotilla/proto';
import { errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import type { EventRecorder } from '../events/recorder.js';
import { scheduledCondition } from '../pods/defaults.js';
import { nodeCodec, podCodec } from '../store/codecs.js';
import { Informer, type InformerChange } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { putOp, type Store, type TxnOp } from '../store/types.js';
import { Backoff, sleep } from '../util/backoff.js';
import { Planner, seededRandom, type Plan } from './planner.js';
import { schedulerProfile, type SchedulerProfile } from './profile.js';
import { SchedulingSnapshot } from './snapshot.js';

/** etcd refuses transactions of more than 128 operations by default (--max-txn-ops). */
export const maxBatchSize = 100;

export interface SchedulerOptions {
  store: Store;
  events: EventRecorder;
  log: Logger;
  profile?: SchedulerProfile;
  /** Pods per transaction, at most maxBatchSize. */
  batchSize?: number;
  /** Batches written at once (default 4); each is planned with the others' placements assumed. */
  maxInFlight?: number;
  /** Seeds the planner's node walk; the same seed and the same history give the same placements. */
  seed?: number;
  /** Unschedulable pods are tried again at least this often even when nothing seems to change. */
  resyncMs?: number;
  now?: () => Date;
  /** The leadership the loop runs under: bindings carry its fence, so a deposed leader's fail. */
  leadership?: Leadership;
}

export interface RunningScheduler {
  stop(): Promise<void>;
}

/** Pending: waiting for the scheduler. A pod being deleted is not placed any more. */
export function isPending(pod: Pod): boolean {
  return (pod.spec?.nodeName ?? '') === '' && (pod.metadata?.deletionTimestamp ?? '') === '';
}

/** The node facts a placement depends on; a change to any of them may admit a waiting pod. */
function schedulingFacts(node: Node): string {
  return JSON.stringify([
    node.metadata?.labels,
    node.spec?.unschedulable,
    node.spec?.taints,
    node.status?.allocatable,
    node.status?.conditions.find((c) => c.type === 'Ready')?.status,
  ]);
}

function withScheduled(pod: Pod, condition: PodCondition, nodeName?: string): Pod {
  const status = pod.status;
  const others = (status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
  return {
    ...pod,
    spec: pod.spec && nodeName !== undefined ? { ...pod.spec, nodeName } : pod.spec,
    status: status ? { ...status, conditions: [condition, ...others] } : status,
  };
}

function objectRef(pod: Pod): ObjectReference {
  const m = pod.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: m?.namespace ?? '',
    name: m?.name ?? '',
    uid: m?.uid ?? '',
    resourceVersion: '',
    fieldPath: '',
  };
}

export class SchedulerLoop {
  private readonly store: Store;
  private readonly leadership: Leadership | undefined;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  private readonly now: () => Date;
  private readonly batchSize: number;
  private readonly planner: Planner;
  private readonly pods: Informer<Pod>;
  private readonly nodes: Informer<Node>;
  private readonly snapshot = new SchedulingSnapshot();
  /** Every pending pod, as last seen. */
  private readonly pending = new Map<string, Pod>();
  /** Pending pods to plan, in arrival order. */
  private active = new Set<string>();
  /** Pending pods that fit nowhere at their last attempt; they wait for capacity. */
  private readonly waiting = new Set<string>();
  private readonly nodeFacts = new Map<string, string>();
  /** Counts capacity changes, so a verdict planned before one is not parked after it. */
  private capacityEpoch = 0;
  private readonly abort = new AbortController();
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
  private readonly resyncMs: number;
  /** Batches being planned or written. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly inFlightPods = new Set<string>();
  private readonly maxInFlight: number;
  private timer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private informerRuns: Promise<void>[] = [];

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.leadership = options.leadership;
    this.log = options.log;
    this.events = options.events;
    this.now = options.now ?? (() => new Date());
    this.batchSize = Math.min(maxBatchSize, Math.max(1, options.batchSize ?? maxBatchSize));
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.resyncMs = options.resyncMs ?? 60_000;
    this.planner = new Planner(
      options.profile ?? schedulerProfile(),
      seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32)),
    );
    this.pods = new Informer(this.store, podCodec, keys.pods, this.log.child({ informer: 'pods' }));
    this.nodes = new Informer(this.store, nodeCodec, keys.nodes, this.log.child({ informer: 'nodes' }));
    this.nodes.onChange((c) => this.onNode(c));
    this.pods.onChange((c) => this.onPod(c));
  }

  start(): void {
    this.informerRuns = [this.nodes.run(this.abort.signal), this.pods.run(this.abort.signal)];
    void Promise.all([this.nodes.waitSynced(), this.pods.waitSynced()]).then(() => this.wake());
    this.resyncTimer = setInterval(() => this.retryWaiting('resync'), this.resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await Promise.all(this.informerRuns);
    await Promise.all([...this.inFlight]);
  }

  /** How many pods wait for capacity (tests, metrics). */
  get waitingCount(): number {
    return this.waiting.size;
  }

  private synced(): boolean {
    return this.nodes.isSynced && this.pods.isSynced;
  }

  private onNode(change: InformerChange<Node>): void {
    const name = change.key.slice(keys.nodes.length);
    if (change.type === 'delete') {
      this.snapshot.removeNode(name);
      this.nodeFacts.delete(name);
      return;
    }
    this.snapshot.setNode(change.value);
    const facts = schedulingFacts(change.value);
    if (this.nodeFacts.get(name) === facts) return;
    this.nodeFacts.set(name, facts);
    this.retryWaiting('node changed');
  }

  private onPod(change: InformerChange<Pod>): void {
    const key = change.key;
    const wasPlaced = this.snapshot.nodeOf(key) !== undefined;
    if (change.type === 'delete') {
      this.snapshot.removePod(key);
      this.dropPending(key);
      if (wasPlaced) this.retryWaiting('pod deleted');
      return;
    }
    const pod = change.value;
    this.snapshot.setPod(key, pod);
    if (wasPlaced && this.snapshot.nodeOf(key) === undefined) this.retryWaiting('pod finished');
    if (!isPending(pod)) {
      this.dropPending(key);
      return;
    }
    this.pending.set(key, pod);
    if (!this.waiting.has(key)) {
      this.active.add(key);
      this.wake();
    }
  }

  private dropPending(key: string): void {
    this.pending.delete(key);
    this.active.delete(key);
    this.waiting.delete(key);
  }

  private retryWaiting(why: string): void {
    this.capacityEpoch++;
    if (this.waiting.size === 0) return;
    this.log.debug('retrying unschedulable pods', { why, pods: this.waiting.size });
    for (const key of this.waiting) this.active.add(key);
    this.waiting.clear();
    this.wake();
  }

  /**
   * Starts batches soon: events that arrive together are planned together. Up to
   * maxInFlight batches are written at once, each planned on the snapshot with the
   * placements of those still in flight assumed, so one etcd round trip does not pace
   * the bindings.
   */
  private wake(): void {
    if (this.timer || this.abort.signal.aborted || !this.synced()) return;
    if (this.inFlight.size >= this.maxInFlight || this.active.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fill();
    }, 0);
  }

  private fill(): void {
    while (this.active.size > 0 && this.inFlight.size < this.maxInFlight && !this.abort.signal.aborted) {
      const batch: string[] = [];
      for (const key of this.active) {
        // A pod already in a batch being written waits for that batch's outcome.
        if (this.inFlightPods.has(key)) continue;
        batch.push(key);
        if (batch.length >= this.batchSize) break;
      }
      if (batch.length === 0) return;
      for (const key of batch) {
        this.active.delete(key);
        this.inFlightPods.add(key);
      }
      const run: Promise<void> = this.runBatch(batch).finally(() => {
        for (const key of batch) this.inFlightPods.delete(key);
        this.inFlight.delete(run);
        this.wake();
      });
      this.inFlight.add(run);
    }
  }

  private async runBatch(batch: readonly string[]): Promise<void> {
    const ok = await this.scheduleBatch(batch);
    if (!ok) {
      // Back in front, and give the store a moment (this batch's slot waits).
      this.active = new Set([...batch.filter((k) => this.pending.has(k)), ...this.active]);
      await sleep(this.backoff.next(), this.abort.signal);
    }
  }

  /** Plans and writes one batch; false when it must be tried again (after a back-off). */
  private async scheduleBatch(batch: readonly string[]): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const pods = batch.flatMap((key) => {
        const pod = this.pending.get(key);
        return pod ? [{ key, pod }] : [];
      });
      if (pods.length === 0) return true;
      const epoch = this.capacityEpoch;
      const plan = this.planner.plan(this.snapshot, pods);
      const ops = this.writesOf(plan);
      try {
        if (ops.length > 0) {
          await (this.leadership ? commitAsLeader(this.store, this.leadership, ops) : this.store.commit(ops));
        }
      } catch (err) {
        for (const b of plan.bindings) this.snapshot.forget(b.key);
        if (!isFlotillaError(err, 'Conflict')) {
          this.log.warn('cannot write bindings; retrying', { pods: pods.length, err: errorMessage(err) });
          return false;
        }
        const stale = Array.isArray(err.context.value)
          ? err.context.value.filter((k): k is string => typeof k === 'string')
          : [];
        this.log.debug('bindings conflicted; planning again', { stale, attempt });
        // The store's keys carry no cluster prefix in this API; re-read each stale pod.
        const refreshed = await Promise.all(
          (stale.length > 0 ? stale : pods.map((p) => p.key)).map((k) =>
            this.pods.refresh(k).then(
              () => true,
              () => false,
            ),
          ),
        );
        if (refreshed.includes(false) || attempt >= 5) return false;
        continue;
      }
      this.backoff.reset();
      this.afterCommit(plan, epoch === this.capacityEpoch);
      return true;
    }
  }

  private writesOf(plan: Plan): TxnOp[] {
    const at = this.now();
    const ops: TxnOp[] = [];
    for (const b of plan.bindings) {
      const pod = withScheduled(b.pod, scheduledCondition(true, at), b.nodeName);
      ops.push(putOp(podCodec, b.key, pod, this.pods.modRevision(b.key) ?? 0));
    }
    for (const u of plan.unschedulable) {
      const current = u.pod.status?.conditions.find((c) => c.type === 'PodScheduled');
      // The same verdict is not written again: a waiting pod costs nothing per retry.
      if (current?.status === 'False' && current.message === u.message) continue;
      const pod = withScheduled(u.pod, scheduledCondition(false, at, u.message));
      ops.push(putOp(podCodec, u.key, pod, this.pods.modRevision(u.key) ?? 0));
    }
    return ops;
  }

  /** current: no capacity appeared since the plan, so its verdicts stand. */
  private afterCommit(plan: Plan, current: boolean): void {
    for (const b of plan.bindings) {
      this.pending.delete(b.key);
      const ref = objectRef(b.pod);
      this.events.record({
        involvedObject: ref,
        type: 'Normal',
        reason: 'Scheduled',
        message: `Successfully assigned ${ref.namespace}/${ref.name} to ${b.nodeName}`,
      });
    }
    if (plan.bindings.length > 0) this.log.debug('pods bound', { count: plan.bindings.length });
    for (const u of plan.unschedulable) {
      if (!this.pending.has(u.key)) continue;
      if (current) {
        this.active.delete(u.key);
        this.waiting.add(u.key);
      } else {
        this.active.add(u.key);
      }
      this.events.record({
        involvedObject: objectRef(u.pod),
        type: 'Warning',
        reason: 'FailedScheduling',
        message: u.message,
      });
    }
  }
}

/** Starts the scheduler; stop() ends its watches and waits for a pass in flight. */
export function startScheduler(options: SchedulerOptions): RunningScheduler & { loop: SchedulerLoop } {
  const loop = new SchedulerLoop(options);
  loop.start();
  return { loop, stop: () => loop.stop() };
}
