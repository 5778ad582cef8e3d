// Whether a pod may be evicted now (deploy drain): not when its Deployment (pod → its
// ReplicaSet → its Deployment, by controller ownerReferences) would be left with fewer
// available pods than replicas − maxUnavailable. Pure.
import type { Deployment, OwnerReference, Pod, ReplicaSet } from '@flotilla/proto';
import { deploymentDefaults, maxUnavailableOf } from './deployment.js';

export function controllerOf(
  meta: { ownerReferences: OwnerReference[] } | undefined,
): OwnerReference | undefined {
  return meta?.ownerReferences.find((o) => o.controller);
}

/** Running, Ready, not being deleted, and Ready for at least minReadySeconds. */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: Date): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (pod.status?.phase !== 'Running') return false;
  const ready = pod.status.conditions.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = Date.parse(ready.lastTransitionTime);
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now.getTime();
}

export interface EvictionSnapshot {
  /** The ReplicaSets and Deployments of the pod's namespace. */
  replicaSets: readonly ReplicaSet[];
  deployments: readonly Deployment[];
  /** The pods of the pod's namespace. */
  pods: readonly Pod[];
}

export type EvictionVerdict =
  { allowed: true; deployment?: string } | { allowed: false; message: string; deployment: string };

export function evictionVerdict(pod: Pod, snapshot: EvictionSnapshot, now: Date): EvictionVerdict {
  const rsRef = controllerOf(pod.metadata);
  if (rsRef?.kind !== 'ReplicaSet') return { allowed: true };
  const rs = snapshot.replicaSets.find((r) => r.metadata?.uid === rsRef.uid);
  const dRef = controllerOf(rs?.metadata);
  if (dRef?.kind !== 'Deployment') return { allowed: true };
  const d = snapshot.deployments.find((x) => x.metadata?.uid === dRef.uid);
  if (!d) return { allowed: true };
  const name = d.metadata?.name ?? '';
  const minReady = d.spec?.minReadySeconds ?? 0;
  if (!isPodAvailable(pod, minReady, now)) return { allowed: true, deployment: name };
  const mine = new Set(
    snapshot.replicaSets
      .filter((r) => controllerOf(r.metadata)?.uid === dRef.uid)
      .map((r) => r.metadata?.uid),
  );
  const available = snapshot.pods.filter(
    (p) => mine.has(controllerOf(p.metadata)?.uid) && isPodAvailable(p, minReady, now),
  ).length;
  const replicas = d.spec?.replicas ?? deploymentDefaults.replicas;
  const needed = replicas - maxUnavailableOf(d);
  if (available - 1 >= needed) return { allowed: true, deployment: name };
  return {
    allowed: false,
    deployment: name,
    message: `evicting pod "${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}" would leave Deployment "${name}" with ${available - 1} available pods, fewer than the ${needed} it needs (replicas ${replicas} − maxUnavailable ${maxUnavailableOf(d)}); retry once its replacement pods are available`,
  };
}
