// A deployment's world without servers, for the decision tests: one deployment, its
// ReplicaSets and pods in memory, stepped by the pure decisions as the loop applies them
// (deployment plan, then each ReplicaSet's pods). The test plays the nodes: it says which
// pods become ready; a deleted pod is gone at the start of the next step.
import { Deployment, type Pod, type ReplicaSet } from '@flotilla/proto';
import {
  controllerOf,
  isPodReady,
  keys,
  podCodec,
  type Store,
  decideDeployment,
  decideReplicaSet,
  isPodActive,
  isPodAvailable,
  markDeleted,
  revisionOf,
  type DeploymentPlan,
  type EventInput,
} from '@flotilla/controller';

export const t0 = Date.parse('2026-01-01T00:00:00.000Z');

export interface DeploymentSpecInput {
  name?: string;
  replicas?: number;
  image?: string;
  strategy?: 'RollingUpdate' | 'Recreate';
  maxSurge?: string;
  maxUnavailable?: string;
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  annotations?: Record<string, string>;
}

export function makeDeployment(input: DeploymentSpecInput = {}): Deployment {
  const name = input.name ?? 'web';
  return Deployment.fromJSON({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'default',
      uid: `${name}-uid`,
      generation: 1,
      resourceVersion: '1',
      creationTimestamp: new Date(t0).toISOString(),
      annotations: input.annotations ?? {},
    },
    spec: {
      replicas: input.replicas ?? 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: input.image ?? 'registry.local/web:1' }] },
      },
      strategy: {
        type: input.strategy ?? 'RollingUpdate',
        ...(input.strategy === 'Recreate'
          ? {}
          : { rollingUpdate: { maxSurge: input.maxSurge, maxUnavailable: input.maxUnavailable } }),
      },
      minReadySeconds: input.minReadySeconds ?? 0,
      progressDeadlineSeconds: input.progressDeadlineSeconds,
      revisionHistoryLimit: input.revisionHistoryLimit,
      paused: input.paused ?? false,
    },
  });
}

/** The deployment with another image (a new template). */
export function withImage(d: Deployment, image: string): Deployment {
  const copy = Deployment.fromJSON(Deployment.toJSON(d));
  const c = copy.spec?.template?.spec?.containers[0];
  if (c) c.image = image;
  if (copy.metadata) copy.metadata.generation += 1;
  return copy;
}

export function withReplicas(d: Deployment, replicas: number): Deployment {
  const copy = Deployment.fromJSON(Deployment.toJSON(d));
  if (copy.spec) copy.spec.replicas = replicas;
  if (copy.metadata) copy.metadata.generation += 1;
  return copy;
}

export function setReady(pod: Pod, ready: boolean, atMs: number): Pod {
  const status = pod.status;
  if (!status) return pod;
  return {
    ...pod,
    spec: pod.spec && { ...pod.spec, nodeName: pod.spec.nodeName || 'node-a' },
    status: {
      ...status,
      phase: 'Running',
      conditions: [
        ...status.conditions.filter((c) => c.type !== 'Ready'),
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          lastProbeTime: '',
          lastTransitionTime: new Date(atMs).toISOString(),
          reason: '',
          message: '',
        },
      ],
    },
  };
}

export class DeploymentSim {
  replicaSets: ReplicaSet[] = [];
  pods: Pod[] = [];
  events: EventInput[] = [];
  now = t0;
  private counter = 0;
  private rv = 10;
  lastPlan: DeploymentPlan | undefined;
  /** Pods the last step created or deleted. */
  lastPodChanges = 0;

  constructor(public deployment: Deployment) {}

  private nextRv(): string {
    return String(++this.rv);
  }

  /** One pass of the loop: the deployment plan, then each ReplicaSet's pods. */
  step(): DeploymentPlan {
    // What was deleted in the last step has stopped by now.
    this.pods = this.pods.filter((p) => (p.metadata?.deletionTimestamp ?? '') === '');
    const now = new Date(this.now);
    const plan = decideDeployment({
      deployment: this.deployment,
      replicaSets: this.replicaSets,
      pods: this.pods,
      now,
      uid: () => `rs-uid-${++this.counter}`,
    });
    this.lastPlan = plan;
    this.events.push(...plan.events);
    if (plan.deployment)
      this.deployment = {
        ...plan.deployment,
        metadata: plan.deployment.metadata && { ...plan.deployment.metadata, resourceVersion: this.nextRv() },
      };
    if (plan.rollbackTo !== undefined) return plan;
    const byName = new Map(this.replicaSets.map((rs) => [rs.metadata?.name ?? '', rs]));
    for (const rs of plan.updateReplicaSets) byName.set(rs.metadata?.name ?? '', rs);
    if (plan.createReplicaSet) byName.set(plan.createReplicaSet.metadata?.name ?? '', plan.createReplicaSet);
    for (const rs of plan.deleteReplicaSets) byName.delete(rs.metadata?.name ?? '');
    this.replicaSets = [...byName.values()];
    const created: Pod[] = [];
    const deleted = new Set<string>();
    this.replicaSets = this.replicaSets.map((rs) => {
      const rsPlan = decideReplicaSet({
        replicaSet: rs,
        pods: this.pods,
        now,
        uid: () => `pod-uid-${++this.counter}`,
        suffix: () => String(++this.counter).padStart(5, '0').slice(-5),
      });
      created.push(...rsPlan.create);
      for (const p of rsPlan.delete) deleted.add(p.metadata?.name ?? '');
      return rsPlan.status ? { ...rs, status: rsPlan.status } : rs;
    });
    this.pods = this.pods.map((p) =>
      deleted.has(p.metadata?.name ?? '') ? (markDeleted(p, now, 30) ?? p) : p,
    );
    this.pods.push(...created);
    this.lastPodChanges = created.length + deleted.size;
    return plan;
  }

  /** Sets the pods the filter picks (default: every active pod) Ready at the current time. */
  ready(filter: (p: Pod) => boolean = () => true, ready = true): number {
    let changed = 0;
    this.pods = this.pods.map((p) => {
      if (!isPodActive(p) || !filter(p) || isReady(p) === ready) return p;
      changed++;
      return setReady(p, ready, this.now);
    });
    return changed;
  }

  advance(ms: number): void {
    this.now += ms;
  }

  /** Steps, making every new pod ready after each, until a step changes nothing. */
  settle(maxSteps = 100, makeReady = true): number {
    for (let i = 0; i < maxSteps; i++) {
      const plan = this.step();
      const readied = makeReady ? this.ready() : 0;
      if (quiet(plan) && this.lastPodChanges === 0 && readied === 0) return i;
    }
    throw new Error(`no settle after ${maxSteps} steps`);
  }

  rsByRevision(revision: number): ReplicaSet | undefined {
    return this.replicaSets.find((rs) => revisionOf(rs) === revision);
  }

  /** The ReplicaSet whose template the deployment has (the current revision). */
  current(): ReplicaSet | undefined {
    const image = this.deployment.spec?.template?.spec?.containers[0]?.image;
    return this.replicaSets.find((rs) => rs.spec?.template?.spec?.containers[0]?.image === image);
  }

  activePodsOf(rs: ReplicaSet | undefined): Pod[] {
    return this.pods.filter(
      (p) => isPodActive(p) && rs !== undefined && controllerOf(p)?.uid === rs.metadata?.uid,
    );
  }

  activePods(): Pod[] {
    return this.pods.filter(isPodActive);
  }

  availableCount(): number {
    const min = this.deployment.spec?.minReadySeconds ?? 0;
    return this.activePods().filter((p) => isPodAvailable(p, min, this.now)).length;
  }

  /** spec.replicas of each ReplicaSet, current first: "new/old1/old2" by image tag. */
  replicasByImage(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const rs of this.replicaSets)
      out[rs.spec?.template?.spec?.containers[0]?.image ?? ''] = rs.spec?.replicas ?? 0;
    return out;
  }
}

function isReady(p: Pod): boolean {
  return p.status?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function quiet(plan: DeploymentPlan): boolean {
  return (
    !plan.createReplicaSet &&
    plan.updateReplicaSets.length === 0 &&
    plan.deleteReplicaSets.length === 0 &&
    !plan.deployment &&
    plan.rollbackTo === undefined
  );
}

/** The nodes, played by the test: every pod gets Ready, every pod marked deleted goes. */
export function playNodes(store: Store, readyIf: (pod: Pod) => boolean = () => true): () => Promise<void> {
  let stopped = false;
  const run = (async () => {
    while (!stopped) {
      const { entries } = await store.list(podCodec, keys.pods);
      for (const e of entries) {
        try {
          if ((e.value.metadata?.deletionTimestamp ?? '') !== '') await store.delete(e.key, e.modRevision);
          else if (!isPodReady(e.value) && readyIf(e.value))
            await store.update(podCodec, e.key, setReady(e.value, true, Date.now()), e.modRevision);
        } catch {
          // Changed meanwhile: the next round looks again.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return async () => {
    stopped = true;
    await run;
  };
}
