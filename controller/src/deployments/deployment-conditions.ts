// A Deployment's Available and Progressing conditions, with Kubernetes' reasons and its
// rules for when lastUpdateTime and lastTransitionTime move. Pure.
import type { DeploymentCondition, DeploymentStatus } from '@flotilla/proto';

export const conditionReasons = {
  minimumReplicasAvailable: 'MinimumReplicasAvailable',
  minimumReplicasUnavailable: 'MinimumReplicasUnavailable',
  newReplicaSetCreated: 'NewReplicaSetCreated',
  foundNewReplicaSet: 'FoundNewReplicaSet',
  replicaSetUpdated: 'ReplicaSetUpdated',
  newReplicaSetAvailable: 'NewReplicaSetAvailable',
  progressDeadlineExceeded: 'ProgressDeadlineExceeded',
  deploymentPaused: 'DeploymentPaused',
  deploymentResumed: 'DeploymentResumed',
} as const;

export function getCondition(
  status: DeploymentStatus | undefined,
  type: string,
): DeploymentCondition | undefined {
  return status?.conditions.find((c) => c.type === type);
}

export function newCondition(
  type: string,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  now: Date,
): DeploymentCondition {
  const at = now.toISOString();
  return { type, status, lastUpdateTime: at, lastTransitionTime: at, reason, message };
}

/**
 * Kubernetes' SetDeploymentCondition: a condition with the same status and reason as the
 * one there changes nothing; otherwise it replaces it, keeping lastTransitionTime when
 * the status stays the same.
 */
export function setCondition(
  conditions: DeploymentCondition[],
  next: DeploymentCondition,
): DeploymentCondition[] {
  const current = conditions.find((c) => c.type === next.type);
  if (current && current.status === next.status && current.reason === next.reason) return conditions;
  const value =
    current && current.status === next.status
      ? { ...next, lastTransitionTime: current.lastTransitionTime }
      : next;
  return [...conditions.filter((c) => c.type !== next.type), value];
}

/** Replaces the condition outright (same-reason progress moves lastUpdateTime too). */
export function replaceCondition(
  conditions: DeploymentCondition[],
  next: DeploymentCondition,
): DeploymentCondition[] {
  const current = conditions.find((c) => c.type === next.type);
  const value =
    current && current.status === next.status
      ? { ...next, lastTransitionTime: current.lastTransitionTime }
      : next;
  return [...conditions.filter((c) => c.type !== next.type), value];
}

/** Whether the rollout moved since the stored status (Kubernetes' DeploymentProgressing). */
export function madeProgress(before: DeploymentStatus | undefined, after: DeploymentStatus): boolean {
  if (!before) return after.updatedReplicas > 0 || after.readyReplicas > 0;
  const oldBefore = before.replicas - before.updatedReplicas;
  const oldAfter = after.replicas - after.updatedReplicas;
  return (
    oldAfter < oldBefore ||
    after.updatedReplicas > before.updatedReplicas ||
    after.readyReplicas > before.readyReplicas ||
    after.availableReplicas > before.availableReplicas
  );
}

/** Every replica updated and available, none of an older revision left (DeploymentComplete). */
export function rolloutComplete(desired: number, status: DeploymentStatus): boolean {
  return (
    status.updatedReplicas === desired && status.replicas === desired && status.availableReplicas === desired
  );
}
