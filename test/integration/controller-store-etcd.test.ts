// The Store contract against EtcdStore over a real etcd: the same suite MemoryStore passes
// (test/unit/controller-store.test.ts), so the two cannot drift apart.
import t from 'tap';
import { rmSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { EtcdStore, jsonCodec, putOp, watchSliceEvents } from '@flotilla/controller';
import { makeRunDir, startEtcd, storeConformance, type EtcdServer } from '../lib/index.js';

const dir = makeRunDir('store-etcd');
let etcd: EtcdServer | undefined;
t.before(async () => {
  etcd = await startEtcd(dir);
});
t.teardown(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let stores = 0;
storeConformance(t, async () => {
  if (!etcd) throw new Error('etcd did not start');
  // Each test gets its own prefix, so it sees an empty store; revisions are etcd's own.
  stores += 1;
  const endpoints = [etcd.endpoint];
  // Pages of 2 keys, so every list of more crosses pages (the default is 500).
  const store = new EtcdStore({ endpoints, prefix: `/conformance-${stores}/`, listPageSize: 2 });
  const admin = new Etcd3({ hosts: endpoints });
  return {
    store,
    compact: async (revision) => {
      await admin.kv.compact({ revision, physical: true });
    },
    release: async () => admin.close(),
  };
});

t.test(
  'a watch delivers a large transaction in slices, in order, letting the event loop run between them',
  async (t) => {
    if (!etcd) throw new Error('etcd did not start');
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/slices/' });
    t.teardown(() => store.close());
    const codec = jsonCodec('record', (v) => v as { n: number });
    const abort = new AbortController();
    const revision = await store.revision();
    const watch = store.watch(codec, 'r/', revision, abort.signal);
    const count = 200;
    t.ok(count > 2 * watchSliceEvents);
    const seen: number[] = [];
    let turnsTaken = 0;
    let turnsAtFirst = -1;
    let turnsAtHundredth = -1;
    // Counts turns of the event loop: an immediate that schedules the next one.
    let ticking = true;
    const tick = (): void => {
      turnsTaken++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    // The consumer takes each event as it comes, as the pod hub does.
    const consumed = (async () => {
      for await (const ev of watch) {
        if (ev.type !== 'put') continue;
        if (seen.length === 0) turnsAtFirst = turnsTaken;
        seen.push(ev.value.n);
        if (seen.length === 100) turnsAtHundredth = turnsTaken;
        if (seen.length === count) break;
      }
    })();
    // One transaction of 100 puts: one revision, which etcd sends in one watch response.
    await store.commit(
      Array.from({ length: 100 }, (_, n) => putOp(codec, `r/${String(n).padStart(4, '0')}`, { n })),
    );
    await store.commit(
      Array.from({ length: 100 }, (_, i) =>
        putOp(codec, `r/${String(100 + i).padStart(4, '0')}`, { n: 100 + i }),
      ),
    );
    await consumed;
    ticking = false;
    abort.abort();
    t.same(
      seen,
      Array.from({ length: count }, (_, n) => n),
      'every event, in order',
    );
    t.ok(
      turnsAtHundredth > turnsAtFirst,
      'the event loop turned between the first and the last event of one transaction',
    );
  },
);
