// The etcd election under the leader gate, against a real etcd: one leader at a time, the
// next elected when the leader's key goes, and a deposed leader's fenced writes refused
// even before it notices.
import t from 'tap';
import { rmSync } from 'node:fs';
import { silentLogger } from '@flotilla/common';
import { commitAsLeader, EtcdCandidate, EtcdStore, jsonCodec, putOp } from '@flotilla/controller';
import { makeRunDir, startEtcd, waitFor, type EtcdServer } from '../lib/index.js';

const dir = makeRunDir('leader-etcd');
let etcd: EtcdServer | undefined;
t.before(async () => {
  etcd = await startEtcd(dir);
});
t.teardown(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const things = jsonCodec('thing', (v) => String(v));
const ttlMs = 2_000;

function candidate(): { store: EtcdStore; candidate: EtcdCandidate } {
  if (!etcd) throw new Error('etcd did not start');
  const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: '/leader-test/' });
  return {
    store,
    candidate: new EtcdCandidate({
      store,
      election: store.election('controller', ttlMs / 1000),
      keyPrefix: 'election/controller/',
      ttlMs,
      log: silentLogger,
    }),
  };
}

t.test('one leader; the next takes over when its key goes; the deposed one cannot write', async (t) => {
  const a = candidate();
  const b = candidate();
  t.teardown(async () => {
    await a.store.close();
    await b.store.close();
  });
  const stop = new AbortController();
  t.teardown(() => stop.abort());

  const first = await a.candidate.campaign('a', stop.signal);
  t.equal(await b.candidate.leader(), 'a', 'everyone sees a lead');
  let bElected = false;
  const second = b.candidate.campaign('b', stop.signal).then((l) => {
    bElected = true;
    return l;
  });
  await commitAsLeader(a.store, first, [putOp(things, 'things/x', 'by a')]);
  t.equal((await a.store.get(things, 'things/x'))?.value, 'by a', 'the leader writes');
  t.equal(bElected, false, 'b waits while a leads');

  // a's lease ends in etcd (as when a is paused past its TTL); a has not noticed yet.
  const key = first.fence[0]?.key ?? '';
  t.match(key, /^election\/controller\/.+/, 'the fence is the election key');
  await a.store.delete(key);
  await t.rejects(commitAsLeader(a.store, first, [putOp(things, 'things/x', 'by a again')]), {
    code: 'Unavailable',
  });
  const next = await second;
  t.equal(next.identity, 'b', 'b is elected once a’s key is gone');
  await commitAsLeader(b.store, next, [putOp(things, 'things/x', 'by b')]);
  t.equal((await b.store.get(things, 'things/x'))?.value, 'by b', 'only the new leader’s write landed');
  await waitFor('a to notice it was deposed', () => first.lost.aborted, { timeoutMs: ttlMs * 2 });
  t.equal(await a.candidate.leader(), 'b');

  await next.resign();
  t.equal(next.lost.aborted, true, 'resigning ends the term');
  await waitFor('nobody to lead after b resigns', async () => (await a.candidate.leader()) === undefined);
});

t.test('etcd unreachable for the TTL: the leader steps down on its own', async (t) => {
  const a = candidate();
  t.teardown(() => a.store.close());
  const leadership = await a.candidate.campaign('a', new AbortController().signal);
  await etcd?.process.stop();
  await waitFor('the term to end', () => leadership.lost.aborted, { timeoutMs: ttlMs * 3 });
  t.pass('stepped down without etcd');
  await etcd?.restart();
});
