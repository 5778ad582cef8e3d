// Informer.onChange: the changes a derived cache (the scheduler's snapshot) is built from —
// the first list, each watched put and delete, and what refresh() learns.
import t from 'tap';
import type { Node } from '@flotilla/proto';
import { silentLogger } from '@flotilla/common';
import { Informer, MemoryStore, keys, nodeCodec, type InformerChange } from '@flotilla/controller';
import { waitFor } from '../lib/wait.js';
import { testNode } from '../lib/scheduler-fixtures.js';

t.test('list, puts, deletes and refreshes reach the listener in order', async (t) => {
  const store = new MemoryStore();
  await store.create(nodeCodec, keys.node('a'), testNode({ name: 'a' }));
  const informer = new Informer<Node>(store, nodeCodec, keys.nodes, silentLogger);
  const seen: string[] = [];
  informer.onChange((c: InformerChange<Node>) =>
    seen.push(c.type === 'put' ? `put ${c.key}@${c.modRevision}` : `delete ${c.key}`),
  );
  const abort = new AbortController();
  const run = informer.run(abort.signal);
  t.teardown(async () => {
    abort.abort();
    await run;
  });
  await informer.waitSynced();
  const a = await store.get(nodeCodec, keys.node('a'));
  t.same(seen, [`put nodes/a@${a?.modRevision}`], 'the first list');
  t.equal(informer.modRevision(keys.node('a')), a?.modRevision);

  const b = await store.create(nodeCodec, keys.node('b'), testNode({ name: 'b' }));
  await store.delete(keys.node('a'));
  await waitFor('the watch', () => seen.length >= 3, { intervalMs: 5 });
  t.same(seen.slice(1), [`put nodes/b@${b.entry.modRevision}`, 'delete nodes/a']);

  await informer.refresh(keys.node('b'));
  t.equal(seen.length, 3, 'a refresh that learns nothing new is silent');
  await informer.refresh(keys.node('c'));
  t.equal(seen.length, 3, 'nor does one of a key it never had');
});
