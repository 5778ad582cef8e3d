// Snapshots, the pure parts: chain IDs, rootfs mounts, garbage-collection plans.
import t from 'tap';
import { chainId, chainIdOf, chainIds, planSnapshotGc, rootfsMount } from '@flotilla/images';

// Digests of "a", "b", "c"; the chains computed independently with sha256sum:
//   printf '%s' "$A $B" | sha256sum
const A = 'sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb';
const B = 'sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d';
const C = 'sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6';
const AB = 'sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676';
const ABC = 'sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106';

t.test('chain IDs follow the OCI image spec', async (t) => {
  t.equal(chainIdOf(undefined, A), A, 'the bottom layer: its diffID');
  t.equal(chainIdOf(A, B), AB, 'sha256(parent + " " + diffID)');
  t.equal(chainIdOf(AB, C), ABC);
  t.same(chainIds([A, B, C]), [A, AB, ABC], 'one per layer, bottom first');
  t.equal(chainId([A, B, C]), ABC, 'the image: its top layer');
  t.equal(chainId([]), undefined, 'no layers, no chain');
  t.not(chainIdOf(B, A), AB, 'order matters');
});

t.test('chain IDs refuse what is not a digest, naming the field', async (t) => {
  t.throws(() => chainIdOf(undefined, 'sha256:abc'), {
    code: 'InvalidArgument',
    message: /diffId "sha256:abc"/,
  });
  t.throws(() => chainIdOf('nope', A), { code: 'InvalidArgument', message: /parent "nope"/ });
  t.throws(() => chainIds([A, `sha256:${'G'.repeat(64)}`]), { code: 'InvalidArgument' });
});

const snap = (path: string) => ({ path });

t.test('rootfsMount: overlay over the chain, lowerdir topmost first', async (t) => {
  const chain = [snap('/s/1/fs'), snap('/s/2/fs'), snap('/s/3/fs')];
  t.same(rootfsMount(chain, '/c/upper', '/c/work'), {
    type: 'overlay',
    source: 'overlay',
    options: ['lowerdir=/s/3/fs:/s/2/fs:/s/1/fs', 'upperdir=/c/upper', 'workdir=/c/work', 'redirect_dir=off'],
  });
  t.same(rootfsMount(chain.slice(0, 1), '/c/upper', '/c/work').options, [
    'lowerdir=/s/1/fs',
    'upperdir=/c/upper',
    'workdir=/c/work',
    'redirect_dir=off',
  ]);
});

t.test('rootfsMount: read-only views and the cases overlayfs cannot express', async (t) => {
  t.same(
    rootfsMount([snap('/s/1/fs'), snap('/s/2/fs')]),
    { type: 'overlay', source: 'overlay', options: ['lowerdir=/s/2/fs:/s/1/fs'] },
    'two or more snapshots, no upper: a read-only overlay',
  );
  t.same(
    rootfsMount([snap('/s/1/fs')]),
    { type: 'bind', source: '/s/1/fs', options: ['rbind', 'ro'] },
    'one snapshot, no upper: overlayfs needs two lowers, so a read-only bind mount',
  );
  t.same(
    rootfsMount([], '/c/upper', '/c/work'),
    { type: 'bind', source: '/c/upper', options: ['rbind', 'rw'] },
    'FROM scratch: the upper dir itself',
  );
  t.throws(() => rootfsMount([]), { code: 'InvalidArgument', message: /at least one snapshot/ });
  t.throws(() => rootfsMount([snap('/s/1/fs')], '/c/upper'), { code: 'InvalidArgument', message: /workDir/ });
});

t.test('rootfsMount refuses paths overlayfs would misread, and oversized option data', async (t) => {
  t.throws(() => rootfsMount([snap('/s/a,b/fs'), snap('/s/2/fs')]), {
    code: 'InvalidArgument',
    message: /chain\[0\]\.path "\/s\/a,b\/fs"/,
  });
  t.throws(() => rootfsMount([snap('/s/1/fs')], '/c/up:per', '/c/work'), { message: /upperDir/ });
  t.throws(() => rootfsMount([snap('relative/fs')], '/c/upper', '/c/work'), { message: /absolute/ });
  const deep = Array.from({ length: 60 }, (_, i) =>
    snap(`/var/lib/flotilla/snapshots/${String(i).padStart(64, '0')}/fs`),
  );
  t.throws(() => rootfsMount(deep, '/c/upper', '/c/work'), {
    code: 'InvalidArgument',
    message: /over the kernel's 4095/,
  });
  t.doesNotThrow(() => rootfsMount(deep.slice(0, 30), '/c/upper', '/c/work'), '30 layers fit');
});

const link = (chainId: string, parent?: string) => (parent === undefined ? { chainId } : { chainId, parent });

t.test('planSnapshotGc keeps what is in use and everything below it', async (t) => {
  // base ← mid ← top (in use); base ← other ← other2 (unused); lone (unused)
  const snapshots = [
    link('base'),
    link('mid', 'base'),
    link('top', 'mid'),
    link('other', 'base'),
    link('other2', 'other'),
    link('lone'),
  ];
  t.same(planSnapshotGc(snapshots, new Set(['top'])), ['other2', 'other', 'lone'], 'children before parents');
  t.same(planSnapshotGc(snapshots, new Set(['top', 'other2'])), ['lone']);
  t.same(planSnapshotGc(snapshots, new Set(['mid'])), ['other2', 'top', 'other', 'lone']);
  t.same(
    planSnapshotGc(snapshots, new Set()),
    ['other2', 'top', 'mid', 'other', 'base', 'lone'],
    'nothing in use: everything, deepest first',
  );
  t.same(planSnapshotGc(snapshots, new Set(['gone'])).length, 6, 'an unknown chain ID in use keeps nothing');
});

t.test('planSnapshotGc survives broken and cyclic parent links', async (t) => {
  t.same(
    planSnapshotGc([link('a', 'missing'), link('b', 'a')], new Set(['b'])),
    [],
    'a missing parent ends the chain',
  );
  t.same(
    planSnapshotGc([link('x', 'y'), link('y', 'x')], new Set()).sort(),
    ['x', 'y'],
    'a cycle terminates',
  );
  t.same(
    planSnapshotGc([link('x', 'y'), link('y', 'x')], new Set(['x'])),
    [],
    'a cycle in use is kept whole',
  );
});
