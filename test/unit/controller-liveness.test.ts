import t from 'tap';
import type { Node, NodeCondition } from '@flotilla/proto';
import { decideNodeLiveness, heartbeatUpdate, readyCondition } from '@flotilla/controller';

const grace = 5_000;
/** When the controller started; the node times below are relative to it. */
const start = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

interface NodeSpec {
  name: string;
  /** The Ready condition's status; undefined: no Ready condition at all. */
  ready?: 'True' | 'False' | 'Unknown';
  resourceVersion?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
  /** Other conditions, which nothing here may touch. */
  others?: NodeCondition[];
}

function makeNode(spec: NodeSpec): Node {
  const conditions: NodeCondition[] = [];
  if (spec.ready) {
    conditions.push({
      type: 'Ready',
      status: spec.ready,
      lastHeartbeatTime: spec.lastHeartbeatTime ?? '',
      lastTransitionTime: spec.lastTransitionTime ?? '2025-12-31T00:00:00.000Z',
      reason: spec.reason ?? 'AgentRegistered',
      message: spec.message ?? 'the agent registered the node',
    });
  }
  conditions.push(...(spec.others ?? []));
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      namespace: '',
      uid: `${spec.name}-uid`,
      resourceVersion: spec.resourceVersion ?? '7',
      generation: 0,
      creationTimestamp: '2025-12-31T00:00:00.000Z',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: { podCIDR: '', unschedulable: false, taints: [] },
    status: {
      capacity: { cpu: '2' },
      allocatable: { cpu: '2' },
      conditions,
      addresses: [],
      nodeInfo: undefined,
      daemonEndpoints: undefined,
      images: [],
    },
  };
}

const diskPressure: NodeCondition = {
  type: 'DiskPressure',
  status: 'False',
  lastHeartbeatTime: '',
  lastTransitionTime: '2025-12-31T00:00:00.000Z',
  reason: 'Fine',
  message: '',
};

/** The names decideNodeLiveness marks Unknown for one node heard from at `seen` (ms after start). */
function decide(node: Node, seen: number | undefined, now: number): string[] {
  const lastSeen = new Map<string, number>();
  if (seen !== undefined) lastSeen.set(node.metadata?.name ?? '', start + seen);
  return decideNodeLiveness([node], lastSeen, start + now, grace, start).map((u) => u.name);
}

t.test('decideNodeLiveness: who is marked Unknown', async (t) => {
  const cases: Array<[string, NodeSpec, number | undefined, number, boolean]> = [
    // what, node, last seen (ms after start), now (ms after start), marked Unknown
    ['a fresh heartbeat: no change', { name: 'a', ready: 'True' }, 9_000, 10_000, false],
    ['silent for exactly the grace: no change yet', { name: 'a', ready: 'True' }, 5_000, 10_000, false],
    ['silent past the grace', { name: 'a', ready: 'True' }, 4_999, 10_000, true],
    ['never heard from, within the grace after start', { name: 'a', ready: 'True' }, undefined, 5_000, false],
    ['never heard from, past the grace after start', { name: 'a', ready: 'True' }, undefined, 5_001, true],
    [
      'heard from long before start: grace counts from start',
      { name: 'a', ready: 'True' },
      -60_000,
      4_000,
      false,
    ],
    ['heard from long before start, past the grace', { name: 'a', ready: 'True' }, -60_000, 6_000, true],
    ['already Unknown: not rewritten', { name: 'a', ready: 'Unknown' }, undefined, 60_000, false],
    ['False and silent', { name: 'a', ready: 'False' }, 0, 60_000, true],
    ['no Ready condition yet and silent', { name: 'a' }, 0, 60_000, true],
    ['no name: skipped', { name: '', ready: 'True' }, undefined, 60_000, false],
  ];
  for (const [what, spec, seen, now, marked] of cases) {
    t.strictSame(decide(makeNode(spec), seen, now), marked ? [spec.name] : [], what);
  }
});

t.test('decideNodeLiveness decides every node on its own', async (t) => {
  const nodes = ['fresh', 'silent', 'unknown', 'quiet'].map((name) =>
    makeNode({ name, ready: name === 'unknown' ? 'Unknown' : 'True' }),
  );
  const lastSeen = new Map([
    ['fresh', start + 9_000],
    ['silent', start + 1_000],
  ]);
  const names = decideNodeLiveness(nodes, lastSeen, start + 10_000, grace, start).map((u) => u.name);
  t.strictSame(names, ['silent', 'quiet']);
});

t.test('a silent node becomes Unknown with reason, message and times as documented', async (t) => {
  const node = makeNode({
    name: 'a',
    ready: 'True',
    resourceVersion: '42',
    lastHeartbeatTime: '2025-12-31T23:59:50.000Z',
    lastTransitionTime: '2025-12-31T12:00:00.000Z',
    others: [diskPressure],
  });
  const [update, ...more] = decideNodeLiveness(
    [node],
    new Map([['a', start + 1_500]]),
    start + 8_000,
    grace,
    start,
  );
  t.equal(more.length, 0);
  t.equal(update?.name, 'a');
  t.equal(update?.resourceVersion, '42', 'the write is guarded by the revision the decision was made on');
  t.strictSame(readyCondition(update?.node ?? node), {
    type: 'Ready',
    status: 'Unknown',
    reason: 'NodeStatusUnknown',
    message: 'no heartbeat for 6s',
    lastHeartbeatTime: '2025-12-31T23:59:50.000Z',
    lastTransitionTime: iso(start + 8_000),
  });
  t.strictSame(
    update?.node.status?.conditions.filter((c) => c.type !== 'Ready'),
    [diskPressure],
    'other conditions are kept',
  );
  t.strictSame(update?.node.status?.capacity, { cpu: '2' }, 'the rest of the node is kept');
  t.equal(readyCondition(node)?.status, 'True', 'the input node is not changed');
});

t.test('the message counts the silence from the best known heartbeat', async (t) => {
  const message = (spec: NodeSpec, seen: number | undefined, now: number): string | undefined => {
    const lastSeen = new Map<string, number>();
    if (seen !== undefined) lastSeen.set(spec.name, start + seen);
    const [update] = decideNodeLiveness([makeNode(spec)], lastSeen, start + now, grace, start);
    return update ? readyCondition(update.node)?.message : undefined;
  };
  t.equal(
    message({ name: 'a', ready: 'True' }, 2_000, 9_999),
    'no heartbeat for 7s',
    'whole seconds, rounded down',
  );
  t.equal(
    message({ name: 'a', ready: 'True', lastHeartbeatTime: iso(start - 20_000) }, undefined, 6_000),
    'no heartbeat for 26s',
    'this process heard nothing: the stored lastHeartbeatTime',
  );
  t.equal(
    message({ name: 'a', ready: 'True' }, undefined, 6_000),
    'no heartbeat for 6s',
    'nothing stored either: since the controller started',
  );
});

t.test('heartbeatUpdate: what a heartbeat writes', async (t) => {
  const hb = Date.parse('2026-01-01T00:00:20.000Z');
  const cases: Array<[string, NodeSpec, string | undefined]> = [
    // what, node, the lastHeartbeatTime written (undefined: nothing is written)
    [
      'Ready, heartbeat stored 5 s ago: nothing',
      { name: 'a', ready: 'True', lastHeartbeatTime: iso(hb - 5_000) },
      undefined,
    ],
    [
      'Ready, stored 9.999 s ago: nothing',
      { name: 'a', ready: 'True', lastHeartbeatTime: iso(hb - 9_999) },
      undefined,
    ],
    [
      'Ready, stored 10 s ago: refreshed',
      { name: 'a', ready: 'True', lastHeartbeatTime: iso(hb - 10_000) },
      iso(hb),
    ],
    ['Ready, no stored heartbeat: refreshed', { name: 'a', ready: 'True' }, iso(hb)],
    ['Unknown: Ready again', { name: 'a', ready: 'Unknown', lastHeartbeatTime: iso(hb - 1_000) }, iso(hb)],
    ['False: Ready again', { name: 'a', ready: 'False', lastHeartbeatTime: iso(hb - 1_000) }, iso(hb)],
    ['no Ready condition: Ready', { name: 'a' }, iso(hb)],
  ];
  for (const [what, spec, written] of cases) {
    const updated = heartbeatUpdate(makeNode(spec), new Date(hb));
    t.equal(updated && readyCondition(updated)?.lastHeartbeatTime, written, what);
    if (updated) t.equal(readyCondition(updated)?.status, 'True', `${what}: Ready=True`);
  }
});

t.test('a refresh moves only lastHeartbeatTime; a return to Ready is a transition', async (t) => {
  const hb = new Date('2026-01-01T00:00:20.000Z');
  const stale = makeNode({
    name: 'a',
    ready: 'True',
    lastHeartbeatTime: '2026-01-01T00:00:00.000Z',
    reason: 'NodeReady',
    message: 'the agent is posting heartbeats',
    others: [diskPressure],
  });
  const refreshed = heartbeatUpdate(stale, hb);
  t.strictSame(readyCondition(refreshed ?? stale), {
    ...readyCondition(stale),
    lastHeartbeatTime: hb.toISOString(),
  });
  t.strictSame(refreshed?.status?.conditions.slice(1), [diskPressure], 'other conditions are kept');

  const back = heartbeatUpdate(makeNode({ name: 'a', ready: 'Unknown', reason: 'NodeStatusUnknown' }), hb);
  t.strictSame(readyCondition(back ?? stale), {
    type: 'Ready',
    status: 'True',
    reason: 'NodeReady',
    message: 'the agent is posting heartbeats',
    lastHeartbeatTime: hb.toISOString(),
    lastTransitionTime: hb.toISOString(),
  });
});

t.test('heartbeatUpdate takes the refresh interval as a parameter', async (t) => {
  const hb = new Date('2026-01-01T00:00:20.000Z');
  const node = makeNode({ name: 'a', ready: 'True', lastHeartbeatTime: '2026-01-01T00:00:18.000Z' });
  t.equal(heartbeatUpdate(node, hb, 3_000), undefined, 'within 3 s');
  const written = heartbeatUpdate(node, hb, 2_000);
  t.equal(written && readyCondition(written)?.lastHeartbeatTime, hb.toISOString(), 'at 2 s it writes');
});
