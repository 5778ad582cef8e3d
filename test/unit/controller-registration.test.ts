import t from 'tap';
import type { Node, NodeCondition } from '@flotilla/proto';
import { mergeRegistration, readyCondition, validateRegistration } from '@flotilla/controller';

const now = new Date('2026-01-01T00:00:00.000Z');

interface NodeSpec {
  name?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  unschedulable?: boolean;
  podCIDR?: string;
  capacity?: Record<string, string>;
  allocatable?: Record<string, string>;
  addresses?: string[];
  conditions?: NodeCondition[];
}

function makeNode(spec: NodeSpec = {}): Node {
  return {
    apiVersion: '',
    kind: '',
    metadata: {
      name: spec.name ?? 'a',
      namespace: '',
      uid: spec.uid ?? '',
      resourceVersion: spec.resourceVersion ?? '',
      generation: 0,
      creationTimestamp: spec.creationTimestamp ?? '',
      deletionTimestamp: '',
      labels: spec.labels ?? {},
      annotations: spec.annotations ?? {},
      ownerReferences: [],
    },
    spec: { podCIDR: spec.podCIDR ?? '', unschedulable: spec.unschedulable ?? false, taints: [] },
    status: {
      capacity: spec.capacity ?? {},
      allocatable: spec.allocatable ?? {},
      conditions: spec.conditions ?? [],
      addresses: (spec.addresses ?? []).map((address) => ({ type: 'InternalIP', address })),
      nodeInfo: undefined,
      daemonEndpoints: undefined,
      images: [],
    },
  };
}

function ready(status: string, lastTransitionTime: string): NodeCondition {
  return { type: 'Ready', status, lastHeartbeatTime: '', lastTransitionTime, reason: 'R', message: 'm' };
}

/** What is stored for node a: registered once, cordoned by an admin, now Unknown. */
const stored = makeNode({
  uid: 'uid-1',
  resourceVersion: '12',
  creationTimestamp: '2025-06-01T00:00:00.000Z',
  labels: { old: '1' },
  annotations: { note: 'kept' },
  unschedulable: true,
  podCIDR: '10.0.0.0/24',
  capacity: { cpu: '1' },
  addresses: ['10.1.1.1'],
  conditions: [ready('Unknown', '2025-12-31T00:00:00.000Z')],
});

/** What the agent sends when it registers again. */
const incoming = makeNode({
  labels: { new: '1' },
  annotations: { note: 'from the agent' },
  unschedulable: false,
  podCIDR: '',
  capacity: { cpu: '2', memory: '4Gi' },
  addresses: ['10.1.1.2'],
});

t.test('re-registration keeps the spec and identity, takes labels and status from the agent', async (t) => {
  const merged = mergeRegistration(stored, incoming, now, 'uid-2');
  t.equal(merged.apiVersion, 'v1');
  t.equal(merged.kind, 'Node');
  t.strictSame(
    merged.metadata,
    {
      name: 'a',
      namespace: '',
      uid: 'uid-1',
      resourceVersion: '12',
      generation: 0,
      creationTimestamp: '2025-06-01T00:00:00.000Z',
      deletionTimestamp: '',
      labels: { new: '1' },
      annotations: { note: 'kept' },
      ownerReferences: [],
    },
    'uid, creation time, revision and annotations are the stored ones; labels the agent’s',
  );
  t.strictSame(merged.spec, stored.spec, 'the cluster owns the spec: still cordoned, same pod CIDR');
  t.strictSame(merged.status?.capacity, { cpu: '2', memory: '4Gi' });
  t.strictSame(merged.status?.allocatable, { cpu: '2', memory: '4Gi' }, 'all capacity is allocatable');
  t.strictSame(merged.status?.addresses, [{ type: 'InternalIP', address: '10.1.1.2' }]);
  const withImages = mergeRegistration(
    stored,
    {
      ...incoming,
      status: incoming.status && { ...incoming.status, images: [{ names: ['web:v1'], sizeBytes: 5 }] },
    },
    now,
    'uid-2',
  );
  t.strictSame(
    withImages.status?.images,
    [{ names: ['web:v1'], sizeBytes: 5 }],
    'the images the agent reports',
  );
  t.strictSame(readyCondition(merged), {
    type: 'Ready',
    status: 'True',
    reason: 'AgentRegistered',
    message: 'the agent registered the node',
    lastHeartbeatTime: now.toISOString(),
    lastTransitionTime: now.toISOString(),
  });
});

t.test('a first registration sets uid and creation time and takes the spec it brings', async (t) => {
  const first = makeNode({
    name: 'b',
    labels: { zone: 'x' },
    annotations: { a: 'b' },
    podCIDR: '10.0.1.0/24',
  });
  const merged = mergeRegistration(undefined, first, now, 'uid-new');
  t.equal(merged.metadata?.uid, 'uid-new');
  t.equal(merged.metadata?.creationTimestamp, now.toISOString());
  t.equal(merged.metadata?.resourceVersion, '', 'nothing stored: the write is a create');
  t.strictSame(merged.metadata?.labels, { zone: 'x' });
  t.strictSame(merged.metadata?.annotations, { a: 'b' });
  t.equal(merged.spec?.podCIDR, '10.0.1.0/24');
  t.equal(readyCondition(merged)?.status, 'True');
});

t.test('uid and creation time are set once, whatever uid the caller offers later', async (t) => {
  const first = mergeRegistration(undefined, incoming, now, 'uid-first');
  const later = new Date('2026-02-01T00:00:00.000Z');
  const again = mergeRegistration(first, incoming, later, 'uid-second');
  t.equal(again.metadata?.uid, 'uid-first');
  t.equal(again.metadata?.creationTimestamp, now.toISOString());
  t.equal(readyCondition(again)?.lastHeartbeatTime, later.toISOString(), 'the heartbeat time moves');
  t.equal(readyCondition(again)?.lastTransitionTime, now.toISOString(), 'still Ready: no transition');
});

t.test('an explicit allocatable is kept apart from capacity', async (t) => {
  const merged = mergeRegistration(
    undefined,
    makeNode({ capacity: { cpu: '4' }, allocatable: { cpu: '3500m' } }),
    now,
    'u',
  );
  t.strictSame(merged.status?.capacity, { cpu: '4' });
  t.strictSame(merged.status?.allocatable, { cpu: '3500m' });
});

t.test('mergeRegistration does not change its inputs', async (t) => {
  const before = structuredClone(stored);
  const merged = mergeRegistration(stored, incoming, now, 'u');
  if (merged.metadata) merged.metadata.labels.extra = 'x';
  merged.status?.conditions.push(ready('False', ''));
  t.strictSame(stored, before);
  t.strictSame(incoming.metadata?.labels, { new: '1' });
});

t.test('validateRegistration names the field and value it refuses', async (t) => {
  const cases: Array<[string, Node | undefined, { message: RegExp; context?: object }]> = [
    ['no node', undefined, { message: /node is required/ }],
    [
      'bad name',
      makeNode({ name: 'Bad_Name' }),
      { message: /node\.metadata\.name "Bad_Name"/, context: { value: 'Bad_Name' } },
    ],
    ['bad label key', makeNode({ labels: { 'a b': 'x' } }), { message: /label key "a b"/ }],
    ['bad label value', makeNode({ labels: { a: 'x y' } }), { message: /label a="x y": value/ }],
  ];
  for (const [what, node, wanted] of cases) {
    t.throws(() => validateRegistration(node), { code: 'InvalidArgument', ...wanted }, what);
  }
  const good = makeNode({ name: 'worker-1.example.com', labels: { 'example.com/zone': 'eu-1', empty: '' } });
  t.equal(validateRegistration(good), good);
});
