// Node eviction: which NotReady nodes have their pods evicted (marked deleted through the
// graceful deletion of pods/lifecycle.ts, so their Deployments replace them elsewhere).
// Pure: the caller passes the nodes, the pods, what this controller has heard and when,
// and how many evictions the rate limit allows now.
//
// The defaults, against the budget (docs/CONTRACTS.md, "Node failure"):
//   heartbeats every 1 s (agent default); NotReady after 5 s of silence (grace, checked
//   every 500 ms); evicted 3 s after turning NotReady (evictionTimeout, checked every
//   500 ms). So a dead node's pods are marked deleted 5 + 0.5 + 3 + 0.5 = at most 9 s
//   after its last heartbeat; the ReplicaSet creates replacements on that write, the
//   scheduler binds them and their agents start them — about 6 s left for that within
//   the 15 s. A node silent for under 5 s is never even NotReady, so it loses nothing
//   (and one silent for under 8 s keeps its pods too).
import type { Node, Pod } from '@flotilla/proto';
import { readyCondition } from '../nodes/conditions.js';

export const defaultEvictionTimeoutMs = 3_000;
/** Nodes whose pods are evicted per second, and how many may go at once. */
export const defaultEvictionRatePerSecond = 1;
export const defaultEvictionBurst = 3;
/**
 * More than this fraction of the nodes silent at once is not node death but trouble in
 * the control plane or NATS (Kubernetes' unhealthy-zone threshold): nothing is evicted.
 */
export const defaultMassSilenceFraction = 0.55;

export interface EvictionPolicy {
  graceMs: number;
  evictionTimeoutMs: number;
  massSilenceFraction: number;
}

export interface EvictionSnapshot {
  nodes: readonly Node[];
  pods: readonly Pod[];
  /** When this controller last heard from each node. */
  lastSeen: ReadonlyMap<string, number>;
  /**
   * Since when this controller can judge silence: the latest of its start, its NATS
   * connection and its election. Before that, silence proves nothing.
   */
  judgingSince: number;
  now: number;
  /** How many nodes the rate limit lets this pass evict. */
  budget: number;
  /** NotReady episodes (evictionEpisode) already evicted: nothing left to do for them. */
  settled?: ReadonlySet<string>;
}

export interface NodeEviction {
  node: string;
  /** evictionEpisode of the node: once its pods are evicted, the episode is settled. */
  episode: string;
  /** How long the node has been NotReady, for the message. */
  notReadyForMs: number;
  /** The pods bound to it and not yet being deleted. */
  pods: Pod[];
}

export type EvictionCandidates =
  | { kind: 'due'; nodes: Omit<NodeEviction, 'pods'>[] }
  /** Too many nodes silent at once: nothing is evicted. */
  | { kind: 'held'; silent: number; total: number };

export type EvictionDecision =
  | {
      kind: 'evict';
      evictions: NodeEviction[];
      waiting: string[];
      /** Due episodes with no pod left to evict. */
      settled: string[];
    }
  | { kind: 'held'; silent: number; total: number };

/** One NotReady spell of a node: its name and when it turned NotReady. */
export function evictionEpisode(node: Node): string {
  return `${node.metadata?.name ?? ''} ${readyCondition(node)?.lastTransitionTime ?? ''}`;
}

/** Silent: stored not Ready, or not heard from by this controller for longer than the grace. */
function isSilent(node: Node, seen: number | undefined, s: CandidateSnapshot, graceMs: number): boolean {
  if (readyCondition(node)?.status !== 'True') return true;
  return s.now - Math.max(seen ?? 0, s.judgingSince) > graceMs;
}

type CandidateSnapshot = Omit<EvictionSnapshot, 'pods' | 'budget'>;

/**
 * The nodes due for eviction, before any pod is read (so the loop lists pods only when
 * one is due), or held when most nodes are silent.
 */
export function evictionCandidates(s: CandidateSnapshot, policy: EvictionPolicy): EvictionCandidates {
  const named = s.nodes.filter((n) => (n.metadata?.name ?? '') !== '');
  const silent = named.filter((n) => isSilent(n, s.lastSeen.get(n.metadata?.name ?? ''), s, policy.graceMs));
  if (named.length > 0 && silent.length / named.length > policy.massSilenceFraction) {
    return { kind: 'held', silent: silent.length, total: named.length };
  }
  const due: Omit<NodeEviction, 'pods'>[] = [];
  for (const node of named) {
    const name = node.metadata?.name ?? '';
    const ready = readyCondition(node);
    // Only Unknown (silent), not False (an agent that says it is unhealthy but is alive
    // and still runs its pods).
    if (ready?.status !== 'Unknown') continue;
    const since = Date.parse(ready.lastTransitionTime);
    if (!Number.isFinite(since)) continue;
    const episode = evictionEpisode(node);
    if (s.settled?.has(episode)) continue;
    // This controller must agree: silent to it as well, for the grace and the timeout.
    const heard = Math.max(s.lastSeen.get(name) ?? 0, s.judgingSince);
    if (s.now - heard <= policy.graceMs + policy.evictionTimeoutMs) continue;
    const notReadyForMs = s.now - since;
    if (notReadyForMs < policy.evictionTimeoutMs) continue;
    due.push({ node: name, episode, notReadyForMs });
  }
  // Longest NotReady first: under the rate limit, the oldest failure is replaced first.
  due.sort((a, b) => b.notReadyForMs - a.notReadyForMs || (a.node < b.node ? -1 : 1));
  return { kind: 'due', nodes: due };
}

export function decideEvictions(s: EvictionSnapshot, policy: EvictionPolicy): EvictionDecision {
  const candidates = evictionCandidates(s, policy);
  if (candidates.kind === 'held') return candidates;
  const podsByNode = new Map<string, Pod[]>();
  for (const pod of s.pods) {
    const node = pod.spec?.nodeName ?? '';
    if (node === '' || (pod.metadata?.deletionTimestamp ?? '') !== '') continue;
    podsByNode.set(node, [...(podsByNode.get(node) ?? []), pod]);
  }
  const withPods = candidates.nodes.map((c) => ({ ...c, pods: podsByNode.get(c.node) ?? [] }));
  const due = withPods.filter((e) => e.pods.length > 0);
  const budget = Math.max(0, Math.floor(s.budget));
  return {
    kind: 'evict',
    evictions: due.slice(0, budget),
    waiting: due.slice(budget).map((e) => e.node),
    settled: withPods.filter((e) => e.pods.length === 0).map((e) => e.episode),
  };
}

/** A token bucket: ratePerSecond tokens a second, at most burst saved up. */
export class RateLimiter {
  private tokens: number;
  private last: number | undefined;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  available(now: number): number {
    if (this.last !== undefined) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    }
    this.last = now;
    return Math.floor(this.tokens);
  }

  take(count: number): void {
    this.tokens = Math.max(0, this.tokens - count);
  }
}
