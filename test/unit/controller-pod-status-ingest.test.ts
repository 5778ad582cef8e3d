// The pod status ingest over the in-memory store: reports coalesce per node and pod into
// one guarded write, another node's reports never displace the bound node's, removed
// deletes only a pod being deleted, and resync asks every known node.
import t, { type Test } from 'tap';
import { Node, Pod, PodStatusReport } from '@flotilla/proto';
import { silentLogger, subjects } from '@flotilla/common';
import { Informer, MemoryStore, PodStatusIngest, keys, nodeCodec, podCodec } from '@flotilla/controller';
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
