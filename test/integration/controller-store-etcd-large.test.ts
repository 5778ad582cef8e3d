// A list bigger than grpc-js's default 4 MB response limit over a real etcd (10,000 pods
// are about 8 MB): it must be read whole, and the store must keep working afterwards
// (those failures used to open the etcd client's circuit breaker, failing every call).
import t from 'tap';
import { rmSync } from 'node:fs';
import { Pod } from '@flotilla/proto';
import { EtcdStore, keys, podCodec } from '@flotilla/controller';
import { makeRunDir, startEtcd } from '../lib/index.js';

t.test('a list of more than 4 MB is read whole', async (t) => {
  const dir = makeRunDir('store-etcd-large');
  const etcd = await startEtcd(dir);
  const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/large/' });
  t.teardown(async () => {
    await store.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // Six pods of ~1 MB each (etcd takes requests up to 1.5 MiB).
  const filler = 'x'.repeat(1024 * 1024);
  const count = 6;
  for (let i = 0; i < count; i++) {
    const pod = Pod.fromJSON({
      metadata: { name: `big-${i}`, namespace: 'default', annotations: { filler } },
      spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] },
    });
    await store.create(podCodec, keys.pod('default', `big-${i}`), pod);
  }
  const list = await store.list(podCodec, keys.pods);
  t.equal(list.entries.length, count, 'every pod is listed');
  t.equal(list.entries[0]?.value.metadata?.annotations.filler?.length, filler.length, 'values are whole');
  t.ok(await store.get(podCodec, keys.pod('default', 'big-0')), 'the store still answers afterwards');
});
