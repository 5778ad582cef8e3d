// What ties a Deployment to its revisions and a revision to its pods, as Kubernetes does
// it: the pod-template-hash label and ReplicaSet name, the revision annotation, owner
// references, and which ReplicaSets and pods belong to which owner. Pure.
//
// deployments/ holds everything about Deployments and ReplicaSets (naming, the pure
// decisions, rollout helpers and the loop applying them), as pods/ does for pods: one
// kind, one folder, so the pieces that must agree on names and labels sit together.
import {
  PodTemplateSpec,
  type Deployment,
  type OwnerReference,
  type Pod,
  type ReplicaSet,
} from '@flotilla/proto';

export const appsApiVersion = 'apps/v1';

export const labels = {
  /** On a ReplicaSet, its selector and its pods: which template they were made from. */
  podTemplateHash: 'pod-template-hash',
} as const;

export const annotations = {
  /** On a ReplicaSet (and its Deployment): the revision number, as Kubernetes. */
  revision: 'deployment.kubernetes.io/revision',
  /** On a ReplicaSet: the revisions it had before (it became current again), comma-separated. */
  revisionHistory: 'deployment.kubernetes.io/revision-history',
  /** On a Deployment: "false" turns off the rollback after a missed progress deadline. */
  autoRollback: 'flotilla.io/auto-rollback',
  /** On a ReplicaSet: when its rollout completed (every replica available); a "good" revision. */
  completedAt: 'flotilla.io/rollout-completed-at',
  /** On a pod template: a change makes a new revision with the same spec (rollout restart). */
  restartedAt: 'flotilla.io/restartedAt',
} as const;

/** JSON with object keys sorted at every level, so equal values always print the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const parts = Object.keys(record)
      .sort()
      .filter((k) => record[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A template without the pod-template-hash label, the form templates are compared in. */
export function templateWithoutHash(template: PodTemplateSpec | undefined): PodTemplateSpec {
  const t = PodTemplateSpec.fromJSON(
    PodTemplateSpec.toJSON(template ?? { metadata: undefined, spec: undefined }),
  );
  if (t.metadata) {
    const rest = { ...t.metadata.labels };
    delete rest[labels.podTemplateHash];
    t.metadata.labels = rest;
  }
  return t;
}

function templateKey(template: PodTemplateSpec | undefined): string {
  return canonicalJson(PodTemplateSpec.toJSON(templateWithoutHash(template)));
}

/** Whether two templates are the same but for the pod-template-hash label. */
export function sameTemplate(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return templateKey(a) === templateKey(b);
}

// Kubernetes' rand.SafeEncodeString alphabet: no vowels, no 0/1/3, so no words and no
// look-alikes.
const safeAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * The pod-template-hash: FNV-1a over the template's canonical JSON (collisionCount
 * appended when non-zero), its decimal digits mapped onto the safe alphabet, as Kubernetes'
 * ComputeHash does. Stable across controllers and restarts.
 */
export function templateHash(template: PodTemplateSpec | undefined, collisionCount = 0): string {
  const text = templateKey(template) + (collisionCount > 0 ? String(collisionCount) : '');
  return [...String(fnv1a32(text))].map((c) => safeAlphabet[c.charCodeAt(0) % safeAlphabet.length]).join('');
}

export function replicaSetName(deploymentName: string, hash: string): string {
  return `${deploymentName}-${hash}`;
}

/** The revision number a ReplicaSet's annotation holds; 0 when it has none. */
export function revisionOf(object: {
  metadata?: { annotations: Record<string, string> } | undefined;
}): number {
  const text = object.metadata?.annotations[annotations.revision] ?? '';
  const n = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(n) ? n : 0;
}

export function ownerReference(
  kind: 'Deployment' | 'ReplicaSet',
  owner: Deployment | ReplicaSet,
): OwnerReference {
  return {
    apiVersion: appsApiVersion,
    kind,
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    controller: true,
  };
}

/** The owner reference with controller=true, when there is one. */
export function controllerOf(object: {
  metadata?: { ownerReferences: OwnerReference[] } | undefined;
}): OwnerReference | undefined {
  return object.metadata?.ownerReferences.find((o) => o.controller);
}

function isControlledBy(
  object: { metadata?: { ownerReferences: OwnerReference[] } | undefined },
  kind: string,
  owner: { metadata?: { uid: string } | undefined },
): boolean {
  const ref = controllerOf(object);
  return ref !== undefined && ref.kind === kind && ref.uid !== '' && ref.uid === owner.metadata?.uid;
}

export function ownedReplicaSets(deployment: Deployment, replicaSets: readonly ReplicaSet[]): ReplicaSet[] {
  return replicaSets.filter((rs) => isControlledBy(rs, 'Deployment', deployment));
}

export function ownedPods(replicaSet: ReplicaSet, pods: readonly Pod[]): Pod[] {
  return pods.filter((p) => isControlledBy(p, 'ReplicaSet', replicaSet));
}

export function nameOf(object: { metadata?: { name: string } | undefined }): string {
  return object.metadata?.name ?? '';
}
