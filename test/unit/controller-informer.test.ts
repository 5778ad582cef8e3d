// Informer.onChange: listeners hear every change the copy takes in, from the first list
// and from the watch, with the value before it; unsubscribed, they hear nothing more.
import t from 'tap';
import type { Pod } from '@flotilla/proto';
import { createLogger } from '@flotilla/common';
import { Informer, MemoryStore, keys, podCodec } from '@flotilla/controller';
import { waitFor } from '../lib/wait.js';
import { makeDeployment } from '../lib/deployment-sim.js';
import { podForReplicaSet } from '@flotilla/controller';
import type { ReplicaSet } from '@flotilla/proto';

function pod(name: string): Pod {
  const d = makeDeployment();
  const rs: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: d.metadata,
    spec: { replicas: 1, selector: undefined, template: d.spec?.template, minReadySeconds: 0 },
    status: undefined,
  };
  return podForReplicaSet(rs, name, `${name}-uid`, new Date());
}

t.test('listeners hear the first list, then puts and deletes, with the previous value', async (t) => {
  const store = new MemoryStore();
  await store.create(podCodec, keys.pod('default', 'a'), pod('a'));
  const informer = new Informer<Pod>(store, podCodec, keys.pods, createLogger({}, { level: 'warn' }));
  const heard: string[] = [];
  const off = informer.onChange((change) => {
    heard.push(`${change.key} ${change.type}${change.previous ? ' (had it)' : ''}`);
  });
  const abort = new AbortController();
  const run = informer.run(abort.signal);
  t.teardown(async () => {
    abort.abort();
    await run;
  });
  await informer.waitSynced();
  await store.create(podCodec, keys.pod('default', 'b'), pod('b'));
  const a = await store.get(podCodec, keys.pod('default', 'a'));
  await store.update(podCodec, keys.pod('default', 'a'), pod('a'), a?.modRevision ?? 0);
  await store.delete(keys.pod('default', 'b'));
  await waitFor('four changes', () => heard.length >= 4, { timeoutMs: 5_000, intervalMs: 10 });
  t.same(heard, [
    'pods/default/a put',
    'pods/default/b put',
    'pods/default/a put (had it)',
    'pods/default/b delete (had it)',
  ]);
  off();
  await store.create(podCodec, keys.pod('default', 'c'), pod('c'));
  await waitFor('the copy has c', () => informer.get(keys.pod('default', 'c')) !== undefined, {
    timeoutMs: 5_000,
    intervalMs: 10,
  });
  t.equal(heard.length, 4, 'nothing after unsubscribing');
});
