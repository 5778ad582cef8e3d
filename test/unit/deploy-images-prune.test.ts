// What `deploy prune` removes, decided from lists alone.
import t from 'tap';
import { planPrune, type PruneImage, type PruneInput } from '@flotilla/deploy';

const d = (c: string): string => `sha256:${c.repeat(64)}`;

function input(overrides: Partial<PruneInput> = {}): PruneInput {
  // Two images share the base layer 1 (chain a); web adds layer 2 (chain b over a);
  // old is a digest-only name whose layer 3 (chain c over a) nothing else uses.
  const images: PruneImage[] = [
    {
      name: 'docker.io/library/busybox:latest',
      tagged: true,
      blobs: [d('4'), d('5'), d('1')],
      topChainId: d('a'),
    },
    {
      name: 'docker.io/library/web:latest',
      tagged: true,
      blobs: [d('6'), d('7'), d('1'), d('2')],
      topChainId: d('b'),
    },
    {
      name: `docker.io/library/old@${d('8')}`,
      tagged: false,
      blobs: [d('8'), d('9'), d('1'), d('3')],
      topChainId: d('c'),
    },
  ];
  return {
    all: false,
    images,
    blobs: ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'].map((c) => ({ digest: d(c), size: 10 })),
    snapshots: [
      { chainId: d('a'), size: 100 },
      { chainId: d('b'), parent: d('a'), size: 100 },
      { chainId: d('c'), parent: d('a'), size: 100 },
      { chainId: d('e'), size: 100 },
    ],
    cache: [
      { key: 'k-web', blobs: [d('2')] },
      { key: 'k-old', blobs: [d('3')] },
      { key: 'k-config', blobs: [] },
      { key: 'k-gone', blobs: [d('f')] },
    ],
    ...overrides,
  };
}

t.test('without -a: dangling names, then what only they and nothing else needed', async (t) => {
  const plan = planPrune(input());
  t.same(plan.images, [`docker.io/library/old@${d('8')}`]);
  t.same(
    plan.blobs.map((b) => b.digest),
    [d('3'), d('8'), d('9'), d('0')],
    'the dangling image’s own blobs and an unreferenced one; the shared base layer stays',
  );
  t.same(plan.snapshots.sort(), [d('c'), d('e')].sort(), 'its chain and an orphan; the shared parent stays');
  t.same(plan.cache.sort(), ['k-gone', 'k-old'], 'entries whose layer blob is gone');
  t.equal(plan.reclaimed, 4 * 10 + 2 * 100);
});

t.test('with -a: every image, every blob and snapshot, every layer cache entry', async (t) => {
  const plan = planPrune(input({ all: true }));
  t.equal(plan.images.length, 3);
  t.equal(plan.blobs.length, 10);
  t.equal(plan.snapshots.length, 4);
  t.ok(plan.snapshots.indexOf(d('b')) < plan.snapshots.indexOf(d('a')), 'children before parents');
  t.ok(plan.snapshots.indexOf(d('c')) < plan.snapshots.indexOf(d('a')));
  t.same(plan.cache.sort(), ['k-gone', 'k-old', 'k-web'], 'config-only entries need no blob and stay');
});

t.test('nothing to prune: an empty plan', async (t) => {
  const plan = planPrune({ all: false, images: [], blobs: [], snapshots: [], cache: [] });
  t.same(plan, { images: [], blobs: [], snapshots: [], cache: [], reclaimed: 0 });
});

t.test('a kept image missing a blob keeps the rest; cache needing the missing blob goes', async (t) => {
  const plan = planPrune(
    input({
      blobs: [d('4'), d('5')].map((digest) => ({ digest, size: 1 })),
      images: [
        {
          name: 'docker.io/library/busybox:latest',
          tagged: true,
          blobs: [d('4'), d('5'), d('1')],
          topChainId: d('a'),
        },
      ],
      cache: [{ key: 'k-base', blobs: [d('1')] }],
    }),
  );
  t.same(plan.blobs, []);
  t.same(plan.cache, ['k-base']);
});
