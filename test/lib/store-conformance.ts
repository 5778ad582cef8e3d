// The Store contract (controller/src/store/types.ts), written once and run against every
// implementation: MemoryStore in test/unit/controller-store.test.ts, EtcdStore over a real
// etcd in test/integration/controller-store-etcd.test.ts. Each behaviour gets a fresh,
// empty store from the factory, so the tests do not see each other's keys.
import type { Test } from 'tap';
import { Node } from '@flotilla/proto';
import {
  type Codec,
  type Store,
  type WatchEvent,
  isCompactedError,
  jsonCodec,
  maxTxnOps,
  nodeCodec,
  putOp,
} from '@flotilla/controller';

export interface StoreUnderTest {
  store: Store;
  /** Forgets the history up to revision, as etcd's compaction does. */
  compact: (revision: number) => Promise<void>;
  /** Releases what the factory opened (the store itself is closed by the suite). */
  release?: () => Promise<void>;
}

export type StoreFactory = () => Promise<StoreUnderTest>;

/** A plain record, so the suite tests the store and not a codec. */
interface Thing {
  v: number;
}

function parseThing(value: unknown): Thing {
  if (typeof value !== 'object' || value === null || typeof (value as Thing).v !== 'number') {
    throw new Error(`not a thing: ${JSON.stringify(value)}`);
  }
  return { v: (value as Thing).v };
}

const things: Codec<Thing> = jsonCodec('thing', parseThing);
/** Everything stored, as the JSON text it is kept as, to see what is (not) in it. */
const rawJson: Codec<Record<string, unknown>> = jsonCodec('raw', (value) => value as Record<string, unknown>);

/** What a watch event says, without the parts that differ between runs. */
interface Seen {
  type: 'put' | 'delete';
  key: string;
  value?: number;
  previous?: number;
  revision: number;
}

function seen(ev: WatchEvent<Thing>): Seen {
  const out: Seen = { type: ev.type, key: ev.key, revision: ev.revision };
  if (ev.type === 'put') out.value = ev.value.v;
  if (ev.previous) out.previous = ev.previous.v;
  return out;
}

/**
 * The first `count` events of a watch, or fewer if they do not come within timeoutMs (the
 * caller's assertion then shows what did come).
 */
async function watchEvents(
  store: Store,
  prefix: string,
  afterRevision: number,
  count: number,
  during: () => Promise<void> = async () => undefined,
  timeoutMs = 5_000,
): Promise<Seen[]> {
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]);
  const events: Seen[] = [];
  const reading = (async () => {
    for await (const ev of store.watch(things, prefix, afterRevision, signal)) {
      events.push(seen(ev));
      if (events.length >= count) break;
    }
  })();
  try {
    await during();
    await reading;
  } finally {
    stop.abort();
  }
  return events;
}

/** The error a watch ends with, or undefined when it ends without one (or times out). */
async function watchError(store: Store, prefix: string, afterRevision: number): Promise<unknown> {
  const signal = AbortSignal.timeout(5_000);
  try {
    for await (const _ of store.watch(things, prefix, afterRevision, signal)) {
      // draining: only the error matters
    }
  } catch (err) {
    return err;
  }
  return undefined;
}

function makeNode(name: string, resourceVersion = ''): Node {
  return Node.fromJSON({ apiVersion: 'v1', kind: 'Node', metadata: { name, resourceVersion } });
}

/** Registers the conformance tests for one Store implementation as subtests of t. */
export function storeConformance(t: Test, open: StoreFactory): void {
  /** A subtest with a fresh store, closed (and released) when the subtest ends. */
  const withStore = (name: string, fn: (t: Test, s: StoreUnderTest) => Promise<void>): void => {
    t.test(name, async (t) => {
      const s = await open();
      t.teardown(async () => {
        await s.store.close();
        await s.release?.();
      });
      await fn(t, s);
    });
  };

  withStore('get of a missing key resolves to undefined', async (t, { store }) => {
    t.equal(await store.get(things, 'things/missing'), undefined);
  });

  withStore('create writes an absent key and get reads it back with its revisions', async (t, { store }) => {
    const before = await store.revision();
    const created = await store.create(things, 'things/a', { v: 1 });
    t.equal(created.created, true, 'created');
    t.equal(created.entry.key, 'things/a');
    t.strictSame(created.entry.value, { v: 1 });
    t.ok(created.entry.modRevision > before, 'the write moved the store revision on');
    t.equal(
      created.entry.createRevision,
      created.entry.modRevision,
      'a new key is created at its mod revision',
    );
    t.strictSame(await store.get(things, 'things/a'), created.entry, 'get returns the same entry');
    t.equal(await store.revision(), created.entry.modRevision, 'revision() is the latest write');
  });

  withStore(
    'create of an existing key keeps the stored value and says it did not create',
    async (t, { store }) => {
      const first = await store.create(things, 'things/a', { v: 1 });
      const second = await store.create(things, 'things/a', { v: 2 });
      t.equal(second.created, false, 'the second create did not write');
      t.strictSame(second.entry, first.entry, 'it returns what is stored');
      t.strictSame((await store.get(things, 'things/a'))?.value, { v: 1 }, 'the stored value is the first');
    },
  );

  withStore('racing creates of one key agree on the one that landed', async (t, { store }) => {
    const results = await Promise.all([1, 2, 3, 4].map((v) => store.create(things, 'things/race', { v })));
    t.equal(results.filter((r) => r.created).length, 1, 'exactly one create wrote');
    const stored = await store.get(things, 'things/race');
    for (const r of results) t.strictSame(r.entry.value, stored?.value, 'every caller sees the stored value');
  });

  withStore('update at the current revision writes and moves the revision on', async (t, { store }) => {
    const { entry: created } = await store.create(things, 'things/a', { v: 1 });
    const updated = await store.update(things, 'things/a', { v: 2 }, created.modRevision);
    t.ok(updated.modRevision > created.modRevision, 'the mod revision moved on');
    t.strictSame(updated.value, { v: 2 });
    const got = await store.get(things, 'things/a');
    t.strictSame(got?.value, { v: 2 });
    t.equal(got?.modRevision, updated.modRevision, 'get sees the update revision');
    t.equal(got?.createRevision, created.createRevision, 'the create revision stays');
  });

  withStore('update with a stale revision fails with Conflict and writes nothing', async (t, { store }) => {
    const { entry: created } = await store.create(things, 'things/a', { v: 1 });
    const current = await store.update(things, 'things/a', { v: 2 }, created.modRevision);
    await t.rejects(store.update(things, 'things/a', { v: 3 }, created.modRevision), {
      code: 'Conflict',
      message: /things\/a .*resourceVersion \d+ is stale/,
    });
    t.strictSame(await store.get(things, 'things/a'), { ...current, createRevision: created.createRevision });
  });

  withStore('update of a missing key fails with Conflict and creates nothing', async (t, { store }) => {
    const rev = await store.revision();
    await t.rejects(store.update(things, 'things/missing', { v: 1 }, rev), { code: 'Conflict' });
    t.equal(await store.get(things, 'things/missing'), undefined);
  });

  withStore('getMany reads several keys in the order given, undefined where absent', async (t, { store }) => {
    t.strictSame(await store.getMany(things, []), [], 'no keys, no entries');
    const { entry: a } = await store.create(things, 'things/a', { v: 1 });
    const { entry: b } = await store.create(things, 'things/b', { v: 2 });
    const many = await store.getMany(things, ['things/b', 'things/missing', 'things/a']);
    t.strictSame(many, [b, undefined, a], 'each entry as get gives it');
    await t.rejects(
      store.getMany(
        things,
        Array.from({ length: maxTxnOps + 1 }, (_, i) => `things/${i}`),
      ),
      { code: 'InvalidArgument' },
      'more keys than one transaction may hold',
    );
  });

  withStore('prefixState counts the keys under a prefix and names the newest write', async (t, { store }) => {
    t.strictSame(
      await store.prefixState('things/'),
      { count: 0, maxModRevision: 0, revision: await store.revision() },
      'nothing yet',
    );
    await store.create(things, 'things/a', { v: 1 });
    const { entry: b } = await store.create(things, 'things/b', { v: 2 });
    const { entry: a } = await store
      .update(things, 'things/a', { v: 3 }, (await store.get(things, 'things/a'))?.modRevision ?? 0)
      .then((e) => ({ entry: e }));
    await store.create(things, 'thingsmore/c', { v: 4 });
    const state = await store.prefixState('things/');
    t.strictSame(state, { count: 2, maxModRevision: a.modRevision, revision: await store.revision() });
    t.ok(a.modRevision > b.modRevision);
  });

  withStore('commit writes every op at one revision, guarded or not', async (t, { store }) => {
    const { entry: a } = await store.create(things, 'things/a', { v: 1 });
    await store.create(things, 'things/gone', { v: 0 });
    const { revision } = await store.commit([
      putOp(things, 'things/a', { v: 2 }, a.modRevision),
      putOp(things, 'things/new', { v: 3 }, 0),
      putOp(things, 'things/free', { v: 4 }),
      { type: 'delete', key: 'things/gone' },
    ]);
    const list = await store.list(things, 'things/');
    t.strictSame(
      list.entries.map((e) => [e.key, e.value.v, e.modRevision]),
      [
        ['things/a', 2, revision],
        ['things/free', 4, revision],
        ['things/new', 3, revision],
      ],
      'all three puts at the one revision, the delete done',
    );
    t.equal(await store.revision(), revision);
  });

  withStore('commit with one stale guard writes nothing and names the stale key', async (t, { store }) => {
    const { entry: a } = await store.create(things, 'things/a', { v: 1 });
    await store.create(things, 'things/taken', { v: 1 });
    const before = await store.revision();
    await t.rejects(
      store.commit([
        putOp(things, 'things/a', { v: 2 }, a.modRevision),
        putOp(things, 'things/taken', { v: 9 }, 0),
        putOp(things, 'things/b', { v: 3 }),
      ]),
      { code: 'Conflict', message: /^things\/taken changed/ },
    );
    t.equal(await store.revision(), before, 'no revision was used');
    t.strictSame((await store.get(things, 'things/a'))?.value, { v: 1 }, 'the guarded put did not land');
    t.equal(await store.get(things, 'things/b'), undefined, 'nor did the unguarded one');
  });

  withStore('a check op guards a commit and writes nothing itself', async (t, { store }) => {
    const { entry: fence } = await store.create(things, 'fence/leader', { v: 1 });
    const { revision } = await store.commit([
      { type: 'check', key: 'fence/leader', expect: fence.modRevision },
      putOp(things, 'things/a', { v: 1 }),
    ]);
    t.equal((await store.get(things, 'things/a'))?.modRevision, revision, 'the guarded put landed');
    t.equal(
      (await store.get(things, 'fence/leader'))?.modRevision,
      fence.modRevision,
      'the checked key is untouched',
    );
    await store.delete('fence/leader');
    await t.rejects(
      store.commit([
        { type: 'check', key: 'fence/leader', expect: fence.modRevision },
        putOp(things, 'things/a', { v: 2 }),
      ]),
      { code: 'Conflict', message: /^fence\/leader changed/ },
    );
    t.strictSame((await store.get(things, 'things/a'))?.value, { v: 1 }, 'a failed check writes nothing');
  });

  withStore('a list of many keys holds each once, in key order, at one revision', async (t, { store }) => {
    const names = ['g', 'c', 'a', 'f', 'b', 'e', 'd'];
    for (const [i, n] of names.entries()) await store.create(things, `things/${n}`, { v: i });
    await store.create(things, 'things0', { v: 99 });
    const before = await store.revision();
    const list = await store.list(things, 'things/');
    t.strictSame(
      list.entries.map((e) => e.key),
      [...names].sort().map((n) => `things/${n}`),
    );
    t.equal(list.revision, before, 'the revision the list was read at');
  });

  withStore('list returns exactly the keys under the prefix, at a revision', async (t, { store }) => {
    await store.create(things, 'things/b', { v: 2 });
    await store.create(things, 'things/a', { v: 1 });
    await store.create(things, 'thingsmore/c', { v: 3 });
    const last = await store.create(things, 'other/d', { v: 4 });
    const list = await store.list(things, 'things/');
    t.strictSame(
      list.entries.map((e) => [e.key, e.value.v]).sort(),
      [
        ['things/a', 1],
        ['things/b', 2],
      ],
      'only things/*, not thingsmore/ or other/',
    );
    t.equal(list.revision, last.entry.modRevision, 'read at the latest revision');
    t.strictSame((await store.list(things, 'nothing/')).entries, [], 'an empty prefix lists nothing');
  });

  withStore('delete removes a key and says whether there was one', async (t, { store }) => {
    await store.create(things, 'things/a', { v: 1 });
    t.equal(await store.delete('things/a'), true, 'deleted');
    t.equal(await store.get(things, 'things/a'), undefined, 'gone');
    t.equal(await store.delete('things/a'), false, 'a second delete finds nothing');
    t.equal(await store.delete('things/never'), false, 'a missing key');
  });

  withStore('a guarded delete needs the current revision', async (t, { store }) => {
    const { entry: created } = await store.create(things, 'things/a', { v: 1 });
    const updated = await store.update(things, 'things/a', { v: 2 }, created.modRevision);
    await t.rejects(store.delete('things/a', created.modRevision), { code: 'Conflict' });
    t.strictSame((await store.get(things, 'things/a'))?.value, { v: 2 }, 'a stale delete keeps the key');
    t.equal(await store.delete('things/a', updated.modRevision), true, 'the current revision deletes');
    t.equal(await store.delete('things/a', updated.modRevision), false, 'a guarded delete of a missing key');
  });

  withStore('object codecs fill resourceVersion on read and never store it', async (t, { store }) => {
    const created = await store.create(nodeCodec, 'nodes/x', makeNode('x', '999'));
    t.equal(created.entry.value.metadata?.resourceVersion, String(created.entry.modRevision));
    const got = await store.get(nodeCodec, 'nodes/x');
    t.equal(got?.value.metadata?.resourceVersion, String(got?.modRevision), 'the mod revision, not 999');
    const raw = await store.get(rawJson, 'nodes/x');
    t.notOk((raw?.value.metadata as Record<string, unknown> | undefined)?.resourceVersion, 'not in the text');
    t.equal((raw?.value.metadata as Record<string, unknown> | undefined)?.name, 'x');
  });

  withStore(
    'watch yields history and live changes after a revision, in order, with previous values',
    async (t, { store }) => {
      const a1 = await store.create(things, 'things/a', { v: 1 });
      const a2 = await store.update(things, 'things/a', { v: 2 }, a1.entry.modRevision);
      let b: number | undefined;
      let deleted: number | undefined;
      const events = await watchEvents(store, 'things/', a1.entry.modRevision, 3, async () => {
        await store.create(things, 'other/ignored', { v: 100 });
        b = (await store.create(things, 'things/b', { v: 10 })).entry.modRevision;
        await store.delete('things/b');
        deleted = await store.revision();
      });
      t.strictSame(events, [
        { type: 'put', key: 'things/a', value: 2, previous: 1, revision: a2.modRevision },
        { type: 'put', key: 'things/b', value: 10, revision: b },
        { type: 'delete', key: 'things/b', previous: 10, revision: deleted },
      ]);
    },
  );

  withStore('watch from a list revision misses nothing written after the list', async (t, { store }) => {
    await store.create(things, 'things/a', { v: 1 });
    const list = await store.list(things, 'things/');
    const later = await store.create(things, 'things/b', { v: 2 });
    const events = await watchEvents(store, 'things/', list.revision, 1);
    t.strictSame(events, [{ type: 'put', key: 'things/b', value: 2, revision: later.entry.modRevision }]);
  });

  withStore('watch ends when its signal aborts', async (t, { store }) => {
    const stop = new AbortController();
    const events: WatchEvent<Thing>[] = [];
    const reading = (async () => {
      for await (const ev of store.watch(things, 'things/', await store.revision(), stop.signal))
        events.push(ev);
    })();
    await store.create(things, 'things/a', { v: 1 });
    stop.abort();
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      reading.then(() => 'ended'),
      new Promise((resolve) => (timer = setTimeout(resolve, 5_000, 'still running after 5 s'))),
    ]);
    clearTimeout(timer);
    t.equal(ended, 'ended');
  });

  withStore('watch from a compacted revision fails with CompactedError', async (t, { store, compact }) => {
    const first = await store.create(things, 'things/a', { v: 1 });
    const second = await store.update(things, 'things/a', { v: 2 }, first.entry.modRevision);
    const third = await store.update(things, 'things/a', { v: 3 }, second.modRevision);
    // As etcd: compacting at R forgets the revisions before R and keeps R itself.
    await compact(third.modRevision);

    const err = await watchError(store, 'things/', first.entry.modRevision);
    t.ok(isCompactedError(err), `a CompactedError, got ${String(err)}`);
    t.match(err, { code: 'FailedPrecondition', message: /has been compacted/ });

    // The previous value (at a compacted revision) is not promised here: etcd cannot give it.
    const atCompaction = await watchEvents(store, 'things/', second.modRevision, 1);
    t.strictSame(
      atCompaction.map(({ previous: _, ...rest }) => rest),
      [{ type: 'put', key: 'things/a', value: 3, revision: third.modRevision }],
      'the compaction revision itself is still there to watch from',
    );

    const later = await store.create(things, 'things/b', { v: 4 });
    t.strictSame(
      await watchEvents(store, 'things/', third.modRevision, 1),
      [{ type: 'put', key: 'things/b', value: 4, revision: later.entry.modRevision }],
      'a watch after the compaction revision sees what comes next',
    );
  });
}
