// The node lifecycle loop (leader only): every tick, decide from the local node cache
// which nodes went silent and write Ready=Unknown, then which NotReady nodes have their
// pods evicted. Each write is guarded by the revision decided on and fenced by the
// leadership. A conflict means the object changed meanwhile (a heartbeat, a
// registration, a status report): the next tick decides again from the newer state.
import type { Node, ObjectReference, Pod } from '@flotilla/proto';
import { errorMessage, isFlotillaError, type Logger } from '@flotilla/common';
import { discardEvents, type EventRecorder } from '../events/recorder.js';
import { commitAsLeader, soleCandidate, type Leadership } from '../leader/candidate.js';
import { markDeleted } from '../pods/lifecycle.js';
import { nodeCodec, podCodec } from '../store/codecs.js';
import type { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { putOp, type Store, type TxnOp } from '../store/types.js';
import { readyCondition } from '../nodes/conditions.js';
import {
  decideEvictions,
  evictionCandidates,
  evictionEpisode,
  defaultEvictionBurst,
  defaultEvictionRatePerSecond,
  defaultEvictionTimeoutMs,
  defaultMassSilenceFraction,
  RateLimiter,
  type NodeEviction,
} from './node-eviction.js';
import { decideNodeLiveness, type LastSeen } from './node-liveness.js';

/** etcd refuses transactions of more than 128 operations by default; one is the fence. */
const podsPerCommit = 100;

export interface NodeLifecycleOptions {
  store: Store;
  nodes: Informer<Node>;
  lastSeen: LastSeen;
  graceMs: number;
  controllerStart: number;
  /**
   * Since when heartbeats can reach this controller (its NATS connection came up), or
   * undefined while they cannot. A controller that cannot hear has nothing to judge by:
   * it decides nothing then, and afterwards gives every node a full grace again.
   */
  listeningSince?: () => number | undefined;
  log: Logger;
  intervalMs?: number;
  now?: () => number;
  /** NotReady this long before the node's pods are evicted. */
  evictionTimeoutMs?: number;
  evictionRatePerSecond?: number;
  evictionBurst?: number;
  massSilenceFraction?: number;
  events?: EventRecorder;
}

const sole = (): Promise<Leadership> => soleCandidate.campaign('sole', new AbortController().signal);

export class NodeLifecycleLoop {
  private readonly now: () => number;
  private readonly limiter: RateLimiter;
  private readonly events: EventRecorder;
  private held = false;
  /** NotReady episodes whose pods are all evicted: no pods are listed for them again. */
  private readonly settled = new Set<string>();

  constructor(private readonly options: NodeLifecycleOptions) {
    this.now = options.now ?? Date.now;
    this.limiter = new RateLimiter(
      options.evictionRatePerSecond ?? defaultEvictionRatePerSecond,
      options.evictionBurst ?? defaultEvictionBurst,
    );
    this.events = options.events ?? discardEvents;
  }

  /**
   * Ticks until signal aborts (the leadership ends), one tick at a time: a slow etcd must
   * not pile up overlapping passes. Resolves once the last tick has finished.
   */
  async run(signal: AbortSignal, leadership?: Leadership): Promise<void> {
    const term = leadership ?? (await sole());
    const intervalMs = this.options.intervalMs ?? 500;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        timer.unref();
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      if (signal.aborted) break;
      await this.tick(term, signal).catch((err: unknown) =>
        this.options.log.warn('node lifecycle pass failed', { err: errorMessage(err) }),
      );
    }
  }

  async tick(leadership: Leadership, signal?: AbortSignal): Promise<void> {
    const { nodes, lastSeen, graceMs, controllerStart } = this.options;
    if (!nodes.isSynced) return;
    const listening = this.options.listeningSince ? this.options.listeningSince() : controllerStart;
    if (listening === undefined) return;
    // A new leader (or one that just heard again) gives every node a full grace first.
    const judgingSince = Math.max(controllerStart, listening, leadership.since);
    const now = this.now();
    const updates = decideNodeLiveness(nodes.list(), lastSeen.map, now, graceMs, judgingSince);
    for (const u of updates) {
      if (signal?.aborted) return;
      await this.markUnknown(leadership, u.name, u.node, Number(u.resourceVersion));
    }
    await this.evict(leadership, judgingSince, now, signal);
  }

  private async markUnknown(leadership: Leadership, name: string, node: Node, rv: number): Promise<void> {
    const { store, nodes, log } = this.options;
    try {
      await commitAsLeader(store, leadership, [putOp(nodeCodec, keys.node(name), node, rv)]);
      const ready = readyCondition(node);
      log.info('node is not responding', { node: name, reason: ready?.reason, message: ready?.message });
      this.events.record({
        involvedObject: nodeRef(node),
        type: 'Warning',
        reason: 'NodeNotReady',
        message: `Node ${name} status is now: NodeNotReady (${ready?.message ?? 'no heartbeat'})`,
      });
    } catch (err) {
      if (isFlotillaError(err, 'Conflict')) {
        log.debug('node changed while marking it Unknown; deciding again next tick', { node: name });
        await nodes.refresh(keys.node(name)).catch(() => undefined);
      } else {
        log.warn('cannot mark node Unknown', { node: name, err: errorMessage(err) });
      }
    }
  }

  private async evict(
    leadership: Leadership,
    judgingSince: number,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { store, nodes, lastSeen, graceMs, log } = this.options;
    const current = nodes.list();
    // Forget episodes that ended (the node came back, or was removed).
    const episodes = new Set(current.map(evictionEpisode));
    for (const e of this.settled) if (!episodes.has(e)) this.settled.delete(e);
    const policy = {
      graceMs,
      evictionTimeoutMs: this.options.evictionTimeoutMs ?? defaultEvictionTimeoutMs,
      massSilenceFraction: this.options.massSilenceFraction ?? defaultMassSilenceFraction,
    };
    const base = { nodes: current, lastSeen: lastSeen.map, judgingSince, now, settled: this.settled };
    // Pods are read only when some node is due: the common pass lists nothing.
    const candidates = evictionCandidates(base, policy);
    const pods =
      candidates.kind === 'due' && candidates.nodes.length > 0
        ? (await store.list(podCodec, keys.pods)).entries.map((e) => e.value)
        : [];
    const decision =
      candidates.kind === 'held'
        ? candidates
        : decideEvictions({ ...base, pods, budget: this.limiter.available(now) }, policy);
    if (decision.kind === 'held') {
      if (!this.held) {
        log.error(
          'most nodes are silent at once: NATS or control-plane trouble, not node death; evicting nothing until they return',
          {
            silent: decision.silent,
            nodes: decision.total,
          },
        );
      }
      this.held = true;
      return;
    }
    if (this.held) log.warn('most nodes are heard from again; node evictions resume');
    this.held = false;
    for (const episode of decision.settled) this.settled.add(episode);
    if (decision.waiting.length > 0) {
      log.info('node evictions rate-limited; the rest wait', { waiting: decision.waiting });
    }
    for (const eviction of decision.evictions) {
      if (signal?.aborted) return;
      this.limiter.take(1);
      if (await this.evictNode(leadership, eviction, now)) this.settled.add(eviction.episode);
    }
  }

  /** Evicts the node's pods; true when every one of them was marked. */
  private async evictNode(leadership: Leadership, eviction: NodeEviction, now: number): Promise<boolean> {
    const { store, log } = this.options;
    const seconds = Math.round(eviction.notReadyForMs / 1000);
    const node = this.options.nodes.get(keys.node(eviction.node));
    log.warn('evicting the pods of a NotReady node', {
      node: eviction.node,
      notReadyForSeconds: seconds,
      pods: eviction.pods.length,
    });
    if (node) {
      this.events.record({
        involvedObject: nodeRef(node),
        type: 'Warning',
        reason: 'EvictingPods',
        message: `Node ${eviction.node} NotReady for ${seconds}s: evicting ${eviction.pods.length} pods`,
      });
    }
    // The same marks as DeletePod: the pod's own grace, so its agent (when the node
    // comes back) stops it as it would any deleted pod, and its deletion completes then.
    const marked: { pod: Pod; op: TxnOp }[] = [];
    for (const pod of eviction.pods) {
      const next = markDeleted(pod, new Date(now), undefined);
      const meta = pod.metadata;
      if (!next || !meta) continue;
      marked.push({
        pod,
        op: putOp(podCodec, keys.pod(meta.namespace, meta.name), next, Number(meta.resourceVersion)),
      });
    }
    let all = true;
    for (let i = 0; i < marked.length; i += podsPerCommit) {
      const chunk = marked.slice(i, i + podsPerCommit);
      try {
        await commitAsLeader(
          store,
          leadership,
          chunk.map((m) => m.op),
        );
        for (const { pod } of chunk) {
          this.events.record({
            involvedObject: podRef(pod),
            type: 'Warning',
            reason: 'NodeNotReady',
            message: `Node ${eviction.node} NotReady for ${seconds}s: pod evicted, its controller replaces it`,
          });
        }
      } catch (err) {
        // A pod changed since the list (a status report): the next tick evicts what is left.
        all = false;
        const level = isFlotillaError(err, 'Conflict') ? 'debug' : 'warn';
        log[level]('cannot evict pods; trying again next tick', {
          node: eviction.node,
          err: errorMessage(err),
        });
      }
    }
    return all;
  }
}

function nodeRef(node: Node): ObjectReference {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    namespace: '',
    name: node.metadata?.name ?? '',
    uid: node.metadata?.uid ?? '',
    resourceVersion: '',
    fieldPath: '',
  };
}

function podRef(pod: Pod): ObjectReference {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    resourceVersion: '',
    fieldPath: '',
  };
}
