// The Store contract against EtcdStore over a real etcd: the same suite MemoryStore passes
// (test/unit/controller-store.test.ts), so the two cannot drift apart.
import t from 'tap';
import { rmSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '@flotilla/controller';
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
