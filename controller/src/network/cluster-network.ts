// The cluster network as one controller replica sees it, served to agents: each node's
// Network stream (a complete NetworkState now, then after every change, coalesced, a
// complete one or — to agents that accept them — a delta of what the change touched) and
// AwaitEndpointsDrained (a pod left every Endpoints object and every Ready node has
// programmed that). Every replica serves both: the copies are informers, and the
// NetworkApplied acknowledgements arrive over NATS at every replica, kept in memory.
import {
  NetworkApplied,
  type AwaitEndpointsDrainedRequest,
  type AwaitEndpointsDrainedResponse,
  type Endpoints,
  type NetworkState,
  type Node,
  type Service,
} from '@flotilla/proto';
import {
  errorMessage,
  failedPrecondition,
  invalidArgument,
  nodeSubjectToken,
  type Logger,
} from '@flotilla/common';
import { endpointsCodec, podCodec, serviceCodec } from '../store/codecs.js';
import { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import { drainDecision, type DrainVerdict, type DrainingPod } from './drain.js';
import {
  diffSharedNetwork,
  isWebFacing,
  mergeNetworkChanges,
  networkDeltaFor,
  networkFieldsChanged,
  networkNodes,
  networkStateFor,
  serviceRoutes,
  type NetworkChange,
  type NetworkConfig,
  type SharedNetwork,
} from './state.js';
import type { ClusterNetwork, FollowOptions } from './types.js';

/** Changes this close together become one state: a rollout's endpoint updates come in bursts. */
export const defaultCoalesceMs = 15;
/** The longest a change waits to be sent, however big the fleet. */
export const maxCoalesceMs = 5_000;

/**
 * How long changes gather before a state goes out. Each state is sent to every node and
 * lists every node, so sending one costs followers × nodes entries encoded, about 1 µs
 * each: 1,000 nodes joining one after another with a state per join kept a core busy.
 * The wait is 10 ms per 1,000 entries (so the sending takes at most a tenth of a core),
 * from minMs to maxCoalesceMs. Pure.
 */
export function coalesceDelayMs(followers: number, nodes: number, minMs = defaultCoalesceMs): number {
  return Math.max(minMs, Math.min(maxCoalesceMs, Math.round((followers * nodes) / 100)));
}

/**
 * What one state costs to send besides its entries, in entries (~1 µs each): the stream
 * write, its HTTP/2 frame and TLS record. A delta of one entry to 1,000 nodes is 1,000
 * messages, which is what paces them.
 */
export const messageCostEntries = 30;

/**
 * The wait before a state goes out to full followers (sent every entry) and delta
 * followers (sent the changed ones, about `changed`), by coalesceDelayMs's rule. Pure.
 */
export function followersDelayMs(
  fullFollowers: number,
  deltaFollowers: number,
  entries: number,
  changed: number,
  minMs = defaultCoalesceMs,
): number {
  const cost =
    fullFollowers * (entries + messageCostEntries) + deltaFollowers * (changed + messageCostEntries);
  return coalesceDelayMs(1, cost, minMs);
}

/** Changes kept for delta followers a few states behind; one further behind is sent a complete state. */
export const heldChanges = 16;
/** AwaitEndpointsDrained waits at most this long, whatever the caller asks. */
export const maxDrainTimeoutMs = 30_000;

export interface ControllerClusterNetworkOptions {
  store: Store;
  /** The controller's shared node copy. */
  nodes: Informer<Node>;
  services: Informer<Service>;
  endpoints: Informer<Endpoints>;
  config: NetworkConfig;
  log: Logger;
  coalesceMs?: number;
}

export class ControllerClusterNetwork implements ClusterNetwork {
  private shared: SharedNetwork | undefined;
  /** Which part of the shared state changes since the last build touched. */
  private nodesDirty = true;
  private servicesDirty = true;
  /** Bumped each time the shared part changes; a follower sends when it moved. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly wakers = new Set<() => void>();
  private readonly drainChecks = new Set<() => void>();
  private readonly acks = new Map<string, number>();
  private readonly unsubscribe: (() => void)[] = [];
  private stopped = false;
  /** The changes of the latest generations, oldest first: changes[i] made generation changes[i].generation. */
  private readonly changes: (NetworkChange & { generation: number })[] = [];
  /** Node changes since the last build (a bound on the next delta's entries). */
  private pendingNodeChanges = 0;
  private fullFollowers = 0;
  private deltaFollowers = 0;

  constructor(private readonly options: ControllerClusterNetworkOptions) {}

  /** Listens to the informers (their owner runs them) until stop(). */
  start(): void {
    const { nodes, services, endpoints } = this.options;
    this.unsubscribe.push(
      nodes.onChange((change) => {
        if (change.type === 'delete') this.acks.delete(change.key.slice(keys.nodes.length));
        const next = change.type === 'put' ? change.value : undefined;
        if (!networkFieldsChanged(change.previous, next, this.options.config)) return;
        this.nodesDirty = true;
        this.pendingNodeChanges++;
        this.changed();
        // A node turning NotReady is no longer waited for.
        this.checkDrains();
      }),
      services.onChange(() => {
        this.servicesDirty = true;
        this.changed();
      }),
      endpoints.onChange(() => {
        this.servicesDirty = true;
        this.changed();
        this.checkDrains();
      }),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const u of this.unsubscribe.splice(0)) u();
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const wake of [...this.wakers]) wake();
    for (const check of [...this.drainChecks]) check();
  }

  /** Handles one NetworkApplied from flotilla.v1.node.<token>.network. */
  handleApplied(subject: string, data: Uint8Array): void {
    let applied: NetworkApplied;
    try {
      applied = NetworkApplied.decode(data);
    } catch (err) {
      this.options.log.debug('ignoring a NetworkApplied that does not decode', {
        subject,
        err: errorMessage(err),
      });
      return;
    }
    const token = subject.split('.')[3] ?? '';
    if (applied.nodeName === '' || nodeSubjectToken(applied.nodeName) !== token) {
      this.options.log.debug('ignoring a NetworkApplied for another node', {
        subject,
        node: applied.nodeName,
      });
      return;
    }
    const revision = Number(applied.endpointsRevision);
    if ((this.acks.get(applied.nodeName) ?? 0) >= revision) return;
    this.acks.set(applied.nodeName, revision);
    this.checkDrains();
  }

  /** The highest endpoints revision node has acknowledged (0: none), for tests and describe. */
  ackedRevision(node: string): number {
    return this.acks.get(node) ?? 0;
  }

  async follow(
    nodeName: string,
    send: (state: NetworkState) => Promise<void>,
    signal: AbortSignal,
    options: FollowOptions = {},
  ): Promise<void> {
    await this.synced(signal);
    const { nodes, config } = this.options;
    const deltas = options.deltas === true;
    if (deltas) this.deltaFollowers++;
    else this.fullFollowers++;
    let sentGeneration = -1;
    let sentWebFacing: boolean | undefined;
    try {
      while (!signal.aborted && !this.stopped) {
        const shared = this.current();
        const node = nodes.get(keys.node(nodeName));
        const webFacing = isWebFacing(node, config);
        if (this.generation !== sentGeneration || webFacing !== sentWebFacing) {
          // The first state of a stream is complete; after it, a delta when the changes since are held.
          const change = deltas && sentGeneration >= 0 ? this.changesSince(sentGeneration) : undefined;
          sentGeneration = this.generation;
          sentWebFacing = webFacing;
          await send(
            change ? networkDeltaFor(shared, change, node, config) : networkStateFor(shared, node, config),
          );
          continue;
        }
        await this.nextChange(signal);
      }
    } finally {
      if (deltas) this.deltaFollowers--;
      else this.fullFollowers--;
    }
  }

  /** What changed after generation (nothing when it is current), or undefined when that is no longer held. */
  private changesSince(generation: number): NetworkChange | undefined {
    if (generation === this.generation) return { nodes: new Map(), services: new Map() };
    const first = this.changes.findIndex((c) => c.generation === generation + 1);
    if (first < 0) return undefined;
    return mergeNetworkChanges(this.changes.slice(first));
  }

  async awaitEndpointsDrained(
    request: AwaitEndpointsDrainedRequest,
    signal: AbortSignal,
  ): Promise<AwaitEndpointsDrainedResponse> {
    const { namespace, podName, nodeName } = request;
    if (namespace === '' || podName === '') {
      throw invalidArgument('namespace and podName are required: the pod being stopped', {
        field: namespace === '' ? 'namespace' : 'podName',
      });
    }
    if (!Number.isInteger(request.timeoutMs) || request.timeoutMs < 0) {
      throw invalidArgument(
        `timeoutMs ${request.timeoutMs} must be a whole number of milliseconds, at most ${maxDrainTimeoutMs}`,
        { field: 'timeoutMs', value: request.timeoutMs },
      );
    }
    const timeoutMs = Math.min(request.timeoutMs, maxDrainTimeoutMs);
    const pod = await this.drainingPod(request);
    await this.synced(signal);
    const { nodes, endpoints, log } = this.options;
    let target: number | undefined;
    const decide = (): DrainVerdict => {
      const verdict = drainDecision({
        pod,
        endpoints: endpoints.list(),
        nodes: nodes.list(),
        acks: this.acks,
        endpointsRevision: endpoints.appliedRevision,
        target,
      });
      target = verdict.target;
      return verdict;
    };
    const verdict = await new Promise<DrainVerdict>((resolve) => {
      let done = false;
      const finish = (v: DrainVerdict): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.drainChecks.delete(check);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const check = (): void => {
        const v = decide();
        if (v.drained || this.stopped) finish(v);
      };
      const onAbort = (): void => finish(decide());
      // Not unref'd: a caller is waiting for this answer, and it is bounded (30 s).
      const timer = setTimeout(() => finish(decide()), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.drainChecks.add(check);
      check();
    });
    const pending = verdict.drained ? undefined : verdict.step;
    log.debug('endpoints drain answered', {
      pod: `${namespace}/${podName}`,
      node: nodeName,
      drained: verdict.drained,
      target: verdict.target,
      pending,
    });
    if (verdict.drained) {
      return { drained: true, endpointsRevision: verdict.target, pendingNodes: [], pendingServices: [] };
    }
    if (verdict.step === 'endpoints') {
      return { drained: false, endpointsRevision: 0, pendingNodes: [], pendingServices: verdict.services };
    }
    return {
      drained: false,
      endpointsRevision: verdict.target,
      pendingNodes: verdict.nodes,
      pendingServices: [],
    };
  }

  /** The pod as stored, checked to be bound to the calling node; a pod already gone matches by uid. */
  private async drainingPod(request: AwaitEndpointsDrainedRequest): Promise<DrainingPod> {
    const { namespace, podName, podUid, nodeName } = request;
    const entry = await this.options.store.get(podCodec, keys.pod(namespace, podName));
    const stored = entry?.value;
    const sameIncarnation = stored && (podUid === '' || stored.metadata?.uid === podUid);
    if (!stored || !sameIncarnation) return { namespace, name: podName, uid: podUid, ip: '' };
    const bound = stored.spec?.nodeName ?? '';
    if (bound !== nodeName) {
      throw failedPrecondition(
        `pod ${namespace}/${podName} is bound to ${bound === '' ? 'no node' : `node "${bound}"`}, not to "${nodeName}": only its own node may drain it`,
        { field: 'podName', value: `${namespace}/${podName}` },
      );
    }
    return {
      namespace,
      name: podName,
      uid: stored.metadata?.uid ?? podUid,
      ip: stored.status?.podIP ?? '',
    };
  }

  private async synced(signal: AbortSignal): Promise<void> {
    const { nodes, services, endpoints } = this.options;
    if (nodes.isSynced && services.isSynced && endpoints.isSynced) return;
    await Promise.race([
      Promise.all([nodes.waitSynced(), services.waitSynced(), endpoints.waitSynced()]),
      new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
    ]);
  }

  private current(): SharedNetwork {
    if (!this.shared) this.rebuild();
    return this.shared as SharedNetwork;
  }

  private changed(): void {
    if (this.timer) return;
    // Followers that are not waiting are sending: they will take the next state too.
    const delay = followersDelayMs(
      this.fullFollowers,
      this.deltaFollowers,
      this.options.nodes.size,
      Math.max(1, this.pendingNodeChanges),
      this.options.coalesceMs ?? defaultCoalesceMs,
    );
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.rebuild();
    }, delay);
    this.timer.unref();
  }

  /**
   * Builds the shared part once for every follower, only the parts that changed, and
   * wakes them (each checks its own web-facing).
   */
  private rebuild(): void {
    const { nodes, services, endpoints } = this.options;
    const before = this.shared;
    this.shared = {
      endpointsRevision: endpoints.appliedRevision,
      nodes: this.nodesDirty || !before ? networkNodes(nodes.list()) : before.nodes,
      services:
        this.servicesDirty || !before ? serviceRoutes(services.list(), endpoints.list()) : before.services,
    };
    this.nodesDirty = false;
    this.servicesDirty = false;
    this.pendingNodeChanges = 0;
    this.generation++;
    // Found once here for every delta follower; a part not rebuilt is the same array, and costs nothing.
    if (this.deltaFollowers > 0 || this.changes.length > 0) {
      this.changes.push({ generation: this.generation, ...diffSharedNetwork(before, this.shared) });
      if (this.changes.length > heldChanges) this.changes.splice(0, this.changes.length - heldChanges);
    }
    for (const wake of [...this.wakers]) wake();
  }

  private nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.wakers.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      this.wakers.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  private checkDrains(): void {
    for (const check of [...this.drainChecks]) check();
  }
}

export interface StartClusterNetworkOptions {
  store: Store;
  /** The controller's shared node copy (its owner runs it). */
  nodes: Informer<Node>;
  config: NetworkConfig;
  log: Logger;
}

/**
 * The cluster network with its own copies of services and endpoints, running until stop.
 * The copies are returned too, for the endpoints loop to share rather than watch again.
 */
export function startClusterNetwork(options: StartClusterNetworkOptions): {
  network: ControllerClusterNetwork;
  informers: { services: Informer<Service>; endpoints: Informer<Endpoints> };
  stop: () => Promise<void>;
} {
  const { store, log } = options;
  const informerLog = log.child({ layer: 'informer' });
  const services = new Informer<Service>(store, serviceCodec, keys.services, informerLog);
  const endpoints = new Informer<Endpoints>(store, endpointsCodec, keys.endpoints, informerLog);
  const network = new ControllerClusterNetwork({ ...options, services, endpoints });
  network.start();
  const abort = new AbortController();
  const runs = [services.run(abort.signal), endpoints.run(abort.signal)];
  return {
    network,
    informers: { services, endpoints },
    stop: async () => {
      network.stop();
      abort.abort();
      await Promise.all(runs);
    },
  };
}
