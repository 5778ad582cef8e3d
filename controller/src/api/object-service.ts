// The declarative object API over every kind (docs/CONTRACTS.md, "Object API"): Apply,
// GetObject, ListObjects, WatchObjects, DeleteObject, CordonNode and EvictPod. The
// decisions are pure (objects/); this file reads etcd around them and writes with guarded
// transactions. Scale and Rollout are served by deployment-service.ts.
import { randomUUID } from 'node:crypto';
import {
  PodEvent_Type,
  type ClusterServer,
  type Deployment,
  type Namespace,
  type Node,
  type Object as ProtoObject,
  type ReplicaSet,
} from '@flotilla/proto';
import {
  failedPrecondition,
  invalidArgument,
  isFlotillaError,
  notFound,
  resourceExhausted,
  validateDnsLabel,
  validateDnsSubdomain,
  type Logger,
} from '@flotilla/common';
import type { EventRecorder } from '../events/recorder.js';
import { parseLabelSelector } from '../labels/labels.js';
import { deletePod } from '../pods/delete-pod.js';
import {
  allocationCodec,
  atRevision,
  planApply,
  prepareApply,
  type AllocationOwner,
  type ApplySnapshot,
  type PreparedObject,
} from '../objects/apply-plan.js';
import { evictionVerdict } from '../objects/eviction.js';
import { controllerOf } from '../deployments/revisions.js';
import {
  objectEventFor,
  objectMatches,
  parseEventFieldSelector,
  type ObjectFilter,
} from '../objects/filter.js';
import type { GarbageCollector } from '../objects/garbage-collector.js';
import {
  describeObject,
  kindOf,
  kinds,
  nameProblem,
  wrapStored,
  type KindedObject,
  type KindInfo,
} from '../objects/kinds.js';
import { serviceDeleteOps } from '../objects/service-release.js';
import { nodeDeleteOps } from '../nodes/registration.js';
import { parseCidr, defaultServiceCidr, type Cidr } from '../objects/service.js';
import {
  deploymentCodec,
  namespaceCodec,
  nodeCodec,
  podCodec,
  replicaSetCodec,
  serviceCodec,
} from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { modify } from '../store/modify.js';
import { isCompactedError, type Entry, type Store, type TxnOp } from '../store/types.js';
import { requireAdmin } from './auth.js';
import { serverStream, unary, type StreamRegistry } from './handlers.js';

export type ObjectMethods = Pick<
  ClusterServer,
  'apply' | 'getObject' | 'listObjects' | 'watchObjects' | 'deleteObject' | 'cordonNode' | 'evictPod'
>;

export interface ObjectServiceDeps {
  store: Store;
  caPem: string;
  streams: StreamRegistry;
  log: Logger;
  events: EventRecorder;
  /** Where Service cluster IPs come from (--service-cidr); 10.96.0.0/16. */
  serviceCidr?: string;
  /** Finishes cascades and Terminating namespaces; asked for a pass after such a delete. */
  garbage?: GarbageCollector;
  now?: () => Date;
  random?: () => number;
}

/** Applies that conflict with another writer (racing for one service IP, say) decide again from a fresh read this often. */
const applyAttempts = 16;

function parseRevision(text: string, field: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalidArgument(`${field} "${text}" must be a resourceVersion the cluster returned (a number)`, {
      field,
      value: text,
    });
  }
  return Number(text);
}

/** The namespace and name of a request for one object of info's kind, checked. */
function objectName(
  info: KindInfo,
  namespace: string,
  name: string,
): { ns: string; name: string; key: string } {
  const ns = info.namespaced ? namespace || 'default' : '';
  if (info.namespaced) {
    const why = validateDnsLabel(ns);
    if (why) throw invalidArgument(`namespace "${ns}" ${why}`, { field: 'namespace', value: ns });
  }
  const why = nameProblem(info, name);
  if (why) throw invalidArgument(`${info.kind} name "${name}" ${why}`, { field: 'name', value: name });
  return { ns, name, key: info.key(ns, name) };
}

function namespaceFilter(info: KindInfo, namespace: string): string {
  if (!info.namespaced || namespace === '') return '';
  const why = validateDnsLabel(namespace);
  if (why) throw invalidArgument(`namespace "${namespace}" ${why}`, { field: 'namespace', value: namespace });
  return namespace;
}

function objectNotFound(info: KindInfo, ns: string, name: string): Error {
  return notFound(`${describeObject(info.kind, ns, name)} not found`, {
    object: `${info.kind.toLowerCase()}/${ns ? `${ns}/` : ''}${name}`,
  });
}

/** Runs fn again from a fresh read while its guarded write conflicts (a status update raced it). */
async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isFlotillaError(err, 'Conflict') || attempt >= attempts) throw err;
    }
  }
}

const jitter = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));

export function createObjectService(deps: ObjectServiceDeps): ObjectMethods {
  const { store, caPem, streams, log, events } = deps;
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const cidr: Cidr = parseCidr(deps.serviceCidr ?? defaultServiceCidr);
  const admin = (call: Parameters<typeof requireAdmin>[0], method: string): void => {
    requireAdmin(call, caPem, `Cluster.${method}`);
  };

  /** What planning an apply of prepared needs to read. */
  async function snapshotFor(prepared: readonly PreparedObject[]): Promise<ApplySnapshot> {
    const stored = new Map<string, Entry<KindedObject['value']>>();
    const reads: Promise<void>[] = prepared.map(async (p) => {
      const info: KindInfo = kinds[p.object.kind];
      const entry = await store.get(info.codec, p.key);
      if (entry) stored.set(p.key, entry);
    });
    const namespaces = new Map<string, Namespace>();
    const nsNames = new Set(prepared.filter((p) => kinds[p.object.kind].namespaced).map((p) => p.namespace));
    for (const ns of nsNames) {
      reads.push(
        store.get(namespaceCodec, keys.namespace(ns)).then((e) => {
          if (e) namespaces.set(ns, e.value);
        }),
      );
    }
    const nodes = new Set<string>();
    for (const p of prepared) {
      const node = p.object.kind === 'Pod' ? (p.object.value.spec?.nodeName ?? '') : '';
      if (node !== '') {
        reads.push(
          store.get(nodeCodec, keys.node(node)).then((e) => {
            if (e) nodes.add(node);
          }),
        );
      }
    }
    const serviceIps = new Map<string, Entry<AllocationOwner>>();
    const nodePorts = new Map<number, Entry<AllocationOwner>>();
    if (prepared.some((p) => p.object.kind === 'Service')) {
      reads.push(
        store.list(allocationCodec, keys.serviceIps).then((l) => {
          for (const e of l.entries) serviceIps.set(e.key.slice(keys.serviceIps.length), e);
        }),
        store.list(allocationCodec, keys.nodePorts).then((l) => {
          for (const e of l.entries) nodePorts.set(Number(e.key.slice(keys.nodePorts.length)), e);
        }),
      );
    }
    await Promise.all(reads);
    return { stored, namespaces, nodes, serviceIps, nodePorts };
  }

  async function deleteDeployment(entry: Entry<Deployment>, dryRun: boolean): Promise<void> {
    const uid = entry.value.metadata?.uid ?? '';
    const ns = entry.value.metadata?.namespace ?? '';
    const { entries } = await store.list(replicaSetCodec, keys.replicaSet(ns, ''));
    const owned = entries.filter((r) => {
      const o = controllerOf(r.value);
      return o?.kind === 'Deployment' && o.uid === uid;
    });
    if (dryRun) return;
    // The Deployment and its ReplicaSets in one transaction, so no reconciler sees a
    // ReplicaSet without its owner half-way; the pods then leave gracefully.
    await store.commit([
      { type: 'delete', key: entry.key, expect: entry.modRevision },
      ...owned.map((r): TxnOp => ({ type: 'delete', key: r.key, expect: r.modRevision })),
    ]);
    const rsUids = new Set(owned.map((r) => r.value.metadata?.uid));
    const pods = await store.list(podCodec, keys.pod(ns, ''));
    for (const p of pods.entries) {
      const o = controllerOf(p.value);
      if (o?.kind !== 'ReplicaSet' || !rsUids.has(o.uid) || p.value.metadata?.deletionTimestamp) continue;
      await deletePod(
        store,
        ns,
        p.value.metadata?.name ?? '',
        { uid: p.value.metadata?.uid ?? '' },
        now,
        log,
      ).catch((err: unknown) => {
        // Gone or replaced meanwhile; the garbage collector catches what is left.
        if (!isFlotillaError(err, 'NotFound') && !isFlotillaError(err, 'Conflict')) throw err;
      });
    }
    log.info('deployment deleted', {
      deployment: `${ns}/${entry.value.metadata?.name ?? ''}`,
      replicaSets: owned.length,
    });
    // Pods a reconciler created while this ran have an owner that is gone: collected next.
    void deps.garbage?.collect();
  }

  return {
    apply: unary('Cluster.Apply', log, async (req, call) => {
      admin(call, 'Apply');
      if (req.objects.length === 0) throw invalidArgument('objects: nothing to apply', { field: 'objects' });
      const prepared = prepareApply(req.objects, cidr);
      if (prepared.problems.length > 0) {
        throw invalidArgument(`apply refused, nothing was written: ${prepared.problems.join('; ')}`, {
          field: 'objects',
        });
      }
      for (let attempt = 1; ; attempt++) {
        const snapshot = await snapshotFor(prepared.objects);
        const at = now();
        const plan = planApply(prepared.objects, snapshot, { now: at, newUid: randomUUID, cidr, random });
        if (plan.problems.length > 0) {
          throw invalidArgument(`apply refused, nothing was written: ${plan.problems.join('; ')}`, {
            field: 'objects',
          });
        }
        if (req.dryRun || plan.ops.length === 0) {
          return {
            results: plan.results.map((r) => ({
              object: atRevision(r.object, Number(r.object.value.metadata?.resourceVersion ?? 0)),
              action: r.action,
            })),
          };
        }
        try {
          const { revision } = await store.commit(plan.ops);
          log.info('applied', {
            objects: plan.results.map(
              (r) =>
                `${r.object.kind} ${r.object.value.metadata?.namespace ?? ''}/${r.object.value.metadata?.name ?? ''} ${r.action}`,
            ),
            revision,
          });
          return {
            results: plan.results.map((r) => ({
              object: atRevision(
                r.object,
                r.action === 'unchanged' ? Number(r.object.value.metadata?.resourceVersion ?? 0) : revision,
              ),
              action: r.action,
            })),
          };
        } catch (err) {
          if (!isFlotillaError(err, 'Conflict') || attempt >= applyAttempts) throw err;
          log.debug('apply conflicted; planning again', { attempt, err: err.message });
          await jitter(attempt);
        }
      }
    }),

    getObject: unary('Cluster.GetObject', log, async (req, call) => {
      admin(call, 'GetObject');
      const info = kindOf(req.kind);
      const { ns, name, key } = objectName(info, req.namespace, req.name);
      const entry = await store.get(info.codec, key);
      if (!entry) throw objectNotFound(info, ns, name);
      return wrapStored(info, entry.value);
    }),

    listObjects: unary('Cluster.ListObjects', log, async (req, call) => {
      admin(call, 'ListObjects');
      const info = kindOf(req.kind);
      const namespace = namespaceFilter(info, req.namespace);
      if (req.fieldSelector !== '' && info.kind !== 'Event') {
        throw invalidArgument(`fieldSelector is only supported for Events, not ${info.kind}`, {
          field: 'fieldSelector',
          value: req.fieldSelector,
        });
      }
      const filter: ObjectFilter = {
        namespace,
        name: '',
        selector: parseLabelSelector(req.labelSelector),
        fields: parseEventFieldSelector(req.fieldSelector),
      };
      const { entries, revision } = await store.list(info.codec, info.prefix(namespace));
      const items: ProtoObject[] = entries
        .map((e) => e.value)
        .filter((v) => objectMatches(filter, v))
        .map((v) => wrapStored(info, v));
      return { resourceVersion: String(revision), items };
    }),

    watchObjects: serverStream('Cluster.WatchObjects', log, streams, async (req, call, send, signal) => {
      admin(call, 'WatchObjects');
      const info = kindOf(req.kind);
      const namespace = namespaceFilter(info, req.namespace);
      const filter: ObjectFilter = {
        namespace,
        name: req.name,
        selector: parseLabelSelector(req.labelSelector),
      };
      const prefix = info.prefix(namespace);
      let after: number;
      if (req.resourceVersion === '' || req.resourceVersion === '0') {
        const list = await store.list(info.codec, prefix);
        for (const e of list.entries) {
          if (objectMatches(filter, e.value))
            await send({ type: PodEvent_Type.ADDED, object: wrapStored(info, e.value) });
        }
        after = list.revision;
      } else {
        after = parseRevision(req.resourceVersion, 'resourceVersion');
      }
      try {
        for await (const ev of store.watch(info.codec, prefix, after, signal)) {
          // A namespace prefix "pods/default/" never holds another namespace's keys; the
          // all-namespaces prefix of a cluster-scoped kind holds only that kind.
          const out = objectEventFor(filter, ev);
          if (out) await send({ type: out.type, object: wrapStored(info, out.value) });
        }
      } catch (err) {
        if (!isCompactedError(err)) throw err;
        throw failedPrecondition(
          `resourceVersion ${after} is too old: its history was compacted; list again and watch from the list's resourceVersion`,
          { field: 'resourceVersion', value: String(after) },
        );
      }
    }),

    deleteObject: unary('Cluster.DeleteObject', log, async (req, call) => {
      admin(call, 'DeleteObject');
      const info = kindOf(req.kind);
      const { ns, name, key } = objectName(info, req.namespace, req.name);
      const grace = req.gracePeriodSeconds;
      if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) {
        throw invalidArgument(`gracePeriodSeconds ${grace} must be 0 or more`, {
          field: 'gracePeriodSeconds',
          value: grace,
        });
      }
      switch (info.kind) {
        case 'Pod': {
          const pod = await deletePod(
            store,
            ns,
            name,
            { gracePeriodSeconds: grace, dryRun: req.dryRun },
            now,
            log,
          );
          return { pod };
        }
        case 'Deployment':
          return retryOnConflict(async () => {
            const entry = await store.get(deploymentCodec, key);
            if (!entry) throw objectNotFound(info, ns, name);
            await deleteDeployment(entry, req.dryRun);
            return { deployment: entry.value };
          });
        case 'Service':
          return retryOnConflict(async () => {
            const entry = await store.get(serviceCodec, key);
            if (!entry) throw objectNotFound(info, ns, name);
            if (!req.dryRun) {
              await store.commit(serviceDeleteOps(entry));
              log.info('service deleted', {
                service: `${ns}/${name}`,
                clusterIP: entry.value.spec?.clusterIP,
              });
            }
            return { service: entry.value };
          });
        case 'Namespace': {
          if (name === 'default') {
            throw failedPrecondition('namespace "default" cannot be deleted: the cluster keeps it', {
              object: 'namespace/default',
            });
          }
          const entry = await store.get(namespaceCodec, key);
          if (!entry) throw objectNotFound(info, ns, name);
          if (req.dryRun) return { namespace: entry.value };
          const at = now().toISOString();
          const marked = await modify(store, namespaceCodec, key, (n) =>
            n.status?.phase === 'Terminating'
              ? undefined
              : {
                  ...n,
                  metadata: n.metadata && { ...n.metadata, deletionTimestamp: at },
                  status: { phase: 'Terminating' },
                },
          );
          if (!marked) throw objectNotFound(info, ns, name);
          log.info('namespace terminating', { namespace: name });
          void deps.garbage?.collect();
          return { namespace: marked.value };
        }
        // Deleted Endpoints are written again by the endpoints loop while the service lasts.
        case 'ReplicaSet':
        case 'Endpoints':
        case 'Node':
        case 'Event':
          return retryOnConflict(async () => {
            const entry = await store.get(info.codec, key);
            if (!entry) throw objectNotFound(info, ns, name);
            if (!req.dryRun) {
              // A Node's pod CIDR is released in the same transaction (nodes/registration.ts).
              await store.commit(
                info.kind === 'Node'
                  ? nodeDeleteOps(entry as Entry<Node>)
                  : [{ type: 'delete', key, expect: entry.modRevision }],
              );
              // A ReplicaSet's pods are collected as orphans.
              if (info.kind === 'ReplicaSet') void deps.garbage?.collect();
            }
            return wrapStored(info, entry.value);
          });
      }
    }),

    cordonNode: unary('Cluster.CordonNode', log, async (req, call) => {
      admin(call, 'CordonNode');
      const why = validateDnsSubdomain(req.name);
      if (why) throw invalidArgument(`node name "${req.name}" ${why}`, { field: 'name', value: req.name });
      let changed = false;
      const entry = await modify(store, nodeCodec, keys.node(req.name), (node): Node | undefined => {
        if ((node.spec?.unschedulable ?? false) === req.unschedulable) return undefined;
        changed = true;
        return {
          ...node,
          spec: { podCIDR: '', taints: [], ...node.spec, unschedulable: req.unschedulable },
        };
      });
      if (!entry) throw objectNotFound(kinds.Node, '', req.name);
      if (changed) {
        const reason = req.unschedulable ? 'NodeNotSchedulable' : 'NodeSchedulable';
        events.record({
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Node',
            namespace: '',
            name: req.name,
            uid: entry.value.metadata?.uid ?? '',
            resourceVersion: '',
            fieldPath: '',
          },
          type: 'Normal',
          reason,
          message: `Node ${req.name} status is now: ${reason}`,
        });
        log.info(req.unschedulable ? 'node cordoned' : 'node uncordoned', { node: req.name });
      }
      return entry.value;
    }),

    evictPod: unary('Cluster.EvictPod', log, async (req, call) => {
      admin(call, 'EvictPod');
      const { ns, name, key } = objectName(kinds.Pod, req.namespace, req.name);
      const grace = req.gracePeriodSeconds;
      if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) {
        throw invalidArgument(`gracePeriodSeconds ${grace} must be 0 or more`, {
          field: 'gracePeriodSeconds',
          value: grace,
        });
      }
      const entry = await store.get(podCodec, key);
      if (!entry) throw objectNotFound(kinds.Pod, ns, name);
      if (!entry.value.metadata?.deletionTimestamp) {
        const [replicaSets, deployments, pods] = await Promise.all([
          store.list(replicaSetCodec, keys.replicaSet(ns, '')),
          store.list(deploymentCodec, keys.deployment(ns, '')),
          store.list(podCodec, keys.pod(ns, '')),
        ]);
        const verdict = evictionVerdict(
          entry.value,
          {
            replicaSets: replicaSets.entries.map((e): ReplicaSet => e.value),
            deployments: deployments.entries.map((e): Deployment => e.value),
            pods: pods.entries.map((e) => e.value),
          },
          now(),
        );
        if (!verdict.allowed) {
          throw resourceExhausted(verdict.message, { object: `pod/${ns}/${name}` });
        }
      }
      // Guarded by uid: a pod of the same name created since is not the one judged.
      const pod = await deletePod(
        store,
        ns,
        name,
        { gracePeriodSeconds: grace, uid: entry.value.metadata?.uid ?? '' },
        now,
        log,
      );
      events.record({
        involvedObject: {
          apiVersion: 'v1',
          kind: 'Pod',
          namespace: ns,
          name,
          uid: pod.metadata?.uid ?? '',
          resourceVersion: '',
          fieldPath: '',
        },
        type: 'Normal',
        reason: 'Evicted',
        message: `Evicted pod ${ns}/${name}${pod.spec?.nodeName ? ` from node ${pod.spec.nodeName}` : ''}`,
      });
      return pod;
    }),
  };
}
