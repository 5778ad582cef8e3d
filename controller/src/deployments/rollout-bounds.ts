// How far a rolling update may go above and below the desired replicas: maxSurge and
// maxUnavailable resolved against replicas as Kubernetes resolves them. Pure.
import type { Deployment } from '@flotilla/proto';
import { parseIntOrPercent, resolveIntOrPercent as resolveParsed } from '../objects/int-or-percent.js';

export const defaultMaxSurge = '25%';
export const defaultMaxUnavailable = '25%';
export const defaultProgressDeadlineSeconds = 600;
export const defaultRevisionHistoryLimit = 10;

export function desiredReplicas(d: Deployment): number {
  return d.spec?.replicas ?? 1;
}

export function isRecreate(d: Deployment): boolean {
  return d.spec?.strategy?.type === 'Recreate';
}

/**
 * An IntOrString ("3" or "25%") against total: percentages round up for surge and down
 * for unavailability, as Kubernetes' GetScaledValueFromIntOrPercent. undefined when the
 * text is neither (validation names it; the decision then uses the default).
 */
export function resolveIntOrPercent(text: string, total: number, roundUp: boolean): number | undefined {
  const parsed = parseIntOrPercent(text);
  return parsed && resolveParsed(parsed, total, roundUp);
}

export interface RolloutBounds {
  maxSurge: number;
  maxUnavailable: number;
}

/**
 * maxSurge and maxUnavailable for the deployment; Recreate has neither. When both come to
 * 0 a rolling update could never move, so maxUnavailable becomes 1 (Kubernetes'
 * ResolveFenceposts), capped at replicas.
 */
export function rolloutBounds(d: Deployment): RolloutBounds {
  if (isRecreate(d)) return { maxSurge: 0, maxUnavailable: 0 };
  const replicas = desiredReplicas(d);
  const ru = d.spec?.strategy?.rollingUpdate;
  const surgeText = ru?.maxSurge ?? defaultMaxSurge;
  const unavailableText = ru?.maxUnavailable ?? defaultMaxUnavailable;
  const maxSurge =
    resolveIntOrPercent(surgeText, replicas, true) ??
    resolveIntOrPercent(defaultMaxSurge, replicas, true) ??
    0;
  let maxUnavailable =
    resolveIntOrPercent(unavailableText, replicas, false) ??
    resolveIntOrPercent(defaultMaxUnavailable, replicas, false) ??
    0;
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, replicas) };
}

/** Seconds without progress before the rollout fails; undefined: no deadline (Kubernetes' MaxInt32). */
export function progressDeadlineSeconds(d: Deployment): number | undefined {
  const s = d.spec?.progressDeadlineSeconds ?? defaultProgressDeadlineSeconds;
  return s >= 2147483647 || s <= 0 ? undefined : s;
}

export function revisionHistoryLimit(d: Deployment): number {
  return Math.max(0, d.spec?.revisionHistoryLimit ?? defaultRevisionHistoryLimit);
}
