// The deployment loop (leader only): informers over deployments, ReplicaSets and pods
// say which deployment to look at; each pass reads that deployment's whole namespace
// state from the store, decides (deployment-decision.ts, then replica-set-decision.ts for
// each of its ReplicaSets) and applies the plan: the ReplicaSets and the deployment's
// status in one guarded commit, then the pods (created in one commit, deleted through the
// graceful deletion path). A conflict or failure runs the pass again later.
//
// Passes read the store rather than the informers' copies: a copy may not have seen the
// pass's own writes yet, and acting on it would create pods twice (what Kubernetes needs
// "expectations" for). The informers only route changes to deployment keys.
// ReplicaSets that no deployment manages get passes of their own (their pods only).
import { randomUUID } from 'node:crypto';
import type { Deployment, Pod, ReplicaSet } from '@flotilla/proto';
import { errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import type { EventRecorder } from '../events/recorder.js';
import { commitAsLeader, type Leadership } from '../leader/candidate.js';
import { deletePod } from '../pods/delete-pod.js';
import { deploymentCodec, podCodec, replicaSetCodec } from '../store/codecs.js';
import { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { putOp, type Store, type TxnOp } from '../store/types.js';
import { WorkQueue } from '../util/work-queue.js';
import { decideDeployment, referenceTo } from './deployment-decision.js';
import { availableAt } from './pod-availability.js';
import { decideReplicaSet, randomSuffix } from './replica-set-decision.js';
import { controllerOf, nameOf, ownedPods } from './revisions.js';

export interface DeploymentLoopOptions {
  store: Store;
  events: EventRecorder;
  log: Logger;
  now?: () => Date;
  uid?: () => string;
  suffix?: () => string;
  /** Passes that run at once, each on another deployment (default 2). */
  workers?: number;
  /**
   * Running informers to share with other loops (the scheduler's pod cache, say); without
   * them the loop makes and runs its own.
   */
  informers?: { deployments: Informer<Deployment>; replicaSets: Informer<ReplicaSet>; pods: Informer<Pod> };
  /** The leadership the loop runs under: its pod creations and ReplicaSet writes carry its fence. */
  leadership?: Leadership;
}

export interface DeploymentLoop {
  /** Ends the informers and the workers, after the passes in flight. */
  stop(): Promise<void>;
  /** Looks at a deployment now ("namespace/name"), for callers that just changed it. */
  enqueue(key: string): void;
}

const conflictRetryMs = 50;
const podsPerCommit = 100;
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

export function startDeploymentLoop(options: DeploymentLoopOptions): DeploymentLoop {
  const { store, events, log } = options;
  const commit = (ops: TxnOp[]): Promise<unknown> =>
    options.leadership ? commitAsLeader(store, options.leadership, ops) : store.commit(ops);
  const now = options.now ?? (() => new Date());
  const uid = options.uid ?? randomUUID;
  const suffix = options.suffix ?? (() => randomSuffix());
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

  /** The queue key of what manages a ReplicaSet: its deployment, or itself when it has none. */
  const managerKey = (rs: ReplicaSet | undefined): string | undefined => {
    if (!rs) return undefined;
    const ns = rs.metadata?.namespace ?? '';
    const ref = controllerOf(rs);
    return ref?.kind === 'Deployment' ? `${ns}/${ref.name}` : `${replicaSetKeyPrefix}${ns}/${nameOf(rs)}`;
  };
  const unsubscribe: (() => void)[] = [];
  unsubscribe.push(deployments.onChange((change) => queue.add(queueKeyOf(change.key, keys.deployments))));
  unsubscribe.push(
    replicaSets.onChange((change) => {
      for (const rs of [change.type === 'put' ? change.value : undefined, change.previous]) {
        const k = managerKey(rs);
        if (k) queue.add(k);
      }
    }),
  );
  unsubscribe.push(
    pods.onChange((change) => {
      for (const pod of [change.type === 'put' ? change.value : undefined, change.previous]) {
        const ref = pod && controllerOf(pod);
        if (ref?.kind !== 'ReplicaSet') continue;
        const ns = pod?.metadata?.namespace ?? '';
        const k = managerKey(replicaSets.get(keys.replicaSet(ns, ref.name)));
        if (k) queue.add(k);
      }
    }),
  );
  const informerRuns = shared ? [] : [deployments, replicaSets, pods].map((i) => i.run(abort.signal));
  // Shared informers that synced before the loop started tell it nothing: look at every deployment.
  if (shared) {
    for (const d of deployments.list()) queue.add(`${d.metadata?.namespace ?? ''}/${nameOf(d)}`);
    for (const rs of replicaSets.list()) {
      const k = managerKey(rs);
      if (k) queue.add(k);
    }
  }

  /** Deletes what a deployment that is gone (or was made again) left: pods first, then the ReplicaSet. */
  async function collectOrphans(
    namespace: string,
    name: string,
    d: Deployment | undefined,
    rss: ReplicaSet[],
    nsPods: Pod[],
  ): Promise<boolean> {
    let left = false;
    for (const rs of rss) {
      const ref = controllerOf(rs);
      if (ref?.kind !== 'Deployment' || ref.name !== name || ref.uid === d?.metadata?.uid) continue;
      left = true;
      const mine = ownedPods(rs, nsPods);
      for (const pod of mine) {
        if ((pod.metadata?.deletionTimestamp ?? '') !== '') continue;
        await deletePodIfPresent(store, namespace, nameOf(pod), pod.metadata?.uid ?? '', now, log);
      }
      if (mine.length === 0) {
        await store.delete(keys.replicaSet(namespace, nameOf(rs)), Number(rs.metadata?.resourceVersion));
        log.info('deleted the replica set of a deleted deployment', {
          replicaSet: `${namespace}/${nameOf(rs)}`,
        });
      }
    }
    return left;
  }

  /** Creates the pods the ReplicaSet plans chose (one commit), deletes theirs gracefully, and says so. */
  async function applyPods(namespace: string, changes: PodChanges[], at: Date): Promise<void> {
    const creates = changes.flatMap((c) => c.create);
    // etcd refuses transactions of more than 128 operations (--max-txn-ops).
    for (let i = 0; i < creates.length; i += podsPerCommit) {
      const batch = creates.slice(i, i + podsPerCommit);
      await commit(batch.map((p) => putOp(podCodec, keys.pod(namespace, nameOf(p)), p, 0)));
    }
    const record = (rs: ReplicaSet, reason: string, message: string): void =>
      events.record({ involvedObject: referenceTo('ReplicaSet', rs), type: 'Normal', reason, message });
    for (const c of changes)
      for (const p of c.create) record(c.rs, 'SuccessfulCreate', `Created pod: ${nameOf(p)}`);
    for (const c of changes) {
      for (const p of c.delete) {
        await deletePodIfPresent(store, namespace, nameOf(p), p.metadata?.uid ?? '', () => at, log);
        record(c.rs, 'SuccessfulDelete', `Deleted pod: ${nameOf(p)}`);
      }
    }
  }

  /** A pass over a ReplicaSet no deployment manages: its pods against its replicas. */
  async function syncReplicaSet(key: string): Promise<number | undefined> {
    const { namespace, name } = splitKey(key);
    const [entry, podList] = await Promise.all([
      store.get(replicaSetCodec, keys.replicaSet(namespace, name)),
      store.list(podCodec, keys.pod(namespace, '')),
    ]);
    // Gone, or a deployment's (whose pass decides for it).
    if (!entry || controllerOf(entry.value)?.kind === 'Deployment') return undefined;
    const rs = entry.value;
    const at = now();
    const nsPods = podList.entries.map((e) => e.value);
    const plan = decideReplicaSet({ replicaSet: rs, pods: nsPods, now: at, uid, suffix });
    if (plan.status) {
      await store.update(
        replicaSetCodec,
        keys.replicaSet(namespace, name),
        { ...rs, status: plan.status },
        entry.modRevision,
      );
    }
    await applyPods(namespace, [{ rs, create: plan.create, delete: plan.delete }], at);
    // Pods turning available after minReadySeconds change the status with no event to say so.
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const nowMs = at.getTime();
    const next = ownedPods(rs, nsPods)
      .map((p) => availableAt(p, minReady, nowMs))
      .filter((t): t is number => t !== undefined);
    return next.length > 0 ? Math.min(...next) - nowMs : undefined;
  }

  /** One level-triggered pass over one deployment; the delay to look again, if any. */
  async function sync(key: string): Promise<number | undefined> {
    const { namespace, name } = splitKey(key);
    const [entry, rsList, podList] = await Promise.all([
      store.get(deploymentCodec, keys.deployment(namespace, name)),
      store.list(replicaSetCodec, keys.replicaSet(namespace, '')),
      store.list(podCodec, keys.pod(namespace, '')),
    ]);
    const rss = rsList.entries.map((e) => e.value);
    const nsPods = podList.entries.map((e) => e.value);
    const orphans = await collectOrphans(namespace, name, entry?.value, rss, nsPods);
    if (!entry) return orphans ? 1_000 : undefined;
    const d = entry.value;
    const at = now();
    const plan = decideDeployment({ deployment: d, replicaSets: rss, pods: nsPods, now: at, uid });

    if (plan.rollbackTo !== undefined && plan.deployment) {
      await store.update(
        deploymentCodec,
        keys.deployment(namespace, name),
        plan.deployment,
        entry.modRevision,
      );
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
      const rsPlan = decideReplicaSet({ replicaSet: rs, pods: nsPods, now: at, uid, suffix });
      const isNew = rs === plan.createReplicaSet;
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
    if (plan.deployment)
      ops.push(putOp(deploymentCodec, keys.deployment(namespace, name), plan.deployment, entry.modRevision));
    // ReplicaSets and the deployment's status together or not at all; the pods only once
    // the ReplicaSets they belong to are written.
    if (ops.length > 0) await commit(ops);
    for (const e of plan.events) events.record(e);
    if (plan.createReplicaSet)
      log.info('created replica set', { replicaSet: `${namespace}/${nameOf(plan.createReplicaSet)}` });
    for (const rs of plan.deleteReplicaSets)
      log.info('deleted old replica set', { replicaSet: `${namespace}/${nameOf(rs)}` });

    await applyPods(namespace, podChanges, at);
    return plan.requeueAfterMs;
  }

  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.take();
      if (key === undefined) return;
      try {
        const again = key.startsWith(replicaSetKeyPrefix)
          ? await syncReplicaSet(key.slice(replicaSetKeyPrefix.length))
          : await sync(key);
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
      }
      queue.done(key);
    }
  }
  const workers = Array.from({ length: options.workers ?? 2 }, () => worker());

  let stopping: Promise<void> | undefined;
  return {
    enqueue: (key) => queue.add(key),
    stop: () =>
      (stopping ??= (async () => {
        for (const u of unsubscribe) u();
        abort.abort();
        queue.stop();
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
