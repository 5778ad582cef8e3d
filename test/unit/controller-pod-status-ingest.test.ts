// The pod status ingest over the in-memory store: reports coalesce per node and pod into
// one guarded write, another node's reports never displace the bound node's, removed
// deletes only a pod being deleted, and resync asks every known node.
import t, { type Test } from 'tap';
import { Node, Pod, PodStatusReport } from '@flotilla/proto';
import { silentLogger, subjects } from '@flotilla/common';
import {
  Informer,
  MemoryStore,
  PodStatusIngest,
  keys,
  modify,
  nodeCodec,
  podCodec,
  type Codec,
  type TxnOp,
} from '@flotilla/controller';
import { waitFor } from '../lib/index.js';

function pod(name: string, node: string, deleting = false): Pod {
  return Pod.fromJSON({
    metadata: {
      name,
      namespace: 'default',
      uid: `${name}-uid`,
      ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30 } : {}),
    },
    spec: { nodeName: node, containers: [{ name, image: 'busybox' }] },
    status: { phase: 'Pending' },
  });
}

function encode(node: string, name: string, sequence: number, phase: string, extra: object = {}): Uint8Array {
  return PodStatusReport.encode(
    PodStatusReport.fromJSON({
      nodeName: node,
      namespace: 'default',
      name,
      uid: `${name}-uid`,
      agentInstance: `${node}-1`,
      sequence,
      status: { phase, podIP: `10.0.0.${sequence}` },
      ...extra,
    }),
  ).finish();
}

async function setup(t: Test) {
  const store = new MemoryStore();
  const abort = new AbortController();
  const nodes = new Informer<Node>(store, nodeCodec, keys.nodes, silentLogger);
  const running = nodes.run(abort.signal);
  const ingest = new PodStatusIngest({ store, nodes, log: silentLogger });
  t.teardown(async () => {
    await ingest.settle();
    abort.abort();
    await running;
  });
  return { store, nodes, ingest };
}

t.test('reports for one pod within a batch coalesce into one write of the newest', async (t) => {
  const { store, ingest } = await setup(t);
  await store.create(podCodec, keys.pod('default', 'web'), pod('web', 'n1'));
  const before = await store.revision();
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'web', 1, 'Pending'));
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'web', 2, 'Running'));
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'web', 3, 'Running'));
  // node n2 about n1's pod, in the same batch: must not displace n1's report.
  ingest.handle(subjects.podStatus('n2'), encode('n2', 'web', 9, 'Failed'));
  const stored = await waitFor('the status to be written', async () => {
    const e = await store.get(podCodec, keys.pod('default', 'web'));
    return e?.value.status?.phase === 'Running' ? e : undefined;
  });
  await ingest.settle();
  t.equal(stored.value.status?.podIP, '10.0.0.3', 'the newest report won');
  t.equal(await store.revision(), before + 1, 'one write');
});

t.test('a stale report after a newer one is dropped', async (t) => {
  const { store, ingest } = await setup(t);
  const web = keys.pod('default', 'web');
  const other = keys.pod('default', 'other');
  await store.create(podCodec, web, pod('web', 'n1'));
  await store.create(podCodec, other, pod('other', 'n1'));
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'web', 5, 'Running'));
  await waitFor(
    'the first report',
    async () => (await store.get(podCodec, web))?.value.status?.phase === 'Running',
  );
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'web', 4, 'Failed'));
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'other', 6, 'Running'));
  await waitFor(
    'the later report',
    async () => (await store.get(podCodec, other))?.value.status?.phase === 'Running',
  );
  // Whatever the batch held is written once settle returns.
  await ingest.settle();
  t.equal((await store.get(podCodec, web))?.value.status?.phase, 'Running', 'the stale Failed never landed');
});

t.test('removed deletes a pod being deleted, and only that', async (t) => {
  const { store, ingest } = await setup(t);
  await store.create(podCodec, keys.pod('default', 'gone'), pod('gone', 'n1', true));
  await store.create(podCodec, keys.pod('default', 'kept'), pod('kept', 'n1'));
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'kept', 1, '', { removed: true, status: undefined }));
  ingest.handle(subjects.podStatus('n1'), encode('n1', 'gone', 2, '', { removed: true, status: undefined }));
  await waitFor(
    'the deleted pod to go',
    async () => !(await store.get(podCodec, keys.pod('default', 'gone'))),
  );
  await ingest.settle();
  t.ok(await store.get(podCodec, keys.pod('default', 'kept')), 'a pod not being deleted stays');
});

t.test(
  'a batch is one read and one transaction; a conflict decides again only the pod that changed',
  async (t) => {
    class CountingStore extends MemoryStore {
      commits: number[] = [];
      reads: number[] = [];
      /** Runs once, between the read of the batch and its commit. */
      beforeCommit: (() => Promise<void>) | undefined;
      override async getMany<T>(codec: Codec<T>, keys: readonly string[]) {
        this.reads.push(keys.length);
        return super.getMany(codec, keys);
      }
      override async commit(ops: readonly TxnOp[]) {
        const hook = this.beforeCommit;
        this.beforeCommit = undefined;
        await hook?.();
        this.commits.push(ops.length);
        return super.commit(ops);
      }
    }
    const store = new CountingStore();
    const abort = new AbortController();
    const nodes = new Informer<Node>(store, nodeCodec, keys.nodes, silentLogger);
    const running = nodes.run(abort.signal);
    const ingest = new PodStatusIngest({ store, nodes, log: silentLogger });
    t.teardown(async () => {
      await ingest.settle();
      abort.abort();
      await running;
    });
    const names = Array.from({ length: 150 }, (_, i) => `p${i}`);
    for (const name of names) await store.create(podCodec, keys.pod('default', name), pod(name, 'n1'));
    // Someone else relabels p7 after the ingest read it: its guard fails.
    store.beforeCommit = async () => {
      await modify(store, podCodec, keys.pod('default', 'p7'), (p) => ({
        ...p,
        metadata: p.metadata && { ...p.metadata, labels: { relabelled: 'yes' } },
      }));
    };
    names.forEach((name, i) => ingest.handle(subjects.podStatus('n1'), encode('n1', name, i + 1, 'Running')));
    await waitFor('every status to be written', async () => {
      const list = await store.list(podCodec, keys.pod('default', ''));
      return list.entries.every((e) => e.value.status?.phase === 'Running');
    });
    await ingest.settle();
    const p7 = await store.get(podCodec, keys.pod('default', 'p7'));
    t.equal(p7?.value.metadata?.labels.relabelled, 'yes', 'the concurrent change was kept');
    t.equal(p7?.value.status?.podIP, '10.0.0.8', 'and the report written over it');
    t.strictSame(store.reads, [100, 50, 1], 'one read per chunk of 100, then the conflicting pod alone');
    // Chunks of 100 and 50 in flight together: the 100 fails on p7, its other 99 go again
    // at once, and p7, read again, goes alone.
    t.strictSame(
      [...store.commits].sort((a, b) => a - b),
      [1, 50, 99, 100],
      'one failed transaction, then every pod written exactly once',
    );
  },
);

t.test('resync asks every known node', async (t) => {
  const { store, nodes, ingest } = await setup(t);
  for (const name of ['n1', 'n2'])
    await store.create(nodeCodec, keys.node(name), Node.fromJSON({ metadata: { name } }));
  await waitFor('the informer to see both nodes', () => nodes.list().length === 2);
  const asked: string[] = [];
  await ingest.resyncAll({
    request: async (subject) => {
      asked.push(subject);
      if (subject.includes('n2')) throw new Error('no responders');
      return new TextEncoder().encode('{}');
    },
  });
  t.same(asked.sort(), [subjects.resync('n1'), subjects.resync('n2')]);
});
