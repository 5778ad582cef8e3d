// The deployment loop's expectations (a pass waits until the informers' copies hold its
// own last writes), its owner index (pods by the ReplicaSet controlling them) and its
// status write budget.
import t from 'tap';
import type { Pod } from '@flotilla/proto';
import { Expectations, OwnerIndex, StatusBudget, isSeen, type CopyState } from '@flotilla/controller';

/** A copy as an informer exposes it: applied revision, and mod revisions per key. */
function copy(applied: number, held: Record<string, number>): CopyState {
  return { appliedRevision: applied, modRevision: (key) => held[key] };
}

t.test('a write is seen once the copy holds the key at its revision or has moved past it', async (t) => {
  const cases: [string, CopyState, boolean][] = [
    ['not yet in the copy', copy(9, {}), false],
    // Events of one transaction arrive one by one: the revision reached is not enough.
    ['another key of the same commit applied', copy(10, { b: 10 }), false],
    ['held at the revision', copy(10, { a: 10 }), true],
    ['held after a later write', copy(12, { a: 12 }), true],
    ['created and deleted since', copy(11, {}), true],
    ['an older version held', copy(10, { a: 7 }), false],
  ];
  for (const [what, c, want] of cases)
    t.equal(isSeen({ copy: c, key: 'a', kind: 'written', revision: 10 }), want, what);
});

t.test('a delete is seen once the key is gone or written again after it', async (t) => {
  t.equal(isSeen({ copy: copy(9, { a: 5 }), key: 'a', kind: 'deleted', revision: 10 }), false);
  t.equal(isSeen({ copy: copy(10, {}), key: 'a', kind: 'deleted', revision: 10 }), true);
  t.equal(isSeen({ copy: copy(11, { a: 11 }), key: 'a', kind: 'deleted', revision: 10 }), true);
});

t.test('a write of unknown revision is seen once the key is no longer where it was', async (t) => {
  t.equal(isSeen({ copy: copy(9, { a: 5 }), key: 'a', kind: 'changed', from: 5 }), false);
  t.equal(isSeen({ copy: copy(9, { a: 9 }), key: 'a', kind: 'changed', from: 5 }), true);
  t.equal(isSeen({ copy: copy(9, {}), key: 'a', kind: 'changed', from: 5 }), true);
});

t.test('a key waits until every write of its last pass is seen, or they expire', async (t) => {
  let nowMs = 0;
  const held: Record<string, number> = {};
  let applied = 0;
  const c: CopyState = {
    get appliedRevision() {
      return applied;
    },
    modRevision: (key) => held[key],
  };
  const ex = new Expectations(1_000, () => nowMs);
  t.equal(ex.check('d'), 'seen', 'nothing expected');
  ex.expect('d', [
    { copy: c, key: 'p1', kind: 'written', revision: 5 },
    { copy: c, key: 'p2', kind: 'written', revision: 5 },
  ]);
  t.equal(ex.check('d'), 'waiting');
  held.p1 = 5;
  applied = 5;
  t.equal(ex.check('d'), 'waiting', 'one of two pods seen');
  t.equal(ex.unseen('d'), 1);
  held.p2 = 5;
  t.equal(ex.check('d'), 'seen');
  t.equal(ex.check('e'), 'seen', 'other keys are not held up');

  ex.expect('d', [{ copy: c, key: 'p3', kind: 'written', revision: 8 }]);
  nowMs = 999;
  t.equal(ex.check('d'), 'waiting');
  nowMs = 1_000;
  t.equal(ex.check('d'), 'expired');
  t.equal(ex.check('d'), 'seen', 'forgotten once expired');
});

function pod(name: string, ownerUid: string | undefined): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `${name}-uid`,
      resourceVersion: '',
      generation: 0,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: ownerUid
        ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: ownerUid, controller: true }]
        : [],
    },
    spec: undefined,
    status: undefined,
  };
}

t.test('the owner index follows puts, owner changes and deletes', async (t) => {
  const index = new OwnerIndex<Pod>((p) => p.metadata?.ownerReferences[0]?.uid);
  const names = (group: string): string[] => [...index.get(group).keys()].sort();
  index.seed([['pods/default/a', pod('a', 'u1')]]);
  index.apply({
    type: 'put',
    key: 'pods/default/b',
    value: pod('b', 'u1'),
    modRevision: 2,
    previous: undefined,
  });
  index.apply({
    type: 'put',
    key: 'pods/default/c',
    value: pod('c', undefined),
    modRevision: 3,
    previous: undefined,
  });
  t.same(names('u1'), ['pods/default/a', 'pods/default/b']);
  index.apply({
    type: 'put',
    key: 'pods/default/b',
    value: pod('b', 'u2'),
    modRevision: 4,
    previous: pod('b', 'u1'),
  });
  t.same(names('u1'), ['pods/default/a']);
  t.same(names('u2'), ['pods/default/b']);
  index.apply({ type: 'delete', key: 'pods/default/a', previous: pod('a', 'u1') });
  t.same(names('u1'), []);
  t.equal(index.size, 1, 'empty groups are dropped');
});

t.test('the status budget allows a burst, then its rate', async (t) => {
  const budget = new StatusBudget(10, 3, 0);
  t.same([budget.take(0), budget.take(0), budget.take(0), budget.take(0)], [true, true, true, false]);
  t.equal(budget.waitMs(0), 100, 'one token every 100 ms');
  t.equal(budget.take(50), false);
  t.equal(budget.take(100), true);
  t.equal(budget.take(10_000), true, 'a quiet spell refills it');
  t.equal(budget.take(10_000), true);
  t.equal(budget.take(10_000), true);
  t.equal(budget.take(10_000), false, 'but never beyond the burst');
});
