// The ReplicaSet decision: its pods against spec.replicas → pods to create and pods to
// delete, and the status to write. Pure: the caller passes the time and the name suffixes.
import type { Pod, ReplicaSet, ReplicaSetStatus } from '@flotilla/proto';
import { newPod } from '../pods/defaults.js';
import { isPodActive, isPodAvailable, isPodReady, readySince } from './pod-availability.js';
import { labels, nameOf, ownedPods, ownerReference } from './revisions.js';

export interface ReplicaSetPlan {
  create: Pod[];
  /** Pods to delete gracefully, the best to lose first. */
  delete: Pod[];
  /** The status to write, when it differs from the stored one. */
  status?: ReplicaSetStatus;
}

export interface ReplicaSetDecisionInput {
  replicaSet: ReplicaSet;
  /** Pods of the namespace (or only the ReplicaSet's); the decision picks its own. */
  pods: readonly Pod[];
  now: Date;
  /** A fresh uid per created pod. */
  uid: () => string;
  /** 5 characters [a-z0-9] per created pod (names taken by other pods are skipped). */
  suffix: () => string;
  /**
   * Whether a pod of that name exists in the namespace, for a caller that passes only the
   * ReplicaSet's own pods.
   */
  podNameTaken?: (name: string) => boolean;
}

export function replicasOf(rs: ReplicaSet): number {
  return rs.spec?.replicas ?? 1;
}

/** Random [a-z0-9]{5}, as Kubernetes' generateName (crypto is not needed for names). */
export function randomSuffix(random: () => number = Math.random): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 5; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

/** The pod a ReplicaSet makes from its template: unbound, the scheduler places it. */
export function podForReplicaSet(rs: ReplicaSet, name: string, uid: string, now: Date): Pod {
  const template = rs.spec?.template;
  const meta = template?.metadata;
  const hash = rs.metadata?.labels[labels.podTemplateHash] ?? '';
  const pod = newPod(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: rs.metadata?.namespace ?? '',
        uid: '',
        resourceVersion: '',
        generation: 0,
        creationTimestamp: '',
        deletionTimestamp: '',
        labels: { ...(meta?.labels ?? {}), ...(hash !== '' ? { [labels.podTemplateHash]: hash } : {}) },
        annotations: { ...(meta?.annotations ?? {}) },
        ownerReferences: [],
      },
      spec: template?.spec ? { ...template.spec, nodeName: '' } : undefined,
      status: undefined,
    },
    { uid, now },
  );
  if (pod.metadata) pod.metadata.ownerReferences = [ownerReference('ReplicaSet', rs)];
  return pod;
}

/**
 * Kubernetes' ActivePods order, the pod to delete first first: unscheduled before
 * scheduled, Pending before Unknown before Running, not ready before ready, ready for less
 * time before longer, more restarts before fewer, newer before older.
 */
export function deletionOrder(a: Pod, b: Pod): number {
  const scheduled = (p: Pod): number => ((p.spec?.nodeName ?? '') === '' ? 0 : 1);
  const phaseRank = (p: Pod): number => ({ Pending: 0, Unknown: 1, Running: 2 })[p.status?.phase ?? ''] ?? 0;
  const ready = (p: Pod): number => (isPodReady(p) ? 1 : 0);
  const restarts = (p: Pod): number =>
    (p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0);
  const created = (p: Pod): number => Date.parse(p.metadata?.creationTimestamp ?? '') || 0;
  return (
    scheduled(a) - scheduled(b) ||
    phaseRank(a) - phaseRank(b) ||
    ready(a) - ready(b) ||
    // Both ready: the one ready more recently goes first.
    (readySince(b) ?? 0) - (readySince(a) ?? 0) ||
    restarts(b) - restarts(a) ||
    created(b) - created(a) ||
    nameOf(a).localeCompare(nameOf(b))
  );
}

export function replicaSetStatus(rs: ReplicaSet, pods: readonly Pod[], now: number): ReplicaSetStatus {
  const active = ownedPods(rs, pods).filter(isPodActive);
  const minReady = rs.spec?.minReadySeconds ?? 0;
  return {
    replicas: active.length,
    readyReplicas: active.filter(isPodReady).length,
    availableReplicas: active.filter((p) => isPodAvailable(p, minReady, now)).length,
    observedGeneration: rs.metadata?.generation ?? 0,
  };
}

function sameStatus(a: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  return (
    a !== undefined &&
    a.replicas === b.replicas &&
    a.readyReplicas === b.readyReplicas &&
    a.availableReplicas === b.availableReplicas &&
    a.observedGeneration === b.observedGeneration
  );
}

export function decideReplicaSet(input: ReplicaSetDecisionInput): ReplicaSetPlan {
  const { replicaSet: rs, pods, now } = input;
  const mine = ownedPods(rs, pods);
  // Pods being deleted (or finished) do not count: replacements start at once.
  const active = mine.filter(isPodActive);
  const want = (rs.metadata?.deletionTimestamp ?? '') !== '' ? 0 : replicasOf(rs);
  const plan: ReplicaSetPlan = { create: [], delete: [] };
  if (active.length < want) {
    const taken = new Set(pods.map(nameOf));
    for (let i = active.length; i < want; i++) {
      let name: string;
      do name = `${nameOf(rs)}-${input.suffix()}`;
      while (taken.has(name) || (input.podNameTaken?.(name) ?? false));
      taken.add(name);
      plan.create.push(podForReplicaSet(rs, name, input.uid(), now));
    }
  } else if (active.length > want) {
    plan.delete = [...active].sort(deletionOrder).slice(0, active.length - want);
  }
  const status = replicaSetStatus(rs, pods, now.getTime());
  if (!sameStatus(rs.status, status)) plan.status = status;
  return plan;
}
