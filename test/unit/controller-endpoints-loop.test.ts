// The endpoints loop on MemoryStore: the test writes services and pods as the API and the
// pod status ingest would, and watches what the loop writes. Latency is measured from a
// pod write to the Endpoints write that reflects it (no polling in the loop).
import t from 'tap';
import { Node, Pod, Service, type Endpoints } from '@flotilla/proto';
import { createLogger } from '@flotilla/common';
import {
  Informer,
  MemoryStore,
  PodWatchHub,
  nodeCodec,
  endpointsCodec,
  keys,
  podCodec,
  serviceCodec,
  startEndpointsLoop,
  type Store,
} from '@flotilla/controller';

const log = createLogger(
  { component: 'test' },
  { level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'warn' },
);

function makePod(
  name: string,
  ip: string,
  o: { ready?: boolean; labels?: Record<string, string> } = {},
): Pod {
  return Pod.fromJSON({
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: o.labels ?? { app: 'web' } },
    spec: {
      nodeName: 'n1',
      containers: [{ name: 'c', image: 'web', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
    status: {
      phase: 'Running',
      podIP: ip,
      conditions: [{ type: 'Ready', status: (o.ready ?? true) ? 'True' : 'False' }],
    },
  });
}

const service = (name: string, selector: Record<string, string> = { app: 'web' }): Service =>
  Service.fromJSON({
    metadata: { name, namespace: 'default' },
    spec: { selector, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  });

const summary = (e: Endpoints | undefined): string =>
  e
    ? (e.subsets ?? [])
        .map(
          (s) =>
            `${s.addresses.map((a) => a.targetRef?.name).join(',')}|${s.notReadyAddresses.map((a) => a.targetRef?.name).join(',')}`,
        )
        .join(';')
    : 'none';

/** Resolves with the first Endpoints of key (undefined: deleted) that satisfies want, and when. */
async function until(
  store: Store,
  name: string,
  want: (summary: string) => boolean,
  timeoutMs = 5_000,
): Promise<number> {
  const key = keys.endpointsOf('default', name);
  // One read gives the value and the revision to watch after: nothing slips between.
  const listed = await store.list(endpointsCodec, key);
  const first = listed.entries.find((e) => e.key === key);
  if (want(summary(first?.value))) return Date.now();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    for await (const ev of store.watch(endpointsCodec, key, listed.revision, abort.signal)) {
      if (ev.key !== key) continue;
      if (want(summary(ev.type === 'put' ? ev.value : undefined))) return Date.now();
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`endpoints ${name} never became what the test wanted`);
}

async function putPod(store: Store, pod: Pod): Promise<void> {
  const key = keys.pod('default', pod.metadata?.name ?? '');
  const entry = await store.get(podCodec, key);
  if (entry) await store.update(podCodec, key, pod, entry.modRevision);
  else await store.create(podCodec, key, pod);
}

for (const shared of [false, true]) {
  t.test(
    `the loop follows readiness and deletion${shared ? ' (pods through the shared pod watch)' : ''}`,
    async (t) => {
      const store = new MemoryStore();
      const hub = new PodWatchHub(store, log);
      const hubAbort = new AbortController();
      const hubRun = hub.run(hubAbort.signal);
      const loop = startEndpointsLoop({
        store,
        log,
        podWatch: shared ? (after, signal) => hub.watch(after, signal) : undefined,
      });
      t.teardown(async () => {
        await loop.stop();
        hubAbort.abort();
        await hubRun;
      });
      // Stored before the loop synced, and after.
      await store.create(serviceCodec, keys.service('default', 'web'), service('web'));
      await loop.synced();
      await until(store, 'web', (s) => s === '', 2_000);
      t.pass('a service with no pods gets Endpoints with no subsets');

      await putPod(store, makePod('a', '10.0.0.1'));
      await putPod(store, makePod('b', '10.0.0.2', { ready: false }));
      await until(store, 'web', (s) => s === 'a|b');
      t.pass('ready pods in addresses, not ready in notReadyAddresses');

      let start = Date.now();
      await putPod(store, makePod('b', '10.0.0.2'));
      let took = (await until(store, 'web', (s) => s === 'a,b|')) - start;
      t.ok(took < 100, `a pod turning ready is in the addresses within tens of ms (${took} ms)`);

      start = Date.now();
      const deleting = makePod('a', '10.0.0.1');
      deleting.metadata!.deletionTimestamp = new Date().toISOString();
      await putPod(store, deleting);
      took = (await until(store, 'web', (s) => s === 'b|a')) - start;
      t.ok(took < 100, `a pod marked for deletion leaves the ready addresses at once (${took} ms)`);

      await store.delete(keys.pod('default', 'a'));
      await until(store, 'web', (s) => s === 'b|');
      t.pass('a deleted pod is gone');

      await putPod(store, makePod('b', '10.0.0.2', { labels: { app: 'api' } }));
      await until(store, 'web', (s) => s === '');
      t.pass('a pod relabelled out of the selector leaves');

      await putPod(store, makePod('b', '10.0.0.2'));
      await until(store, 'web', (s) => s === 'b|');
      await store.delete(keys.endpointsOf('default', 'web'));
      await until(store, 'web', (s) => s === 'b|');
      t.pass('Endpoints deleted by someone else are written again');

      await store.delete(keys.service('default', 'web'));
      await until(store, 'web', (s) => s === 'none');
      t.pass('the service deleted: its Endpoints deleted');
    },
  );
}

t.test(
  'on start, Endpoints of services that are gone are deleted, many services in few commits',
  async (t) => {
    const store = new MemoryStore();
    await store.create(endpointsCodec, keys.endpointsOf('default', 'old'), {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: undefined,
      subsets: [],
    });
    for (let i = 0; i < 250; i++)
      await store.create(serviceCodec, keys.service('default', `s${i}`), service(`s${i}`));
    for (let i = 0; i < 5; i++) await putPod(store, makePod(`p${i}`, `10.0.0.${i + 1}`));
    const before = await store.revision();
    const loop = startEndpointsLoop({ store, log });
    t.teardown(() => loop.stop());
    await loop.synced();
    const list = await store.list(endpointsCodec, keys.endpoints);
    t.equal(list.entries.length, 250, 'one Endpoints per service, the orphan gone');
    t.ok(
      list.entries.every((e) => summary(e.value) === 'p0,p1,p2,p3,p4|'),
      'each lists the five pods',
    );
    t.ok(list.revision - before <= 3, `251 writes in ${list.revision - before} commits`);
  },
);

t.test("a node's readiness moves its pods in and out of the ready addresses", async (t) => {
  const store = new MemoryStore();
  const nodeOf = (name: string, ready: boolean): Node =>
    Node.fromJSON({
      metadata: { name },
      status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] },
    });
  await store.create(nodeCodec, keys.node('n1'), nodeOf('n1', true));
  const nodes = new Informer<Node>(store, nodeCodec, keys.nodes, log);
  const abort = new AbortController();
  const run = nodes.run(abort.signal);
  const loop = startEndpointsLoop({ store, log, nodes });
  t.teardown(async () => {
    await loop.stop();
    abort.abort();
    await run;
  });
  await store.create(serviceCodec, keys.service('default', 'web'), service('web'));
  await putPod(store, makePod('a', '10.0.0.1'));
  await loop.synced();
  await until(store, 'web', (s) => s === 'a|');
  const entry = await store.get(nodeCodec, keys.node('n1'));
  const start = Date.now();
  await store.update(nodeCodec, keys.node('n1'), nodeOf('n1', false), entry!.modRevision);
  const took = (await until(store, 'web', (s) => s === '|a')) - start;
  t.ok(took < 100, `the node lost: its pod is not ready (${took} ms)`);
  const again = await store.get(nodeCodec, keys.node('n1'));
  await store.update(nodeCodec, keys.node('n1'), nodeOf('n1', true), again!.modRevision);
  await until(store, 'web', (s) => s === 'a|');
  t.pass('back: ready again');
});

t.test('a service without a selector gets none; adding a selector makes them', async (t) => {
  const store = new MemoryStore();
  const loop = startEndpointsLoop({ store, log });
  t.teardown(() => loop.stop());
  await loop.synced();
  await putPod(store, makePod('a', '10.0.0.1'));
  await store.create(serviceCodec, keys.service('default', 'bare'), service('bare', {}));
  const entry = await store.get(serviceCodec, keys.service('default', 'bare'));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(await store.get(endpointsCodec, keys.endpointsOf('default', 'bare')), undefined, 'none');
  await store.update(serviceCodec, keys.service('default', 'bare'), service('bare'), entry!.modRevision);
  await until(store, 'bare', (s) => s === 'a|');
  t.pass('selector added: Endpoints');
});

t.test('a write that conflicts is read again and decided again', async (t) => {
  // Before the loop's first update commits, someone else writes the same Endpoints.
  class RacingStore extends MemoryStore {
    races = 0;
    override async commit(ops: Parameters<MemoryStore['commit']>[0]) {
      const put = ops.find((o) => o.type === 'put' && o.key.startsWith(keys.endpoints) && o.expect !== 0);
      if (put && this.races === 0) {
        this.races++;
        const entry = await this.get(endpointsCodec, put.key);
        if (entry)
          await this.update(endpointsCodec, put.key, { ...entry.value, subsets: [] }, entry.modRevision);
      }
      return super.commit(ops);
    }
  }
  const store = new RacingStore();
  const loop = startEndpointsLoop({ store, log });
  t.teardown(() => loop.stop());
  await store.create(serviceCodec, keys.service('default', 'web'), service('web'));
  await loop.synced();
  await until(store, 'web', (s) => s === '');
  await putPod(store, makePod('a', '10.0.0.1'));
  await until(store, 'web', (s) => s === 'a|');
  t.equal(store.races, 1, 'the race happened, and the loop still converged');
});
