// The kinds the object API stores, and how the CLI names them: the Kind of manifests, the
// resource names and short names kubectl accepts (po, deploy, rs, svc, ep, ns, no, ev), and
// the field of the proto Object oneof that carries each one.
import type { Object as ApiObject, ObjectMeta } from '@flotilla/proto';
import { closest } from '../cli/suggest.js';

export type ObjectField = keyof ApiObject;

export interface KindInfo {
  kind: string;
  apiVersion: string;
  /** The API group: "" for the core group, "apps" for Deployment and ReplicaSet. */
  group: string;
  /** The field of the Object oneof. */
  field: ObjectField;
  /** Lower-case plural, as in "deploy get deployments". */
  resource: string;
  shortNames: readonly string[];
  namespaced: boolean;
  /** @kubernetes/client-node's model of the kind, for manifest validation. */
  model: string;
  /**
   * Whether a manifest may carry it: ReplicaSets are the deployment controller's, nodes
   * register themselves, events are recorded.
   */
  inManifests: boolean;
  /** For a kind manifests may not hold: why, and what to write instead. */
  notInManifests?: string;
}

export const kinds: readonly KindInfo[] = [
  {
    kind: 'Pod',
    apiVersion: 'v1',
    group: '',
    field: 'pod',
    resource: 'pods',
    shortNames: ['po'],
    namespaced: true,
    model: 'V1Pod',
    inManifests: true,
  },
  {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    group: 'apps',
    field: 'deployment',
    resource: 'deployments',
    shortNames: ['deploy'],
    namespaced: true,
    model: 'V1Deployment',
    inManifests: true,
  },
  {
    kind: 'ReplicaSet',
    apiVersion: 'apps/v1',
    group: 'apps',
    field: 'replicaSet',
    resource: 'replicasets',
    shortNames: ['rs'],
    namespaced: true,
    model: 'V1ReplicaSet',
    inManifests: false,
  },
  {
    kind: 'Service',
    apiVersion: 'v1',
    group: '',
    field: 'service',
    resource: 'services',
    shortNames: ['svc'],
    namespaced: true,
    model: 'V1Service',
    inManifests: true,
  },
  {
    kind: 'Endpoints',
    apiVersion: 'v1',
    group: '',
    field: 'endpoints',
    resource: 'endpoints',
    shortNames: ['ep'],
    namespaced: true,
    model: 'V1Endpoints',
    inManifests: false,
    notInManifests:
      "the controller keeps Endpoints from the Service's selector and its pods' readiness; apply a Service with a selector instead",
  },
  {
    kind: 'Namespace',
    apiVersion: 'v1',
    group: '',
    field: 'namespace',
    resource: 'namespaces',
    shortNames: ['ns'],
    namespaced: false,
    model: 'V1Namespace',
    inManifests: true,
  },
  {
    kind: 'Node',
    apiVersion: 'v1',
    group: '',
    field: 'node',
    resource: 'nodes',
    shortNames: ['no'],
    namespaced: false,
    model: 'V1Node',
    inManifests: false,
  },
  {
    kind: 'Event',
    apiVersion: 'v1',
    group: '',
    field: 'event',
    resource: 'events',
    shortNames: ['ev'],
    namespaced: true,
    model: 'CoreV1Event',
    inManifests: false,
  },
];

export const manifestKinds = kinds.filter((k) => k.inManifests);

export function kindInfo(kind: string): KindInfo | undefined {
  return kinds.find((k) => k.kind === kind);
}

/** Every name a resource goes by: "deployments", "deployment", "deploy", "deployments.apps"… */
function namesOf(k: KindInfo): string[] {
  const singular = k.kind.toLowerCase();
  const names = [k.resource, singular, ...k.shortNames];
  if (k.group) names.push(`${k.resource}.${k.group}`, `${singular}.${k.group}`);
  return names;
}

export type ResourceLookup = { ok: true; info: KindInfo } | { ok: false; message: string };

/** "deploy", "Deployment", "deployments.apps" → the Deployment kind; else what is valid. */
export function resolveResource(text: string): ResourceLookup {
  const wanted = text.toLowerCase();
  const info = kinds.find((k) => namesOf(k).includes(wanted));
  if (info) return { ok: true, info };
  const suggestion = closest(
    wanted,
    kinds.flatMap((k) => [k.resource, k.kind.toLowerCase()]),
  );
  return {
    ok: false,
    message:
      `unknown resource type "${text}"` +
      (suggestion ? `; did you mean "${suggestion}"?` : '.') +
      ` Valid types: ${kinds.map((k) => `${k.resource} (${k.shortNames.join(', ')})`).join(', ')}`,
  };
}

/** kubectl's name for an object in messages: "deployment.apps/web", "service/web". */
export function qualifiedName(info: KindInfo, name: string): string {
  const singular = info.kind.toLowerCase();
  return `${info.group ? `${singular}.${info.group}` : singular}/${name}`;
}

/** The one object an Object carries, with its kind. */
export interface Unwrapped {
  info: KindInfo;
  metadata: ObjectMeta | undefined;
  value: NonNullable<ApiObject[ObjectField]>;
}

export function unwrap(object: ApiObject): Unwrapped | undefined {
  for (const info of kinds) {
    const value = object[info.field];
    if (value) return { info, metadata: value.metadata, value };
  }
  return undefined;
}

export function objectName(object: ApiObject): string {
  return unwrap(object)?.metadata?.name ?? '';
}
