// The scheduler's filters: which nodes can take a pod, and the counted reasons for the
// ones that cannot, in kube-scheduler's message format. (These began as the first-fit
// placement's tests; the filters replaced it.)
import t from 'tap';
import type { Node, Pod } from '@flotilla/proto';
import {
  Planner,
  podDemand,
  requirementHolds,
  schedulerProfile,
  seededRandom,
  tolerates,
  unschedulableMessage,
} from '@flotilla/controller';
import { podKey, snapshotOf, testNode as node, testPod as pod } from '../lib/scheduler-fixtures.js';

const profile = schedulerProfile();

/** The names of the nodes every filter accepts. */
function feasible(p: Pod, nodes: Node[], bound: Pod[] = []): string[] {
  const snapshot = snapshotOf(nodes, bound);
  const demand = podDemand(podKey(p), p);
  return snapshot
    .nodes()
    .filter((n) => profile.filters.every((f) => f.check(demand, n) === undefined))
    .map((n) => n.name);
}

/** The PodScheduled message when no node fits, "" when one does. */
function message(p: Pod, nodes: Node[], bound: Pod[] = []): string {
  const placement = new Planner(profile, seededRandom(1)).place(
    snapshotOf(nodes, bound),
    podDemand(podKey(p), p),
  );
  return placement.nodeName === undefined ? placement.message : '';
}

t.test('not ready, cordoned and tainted nodes are rejected', async (t) => {
  const nodes = [
    node({ name: 'a', ready: false }),
    node({ name: 'b', unschedulable: true }),
    node({ name: 'c', taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
    node({ name: 'd' }),
  ];
  t.same(feasible(pod({ name: 'x' }), nodes), ['d']);
  t.equal(
    message(pod({ name: 'x' }), nodes.slice(0, 3)),
    '0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were not ready, 1 node(s) were unschedulable.',
  );
});

t.test('a node that is not ready or cordoned gives no further reasons', async (t) => {
  const nodes = [
    node({ name: 'a', ready: false, memory: '1Mi' }),
    node({ name: 'b', unschedulable: true, memory: '1Mi' }),
  ];
  t.equal(
    message(pod({ name: 'x', memory: '1Gi' }), nodes),
    '0/2 nodes are available: 1 node(s) were not ready, 1 node(s) were unschedulable.',
  );
});

t.test('taints against tolerations', async (t) => {
  const taint = { key: 'dedicated', value: 'db', effect: 'NoSchedule' };
  const cases: {
    name: string;
    toleration: { key?: string; operator?: string; value?: string; effect?: string };
    ok: boolean;
  }[] = [
    {
      name: 'Equal with the value',
      toleration: { key: 'dedicated', operator: 'Equal', value: 'db' },
      ok: true,
    },
    { name: 'operator defaults to Equal', toleration: { key: 'dedicated', value: 'db' }, ok: true },
    {
      name: 'Equal with another value',
      toleration: { key: 'dedicated', operator: 'Equal', value: 'web' },
      ok: false,
    },
    { name: 'Exists ignores the value', toleration: { key: 'dedicated', operator: 'Exists' }, ok: true },
    { name: 'another key', toleration: { key: 'gpu', operator: 'Exists' }, ok: false },
    { name: 'empty key with Exists tolerates all', toleration: { operator: 'Exists' }, ok: true },
    {
      name: 'the same effect',
      toleration: { key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' },
      ok: true,
    },
    {
      name: 'another effect',
      toleration: { key: 'dedicated', operator: 'Exists', effect: 'NoExecute' },
      ok: false,
    },
    { name: 'empty key without Exists', toleration: { operator: 'Equal', value: 'db' }, ok: false },
  ];
  for (const c of cases) {
    const tol = {
      key: '',
      operator: '',
      value: '',
      effect: '',
      ...c.toleration,
      tolerationSeconds: undefined,
    };
    t.equal(tolerates(tol, { ...taint, timeAdded: '' }), c.ok, c.name);
    const nodes = [node({ name: 'a', taints: [taint] })];
    t.same(
      feasible(pod({ name: 'x', tolerations: [c.toleration] }), nodes),
      c.ok ? ['a'] : [],
      `${c.name}: filter`,
    );
  }
  const noExecute = [node({ name: 'a', taints: [{ key: 'k', value: 'v', effect: 'NoExecute' }] })];
  t.same(feasible(pod({ name: 'x' }), noExecute), [], 'NoExecute is filtered too');
  const soft = [node({ name: 'a', taints: [{ key: 'k', value: 'v', effect: 'PreferNoSchedule' }] })];
  t.same(feasible(pod({ name: 'x' }), soft), ['a'], 'PreferNoSchedule is only scored');
  const two = [
    node({
      name: 'a',
      taints: [
        { key: 'k1', value: 'v', effect: 'NoSchedule' },
        { key: 'k2', value: 'v', effect: 'NoSchedule' },
      ],
    }),
  ];
  t.same(
    feasible(pod({ name: 'x', tolerations: [{ key: 'k1', operator: 'Exists' }] }), two),
    [],
    'every taint must be tolerated',
  );
  t.equal(
    message(pod({ name: 'x', tolerations: [{ key: 'k1', operator: 'Exists' }] }), two),
    '0/1 nodes are available: 1 node(s) had untolerated taint {k2: v}.',
  );
});

t.test('nodeSelector must match the node labels', async (t) => {
  const nodes = [node({ name: 'a', labels: { zone: 'z1' } }), node({ name: 'b', labels: { zone: 'z2' } })];
  t.same(feasible(pod({ name: 'x', selector: { zone: 'z2' } }), nodes), ['b']);
  t.equal(
    message(pod({ name: 'x', selector: { zone: 'z3' } }), nodes),
    "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
  );
});

t.test('node affinity requirements, operator by operator', async (t) => {
  const req = (operator: string, values: string[] = []) => ({ key: 'k', operator, values });
  const cases: [string, string[], string | undefined, boolean][] = [
    ['In', ['a', 'b'], 'b', true],
    ['In', ['a'], 'b', false],
    ['In', ['a'], undefined, false],
    ['NotIn', ['a'], 'b', true],
    ['NotIn', ['a'], 'a', false],
    ['NotIn', ['a'], undefined, true],
    ['Exists', [], '', true],
    ['Exists', [], undefined, false],
    ['DoesNotExist', [], undefined, true],
    ['DoesNotExist', [], 'x', false],
    ['Gt', ['5'], '6', true],
    ['Gt', ['5'], '5', false],
    ['Gt', ['5'], 'six', false],
    ['Gt', ['5'], undefined, false],
    ['Lt', ['5'], '4', true],
    ['Lt', ['5'], '-10', true],
    ['Lt', ['5'], '5', false],
    ['Bogus', [], 'x', false],
  ];
  for (const [op, values, have, ok] of cases) {
    t.equal(
      requirementHolds(req(op, values), have),
      ok,
      `${op} ${JSON.stringify(values)} against ${String(have)}`,
    );
  }
});

t.test('required node affinity: terms ORed, expressions ANDed, matchFields on metadata.name', async (t) => {
  const nodes = [
    node({ name: 'a', labels: { disk: 'ssd', cores: '8' } }),
    node({ name: 'b', labels: { disk: 'hdd', cores: '32' } }),
    node({ name: 'c', labels: {} }),
  ];
  const affinity = (terms: unknown[]) => ({
    requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms },
  });
  const ssdAndBig = affinity([
    {
      matchExpressions: [
        { key: 'disk', operator: 'In', values: ['ssd'] },
        { key: 'cores', operator: 'Gt', values: ['16'] },
      ],
    },
  ]);
  t.same(feasible(pod({ name: 'x', nodeAffinity: ssdAndBig }), nodes), [], 'ANDed');
  const ssdOrBig = affinity([
    { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] },
    { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['16'] }] },
  ]);
  t.same(feasible(pod({ name: 'x', nodeAffinity: ssdOrBig }), nodes), ['a', 'b'], 'ORed');
  const byName = affinity([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['c'] }] }]);
  t.same(feasible(pod({ name: 'x', nodeAffinity: byName }), nodes), ['c'], 'matchFields metadata.name');
  const noDisk = affinity([{ matchExpressions: [{ key: 'disk', operator: 'DoesNotExist' }] }]);
  t.same(feasible(pod({ name: 'x', nodeAffinity: noDisk }), nodes), ['c']);
  t.same(
    feasible(pod({ name: 'x', nodeAffinity: affinity([{}]) }), nodes),
    [],
    'an empty term matches nothing',
  );
  t.same(
    feasible(pod({ name: 'x', selector: { disk: 'hdd' }, nodeAffinity: ssdOrBig }), nodes),
    ['b'],
    'nodeSelector and affinity must both hold',
  );
  t.equal(
    message(pod({ name: 'x', nodeAffinity: ssdAndBig }), nodes),
    "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
  );
});

t.test('requests must fit in allocatable minus the unfinished pods bound there', async (t) => {
  const nodes = [node({ name: 'a', memory: '1Gi' }), node({ name: 'b', memory: '1Gi' })];
  const bound = [
    pod({ name: 'p1', node: 'a', memory: '768Mi' }),
    pod({ name: 'p2', node: 'b', memory: '768Mi', phase: 'Succeeded' }),
  ];
  t.same(
    feasible(pod({ name: 'x', memory: '512Mi' }), nodes, bound),
    ['b'],
    'a finished pod frees its memory',
  );
  t.same(feasible(pod({ name: 'x', memory: '256Mi' }), nodes, bound), ['a', 'b'], 'exactly full fits');
  t.equal(
    message(pod({ name: 'x', memory: '2Gi' }), nodes, bound),
    '0/2 nodes are available: 2 insufficient memory.',
  );
  t.equal(message(pod({ name: 'x', cpu: '2500m' }), nodes), '0/2 nodes are available: 2 insufficient cpu.');
  t.equal(
    message(pod({ name: 'x', cpu: '3', memory: '2Gi' }), nodes),
    '0/2 nodes are available: 2 insufficient cpu, 2 insufficient memory.',
    'every resource short is counted',
  );
  const deleting = [pod({ name: 'p1', node: 'a', memory: '768Mi', deleting: true })];
  t.same(
    feasible(pod({ name: 'x', memory: '512Mi' }), nodes.slice(0, 1), deleting),
    [],
    'a pod being deleted still holds its memory',
  );
});

t.test('a limit without a request counts as the request', async (t) => {
  const d = podDemand('k', pod({ name: 'x', memory: '64Mi', cpu: '0.5', limitOnly: true }));
  t.same([d.cpu, d.memory], [500, 64 << 20]);
  const nodes = [node({ name: 'a', memory: '32Mi' })];
  t.same(feasible(pod({ name: 'x', memory: '64Mi', limitOnly: true }), nodes), []);
});

t.test('host ports must be free on the node', async (t) => {
  const nodes = [node({ name: 'a' }), node({ name: 'b' })];
  const bound = [
    pod({ name: 'p1', node: 'a', hostPort: 8080 }),
    pod({ name: 'p2', node: 'b', hostPort: 9090, hostIP: '127.0.0.1' }),
  ];
  t.same(feasible(pod({ name: 'x', hostPort: 8080 }), nodes, bound), ['b']);
  t.same(
    feasible(pod({ name: 'x', hostPort: 8080, protocol: 'UDP' }), nodes, bound),
    ['a', 'b'],
    'another protocol',
  );
  t.same(
    feasible(pod({ name: 'x', hostPort: 9090, hostIP: '127.0.0.2' }), nodes, bound),
    ['a', 'b'],
    'another address',
  );
  t.same(
    feasible(pod({ name: 'x', hostPort: 9090 }), nodes, bound),
    ['a'],
    '0.0.0.0 collides with 127.0.0.1 on b',
  );
  const finished = [pod({ name: 'p1', node: 'a', hostPort: 8080, phase: 'Failed' })];
  t.same(
    feasible(pod({ name: 'x', hostPort: 8080 }), nodes, finished),
    ['a', 'b'],
    'a finished pod frees its port',
  );
});

t.test('the message counts every reason over the nodes', async (t) => {
  const nodes = [node({ name: 'a', memory: '128Mi' }), node({ name: 'b' })];
  const bound = [pod({ name: 'p', node: 'b', hostPort: 80 })];
  t.equal(
    message(pod({ name: 'x', memory: '256Mi', hostPort: 80 }), nodes, bound),
    "0/2 nodes are available: 1 insufficient memory, 1 node(s) didn't have free ports for the requested pod ports.",
  );
  t.equal(message(pod({ name: 'x' }), []), '0/0 nodes are available: no node has joined the cluster.');
  t.equal(
    unschedulableMessage(
      3,
      new Map([
        ['node(s) were unschedulable', 1],
        ['insufficient memory', 2],
      ]),
    ),
    '0/3 nodes are available: 2 insufficient memory, 1 node(s) were unschedulable.',
    'reasons in text order',
  );
});

t.test('allocatable pods caps the count', async (t) => {
  const nodes = [node({ name: 'a', pods: '1' })];
  t.equal(
    message(pod({ name: 'x' }), nodes, [pod({ name: 'p', node: 'a' })]),
    '0/1 nodes are available: 1 too many pods.',
  );
  t.same(feasible(pod({ name: 'x' }), nodes, [pod({ name: 'p', node: 'a', phase: 'Succeeded' })]), ['a']);
});
