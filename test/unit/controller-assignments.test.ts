import t, { type Test } from 'tap';
import { type AssignmentEvent, AssignmentEvent_Type as Type, type Pod } from '@flotilla/proto';
import { changedBeyondStatus, silentLogger } from '@flotilla/common';
import {
  MemoryStore,
  type WatchEvent,
  assignmentForEvent,
  keys,
  podCodec,
  streamAssignments,
} from '@flotilla/controller';
import { waitFor } from '../lib/index.js';

/** A pod in namespace default; `node` is its spec.nodeName ('' = not bound). */
function makePod(spec: { name: string; node: string; image?: string }): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: spec.name,
      namespace: 'default',
      uid: `${spec.name}-uid`,
      resourceVersion: '',
      generation: 1,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: {
      containers: [
        {
          name: 'main',
          image: spec.image ?? 'busybox',
          command: [],
          args: [],
          workingDir: '',
          ports: [],
          env: [],
          resources: undefined,
          imagePullPolicy: 'IfNotPresent',
          volumeMounts: [],
          livenessProbe: undefined,
          readinessProbe: undefined,
          startupProbe: undefined,
          stdin: false,
          stdinOnce: false,
          tty: false,
        },
      ],
      restartPolicy: 'Always',
      nodeName: spec.node,
      nodeSelector: {},
      hostname: '',
      volumes: [],
      stopped: false,
      tolerations: [],
      affinity: undefined,
    },
    status: undefined,
  };
}

const put = (value: Pod, previous: Pod | undefined, revision = 9): WatchEvent<Pod> => ({
  type: 'put',
  key: keys.pod('default', value.metadata?.name ?? ''),
  value,
  previous,
  revision,
});
const del = (previous: Pod | undefined, revision = 9): WatchEvent<Pod> => ({
  type: 'delete',
  key: keys.pod('default', previous?.metadata?.name ?? 'gone'),
  previous,
  revision,
});

/** An event as [type, revision, pod names], to compare whole sequences. */
type Summary = [string, number, string[]];
const summary = (e: AssignmentEvent): Summary => [
  Type[e.type],
  e.revision,
  e.pods.map((p) => p.metadata?.name ?? ''),
];

t.test('assignmentForEvent: a delete whose previous value etcd lost is still reported by key', async (t) => {
  const ev = del(undefined, 12);
  const out = assignmentForEvent('n1', ev);
  t.equal(out?.type, Type.DELETED, 'DELETED, since n1 may hold the pod');
  t.equal(out?.revision, 12, 'at the event revision');
  t.equal(out?.pods[0]?.metadata?.name, 'gone', 'naming the pod from its key');
  t.equal(out?.pods[0]?.metadata?.namespace, 'default', 'and its namespace');
  t.equal(
    assignmentForEvent('n1', { type: 'delete', key: 'nodes/x', revision: 3 }),
    undefined,
    'not a pod key: nothing',
  );
});

t.test('assignmentForEvent: what one pod change means to node n1', async (t) => {
  const on1 = makePod({ name: 'p', node: 'n1' });
  const on1v2 = makePod({ name: 'p', node: 'n1', image: 'nginx' });
  const on2 = makePod({ name: 'p', node: 'n2' });
  const unbound = makePod({ name: 'p', node: '' });
  const cases: Array<[string, WatchEvent<Pod>, Type | undefined, Pod | undefined]> = [
    // what, the store event, the assignment event type (undefined: none), the pod it carries
    ['a new pod on n1 is ADDED', put(on1, undefined), Type.ADDED, on1],
    ['a pod on n1 that changes is MODIFIED', put(on1v2, on1), Type.MODIFIED, on1v2],
    ['a pod that moves to n1 is ADDED', put(on1, on2), Type.ADDED, on1],
    ['a pod bound to n1 is ADDED', put(on1, unbound), Type.ADDED, on1],
    ['a pod that moves away from n1 is DELETED', put(on2, on1), Type.DELETED, on2],
    ['a pod unbound from n1 is DELETED', put(unbound, on1), Type.DELETED, unbound],
    ['a deleted pod of n1 is DELETED', del(on1), Type.DELETED, on1],
    ['a new pod on n2: nothing', put(on2, undefined), undefined, undefined],
    ['a pod on n2 that changes: nothing', put(on2, on2), undefined, undefined],
    ['an unbound pod: nothing', put(unbound, undefined), undefined, undefined],
    ['a deleted pod of n2: nothing', del(on2), undefined, undefined],
  ];
  for (const [what, ev, type, pod] of cases) {
    const expected = type === undefined ? undefined : { type, revision: 9, pods: [pod] };
    t.strictSame(assignmentForEvent('n1', ev), expected, what);
  }
});

/** pod with its status, resourceVersion or metadata changed as change says. */
function variant(pod: Pod, change: (p: Pod) => Pod): Pod {
  return change(structuredClone(pod));
}

t.test('changedBeyondStatus: only a status (and resourceVersion) change is left out', async (t) => {
  const base = makePod({ name: 'p', node: 'n1' });
  base.metadata!.resourceVersion = '10';
  const meta = base.metadata!;
  const withStatus = (p: Pod): Pod => ({
    ...p,
    metadata: { ...p.metadata!, resourceVersion: '11' },
    status: {
      phase: 'Running',
      reason: '',
      message: '',
      hostIP: '10.0.0.1',
      podIP: '10.88.0.2',
      startTime: 'now',
      conditions: [],
      containerStatuses: [],
    },
  });
  const cases: Array<[string, Pod, boolean]> = [
    ['the same pod again', variant(base, (p) => p), false],
    ['a new status and resourceVersion', variant(base, withStatus), false],
    [
      'only the resourceVersion',
      variant(base, (p) => ({ ...p, metadata: { ...meta, resourceVersion: '12' } })),
      false,
    ],
    [
      'a deletionTimestamp',
      variant(base, (p) => ({ ...p, metadata: { ...meta, deletionTimestamp: 'soon' } })),
      true,
    ],
    [
      'a deletion grace period',
      variant(base, (p) => ({ ...p, metadata: { ...meta, deletionGracePeriodSeconds: 0 } })),
      true,
    ],
    [
      'an annotation (deploy restart)',
      variant(base, (p) => ({ ...p, metadata: { ...meta, annotations: { restartedAt: 'x' } } })),
      true,
    ],
    ['a label', variant(base, (p) => ({ ...p, metadata: { ...meta, labels: { a: 'b' } } })), true],
    [
      'a new uid (the pod re-created)',
      variant(base, (p) => ({ ...p, metadata: { ...meta, uid: 'other' } })),
      true,
    ],
    ['spec.stopped', variant(base, (p) => ({ ...p, spec: { ...p.spec!, stopped: true } })), true],
    [
      'the grace period in the spec',
      variant(base, (p) => ({ ...p, spec: { ...p.spec!, terminationGracePeriodSeconds: 5 } })),
      true,
    ],
    [
      'a container image',
      variant(base, (p) => {
        p.spec!.containers[0]!.image = 'nginx';
        return p;
      }),
      true,
    ],
    [
      'status and spec together',
      variant(base, (p) => ({ ...withStatus(p), spec: { ...p.spec!, stopped: true } })),
      true,
    ],
    ['the kind', variant(base, (p) => ({ ...p, kind: 'Other' })), true],
  ];
  for (const [what, after, matters] of cases) t.equal(changedBeyondStatus(base, after), matters, what);
  t.equal(
    assignmentForEvent('n1', put(variant(base, withStatus), base)),
    undefined,
    'a status-only change of a pod on n1 is not sent to n1',
  );
  t.equal(
    assignmentForEvent('n1', put(variant(base, withStatus), makePod({ name: 'p', node: 'n2' })))?.type,
    Type.ADDED,
    'a pod that arrives on n1 is sent whatever else changed',
  );
  t.equal(
    assignmentForEvent('n1', put(makePod({ name: 'p', node: 'n2' }), base))?.type,
    Type.DELETED,
    'and one that leaves it is DELETED there',
  );
});

t.test('assignmentForEvent carries the revision of the change', async (t) => {
  const pod = makePod({ name: 'p', node: 'n1' });
  t.equal(assignmentForEvent('n1', put(pod, undefined, 1234))?.revision, 1234);
  t.equal(assignmentForEvent('n1', del(pod, 1235))?.revision, 1235);
});

/** A MemoryStore holding these pods. */
async function storeWith(...pods: Pod[]): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (const pod of pods) await store.create(podCodec, keys.pod('default', pod.metadata?.name ?? ''), pod);
  return store;
}

/** Runs an assignments stream for node until the test ends; events collect in `events`. */
function openStream(
  t: Test,
  store: MemoryStore,
  options: {
    node?: string;
    resumeRevision?: number;
    bookmarkIntervalMs?: number;
    send?: () => Promise<void>;
  } = {},
): {
  events: AssignmentEvent[];
  done: Promise<void>;
  stop: AbortController;
  wait: (n: number) => Promise<Summary[]>;
} {
  const events: AssignmentEvent[] = [];
  const stop = new AbortController();
  const done = streamAssignments({
    store,
    node: options.node ?? 'n1',
    resumeRevision: options.resumeRevision ?? 0,
    signal: stop.signal,
    log: silentLogger,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    send: async (event) => {
      events.push(event);
      await options.send?.();
    },
  });
  t.teardown(() => stop.abort());
  const wait = (n: number): Promise<Summary[]> =>
    waitFor(
      `${n} assignment event(s), got ${events.length}`,
      () => events.length >= n && events.map(summary),
      {
        timeoutMs: 5_000,
        intervalMs: 5,
      },
    );
  return { events, done, stop, wait };
}

const update = async (store: MemoryStore, pod: Pod): Promise<number> => {
  const key = keys.pod('default', pod.metadata?.name ?? '');
  const current = await store.get(podCodec, key);
  return (await store.update(podCodec, key, pod, current?.modRevision ?? 0)).modRevision;
};
const create = async (store: MemoryStore, pod: Pod): Promise<number> =>
  (await store.create(podCodec, keys.pod('default', pod.metadata?.name ?? ''), pod)).entry.modRevision;

t.test('a stream sends a SNAPSHOT of the node’s pods, then their changes in order', async (t) => {
  const store = await storeWith(makePod({ name: 'p0', node: 'n1' }), makePod({ name: 'other', node: 'n2' }));
  const p0At = (await store.get(podCodec, keys.pod('default', 'p0')))?.modRevision;
  const at = await store.revision();
  const stream = openStream(t, store);
  t.strictSame(await stream.wait(1), [['SNAPSHOT', at, ['p0']]]);
  t.equal(
    stream.events[0]?.pods[0]?.metadata?.resourceVersion,
    String(p0At),
    'pods carry their resourceVersion',
  );

  const added = await create(store, makePod({ name: 'p1', node: 'n1' }));
  const modified = await update(store, makePod({ name: 'p0', node: 'n1', image: 'nginx' }));
  await create(store, makePod({ name: 'elsewhere', node: 'n2' }));
  const movedAway = await update(store, makePod({ name: 'p0', node: 'n2' }));
  await store.delete(keys.pod('default', 'p1'));
  const deleted = await store.revision();

  t.strictSame(await stream.wait(5), [
    ['SNAPSHOT', at, ['p0']],
    ['ADDED', added, ['p1']],
    ['MODIFIED', modified, ['p0']],
    ['DELETED', movedAway, ['p0']],
    ['DELETED', deleted, ['p1']],
  ]);
  stream.stop.abort();
  await stream.done;
  t.equal(stream.events.length, 5, 'nothing else was sent');
});

t.test('a stream leaves out status-only changes of the node’s pods, and bookmarks past them', async (t) => {
  const store = await storeWith(makePod({ name: 'p0', node: 'n1' }));
  const at = await store.revision();
  const stream = openStream(t, store, { bookmarkIntervalMs: 20 });
  await stream.wait(1);
  const running = {
    ...makePod({ name: 'p0', node: 'n1' }),
    status: {
      phase: 'Running',
      reason: '',
      message: '',
      hostIP: '',
      podIP: '10.88.0.2',
      startTime: 'now',
      conditions: [],
      containerStatuses: [],
    },
  };
  const statusAt = await update(store, running);
  const stopped = await update(store, { ...running, spec: { ...running.spec!, stopped: true } });
  await waitFor(
    'a bookmark at the spec change',
    () => stream.events.some((e) => e.type === Type.BOOKMARK && e.revision >= stopped),
    { timeoutMs: 5_000, intervalMs: 5 },
  );
  t.strictSame(
    stream.events.filter((e) => e.type !== Type.BOOKMARK).map(summary),
    [
      ['SNAPSHOT', at, ['p0']],
      ['MODIFIED', stopped, ['p0']],
    ],
    `the status write at ${statusAt} is not sent; the spec change is`,
  );
  t.equal(
    stream.events.find((e) => e.type === Type.MODIFIED)?.pods[0]?.status?.phase,
    'Running',
    'with its status',
  );
});

t.test('a stream resumed from a revision sends only what came after it', async (t) => {
  const store = await storeWith(makePod({ name: 'p0', node: 'n1' }), makePod({ name: 'p1', node: 'n1' }));
  const resumeAt = await store.revision();
  const modified = await update(store, makePod({ name: 'p1', node: 'n1', image: 'nginx' }));
  const stream = openStream(t, store, { resumeRevision: resumeAt });
  t.strictSame(await stream.wait(1), [['MODIFIED', modified, ['p1']]], 'no snapshot, the history after it');
  const added = await create(store, makePod({ name: 'p2', node: 'n1' }));
  t.strictSame(await stream.wait(2), [
    ['MODIFIED', modified, ['p1']],
    ['ADDED', added, ['p2']],
  ]);
});

t.test('a resume revision the store has not reached gets a fresh SNAPSHOT', async (t) => {
  const store = await storeWith(makePod({ name: 'p0', node: 'n1' }));
  const stream = openStream(t, store, { resumeRevision: 1_000 });
  t.strictSame(await stream.wait(1), [['SNAPSHOT', await store.revision(), ['p0']]]);
});

t.test('a compacted resume revision gets a fresh SNAPSHOT', async (t) => {
  const store = await storeWith(makePod({ name: 'p0', node: 'n1' }));
  const resumeAt = await store.revision();
  await update(store, makePod({ name: 'p0', node: 'n1', image: 'a' }));
  await update(store, makePod({ name: 'p0', node: 'n1', image: 'b' }));
  store.compact(await store.revision());
  const stream = openStream(t, store, { resumeRevision: resumeAt });
  t.strictSame(await stream.wait(1), [['SNAPSHOT', await store.revision(), ['p0']]]);
  t.equal(stream.events[0]?.pods[0]?.spec?.containers[0]?.image, 'b', 'the snapshot has the current pod');
});

t.test('a quiet stream sends BOOKMARKs with the newest revision it has processed', async (t) => {
  const store = await storeWith(makePod({ name: 'p0', node: 'n1' }));
  const snapshotAt = await store.revision();
  const stream = openStream(t, store, { bookmarkIntervalMs: 20 });
  const first = await stream.wait(2);
  t.strictSame(first[1], ['BOOKMARK', snapshotAt, []], 'before any change: the snapshot revision');

  const otherNode = await create(store, makePod({ name: 'p1', node: 'n2' }));
  await waitFor(
    'a bookmark at the other node’s change',
    () => stream.events.some((e) => e.type === Type.BOOKMARK && e.revision === otherNode),
    { timeoutMs: 5_000, intervalMs: 5 },
  );
  t.strictSame(
    stream.events.filter((e) => e.type !== Type.BOOKMARK).map(summary),
    [['SNAPSHOT', snapshotAt, ['p0']]],
    'the other node’s pod is not sent, only its revision',
  );
  const revisions = stream.events.map((e) => e.revision);
  t.strictSame(
    revisions,
    [...revisions].sort((a, b) => a - b),
    'revisions never go back',
  );
  t.ok(
    revisions.every((r) => r <= otherNode),
    'no bookmark is ahead of what the stream processed',
  );
});

t.test('a stream ends when its signal aborts', async (t) => {
  const stream = openStream(t, await storeWith());
  await stream.wait(1);
  stream.stop.abort();
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    stream.done.then(() => 'ended'),
    new Promise((resolve) => (timer = setTimeout(resolve, 5_000, 'still running after 5 s'))),
  ]);
  clearTimeout(timer);
  t.equal(ended, 'ended');
});

t.test('a send that fails ends the stream with its error', async (t) => {
  let sent = 0;
  const store = await storeWith();
  const stream = openStream(t, store, {
    send: async () => {
      sent += 1;
      if (sent === 2) throw new Error('the agent went away');
    },
  });
  await stream.wait(1);
  await create(store, makePod({ name: 'p0', node: 'n1' }));
  await t.rejects(stream.done, { message: 'the agent went away' });
});
