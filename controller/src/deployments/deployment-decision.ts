// The Deployment decision, Kubernetes' deployment controller as a pure function: from the
// deployment, the ReplicaSets and pods of its namespace and the time, which ReplicaSet to
// create, which to scale or delete, the status to write, whether to roll back after a
// missed progress deadline, and when to look again. The caller applies the plan; the
// ReplicaSet decision (replica-set-decision.ts) then turns replicas into pods.
import {
  DeploymentStatus,
  type Deployment,
  type DeploymentCondition,
  type ObjectReference,
  type Pod,
  type ReplicaSet,
} from '@flotilla/proto';
import type { EventInput } from '../events/recorder.js';
import {
  conditionReasons as reasons,
  getCondition,
  madeProgress,
  newCondition,
  replaceCondition,
  rolloutComplete,
  setCondition,
} from './deployment-conditions.js';
import { availableAt, isPodActive, isPodAvailable, isPodReady } from './pod-availability.js';
import { replicasOf } from './replica-set-decision.js';
import {
  annotations,
  appsApiVersion,
  canonicalJson,
  labels,
  nameOf,
  ownedPods,
  ownedReplicaSets,
  ownerReference,
  replicaSetName,
  revisionOf,
  sameTemplate,
  templateHash,
  templateWithoutHash,
} from './revisions.js';
import {
  desiredReplicas,
  isRecreate,
  progressDeadlineSeconds,
  revisionHistoryLimit,
  rolloutBounds,
  type RolloutBounds,
} from './rollout-bounds.js';

/** ReplicaSet annotations Kubernetes uses to tell a scaling event from a rollout. */
export const scalingAnnotations = {
  desiredReplicas: 'deployment.kubernetes.io/desired-replicas',
  maxReplicas: 'deployment.kubernetes.io/max-replicas',
} as const;

export interface DeploymentDecisionInput {
  deployment: Deployment;
  /** The ReplicaSets of the deployment's namespace (names of others count for collisions). */
  replicaSets: readonly ReplicaSet[];
  /**
   * Whether a ReplicaSet of that name exists in the namespace, for a caller that passes
   * only the deployment's own ReplicaSets (a name taken by another counts as a collision).
   */
  replicaSetNameTaken?: (name: string) => boolean;
  /** The pods of the namespace (or only the deployment's). */
  pods: readonly Pod[];
  now: Date;
  /** A uid for a ReplicaSet the plan creates. */
  uid: () => string;
}

export interface DeploymentPlan {
  createReplicaSet?: ReplicaSet;
  /** ReplicaSets to write (replicas, annotations), each as read plus the change. */
  updateReplicaSets: ReplicaSet[];
  /** Old revisions beyond revisionHistoryLimit, with neither replicas nor pods. */
  deleteReplicaSets: ReplicaSet[];
  /** The deployment to write when its status (or, for a rollback, its template) changed. */
  deployment?: Deployment;
  /** Set when the plan rolls back: the revision whose template it restores. */
  rollbackTo?: number;
  events: EventInput[];
  /** Look again after this long even if nothing changes (minReadySeconds, deadline). */
  requeueAfterMs?: number;
}

/** One ReplicaSet as the decision works on it: the replicas it will have. */
interface Working {
  rs: ReplicaSet;
  replicas: number;
  /** Active pods. */
  pods: Pod[];
  available: number;
  changed: boolean;
}

export function referenceTo(kind: string, object: Deployment | ReplicaSet | Pod): ObjectReference {
  return {
    apiVersion: kind === 'Pod' ? 'v1' : appsApiVersion,
    kind,
    namespace: object.metadata?.namespace ?? '',
    name: nameOf(object),
    uid: object.metadata?.uid ?? '',
    resourceVersion: object.metadata?.resourceVersion ?? '',
    fieldPath: '',
  };
}

function byRevisionThenAge(a: ReplicaSet, b: ReplicaSet): number {
  return (
    revisionOf(a) - revisionOf(b) ||
    (a.metadata?.creationTimestamp ?? '').localeCompare(b.metadata?.creationTimestamp ?? '') ||
    nameOf(a).localeCompare(nameOf(b))
  );
}

/** The ReplicaSet a new revision starts as (replicas decided by the caller). */
function newReplicaSet(
  d: Deployment,
  hash: string,
  revision: number,
  replicas: number,
  input: DeploymentDecisionInput,
) {
  const template = templateWithoutHash(d.spec?.template);
  if (template.metadata)
    template.metadata.labels = { ...template.metadata.labels, [labels.podTemplateHash]: hash };
  const selector = d.spec?.selector;
  const rs: ReplicaSet = {
    apiVersion: appsApiVersion,
    kind: 'ReplicaSet',
    metadata: {
      name: replicaSetName(nameOf(d), hash),
      namespace: d.metadata?.namespace ?? '',
      uid: input.uid(),
      resourceVersion: '',
      generation: 1,
      creationTimestamp: input.now.toISOString(),
      deletionTimestamp: '',
      labels: { ...(template.metadata?.labels ?? {}) },
      annotations: { [annotations.revision]: String(revision) },
      ownerReferences: [ownerReference('Deployment', d)],
      deletionGracePeriodSeconds: undefined,
    },
    spec: {
      replicas,
      selector: {
        matchLabels: { ...(selector?.matchLabels ?? {}), [labels.podTemplateHash]: hash },
        matchExpressions: [...(selector?.matchExpressions ?? [])],
      },
      template,
      minReadySeconds: d.spec?.minReadySeconds ?? 0,
    },
    status: { replicas: 0, readyReplicas: 0, availableReplicas: 0, observedGeneration: 0 },
  };
  return rs;
}

export function decideDeployment(input: DeploymentDecisionInput): DeploymentPlan {
  const { deployment: d, now } = input;
  const plan: DeploymentPlan = { updateReplicaSets: [], deleteReplicaSets: [], events: [] };
  if ((d.metadata?.deletionTimestamp ?? '') !== '') return plan;
  const dRef = referenceTo('Deployment', d);
  const name = nameOf(d);
  const replicas = desiredReplicas(d);
  const paused = d.spec?.paused ?? false;
  const bounds = rolloutBounds(d);
  const minReady = d.spec?.minReadySeconds ?? 0;
  const nowMs = now.getTime();
  const record = (type: 'Normal' | 'Warning', reason: string, message: string, ref = dRef): void => {
    plan.events.push({ involvedObject: ref, type, reason, message });
  };

  const owned = ownedReplicaSets(d, input.replicaSets).sort(byRevisionThenAge);
  const work = (rs: ReplicaSet): Working => {
    const pods = ownedPods(rs, input.pods).filter(isPodActive);
    return {
      rs,
      replicas: replicasOf(rs),
      pods,
      available: pods.filter((p) => isPodAvailable(p, minReady, nowMs)).length,
      changed: false,
    };
  };
  // Kubernetes' FindNewReplicaSet: the oldest whose template matches is the current one.
  const matching = owned
    .filter((rs) => sameTemplate(rs.spec?.template, d.spec?.template))
    .sort((a, b) => (a.metadata?.creationTimestamp ?? '').localeCompare(b.metadata?.creationTimestamp ?? ''));
  let current: Working | undefined = matching[0] ? work(matching[0]) : undefined;
  const olds = owned.filter((rs) => rs !== current?.rs).map(work);
  const maxOldRevision = olds.reduce((m, w) => Math.max(m, revisionOf(w.rs)), 0);
  let collisionCount = d.status?.collisionCount ?? 0;
  /** The ReplicaSet this pass creates, as worked on. */
  let createdNew: Working | undefined;
  /** Set when this pass made a ReplicaSet current: the Progressing clock starts again. */
  let becameCurrent: { reason: string; message: string } | undefined;

  // An existing revision made current again (undo, rollback, a template changed back)
  // takes the next revision number, as Kubernetes does, remembering the ones it had.
  if (current && revisionOf(current.rs) <= maxOldRevision) {
    const was = revisionOf(current.rs);
    const meta = current.rs.metadata;
    const history = meta?.annotations[annotations.revisionHistory] ?? '';
    const rs: ReplicaSet = {
      ...current.rs,
      metadata: meta && {
        ...meta,
        annotations: {
          ...meta.annotations,
          [annotations.revision]: String(maxOldRevision + 1),
          ...(was > 0
            ? { [annotations.revisionHistory]: history === '' ? String(was) : `${history},${was}` }
            : {}),
        },
      },
    };
    current = { ...current, rs, changed: true };
    becameCurrent = { reason: reasons.foundNewReplicaSet, message: `Found new replica set "${nameOf(rs)}"` };
  }

  // minReadySeconds follows the deployment onto its current ReplicaSet (its status counts by it).
  if (current?.rs.spec && current.rs.spec.minReadySeconds !== minReady) {
    current = {
      ...current,
      rs: { ...current.rs, spec: { ...current.rs.spec, minReadySeconds: minReady } },
      changed: true,
    };
  }

  const oldPodsRunning = (): boolean =>
    olds.some((w) =>
      ownedPods(w.rs, input.pods).some((p) => {
        const phase = p.status?.phase ?? '';
        return phase !== 'Succeeded' && phase !== 'Failed';
      }),
    );

  const createCurrent = (initialReplicas: (w: Working[]) => number): void => {
    const taken = new Set(input.replicaSets.map(nameOf));
    for (;;) {
      const hash = templateHash(d.spec?.template, collisionCount);
      const candidate = replicaSetName(name, hash);
      // A name taken by another template (or another owner): Kubernetes' collisionCount.
      if (!taken.has(candidate) && !(input.replicaSetNameTaken?.(candidate) ?? false)) {
        const rs = newReplicaSet(d, hash, maxOldRevision + 1, 0, input);
        current = { rs, replicas: 0, pods: [], available: 0, changed: true };
        const n = initialReplicas([current, ...olds]);
        current.replicas = n;
        if (n > 0)
          record('Normal', 'ScalingReplicaSet', `Scaled up replica set ${nameOf(rs)} from 0 to ${n}`);
        plan.createReplicaSet = rs;
        createdNew = current;
        becameCurrent = {
          reason: reasons.newReplicaSetCreated,
          message: `Created new replica set "${nameOf(rs)}"`,
        };
        return;
      }
      collisionCount++;
    }
  };

  const scaleTo = (w: Working, n: number): void => {
    if (w.replicas === n) return;
    const from = w.replicas;
    w.replicas = n;
    w.changed = true;
    const how = n > from ? 'up' : 'down';
    record('Normal', 'ScalingReplicaSet', `Scaled ${how} replica set ${nameOf(w.rs)} from ${from} to ${n}`);
  };

  const all = (): Working[] => (current ? [current, ...olds] : [...olds]);
  const total = (ws: Working[]): number => ws.reduce((n, w) => n + w.replicas, 0);
  const active = (): Working[] => all().filter((w) => w.replicas > 0);

  /** Kubernetes' isScalingEvent: an active ReplicaSet was sized for another replica count. */
  const isScalingEvent = (): boolean =>
    active().some((w) => {
      const text = w.rs.metadata?.annotations[scalingAnnotations.desiredReplicas];
      return text !== undefined && Number(text) !== replicas;
    });

  /** Kubernetes' scale(): the single active ReplicaSet to replicas, or several proportionally. */
  const scale = (): void => {
    const act = active();
    if (act.length <= 1) {
      const target = act[0] ?? current ?? olds[olds.length - 1];
      if (target) scaleTo(target, replicas);
      return;
    }
    if (current && current.replicas === replicas && current.available === replicas) {
      for (const w of olds) scaleTo(w, 0);
      return;
    }
    // Scaled to 0, everything goes (Kubernetes' allowedSize).
    const allowed = replicas > 0 ? replicas + bounds.maxSurge : 0;
    const sum = total(act);
    const toAdd = allowed - sum;
    if (toAdd === 0) return;
    // Largest first (newest on ties): the rounding leftover goes to the biggest.
    const ordered = [...act].sort((a, b) =>
      toAdd > 0
        ? b.replicas - a.replicas || byRevisionThenAge(b.rs, a.rs)
        : a.replicas - b.replicas || byRevisionThenAge(b.rs, a.rs),
    );
    let added = 0;
    const targets = new Map<Working, number>();
    for (const w of ordered) {
      const annotated = Number(w.rs.metadata?.annotations[scalingAnnotations.maxReplicas] ?? '') || sum;
      let part = Math.round((w.replicas * allowed) / annotated) - w.replicas;
      part = toAdd > 0 ? Math.min(part, toAdd - added) : Math.max(part, toAdd - added);
      targets.set(w, w.replicas + part);
      added += part;
    }
    const first = ordered[0];
    if (first) targets.set(first, Math.max(0, (targets.get(first) ?? 0) + toAdd - added));
    for (const [w, n] of targets) scaleTo(w, Math.max(0, n));
  };

  /** Kubernetes' NewRSNewReplicas for a rolling update. */
  const rollingNewReplicas = (ws: Working[], cur: Working): number => {
    const maxTotal = replicas + bounds.maxSurge;
    const currentCount = total(ws);
    if (currentCount >= maxTotal) return cur.replicas;
    return cur.replicas + Math.max(0, Math.min(maxTotal - currentCount, replicas - cur.replicas));
  };

  const rollingUpdate = (): void => {
    if (!current) createCurrent((ws) => rollingNewReplicas(ws, ws[0] as Working));
    const cur = current as Working;
    // reconcileNewReplicaSet
    if (cur.replicas > replicas) scaleTo(cur, replicas);
    else if (cur.replicas < replicas) {
      const before = cur.replicas;
      scaleTo(cur, rollingNewReplicas(all(), cur));
      if (cur.replicas > before) return;
    }
    // reconcileOldReplicaSets
    const oldCount = total(olds);
    if (oldCount === 0) return;
    const minAvailable = replicas - bounds.maxUnavailable;
    const newUnavailable = Math.max(0, cur.replicas - cur.available);
    let maxScaledDown = total(all()) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return;
    // Unhealthy replicas of old revisions go first: losing them costs no availability.
    for (const w of olds) {
      if (maxScaledDown <= 0) break;
      const unhealthy = w.replicas - w.available;
      if (w.replicas === 0 || unhealthy <= 0) continue;
      const down = Math.min(unhealthy, maxScaledDown, w.replicas);
      scaleTo(w, w.replicas - down);
      maxScaledDown -= down;
    }
    // Then available ones, oldest revision first, as far as availability allows.
    const availableCount = all().reduce((n, w) => n + Math.min(w.available, w.replicas), 0);
    let canLose = availableCount - minAvailable;
    for (const w of olds) {
      if (canLose <= 0) break;
      if (w.replicas === 0) continue;
      const down = Math.min(w.replicas, canLose);
      scaleTo(w, w.replicas - down);
      canLose -= down;
    }
  };

  const recreate = (): void => {
    for (const w of olds) scaleTo(w, 0);
    // Every pod of the old revisions stops before one of the new starts.
    if (oldPodsRunning()) return;
    if (!current) createCurrent(() => replicas);
    else scaleTo(current, replicas);
  };

  if (paused) scale();
  else if (isScalingEvent() && active().length > 1) scale();
  else if (isRecreate(d)) recreate();
  else rollingUpdate();

  // The status, from the pods and the replicas just decided.
  const ws = all();
  const allPods = ws.flatMap((w) => w.pods);
  const curPods = current?.pods ?? [];
  const availableReplicas = allPods.filter((p) => isPodAvailable(p, minReady, nowMs)).length;
  const before = d.status;
  let conditions: DeploymentCondition[] = [...(before?.conditions ?? [])];
  const status: DeploymentStatus = {
    observedGeneration: d.metadata?.generation ?? 0,
    replicas: allPods.length,
    updatedReplicas: curPods.length,
    readyReplicas: allPods.filter(isPodReady).length,
    availableReplicas,
    unavailableReplicas: Math.max(0, total(ws) - availableReplicas),
    conditions: [],
    collisionCount,
  };
  const minAvailable = replicas - bounds.maxUnavailable;
  conditions = setCondition(
    conditions,
    availableReplicas >= minAvailable
      ? newCondition(
          'Available',
          'True',
          reasons.minimumReplicasAvailable,
          'Deployment has minimum availability.',
          now,
        )
      : newCondition(
          'Available',
          'False',
          reasons.minimumReplicasUnavailable,
          'Deployment does not have minimum availability.',
          now,
        ),
  );
  const deadline = progressDeadlineSeconds(d);
  const curName = current ? nameOf(current.rs) : name;
  let requeueAt: number | undefined;
  const progressing = (): DeploymentCondition | undefined => conditions.find((c) => c.type === 'Progressing');
  if (paused) {
    if (progressing()?.reason !== reasons.deploymentPaused) {
      conditions = replaceCondition(
        conditions,
        newCondition('Progressing', 'Unknown', reasons.deploymentPaused, 'Deployment is paused', now),
      );
    }
  } else {
    if (progressing()?.reason === reasons.deploymentPaused) {
      conditions = replaceCondition(
        conditions,
        newCondition('Progressing', 'Unknown', reasons.deploymentResumed, 'Deployment is resumed', now),
      );
    }
    if (becameCurrent) {
      conditions = replaceCondition(
        conditions,
        newCondition('Progressing', 'True', becameCurrent.reason, becameCurrent.message, now),
      );
    } else if (!progressing()) {
      conditions = replaceCondition(
        conditions,
        newCondition(
          'Progressing',
          'True',
          reasons.foundNewReplicaSet,
          `Found new replica set "${curName}"`,
          now,
        ),
      );
    }
    const cond = progressing();
    const alreadyComplete =
      cond?.reason === reasons.newReplicaSetAvailable && status.replicas === status.updatedReplicas;
    if (!alreadyComplete) {
      if (rolloutComplete(replicas, status) && total(olds) === 0) {
        conditions = setCondition(
          conditions,
          newCondition(
            'Progressing',
            'True',
            reasons.newReplicaSetAvailable,
            `ReplicaSet "${curName}" has successfully progressed.`,
            now,
          ),
        );
      } else if (!becameCurrent && madeProgress(before, status)) {
        conditions = replaceCondition(
          conditions,
          newCondition(
            'Progressing',
            'True',
            reasons.replicaSetUpdated,
            `ReplicaSet "${curName}" is progressing.`,
            now,
          ),
        );
      } else if (deadline !== undefined && cond && cond.reason !== reasons.progressDeadlineExceeded) {
        const since = Date.parse(cond.lastUpdateTime);
        const expires = (Number.isNaN(since) ? nowMs : since) + deadline * 1000;
        if (nowMs >= expires) {
          const message = `ReplicaSet "${curName}" has timed out progressing.`;
          conditions = setCondition(
            conditions,
            newCondition('Progressing', 'False', reasons.progressDeadlineExceeded, message, now),
          );
          record(
            'Warning',
            reasons.progressDeadlineExceeded,
            `Deployment ${name}: ${message} (no progress for ${deadline}s)`,
          );
        } else {
          requeueAt = expires;
        }
      }
    }
    // A progressing rollout is checked again when its deadline would pass.
    const after = progressing();
    if (
      deadline !== undefined &&
      after?.status === 'True' &&
      after.reason !== reasons.newReplicaSetAvailable
    ) {
      const since = Date.parse(after.lastUpdateTime);
      const expires = (Number.isNaN(since) ? nowMs : since) + deadline * 1000;
      requeueAt = Math.min(requeueAt ?? expires, expires);
    }
  }
  // Conditions in a fixed order, so equal statuses compare equal.
  status.conditions = conditions.sort((a, b) => a.type.localeCompare(b.type));

  // A revision whose rollout completed is a good one to roll back to.
  const complete = !paused && current !== undefined && rolloutComplete(replicas, status) && total(olds) === 0;
  if (
    complete &&
    current &&
    current.rs.metadata &&
    current.rs.metadata.annotations[annotations.completedAt] === undefined
  ) {
    current.rs = {
      ...current.rs,
      metadata: {
        ...current.rs.metadata,
        annotations: { ...current.rs.metadata.annotations, [annotations.completedAt]: now.toISOString() },
      },
    };
    current.changed = true;
  }

  // A missed deadline rolls back to the last good revision, unless the deployment opted out.
  // A revision that once completed is not rolled back from: its template is not what failed.
  const failed =
    progressing()?.reason === reasons.progressDeadlineExceeded &&
    current?.rs.metadata?.annotations[annotations.completedAt] === undefined;
  const optedOut = d.metadata?.annotations[annotations.autoRollback] === 'false';
  let next: Deployment = { ...d, status };
  if (failed && !paused && !optedOut) {
    const good = olds
      .map((w) => w.rs)
      .filter((rs) => rs.metadata?.annotations[annotations.completedAt] !== undefined)
      .sort(byRevisionThenAge)
      .pop();
    if (good && d.spec && d.metadata) {
      const revision = revisionOf(good);
      next = {
        ...next,
        metadata: { ...d.metadata, generation: d.metadata.generation + 1 },
        spec: { ...d.spec, template: templateWithoutHash(good.spec?.template) },
      };
      plan.rollbackTo = revision;
      record('Normal', 'DeploymentRollback', `Rolled back deployment ${name} to revision ${revision}`);
      plan.deployment = next;
      // The replicas wait for the next pass, which sees the restored template.
      return plan;
    }
  }
  // History: old revisions with neither replicas nor pods, beyond the limit, oldest first.
  const excess = olds.length - revisionHistoryLimit(d);
  if (excess > 0) {
    const cleanable = olds.filter(
      (w) =>
        w.replicas === 0 &&
        !w.changed &&
        ownedPods(w.rs, input.pods).length === 0 &&
        (w.rs.metadata?.deletionTimestamp ?? '') === '',
    );
    plan.deleteReplicaSets = cleanable.slice(0, excess).map((w) => w.rs);
  }

  for (const w of ws) {
    // Active ReplicaSets carry the replica count they were sized for (isScalingEvent).
    const ann = w.rs.metadata?.annotations ?? {};
    const stale =
      w.replicas > 0 &&
      (ann[scalingAnnotations.desiredReplicas] !== String(replicas) ||
        ann[scalingAnnotations.maxReplicas] !== String(replicas + bounds.maxSurge));
    if ((!w.changed && !stale) || w === createdNew) continue;
    plan.updateReplicaSets.push(withReplicas(w.rs, w.replicas, replicas, bounds));
  }
  if (createdNew) plan.createReplicaSet = withReplicas(createdNew.rs, createdNew.replicas, replicas, bounds);

  if (
    canonicalJson(DeploymentStatus.toJSON(status)) !==
    canonicalJson(DeploymentStatus.toJSON(before ?? DeploymentStatus.fromJSON({})))
  ) {
    plan.deployment = next;
  }
  // Pods turning available after minReadySeconds change the status with no event to say so.
  for (const p of allPods) {
    const at = availableAt(p, minReady, nowMs);
    if (at !== undefined) requeueAt = Math.min(requeueAt ?? at, at);
  }
  if (requeueAt !== undefined) plan.requeueAfterMs = Math.max(0, requeueAt - nowMs);
  return plan;
}

/** The ReplicaSet with replicas set and the scaling annotations Kubernetes keeps on it. */
function withReplicas(rs: ReplicaSet, n: number, desired: number, bounds: RolloutBounds): ReplicaSet {
  const meta = rs.metadata;
  // A stored ReplicaSet's spec change moves its generation, as the API server's would.
  const specChanged = meta !== undefined && meta.resourceVersion !== '' && (rs.spec?.replicas ?? 1) !== n;
  return {
    ...rs,
    metadata: meta && {
      ...meta,
      generation: specChanged ? meta.generation + 1 : meta.generation,
      annotations: {
        ...meta.annotations,
        [scalingAnnotations.desiredReplicas]: String(desired),
        [scalingAnnotations.maxReplicas]: String(desired + bounds.maxSurge),
      },
    },
    spec: rs.spec && { ...rs.spec, replicas: n },
  };
}

/** The Deployment's Progressing condition says its rollout missed the deadline. */
export function rolloutFailed(d: Deployment): boolean {
  return getCondition(d.status, 'Progressing')?.reason === reasons.progressDeadlineExceeded;
}
