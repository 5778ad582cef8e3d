// The image GC decision (kubelet's rule: start at the high threshold, free down to the
// low one, least recently used first, never an image in use), and the gate that keeps
// GC and pulls apart.
import t from 'tap';
import { PullGcGate, planImageGc, type GcCandidate, type ImageGcInput } from '@flotilla/agent';

const GB = 1024 ** 3;

/** An image by name with last use at `lastUsedMs` and parts "key=size". */
function image(name: string, lastUsedMs: number, ...parts: string[]): GcCandidate {
  return {
    name,
    lastUsedMs,
    parts: parts.map((p) => {
      const [key = '', size = '0'] = p.split('=');
      return { key, size: Number(size) * GB };
    }),
  };
}

/** A 100 GB disk with `usedGb` used. */
function input(
  usedGb: number,
  high: number,
  low: number,
  images: GcCandidate[],
  inUse: string[] = [],
): ImageGcInput {
  return {
    usage: { capacityBytes: 100 * GB, availableBytes: (100 - usedGb) * GB },
    thresholds: { highPercent: high, lowPercent: low },
    images,
    inUse: new Set(inUse),
  };
}

t.test('planImageGc: table', async (t) => {
  const a = image('a', 1_000, 'blob:a=5');
  const b = image('b', 2_000, 'blob:b=5');
  const c = image('c', 3_000, 'blob:c=5');
  const cases: {
    name: string;
    input: ImageGcInput;
    triggered: boolean;
    remove: string[];
    freedGb?: number;
    bytesToFreeGb?: number;
  }[] = [
    {
      name: 'below the high threshold: nothing',
      input: input(84, 85, 80, [a, b, c]),
      triggered: false,
      remove: [],
    },
    {
      name: 'at the high threshold: frees down to the low one, oldest first',
      input: input(85, 85, 80, [c, b, a]),
      triggered: true,
      remove: ['a'],
      freedGb: 5,
      bytesToFreeGb: 5,
    },
    {
      name: 'more to free: the next oldest too',
      input: input(90, 85, 80, [a, b, c]),
      triggered: true,
      remove: ['a', 'b'],
      freedGb: 10,
      bytesToFreeGb: 10,
    },
    {
      name: 'images in use are skipped',
      input: input(90, 85, 80, [a, b, c], ['a']),
      triggered: true,
      remove: ['b', 'c'],
      freedGb: 10,
    },
    {
      name: 'not enough to free: every unused image goes',
      input: input(99, 85, 80, [a, b, c], ['c']),
      triggered: true,
      remove: ['a', 'b'],
      freedGb: 10,
      bytesToFreeGb: 19,
    },
    {
      name: 'everything in use: nothing to remove',
      input: input(99, 85, 80, [a, b], ['a', 'b']),
      triggered: true,
      remove: [],
      freedGb: 0,
    },
    {
      name: 'high 100 disables GC, even on a full disk',
      input: input(100, 100, 80, [a]),
      triggered: false,
      remove: [],
    },
    {
      name: '0/0 removes every unused image',
      input: input(50, 0, 0, [a, b, c], ['b']),
      triggered: true,
      remove: ['a', 'c'],
      freedGb: 10,
    },
    {
      name: 'equal last use: by name, so the plan is reproducible',
      input: input(86, 85, 80, [image('y', 5, 'blob:y=3'), image('x', 5, 'blob:x=3')]),
      triggered: true,
      remove: ['x', 'y'],
      freedGb: 6,
    },
  ];
  for (const c of cases) {
    const plan = planImageGc(c.input);
    t.equal(plan.triggered, c.triggered, `${c.name}: triggered`);
    t.strictSame(plan.remove, c.remove, `${c.name}: removes`);
    if (c.freedGb !== undefined) t.equal(plan.freedBytes, c.freedGb * GB, `${c.name}: frees`);
    if (c.bytesToFreeGb !== undefined) t.equal(plan.bytesToFree, c.bytesToFreeGb * GB, `${c.name}: to free`);
  }
});

t.test('planImageGc: shared parts are freed only with their last holder', async (t) => {
  // old and mid share a 10 GB base layer (and its snapshot); new uses it too and is in use.
  const old = image('old', 1, 'blob:base=10', 'snapshot:base=10', 'blob:old=1');
  const mid = image('mid', 2, 'blob:base=10', 'snapshot:base=10', 'blob:mid=1');
  const current = image('new', 3, 'blob:base=10', 'snapshot:base=10', 'blob:new=1');
  const plan = planImageGc(input(90, 85, 80, [old, mid, current], ['new']));
  t.strictSame(plan.remove, ['old', 'mid'], 'removing old frees 1 GB, not 21: keeps going');
  t.equal(plan.freedBytes, 2 * GB, 'the base stays: an image in use holds it');

  const alone = planImageGc(input(90, 85, 80, [old, mid]));
  t.strictSame(alone.remove, ['old', 'mid']);
  t.equal(alone.freedBytes, 22 * GB, 'the base is freed with its last holder');

  const dup = planImageGc(input(90, 85, 80, [image('d', 1, 'blob:x=4', 'blob:x=4')]));
  t.equal(dup.freedBytes, 4 * GB, 'a part listed twice by one image counts once');
});

t.test('planImageGc: usage percent from capacity and available space', async (t) => {
  const plan = planImageGc(input(42, 85, 80, []));
  t.equal(plan.usagePercent, 42);
  t.equal(
    planImageGc({ ...input(0, 0, 0, []), usage: { capacityBytes: 0, availableBytes: 0 } }).usagePercent,
    0,
  );
});

t.test('PullGcGate: pulls share it, GC waits for them and holds it alone', async (t) => {
  const gate = new PullGcGate();
  const log: string[] = [];
  let releaseFirst!: () => void;
  const first = gate.withShared(
    () =>
      new Promise<void>((resolve) => {
        log.push('pull 1 in');
        releaseFirst = () => {
          log.push('pull 1 out');
          resolve();
        };
      }),
  );
  const second = gate.withShared(async () => void log.push('pull 2'));
  await second;
  t.strictSame(log, ['pull 1 in', 'pull 2'], 'two pulls at once');

  const gc = gate.withExclusive(async () => void log.push('gc'));
  const third = gate.withShared(async () => void log.push('pull 3'));
  await new Promise((resolve) => setImmediate(resolve));
  t.strictSame(log, ['pull 1 in', 'pull 2'], 'GC waits for the pull inside; a later pull waits behind GC');
  releaseFirst();
  await Promise.all([first, gc, third]);
  t.strictSame(log, ['pull 1 in', 'pull 2', 'pull 1 out', 'gc', 'pull 3'], 'then GC, then the pull');

  await t.rejects(
    gate.withExclusive(async () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  await gate.withShared(async () => void log.push('after a failed GC'));
  t.equal(log.at(-1), 'after a failed GC', 'a failure releases the gate');
});
