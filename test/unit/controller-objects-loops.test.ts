// The object API's other decisions, pure or over MemoryStore: eviction against a
// Deployment's maxUnavailable, what the garbage collector deletes, watch filtering and
// Event field selectors, and the store-backed event recorder (aggregation, batching,
// expiry).
import t from 'tap';
import { Deployment, Event, Namespace, Node, Pod, PodEvent_Type, ReplicaSet, Service } from '@flotilla/proto';
import { createLogger } from '@flotilla/common';
import {
  GarbageCollector,
  MemoryStore,
  StoreEventRecorder,
  deploymentCodec,
  namespaceCodec,
  nodeCodec,
  podCodec,
  replicaSetCodec,
  eventCodec,
  evictionVerdict,
  findGarbage,
  keys,
  putOp,
  objectEventFor,
  parseEventFieldSelector,
  eventMatchesFields,
  serviceDeleteOps,
  type Entry,
} from '@flotilla/controller';

const log = createLogger({ component: 'test' }, { level: 'error' });
const now = new Date('2026-01-01T00:10:00Z');

const entry = <T>(key: string, value: T, rev = 1): Entry<T> => ({
  key,
  value,
  modRevision: rev,
  createRevision: rev,
});

function deployment(replicas: number, maxUnavailable: string, uid = 'd1'): Deployment {
  return Deployment.fromJSON({
    metadata: { name: 'web', namespace: 'default', uid },
    spec: {
      replicas,
      minReadySeconds: 0,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '1', maxUnavailable } },
    },
  });
}
const rs = (uid: string, owner: string): ReplicaSet =>
  ReplicaSet.fromJSON({
    metadata: {
      name: `web-${uid}`,
      namespace: 'default',
      uid,
      ownerReferences: [{ kind: 'Deployment', name: 'web', uid: owner, controller: true }],
    },
  });
function pod(name: string, owner: string, ready = true, extra: Record<string, unknown> = {}): Pod {
  return Pod.fromJSON({
    metadata: {
      name,
      namespace: 'default',
      uid: `u-${name}`,
      ownerReferences: [{ kind: 'ReplicaSet', name: 'web-r1', uid: owner, controller: true }],
      ...extra,
    },
    spec: { nodeName: 'n1' },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
    },
  });
}

t.test('eviction keeps a Deployment at replicas − maxUnavailable available pods', async (t) => {
  const pods = [pod('a', 'r1'), pod('b', 'r1'), pod('c', 'r1')];
  const snap = (d: Deployment, list = pods) => ({
    deployments: [d],
    replicaSets: [rs('r1', 'd1')],
    pods: list,
  });
  const refused = evictionVerdict(pods[0]!, snap(deployment(3, '0')), now);
  t.equal(refused.allowed, false, 'maxUnavailable 0: no available pod may go');
  t.match(
    !refused.allowed && refused.message,
    /Deployment "web" with 2 available pods, fewer than the 3 it needs.*retry/,
  );
  t.equal(
    evictionVerdict(pods[0]!, snap(deployment(3, '1')), now).allowed,
    true,
    'maxUnavailable 1: one may go',
  );
  const oneDown = [pod('a', 'r1'), pod('b', 'r1', false), pod('c', 'r1')];
  t.equal(
    evictionVerdict(oneDown[0]!, snap(deployment(3, '1'), oneDown), now).allowed,
    false,
    'one already unavailable',
  );
  t.equal(
    evictionVerdict(oneDown[1]!, snap(deployment(3, '1'), oneDown), now).allowed,
    true,
    'an unavailable pod may always go',
  );
  t.equal(
    evictionVerdict(pods[0]!, snap(deployment(4, '25%'), pods), now).allowed,
    false,
    '25% of 4 is 1; 3 needed, 2 left',
  );
  const bare = Pod.fromJSON({ metadata: { name: 'x' } });
  t.equal(evictionVerdict(bare, snap(deployment(3, '0')), now).allowed, true, 'a pod of no Deployment');
});

t.test('the garbage collector deletes orphans and empties Terminating namespaces', async (t) => {
  const ns = (name: string, phase: string) =>
    entry(`namespaces/${name}`, Namespace.fromJSON({ metadata: { name }, status: { phase } }), 5);
  const actions = findGarbage({
    namespaces: [ns('default', 'Active'), ns('old', 'Terminating'), ns('empty', 'Terminating')],
    deployments: [entry('deployments/default/live', deployment(1, '1', 'd-live'))],
    replicaSets: [
      entry('replicasets/default/web-r1', rs('r1', 'd-gone'), 6),
      entry('replicasets/default/web-r2', rs('r2', 'd-live')),
    ],
    pods: [
      entry('pods/default/a', pod('a', 'r1')),
      entry('pods/default/b', pod('b', 'r2')),
      entry('pods/default/c', pod('c', 'r-gone', true, { deletionTimestamp: '2026-01-01T00:00:00Z' })),
      entry('pods/old/d', Pod.fromJSON({ metadata: { name: 'd', namespace: 'old', uid: 'u-d' } })),
    ],
    services: [entry('services/old/s', Service.fromJSON({ metadata: { name: 's', namespace: 'old' } }))],
    events: [],
    nodes: [entry('nodes/n1', Node.fromJSON({ metadata: { name: 'n1' } }))],
  });
  const summary = actions.map((a) =>
    a.type === 'deletePod'
      ? `pod ${a.namespace}/${a.name}`
      : a.type === 'deleteService'
        ? `service ${a.entry.key}`
        : `delete ${a.key}`,
  );
  t.same(summary.sort(), [
    'delete namespaces/empty',
    'delete replicasets/default/web-r1',
    'pod default/a',
    'pod old/d',
    'service services/old/s',
  ]);
  t.match(
    actions.find((a) => a.type === 'delete' && a.key.includes('web-r1')),
    { expect: 6, why: /Deployment web is gone/ },
  );
});

t.test('pods bound to a node that no longer exists are forgotten, terminating or not', async (t) => {
  const bound = (name: string, node: string, deleting = false) =>
    entry(
      `pods/default/${name}`,
      Pod.fromJSON({
        metadata: {
          name,
          namespace: 'default',
          uid: `u-${name}`,
          ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
        },
        spec: { nodeName: node },
      }),
      9,
    );
  const actions = findGarbage({
    namespaces: [],
    deployments: [],
    replicaSets: [],
    pods: [
      bound('here', 'n1'),
      bound('gone', 'n-deleted'),
      bound('stuck', 'n-deleted', true),
      entry('pods/default/unbound', Pod.fromJSON({ metadata: { name: 'unbound', namespace: 'default' } })),
    ],
    services: [],
    events: [],
    nodes: [entry('nodes/n1', Node.fromJSON({ metadata: { name: 'n1' } }))],
  });
  t.same(
    actions.map((a) => (a.type === 'forgetPod' ? `forget ${a.key} ${a.uid} @${a.expect}` : a.type)),
    ['forget pods/default/gone u-gone @9', 'forget pods/default/stuck u-stuck @9'],
    'only the pods of the missing node, guarded by their revision; an unbound pod waits for the scheduler',
  );
  t.match(actions[0], { why: /node n-deleted no longer exists/ });
});

t.test('the garbage collector forgets a pod of a deleted node only when two passes find it so', async (t) => {
  const store = new MemoryStore();
  await store.create(nodeCodec, keys.node('n1'), Node.fromJSON({ metadata: { name: 'n1' } }));
  const stranded = Pod.fromJSON({
    metadata: { name: 'x', namespace: 'default', uid: 'u-x', deletionTimestamp: '2026-01-01T00:00:00Z' },
    spec: { nodeName: 'n-deleted' },
  });
  await store.create(podCodec, keys.pod('default', 'x'), stranded);
  const kept = Pod.fromJSON({
    metadata: { name: 'y', namespace: 'default', uid: 'u-y' },
    spec: { nodeName: 'n1' },
  });
  await store.create(podCodec, keys.pod('default', 'y'), kept);
  const gc = new GarbageCollector({ store, log });
  t.equal(await gc.collect(), 0, 'the first pass only notes it');
  t.ok(await store.get(podCodec, keys.pod('default', 'x')));
  t.equal(await gc.collect(), 1, 'the second forgets it');
  t.equal(await store.get(podCodec, keys.pod('default', 'x')), undefined);
  t.ok(await store.get(podCodec, keys.pod('default', 'y')), 'a pod of an existing node stays');
  await gc.stop();
});

t.test(
  'the garbage collector reads owners after what they own: a ReplicaSet committed with its pods between the reads is seen',
  async (t) => {
    const store = new MemoryStore();
    await store.create(nodeCodec, keys.node('n1'), Node.fromJSON({ metadata: { name: 'n1' } }));
    await store.create(deploymentCodec, keys.deployment('default', 'web'), deployment(1, '0'));
    // The deployment loop commits a new ReplicaSet with its first pods just as the pods are read.
    let committed = false;
    const racing = new Proxy(store, {
      get(target, prop) {
        if (prop === 'list') {
          return async (codec: Parameters<MemoryStore['list']>[0], prefix: string) => {
            if (prefix === keys.pods && !committed) {
              committed = true;
              await target.commit([
                putOp(replicaSetCodec, keys.replicaSet('default', 'web-r1'), rs('r1', 'd1'), 0),
                putOp(podCodec, keys.pod('default', 'p1'), pod('p1', 'r1'), 0),
              ]);
            }
            return target.list(codec, prefix);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const gc = new GarbageCollector({ store: racing, log });
    t.equal(await gc.collect(), 0, 'nothing is garbage');
    t.ok(committed);
    t.ok(await store.get(podCodec, keys.pod('default', 'p1')), 'the new ReplicaSet’s pod stays');
    await gc.stop();
  },
);

t.test('deleting a Service releases its allocation keys in the same transaction', async (t) => {
  const svc = entry(
    'services/default/web',
    Service.fromJSON({
      metadata: { name: 'web' },
      spec: {
        clusterIP: '10.96.0.7',
        ports: [
          { port: 80, nodePort: 30001 },
          { port: 81, nodePort: 30002 },
        ],
      },
    }),
    12,
  );
  t.same(serviceDeleteOps(svc), [
    { type: 'delete', key: 'services/default/web', expect: 12 },
    { type: 'delete', key: keys.serviceIp('10.96.0.7') },
    { type: 'delete', key: keys.nodePort(30001) },
    { type: 'delete', key: keys.nodePort(30002) },
  ]);
});

t.test('watch filtering: entering the filter is ADDED, leaving it DELETED', async (t) => {
  const filter = {
    namespace: 'default',
    name: '',
    selector: [{ op: 'equals' as const, key: 'app', value: 'web' }],
  };
  const d = (labels: Record<string, string>) =>
    Deployment.fromJSON({ metadata: { name: 'x', namespace: 'default', labels } });
  t.equal(
    objectEventFor(filter, { type: 'put', key: 'k', value: d({ app: 'web' }), revision: 3 })?.type,
    PodEvent_Type.ADDED,
  );
  t.equal(
    objectEventFor(filter, {
      type: 'put',
      key: 'k',
      value: d({ app: 'web', v: '2' }),
      previous: d({ app: 'web' }),
      revision: 4,
    })?.type,
    PodEvent_Type.MODIFIED,
  );
  const left = objectEventFor(filter, {
    type: 'put',
    key: 'k',
    value: d({ app: 'db' }),
    previous: d({ app: 'web' }),
    revision: 5,
  });
  t.equal(left?.type, PodEvent_Type.DELETED);
  t.equal(left?.value.metadata?.resourceVersion, '5');
  t.equal(
    objectEventFor(filter, { type: 'delete', key: 'k', previous: d({ app: 'db' }), revision: 6 }),
    undefined,
  );
});

t.test('Event field selectors', async (t) => {
  const e = Event.fromJSON({
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default' },
    reason: 'Scheduled',
    type: 'Normal',
  });
  t.ok(eventMatchesFields(e, parseEventFieldSelector('involvedObject.kind=Pod,involvedObject.name=web-1')));
  t.notOk(eventMatchesFields(e, parseEventFieldSelector('involvedObject.name==web-2')));
  t.ok(eventMatchesFields(e, parseEventFieldSelector('reason!=Killing')));
  t.throws(() => parseEventFieldSelector('spec.nodeName=n1'), /involvedObject\.kind/);
});

t.test('the store recorder aggregates repeats, batches writes and expires old events', async (t) => {
  const store = new MemoryStore();
  let clock = new Date('2026-01-01T00:00:00Z');
  const recorder = new StoreEventRecorder({ store, log, now: () => clock, flushDelayMs: 5, ttlMs: 60_000 });
  const ref = {
    apiVersion: 'v1',
    kind: 'Node',
    namespace: '',
    name: 'n1',
    uid: 'u1',
    resourceVersion: '',
    fieldPath: '',
  };
  recorder.record({ involvedObject: ref, type: 'Normal', reason: 'NodeNotSchedulable', message: 'cordoned' });
  clock = new Date('2026-01-01T00:00:10Z');
  recorder.record({ involvedObject: ref, type: 'Normal', reason: 'NodeNotSchedulable', message: 'cordoned' });
  recorder.record({ involvedObject: ref, type: 'Warning', reason: 'NodeNotReady', message: 'silent' });
  await recorder.flush();
  const { entries } = await store.list(eventCodec, keys.events);
  t.equal(entries.length, 2, 'a repeat is one event');
  const cordoned = entries.find((e) => e.value.reason === 'NodeNotSchedulable')!;
  t.equal(cordoned.value.count, 2);
  t.equal(cordoned.value.firstTimestamp, '2026-01-01T00:00:00.000Z');
  t.equal(cordoned.value.lastTimestamp, '2026-01-01T00:00:10.000Z');
  t.match(
    cordoned.key,
    /^events\/default\/n1\.[0-9a-f]+$/,
    "a node's events live in default, named <object>.<hex>",
  );
  t.equal(cordoned.value.involvedObject?.name, 'n1');
  clock = new Date('2026-01-01T00:01:11Z');
  t.equal(await recorder.sweep(), 2, 'older than the TTL: deleted');
  t.equal((await store.list(eventCodec, keys.events)).entries.length, 0);
  recorder.record({ involvedObject: ref, type: 'Normal', reason: 'NodeNotSchedulable', message: 'cordoned' });
  await recorder.stop();
  const again = await store.list(eventCodec, keys.events);
  t.equal(again.entries[0]?.value.count, 1, 'after expiry a repeat starts a new event');
});

t.test('the store recorder counts repeats among the most recent distinct events only', async (t) => {
  const store = new MemoryStore();
  const recorder = new StoreEventRecorder({ store, log, flushDelayMs: 5, remembered: 2 });
  const ref = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: 'default',
    name,
    uid: `${name}-uid`,
    resourceVersion: '',
    fieldPath: '',
  });
  const scheduled = (name: string) =>
    recorder.record({ involvedObject: ref(name), type: 'Normal', reason: 'Scheduled', message: `to n1` });
  scheduled('a');
  scheduled('b');
  scheduled('a'); // a is the most recent again
  scheduled('c'); // b is forgotten, not a
  await recorder.flush();
  scheduled('a');
  scheduled('b'); // not remembered: a new event, though the first b is still written
  await recorder.stop();
  const { entries } = await store.list(eventCodec, keys.events);
  const counts = entries.map((e) => `${e.value.involvedObject?.name} ${e.value.count}`).sort();
  t.same(counts, ['a 3', 'b 1', 'b 1', 'c 1'], 'a counted three times; b twice written apart');
});

t.test(
  'the garbage collector over a store: orphans go, a Terminating namespace empties and goes',
  async (t) => {
    const store = new MemoryStore();
    await store.create(
      namespaceCodec,
      keys.namespace('default'),
      Namespace.fromJSON({ metadata: { name: 'default' }, status: { phase: 'Active' } }),
    );
    await store.create(
      namespaceCodec,
      keys.namespace('old'),
      Namespace.fromJSON({ metadata: { name: 'old' }, status: { phase: 'Terminating' } }),
    );
    await store.create(
      deploymentCodec,
      keys.deployment('old', 'web'),
      Deployment.fromJSON({ metadata: { name: 'web', namespace: 'old', uid: 'd-old' } }),
    );
    await store.create(replicaSetCodec, keys.replicaSet('default', 'web-r1'), rs('r1', 'd-gone'));
    const orphan = pod('a', 'r1');
    orphan.spec!.nodeName = '';
    await store.create(podCodec, keys.pod('default', 'a'), orphan);
    const gc = new GarbageCollector({ store, log });
    t.ok((await gc.collect()) >= 3, 'first pass: the deployment, the ReplicaSet and the pod');
    t.equal(await store.get(replicaSetCodec, keys.replicaSet('default', 'web-r1')), undefined);
    t.equal(
      await store.get(podCodec, keys.pod('default', 'a')),
      undefined,
      'an unbound orphan pod goes at once',
    );
    t.ok(
      await store.get(namespaceCodec, keys.namespace('old')),
      'the namespace waits for a pass that finds it empty',
    );
    await gc.collect();
    t.equal(await store.get(namespaceCodec, keys.namespace('old')), undefined);
    t.ok(await store.get(namespaceCodec, keys.namespace('default')));
    await gc.stop();
  },
);
