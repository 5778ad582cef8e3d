// Snapshots on a real file system with real overlay mounts (needs root): a layer stack
// unpacked and mounted, the refusals, a container's changes diffed into a layer that
// reproduces its view, concurrent unpacks across processes, garbage collection.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { Header, Parser, type ReadEntry } from 'tar';
import {
  chainIdOf,
  chainIds,
  diffLayer,
  mediaTypes,
  OverlaySnapshotter,
  type MountSpec,
  type SnapshotInfo,
} from '@flotilla/images';
import { makeRunDir, repoRoot, waitFor } from '../lib/index.js';

// Overlay mounts, owners, whiteout devices and trusted xattrs all need root.
const needsRoot = process.getuid?.() === 0 ? {} : { skip: 'needs root' };

const run = makeRunDir('snapshots');
const mounted: string[] = [];

/** Runs a tool with no stdin (mount(8) may exit before a write to its stdin lands). */
function tool(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end();
  });
}

async function unmount(target: string): Promise<void> {
  const i = mounted.indexOf(target);
  if (i < 0) return;
  const result = await tool('umount', [target]);
  if (result.code !== 0) await tool('umount', ['-l', target]);
  mounted.splice(i, 1);
}

t.teardown(async () => {
  for (const target of [...mounted].reverse()) await unmount(target);
  await rm(run, { recursive: true, force: true });
});

/** Mounts a MountSpec with mount(8); unmounted by the test's teardown (and at the end). */
async function mountSpec(t: Test, spec: MountSpec, target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  const args =
    spec.type === 'bind'
      ? ['-o', spec.options.join(','), spec.source, target]
      : ['-t', spec.type, '-o', spec.options.join(','), spec.source, target];
  const result = await tool('mount', args);
  if (result.code !== 0) throw new Error(`mount ${args.join(' ')}: ${result.stderr}`);
  mounted.push(target);
  t.teardown(() => unmount(target));
}

// ---- layers built here with node-tar's header encoder (not the code under test) -------

type EntryType = 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';

interface TestEntry {
  path: string;
  type?: EntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  data?: string;
  linkpath?: string;
  devmaj?: number;
  devmin?: number;
}

const fixedTime = new Date('2024-03-01T12:00:00Z');

function tarBytes(entries: TestEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const data = Buffer.from(e.data ?? '');
    const header = new Header({
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: type === 'File' ? data.length : 0,
      mtime: e.mtime ?? fixedTime,
      linkpath: e.linkpath,
      devmaj: e.devmaj ?? 0,
      devmin: e.devmin ?? 0,
    });
    header.encode();
    blocks.push(header.block!);
    if (type === 'File') blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

interface TestLayer {
  blobPath: string;
  mediaType: string;
  diffId: string;
  digest: string;
}

let layerCount = 0;

async function writeLayerBlob(
  entries: TestEntry[],
  compression: 'gzip' | 'zstd' | 'none',
): Promise<TestLayer> {
  const tar = tarBytes(entries);
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const base = join(run, `layer-${++layerCount}.tar`);
  await writeFile(base, tar);
  let blobPath = base;
  let mediaType: string = mediaTypes.ociLayer;
  if (compression === 'gzip') {
    blobPath = `${base}.gz`;
    await writeFile(blobPath, gzipSync(tar));
    mediaType = mediaTypes.ociLayerGzip;
  } else if (compression === 'zstd') {
    blobPath = `${base}.zst`;
    const result = await tool('zstd', ['-q', '-o', blobPath, base]);
    if (result.code !== 0) throw new Error(`zstd: ${result.stderr}`);
    mediaType = mediaTypes.ociLayerZstd;
  }
  const digest = `sha256:${createHash('sha256').update(readFileSync(blobPath)).digest('hex')}`;
  return { blobPath, mediaType, diffId, digest };
}

// ---- a view of a tree, to compare two roots -------------------------------------------

async function manifest(root: string): Promise<string[]> {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(rel === '' ? root : join(root, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, path);
      const st = await lstat(abs);
      const perm = (st.mode & 0o7777).toString(8);
      const owner = `${st.uid}:${st.gid}`;
      const mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isDirectory()) {
        lines.push(`${path}/ dir ${perm} ${owner} ${mtime}`);
        await walk(path);
      } else if (st.isSymbolicLink()) {
        lines.push(`${path} symlink -> ${await readlink(abs)} ${owner} ${mtime}`);
      } else if (st.isFile()) {
        const sum = createHash('sha256')
          .update(await readFile(abs))
          .digest('hex')
          .slice(0, 12);
        let linked = '';
        if (st.nlink > 1) {
          const first = inodes.get(st.ino);
          if (first === undefined) inodes.set(st.ino, path);
          else linked = ` hardlink-of ${first}`;
        }
        lines.push(`${path} file ${perm} ${owner} ${st.size} ${sum} ${mtime}${linked}`);
      } else if (st.isFIFO()) {
        lines.push(`${path} fifo ${perm} ${owner} ${mtime}`);
      } else {
        lines.push(`${path} other ${st.mode.toString(8)} rdev=${st.rdev}`);
      }
    }
  }
  await walk('');
  return lines;
}

async function listTar(
  path: string,
): Promise<Array<{ path: string; type: string; linkpath?: string; size: number }>> {
  const entries: Array<{ path: string; type: string; linkpath?: string; size: number }> = [];
  const parser = new Parser({
    onReadEntry: (e: ReadEntry) => {
      entries.push({ path: e.path, type: e.type, linkpath: e.linkpath, size: e.size });
      e.resume();
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
    parser.end(readFileSync(path));
  });
  return entries;
}

async function getfattr(path: string, name: string): Promise<string | undefined> {
  const result = await tool('getfattr', ['-h', '--only-values', '-n', name, path]);
  return result.code === 0 ? result.stdout : undefined;
}

// ---- the stack ------------------------------------------------------------------------

const outside = join(run, 'outside');
await mkdir(outside);
await writeFile(join(outside, 'precious'), 'host data\n');
const passwdTime = new Date('2023-01-02T03:04:05Z');

const L1 = await writeLayerBlob(
  [
    { path: 'etc/', type: 'Directory' },
    { path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n', mtime: passwdTime },
    { path: 'etc/passwd-', type: 'Link', linkpath: 'etc/passwd' },
    { path: 'etc/hostname', data: 'box\n' },
    { path: 'bin/', type: 'Directory' },
    { path: 'bin/su', mode: 0o4755, data: 'su' },
    { path: 'tmp/', type: 'Directory', mode: 0o1777 },
    { path: 'tmp/old', data: 'old' },
    { path: 'home/user/', type: 'Directory', mode: 0o700, uid: 1000, gid: 1000 },
    { path: 'home/user/notes', uid: 1000, gid: 1000, mode: 0o600, data: 'mine' },
    { path: 'opt/data/sub/', type: 'Directory' },
    { path: 'opt/data/x', data: 'x' },
    { path: 'opt/data/sub/deep', data: 'deep' },
    { path: 'usr/share/doc/', type: 'Directory', mode: 0o750 },
    { path: 'usr/share/doc/readme', data: 'read me' },
    { path: 'outside-link', type: 'SymbolicLink', linkpath: outside },
    { path: 'climb', type: 'SymbolicLink', linkpath: '../../../../../../../../../../tmp' },
    { path: '/abs-file', data: 'confined' },
    { path: 'run/fifo', type: 'FIFO', mode: 0o620 },
  ],
  'gzip',
);
const L2 = await writeLayerBlob(
  [
    { path: 'etc/.wh.hostname' },
    { path: 'opt/data/.wh..wh..opq' },
    { path: 'opt/data/y', data: 'y' },
    { path: 'usr/bin/passwd-link', type: 'Link', linkpath: 'etc/passwd' },
    { path: 'outside-link/pwned', data: 'inside after all' },
  ],
  'none',
);
const L3 = await writeLayerBlob(
  [
    { path: 'usr/share/.wh.doc' },
    { path: 'srv/new', data: 'new' },
    { path: '.wh.tmp' },
    { path: 'tmp/', type: 'Directory', mode: 0o1777 },
    { path: 'tmp/fresh', data: 'fresh' },
  ],
  'zstd',
);

/** A separate process unpacking: node unpack-child.mjs ROOT PARENT|"" LAYER-JSON. */
const script = join(run, 'unpack-child.mjs');
await writeFile(
  script,
  `import { OverlaySnapshotter } from ${JSON.stringify(join(repoRoot, 'images/dist/index.js'))};\n` +
    `const s = new OverlaySnapshotter(process.argv[2]);\n` +
    `const info = await s.unpack(process.argv[3] || undefined, JSON.parse(process.argv[4]));\n` +
    `process.stdout.write(JSON.stringify(info));\n`,
);

const snapRoot = join(run, 'snap');
const snapshotter = new OverlaySnapshotter(snapRoot);
const chain: SnapshotInfo[] = [];

t.test('a layer stack unpacks into snapshots whose overlay shows the merged tree', needsRoot, async (t) => {
  let parent: string | undefined;
  for (const layer of [L1, L2, L3]) {
    const info = await snapshotter.unpack(parent, layer);
    chain.push(info);
    parent = info.chainId;
  }
  t.same(
    chain.map((s) => s.chainId),
    chainIds([L1.diffId, L2.diffId, L3.diffId]),
    'keyed by chain ID',
  );
  t.equal(chain[1]!.parent, chain[0]!.chainId);
  t.same(await snapshotter.stat(chain[2]!.chainId), chain[2], 'stat reads back what unpack returned');
  t.same((await snapshotter.list()).map((s) => s.chainId).sort(), chain.map((s) => s.chainId).sort());
  t.same(await readdir(join(snapRoot, 'tmp')), [], 'no unpack directory left behind');

  // The snapshots themselves, in overlay form.
  const l2 = chain[1]!.path;
  const wh = await lstat(join(l2, 'etc/hostname'));
  t.ok(wh.isCharacterDevice() && wh.rdev === 0, 'a whiteout is a 0:0 character device');
  t.equal(await getfattr(join(l2, 'opt/data'), 'trusted.overlay.opaque'), 'y', 'an opaque dir has its xattr');
  t.equal((await lstat(join(l2, 'etc'))).mode & 0o7777, 0o755, 'implicit parents copy the lower mode');
  t.equal(existsSync(join(outside, 'pwned')), false, 'nothing written through the symlink to the host');
  t.same(await readdir(outside), ['precious'], 'the host directory the symlink names is untouched');

  const mnt = join(run, 'mnt-ro');
  await mountSpec(t, snapshotter.rootfsMount(chain), mnt);
  const at = (p: string) => join(mnt, p);
  t.equal(await readFile(at('etc/passwd'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\n');
  t.equal(existsSync(at('etc/hostname')), false, 'whiteout: the lower file is gone');
  t.same(await readdir(at('opt/data')), ['y'], 'opaque: the lower content is hidden');
  t.equal(existsSync(at('usr/share/doc')), false, 'a whiteout of a directory removes it whole');
  t.same(await readdir(at('usr/share')), []);
  t.same(await readdir(at('tmp')), ['fresh'], 'a whiteout and a new directory in one layer: opaque');
  t.equal((await lstat(at('tmp'))).mode & 0o7777, 0o1777, 'sticky bit');
  t.equal((await lstat(at('bin/su'))).mode & 0o7777, 0o4755, 'setuid bit');
  const home = await lstat(at('home/user'));
  t.same([home.uid, home.gid, home.mode & 0o7777], [1000, 1000, 0o700], 'owner and mode of a directory');
  const notes = await lstat(at('home/user/notes'));
  t.same([notes.uid, notes.gid, notes.mode & 0o7777], [1000, 1000, 0o600], 'owner and mode of a file');
  const passwd = await lstat(at('etc/passwd'));
  t.equal(passwd.mtimeMs, passwdTime.getTime(), 'mtime from the header (kept on copy-up)');
  const linked = await lstat(at('usr/bin/passwd-link'));
  t.equal(linked.ino, passwd.ino, 'a hard link to a lower file: copied up and linked, one inode');
  t.equal(passwd.nlink, 2);
  t.equal(await readFile(at('etc/passwd-'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\n', 'the older link');
  t.equal(
    await readlink(at('outside-link')),
    outside,
    'a symlink out of the rootfs stays a symlink, as written',
  );
  t.equal(await readlink(at('climb')), '../../../../../../../../../../tmp');
  t.equal(
    await readFile(join(chain[1]!.path, outside.slice(1), 'pwned'), 'utf8'),
    'inside after all',
    'an entry through an absolute symlink lands inside the root (then hidden by the opaque /tmp above)',
  );
  t.equal(
    await readFile(at('abs-file'), 'utf8'),
    'confined',
    'an absolute entry name is confined to the root',
  );
  const fifo = await lstat(at('run/fifo'));
  t.ok(fifo.isFIFO(), 'named pipes are created');
  t.equal(fifo.mode & 0o7777, 0o620);
  t.equal(await readFile(at('srv/new'), 'utf8'), 'new', 'zstd layer');

  const single = join(run, 'mnt-single');
  await mountSpec(t, snapshotter.rootfsMount(chain.slice(0, 1)), single);
  t.equal(
    await readFile(join(single, 'etc/hostname'), 'utf8'),
    'box\n',
    'one snapshot, read-only: a bind mount',
  );
  await t.rejects(writeFile(join(single, 'x'), 'x'), { code: 'EROFS' }, 'that is read-only');
});

t.test('entries that escape the root or make devices are refused, leaving nothing', needsRoot, async (t) => {
  const base = chain[0]!.chainId;
  const cases: Array<[string, TestEntry[], RegExp, string | undefined]> = [
    [
      'a "../" entry',
      [
        { path: 'ok', data: '1' },
        { path: '../evil', data: 'x' },
      ],
      /entry "\.\.\/evil" climbs out/,
      undefined,
    ],
    ['a deeper "../"', [{ path: 'a/b/../../../evil2', data: 'x' }], /climbs out/, undefined],
    [
      'an entry through a symlink that climbs out',
      [{ path: 'climb/evil3', data: 'x' }],
      /entry "climb\/evil3" resolves through the symlink climb -> \.\.\/.*, which points outside the root/,
      base,
    ],
    [
      'a character device',
      [{ path: 'dev/null', type: 'CharacterDevice', devmaj: 1, devmin: 3 }],
      /device node/,
      undefined,
    ],
    [
      'a block device',
      [{ path: 'dev/sda', type: 'BlockDevice', devmaj: 8, devmin: 0 }],
      /device node/,
      undefined,
    ],
    [
      'a hard link out of the root',
      [{ path: 'stolen', type: 'Link', linkpath: '../../../../etc/passwd' }],
      /links to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", which is outside/,
      undefined,
    ],
    [
      'a hard link to what does not exist',
      [{ path: 'stolen', type: 'Link', linkpath: 'etc/shadow' }],
      /which does not exist/,
      base,
    ],
    [
      'a file under a file',
      [{ path: 'etc/passwd/x', data: 'x' }],
      /etc\/passwd as a parent, which is not a directory/,
      base,
    ],
  ];
  for (const [what, entries, reason, parent] of cases) {
    const layer = await writeLayerBlob(entries, 'gzip');
    await t.rejects(snapshotter.unpack(parent, layer), { code: 'InvalidArgument', message: reason }, what);
    await t.rejects(
      snapshotter.unpack(parent, layer),
      { message: new RegExp(layer.digest.slice(7, 19)) },
      `${what}: the error names the layer`,
    );
    t.equal(await snapshotter.stat(chainIdOf(parent, layer.diffId)), undefined, `${what}: no snapshot`);
  }
  const good = await writeLayerBlob([{ path: 'fine', data: 'fine' }], 'gzip');
  const wrong = `sha256:${'1'.repeat(64)}`;
  await t.rejects(
    snapshotter.unpack(undefined, { ...good, diffId: wrong }),
    { code: 'InvalidArgument', message: new RegExp(`has diffID ${good.diffId}, not the ${wrong}`) },
    'a diffID that does not match the content',
  );
  t.equal(await snapshotter.stat(wrong), undefined, 'no snapshot under the claimed diffID');
  const truncated = join(run, 'truncated.tar.gz');
  await writeFile(truncated, readFileSync(L1.blobPath).subarray(0, 200));
  await t.rejects(
    snapshotter.unpack(undefined, {
      blobPath: truncated,
      mediaType: mediaTypes.ociLayerGzip,
      diffId: good.diffId,
    }),
    { code: 'InvalidArgument' },
    'a truncated blob',
  );
  t.equal(await snapshotter.stat(good.diffId), undefined, 'nothing stored for it');
  t.same(await readdir(join(snapRoot, 'tmp')), [], 'every refused unpack removed its directory');
  t.same((await snapshotter.list()).length, 3, 'only the stack remains');
  for (const name of ['evil', 'evil2', 'evil3']) {
    for (const dir of [run, snapRoot, join(snapRoot, 'snapshots'), '/tmp', '/']) {
      t.equal(existsSync(join(dir, name)), false, `no ${name} in ${dir}`);
    }
  }
});

t.test("a container's changes diff into a layer that reproduces its view", needsRoot, async (t) => {
  const upper = join(run, 'c1/upper');
  const work = join(run, 'c1/work');
  await mkdir(upper, { recursive: true });
  await mkdir(work, { recursive: true });
  const mnt = join(run, 'mnt-rw');
  await mountSpec(t, snapshotter.rootfsMount(chain, upper, work), mnt);
  const at = (p: string) => join(mnt, p);
  await writeFile(at('new.txt'), 'created\n');
  await chmod(at('new.txt'), 0o4750);
  await link(at('new.txt'), at('new-link'));
  await unlink(at('etc/passwd'));
  await rm(at('opt/data'), { recursive: true });
  await mkdir(at('opt/data'));
  await writeFile(at('opt/data/z'), 'z');
  await rm(at('usr/share'), { recursive: true });
  await mkdir(at('var/cache'), { recursive: true });
  await symlink('../new.txt', at('var/cache/ptr'));
  await writeFile(at('home/user/notes'), 'edited');
  const before = await manifest(mnt);
  await unmount(mnt);

  const layerPath = join(run, 'diff.tar.gz');
  const diff = await diffLayer(upper, createWriteStream(layerPath));
  t.equal(diff.mediaType, mediaTypes.ociLayerGzip);
  t.equal(diff.size, readFileSync(layerPath).length, 'size is the bytes written');
  t.equal(diff.digest, `sha256:${createHash('sha256').update(readFileSync(layerPath)).digest('hex')}`);
  const entries = await listTar(layerPath);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  t.match(byPath.get('etc/.wh.passwd'), { type: 'File', size: 0 }, 'a deleted lower file: a whiteout entry');
  t.match(byPath.get('usr/.wh.share'), { type: 'File' }, 'a deleted lower directory: a whiteout entry');
  t.match(byPath.get('opt/data/'), { type: 'Directory' }, 'a replaced directory');
  t.match(byPath.get('opt/data/.wh..wh..opq'), { type: 'File' }, '…is opaque');
  t.match(byPath.get('opt/data/z'), { type: 'File', size: 1 });
  // "new-link" sorts before "new.txt", so it carries the content and new.txt links to it.
  t.match(byPath.get('new-link'), { type: 'File', size: 8 });
  t.match(byPath.get('new.txt'), { type: 'Link', linkpath: 'new-link' }, 'a hard link within the layer');
  t.match(byPath.get('var/cache/ptr'), { type: 'SymbolicLink', linkpath: '../new.txt' });
  t.equal(byPath.has('etc/passwd'), false);
  const paths = entries.map((e) => e.path);
  t.same(paths, [...paths].sort(), 'entries in sorted order');
  t.ok(
    paths.indexOf('opt/data/') < paths.indexOf('opt/data/.wh..wh..opq') &&
      paths.indexOf('opt/data/.wh..wh..opq') < paths.indexOf('opt/data/z'),
    'the opaque marker follows its directory',
  );

  const again = await diffLayer(upper, createWriteStream(join(run, 'diff2.tar.gz')));
  t.same(again, diff, 'an unchanged upper dir gives the same digest');
  const plain = await diffLayer(upper, createWriteStream(join(run, 'diff.tar')), { compression: 'none' });
  t.equal(plain.diffId, diff.diffId, 'same diffID uncompressed');
  t.equal(plain.digest, plain.diffId, 'uncompressed: digest is the diffID');

  const top = await snapshotter.unpack(chain[2]!.chainId, {
    blobPath: layerPath,
    mediaType: diff.mediaType,
    diffId: diff.diffId,
    digest: diff.digest,
  });
  const view = join(run, 'mnt-after');
  await mountSpec(t, snapshotter.rootfsMount([...chain, top]), view);
  const after = await manifest(view);
  t.same(after, before, 'unpacking the diff on the stack reproduces the container view');
  chain.push(top);
});

t.test(
  'concurrent unpacks: one promise in a process, one snapshot across processes',
  needsRoot,
  async (t) => {
    const root = join(run, 'snap-concurrent');
    const a = new OverlaySnapshotter(root);
    const p1 = a.unpack(undefined, L1);
    const p2 = a.unpack(undefined, L1);
    t.equal(p1, p2, 'the same promise');
    const info = await p1;

    const layer = await writeLayerBlob(
      Array.from({ length: 200 }, (_, i) => ({ path: `many/file-${i}`, data: `content ${i}\n`.repeat(50) })),
      'gzip',
    );
    const b = new OverlaySnapshotter(root);
    const children = Array.from({ length: 3 }, () =>
      tool(process.execPath, [script, root, info.chainId, JSON.stringify(layer)]),
    );
    // allSettled: every child has exited before anything is asserted (or cleaned up).
    const [ours, ...theirs] = await Promise.all([
      b.unpack(info.chainId, layer).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      ...children,
    ]);
    if ('error' in ours) throw ours.error;
    const mine = ours.value;
    for (const result of theirs) {
      t.equal(result.code, 0, `child process: ${result.stderr}`);
      t.same(JSON.parse(result.stdout), mine, 'every process gets the same snapshot');
    }
    t.same(
      (await a.list()).map((s) => s.chainId),
      [info.chainId, mine.chainId].sort(),
      'one snapshot per chain ID',
    );
    t.same(await readdir(join(root, 'tmp')), [], 'the losers removed their unpacks');
    t.equal((await readdir(join(mine.path, 'many'))).length, 200, 'the winner is complete');
  },
);

t.test('a process killed mid-unpack leaves no snapshot; the next unpack completes', needsRoot, async (t) => {
  const root = join(run, 'snap-killed');
  const layer = await writeLayerBlob(
    Array.from({ length: 300 }, (_, i) => ({
      path: `big/file-${i}`,
      data: createHash('sha256').update(String(i)).digest('hex').repeat(200),
    })),
    'gzip',
  );
  const blob = readFileSync(layer.blobPath);
  // The child reads its blob from a named pipe the test feeds: it gets half, then is killed
  // while it is certainly inside the unpack.
  const pipe = join(run, 'blob.pipe');
  const made = await tool('mkfifo', [pipe]);
  t.equal(made.code, 0, made.stderr);
  const child = spawn(process.execPath, [script, root, '', JSON.stringify({ ...layer, blobPath: pipe })], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const feed = createWriteStream(pipe);
  feed.on('error', () => undefined);
  feed.write(blob.subarray(0, Math.floor(blob.length / 2)));
  const tmp = join(root, 'tmp');
  const partial = await waitFor('the child to have unpacked part of the layer', async () => {
    const dirs = existsSync(tmp) ? await readdir(tmp) : [];
    const mine = dirs.find((d) => d.startsWith(`${child.pid}-`));
    if (mine === undefined || !existsSync(join(tmp, mine, 'fs/big'))) return undefined;
    return (await readdir(join(tmp, mine, 'fs/big'))).length > 0 ? join(tmp, mine) : undefined;
  });
  child.kill('SIGKILL');
  await exited;
  feed.destroy();

  const s = new OverlaySnapshotter(root);
  const chainId = chainIdOf(undefined, layer.diffId);
  t.equal(await s.stat(chainId), undefined, 'the half-unpacked layer is not a snapshot');
  t.same(await s.list(), [], 'nothing listed');
  t.equal(existsSync(partial), true, 'its partial unpack is still there…');
  await s.init();
  t.equal(existsSync(partial), false, '…until the next snapshotter starts and removes it');
  const info = await s.unpack(undefined, layer);
  t.equal(info.chainId, chainId, 'the next unpack completes');
  t.equal((await readdir(join(info.path, 'big'))).length, 300);
});

t.test(
  'empty layers unpack, and diffing an unchanged container gives the empty layer',
  needsRoot,
  async (t) => {
    const upper = join(run, 'c-empty/upper');
    await mkdir(upper, { recursive: true });
    const empty = join(run, 'empty.tar.gz');
    const diff = await diffLayer(upper, createWriteStream(empty));
    t.equal(
      diff.diffId,
      'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef',
      "Docker's empty layer: two zero blocks",
    );
    const info = await snapshotter.unpack(chain[0]!.chainId, { ...diff, blobPath: empty });
    t.same(await readdir(info.path), [], 'an empty snapshot');
    t.equal(info.size, 0);
    await snapshotter.remove(info.chainId);
    const junk = join(run, 'junk.tar.gz');
    await writeFile(junk, gzipSync(Buffer.alloc(2048, 1)));
    await t.rejects(
      snapshotter.unpack(undefined, {
        blobPath: junk,
        mediaType: mediaTypes.ociLayerGzip,
        diffId: `sha256:${createHash('sha256').update(Buffer.alloc(2048, 1)).digest('hex')}`,
      }),
      { code: 'InvalidArgument', message: /not a valid tar stream/ },
      'bytes that are not a tar',
    );
  },
);

t.test(
  'garbage collection keeps what is in use and below it; leftovers of dead unpacks go',
  needsRoot,
  async (t) => {
    const branch = await snapshotter.unpack(
      chain[0]!.chainId,
      await writeLayerBlob([{ path: 'branch', data: 'b' }], 'gzip'),
    );
    await t.rejects(snapshotter.remove(chain[0]!.chainId), {
      code: 'FailedPrecondition',
      message: /parent of/,
    });
    await t.rejects(snapshotter.remove(`sha256:${'e'.repeat(64)}`), { code: 'NotFound' });

    const removed = await snapshotter.garbageCollect(new Set([chain[1]!.chainId]));
    t.same(
      removed.sort(),
      [chain[2]!.chainId, chain[3]!.chainId, branch.chainId].sort(),
      'the unused top of the stack and the unused branch',
    );
    t.same(
      (await snapshotter.list()).map((s) => s.chainId).sort(),
      [chain[0]!.chainId, chain[1]!.chainId].sort(),
      'the snapshot in use and its parent remain',
    );
    t.equal(existsSync(chain[2]!.path), false, 'removed from disk');
    await snapshotter.remove(chain[1]!.chainId);
    t.equal(await snapshotter.stat(chain[1]!.chainId), undefined, 'remove of a leaf');

    const tmp = join(snapRoot, 'tmp');
    const dead = join(tmp, '999999999-abcdef');
    const alive = join(tmp, `${process.ppid}-abcdef`);
    await mkdir(join(dead, 'fs'), { recursive: true });
    await mkdir(alive);
    await new OverlaySnapshotter(snapRoot).init();
    t.equal(existsSync(dead), false, 'an unpack left by a dead process is removed');
    t.equal(existsSync(alive), true, "a live process's unpack is left alone");
    await rm(alive, { recursive: true });
  },
);
