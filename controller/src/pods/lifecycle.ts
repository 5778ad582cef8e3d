// The pure halves of UpdatePod and DeletePod: what an update may change, and what
// marking a pod deleted writes (docs/CONTRACTS.md, "Deletion").
import { Pod, PodSpec } from '@flotilla/proto';
import { conflict } from '@flotilla/common';
import { defaultTerminationGracePeriodSeconds } from './defaults.js';
import type { PodProblem } from './validate-pod.js';

/** The first paths where two JSON values differ ("spec.containers[0].image"). */
export function jsonDifferences(a: unknown, b: unknown, path: string, out: string[] = []): string[] {
  if (a === b) return out;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(path);
    else a.forEach((x, i) => jsonDifferences(x, b[i], `${path}[${i}]`, out));
    return out;
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a)) {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    for (const key of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
      jsonDifferences(ra[key], rb[key], path === '' ? key : `${path}.${key}`, out);
    }
    return out;
  }
  out.push(path);
  return out;
}

/** The value at a path such as "spec.containers[0].image" in a JSON value. */
function valueAt(json: unknown, path: string): unknown {
  return (path.match(/[^.[\]]+/g) ?? []).reduce<unknown>(
    (v, k) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined),
    json,
  );
}

const updatable = 'only metadata.labels, metadata.annotations and spec.stopped may change';

/**
 * The pod an update stores: the stored pod with the incoming labels, annotations and
 * spec.stopped; anything else that differs is a problem naming its field (a pod sent
 * without a spec keeps the stored one). Identity fields
 * left empty in the incoming pod (uid, creationTimestamp, generation) count as unchanged;
 * status and deletion marks are never taken from an update.
 */
export function mergePodUpdate(stored: Pod, incoming: Pod): { pod: Pod; problems: PodProblem[] } {
  const problems: PodProblem[] = [];
  const was = stored.metadata;
  const now = incoming.metadata;
  const add = (field: string, value: unknown, why: string): void => {
    problems.push({ field, value, message: `${field}: ${JSON.stringify(value) ?? ''} ${why}` });
  };
  if (was && now) {
    if (now.uid !== '' && now.uid !== was.uid)
      add('metadata.uid', now.uid, `cannot change (it is ${was.uid})`);
    if (now.creationTimestamp !== '' && now.creationTimestamp !== was.creationTimestamp) {
      add('metadata.creationTimestamp', now.creationTimestamp, 'cannot change');
    }
    if (now.generation !== 0 && now.generation !== was.generation) {
      add('metadata.generation', now.generation, 'is set by the controller and cannot change');
    }
  }
  const specOf = (pod: Pod): unknown =>
    pod.spec ? PodSpec.toJSON({ ...pod.spec, stopped: false }) : undefined;
  // A pod sent without a spec changes only its metadata.
  const specPaths = incoming.spec ? jsonDifferences(specOf(stored), specOf(incoming), 'spec') : [];
  for (const path of specPaths) {
    const value = valueAt({ spec: specOf(incoming) }, path);
    add(path, value, `cannot change: ${updatable}`);
  }
  const stopped = incoming.spec ? incoming.spec.stopped : (stored.spec?.stopped ?? false);
  const specChanged = (stored.spec?.stopped ?? false) !== stopped;
  const pod: Pod = Pod.fromJSON(Pod.toJSON(stored));
  if (pod.metadata && now) {
    pod.metadata.labels = { ...now.labels };
    pod.metadata.annotations = { ...now.annotations };
    pod.metadata.resourceVersion = was?.resourceVersion ?? '';
    if (specChanged) pod.metadata.generation = (was?.generation ?? 0) + 1;
  }
  if (pod.spec) pod.spec.stopped = stopped;
  return { pod, problems };
}

/** The seconds a deleted pod's containers get: the request's, else the pod's, else 30. */
export function deletionGrace(pod: Pod, requested: number | undefined): number {
  const grace = requested ?? pod.spec?.terminationGracePeriodSeconds ?? defaultTerminationGracePeriodSeconds;
  return Math.max(0, grace);
}

/**
 * The pod marked deleted at now: deletionTimestamp (now + grace, as Kubernetes writes it)
 * and deletionGracePeriodSeconds. A pod already marked keeps its marks unless the new
 * grace is shorter. undefined when nothing changes.
 */
export function markDeleted(pod: Pod, now: Date, requestedGrace: number | undefined): Pod | undefined {
  const grace = deletionGrace(pod, requestedGrace);
  const meta = pod.metadata;
  if (!meta) return undefined;
  const current = meta.deletionGracePeriodSeconds;
  if (meta.deletionTimestamp !== '' && current !== undefined && current <= grace) return undefined;
  return {
    ...pod,
    metadata: {
      ...meta,
      deletionTimestamp: new Date(now.getTime() + grace * 1000).toISOString(),
      deletionGracePeriodSeconds: grace,
    },
  };
}

/** DeletePod's uid precondition: Conflict when the pod was replaced by one with another uid. */
export function checkUidPrecondition(pod: Pod, uid: string): void {
  const actual = pod.metadata?.uid ?? '';
  if (uid !== '' && uid !== actual) {
    const what = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
    throw conflict(
      `pod "${what}" has uid ${actual}, not ${uid}: it was deleted and created again; nothing was deleted`,
      { object: `pod/${what}`, field: 'uid', value: uid },
    );
  }
}
