// Where a Deployment's rollout stands, from its status alone (kubectl's rollout status
// rules): waiting (with the progress line to print), succeeded, or failed with the reason.
// Pure, so `apply --wait` and `rollout status` decide the same way and tests need no server.
import type { Deployment } from '@flotilla/proto';

export type RolloutProgress =
  | { state: 'waiting'; message: string }
  | { state: 'succeeded'; message: string }
  | { state: 'failed'; message: string };

export const progressDeadlineExceeded = 'ProgressDeadlineExceeded';

/**
 * waitedGeneration: the generation the caller waits for (what apply wrote). Its rollout
 * failing is the answer even when the spec has moved on since: the controller's automatic
 * rollback writes the failure together with the restored template (a newer generation).
 */
export function rolloutProgress(deployment: Deployment, waitedGeneration?: number): RolloutProgress {
  const name = deployment.metadata?.name ?? '';
  const spec = deployment.spec;
  const status = deployment.status;
  const generation = deployment.metadata?.generation ?? 0;
  const progressing = status?.conditions.find((c) => c.type === 'Progressing');
  const failed =
    status !== undefined &&
    status.observedGeneration >= Math.min(generation, waitedGeneration ?? generation) &&
    progressing?.status === 'False' &&
    progressing.reason === progressDeadlineExceeded;
  if (failed) {
    return {
      state: 'failed',
      message:
        `deployment "${name}" exceeded its progress deadline (${progressDeadlineExceeded})` +
        (progressing.message ? `: ${progressing.message}` : ''),
    };
  }
  if (!status || status.observedGeneration < generation) {
    return { state: 'waiting', message: 'Waiting for deployment spec update to be observed...' };
  }
  if (spec?.paused) {
    return {
      state: 'failed',
      message: `deployment "${name}" is paused; resume it with "deploy rollout resume deployment/${name}"`,
    };
  }
  const desired = spec?.replicas ?? 1;
  const wait = (what: string): RolloutProgress => ({
    state: 'waiting',
    message: `Waiting for deployment "${name}" rollout to finish: ${what}...`,
  });
  if (status.updatedReplicas < desired) {
    return wait(`${status.updatedReplicas} out of ${desired} new replicas have been updated`);
  }
  if (status.replicas > status.updatedReplicas) {
    const old = status.replicas - status.updatedReplicas;
    return wait(`${old} old replica${old === 1 ? ' is' : 's are'} pending termination`);
  }
  if (status.availableReplicas < status.updatedReplicas) {
    return wait(`${status.availableReplicas} of ${status.updatedReplicas} updated replicas are available`);
  }
  return { state: 'succeeded', message: `deployment "${name}" successfully rolled out` };
}
