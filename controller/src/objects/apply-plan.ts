// What an Apply writes, decided from the manifests and a snapshot of what is stored. Pure:
// prepareApply defaults and validates the request on its own (every problem of every
// object at once), planApply merges each object with the stored one, allocates service
// addresses and node ports, and returns the guarded writes of one transaction.
//
// Apply replaces what the user owns (labels, annotations, spec) and keeps what the cluster
// owns: uid, creationTimestamp, status, a Service's assigned clusterIP and nodePorts, a
// Deployment's replicas when the manifest leaves them out (deploy scale set them), the
// annotations the controllers write. generation starts at 1 and counts spec changes.
import {
  DeploymentSpec,
  DeploymentStatus,
  NamespaceStatus,
  ServiceSpec,
  type Deployment,
  type Namespace,
  type Object as ProtoObject,
  type ObjectMeta,
  type Pod,
  type Service,
} from '@flotilla/proto';
import { showValue, type FieldProblem } from '@flotilla/common';
import { newPod, podAnnotations, scheduledCondition } from '../pods/defaults.js';
import { mergePodUpdate } from '../pods/lifecycle.js';
import { podProblems } from '../pods/validate-pod.js';
import { jsonCodec, asRecord, stringField } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { putOp, type Entry, type TxnOp } from '../store/types.js';
import { defaultDeployment, deploymentProblems } from './deployment.js';
import {
  describeObject,
  kinds,
  unwrapObject,
  wrapObject,
  type KindedObject,
  type KindName,
} from './kinds.js';
import { metaProblems, sameMap } from './meta.js';
import { defaultService, nodePortRange, numberToIpv4, serviceProblems, type Cidr } from './service.js';
import { canonicalJson } from '../deployments/revisions.js';

export type ApplyAction = 'created' | 'configured' | 'unchanged';

/** Annotations the controllers write on the objects they manage; a manifest does not remove them. */
export const clusterAnnotationPrefixes = ['deployment.kubernetes.io/'] as const;

/** One object of a request, defaulted and valid. */
export interface PreparedObject {
  index: number;
  object: KindedObject;
  namespace: string;
  name: string;
  key: string;
  /** What the manifest said, before defaults (whether it set replicas, for one). */
  manifest: KindedObject;
}

export interface Prepared {
  objects: PreparedObject[];
  /** "Deployment default/web (objects[1]): spec.replicas: -1 must be 0 or more" */
  problems: string[];
}

function label(kind: string, namespace: string, name: string, index: number): string {
  return `${describeObject(kind, namespace, name || '<no name>')} (objects[${index}])`;
}

/** Defaults and validates each object of a request on its own. */
export function prepareApply(request: readonly ProtoObject[], cidr: Cidr): Prepared {
  const objects: PreparedObject[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  request.forEach((wrapped, index) => {
    const carried = unwrapObject(wrapped);
    const manifest = carried[0];
    if (!manifest || carried.length > 1) {
      problems.push(
        `objects[${index}]: must carry exactly one object (it carries ${carried.length === 0 ? 'none' : carried.map((c) => c.kind).join(' and ')})`,
      );
      return;
    }
    const info = kinds[manifest.kind];
    const meta = manifest.value.metadata;
    const namespace = info.namespaced ? meta?.namespace || 'default' : (meta?.namespace ?? '');
    const name = meta?.name ?? '';
    const where = label(manifest.kind, namespace, name, index);
    if (info.notApplied) {
      problems.push(`${where}: kind ${manifest.kind} cannot be applied: ${info.notApplied}`);
      return;
    }
    const { object, found } = defaultAndValidate(manifest, cidr);
    for (const x of found) problems.push(`${where}: ${x.message}`);
    const key = info.key(namespace, name);
    const earlier = seen.get(`${manifest.kind}/${key}`);
    if (earlier !== undefined) {
      problems.push(`${where}: is also objects[${earlier}]; an object may appear once in an apply`);
    } else seen.set(`${manifest.kind}/${key}`, index);
    if (found.length === 0 && earlier === undefined)
      objects.push({ index, object, namespace, name, key, manifest });
  });
  return { objects, problems };
}

function defaultAndValidate(
  manifest: KindedObject,
  cidr: Cidr,
): { object: KindedObject; found: FieldProblem[] } {
  switch (manifest.kind) {
    case 'Namespace': {
      const value = defaultNamespaceObject(manifest.value);
      return { object: { kind: 'Namespace', value }, found: metaProblems(kinds.Namespace, value.metadata) };
    }
    case 'Deployment': {
      const value = defaultDeployment(manifest.value);
      return { object: { kind: 'Deployment', value }, found: deploymentProblems(value) };
    }
    case 'Service': {
      const value = defaultService(manifest.value);
      return { object: { kind: 'Service', value }, found: serviceProblems(value, cidr) };
    }
    case 'Pod': {
      // CreatePod's rules exactly: its defaults, then its validation.
      const value = newPod(manifest.value, { uid: '', now: new Date(0) });
      return { object: { kind: 'Pod', value }, found: podProblems(value) };
    }
    case 'ReplicaSet':
    case 'Endpoints':
    case 'Node':
    case 'Event':
      // Refused by kind before this (kinds.ts notApplied).
      return { object: manifest, found: [] };
  }
}

function defaultNamespaceObject(input: Namespace): Namespace {
  const meta = input.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: meta?.name ?? '',
      namespace: meta?.namespace ?? '',
      uid: '',
      resourceVersion: '',
      generation: 0,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: { ...(meta?.labels ?? {}) },
      annotations: { ...(meta?.annotations ?? {}) },
      ownerReferences: [],
      deletionGracePeriodSeconds: undefined,
    },
    status: undefined,
  };
}

// ---------------------------------------------------------------------------------------
// Planning against what is stored.

/** Who holds a service IP or node port, as its allocation key records it. */
export interface AllocationOwner {
  namespace: string;
  name: string;
  uid: string;
}

export const allocationCodec = jsonCodec<AllocationOwner>('allocation', (value) => {
  const r = asRecord('allocation', value);
  return {
    namespace: stringField('allocation', r, 'namespace'),
    name: stringField('allocation', r, 'name'),
    uid: stringField('allocation', r, 'uid'),
  };
});

/** What planning reads. */
export interface ApplySnapshot {
  /** The stored object at each prepared key, by key. */
  stored: ReadonlyMap<string, Entry<KindedObject['value']>>;
  /** Namespaces by name (those the request's objects live in). */
  namespaces: ReadonlyMap<string, Namespace>;
  /** Nodes that exist, of those pods name in spec.nodeName. */
  nodes: ReadonlySet<string>;
  /** Allocation keys: service IPs and node ports in use, with their mod revisions. */
  serviceIps: ReadonlyMap<string, Entry<AllocationOwner>>;
  nodePorts: ReadonlyMap<number, Entry<AllocationOwner>>;
}

export interface PlanContext {
  now: Date;
  newUid: () => string;
  cidr: Cidr;
  /** A number in [0, 1): where the search for a free address starts (Math.random in service). */
  random: () => number;
}

export interface PlannedObject {
  index: number;
  action: ApplyAction;
  object: KindedObject;
}

export interface ApplyPlan {
  results: PlannedObject[];
  ops: TxnOp[];
  problems: string[];
}

interface Merge<T> {
  action: ApplyAction;
  value: T;
  problems: FieldProblem[];
}

const clusterOwned = (key: string): boolean => clusterAnnotationPrefixes.some((p) => key.startsWith(p));

function newMeta(incoming: ObjectMeta, ctx: PlanContext): ObjectMeta {
  return {
    ...incoming,
    uid: ctx.newUid(),
    resourceVersion: '',
    generation: 1,
    creationTimestamp: ctx.now.toISOString(),
    deletionTimestamp: '',
    ownerReferences: [],
    deletionGracePeriodSeconds: undefined,
  };
}

/** The stored metadata with the manifest's labels and annotations (keeping the cluster's annotations). */
function updatedMeta(stored: ObjectMeta, incoming: ObjectMeta, specChanged: boolean): ObjectMeta {
  const annotations = { ...incoming.annotations };
  for (const [k, v] of Object.entries(stored.annotations)) {
    if (clusterOwned(k) && !Object.hasOwn(annotations, k)) annotations[k] = v;
  }
  return {
    ...stored,
    labels: { ...incoming.labels },
    annotations,
    generation: specChanged ? stored.generation + 1 : stored.generation,
  };
}

function metaChanged(stored: ObjectMeta, next: ObjectMeta): boolean {
  return !sameMap(stored.labels, next.labels) || !sameMap(stored.annotations, next.annotations);
}

function actionOf(created: boolean, changed: boolean): ApplyAction {
  return created ? 'created' : changed ? 'configured' : 'unchanged';
}

function emptyMeta(): ObjectMeta {
  return {
    name: '',
    namespace: '',
    uid: '',
    resourceVersion: '',
    generation: 0,
    creationTimestamp: '',
    deletionTimestamp: '',
    labels: {},
    annotations: {},
    ownerReferences: [],
  };
}

export function planNamespace(
  stored: Namespace | undefined,
  incoming: Namespace,
  ctx: PlanContext,
): Merge<Namespace> {
  const meta = incoming.metadata ?? emptyMeta();
  if (!stored) {
    return {
      action: 'created',
      value: { ...incoming, metadata: newMeta(meta, ctx), status: { phase: 'Active' } },
      problems: [],
    };
  }
  const was = stored.metadata ?? emptyMeta();
  const problems: FieldProblem[] = [];
  if (stored.status?.phase === 'Terminating') {
    problems.push({
      field: 'metadata.name',
      value: meta.name,
      message: `metadata.name: ${showValue(meta.name)} is being deleted (Terminating); apply it again once it is gone`,
    });
  }
  const next = updatedMeta(was, meta, false);
  return {
    action: actionOf(false, metaChanged(was, next)),
    value: {
      ...stored,
      metadata: next,
      status: stored.status ?? NamespaceStatus.fromJSON({ phase: 'Active' }),
    },
    problems,
  };
}

export function planDeployment(
  stored: Deployment | undefined,
  incoming: Deployment,
  manifest: Deployment,
  ctx: PlanContext,
): Merge<Deployment> {
  const meta = incoming.metadata ?? emptyMeta();
  const spec = incoming.spec ?? DeploymentSpec.fromJSON({});
  if (!stored) {
    return {
      action: 'created',
      value: { ...incoming, metadata: newMeta(meta, ctx), status: DeploymentStatus.fromJSON({}) },
      problems: [],
    };
  }
  const was = stored.metadata ?? emptyMeta();
  const wasSpec = stored.spec ?? DeploymentSpec.fromJSON({});
  const problems: FieldProblem[] = [];
  if (canonicalJson(wasSpec.selector) !== canonicalJson(spec.selector)) {
    problems.push({
      field: 'spec.selector',
      value: spec.selector?.matchLabels,
      message: `spec.selector: ${showValue(spec.selector?.matchLabels)} cannot change (it is ${showValue(wasSpec.selector?.matchLabels)}): a Deployment's selector is immutable; delete the Deployment and apply it again to change it`,
    });
  }
  // What the cluster set since: replicas by deploy scale (when the manifest leaves them
  // out), paused by deploy rollout pause, the restart annotation by deploy rollout restart.
  const replicas = manifest.spec?.replicas === undefined ? wasSpec.replicas : spec.replicas;
  const paused = spec.paused || wasSpec.paused;
  const template = spec.template;
  const restartedAt = wasSpec.template?.metadata?.annotations[podAnnotations.restartedAt];
  const nextTemplate =
    template?.metadata &&
    restartedAt !== undefined &&
    !Object.hasOwn(template.metadata.annotations, podAnnotations.restartedAt)
      ? {
          ...template,
          metadata: {
            ...template.metadata,
            annotations: { ...template.metadata.annotations, [podAnnotations.restartedAt]: restartedAt },
          },
        }
      : template;
  const nextSpec: DeploymentSpec = { ...spec, replicas, paused, template: nextTemplate };
  const specChanged =
    canonicalJson(DeploymentSpec.toJSON(wasSpec)) !== canonicalJson(DeploymentSpec.toJSON(nextSpec));
  const next = updatedMeta(was, meta, specChanged);
  return {
    action: actionOf(false, specChanged || metaChanged(was, next)),
    value: { ...stored, metadata: next, spec: nextSpec },
    problems,
  };
}

/** The name a service port is matched by across applies: its name, else protocol/port. */
const portIdentity = (p: { name: string; protocol: string; port: number }): string =>
  p.name !== '' ? `name:${p.name}` : `${p.protocol}/${p.port}`;

export function planService(
  stored: Service | undefined,
  incoming: Service,
  ctx: PlanContext,
): Merge<Service> {
  const meta = incoming.metadata ?? emptyMeta();
  const spec = incoming.spec ?? ServiceSpec.fromJSON({});
  if (!stored) {
    return { action: 'created', value: { ...incoming, metadata: newMeta(meta, ctx) }, problems: [] };
  }
  const was = stored.metadata ?? emptyMeta();
  const wasSpec = stored.spec ?? ServiceSpec.fromJSON({});
  const problems: FieldProblem[] = [];
  let clusterIP = spec.clusterIP;
  if (clusterIP === '') clusterIP = wasSpec.clusterIP;
  else if (wasSpec.clusterIP !== '' && clusterIP !== wasSpec.clusterIP) {
    problems.push({
      field: 'spec.clusterIP',
      value: clusterIP,
      message: `spec.clusterIP: ${showValue(clusterIP)} cannot change (it is ${showValue(wasSpec.clusterIP)}): leave it empty to keep the assigned address`,
    });
  }
  const kept = new Map(
    wasSpec.ports.filter((p) => p.nodePort !== 0).map((p) => [portIdentity(p), p.nodePort]),
  );
  const ports = spec.ports.map((p) =>
    spec.type === 'NodePort' && p.nodePort === 0 ? { ...p, nodePort: kept.get(portIdentity(p)) ?? 0 } : p,
  );
  const nextSpec: ServiceSpec = { ...spec, clusterIP, ports };
  const specChanged =
    canonicalJson(ServiceSpec.toJSON(wasSpec)) !== canonicalJson(ServiceSpec.toJSON(nextSpec));
  const next = updatedMeta(was, meta, specChanged);
  return {
    action: actionOf(false, specChanged || metaChanged(was, next)),
    value: { ...stored, metadata: next, spec: nextSpec },
    problems,
  };
}

export function planPod(
  stored: Pod | undefined,
  incoming: Pod,
  nodes: ReadonlySet<string>,
  ctx: PlanContext,
): Merge<Pod> {
  const nodeName = incoming.spec?.nodeName ?? '';
  if (!stored) {
    const problems: FieldProblem[] = [];
    const pod: Pod = {
      ...incoming,
      metadata: incoming.metadata && {
        ...incoming.metadata,
        uid: ctx.newUid(),
        creationTimestamp: ctx.now.toISOString(),
      },
    };
    if (nodeName !== '') {
      if (!nodes.has(nodeName)) {
        problems.push({
          field: 'spec.nodeName',
          value: nodeName,
          message: `spec.nodeName: ${showValue(nodeName)} is not a node of the cluster; name one (deploy nodes lists them) or leave it empty`,
        });
      } else if (pod.status) {
        pod.status = { ...pod.status, conditions: [scheduledCondition(true, ctx.now)] };
      }
    }
    return { action: 'created', value: pod, problems };
  }
  // As UpdatePod: only labels, annotations and spec.stopped may change. A manifest without
  // a nodeName leaves the pod where the scheduler bound it.
  const storedNode = stored.spec?.nodeName ?? '';
  const asUpdate: Pod = {
    ...incoming,
    metadata: incoming.metadata && { ...incoming.metadata, uid: '', creationTimestamp: '', generation: 0 },
    spec: incoming.spec && { ...incoming.spec, nodeName: nodeName === '' ? storedNode : nodeName },
  };
  const { pod, problems } = mergePodUpdate(stored, asUpdate);
  const wasMeta = stored.metadata ?? emptyMeta();
  const changed =
    metaChanged(wasMeta, pod.metadata ?? emptyMeta()) ||
    (stored.spec?.stopped ?? false) !== (pod.spec?.stopped ?? false);
  return { action: actionOf(false, changed), value: pod, problems };
}

/** The first free value of [first, last] not in used, searching from a random start. */
export function pickFree(
  first: number,
  last: number,
  used: (n: number) => boolean,
  random: () => number,
): number | undefined {
  const size = last - first + 1;
  const start = Math.floor(random() * size);
  for (let i = 0; i < size; i++) {
    const n = first + ((start + i) % size);
    if (!used(n)) return n;
  }
  return undefined;
}

const owner = (s: Service): AllocationOwner => ({
  namespace: s.metadata?.namespace ?? '',
  name: s.metadata?.name ?? '',
  uid: s.metadata?.uid ?? '',
});

const sameOwner = (a: AllocationOwner, b: AllocationOwner): boolean =>
  a.namespace === b.namespace && a.name === b.name;

/**
 * Gives a planned service its cluster IP and node ports: keeps what it holds, takes what
 * the manifest names when free, picks free ones for the rest, and releases node ports it
 * no longer uses. Every allocation is a key created (expect 0) or deleted (guarded) in the
 * same transaction, so two applies racing for one value cannot both win.
 */
function allocateService(
  service: Service,
  stored: Service | undefined,
  snapshot: ApplySnapshot,
  taken: { ips: Set<string>; ports: Set<number> },
  ctx: PlanContext,
): { value: Service; ops: TxnOp[]; problems: FieldProblem[] } {
  const spec = service.spec ?? ServiceSpec.fromJSON({});
  const me = owner(service);
  const ops: TxnOp[] = [];
  const problems: FieldProblem[] = [];
  const ipHolder = (ip: string): AllocationOwner | undefined => snapshot.serviceIps.get(ip)?.value;
  const portHolder = (port: number): AllocationOwner | undefined => snapshot.nodePorts.get(port)?.value;

  let clusterIP = spec.clusterIP;
  if (clusterIP === '') {
    const n = pickFree(
      ctx.cidr.first,
      ctx.cidr.last,
      (x) => {
        const ip = numberToIpv4(x);
        return snapshot.serviceIps.has(ip) || taken.ips.has(ip);
      },
      ctx.random,
    );
    if (n === undefined) {
      problems.push({
        field: 'spec.clusterIP',
        value: '',
        message: `spec.clusterIP: the service range ${ctx.cidr.text} has no free address left`,
      });
    } else clusterIP = numberToIpv4(n);
  }
  if (clusterIP !== '' && clusterIP !== stored?.spec?.clusterIP) {
    const holder = ipHolder(clusterIP);
    if ((holder && !sameOwner(holder, me)) || taken.ips.has(clusterIP)) {
      problems.push({
        field: 'spec.clusterIP',
        value: clusterIP,
        message: `spec.clusterIP: ${showValue(clusterIP)} is already allocated${holder ? ` to Service ${holder.namespace}/${holder.name}` : ' to another service of this apply'}; leave it empty to have a free one assigned`,
      });
    } else if (!holder) {
      ops.push(putOp(allocationCodec, keys.serviceIp(clusterIP), me, 0));
    }
    taken.ips.add(clusterIP);
  }

  const storedPorts = new Set((stored?.spec?.ports ?? []).map((p) => p.nodePort).filter((p) => p !== 0));
  const ports = spec.ports.map((port, i) => {
    if (spec.type !== 'NodePort') return { ...port, nodePort: 0 };
    let nodePort = port.nodePort;
    if (nodePort === 0) {
      const n = pickFree(
        nodePortRange.min,
        nodePortRange.max,
        (x) => snapshot.nodePorts.has(x) || taken.ports.has(x),
        ctx.random,
      );
      if (n === undefined) {
        problems.push({
          field: `spec.ports[${i}].nodePort`,
          value: 0,
          message: `spec.ports[${i}].nodePort: the node-port range has no free port left`,
        });
        return port;
      }
      nodePort = n;
    }
    if (!storedPorts.has(nodePort)) {
      const holder = portHolder(nodePort);
      if ((holder && !sameOwner(holder, me)) || taken.ports.has(nodePort)) {
        problems.push({
          field: `spec.ports[${i}].nodePort`,
          value: nodePort,
          message: `spec.ports[${i}].nodePort: ${nodePort} is already allocated${holder ? ` to Service ${holder.namespace}/${holder.name}` : ' to another service of this apply'}; leave it 0 to have a free one assigned`,
        });
      } else if (!holder) {
        ops.push(putOp(allocationCodec, keys.nodePort(nodePort), me, 0));
      }
    }
    taken.ports.add(nodePort);
    return { ...port, nodePort };
  });
  const inUse = new Set(ports.map((p) => p.nodePort));
  for (const old of storedPorts) {
    const entry = snapshot.nodePorts.get(old);
    if (!inUse.has(old) && entry && sameOwner(entry.value, me)) {
      ops.push({ type: 'delete', key: keys.nodePort(old), expect: entry.modRevision });
    }
  }
  return { value: { ...service, spec: { ...spec, clusterIP, ports } }, ops, problems };
}

/** Whether anything in a namespace may be applied: it exists and is not being deleted, or this apply creates it. */
function namespaceProblem(
  ns: string,
  snapshot: ApplySnapshot,
  createdHere: ReadonlySet<string>,
): string | undefined {
  const stored = snapshot.namespaces.get(ns);
  if (stored?.status?.phase === 'Terminating') {
    return `namespace "${ns}" is being deleted (Terminating); nothing new can be created in it`;
  }
  if (!stored && !createdHere.has(ns)) {
    return `namespace "${ns}" does not exist; apply a Namespace named "${ns}" first (or in the same apply)`;
  }
  return undefined;
}

/** The whole apply: results in request order, the writes of one transaction, or the problems. */
export function planApply(
  prepared: readonly PreparedObject[],
  snapshot: ApplySnapshot,
  ctx: PlanContext,
): ApplyPlan {
  const results: PlannedObject[] = [];
  const ops: TxnOp[] = [];
  const problems: string[] = [];
  const taken = { ips: new Set<string>(), ports: new Set<number>() };
  const createdNamespaces = new Set(
    prepared.filter((p) => p.object.kind === 'Namespace' && !snapshot.stored.has(p.key)).map((p) => p.name),
  );
  for (const p of prepared) {
    const where = label(p.object.kind, p.namespace, p.name, p.index);
    const entry = snapshot.stored.get(p.key);
    const info = kinds[p.object.kind];
    if (info.namespaced && !entry) {
      const why = namespaceProblem(p.namespace, snapshot, createdNamespaces);
      if (why) problems.push(`${where}: ${why}`);
    }
    let merged: Merge<KindedObject['value']>;
    let object: KindedObject;
    switch (p.object.kind) {
      case 'Namespace': {
        const m = planNamespace(entry?.value as Namespace | undefined, p.object.value, ctx);
        merged = m;
        object = { kind: 'Namespace', value: m.value };
        break;
      }
      case 'Deployment': {
        const manifest = p.manifest.kind === 'Deployment' ? p.manifest.value : p.object.value;
        const m = planDeployment(entry?.value as Deployment | undefined, p.object.value, manifest, ctx);
        merged = m;
        object = { kind: 'Deployment', value: m.value };
        break;
      }
      case 'Service': {
        const stored = entry?.value as Service | undefined;
        const m = planService(stored, p.object.value, ctx);
        const allocated = allocateService(m.value, stored, snapshot, taken, ctx);
        merged = { ...m, problems: [...m.problems, ...allocated.problems] };
        object = { kind: 'Service', value: allocated.value };
        ops.push(...allocated.ops);
        if (m.action === 'configured' || m.action === 'unchanged') {
          // An assignment or release makes an "unchanged" service a configured one.
          const changed = canonicalJson(stored) !== canonicalJson(allocated.value);
          if (m.action === 'unchanged' && changed) merged = { ...merged, action: 'configured' };
        }
        break;
      }
      case 'Pod': {
        const m = planPod(entry?.value as Pod | undefined, p.object.value, snapshot.nodes, ctx);
        merged = m;
        object = { kind: 'Pod', value: m.value };
        break;
      }
      case 'ReplicaSet':
      case 'Endpoints':
      case 'Node':
      case 'Event':
        problems.push(`${where}: kind ${p.object.kind} cannot be applied`);
        continue;
    }
    for (const x of merged.problems) problems.push(`${where}: ${x.message}`);
    results.push({ index: p.index, action: merged.action, object });
    if (merged.action !== 'unchanged') ops.push(objectPut(object, p.key, entry?.modRevision ?? 0));
  }
  return { results, ops, problems };
}

function objectPut(object: KindedObject, key: string, expect: number): TxnOp {
  switch (object.kind) {
    case 'Namespace':
      return putOp(kinds.Namespace.codec, key, object.value, expect);
    case 'Pod':
      return putOp(kinds.Pod.codec, key, object.value, expect);
    case 'Deployment':
      return putOp(kinds.Deployment.codec, key, object.value, expect);
    case 'ReplicaSet':
      return putOp(kinds.ReplicaSet.codec, key, object.value, expect);
    case 'Service':
      return putOp(kinds.Service.codec, key, object.value, expect);
    case 'Endpoints':
      return putOp(kinds.Endpoints.codec, key, object.value, expect);
    case 'Node':
      return putOp(kinds.Node.codec, key, object.value, expect);
    case 'Event':
      return putOp(kinds.Event.codec, key, object.value, expect);
  }
}

/** The object with metadata.resourceVersion set, as a read after the write would show it. */
export function atRevision(object: KindedObject, revision: number): ProtoObject {
  const meta = object.value.metadata;
  // A dry-run create was never stored: no revision to show.
  const resourceVersion = revision > 0 ? String(revision) : '';
  const value = meta ? { ...object.value, metadata: { ...meta, resourceVersion } } : object.value;
  return wrapObject({ kind: object.kind, value } as KindedObject);
}

export type { KindName };
