// The kinds the object API serves, in one registry: where each is stored, how it is
// encoded, whether it lives in a namespace, how its name is checked, and whether Apply
// accepts it. The API layer works from this table, so a kind is added in one place.
import type {
  Deployment,
  Endpoints,
  Event,
  Namespace,
  Node,
  Object as ProtoObject,
  ObjectMeta,
  Pod,
  ReplicaSet,
  Service,
} from '@flotilla/proto';
import { invalidArgument, validateDnsLabel, validateDnsSubdomain } from '@flotilla/common';
import {
  deploymentCodec,
  endpointsCodec,
  eventCodec,
  namespaceCodec,
  nodeCodec,
  podCodec,
  replicaSetCodec,
  serviceCodec,
} from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Codec } from '../store/types.js';

export const kindNames = [
  'Namespace',
  'Pod',
  'Deployment',
  'ReplicaSet',
  'Service',
  'Endpoints',
  'Node',
  'Event',
] as const;
export type KindName = (typeof kindNames)[number];

/** What every stored kind has. */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata?: ObjectMeta | undefined;
}

interface Typed {
  Namespace: Namespace;
  Pod: Pod;
  Deployment: Deployment;
  ReplicaSet: ReplicaSet;
  Service: Service;
  Endpoints: Endpoints;
  Node: Node;
  Event: Event;
}

/** The oneof field of Object that carries each kind. */
const objectField = {
  Namespace: 'namespace',
  Pod: 'pod',
  Deployment: 'deployment',
  ReplicaSet: 'replicaSet',
  Service: 'service',
  Endpoints: 'endpoints',
  Node: 'node',
  Event: 'event',
} as const satisfies Record<KindName, keyof ProtoObject>;

export interface KindInfo<K extends KindName = KindName> {
  kind: K;
  apiVersion: string;
  codec: Codec<Typed[K]>;
  namespaced: boolean;
  /** Kubernetes' name rule for the kind. */
  nameRule: 'subdomain' | 'label' | 'dns1035';
  /** The key prefix of every object of the kind, or of one namespace's. */
  prefix(namespace?: string): string;
  key(namespace: string, name: string): string;
  /** Set when Apply refuses the kind: what to use instead. */
  notApplied?: string;
}

/** Stored kinds are keyed "<kind>/<ns>/<name>" or "<kind>/<name>"; a namespace prefix ends in "/". */
function namespacedKeys(
  all: string,
  one: (ns: string, name: string) => string,
): Pick<KindInfo, 'prefix' | 'key'> {
  return { prefix: (ns) => (ns ? one(ns, '') : all), key: one };
}

export const kinds: { [K in KindName]: KindInfo<K> } = {
  Namespace: {
    kind: 'Namespace',
    apiVersion: 'v1',
    codec: namespaceCodec,
    namespaced: false,
    nameRule: 'label',
    prefix: () => keys.namespaces,
    key: (_ns, name) => keys.namespace(name),
  },
  Pod: {
    kind: 'Pod',
    apiVersion: 'v1',
    codec: podCodec,
    namespaced: true,
    nameRule: 'subdomain',
    ...namespacedKeys(keys.pods, keys.pod),
  },
  Deployment: {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    codec: deploymentCodec,
    namespaced: true,
    nameRule: 'subdomain',
    ...namespacedKeys(keys.deployments, keys.deployment),
  },
  ReplicaSet: {
    kind: 'ReplicaSet',
    apiVersion: 'apps/v1',
    codec: replicaSetCodec,
    namespaced: true,
    nameRule: 'subdomain',
    ...namespacedKeys(keys.replicaSets, keys.replicaSet),
    notApplied:
      'ReplicaSets are the revisions of a Deployment and are written by the controller: apply a Deployment instead',
  },
  Service: {
    kind: 'Service',
    apiVersion: 'v1',
    codec: serviceCodec,
    namespaced: true,
    nameRule: 'dns1035',
    ...namespacedKeys(keys.services, keys.service),
  },
  Endpoints: {
    kind: 'Endpoints',
    apiVersion: 'v1',
    codec: endpointsCodec,
    namespaced: true,
    // A Service's name, which is a DNS-1035 label; any subdomain is a valid Endpoints name.
    nameRule: 'subdomain',
    ...namespacedKeys(keys.endpoints, keys.endpointsOf),
    notApplied:
      "the controller keeps Endpoints from the Service's selector and its pods' readiness: apply a Service with a selector instead",
  },
  Node: {
    kind: 'Node',
    apiVersion: 'v1',
    codec: nodeCodec,
    namespaced: false,
    nameRule: 'subdomain',
    prefix: () => keys.nodes,
    key: (_ns, name) => keys.node(name),
    notApplied:
      'Nodes register themselves when an agent joins (flotilla-agent join); use deploy cordon/uncordon to change whether pods are placed on one',
  },
  Event: {
    kind: 'Event',
    apiVersion: 'v1',
    codec: eventCodec,
    namespaced: true,
    nameRule: 'subdomain',
    ...namespacedKeys(keys.events, keys.event),
    notApplied: 'Events are recorded by the controller about what happens to objects; they cannot be applied',
  },
};

/** The kind a request names, case-insensitively and in the plural too ("deployments", "svc"). */
export function kindOf(text: string): KindInfo {
  const wanted = text.trim().toLowerCase();
  const aliases: Record<string, KindName> = {
    ns: 'Namespace',
    po: 'Pod',
    deploy: 'Deployment',
    rs: 'ReplicaSet',
    svc: 'Service',
    ep: 'Endpoints',
    no: 'Node',
    ev: 'Event',
  };
  const found =
    aliases[wanted] ??
    kindNames.find((k) => {
      const lower = k.toLowerCase();
      return wanted === lower || wanted === `${lower}s` || (lower.endsWith('s') && wanted === `${lower}es`);
    });
  if (!found) {
    throw invalidArgument(`kind "${text}" is not one this cluster serves (valid: ${kindNames.join(', ')})`, {
      field: 'kind',
      value: text,
    });
  }
  return kinds[found];
}

/** Why name is not a valid name for the kind, or undefined. */
export function nameProblem(info: KindInfo, name: string): string | undefined {
  if (info.nameRule === 'label') {
    const why = validateDnsLabel(name);
    return why && `${why} (a DNS-1123 label)`;
  }
  if (info.nameRule === 'dns1035') {
    const why = validateDnsLabel(name);
    if (why) return `${why} (a DNS-1035 label)`;
    if (!/^[a-z]/.test(name)) return 'must start with a lower case letter (a DNS-1035 label)';
    return undefined;
  }
  const why = validateDnsSubdomain(name);
  return why && `${why} (a DNS-1123 subdomain)`;
}

/** A typed object of some kind, as the registry pairs them. */
export type KindedObject = { [K in KindName]: { kind: K; value: Typed[K] } }[KindName];

/** The one object an Object carries, or undefined when it carries none. */
export function unwrapObject(object: ProtoObject): KindedObject[] {
  const out: KindedObject[] = [];
  if (object.namespace) out.push({ kind: 'Namespace', value: object.namespace });
  if (object.pod) out.push({ kind: 'Pod', value: object.pod });
  if (object.deployment) out.push({ kind: 'Deployment', value: object.deployment });
  if (object.replicaSet) out.push({ kind: 'ReplicaSet', value: object.replicaSet });
  if (object.service) out.push({ kind: 'Service', value: object.service });
  if (object.endpoints) out.push({ kind: 'Endpoints', value: object.endpoints });
  if (object.node) out.push({ kind: 'Node', value: object.node });
  if (object.event) out.push({ kind: 'Event', value: object.event });
  return out;
}

export function wrapObject(o: KindedObject): ProtoObject {
  return { [objectField[o.kind]]: o.value };
}

/** Wraps a value read with info's codec. */
export function wrapStored<K extends KindName>(info: KindInfo<K>, value: Typed[K]): ProtoObject {
  return { [objectField[info.kind]]: value };
}

export type { Typed as KindTypes };

/** "Deployment default/web", "Node n1": how messages name an object. */
export function describeObject(kind: string, namespace: string, name: string): string {
  return namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}
