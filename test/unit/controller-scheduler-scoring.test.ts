// The scheduler's scorers, each on its own (0–100 per feasible node), and the planner:
// placements assumed within a batch, a ReplicaSet spread over nodes and zones, and the
// same plan for the same seed.
import t from 'tap';
import type { Pod } from '@flotilla/proto';
import {
  feasibleNodesToFind,
  imageLocality,
  planBatch,
  podDemand,
  preferNoScheduleTaints,
  preferredNodeAffinity,
  resourceAllocation,
  schedulerProfile,
  spreadGroup,
  spreadGroupOf,
  type Scorer,
  type SchedulingSnapshot,
} from '@flotilla/controller';
import {
  podKey,
  snapshotOf,
  testNode as node,
  testPod as pod,
  type TestNode,
} from '../lib/scheduler-fixtures.js';

/** The scorer's score per node name, rounded. */
function scores(scorer: Scorer, p: Pod, snapshot: SchedulingSnapshot): Record<string, number> {
  const nodes = snapshot.nodes();
  const out = new Float64Array(nodes.length);
  scorer.scoreAll(podDemand(podKey(p), p), nodes, out, snapshot);
  return Object.fromEntries(nodes.map((n, i) => [n.name, Math.round(out[i] ?? 0)]));
}

const pending = (pods: Pod[]) => pods.map((p) => ({ key: podKey(p), pod: p }));

t.test('least-allocated prefers free nodes, most-allocated full ones', async (t) => {
  const nodes = [node({ name: 'a', cpu: '4', memory: '4Gi' }), node({ name: 'b', cpu: '4', memory: '4Gi' })];
  const bound = [pod({ name: 'p', node: 'a', cpu: '2', memory: '2Gi' })];
  const snapshot = snapshotOf(nodes, bound);
  const x = pod({ name: 'x', cpu: '1', memory: '1Gi' });
  t.same(scores(resourceAllocation('LeastAllocated'), x, snapshot), { a: 25, b: 75 });
  t.same(scores(resourceAllocation('MostAllocated'), x, snapshot), { a: 75, b: 25 });
  const none = pod({ name: 'y' });
  const demand = podDemand('k', none);
  t.same([demand.cpu, demand.memory], [0, 0], 'nothing requested');
  t.same([demand.scoreCpu, demand.scoreMemory], [100, 200 << 20], "scored with Kubernetes' defaults");
  const bestEffort = scores(resourceAllocation('LeastAllocated'), none, snapshot);
  t.ok((bestEffort.b ?? 0) > (bestEffort.a ?? 0), 'best-effort pods spread too');
});

t.test('spread by owner, else by labels, over nodes and zones', async (t) => {
  t.equal(
    spreadGroupOf(pod({ name: 'a', owner: 'web-1', labels: { app: 'web' } })),
    'owner:default/ReplicaSet/uid-web-1',
  );
  t.equal(spreadGroupOf(pod({ name: 'a', labels: { b: '2', a: '1' } })), 'labels:default/a=1,b=2');
  t.equal(spreadGroupOf(pod({ name: 'a' })), '', 'no owner, no labels: no group');

  const nodes = [node({ name: 'a' }), node({ name: 'b' }), node({ name: 'c' })];
  const bound = [
    pod({ name: 'w1', node: 'a', owner: 'web' }),
    pod({ name: 'w2', node: 'a', owner: 'web' }),
    pod({ name: 'w3', node: 'b', owner: 'web' }),
    pod({ name: 'o1', node: 'c', owner: 'other' }),
  ];
  const x = pod({ name: 'x', owner: 'web' });
  t.same(scores(spreadGroup(), x, snapshotOf(nodes, bound)), { a: 0, b: 50, c: 100 });
  t.same(
    scores(spreadGroup(), pod({ name: 'x' }), snapshotOf(nodes, bound)),
    { a: 0, b: 0, c: 0 },
    'ungrouped: indifferent',
  );

  const zoned = [
    node({ name: 'a1', zone: 'z1' }),
    node({ name: 'a2', zone: 'z1' }),
    node({ name: 'b1', zone: 'z2' }),
  ];
  const inZone = [pod({ name: 'w1', node: 'a1', owner: 'web' })];
  const z = scores(spreadGroup(), x, snapshotOf(zoned, inZone));
  t.same(z, { a1: 0, a2: 33, b1: 100 }, 'a2 is an empty node in a busy zone');
});

t.test('image locality scores the bytes already on the node', async (t) => {
  const mb = 1024 * 1024;
  const nodes = [
    node({
      name: 'a',
      images: [{ names: ['nginx:1.27', 'docker.io/library/nginx:1.27'], sizeBytes: 500 * mb }],
    }),
    node({ name: 'b', images: [{ names: ['nginx:1.27'], sizeBytes: 10 * mb }] }),
    node({ name: 'c' }),
  ];
  const s = scores(imageLocality(), pod({ name: 'x', image: 'nginx:1.27' }), snapshotOf(nodes));
  t.same(s, { a: 49, b: 0, c: 0 }, 'a small image counts for nothing');
  const big = [node({ name: 'a', images: [{ names: ['huge'], sizeBytes: 5000 * mb }] })];
  t.same(scores(imageLocality(), pod({ name: 'x', image: 'huge' }), snapshotOf(big)), { a: 100 }, 'capped');
});

t.test('untolerated PreferNoSchedule taints score lower', async (t) => {
  const soft = (key: string) => ({ key, value: '', effect: 'PreferNoSchedule' });
  const nodes = [
    node({ name: 'a', taints: [soft('k1'), soft('k2')] }),
    node({ name: 'b', taints: [soft('k1')] }),
    node({ name: 'c' }),
  ];
  t.same(scores(preferNoScheduleTaints(), pod({ name: 'x' }), snapshotOf(nodes)), { a: 0, b: 50, c: 100 });
  const tolerant = pod({
    name: 'x',
    tolerations: [{ key: 'k1', operator: 'Exists', effect: 'PreferNoSchedule' }],
  });
  t.same(scores(preferNoScheduleTaints(), tolerant, snapshotOf(nodes)), { a: 0, b: 100, c: 100 });
});

t.test('preferred node affinity adds the weights of the terms that match', async (t) => {
  const nodes = [
    node({ name: 'a', labels: { disk: 'ssd', gpu: 'yes' } }),
    node({ name: 'b', labels: { disk: 'ssd' } }),
    node({ name: 'c' }),
  ];
  const nodeAffinity = {
    preferredDuringSchedulingIgnoredDuringExecution: [
      { weight: 30, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
      { weight: 10, preference: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } },
    ],
  };
  t.same(scores(preferredNodeAffinity(), pod({ name: 'x', nodeAffinity }), snapshotOf(nodes)), {
    a: 100,
    b: 75,
    c: 0,
  });
  t.same(scores(preferredNodeAffinity(), pod({ name: 'x' }), snapshotOf(nodes)), { a: 0, b: 0, c: 0 });
  const plan = planBatch(
    snapshotOf(nodes),
    pending([pod({ name: 'x', nodeAffinity })]),
    schedulerProfile(),
    1,
  );
  t.equal(plan.bindings[0]?.nodeName, 'a', 'the planner follows the preference');
});

t.test('a batch assumes each placement before the next', async (t) => {
  const nodes = [node({ name: 'a', memory: '1Gi' }), node({ name: 'b', memory: '1Gi' })];
  const pods = [1, 2, 3].map((i) => pod({ name: `p${i}`, memory: '600Mi' }));
  const snapshot = snapshotOf(nodes);
  const plan = planBatch(snapshot, pending(pods), schedulerProfile(), 1);
  t.same(plan.bindings.map((b) => b.nodeName).sort(), ['a', 'b'], 'one per node');
  t.same(
    plan.unschedulable.map((u) => [u.pod.metadata?.name, u.message]),
    [['p3', '0/2 nodes are available: 2 insufficient memory.']],
  );
  t.equal(snapshot.node('a')?.memory, 600 * 1024 * 1024, 'assumed on the snapshot');
  snapshot.forget(plan.bindings.find((b) => b.nodeName === 'a')?.key ?? '');
  t.equal(snapshot.node('a')?.memory, 0, 'and forgotten when its write fails');
  const bound = plan.bindings.find((b) => b.nodeName === 'b');
  if (!bound) throw new Error('no binding on b');
  snapshot.setPod(bound.key, { ...bound.pod, spec: bound.pod.spec && { ...bound.pod.spec, nodeName: 'b' } });
  snapshot.forget(bound.key);
  t.equal(snapshot.node('b')?.memory, 600 * 1024 * 1024, 'a confirmed binding is not forgotten');
});

t.test("a deployment's pods spread over 3 nodes, and over zones", async (t) => {
  const nodes = ['a', 'b', 'c'].map((name) => node({ name, cpu: '8', memory: '8Gi' }));
  const pods = Array.from({ length: 9 }, (_, i) => pod({ name: `web-${i}`, owner: 'web-rs', cpu: '100m' }));
  const plan = planBatch(snapshotOf(nodes), pending(pods), schedulerProfile(), 42);
  const per: Record<string, number> = {};
  for (const b of plan.bindings) per[b.nodeName] = (per[b.nodeName] ?? 0) + 1;
  t.same(per, { a: 3, b: 3, c: 3 });

  // Bin-packing still spreads a group (spread outweighs packing), but packs ungrouped pods.
  const packed = planBatch(
    snapshotOf(nodes),
    pending(Array.from({ length: 4 }, (_, i) => pod({ name: `solo-${i}`, cpu: '1' }))),
    schedulerProfile({ resources: 'MostAllocated' }),
    42,
  );
  t.equal(new Set(packed.bindings.map((b) => b.nodeName)).size, 1, 'MostAllocated packs one node');

  const zoned: TestNode[] = [
    { name: 'a1', zone: 'z1' },
    { name: 'a2', zone: 'z1' },
    { name: 'a3', zone: 'z1' },
    { name: 'b1', zone: 'z2' },
  ];
  for (const seed of [1, 2, 3, 4, 5]) {
    const zplan = planBatch(
      snapshotOf(zoned.map((z) => node({ ...z, cpu: '8', memory: '8Gi' }))),
      pending([0, 1].map((i) => pod({ name: `web-${i}`, owner: 'web-rs' }))),
      schedulerProfile(),
      seed,
    );
    const zones = zplan.bindings.map((b) => (b.nodeName === 'b1' ? 'z2' : 'z1')).sort();
    t.same(zones, ['z1', 'z2'], `seed ${seed}: two pods, two zones, though z1 has three nodes`);
  }
});

t.test('the same snapshot, pods and seed give the same plan', async (t) => {
  const make = () =>
    snapshotOf(Array.from({ length: 150 }, (_, i) => node({ name: `n${String(i).padStart(3, '0')}` })));
  const pods = Array.from({ length: 50 }, (_, i) => pod({ name: `p${i}` }));
  const placements = (seed: number) =>
    planBatch(make(), pending(pods), schedulerProfile(), seed).bindings.map((b) => b.nodeName);
  t.same(placements(5), placements(5), 'reproducible');
  t.not(placements(5).join(), placements(6).join(), 'another seed, another walk');
});

t.test('large clusters stop looking after enough feasible nodes', async (t) => {
  t.equal(feasibleNodesToFind(50, 0), 50, 'small clusters: all');
  t.equal(feasibleNodesToFind(1000, 0), 420, '1,000 nodes: 42%');
  t.equal(feasibleNodesToFind(5000, 0), 500, '5,000 nodes: 10%');
  t.equal(feasibleNodesToFind(100_000, 0), 5000, 'at least 5%');
  t.equal(feasibleNodesToFind(300, 10), 100, 'never fewer than 100');
  t.equal(feasibleNodesToFind(1000, 100), 1000, '100%: all');
});
