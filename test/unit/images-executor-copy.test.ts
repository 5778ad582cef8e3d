import t from 'tap';
import {
  builtLines,
  canonicalTags,
  imageManifest,
  mediaTypes,
  ociLayerMediaType,
  ownerIsGone,
  planCopyEntries,
  resultLine,
  shortDigest,
  stepLine,
  writableRootfs,
  type CopyPlanInput,
  type CopySource,
  type ExistingDir,
  type LayerEntry,
  type SourceEntry,
} from '@flotilla/images';

const mtime = new Date(1_700_000_000_000);
const created = new Date(0);

function file(path: string, more: Partial<SourceEntry> = {}): SourceEntry {
  return { path, abs: `/ctx/${path}`, type: 'file', mode: 0o644, size: 10, mtime, ...more };
}
function dir(path: string, more: Partial<SourceEntry> = {}): SourceEntry {
  return { path, abs: `/ctx/${path}`, type: 'dir', mode: 0o750, size: 0, mtime, ...more };
}
function source(entries: SourceEntry[], more: Partial<CopySource> = {}): CopySource {
  return { top: entries[0] as SourceEntry, entries, ...more };
}

const rootDir: ExistingDir = { mode: 0o755, uid: 0, gid: 0, mtime: new Date(5000) };

function plan(input: Partial<CopyPlanInput>): LayerEntry[] {
  return planCopyEntries({ dest: [], intoDir: true, existing: new Map(), sources: [], created, ...input });
}

/** path type mode uid:gid, one string per entry, for compact expectations. */
const brief = (entries: LayerEntry[]): string[] =>
  entries.map((e) => `${e.path} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid}`);

t.test('a file into a directory destination lands under its base name', async (t) => {
  const entries = plan({
    dest: ['srv', 'app'],
    intoDir: true,
    existing: new Map([['srv', rootDir]]),
    sources: [source([file('conf/app.ini')])],
  });
  t.same(brief(entries), [
    'srv directory 755 0:0',
    'srv/app directory 755 0:0',
    'srv/app/app.ini file 644 0:0',
  ]);
  t.same(entries[0]?.mtime, rootDir.mtime, 'an existing parent is repeated as it is');
  t.same(entries[1]?.mtime, created, 'a created directory gets the fixed creation time');
  t.equal(entries[2]?.source, '/ctx/conf/app.ini', 'content read from the context file');
  t.equal(entries[2]?.size, 10);
  t.same(entries[2]?.mtime, mtime, 'the source mtime is kept');
});

t.test('a file to a file destination becomes that path', async (t) => {
  const entries = plan({ dest: ['etc', 'app.conf'], intoDir: false, sources: [source([file('x.conf')])] });
  t.same(brief(entries), ['etc directory 755 0:0', 'etc/app.conf file 644 0:0']);
});

t.test("a directory's content goes into dest, which keeps its metadata when it exists", async (t) => {
  const tree = [dir('app'), dir('app/sub'), file('app/sub/a.txt'), file('app/b.txt', { mode: 0o755 })];
  const existing = new Map([['srv', { ...rootDir, uid: 7 }]]);
  const intoExisting = plan({ dest: ['srv'], intoDir: true, existing, sources: [source(tree)] });
  t.same(brief(intoExisting), [
    'srv directory 755 7:0',
    'srv/sub directory 750 0:0',
    'srv/sub/a.txt file 644 0:0',
    'srv/b.txt file 755 0:0',
  ]);
  const intoNew = plan({ dest: ['opt', 'app'], intoDir: false, sources: [source(tree)] });
  t.same(
    brief(intoNew).slice(0, 2),
    ['opt directory 755 0:0', 'opt/app directory 750 0:0'],
    'a new dest takes the source directory itself',
  );
});

t.test(
  '--chown owns everything copied and created, not existing parents; --chmod sets copied modes',
  async (t) => {
    const entries = plan({
      dest: ['srv', 'app'],
      intoDir: true,
      existing: new Map([['srv', rootDir]]),
      sources: [
        source([dir('d'), file('d/x'), { ...file('d/link'), type: 'symlink', linkTarget: 'x', mode: 0o777 }]),
      ],
      owner: { uid: 1000, gid: 1001 },
      chmod: 0o600,
    });
    t.same(brief(entries), [
      'srv directory 755 0:0',
      'srv/app directory 600 1000:1001',
      'srv/app/x file 600 1000:1001',
      'srv/app/link symlink 777 1000:1001',
    ]);
    t.equal(entries[3]?.linkTarget, 'x');
  },
);

t.test('owners: 0:0 from the context, kept from archives and other stages', async (t) => {
  const owned = file('a', { uid: 33, gid: 44 });
  t.same(brief(plan({ dest: [], sources: [source([owned])] })), ['a file 644 0:0']);
  t.same(brief(plan({ dest: [], sources: [source([owned], { keepOwner: true })] })), ['a file 644 33:44']);
  t.same(
    brief(plan({ dest: [], sources: [source([owned], { keepOwner: true })], owner: { uid: 1, gid: 2 } })),
    ['a file 644 1:2'],
    '--chown still wins',
  );
});

t.test('an extracted archive lands inside dest even without a trailing slash', async (t) => {
  const tree = [dir('.', { abs: '/x' }), dir('lib'), file('lib/data.txt', { uid: 5, gid: 6 })];
  const entries = plan({
    dest: ['opt'],
    intoDir: false,
    sources: [source(tree, { keepOwner: true, contentsOnly: true })],
  });
  t.same(brief(entries), [
    'opt directory 755 0:0',
    'opt/lib directory 750 0:0',
    'opt/lib/data.txt file 644 5:6',
  ]);
});

t.test('the whole context copied to /', async (t) => {
  const tree = [dir('.'), file('a'), dir('d'), file('d/b')];
  t.same(brief(plan({ dest: [], sources: [source(tree)] })), [
    'a file 644 0:0',
    'd directory 750 0:0',
    'd/b file 644 0:0',
  ]);
});

t.test('a later source wins a path, in place; a file replacing a directory drops its content', async (t) => {
  const first = source([dir('one'), dir('one/cfg'), file('one/cfg/a')]);
  const second = source([dir('two'), file('two/cfg', { size: 3 })]);
  const entries = plan({ dest: ['etc'], intoDir: true, sources: [first, second] });
  t.same(
    brief(entries),
    ['etc directory 750 0:0', 'etc/cfg file 644 0:0'],
    'dest made from the first source directory',
  );
  const replaced = plan({
    dest: ['etc'],
    intoDir: true,
    sources: [source([file('x', { size: 1 })]), source([file('x', { size: 2 })])],
  });
  t.same(
    replaced.map((e) => [e.path, e.size]),
    [
      ['etc', undefined],
      ['etc/x', 2],
    ],
  );
  // Parents always come before their children.
  const seen = new Set<string>();
  for (const e of entries) {
    const parent = e.path.split('/').slice(0, -1).join('/');
    if (parent !== '') t.ok(seen.has(parent), `${e.path} after its parent`);
    seen.add(e.path);
  }
});

t.test('progress lines read like docker build', async (t) => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  t.equal(shortDigest(digest), 'sha256:abababababab');
  t.equal(stepLine(3, 7, 'RUN make'), 'Step 3/7 : RUN make\n');
  t.equal(resultLine(digest), ' ---> sha256:abababababab\n');
  t.equal(
    builtLines(digest, ['app:v1', 'x/y:2']),
    'Successfully built abababababab\nSuccessfully tagged app:v1\nSuccessfully tagged x/y:2\n',
  );
});

t.test('the manifest: OCI, fixed field order, Docker layers relabelled', async (t) => {
  const config = { mediaType: mediaTypes.ociConfig, digest: `sha256:${'c'.repeat(64)}`, size: 100 };
  const layers = [
    {
      mediaType: mediaTypes.dockerLayerGzip,
      digest: `sha256:${'1'.repeat(64)}`,
      size: 10,
      annotations: { a: 'b' },
    },
    { mediaType: mediaTypes.ociLayerGzip, digest: `sha256:${'2'.repeat(64)}`, size: 20 },
  ];
  const manifest = imageManifest(config, layers);
  t.equal(
    JSON.stringify(manifest),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config,
      layers: [
        { mediaType: mediaTypes.ociLayerGzip, digest: layers[0]?.digest, size: 10 },
        { mediaType: mediaTypes.ociLayerGzip, digest: layers[1]?.digest, size: 20 },
      ],
    }),
  );
  t.equal(ociLayerMediaType('application/vnd.docker.image.rootfs.diff.tar'), mediaTypes.ociLayer);
  t.equal(ociLayerMediaType(mediaTypes.ociLayerZstd), mediaTypes.ociLayerZstd);
});

t.test('tags are made canonical; a digest is refused', async (t) => {
  t.same(canonicalTags(['app', 'team/web:v2', '127.0.0.1:5000/x/y:1']), [
    'docker.io/library/app:latest',
    'docker.io/team/web:v2',
    '127.0.0.1:5000/x/y:1',
  ]);
  t.same(canonicalTags(['web:1'], { defaultRegistry: '127.0.0.1:5000' }), ['127.0.0.1:5000/web:1']);
  t.throws(() => canonicalTags([`app@sha256:${'a'.repeat(64)}`]), { message: /names a digest/ });
});

t.test('leftovers are recognised by the PID in their name', async (t) => {
  t.equal(ownerIsGone(`${process.pid}-abcd`), false, 'this process');
  t.equal(ownerIsGone(`build-${process.pid}-abcd-1`), false);
  t.equal(ownerIsGone('999999999-abcd'), true, 'a PID that is not running');
  t.equal(ownerIsGone('build-999999999-abcd-3'), true);
  t.equal(ownerIsGone('something-else'), false, 'not ours: left alone');
});

t.test('the writable rootfs turns metacopy off on top of the snapshotter mount', async (t) => {
  const chain = [{ path: '/s/1/fs' }, { path: '/s/2/fs' }] as never;
  const spec = writableRootfs(chain, '/w/upper', '/w/work');
  t.equal(spec.type, 'overlay');
  t.same(spec.options, [
    'lowerdir=/s/2/fs:/s/1/fs',
    'upperdir=/w/upper',
    'workdir=/w/work',
    'redirect_dir=off',
    'metacopy=off',
  ]);
  t.same(writableRootfs([], '/w/upper', '/w/work'), {
    type: 'bind',
    source: '/w/upper',
    options: ['rbind', 'rw'],
  });
});
