import t from 'tap';
import {
  type AssignmentState,
  DesiredSet,
  applyAssignmentEvent,
  emptyAssignmentState,
  podKey,
} from '@flotilla/agent';
import { type AssignmentEvent, AssignmentEvent_Type as Type, type Pod } from '@flotilla/proto';

/** A pod as the assignments stream carries it; `rv` is its resourceVersion. */
function pod(name: string, rv: number, namespace = 'default'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid: `${name}-uid`,
      resourceVersion: String(rv),
      generation: 1,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: undefined,
    status: undefined,
  };
}

function event(type: Type, revision: number, ...pods: Pod[]): AssignmentEvent {
  return { type, revision, pods };
}

/** The state after applying `events` in order to the empty state. */
function stateAfter(...events: AssignmentEvent[]): AssignmentState {
  return events.reduce((state, e) => applyAssignmentEvent(state, e).state, emptyAssignmentState);
}

const keys = (state: AssignmentState): string[] => [...state.pods.keys()].sort();

t.test('a snapshot fills the set, sets the revision and marks it synced', async (t) => {
  t.equal(emptyAssignmentState.synced, false, 'not synced before a snapshot');
  const r = applyAssignmentEvent(emptyAssignmentState, event(Type.SNAPSHOT, 10, pod('a', 5), pod('b', 6)));
  t.strictSame(r.change, {
    kind: 'snapshot',
    revision: 10,
    added: ['default/a', 'default/b'],
    modified: [],
    deleted: [],
  });
  t.equal(r.state.synced, true);
  t.equal(r.state.revision, 10);
  t.strictSame(keys(r.state), ['default/a', 'default/b']);
  t.equal(r.skipped, undefined);
});

t.test('ADDED, MODIFIED and DELETED change one pod each and advance the revision', async (t) => {
  const start = stateAfter(event(Type.SNAPSHOT, 10, pod('a', 5), pod('b', 6)));
  const cases: Array<[string, AssignmentEvent, 'added' | 'modified' | 'deleted', string[]]> = [
    ['added', event(Type.ADDED, 11, pod('c', 11)), 'added', ['default/a', 'default/b', 'default/c']],
    ['modified', event(Type.MODIFIED, 11, pod('a', 11)), 'modified', ['default/a', 'default/b']],
    ['deleted', event(Type.DELETED, 11, pod('b', 11)), 'deleted', ['default/a']],
  ];
  for (const [name, e, kind, after] of cases) {
    const r = applyAssignmentEvent(start, e);
    const key = podKey(e.pods[0] ?? pod('', 0));
    t.strictSame(
      r.change,
      {
        kind,
        revision: 11,
        added: kind === 'added' ? [key] : [],
        modified: kind === 'modified' ? [key] : [],
        deleted: kind === 'deleted' ? [key] : [],
      },
      name,
    );
    t.strictSame(keys(r.state), after, `${name}: the set after`);
    t.equal(r.state.revision, 11, `${name}: the revision`);
    t.equal(r.state.synced, true, `${name}: still synced`);
  }
  t.strictSame(keys(start), ['default/a', 'default/b'], 'the state applied to is left as it was');
});

t.test('a MODIFIED event with the resourceVersion already held changes nothing', async (t) => {
  const start = stateAfter(event(Type.SNAPSHOT, 10, pod('a', 5)));
  const r = applyAssignmentEvent(start, event(Type.MODIFIED, 11, pod('a', 5)));
  t.equal(r.change, undefined);
  t.equal(r.state.revision, 11);
});

t.test('deleting a pod that is not assigned changes nothing but the revision', async (t) => {
  const start = stateAfter(event(Type.SNAPSHOT, 10, pod('a', 5)));
  const r = applyAssignmentEvent(start, event(Type.DELETED, 14, pod('zz', 14)));
  t.equal(r.change, undefined);
  t.match(r.skipped, /default\/zz was not assigned/);
  t.equal(r.state.revision, 14);
  t.strictSame(keys(r.state), ['default/a']);
});

t.test('an event older than the current revision is skipped and leaves the state as it was', async (t) => {
  const start = stateAfter(event(Type.SNAPSHOT, 10, pod('a', 5)));
  for (const type of [Type.ADDED, Type.MODIFIED, Type.DELETED, Type.BOOKMARK]) {
    const r = applyAssignmentEvent(start, event(type, 9, pod('a', 9)));
    t.match(r.skipped, /stale event at revision 9, already at 10/, Type[type]);
    t.equal(r.state, start, `${Type[type]}: the same state`);
    t.equal(r.change, undefined, `${Type[type]}: no change`);
  }
});

t.test('a bookmark only advances the revision', async (t) => {
  const start = stateAfter(event(Type.SNAPSHOT, 10, pod('a', 5)));
  const r = applyAssignmentEvent(start, event(Type.BOOKMARK, 20));
  t.equal(r.change, undefined);
  t.equal(r.state.revision, 20);
  t.equal(r.state.pods, start.pods, 'the same pods');
});

t.test('an event of an unknown type is skipped', async (t) => {
  const start = stateAfter(event(Type.SNAPSHOT, 10, pod('a', 5)));
  const r = applyAssignmentEvent(start, event(Type.UNRECOGNIZED, 11, pod('b', 11)));
  t.match(r.skipped, /unknown event type/);
  t.equal(r.state, start);
});

t.test('a later snapshot replaces the set, reporting what differs', async (t) => {
  const start = stateAfter(
    event(Type.SNAPSHOT, 10, pod('a', 5), pod('b', 6)),
    event(Type.ADDED, 11, pod('c', 11)),
    event(Type.MODIFIED, 12, pod('a', 12)),
  );
  const replaced = applyAssignmentEvent(
    start,
    event(Type.SNAPSHOT, 30, pod('a', 25), pod('c', 11), pod('d', 29)),
  );
  t.strictSame(replaced.change, {
    kind: 'snapshot',
    revision: 30,
    added: ['default/d'],
    modified: ['default/a'],
    deleted: ['default/b'],
  });
  const emptied = applyAssignmentEvent(replaced.state, event(Type.SNAPSHOT, 31));
  t.strictSame(emptied.change?.deleted, ['default/a', 'default/c', 'default/d']);
  t.equal(emptied.state.pods.size, 0);
  const older = applyAssignmentEvent(replaced.state, event(Type.SNAPSHOT, 5, pod('a', 25)));
  t.equal(older.state.revision, 5, 'a snapshot may move the revision back (compacted history)');
});

t.test('podKey is <namespace>/<name>, "default" when the namespace is empty', async (t) => {
  t.equal(podKey(pod('x', 1, 'team-a')), 'team-a/x');
  t.equal(podKey(pod('x', 1, '')), 'default/x');
  t.equal(podKey(pod('', 1)), undefined);
  t.equal(podKey({ ...pod('x', 1), metadata: undefined }), undefined);
});

t.test('DesiredSet.changes starts with the current set, then yields each change', async (t) => {
  const desired = new DesiredSet();
  desired.apply(event(Type.SNAPSHOT, 1, pod('a', 1)));
  const abort = new AbortController();
  const changes = desired.changes(abort.signal);
  const summary = async (): Promise<string> => {
    const next = await changes.next();
    if (next.done) return 'done';
    const c = next.value;
    return `${c.kind}@${c.revision}:${[...c.added, ...c.modified, ...c.deleted].join(',')}`;
  };
  t.equal(await summary(), 'snapshot@1:default/a');
  desired.apply(event(Type.ADDED, 2, pod('b', 2)));
  desired.apply(event(Type.BOOKMARK, 3));
  desired.apply(event(Type.DELETED, 4, pod('a', 4)));
  t.equal(await summary(), 'added@2:default/b');
  t.equal(await summary(), 'deleted@4:default/a', 'a bookmark is no change');
  const waiting = summary();
  desired.apply(event(Type.MODIFIED, 5, pod('b', 5)));
  t.equal(await waiting, 'modified@5:default/b', 'a waiting reader is woken');
  abort.abort();
  t.equal(await summary(), 'done');
  t.strictSame(desired.keys(), ['default/b']);
  t.equal(desired.revision, 5);
});

t.test('DesiredSet.changes ends when the signal aborts while it waits', async (t) => {
  const desired = new DesiredSet();
  const abort = new AbortController();
  const changes = desired.changes(abort.signal);
  const waiting = changes.next();
  abort.abort();
  t.strictSame(await waiting, { done: true, value: undefined }, 'no snapshot before the set is synced');
});

t.test('DesiredSet tells listeners of changes until they unsubscribe', async (t) => {
  const desired = new DesiredSet();
  const heard: string[] = [];
  const off = desired.onChange((change, set) => heard.push(`${change.kind}:${set.keys().join(',')}`));
  desired.apply(event(Type.SNAPSHOT, 1, pod('a', 1)));
  desired.apply(event(Type.BOOKMARK, 2));
  desired.apply(event(Type.ADDED, 3, pod('b', 3)));
  off();
  desired.apply(event(Type.DELETED, 4, pod('a', 4)));
  t.strictSame(heard, ['snapshot:default/a', 'added:default/a,default/b']);
  t.equal(desired.synced, true);
  t.strictSame(
    desired.pods().map((p) => p.metadata?.resourceVersion),
    ['3'],
    'pods() in key order',
  );
});
