// The deployment loop (leader only): informers over deployments, ReplicaSets and pods
// say which deployment to look at; each pass decides from the informers' copies
// (deployment-decision.ts, then replica-set-decision.ts for each of its ReplicaSets) and
// applies the plan: the ReplicaSets, the deployment's status and the first pods to create
// in one guarded commit, the rest of the pods in further commits of up to 100 each, pods
// to delete through the graceful deletion path. A conflict or failure runs the pass again
// later.
//
// The copies may lag behind the store: a pass that did not see its previous pass's pods
// would create them twice. Each pass therefore records what it wrote (expectations.ts)
// and the next pass for that deployment waits until the copies hold those writes; the
// writes themselves are guarded (a ReplicaSet or status at the revision decided on, a pod
// created only where no pod is), so a stale copy costs a conflict, never a double write.
// Pods are found through an index by the ReplicaSet that controls them (owner-index.ts),
// so a pass costs the deployment's own pods, not every pod of the namespace.
// ReplicaSets that no deployment manages get passes of their own (their pods only).
import { randomUUID } from 'node:crypto';
import type { Deployment, Pod, ReplicaSet } from '@flotilla/proto';
import { errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import type { EventRecorder } from '../events/recorder.js';
import { commitAsLeader, type Leadership } from '../leader/candidate.js';
import { deletePod } from '../pods/delete-pod.js';
import { deploymentCodec, podCodec, replicaSetCodec } from '../store/codecs.js';
import { Informer, type InformerChange } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { putOp, type Store, type TxnOp } from '../store/types.js';
import { WorkQueue } from '../util/work-queue.js';
import { decideDeployment, referenceTo } from './deployment-decision.js';
import { Expectations, type CopyState, type Expectation } from './expectations.js';
import { OwnerIndex } from './owner-index.js';
import { StatusBudget } from './status-budget.js';
import { availableAt, isPodActive } from './pod-availability.js';
import { decideReplicaSet, randomSuffix } from './replica-set-decision.js';
import { controllerOf, nameOf } from './revisions.js';

export interface DeploymentLoopOptions {
  store: Store;
  events: EventRecorder;
  log: Logger;
  now?: () => Date;
  uid?: () => string;
  suffix?: () => string;
  /** Passes that run at once, each on another deployment (default 4). */
  workers?: number;
  /**
   * Running informers to share with other loops (the scheduler's pod cache, say); without
   * them the loop makes and runs its own.
   */
  informers?: { deployments: Informer<Deployment>; replicaSets: Informer<ReplicaSet>; pods: Informer<Pod> };
  /** The leadership the loop runs under: its pod creations and ReplicaSet writes carry its fence. */
  leadership?: Leadership;
  /**
   * How long a pod change that only moves its status (bound, Running, Ready) waits before
   * it queues its deployment (default 100 ms): the changes of many pods then make one pass
   * and one status write. A pod that comes, goes or stops being active queues it at once.
   */
  statusCoalesceMs?: number;
  /**
   * Passes that would only write statuses (the deployment's, its ReplicaSets'), all
   * deployments together, per second (default 200, as many at once after a quiet spell);
   * one over the budget writes nothing and looks again later. Never holds back a pass
   * that creates, scales or deletes anything.
   */
  statusWritesPerSecond?: number;
}

export interface DeploymentLoop {
  /** Ends the informers and the workers, after the passes in flight. */
  stop(): Promise<void>;
  /** Looks at a deployment now ("namespace/name"), for callers that just changed it. */
  enqueue(key: string): void;
}

const conflictRetryMs = 50;
/** etcd refuses transactions of more than 128 operations (--max-txn-ops); one is the fence. */
const opsPerCommit = 120;
const podsPerCommit = 100;
/** Expectations not seen after this long are dropped, as Kubernetes' (5 min) are. */
const expectationsExpireMs = 60_000;
/** Queue keys of ReplicaSets without a deployment; deployment keys are "namespace/name". */
const replicaSetKeyPrefix = 'replicaset:';

interface PodChanges {
  rs: ReplicaSet;
  create: Pod[];
  delete: Pod[];
}
const maxBackoffMs = 5_000;

function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** "namespace/name" of the deployment under a store key ("deployments/ns/name"). */
function queueKeyOf(storeKey: string, prefix: string): string {
  return storeKey.slice(prefix.length);
}

/** The uid of the ReplicaSet controlling a pod, the group the pod index files it under. */
function controllingReplicaSet(pod: Pod): string | undefined {
  const ref = controllerOf(pod);
  return ref?.kind === 'ReplicaSet' && ref.uid !== '' ? ref.uid : undefined;
}

/** "namespace/name" of the deployment named as a ReplicaSet's controller (whatever its uid). */
function controllingDeployment(rs: ReplicaSet): string | undefined {
  const ref = controllerOf(rs);
  return ref?.kind === 'Deployment' ? `${rs.metadata?.namespace ?? ''}/${ref.name}` : undefined;
}

export function startDeploymentLoop(options: DeploymentLoopOptions): DeploymentLoop {
  const { store, events, log } = options;
  const commit = (ops: TxnOp[]): Promise<{ revision: number }> =>
    options.leadership ? commitAsLeader(store, options.leadership, ops) : store.commit(ops);
  const now = options.now ?? (() => new Date());
  const uid = options.uid ?? randomUUID;
  const suffix = options.suffix ?? (() => randomSuffix());
  const statusCoalesceMs = options.statusCoalesceMs ?? 100;
  const statusRate = options.statusWritesPerSecond ?? 200;
  const statusBudget = new StatusBudget(statusRate, statusRate, performance.now());
  /** Deployments whose status-only write waits for the budget. */
  const deferred = new Set<string>();
  const abort = new AbortController();
  const queue = new WorkQueue();
  const failures = new Map<string, number>();
  const informerLog = log.child({ layer: 'informer' });
  const shared = options.informers;
  const deployments =
    shared?.deployments ?? new Informer<Deployment>(store, deploymentCodec, keys.deployments, informerLog);
  const replicaSets =
    shared?.replicaSets ?? new Informer<ReplicaSet>(store, replicaSetCodec, keys.replicaSets, informerLog);
  const pods = shared?.pods ?? new Informer<Pod>(store, podCodec, keys.pods, informerLog);
  const podsByReplicaSet = new OwnerIndex<Pod>(controllingReplicaSet);
  const replicaSetsByDeployment = new OwnerIndex<ReplicaSet>(controllingDeployment);
  const expectations = new Expectations(expectationsExpireMs);
  /** Queue keys whose expectations were not seen when taken: queued again once they are. */
  const parked = new Set<string>();
  let parkCheck: NodeJS.Immediate | undefined;

  /** The copy a store key is followed by, for expectations and refreshes. */
  const copyOf = (key: string): Informer<Deployment> | Informer<ReplicaSet> | Informer<Pod> | undefined =>
    key.startsWith(keys.pods)
      ? pods
      : key.startsWith(keys.replicaSets)
        ? replicaSets
        : key.startsWith(keys.deployments)
          ? deployments
          : undefined;

  /** A copy changed: parked keys whose writes it now holds are looked at again (once per turn). */
  const copyChanged = (): void => {
    if (parked.size === 0 || parkCheck) return;
    parkCheck = setImmediate(() => {
      parkCheck = undefined;
      for (const key of parked) {
        if (expectations.check(key) === 'waiting') continue;
        parked.delete(key);
        queue.add(key);
      }
    });
  };

  /** The queue key of what manages a ReplicaSet: its deployment, or itself when it has none. */
  const managerKey = (rs: ReplicaSet | undefined): string | undefined => {
    if (!rs) return undefined;
    return controllingDeployment(rs) ?? `${replicaSetKeyPrefix}${rs.metadata?.namespace ?? ''}/${nameOf(rs)}`;
  };
  const unsubscribe: (() => void)[] = [];
  unsubscribe.push(
    deployments.onChange((change) => {
      queue.add(queueKeyOf(change.key, keys.deployments));
      copyChanged();
    }),
  );
  unsubscribe.push(
    replicaSets.onChange((change) => {
      replicaSetsByDeployment.apply(change);
      for (const rs of [change.type === 'put' ? change.value : undefined, change.previous]) {
        const k = managerKey(rs);
        if (k) queue.add(k);
      }
      copyChanged();
    }),
  );
  unsubscribe.push(
    pods.onChange((change: InformerChange<Pod>) => {
      podsByReplicaSet.apply(change);
      const value = change.type === 'put' ? change.value : undefined;
      const previous = change.previous;
      // Coming, going, stopping (deleted, finished) or changing owner needs a decision now;
      // the rest (bound, Running, Ready) only moves statuses and rollouts along.
      const urgent =
        !value ||
        !previous ||
        isPodActive(value) !== isPodActive(previous) ||
        controllingReplicaSet(value) !== controllingReplicaSet(previous);
      for (const pod of [value, previous]) {
        const ref = pod && controllerOf(pod);
        if (ref?.kind !== 'ReplicaSet') continue;
        const ns = pod?.metadata?.namespace ?? '';
        const k = managerKey(replicaSets.get(keys.replicaSet(ns, ref.name)));
        if (!k) continue;
        if (urgent) queue.add(k);
        else queue.addAfter(k, statusCoalesceMs);
      }
      copyChanged();
    }),
  );
  const informerRuns = shared ? [] : [deployments, replicaSets, pods].map((i) => i.run(abort.signal));
  // Shared informers that synced before the loop started tell it nothing: index what they
  // hold and look at every deployment.
  if (shared) {
    podsByReplicaSet.seed(
      pods.list().map((p) => [keys.pod(p.metadata?.namespace ?? '', nameOf(p)), p] as const),
    );
    replicaSetsByDeployment.seed(
      replicaSets
        .list()
        .map((rs) => [keys.replicaSet(rs.metadata?.namespace ?? '', nameOf(rs)), rs] as const),
    );
    for (const d of deployments.list()) queue.add(`${d.metadata?.namespace ?? ''}/${nameOf(d)}`);
    for (const rs of replicaSets.list()) {
      const k = managerKey(rs);
      if (k) queue.add(k);
    }
  }

  /** The pods controlled by these ReplicaSets, from the index. */
  const podsOf = (rss: readonly ReplicaSet[]): Pod[] => {
    const out: Pod[] = [];
    for (const rs of rss) for (const p of podsByReplicaSet.get(rs.metadata?.uid ?? '').values()) out.push(p);
    return out;
  };
  const podNameTaken =
    (namespace: string) =>
    (name: string): boolean =>
      pods.modRevision(keys.pod(namespace, name)) !== undefined;

  /** What a commit at revision wrote, as expectations on the copies that follow those keys. */
  const committed = (ops: readonly TxnOp[], revision: number): Expectation[] =>
    ops.flatMap((op): Expectation[] => {
      const copy: CopyState | undefined = copyOf(op.key);
      if (!copy || op.type === 'check') return [];
      return [{ copy, key: op.key, kind: op.type === 'put' ? 'written' : 'deleted', revision }];
    });
  /** A write made through another path (the graceful deletion): the key no longer at from. */
  const changedFrom = (key: string): Expectation[] => {
    const copy: CopyState | undefined = copyOf(key);
    const from = copy?.modRevision(key);
    return copy && from !== undefined ? [{ copy, key, kind: 'changed', from }] : [];
  };

  /** Deletes what a deployment that is gone (or was made again) left: pods first, then the ReplicaSet. */
  async function collectOrphans(
    namespace: string,
    name: string,
    d: Deployment | undefined,
    rss: ReplicaSet[],
    written: Expectation[],
  ): Promise<boolean> {
    let left = false;
    for (const rs of rss) {
      const ref = controllerOf(rs);
      if (ref?.kind !== 'Deployment' || ref.name !== name || ref.uid === d?.metadata?.uid) continue;
      left = true;
      const mine = podsOf([rs]);
      for (const pod of mine) {
        if ((pod.metadata?.deletionTimestamp ?? '') !== '') continue;
        const podKey = keys.pod(namespace, nameOf(pod));
        const expected = changedFrom(podKey);
        await deletePodIfPresent(store, namespace, nameOf(pod), pod.metadata?.uid ?? '', now, log);
        written.push(...expected);
      }
      if (mine.length === 0) {
        const rsKey = keys.replicaSet(namespace, nameOf(rs));
        const expected = changedFrom(rsKey);
        await store.delete(rsKey, Number(rs.metadata?.resourceVersion));
        written.push(...expected);
        log.info('deleted the replica set of a deleted deployment', {
          replicaSet: `${namespace}/${nameOf(rs)}`,
        });
      }
    }
    return left;
  }

  /**
   * Commits ops (ReplicaSets, the deployment's status) together with the first pods to
   * create, then the other pods in commits of up to podsPerCommit (side by side), then
   * deletes pods gracefully; records each write it made in written, and the events.
   */
  async function applyPlan(
    namespace: string,
    ops: TxnOp[],
    changes: PodChanges[],
    at: Date,
    written: Expectation[],
    afterFirst: () => void,
  ): Promise<void> {
    const creates = changes.flatMap((c) => c.create);
    const createOp = (p: Pod): TxnOp => putOp(podCodec, keys.pod(namespace, nameOf(p)), p, 0);
    // The first pods go with their ReplicaSet: never a pod without it, and one round trip
    // fewer before a new Deployment's pods exist.
    const firstCount = ops.length > 0 ? Math.max(0, Math.min(podsPerCommit, opsPerCommit - ops.length)) : 0;
    const first = [...ops, ...creates.slice(0, firstCount).map(createOp)];
    if (first.length > 0) {
      const { revision } = await commit(first);
      written.push(...committed(first, revision));
    }
    afterFirst();
    const rest = creates.slice(firstCount);
    const batches: TxnOp[][] = [];
    for (let i = 0; i < rest.length; i += podsPerCommit)
      batches.push(rest.slice(i, i + podsPerCommit).map(createOp));
    const results = await Promise.allSettled(
      batches.map(async (batch) => {
        const { revision } = await commit(batch);
        written.push(...committed(batch, revision));
      }),
    );
    const record = (rs: ReplicaSet, reason: string, message: string): void =>
      events.record({ involvedObject: referenceTo('ReplicaSet', rs), type: 'Normal', reason, message });
    // Events only for the pods whose commit went through.
    const made = new Set(written.map((e) => e.key));
    for (const c of changes)
      for (const p of c.create) {
        if (made.has(keys.pod(namespace, nameOf(p))))
          record(c.rs, 'SuccessfulCreate', `Created pod: ${nameOf(p)}`);
      }
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const deletions = changes.flatMap((c) => c.delete.map((p) => ({ rs: c.rs, p })));
    const deleted = await Promise.allSettled(
      deletions.map(async ({ rs, p }) => {
        const expected = changedFrom(keys.pod(namespace, nameOf(p)));
        await deletePodIfPresent(store, namespace, nameOf(p), p.metadata?.uid ?? '', () => at, log);
        written.push(...expected);
        record(rs, 'SuccessfulDelete', `Deleted pod: ${nameOf(p)}`);
      }),
    );
    const failedDelete = deleted.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failedDelete) throw failedDelete.reason;
  }

  /** A pass over a ReplicaSet no deployment manages: its pods against its replicas. */
  async function syncReplicaSet(key: string, written: Expectation[]): Promise<number | undefined> {
    const { namespace, name } = splitKey(key);
    const rsKey = keys.replicaSet(namespace, name);
    const rs = replicaSets.get(rsKey);
    const rsRevision = replicaSets.modRevision(rsKey);
    // Gone, or a deployment's (whose pass decides for it).
    if (!rs || rsRevision === undefined || controllerOf(rs)?.kind === 'Deployment') return undefined;
    const at = now();
    const rsPods = podsOf([rs]);
    const plan = decideReplicaSet({
      replicaSet: rs,
      pods: rsPods,
      now: at,
      uid,
      suffix,
      podNameTaken: podNameTaken(namespace),
    });
    const ops = plan.status
      ? [putOp(replicaSetCodec, rsKey, { ...rs, status: plan.status }, rsRevision)]
      : [];
    await applyPlan(
      namespace,
      ops,
      [{ rs, create: plan.create, delete: plan.delete }],
      at,
      written,
      () => {},
    );
    // Pods turning available after minReadySeconds change the status with no event to say so.
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const nowMs = at.getTime();
    const next = rsPods
      .map((p) => availableAt(p, minReady, nowMs))
      .filter((t): t is number => t !== undefined);
    return next.length > 0 ? Math.min(...next) - nowMs : undefined;
  }

  /** One level-triggered pass over one deployment; the delay to look again, if any. */
  async function sync(key: string, written: Expectation[]): Promise<number | undefined> {
    const { namespace, name } = splitKey(key);
    const dKey = keys.deployment(namespace, name);
    const found = deployments.get(dKey);
    const dRevision = deployments.modRevision(dKey);
    // Its own ReplicaSets and those of an earlier deployment of the same name.
    const rss = [...replicaSetsByDeployment.get(key).values()];
    const orphans = await collectOrphans(namespace, name, found, rss, written);
    if (!found || dRevision === undefined) {
      deferred.delete(key);
      return orphans ? 1_000 : undefined;
    }
    const d = found;
    const at = now();
    const dPods = podsOf(rss);
    const plan = decideDeployment({
      deployment: d,
      replicaSets: rss,
      pods: dPods,
      now: at,
      uid,
      replicaSetNameTaken: (n) => replicaSets.modRevision(keys.replicaSet(namespace, n)) !== undefined,
    });

    if (plan.rollbackTo !== undefined && plan.deployment) {
      const { revision } = await commit([putOp(deploymentCodec, dKey, plan.deployment, dRevision)]);
      written.push({ copy: deployments, key: dKey, kind: 'written', revision });
      log.info('rolled back after a missed progress deadline', {
        deployment: key,
        revision: plan.rollbackTo,
      });
      for (const e of plan.events) events.record(e);
      return 0;
    }

    // The ReplicaSets as this pass leaves them, each with the pods it then creates or deletes.
    const changed = new Map<string, ReplicaSet>(plan.updateReplicaSets.map((rs) => [nameOf(rs), rs]));
    if (plan.createReplicaSet) changed.set(nameOf(plan.createReplicaSet), plan.createReplicaSet);
    const deleting = new Set(plan.deleteReplicaSets.map(nameOf));
    const ops: TxnOp[] = [];
    const podChanges: PodChanges[] = [];
    const owned = rss.filter((rs) => controllerOf(rs)?.uid === d.metadata?.uid && !deleting.has(nameOf(rs)));
    const worked = [...owned.map((rs) => changed.get(nameOf(rs)) ?? rs)];
    if (plan.createReplicaSet) worked.push(plan.createReplicaSet);
    for (const rs of worked) {
      const isNew = rs === plan.createReplicaSet;
      const rsPlan = decideReplicaSet({
        replicaSet: rs,
        pods: isNew ? [] : podsOf([rs]),
        now: at,
        uid,
        suffix,
        podNameTaken: podNameTaken(namespace),
      });
      const value = rsPlan.status ? { ...rs, status: rsPlan.status } : rs;
      const rsKey = keys.replicaSet(namespace, nameOf(rs));
      if (isNew) ops.push(putOp(replicaSetCodec, rsKey, value, 0));
      else if (changed.has(nameOf(rs)) || rsPlan.status) {
        ops.push(putOp(replicaSetCodec, rsKey, value, Number(rs.metadata?.resourceVersion)));
      }
      podChanges.push({ rs, create: rsPlan.create, delete: rsPlan.delete });
    }
    for (const rs of plan.deleteReplicaSets) {
      ops.push({
        type: 'delete',
        key: keys.replicaSet(namespace, nameOf(rs)),
        expect: Number(rs.metadata?.resourceVersion),
      });
    }
    if (plan.deployment) ops.push(putOp(deploymentCodec, dKey, plan.deployment, dRevision));
    const statusOnly =
      !plan.createReplicaSet &&
      plan.updateReplicaSets.length === 0 &&
      plan.deleteReplicaSets.length === 0 &&
      podChanges.every((c) => c.create.length === 0 && c.delete.length === 0);
    if (statusOnly && ops.length > 0 && !statusBudget.take(performance.now())) {
      // Spread the deferred passes over the time the budget needs for all of them.
      deferred.add(key);
      const spread = (deferred.size * 1000) / statusRate;
      const again = statusBudget.waitMs(performance.now()) + Math.ceil(Math.random() * spread);
      return Math.min(plan.requeueAfterMs ?? again, again);
    }
    deferred.delete(key);
    // ReplicaSets, the deployment's status and the first pods together or not at all; the
    // other pods only once the ReplicaSets they belong to are written.
    await applyPlan(namespace, ops, podChanges, at, written, () => {
      for (const e of plan.events) events.record(e);
      if (plan.createReplicaSet)
        log.info('created replica set', { replicaSet: `${namespace}/${nameOf(plan.createReplicaSet)}` });
      for (const rs of plan.deleteReplicaSets)
        log.info('deleted old replica set', { replicaSet: `${namespace}/${nameOf(rs)}` });
    });
    return plan.requeueAfterMs;
  }

  /** After a conflict: the keys that changed are read again, so the next pass sees them. */
  async function refreshStale(err: unknown): Promise<void> {
    const stale =
      isFlotillaError(err, 'Conflict') && Array.isArray(err.context.value) ? err.context.value : [];
    await Promise.all(
      stale
        .filter((k): k is string => typeof k === 'string')
        .map(async (k) => {
          await copyOf(k)
            ?.refresh(k)
            .catch(() => undefined);
        }),
    );
  }

  // No pass before every copy is loaded: a deployment missing from a copy that is still
  // listing would make its ReplicaSets look orphaned, pods missing would be created again.
  const synced = Promise.all([deployments.waitSynced(), replicaSets.waitSynced(), pods.waitSynced()]);

  async function worker(): Promise<void> {
    await Promise.race([
      synced,
      new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve())),
    ]);
    for (;;) {
      const key = await queue.take();
      if (key === undefined) return;
      const seen = expectations.check(key);
      if (seen === 'waiting') {
        // Taken again once the copies hold the last pass's writes (or they expire).
        parked.add(key);
        queue.addAfter(key, expectationsExpireMs);
        queue.done(key);
        continue;
      }
      if (seen === 'expired')
        log.warn('the informers did not show a pass its own writes in time; deciding anyway', {
          deployment: key,
          afterMs: expectationsExpireMs,
        });
      parked.delete(key);
      const written: Expectation[] = [];
      try {
        const again = key.startsWith(replicaSetKeyPrefix)
          ? await syncReplicaSet(key.slice(replicaSetKeyPrefix.length), written)
          : await sync(key, written);
        failures.delete(key);
        if (again !== undefined) queue.addAfter(key, again);
      } catch (err) {
        if (abort.signal.aborted) {
          queue.done(key);
          return;
        }
        const n = (failures.get(key) ?? 0) + 1;
        failures.set(key, n);
        if (isFlotillaError(err, 'Conflict')) {
          log.debug('deployment changed during a pass; deciding again', {
            deployment: key,
            err: errorMessage(err),
          });
          await refreshStale(err);
          queue.addAfter(key, conflictRetryMs * Math.min(n, 10));
        } else {
          const delay = Math.min(maxBackoffMs, 200 * 2 ** Math.min(n - 1, 10));
          log.warn('deployment pass failed; retrying', {
            deployment: key,
            err: errorMessage(err),
            retryInMs: delay,
          });
          queue.addAfter(key, delay);
        }
      } finally {
        expectations.expect(key, written);
      }
      queue.done(key);
    }
  }
  const workers = Array.from({ length: options.workers ?? 4 }, () => worker());

  let stopping: Promise<void> | undefined;
  return {
    enqueue: (key) => queue.add(key),
    stop: () =>
      (stopping ??= (async () => {
        for (const u of unsubscribe) u();
        abort.abort();
        queue.stop();
        if (parkCheck) clearImmediate(parkCheck);
        await Promise.all([...informerRuns, ...workers]);
      })()),
  };
}

/** The shared graceful deletion; a pod already gone is what the pass wanted. */
async function deletePodIfPresent(
  store: Store,
  namespace: string,
  name: string,
  uid: string,
  now: () => Date,
  log: Logger,
): Promise<void> {
  try {
    await deletePod(store, namespace, name, { uid }, now, log);
  } catch (err) {
    if (!isFlotillaError(err, 'NotFound')) throw err;
  }
}
