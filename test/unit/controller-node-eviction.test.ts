import t from 'tap';
import type { Node, Pod } from '@flotilla/proto';
import {
  decideEvictions,
  evictionCandidates,
  evictionEpisode,
  RateLimiter,
  type EvictionDecision,
  type EvictionPolicy,
  type EvictionSnapshot,
} from '@flotilla/controller';

const policy: EvictionPolicy = { graceMs: 5_000, evictionTimeoutMs: 3_000, massSilenceFraction: 0.55 };
/** The controller (and its term) started at t0; times below are ms after it. */
const t0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number): string => new Date(t0 + ms).toISOString();

function node(name: string, ready: 'True' | 'Unknown' | 'False', transitionAt = -60_000): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      namespace: '',
      uid: `uid-${name}`,
      resourceVersion: '7',
      generation: 0,
      creationTimestamp: iso(-3_600_000),
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: undefined,
    status: {
      capacity: {},
      allocatable: {},
      addresses: [],
      nodeInfo: undefined,
      daemonEndpoints: undefined,
      images: [],
      conditions: [
        {
          type: 'Ready',
          status: ready,
          reason: '',
          message: '',
          lastHeartbeatTime: iso(transitionAt),
          lastTransitionTime: iso(transitionAt),
        },
      ],
    },
  };
}

function pod(name: string, nodeName: string, deleting = false): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      resourceVersion: '9',
      generation: 1,
      creationTimestamp: iso(-60_000),
      deletionTimestamp: deleting ? iso(0) : '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: { nodeName } as Pod['spec'],
    status: undefined,
  };
}

interface Case {
  name: string;
  nodes: Node[];
  pods?: Pod[];
  /** ms after t0 each node was last heard from by this controller. */
  seen?: Record<string, number>;
  now: number;
  judgingSince?: number;
  budget?: number;
  /** Node names evicted (in order), or 'held'. */
  want: string[] | 'held';
  waiting?: string[];
}

function run(c: Case): EvictionDecision {
  const snapshot: EvictionSnapshot = {
    nodes: c.nodes,
    pods: c.pods ?? c.nodes.map((n) => pod(`p-${n.metadata?.name ?? ''}`, n.metadata?.name ?? '')),
    lastSeen: new Map(Object.entries(c.seen ?? {}).map(([k, v]) => [k, t0 + v])),
    judgingSince: t0 + (c.judgingSince ?? 0),
    now: t0 + c.now,
    budget: c.budget ?? 10,
  };
  return decideEvictions(snapshot, policy);
}

const healthy = (n: number, at: number): Node[] =>
  Array.from({ length: n }, (_, i) => node(`ok-${i}`, 'True', at));
const heardAll = (nodes: Node[], at: number): Record<string, number> =>
  Object.fromEntries(nodes.map((n) => [n.metadata?.name ?? '', at]));

const cases: Case[] = [
  {
    name: 'NotReady for the eviction timeout and silent to this controller: evicted',
    nodes: [node('dead', 'Unknown', 5_000), ...healthy(3, 0)],
    seen: { dead: 0, ...heardAll(healthy(3, 0), 8_000) },
    now: 8_100,
    want: ['dead'],
  },
  {
    name: 'NotReady for less than the eviction timeout: not yet',
    nodes: [node('dead', 'Unknown', 6_000), ...healthy(3, 0)],
    seen: { dead: 0, ...heardAll(healthy(3, 0), 8_500) },
    now: 8_500,
    want: [],
  },
  {
    name: 'stored Unknown long ago, but this controller heard it within grace + timeout: kept',
    nodes: [node('flapping', 'Unknown', -60_000), ...healthy(3, 0)],
    seen: { flapping: 1_000, ...heardAll(healthy(3, 0), 8_500) },
    now: 8_500,
    want: [],
  },
  {
    name: 'a new leader (judging since its term began) waits grace + timeout of its own',
    nodes: [node('dead', 'Unknown', -60_000), ...healthy(3, 0)],
    seen: heardAll(healthy(3, 0), 7_000),
    now: 7_000,
    judgingSince: 0,
    want: [],
  },
  {
    name: '... and evicts once that has passed',
    nodes: [node('dead', 'Unknown', -60_000), ...healthy(3, 0)],
    seen: heardAll(healthy(3, 0), 8_000),
    now: 8_001,
    judgingSince: 0,
    want: ['dead'],
  },
  {
    name: 'Ready=False (the agent says it is unhealthy, but it is alive): not evicted',
    nodes: [node('sick', 'False', -60_000), ...healthy(3, 0)],
    seen: heardAll(healthy(3, 0), 60_000),
    now: 60_000,
    want: [],
  },
  {
    name: 'a NotReady node with no pods, or only pods already being deleted: nothing to do',
    nodes: [node('empty', 'Unknown', 0), node('done', 'Unknown', 0), ...healthy(3, 0)],
    pods: [pod('gone', 'done', true)],
    seen: heardAll(healthy(3, 0), 60_000),
    now: 60_000,
    want: [],
  },
  {
    name: 'more than 55% silent (stored Unknown or silent to this controller): held',
    nodes: [node('a', 'Unknown', 0), node('b', 'Unknown', 0), node('c', 'True', 0), node('d', 'True', 0)],
    // c is still stored True but silent for longer than the grace: 3 of 4 silent.
    seen: { c: 0, d: 60_000 },
    now: 60_000,
    want: 'held',
  },
  {
    name: 'exactly half silent is not "most": evicted',
    nodes: [node('a', 'Unknown', 0), node('b', 'Unknown', 0), node('c', 'True', 0), node('d', 'True', 0)],
    seen: { c: 60_000, d: 60_000 },
    now: 60_000,
    want: ['a', 'b'],
  },
  {
    name: 'the rate limit: the longest NotReady first, the rest wait',
    nodes: [node('newer', 'Unknown', 10_000), node('older', 'Unknown', 0), ...healthy(6, 0)],
    seen: heardAll(healthy(6, 0), 60_000),
    now: 60_000,
    budget: 1,
    want: ['older'],
    waiting: ['newer'],
  },
  {
    name: 'no budget: nothing evicted now',
    nodes: [node('dead', 'Unknown', 0), ...healthy(3, 0)],
    seen: heardAll(healthy(3, 0), 60_000),
    now: 60_000,
    budget: 0,
    want: [],
    waiting: ['dead'],
  },
];

t.test('decideEvictions', async (t) => {
  for (const c of cases) {
    const decision = run(c);
    if (c.want === 'held') {
      t.equal(decision.kind, 'held', c.name);
      continue;
    }
    t.equal(decision.kind, 'evict', `${c.name}: not held`);
    if (decision.kind !== 'evict') continue;
    t.strictSame(
      decision.evictions.map((e) => e.node),
      c.want,
      c.name,
    );
    if (c.waiting) t.strictSame(decision.waiting, c.waiting, `${c.name}: waiting`);
  }
});

t.test('decideEvictions evicts only the dead node’s pods that are not being deleted yet', async (t) => {
  const decision = run({
    name: '',
    nodes: [node('dead', 'Unknown', 0), ...healthy(3, 0)],
    pods: [pod('a', 'dead'), pod('b', 'dead', true), pod('c', 'ok-0'), pod('d', '')],
    seen: heardAll(healthy(3, 0), 60_000),
    now: 60_000,
    want: [],
  });
  t.equal(decision.kind, 'evict');
  if (decision.kind !== 'evict') return;
  t.strictSame(
    decision.evictions.map((e) => [e.node, e.pods.map((p) => p.metadata?.name)]),
    [['dead', ['a']]],
  );
  t.equal(decision.evictions[0]?.notReadyForMs, 60_000, 'how long it has been NotReady');
});

t.test('settled episodes: evicted once, never listed again; a new NotReady spell is new', async (t) => {
  const dead = node('dead', 'Unknown', 0);
  const base = {
    nodes: [dead, ...healthy(3, 0)],
    lastSeen: new Map(healthy(3, 0).map((n) => [n.metadata?.name ?? '', t0 + 60_000])),
    judgingSince: t0,
    now: t0 + 60_000,
  };
  const first = evictionCandidates(base, policy);
  t.strictSame(
    first.kind === 'due' ? first.nodes.map((n) => n.node) : first.kind,
    ['dead'],
    'due before its pods are read',
  );
  const settled = new Set([evictionEpisode(dead)]);
  const again = evictionCandidates({ ...base, settled }, policy);
  t.strictSame(again.kind === 'due' ? again.nodes : again.kind, [], 'a settled episode is not due again');
  const later = node('dead', 'Unknown', 30_000);
  const next = evictionCandidates({ ...base, nodes: [later, ...healthy(3, 0)], settled }, policy);
  t.strictSame(
    next.kind === 'due' ? next.nodes.map((n) => n.node) : next.kind,
    ['dead'],
    'the node came back and died again: a new episode',
  );
  const empty = decideEvictions({ ...base, pods: [], budget: 5 }, policy);
  t.strictSame(
    empty.kind === 'evict' ? empty.settled : empty.kind,
    [evictionEpisode(dead)],
    'a due node with no pods left is settled',
  );
});

t.test('RateLimiter: a burst, then the rate', async (t) => {
  const limiter = new RateLimiter(1, 3);
  t.equal(limiter.available(t0), 3, 'the burst is there at first');
  limiter.take(3);
  t.equal(limiter.available(t0 + 500), 0, 'half a token after 500 ms: none whole');
  t.equal(limiter.available(t0 + 1_000), 1, 'one a second');
  limiter.take(1);
  t.equal(limiter.available(t0 + 60_000), 3, 'never more than the burst saved up');
});
