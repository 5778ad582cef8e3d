// The pod half of the Cluster service: create (bound only when spec.nodeName names a node; the scheduler binds the rest), get, list, update,
// delete (the graceful deletion flow of docs/CONTRACTS.md) and watch. Every call needs an
// admin certificate. The decisions are pure functions in pods/; this file reads and
// writes etcd around them with guarded writes.
import { randomUUID } from 'node:crypto';
import { PodEvent_Type, type ClusterServer, type Pod } from '@flotilla/proto';
import {
  alreadyExists,
  conflict,
  failedPrecondition,
  invalidArgument,
  isFlotillaError,
  notFound,
  validateDnsSubdomain,
  type Logger,
} from '@flotilla/common';
import { parseLabelSelector } from '../labels/labels.js';
import { nodeCodec, podCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { isCompactedError, type Entry, type Store } from '../store/types.js';
import { defaultNamespace, newPod, scheduledCondition } from '../pods/defaults.js';
import { mergePodUpdate } from '../pods/lifecycle.js';
import { deletePod } from '../pods/delete-pod.js';
import { podEventFor, podMatches, type PodFilter } from '../pods/pod-events.js';
import { invalidPod, metadataProblems, validateDnsLabel, validatePod } from '../pods/validate-pod.js';
import { requireAdmin } from './auth.js';
import { serverStream, unary, type StreamRegistry } from './handlers.js';

export type PodMethods = 'createPod' | 'getPod' | 'listPods' | 'updatePod' | 'deletePod' | 'watchPods';

export interface PodServiceDeps {
  store: Store;
  caPem: string;
  streams: StreamRegistry;
  log: Logger;
  now?: () => Date;
}

/** The namespace (default "default") and name of a request, checked. */
function podKey(namespace: string, name: string, field = ''): { ns: string; name: string; key: string } {
  const ns = namespace || defaultNamespace;
  const nsWhy = validateDnsLabel(ns);
  if (nsWhy) {
    throw invalidArgument(`${field}namespace "${ns}" ${nsWhy}`, { field: `${field}namespace`, value: ns });
  }
  const nameWhy = validateDnsSubdomain(name);
  if (nameWhy) {
    throw invalidArgument(`pod ${field}name "${name}" ${nameWhy}`, { field: `${field}name`, value: name });
  }
  return { ns, name, key: keys.pod(ns, name) };
}

/** A list or watch namespace: "" (all namespaces) or a DNS-1123 label. */
function checkNamespaceFilter(namespace: string): void {
  if (namespace === '') return;
  const why = validateDnsLabel(namespace);
  if (why) throw invalidArgument(`namespace "${namespace}" ${why}`, { field: 'namespace', value: namespace });
}

function podNotFound(ns: string, name: string): Error {
  return notFound(`pod "${ns}/${name}" not found`, { object: `pod/${ns}/${name}` });
}

function parseRevision(text: string, field: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalidArgument(`${field} "${text}" must be a resourceVersion the cluster returned (a number)`, {
      field,
      value: text,
    });
  }
  return Number(text);
}

export function createPodService(deps: PodServiceDeps): Pick<ClusterServer, PodMethods> {
  const { store, caPem, streams, log } = deps;
  const now = deps.now ?? (() => new Date());
  const admin = (call: Parameters<typeof requireAdmin>[0], method: string): void => {
    requireAdmin(call, caPem, `Cluster.${method}`);
  };

  /**
   * A pod that names its node is bound at once (the node must exist); any other is stored
   * unbound, and the scheduler loop binds it or marks it Unschedulable.
   */
  async function bindExplicit(pod: Pod, at: Date): Promise<Pod> {
    const spec = pod.spec;
    const status = pod.status;
    if (!spec || !status || spec.nodeName === '') return pod;
    if (!(await store.get(nodeCodec, keys.node(spec.nodeName)))) {
      throw notFound(
        `spec.nodeName: node "${spec.nodeName}" not found; name a node of the cluster (deploy nodes lists them) or leave it empty`,
        { object: `node/${spec.nodeName}`, field: 'spec.nodeName', value: spec.nodeName },
      );
    }
    return { ...pod, status: { ...status, conditions: [scheduledCondition(true, at)] } };
  }

  return {
    createPod: unary('Cluster.CreatePod', log, async (req, call) => {
      admin(call, 'CreatePod');
      if (!req.pod) throw invalidArgument('pod is required', { field: 'pod' });
      const at = now();
      const pod = newPod(req.pod, { uid: randomUUID(), now: at });
      validatePod(pod);
      const ns = pod.metadata?.namespace ?? defaultNamespace;
      const name = pod.metadata?.name ?? '';
      const key = keys.pod(ns, name);
      const taken = (): Error =>
        alreadyExists(
          `pod "${ns}/${name}" already exists; choose another name or remove the existing pod first`,
          { object: `pod/${ns}/${name}`, field: 'metadata.name', value: name },
        );
      // The create below is guarded (only if the key is absent), so a taken name needs no
      // read of its own, one etcd round trip less per pod; a dry run writes nothing and
      // must read. A taken name wins over a missing node, as when the read came first.
      const exists = async (): Promise<boolean> => (await store.get(podCodec, key)) !== undefined;
      if (req.dryRun && (await exists())) throw taken();
      let placed: Pod;
      try {
        placed = await bindExplicit(pod, at);
      } catch (err) {
        if (!req.dryRun && (await exists())) throw taken();
        throw err;
      }
      if (req.dryRun) return placed;
      const created = await store.create(podCodec, key, placed);
      if (!created.created) throw taken();
      const node = placed.spec?.nodeName ?? '';
      if (node !== '') log.info('pod created', { pod: `${ns}/${name}`, node, uid: pod.metadata?.uid });
      else log.info('pod created; the scheduler places it', { pod: `${ns}/${name}`, uid: pod.metadata?.uid });
      return created.entry.value;
    }),

    getPod: unary('Cluster.GetPod', log, async (req, call) => {
      admin(call, 'GetPod');
      const { ns, name, key } = podKey(req.namespace, req.name);
      const entry = await store.get(podCodec, key);
      if (!entry) throw podNotFound(ns, name);
      return entry.value;
    }),

    listPods: unary('Cluster.ListPods', log, async (req, call) => {
      admin(call, 'ListPods');
      checkNamespaceFilter(req.namespace);
      const filter: PodFilter = {
        namespace: req.namespace,
        name: '',
        selector: parseLabelSelector(req.labelSelector),
        nodeName: req.nodeName,
      };
      const prefix = req.namespace !== '' ? keys.pod(req.namespace, '') : keys.pods;
      const { entries, revision } = await store.list(podCodec, prefix);
      const items = entries.map((e) => e.value).filter((p) => podMatches(filter, p));
      return { resourceVersion: String(revision), items };
    }),

    updatePod: unary('Cluster.UpdatePod', log, async (req, call) => {
      admin(call, 'UpdatePod');
      const incoming = req.pod;
      if (!incoming?.metadata) throw invalidArgument('pod.metadata is required', { field: 'pod.metadata' });
      const { ns, name, key } = podKey(incoming.metadata.namespace, incoming.metadata.name, 'metadata.');
      const rvText = incoming.metadata.resourceVersion;
      if (rvText === '') {
        throw invalidArgument(
          'metadata.resourceVersion is required: send the pod as read (GetPod) with your changes, so a concurrent change is not overwritten',
          { field: 'metadata.resourceVersion' },
        );
      }
      const rv = parseRevision(rvText, 'metadata.resourceVersion');
      const entry = await store.get(podCodec, key);
      if (!entry) throw podNotFound(ns, name);
      const stale = (): Error =>
        conflict(
          `pod "${ns}/${name}" changed since resourceVersion ${rv}; read it again and apply your change to what it is now`,
          { object: `pod/${ns}/${name}`, field: 'metadata.resourceVersion', value: rvText },
        );
      if (entry.modRevision !== rv) throw stale();
      const { pod, problems } = mergePodUpdate(entry.value, incoming);
      problems.push(...metadataProblems(pod));
      if (problems.length > 0)
        throw invalidPod(`update of pod "${ns}/${name}"`, `pod/${ns}/${name}`, problems);
      let written: Entry<Pod>;
      try {
        written = await store.update(podCodec, key, pod, rv);
      } catch (err) {
        if (isFlotillaError(err, 'Conflict')) throw stale();
        throw err;
      }
      log.info('pod updated', { pod: `${ns}/${name}`, stopped: pod.spec?.stopped ?? false });
      return written.value;
    }),

    deletePod: unary('Cluster.DeletePod', log, async (req, call) => {
      admin(call, 'DeletePod');
      const { ns, name } = podKey(req.namespace, req.name);
      const grace = req.gracePeriodSeconds;
      if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) {
        throw invalidArgument(`gracePeriodSeconds ${grace} must be 0 or more`, {
          field: 'gracePeriodSeconds',
          value: grace,
        });
      }
      return deletePod(
        store,
        ns,
        name,
        { gracePeriodSeconds: grace, force: req.force, uid: req.uid },
        now,
        log,
      );
    }),

    watchPods: serverStream('Cluster.WatchPods', log, streams, async (req, call, send, signal) => {
      admin(call, 'WatchPods');
      checkNamespaceFilter(req.namespace);
      const filter: PodFilter = {
        namespace: req.namespace,
        name: req.name,
        selector: parseLabelSelector(req.labelSelector),
      };
      const prefix = req.namespace !== '' ? keys.pod(req.namespace, '') : keys.pods;
      let after: number;
      if (req.resourceVersion === '' || req.resourceVersion === '0') {
        const list = await store.list(podCodec, prefix);
        for (const e of list.entries) {
          if (podMatches(filter, e.value)) await send({ type: PodEvent_Type.ADDED, pod: e.value });
        }
        after = list.revision;
      } else {
        after = parseRevision(req.resourceVersion, 'resourceVersion');
      }
      try {
        for await (const ev of store.watch(podCodec, prefix, after, signal)) {
          const event = podEventFor(filter, ev);
          if (event) await send(event);
        }
      } catch (err) {
        if (!isCompactedError(err)) throw err;
        throw failedPrecondition(
          `resourceVersion ${after} is too old: its history was compacted; list the pods again and watch from the list's resourceVersion`,
          { field: 'resourceVersion', value: String(after) },
        );
      }
    }),
  };
}
