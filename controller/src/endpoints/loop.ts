// The endpoints loop (leader only): keeps every Service's Endpoints equal to what
// decide.ts says its pods make. Informers over services, pods and endpoints route each
// change to the services it can affect (a pod: the services of its namespace whose
// selector matches its old or its new labels); the dirty services are decided from the
// informers' copies and written together, fenced by the leadership, in one commit per
// hundred services.
//
// No timers between a change and its write: a change marks services dirty and a flush
// runs on the next turn of the event loop; changes that arrive during a flush's commit
// are the next flush. So a pod turning Ready, or marked for deletion, is in (or out of)
// its Endpoints one etcd round trip after the controller sees it.
//
// Deciding from the copies is safe here (unlike the deployment loop): an Endpoints object
// is a function of the current pods, so a decision from a copy that lags is corrected by
// the change that brings it up to date. Writes are guarded by the stored Endpoints'
// revision; the loop remembers its own writes so it need not wait for its watch to see
// them, and a conflict re-reads the key and decides again.
import { randomUUID } from 'node:crypto';
import type { Endpoints, Node, Pod, Service } from '@flotilla/proto';
import { errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import { commitAsLeader, type Leadership } from '../leader/candidate.js';
import { isNodeReady } from '../nodes/conditions.js';
import { endpointsCodec, podCodec, serviceCodec } from '../store/codecs.js';
import { Informer, type InformerChange, type WatchSource } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { putOp, type Store, type TxnOp } from '../store/types.js';
import {
  decideEndpointsWrite,
  desiredEndpoints,
  selectorMatches,
  type EndpointsAction,
  type StoredEndpoints,
} from './decide.js';

export interface EndpointsLoopOptions {
  store: Store;
  log: Logger;
  leadership?: Leadership;
  now?: () => Date;
  uid?: () => string;
  /**
   * The controller's shared pod watch (PodWatchHub.watch): the loop's pod copy follows it
   * instead of opening another watch of pods/.
   */
  podWatch?: WatchSource<Pod>;
  /**
   * The controller's running node informer: pods on a node that is not Ready are not
   * ready addresses. Without it every node counts as Ready.
   */
  nodes?: Informer<Node>;
  /**
   * Running informers of services and endpoints to share (the cluster network's, which
   * every replica keeps); without them the loop makes and runs its own.
   */
  informers?: { services?: Informer<Service>; endpoints?: Informer<Endpoints> };
  /** Services per commit (etcd allows 128 operations in a transaction; the fence is one). */
  batchSize?: number;
}

export interface EndpointsLoop {
  /** Resolves once the informers have synced and the first flush has been written. */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

const conflictRetryMs = 20;
const maxBackoffMs = 5_000;

/** "namespace/name" of a key under prefix ("services/ns/name" → "ns/name"). */
const queueKey = (storeKey: string, prefix: string): string => storeKey.slice(prefix.length);

function split(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

const namespaceOf = (o: { metadata?: { namespace: string } | undefined }): string =>
  o.metadata?.namespace || 'default';

/** A write of the loop's own that its informer may not have seen yet. */
interface Written {
  modRevision: number;
  /** undefined: deleted. */
  value: Endpoints | undefined;
}

export function startEndpointsLoop(options: EndpointsLoopOptions): EndpointsLoop {
  const { store, log } = options;
  const now = options.now ?? (() => new Date());
  const uid = options.uid ?? randomUUID;
  const batchSize = options.batchSize ?? 100;
  const commit = (ops: TxnOp[]): Promise<{ revision: number }> =>
    options.leadership ? commitAsLeader(store, options.leadership, ops) : store.commit(ops);
  const abort = new AbortController();
  const informerLog = log.child({ layer: 'informer' });
  const services =
    options.informers?.services ?? new Informer<Service>(store, serviceCodec, keys.services, informerLog);
  const endpoints =
    options.informers?.endpoints ??
    new Informer<Endpoints>(store, endpointsCodec, keys.endpoints, informerLog);
  const pods = new Informer<Pod>(store, podCodec, keys.pods, informerLog, options.podWatch);

  // Indexes kept from the informers' changes: the pods and the services of each namespace.
  const podsByNamespace = new Map<string, Map<string, Pod>>();
  /** "namespace/name" of the pods bound to each node, for node readiness changes. */
  const podsByNode = new Map<string, Set<string>>();
  const nodes = options.nodes;
  const nodeReady = nodes
    ? (name: string): boolean => {
        const node = nodes.get(keys.node(name));
        return node !== undefined && isNodeReady(node);
      }
    : undefined;
  const servicesByNamespace = new Map<string, Set<string>>();
  const written = new Map<string, Written>();
  const dirty = new Set<string>();
  const failures = new Map<string, number>();
  let ready = false;
  let scheduled = false;
  let flushing: Promise<void> | undefined;
  const retryTimers = new Set<NodeJS.Timeout>();
  let stopped = false;

  const index = <T>(map: Map<string, Map<string, T>>, ns: string): Map<string, T> => {
    let m = map.get(ns);
    if (!m) map.set(ns, (m = new Map<string, T>()));
    return m;
  };

  function schedule(): void {
    if (!ready || scheduled || flushing || stopped || dirty.size === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (stopped || flushing) return;
      flushing = flush()
        .catch((err: unknown) => log.error('endpoints flush failed', { err: errorMessage(err) }))
        .finally(() => {
          flushing = undefined;
          schedule();
        });
    });
  }

  function mark(key: string): void {
    dirty.add(key);
    schedule();
  }

  function retryLater(keysToRetry: readonly string[], delayMs: number): void {
    for (const k of keysToRetry) failures.set(k, (failures.get(k) ?? 0) + 1);
    const pending = [...keysToRetry];
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      for (const k of pending) dirty.add(k);
      schedule();
    }, delayMs);
    timer.unref();
    retryTimers.add(timer);
  }

  const unsubscribe: (() => void)[] = [];
  unsubscribe.push(
    services.onChange((change: InformerChange<Service>) => {
      const key = queueKey(change.key, keys.services);
      const { namespace } = split(key);
      let set = servicesByNamespace.get(namespace);
      if (change.type === 'put') {
        if (!set) servicesByNamespace.set(namespace, (set = new Set()));
        set.add(key);
      } else {
        set?.delete(key);
        if (set?.size === 0) servicesByNamespace.delete(namespace);
      }
      mark(key);
    }),
  );
  /** Marks the services of namespace whose selector matches any of labels. */
  function markMatching(namespace: string, ...labels: (Record<string, string> | undefined)[]): void {
    for (const key of servicesByNamespace.get(namespace) ?? []) {
      const svc = services.get(`${keys.services}${key}`);
      if (svc && labels.some((l) => selectorMatches(svc, l))) mark(key);
    }
  }

  unsubscribe.push(
    pods.onChange((change: InformerChange<Pod>) => {
      const podKey = queueKey(change.key, keys.pods);
      const { namespace, name } = split(podKey);
      const current = change.type === 'put' ? change.value : undefined;
      if (current) index(podsByNamespace, namespace).set(name, current);
      else {
        const m = podsByNamespace.get(namespace);
        m?.delete(name);
        if (m?.size === 0) podsByNamespace.delete(namespace);
      }
      const before = change.previous?.spec?.nodeName ?? '';
      const after = current?.spec?.nodeName ?? '';
      if (before !== after && before) {
        const set = podsByNode.get(before);
        set?.delete(podKey);
        if (set?.size === 0) podsByNode.delete(before);
      }
      if (after) {
        let set = podsByNode.get(after);
        if (!set) podsByNode.set(after, (set = new Set()));
        set.add(podKey);
      }
      markMatching(namespace, current?.metadata?.labels, change.previous?.metadata?.labels);
    }),
  );
  // A node turning Ready or not changes whether its pods are ready addresses.
  if (nodes) {
    unsubscribe.push(
      nodes.onChange((change) => {
        const was = change.previous !== undefined && isNodeReady(change.previous);
        const is = change.type === 'put' && isNodeReady(change.value);
        if (was === is) return;
        const name = change.key.slice(keys.nodes.length);
        for (const podKey of podsByNode.get(name) ?? []) {
          const { namespace, name: podName } = split(podKey);
          const pod = podsByNamespace.get(namespace)?.get(podName);
          if (pod) markMatching(namespace, pod.metadata?.labels);
        }
      }),
    );
  }
  unsubscribe.push(
    endpoints.onChange((change) => {
      const key = queueKey(change.key, keys.endpoints);
      const own = written.get(key);
      if (own) {
        // Watch events come in revision order: once the copy has the loop's write, the
        // copy is as new, and any later change (a delete through the API) is someone
        // else's. A re-list that disagrees is healed by the guarded write's conflict.
        const caughtUp =
          change.type === 'put' ? change.modRevision >= own.modRevision : own.value === undefined;
        const ours = change.type === 'put' ? change.modRevision === own.modRevision : own.value === undefined;
        if (caughtUp) written.delete(key);
        // The loop's own write coming back: nothing to decide.
        if (ours) return;
      }
      mark(key);
    }),
  );

  /** The stored Endpoints as far as this loop knows: its informer's copy or its own newer write. */
  function storedOf(key: string): StoredEndpoints | undefined {
    const storeKey = `${keys.endpoints}${key}`;
    const cached = endpoints.get(storeKey);
    const cachedRevision = endpoints.modRevision(storeKey) ?? 0;
    const own = written.get(key);
    if (own && own.modRevision > cachedRevision) {
      return own.value ? { value: own.value, modRevision: own.modRevision } : undefined;
    }
    if (own) written.delete(key);
    return cached ? { value: cached, modRevision: cachedRevision } : undefined;
  }

  function decide(key: string): EndpointsAction | undefined {
    const { namespace, name } = split(key);
    const service = services.get(keys.service(namespace, name));
    const nsPods = [...(podsByNamespace.get(namespace)?.values() ?? [])];
    const desired = service ? desiredEndpoints(service, nsPods, { nodeReady }) : undefined;
    return decideEndpointsWrite(namespace, name, service, desired, storedOf(key), { now: now(), uid });
  }

  function opOf(action: EndpointsAction): TxnOp {
    const key = keys.endpointsOf(action.key.namespace, action.key.name);
    if (action.type === 'delete') return { type: 'delete', key, expect: action.expect };
    return putOp(endpointsCodec, key, action.value, action.type === 'create' ? 0 : action.expect);
  }

  async function flush(): Promise<void> {
    const batch = [...dirty];
    dirty.clear();
    const actions: EndpointsAction[] = [];
    for (const key of batch) {
      const action = decide(key);
      if (action) actions.push(action);
      else failures.delete(key);
    }
    for (let i = 0; i < actions.length; i += batchSize) {
      if (stopped) return;
      const chunk = actions.slice(i, i + batchSize);
      const chunkKeys = chunk.map((a) => `${a.key.namespace}/${a.key.name}`);
      try {
        const { revision } = await commit(chunk.map(opOf));
        chunk.forEach((a, j) => {
          const k = chunkKeys[j] ?? '';
          failures.delete(k);
          written.set(k, {
            modRevision: revision,
            value:
              a.type === 'delete'
                ? undefined
                : {
                    ...a.value,
                    metadata: a.value.metadata && { ...a.value.metadata, resourceVersion: String(revision) },
                  },
          });
          if (a.type === 'delete') log.info('deleted endpoints', { endpoints: k, why: a.why });
          else
            log.debug(a.type === 'create' ? 'created endpoints' : 'updated endpoints', {
              endpoints: k,
              ready: a.value.subsets.reduce((n, s) => n + s.addresses.length, 0),
              notReady: a.value.subsets.reduce((n, s) => n + s.notReadyAddresses.length, 0),
              revision,
            });
        });
      } catch (err) {
        if (stopped || abort.signal.aborted) return;
        const n = Math.max(...chunkKeys.map((k) => (failures.get(k) ?? 0) + 1));
        if (isFlotillaError(err, 'Conflict')) {
          // Someone else wrote one of the keys: read them again, then decide again.
          const stale = Array.isArray(err.context.value) ? err.context.value.map(String) : [];
          const prefix = keys.endpoints;
          await Promise.all(
            stale
              .filter((k) => k.startsWith(prefix))
              .map((k) => {
                written.delete(queueKey(k, prefix));
                return endpoints.refresh(k).catch(() => undefined);
              }),
          );
          log.debug('endpoints changed meanwhile; deciding again', { err: errorMessage(err) });
          retryLater(chunkKeys, conflictRetryMs * Math.min(n, 10));
        } else {
          const delay = Math.min(maxBackoffMs, 100 * 2 ** Math.min(n - 1, 10));
          log.warn('cannot write endpoints; retrying', {
            services: chunkKeys.length,
            err: errorMessage(err),
            retryInMs: delay,
          });
          retryLater(chunkKeys, delay);
        }
      }
    }
  }

  const informerRuns = [pods.run(abort.signal)];
  if (!options.informers?.services) informerRuns.push(services.run(abort.signal));
  if (!options.informers?.endpoints) informerRuns.push(endpoints.run(abort.signal));
  // A shared informer that synced before the loop subscribed told it nothing: index what it holds.
  for (const s of services.list()) {
    const ns = namespaceOf(s);
    let set = servicesByNamespace.get(ns);
    if (!set) servicesByNamespace.set(ns, (set = new Set()));
    set.add(`${ns}/${s.metadata?.name ?? ''}`);
  }
  const syncedPromise = (async () => {
    await Promise.all([
      services.waitSynced(),
      endpoints.waitSynced(),
      pods.waitSynced(),
      nodes?.waitSynced(),
    ]);
    if (stopped) return;
    // Every service, and every Endpoints object (its service may be gone): the changes
    // while this controller did not lead are not known.
    for (const s of services.list()) dirty.add(`${namespaceOf(s)}/${s.metadata?.name ?? ''}`);
    for (const e of endpoints.list()) dirty.add(`${namespaceOf(e)}/${e.metadata?.name ?? ''}`);
    ready = true;
    log.info('endpoints loop synced', {
      services: services.list().length,
      endpoints: endpoints.list().length,
    });
    schedule();
    // The first flush, for callers that wait for it.
    while (!stopped && (scheduled || flushing)) await (flushing ?? new Promise((r) => setImmediate(r)));
  })();

  let stopping: Promise<void> | undefined;
  return {
    synced: () => syncedPromise,
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        for (const u of unsubscribe) u();
        for (const timer of retryTimers) clearTimeout(timer);
        abort.abort();
        await Promise.all([...informerRuns, flushing, syncedPromise]);
      })()),
  };
}
