// When a pod counts, as Kubernetes' controllers count it: active (not being deleted, not
// finished), ready (condition Ready=True), available (ready for minReadySeconds). Pure.
import type { Pod } from '@flotilla/proto';

export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase ?? '';
  return (pod.metadata?.deletionTimestamp ?? '') === '' && phase !== 'Succeeded' && phase !== 'Failed';
}

function readyCondition(pod: Pod): { status: string; lastTransitionTime: string } | undefined {
  return pod.status?.conditions.find((c) => c.type === 'Ready');
}

export function isPodReady(pod: Pod): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** Since when the pod has been ready (ms), or undefined when it is not ready. */
export function readySince(pod: Pod): number | undefined {
  const c = readyCondition(pod);
  if (c?.status !== 'True') return undefined;
  const at = Date.parse(c.lastTransitionTime);
  // A ready pod without a time has been ready as long as anyone knows.
  return Number.isNaN(at) ? 0 : at;
}

/** Ready for at least minReadySeconds at now. */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  const since = readySince(pod);
  return since !== undefined && (minReadySeconds <= 0 || since + minReadySeconds * 1000 <= now);
}

/** When a ready but not yet available pod becomes available (ms), else undefined. */
export function availableAt(pod: Pod, minReadySeconds: number, now: number): number | undefined {
  const since = readySince(pod);
  if (since === undefined || minReadySeconds <= 0) return undefined;
  const at = since + minReadySeconds * 1000;
  return at > now ? at : undefined;
}
