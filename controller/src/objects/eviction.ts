// Whether a pod may be evicted now (deploy drain): not when its Deployment (pod → its
// ReplicaSet → its Deployment, by controller ownerReferences) would be left with fewer
// available pods than replicas − maxUnavailable. Pure.
import type { Deployment, Pod, ReplicaSet } from '@flotilla/proto';
import { deploymentDefaults, maxUnavailableOf } from './deployment.js';
import { controllerOf } from '../deployments/revisions.js';
import { isPodActive, isPodAvailable } from '../deployments/pod-availability.js';

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
  const rsRef = controllerOf(pod);
  if (rsRef?.kind !== 'ReplicaSet') return { allowed: true };
  const rs = snapshot.replicaSets.find((r) => r.metadata?.uid === rsRef.uid);
  const dRef = rs && controllerOf(rs);
  if (dRef?.kind !== 'Deployment') return { allowed: true };
  const d = snapshot.deployments.find((x) => x.metadata?.uid === dRef.uid);
  if (!d) return { allowed: true };
  const name = d.metadata?.name ?? '';
  const minReady = d.spec?.minReadySeconds ?? 0;
  if (!isAvailableNow(pod, minReady, now)) return { allowed: true, deployment: name };
  const mine = new Set(
    snapshot.replicaSets.filter((r) => controllerOf(r)?.uid === dRef.uid).map((r) => r.metadata?.uid),
  );
  const available = snapshot.pods.filter(
    (p) => mine.has(controllerOf(p)?.uid) && isAvailableNow(p, minReady, now),
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

/** Not being deleted nor finished, and Ready for at least minReadySeconds. */
function isAvailableNow(pod: Pod, minReadySeconds: number, now: Date): boolean {
  return isPodActive(pod) && isPodAvailable(pod, minReadySeconds, now.getTime());
}
