// Which images the desired pods need, and what to do about each: pure decisions, so the
// Kubernetes rules (default policy by tag, Never means "must already be here") are
// table-tested without a registry.
import { errorMessage } from '@flotilla/common';
import { parseReference, type ImageReference } from '@flotilla/images';
import type { Pod } from '@flotilla/proto';
import type { PullPolicy } from './types.js';

const policies: readonly PullPolicy[] = ['Always', 'IfNotPresent', 'Never'];

/**
 * Kubernetes' default: Always for ":latest" or no tag (the name may point elsewhere
 * tomorrow), IfNotPresent otherwise. A digest pins the content, so it is never re-pulled.
 */
export function defaultPullPolicy(ref: ImageReference): PullPolicy {
  return ref.digest === undefined && (ref.tag === undefined || ref.tag === 'latest')
    ? 'Always'
    : 'IfNotPresent';
}

/** The policy a container's imagePullPolicy names ("" for the default); undefined if unknown. */
export function effectivePullPolicy(given: string, ref: ImageReference): PullPolicy | undefined {
  if (given === '') return defaultPullPolicy(ref);
  return policies.find((p) => p === given);
}

export type PullAction =
  /** The local image serves: make sure it is unpacked. */
  | 'use'
  /** Fetch it from the registry (then unpack). */
  | 'pull'
  /** Policy Never and it is not here: fail without asking a registry. */
  | 'refuse';

/**
 * present: the image is in the local store (all its blobs). fresh: it was pulled since a
 * pod asking for Always was added or changed (Always pulls once per pod change, not on
 * every look).
 */
export function pullAction(policy: PullPolicy, present: boolean, fresh: boolean): PullAction {
  switch (policy) {
    case 'Never':
      return present ? 'use' : 'refuse';
    case 'IfNotPresent':
      return present ? 'use' : 'pull';
    case 'Always':
      return present && fresh ? 'use' : 'pull';
  }
}

/** One image the desired pods need. */
export interface WantedImage {
  /** The map key: canonical reference, or the pod's text when it does not parse. */
  key: string;
  ref?: ImageReference;
  /** The strongest policy among the pods (Always over IfNotPresent over Never). */
  policy: PullPolicy;
  /** Pod keys that use it, sorted. */
  pods: string[];
  /** Why it cannot be pulled as written (bad reference or policy), naming the field. */
  invalid?: string;
}

const strength: Record<PullPolicy, number> = { Never: 0, IfNotPresent: 1, Always: 2 };

/** Per image key, the pods that need it and how; pods keyed "<namespace>/<name>". */
export function wantedImages(
  pods: ReadonlyMap<string, Pod>,
  options: { defaultRegistry?: string } = {},
): Map<string, WantedImage> {
  const wanted = new Map<string, WantedImage>();
  for (const [podKey, pod] of pods) {
    for (const [i, container] of (pod.spec?.containers ?? []).entries()) {
      const field = `pod ${podKey} spec.containers[${i}]`;
      let ref: ImageReference | undefined;
      let policy: PullPolicy | undefined;
      let invalid: string | undefined;
      try {
        ref = parseReference(
          container.image,
          options.defaultRegistry !== undefined ? { defaultRegistry: options.defaultRegistry } : {},
        );
        policy = effectivePullPolicy(container.imagePullPolicy, ref);
        if (policy === undefined) {
          invalid = `${field}.imagePullPolicy "${container.imagePullPolicy}" is not one of ${policies.join(', ')}`;
        }
      } catch (err) {
        invalid = `${field}.image: ${errorMessage(err)}`;
      }
      const key = ref?.canonical ?? container.image;
      const entry = wanted.get(key);
      const chosen = policy ?? 'IfNotPresent';
      if (entry === undefined) {
        const created: WantedImage = { key, policy: chosen, pods: [podKey] };
        if (ref !== undefined) created.ref = ref;
        if (invalid !== undefined) created.invalid = invalid;
        wanted.set(key, created);
        continue;
      }
      if (!entry.pods.includes(podKey)) entry.pods.push(podKey);
      if (strength[chosen] > strength[entry.policy]) entry.policy = chosen;
      if (invalid !== undefined && entry.invalid === undefined) entry.invalid = invalid;
    }
  }
  for (const entry of wanted.values()) entry.pods.sort();
  return wanted;
}

/** The image keys of one pod whose (effective) pull policy is Always. */
export function alwaysPulledImages(
  podKey: string,
  pod: Pod,
  options: { defaultRegistry?: string } = {},
): string[] {
  return [...wantedImages(new Map([[podKey, pod]]), options).values()]
    .filter((w) => w.invalid === undefined && w.policy === 'Always')
    .map((w) => w.key);
}
