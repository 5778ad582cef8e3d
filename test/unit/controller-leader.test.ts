import t from 'tap';
import type { Node } from '@flotilla/proto';
import { silentLogger } from '@flotilla/common';
import {
  commitAsLeader,
  Informer,
  jsonCodec,
  keys,
  LastSeen,
  LeaderElector,
  MemoryStore,
  NodeLifecycleLoop,
  nodeCodec,
  podCodec,
  putOp,
  untilAborted,
  type Candidate,
  type Leadership,
  type Store,
} from '@flotilla/controller';

const text = jsonCodec('text', (v) => String(v));

/** An election a test decides: elect() makes the pending campaign win, depose() ends the term. */
class ScriptedCandidate implements Candidate {
  private win: (() => void) | undefined;
  private term: AbortController | undefined;
  campaigns = 0;

  constructor(private readonly store: Store) {}

  async campaign(identity: string, signal: AbortSignal): Promise<Leadership> {
    this.campaigns++;
    await new Promise<void>((resolve, reject) => {
      this.win = resolve;
      signal.addEventListener('abort', () => reject(new Error('cancelled')), { once: true });
    });
    const key = `election/test/${this.campaigns}`;
    const { entry } = await this.store.create(text, key, identity);
    const term = new AbortController();
    this.term = term;
    return {
      identity,
      since: Date.now(),
      fence: [{ type: 'check', key, expect: entry.modRevision }],
      lost: term.signal,
      resign: async () => {
        term.abort();
        await this.store.delete(key);
      },
    };
  }

  async leader(): Promise<string | undefined> {
    return undefined;
  }

  elect(): void {
    this.win?.();
  }

  /** The lease expires: the key goes first (etcd), the holder notices later. */
  async expire(notice = true): Promise<void> {
    await this.store.delete(`election/test/${this.campaigns}`);
    if (notice) this.term?.abort();
  }
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!check()) throw new Error('condition never held');
}

t.test('runWhileLeader: loops run only during a term, and stop before the next', async (t) => {
  const store = new MemoryStore();
  const candidate = new ScriptedCandidate(store);
  const elector = new LeaderElector({ candidate, identity: 'c1', log: silentLogger, retryMs: 1 });
  const log: string[] = [];
  let running = 0;
  let overlapped = false;
  elector.runWhileLeader('loop', async (signal, leadership) => {
    running++;
    if (running > 1) overlapped = true;
    log.push(`start ${leadership.identity}`);
    await untilAborted(signal);
    await new Promise((r) => setTimeout(r, 10)); // a loop that takes a while to stop
    log.push('stop');
    running--;
  });
  elector.start();
  await until(() => candidate.campaigns === 1);
  t.equal(elector.isLeader, false, 'not the leader before winning');
  t.strictSame(log, [], 'nothing runs before the election is won');
  t.throws(() => elector.fence(), { code: 'Unavailable' }, 'no fence without a term');

  candidate.elect();
  await until(() => log.length === 1);
  t.equal(elector.isLeader, true);
  t.strictSame(log, ['start c1'], 'started on winning');

  await candidate.expire();
  await until(() => candidate.campaigns === 2);
  t.strictSame(log, ['start c1', 'stop'], 'stopped on losing, before campaigning again');
  t.equal(elector.isLeader, false);

  candidate.elect();
  await until(() => log.length === 3);
  t.equal(overlapped, false, 'two terms never overlap');

  const late: string[] = [];
  elector.runWhileLeader('late', (signal) => {
    late.push('start');
    return untilAborted(signal).then(() => {
      late.push('stop');
    });
  });
  t.strictSame(late, ['start'], 'a loop registered during a term starts at once');

  await elector.stop();
  t.strictSame(log.slice(-1), ['stop'], 'stop() stops the loops');
  t.strictSame(late, ['start', 'stop']);
  t.equal(await store.get(text, `election/test/2`), undefined, 'and resigns (the election key is gone)');
});

t.test('commitAsLeader: a deposed leader’s writes fail, as "not the leader"', async (t) => {
  const store = new MemoryStore();
  const candidate = new ScriptedCandidate(store);
  const pending = candidate.campaign('c1', new AbortController().signal);
  candidate.elect();
  const leadership = await pending;
  await commitAsLeader(store, leadership, [putOp(text, 'things/a', 'one')]);
  t.equal((await store.get(text, 'things/a'))?.value, 'one', 'the leader writes');

  // The lease expired in etcd, the old leader has not noticed yet (a GC pause).
  await candidate.expire(false);
  t.equal(leadership.lost.aborted, false, 'the old leader still believes it leads');
  await t.rejects(commitAsLeader(store, leadership, [putOp(text, 'things/a', 'two')]), {
    code: 'Unavailable',
    message: /not the leader any more/,
  });
  t.equal((await store.get(text, 'things/a'))?.value, 'one', 'its write did not land');
  await t.rejects(
    commitAsLeader(store, leadership, [putOp(text, 'things/b', 'x', 12345)]),
    { code: 'Unavailable' },
    'a stale fence wins over a stale object guard',
  );
});

function registeredNode(name: string, at: Date): Node {
  return nodeCodec.decode(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, uid: `uid-${name}` },
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'AgentRegistered',
            lastHeartbeatTime: at.toISOString(),
            lastTransitionTime: at.toISOString(),
          },
        ],
      },
    }),
    0,
  );
}

t.test('node lifecycle: a new leader gives every node a full grace from its term', async (t) => {
  const store = new MemoryStore();
  const longAgo = new Date(Date.now() - 60_000);
  for (const name of ['a', 'b', 'c'])
    await store.create(nodeCodec, keys.node(name), registeredNode(name, longAgo));
  await store.create(
    podCodec,
    keys.pod('default', 'p'),
    podCodec.decode(
      JSON.stringify({ metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { nodeName: 'a' } }),
      0,
    ),
  );
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const nodes = new Informer<Node>(store, nodeCodec, keys.nodes, silentLogger);
  void nodes.run(abort.signal);
  await nodes.waitSynced();
  let now = Date.now();
  const controllerStart = now - 60_000; // up for a minute, but the leader only from now
  const lastSeen = new LastSeen();
  const loop = new NodeLifecycleLoop({
    store,
    nodes,
    lastSeen,
    graceMs: 5_000,
    evictionTimeoutMs: 3_000,
    controllerStart,
    listeningSince: () => controllerStart,
    log: silentLogger,
    now: () => now,
  });
  const term: Leadership = {
    identity: 'c2',
    since: now,
    fence: [],
    lost: new AbortController().signal,
    resign: async () => undefined,
  };
  await loop.tick(term);
  await nodes.refresh(keys.node('a'));
  const ready = async (name: string): Promise<string | undefined> =>
    (await store.get(nodeCodec, keys.node(name)))?.value.status?.conditions[0]?.status;
  t.equal(await ready('a'), 'True', 'no heartbeat heard yet, but the term just began: still Ready');

  now += 5_100;
  lastSeen.observe('b', now);
  lastSeen.observe('c', now);
  await loop.tick(term);
  t.equal(await ready('a'), 'Unknown', 'after the grace, counted from the term: Unknown');
  await until(() => nodes.get(keys.node('a'))?.status?.conditions[0]?.status === 'Unknown');
  t.equal(
    (await store.get(podCodec, keys.pod('default', 'p')))?.value.metadata?.deletionTimestamp,
    '',
    'not evicted yet',
  );

  t.equal(await ready('b'), 'True', 'b is heard from: Ready');

  now += 3_100;
  lastSeen.observe('b', now);
  lastSeen.observe('c', now);
  await loop.tick(term);
  const evicted = (await store.get(podCodec, keys.pod('default', 'p')))?.value;
  t.not(
    evicted?.metadata?.deletionTimestamp,
    '',
    'NotReady for the eviction timeout: its pod is marked deleted',
  );
  t.equal(evicted?.metadata?.deletionGracePeriodSeconds, 30, 'with the pod’s own grace, as DeletePod would');
});

t.test('node lifecycle: when every node falls silent at once, nothing is evicted', async (t) => {
  const store = new MemoryStore();
  const longAgo = new Date(Date.now() - 60_000);
  for (const name of ['a', 'b', 'c'])
    await store.create(nodeCodec, keys.node(name), registeredNode(name, longAgo));
  await store.create(
    podCodec,
    keys.pod('default', 'p'),
    podCodec.decode(
      JSON.stringify({ metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { nodeName: 'a' } }),
      0,
    ),
  );
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const nodes = new Informer<Node>(store, nodeCodec, keys.nodes, silentLogger);
  void nodes.run(abort.signal);
  await nodes.waitSynced();
  let now = Date.now();
  const loop = new NodeLifecycleLoop({
    store,
    nodes,
    lastSeen: new LastSeen(),
    graceMs: 5_000,
    evictionTimeoutMs: 3_000,
    controllerStart: now,
    log: silentLogger,
    now: () => now,
  });
  const term: Leadership = {
    identity: 'c1',
    since: now,
    fence: [],
    lost: new AbortController().signal,
    resign: async () => undefined,
  };
  now += 5_100;
  await loop.tick(term);
  await until(() => nodes.list().every((n) => n.status?.conditions[0]?.status === 'Unknown'));
  for (let i = 0; i < 4; i++) {
    now += 3_000;
    await loop.tick(term);
  }
  t.equal(
    (await store.get(podCodec, keys.pod('default', 'p')))?.value.metadata?.deletionTimestamp,
    '',
    'all nodes NotReady for long past the timeout: nothing evicted',
  );
});
