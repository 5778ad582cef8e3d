// The keyed work queue behind the deployment loop: coalescing, one worker per key, and
// delayed adds that keep the earliest timer.
import t from 'tap';
import { WorkQueue } from '@flotilla/controller';

t.test('a key added many times before it is taken is taken once', async (t) => {
  const q = new WorkQueue();
  q.add('a');
  q.add('b');
  q.add('a');
  t.equal(q.length, 2);
  t.equal(await q.take(), 'a');
  t.equal(await q.take(), 'b');
  t.equal(q.length, 0);
  q.stop();
  t.equal(await q.take(), undefined, 'stopped: no more keys');
});

t.test('a key added while it runs is not handed to a second worker, and runs again after', async (t) => {
  const q = new WorkQueue();
  q.add('a');
  const first = await q.take();
  q.add('a');
  t.equal(q.length, 0, 'not queued while it runs');
  const second = q.take();
  let taken: string | undefined;
  void second.then((k) => (taken = k));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(taken, undefined, 'a second worker waits');
  q.done(first ?? '');
  t.equal(await second, 'a', 'then it runs again');
  q.stop();
});

t.test('addAfter keeps the earliest timer and fires it', async (t) => {
  const q = new WorkQueue();
  // The queue's timers do not keep a process alive; this test's wait has to.
  const alive = setTimeout(() => undefined, 10_000);
  t.teardown(() => clearTimeout(alive));
  q.addAfter('a', 60_000);
  q.addAfter('a', 10);
  q.addAfter('a', 30_000);
  t.equal(await q.take(), 'a');
  q.stop();
});
