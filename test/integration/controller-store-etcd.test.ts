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
  'a watch delivers history in slices between revisions, in order, a revision never split',
  async (t) => {
    if (!etcd) throw new Error('etcd did not start');
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/slices/' });
    t.teardown(() => store.close());
    const codec = jsonCodec('record', (v) => v as { n: number });
    const abort = new AbortController();
    const revision = await store.revision();
    // 20 transactions of 10 puts, written before the watch starts: etcd sends them as
    // history, many revisions per watch response.
    const perTxn = 10;
    const count = 200;
    t.ok(count > 2 * watchSliceEvents);
    for (let txn = 0; txn < count / perTxn; txn++)
      await store.commit(
        Array.from({ length: perTxn }, (_, i) => {
          const n = txn * perTxn + i;
          return putOp(codec, `r/${String(n).padStart(4, '0')}`, { n });
        }),
      );
    const watch = store.watch(codec, 'r/', revision, abort.signal);
    const seen: number[] = [];
    /** The event loop turn each revision's events were seen in. */
    const turnsByRevision = new Map<number, Set<number>>();
    let turnsTaken = 0;
    // Counts turns of the event loop: an immediate that schedules the next one.
    let ticking = true;
    const tick = (): void => {
      turnsTaken++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    // The consumer takes each event as it comes, as the pod hub does.
    for await (const ev of watch) {
      if (ev.type !== 'put') continue;
      seen.push(ev.value.n);
      const turns = turnsByRevision.get(ev.revision) ?? new Set<number>();
      turns.add(turnsTaken);
      turnsByRevision.set(ev.revision, turns);
      if (seen.length === count) break;
    }
    ticking = false;
    abort.abort();
    t.same(
      seen,
      Array.from({ length: count }, (_, n) => n),
      'every event, in order',
    );
    t.equal(turnsByRevision.size, count / perTxn, 'one revision per transaction');
    const split = [...turnsByRevision].filter(([, turns]) => turns.size > 1).map(([r]) => r);
    t.same(split, [], 'no revision was split across turns of the event loop');
    const firstTurn = Math.min(...[...turnsByRevision.values()].flatMap((s) => [...s]));
    const lastTurn = Math.max(...[...turnsByRevision.values()].flatMap((s) => [...s]));
    t.ok(lastTurn > firstTurn, 'the event loop turned between the first and the last revision');
  },
);
