// The shared pod watch the assignments streams follow: from any revision it holds it gives
// what a store watch from that revision gives, in order; older revisions go to the store.
import t from 'tap';
import { Pod } from '@flotilla/proto';
import { silentLogger } from '@flotilla/common';
import {
  MemoryStore,
  PodWatchHub,
  copyIsCurrent,
  keys,
  podCodec,
  sharedPodStore,
  type PrefixState,
  type WatchEvent,
} from '@flotilla/controller';
import { waitFor } from '../lib/index.js';

const pod = (name: string, node: string): Pod =>
  Pod.fromJSON({
    metadata: { name, namespace: 'default' },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] },
  });

async function write(store: MemoryStore, name: string, node: string): Promise<void> {
  const key = keys.pod('default', name);
  const current = await store.get(podCodec, key);
  if (current) await store.update(podCodec, key, pod(name, node), current.modRevision);
  else await store.create(podCodec, key, pod(name, node));
}

/** The first n events of a watch, as [type, key, revision, node]. */
async function take(source: AsyncIterable<WatchEvent<Pod>>, n: number): Promise<string[]> {
  const out: string[] = [];
  for await (const ev of source) {
    out.push(`${ev.type} ${ev.key} ${ev.revision} ${ev.type === 'put' ? ev.value.spec?.nodeName : '-'}`);
    if (out.length >= n) break;
  }
  return out;
}

t.test('the hub replays what it holds, follows live, and sends older revisions to the store', async (t) => {
  const store = new MemoryStore();
  await write(store, 'before', 'n1');
  const hub = new PodWatchHub(store, silentLogger, 3);
  const stop = new AbortController();
  const run = hub.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await run;
  });
  const start = await store.revision();
  await waitFor('the hub to watch', async () => {
    // A write the hub has seen shows it is following.
    await write(store, 'probe', 'n0');
    const ev = await take(hub.watch(start, AbortSignal.timeout(1_000)), 1).catch(() => []);
    return ev.length > 0;
  });
  const from = await store.revision();
  const live = hub.watch(from, stop.signal);
  t.equal(hub.subscriberCount, 1);
  for (let i = 0; i < 5; i++) await write(store, `p${i % 2}`, `n${i}`);

  const expected = await take(store.watch(podCodec, keys.pods, from, stop.signal), 5);
  t.same(await take(live, 5), expected, 'live: as the store watch');
  await waitFor('the finished subscriber to leave', () => hub.subscriberCount === 0);

  const recent = from + 3; // inside the last 3 events the hub keeps
  t.same(
    await take(hub.watch(recent, stop.signal), 2),
    await take(store.watch(podCodec, keys.pods, recent, stop.signal), 2),
    'replayed from its history',
  );
  t.same(
    await take(hub.watch(from, stop.signal), 5),
    expected,
    'a revision older than the history: the store watch, the same events',
  );

  const ahead = hub.watch((await store.revision()) + 1, stop.signal);
  await write(store, 'p0', 'skipped');
  await write(store, 'p0', 'seen');
  t.match(await take(ahead, 1), [/ seen$/], 'events up to the revision asked for are skipped');
});

t.test('the hub holds every pod and each node’s pods, and a shared-pods store serves them', async (t) => {
  const store = new MemoryStore();
  await write(store, 'a', 'n1');
  await write(store, 'b', 'n2');
  const hub = new PodWatchHub(store, silentLogger);
  t.equal(hub.list(), undefined, 'nothing before the first list');
  const stop = new AbortController();
  const run = hub.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await run;
  });
  await waitFor('the hub to list', () => hub.list() !== undefined);
  await write(store, 'c', 'n1');
  await write(store, 'b', 'n1'); // moved from n2
  await store.delete(keys.pod('default', 'a'));
  const revision = await store.revision();
  await waitFor('the hub to follow', () => hub.list()?.revision === revision);
  const names = (pods: Pod[] | undefined): string[] => (pods ?? []).map((p) => p.metadata?.name ?? '').sort();
  t.same(names(hub.podsOn('n1')?.pods), ['b', 'c'], 'n1: its pods now');
  t.same(names(hub.podsOn('n2')?.pods), [], 'n2: the pod moved away');

  const shared = sharedPodStore(store, hub);
  const listed = await shared.list(podCodec, keys.pods);
  const stored = await store.list(podCodec, keys.pods);
  t.equal(listed.revision, revision);
  t.same(
    listed.entries.map((e) => [e.key, e.modRevision]).sort(),
    stored.entries.map((e) => [e.key, e.modRevision]),
    'all pods, at their revisions, as the store has them',
  );
  t.equal(listed.entries[0]?.value, hub.list()?.entries[0]?.value, 'the very objects the hub holds');
  const ns = await shared.list(podCodec, keys.pod('default', ''));
  t.equal(
    ns.entries.find((e) => e.key === listed.entries[0]?.key)?.value,
    listed.entries[0]?.value,
    "a namespace's pods come from the copy too, once it is shown current",
  );
  t.same((await shared.list(podCodec, keys.pod('other', ''))).entries, [], 'another namespace: none');
  const live = shared.watch(podCodec, keys.pods, revision, stop.signal);
  await write(store, 'd', 'n2');
  const [ev] = await take(live, 1);
  t.match(ev, /^put pods\/default\/d /, 'the watch follows the hub');
  t.equal(hub.subscriberCount, 0, 'and leaves it when done');
});

t.test("a node's watch gets only its pods' changes, and says how far the rest went", async (t) => {
  const store = new MemoryStore();
  const hub = new PodWatchHub(store, silentLogger);
  const stop = new AbortController();
  const run = hub.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await run;
  });
  await waitFor('the hub to list', () => hub.list() !== undefined);
  const from = hub.list()?.revision ?? 0;
  const n1 = hub.watchNode('n1', from, stop.signal);
  await write(store, 'a', 'n1');
  await write(store, 'b', 'n2');
  await write(store, 'b', 'n1'); // moved to n1
  await write(store, 'c', 'n2');
  await write(store, 'a', 'n3'); // moved away from n1
  const last = await store.revision();
  await waitFor('the hub to follow', () => hub.list()?.revision === last);
  t.equal(n1.idleRevision(), 0, 'events wait in the queue: nothing can be said yet');
  const got = await take(n1, 3);
  t.same(
    got.map((e) => e.split(' ').slice(0, 2).join(' ') + ' ' + (e.split(' ')[3] ?? '')),
    ['put pods/default/a n1', 'put pods/default/b n1', 'put pods/default/a n3'],
    "n1's own changes, the move away included",
  );
});

t.test('a drained node watch is complete through the last change it left out', async (t) => {
  const store = new MemoryStore();
  const hub = new PodWatchHub(store, silentLogger);
  const stop = new AbortController();
  const run = hub.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await run;
  });
  await waitFor('the hub to list', () => hub.list() !== undefined);
  const n1 = hub.watchNode('n1', hub.list()?.revision ?? 0, stop.signal);
  await write(store, 'x', 'n2');
  const last = await store.revision();
  await waitFor('the hub to follow', () => hub.list()?.revision === last);
  t.equal(n1.idleRevision(), last, 'nothing queued: complete through the skipped change');
});

t.test(
  'a copy is current when it applied the revision, or holds as many keys and none is newer',
  async (t) => {
    const copy = (revision: number, count: number) => ({
      revision,
      entries: Array.from({ length: count }, (_, i) => ({
        key: `pods/default/p${i}`,
        value: pod(`p${i}`, 'n1'),
        modRevision: 1,
        createRevision: 1,
      })),
    });
    const cases: [string, ReturnType<typeof copy>, PrefixState, boolean][] = [
      ['applied through the revision', copy(10, 3), { count: 9, maxModRevision: 10, revision: 10 }, true],
      ['only other keys written since', copy(7, 3), { count: 3, maxModRevision: 7, revision: 10 }, true],
      ['a newer write it has not seen', copy(7, 3), { count: 3, maxModRevision: 8, revision: 10 }, false],
      ['a delete it has not seen', copy(7, 3), { count: 2, maxModRevision: 7, revision: 10 }, false],
      ['empty and nothing stored', copy(0, 0), { count: 0, maxModRevision: 0, revision: 10 }, true],
    ];
    for (const [name, c, state, want] of cases) t.equal(copyIsCurrent(c, state), want, name);
  },
);

t.test('a pod list the copy cannot show current within a second is read from the store', async (t) => {
  const store = new MemoryStore();
  await write(store, 'a', 'n1');
  const stale = {
    list: () => ({ entries: [], revision: 1 }),
    watch: () => store.watch(podCodec, keys.pods, 0, AbortSignal.timeout(10)),
    nextChange: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  };
  const started = Date.now();
  const listed = await sharedPodStore(store, stale).list(podCodec, keys.pods);
  t.same(
    listed.entries.map((e) => e.key),
    [keys.pod('default', 'a')],
    'what the store holds',
  );
  t.ok(Date.now() - started >= 900, 'after waiting for the copy');
});
