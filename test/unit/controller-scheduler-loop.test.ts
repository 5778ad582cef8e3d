// The scheduler loop on MemoryStore: pending pods get bound (or a counted Unschedulable
// verdict), a conflicting write is re-read and re-planned, and a waiting pod is placed
// once capacity appears.
import t, { type Test } from 'tap';
import type { Pod } from '@flotilla/proto';
import { silentLogger } from '@flotilla/common';
import {
  MemoryStore,
  keys,
  nodeCodec,
  podCodec,
  startScheduler,
  type EventInput,
  type TxnOp,
  type TxnResult,
} from '@flotilla/controller';
import { waitFor } from '../lib/wait.js';
import { testNode, testPod, type TestNode, type TestPod } from '../lib/scheduler-fixtures.js';

class RecordingStore extends MemoryStore {
  readonly commits: TxnOp[][] = [];
  /** Runs before the next commit is applied, once: a concurrent writer. */
  beforeNextCommit: (() => Promise<void>) | undefined;

  override async commit(ops: readonly TxnOp[]): Promise<TxnResult> {
    this.commits.push([...ops]);
    const hook = this.beforeNextCommit;
    this.beforeNextCommit = undefined;
    if (hook) await hook();
    return super.commit(ops);
  }
}

function setup(t: Test) {
  const store = new RecordingStore();
  const events: EventInput[] = [];
  const scheduler = startScheduler({
    store,
    events: { record: (e) => events.push(e) },
    log: silentLogger,
    seed: 7,
  });
  t.teardown(() => scheduler.stop());
  const addNode = (s: TestNode) => store.create(nodeCodec, keys.node(s.name), testNode(s));
  const addPod = (s: TestPod) => store.create(podCodec, keys.pod('default', s.name), testPod(s));
  const pod = async (name: string): Promise<Pod | undefined> =>
    (await store.get(podCodec, keys.pod('default', name)))?.value;
  const boundTo = (name: string) =>
    waitFor(`pod ${name} bound`, async () => (await pod(name))?.spec?.nodeName || undefined, {
      intervalMs: 10,
    });
  const verdict = (name: string, match?: RegExp) =>
    waitFor(
      `pod ${name} unschedulable`,
      async () => {
        const c = (await pod(name))?.status?.conditions.find((c) => c.type === 'PodScheduled');
        return c?.status === 'False' && (!match || match.test(c.message)) ? c : undefined;
      },
      { intervalMs: 10 },
    );
  return { store, events, scheduler, addNode, addPod, pod, boundTo, verdict };
}

t.test('a pending pod waits for a node, then is bound to it', async (t) => {
  const s = setup(t);
  await s.addPod({ name: 'web' });
  const c = await s.verdict('web');
  t.equal(c.reason, 'Unschedulable');
  t.equal(c.message, '0/0 nodes are available: no node has joined the cluster.');
  await s.addNode({ name: 'node-a' });
  t.equal(await s.boundTo('web'), 'node-a');
  const bound = await s.pod('web');
  t.match(bound?.status?.conditions, [{ type: 'PodScheduled', status: 'True', reason: '' }]);
  t.same(
    s.events.map((e) => [e.reason, e.type, e.involvedObject.name, e.message]),
    [
      ['FailedScheduling', 'Warning', 'web', '0/0 nodes are available: no node has joined the cluster.'],
      ['Scheduled', 'Normal', 'web', 'Successfully assigned default/web to node-a'],
    ],
  );
  for (const ops of s.store.commits) {
    for (const op of ops)
      t.ok(op.expect !== undefined && op.expect > 0, `${op.key} guarded on its mod revision`);
  }
});

t.test('a conflicting write is re-read and the batch planned again', async (t) => {
  const s = setup(t);
  await s.addNode({ name: 'node-a' });
  s.store.beforeNextCommit = async () => {
    const entry = await s.store.get(podCodec, keys.pod('default', 'web'));
    if (!entry?.value.metadata) throw new Error('no pod');
    entry.value.metadata.labels = { touched: 'yes' };
    await s.store.update(podCodec, entry.key, entry.value, entry.modRevision);
  };
  await s.addPod({ name: 'web' });
  t.equal(await s.boundTo('web'), 'node-a');
  t.same((await s.pod('web'))?.metadata?.labels, { touched: 'yes' }, 'the concurrent change is kept');
  t.ok(s.store.commits.length >= 2, 'the first commit failed and was planned again');
  t.same(
    s.events.filter((e) => e.reason === 'Scheduled').map((e) => e.involvedObject.name),
    ['web'],
    'one Scheduled event',
  );
});

t.test('an unschedulable pod gets the counted reasons, then is placed when capacity frees', async (t) => {
  const s = setup(t);
  await s.addNode({ name: 'node-a', memory: '1Gi' });
  await s.addNode({ name: 'node-b', memory: '1Gi', unschedulable: true });
  await s.addPod({ name: 'big', memory: '768Mi', node: 'node-a' });
  await s.addPod({ name: 'next', memory: '512Mi' });
  const c = await s.verdict('next');
  t.equal(c.message, '0/2 nodes are available: 1 insufficient memory, 1 node(s) were unschedulable.');
  t.equal(c.reason, 'Unschedulable');
  const commits = s.store.commits.length;

  // A change that frees nothing does not retry it.
  await s.addPod({ name: 'other', node: 'node-a', phase: 'Running' });
  await s.addPod({ name: 'probe', memory: '1Mi' });
  t.equal(await s.boundTo('probe'), 'node-a', 'the loop is alive');
  t.equal(s.store.commits.length, commits + 1, 'only the new pod was written');

  await s.store.delete(keys.pod('default', 'big'));
  t.equal(await s.boundTo('next'), 'node-a', 'placed once the memory is free');
});

t.test('a finished pod and an uncordoned node free capacity too', async (t) => {
  const s = setup(t);
  await s.addNode({ name: 'node-a', memory: '1Gi' });
  await s.addPod({ name: 'job', memory: '1Gi', node: 'node-a' });
  await s.addPod({ name: 'next', memory: '1Gi' });
  await s.verdict('next', /insufficient memory/);
  const job = await s.store.get(podCodec, keys.pod('default', 'job'));
  if (!job?.value.status) throw new Error('no job');
  job.value.status.phase = 'Succeeded';
  await s.store.update(podCodec, job.key, job.value, job.modRevision);
  t.equal(await s.boundTo('next'), 'node-a');

  await s.addPod({ name: 'late', memory: '1Gi' });
  await s.verdict('late', /insufficient memory/);
  await s.addNode({ name: 'node-b', memory: '2Gi', unschedulable: true });
  const c = await s.verdict('late', /unschedulable/);
  t.equal(c.message, '0/2 nodes are available: 1 insufficient memory, 1 node(s) were unschedulable.');
  const nodeB = await s.store.get(nodeCodec, keys.node('node-b'));
  if (!nodeB?.value.spec) throw new Error('no node-b');
  nodeB.value.spec.unschedulable = false;
  await s.store.update(nodeCodec, nodeB.key, nodeB.value, nodeB.modRevision);
  t.equal(await s.boundTo('late'), 'node-b', 'uncordoned');
});

t.test('many pods are bound in batches of at most 100 writes, spread over the nodes', async (t) => {
  const s = setup(t);
  for (const name of ['node-a', 'node-b', 'node-c'])
    await s.addNode({ name, cpu: '64', memory: '64Gi', pods: '110' });
  for (let i = 0; i < 250; i++) await s.addPod({ name: `web-${i}`, owner: 'web-rs', cpu: '100m' });
  await waitFor(
    'all bound',
    async () => {
      const { entries } = await s.store.list(podCodec, keys.pods);
      return entries.every((e) => e.value.spec?.nodeName) ? true : undefined;
    },
    { intervalMs: 20 },
  );
  t.ok(
    s.store.commits.every((ops) => ops.length <= 100),
    'no transaction over 100 operations',
  );
  const { entries } = await s.store.list(podCodec, keys.pods);
  const per = new Map<string, number>();
  for (const e of entries)
    per.set(e.value.spec?.nodeName ?? '', (per.get(e.value.spec?.nodeName ?? '') ?? 0) + 1);
  t.same([...per.values()].sort(), [83, 83, 84], 'spread evenly');
});

t.test('a pod being deleted is not bound', async (t) => {
  const s = setup(t);
  await s.addNode({ name: 'node-a' });
  await s.addPod({ name: 'gone', deleting: true });
  await s.addPod({ name: 'probe' });
  await s.boundTo('probe');
  t.equal((await s.pod('gone'))?.spec?.nodeName, '', 'left alone');
  t.same((await s.pod('gone'))?.status?.conditions, [], 'no verdict either');
});

t.test('batches written side by side never overcommit a node', async (t) => {
  class SlowStore extends MemoryStore {
    inFlight = 0;
    maxInFlight = 0;
    override async commit(ops: readonly TxnOp[]): Promise<TxnResult> {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return await super.commit(ops);
      } finally {
        this.inFlight--;
      }
    }
  }
  const store = new SlowStore();
  await store.create(
    nodeCodec,
    keys.node('node-a'),
    testNode({ name: 'node-a', cpu: '64', memory: '64Gi', pods: '25' }),
  );
  for (let i = 0; i < 60; i++)
    await store.create(
      podCodec,
      keys.pod('default', `web-${i}`),
      testPod({ name: `web-${i}`, owner: 'web-rs' }),
    );
  const scheduler = startScheduler({
    store,
    events: { record: () => undefined },
    log: silentLogger,
    seed: 7,
    batchSize: 10,
    maxInFlight: 4,
  });
  t.teardown(() => scheduler.stop());
  const decided = async () => {
    const { entries } = await store.list(podCodec, keys.pods);
    const bound = entries.filter((e) => e.value.spec?.nodeName).length;
    const refused = entries.filter((e) =>
      e.value.status?.conditions.some((c) => c.type === 'PodScheduled' && c.status === 'False'),
    ).length;
    return bound + refused === 60 ? { bound, refused } : undefined;
  };
  const { bound, refused } = await waitFor('every pod decided', decided, { intervalMs: 20 });
  t.equal(bound, 25, 'as many bound as the node has room for');
  t.equal(refused, 35);
  t.ok(store.maxInFlight > 1, `batches were written side by side (${store.maxInFlight} at most)`);
});
