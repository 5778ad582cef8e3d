// Layer tars, the pure parts: media types, what a walked node becomes in a layer, headers,
// and reading overlayfs attributes from getfattr's dump.
import t from 'tap';
import { Header } from 'tar';
import {
  encodeHeader,
  layerCompression,
  layerMediaType,
  mediaTypes,
  parseOverlayAttrDump,
  planEntries,
  type FsNode,
  type LinkTable,
} from '@flotilla/images';

t.test('layerCompression reads OCI and Docker layer media types', async (t) => {
  t.equal(layerCompression(mediaTypes.ociLayer), 'none');
  t.equal(layerCompression(mediaTypes.ociLayerGzip), 'gzip');
  t.equal(layerCompression(mediaTypes.ociLayerZstd), 'zstd');
  t.equal(layerCompression(mediaTypes.dockerLayerGzip), 'gzip');
  t.equal(layerCompression('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'), 'gzip');
  t.equal(layerCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+zstd'), 'zstd');
  t.throws(() => layerCompression(mediaTypes.ociConfig), {
    code: 'InvalidArgument',
    message: /"application\/vnd.oci.image.config.v1\+json" is not a layer type: expected .*tar\+gzip/,
  });
  t.equal(layerMediaType('gzip'), mediaTypes.ociLayerGzip);
  t.equal(layerMediaType('none'), mediaTypes.ociLayer);
});

const mtime = new Date('2024-05-01T10:00:00Z');

function node(path: string, kind: FsNode['kind'], extra: Partial<FsNode> = {}): FsNode {
  return {
    path,
    abs: `/up/${path}`,
    kind,
    mode: kind === 'directory' ? 0o40755 : 0o100644,
    uid: 0,
    gid: 0,
    mtime,
    size: 0,
    dev: 1,
    ino: Math.floor(Math.random() * 1e9),
    nlink: 1,
    rdev: 0,
    ...extra,
  };
}

t.test('planEntries turns an overlay upper dir into OCI layer entries', async (t) => {
  const links: LinkTable = new Map();
  const overlay = { overlay: true };
  t.same(planEntries(node('', 'directory'), links, overlay), [], 'the root itself is no entry');
  t.same(planEntries(node('etc/passwd', 'char', { rdev: 0, uid: 5, gid: 6 }), links, overlay), [
    { path: 'etc/.wh.passwd', type: 'file', mode: 0o600, uid: 5, gid: 6, mtime, size: 0 },
  ]);
  t.same(planEntries(node('top', 'char'), links, overlay)[0]?.path, '.wh.top', 'a whiteout at the root');
  t.same(planEntries(node('opt/data', 'directory', { opaque: true, mode: 0o40750 }), links, overlay), [
    { path: 'opt/data', type: 'directory', mode: 0o750, uid: 0, gid: 0, mtime },
    { path: 'opt/data/.wh..wh..opq', type: 'file', mode: 0o600, uid: 0, gid: 0, mtime, size: 0 },
  ]);
  t.same(planEntries(node('bin/su', 'file', { mode: 0o104755, size: 3 }), links, overlay), [
    { path: 'bin/su', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime, size: 3, source: '/up/bin/su' },
  ]);
  t.same(planEntries(node('lib', 'symlink', { linkTarget: 'usr/lib', mode: 0o120777 }), links, overlay), [
    { path: 'lib', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, linkTarget: 'usr/lib', size: 0 },
  ]);
  t.same(planEntries(node('run/sock', 'socket'), links, overlay), [], 'sockets are left out');
  t.same(planEntries(node('p', 'fifo'), links, overlay)[0]?.type, 'fifo');
});

t.test('planEntries keeps hard links within the walk', async (t) => {
  const links: LinkTable = new Map();
  const a = node('a', 'file', { ino: 42, nlink: 2, size: 9 });
  const b = node('z/b', 'file', { ino: 42, nlink: 2, size: 9 });
  const other = node('c', 'file', { ino: 42, dev: 2, nlink: 2, size: 9 });
  t.equal(planEntries(a, links, { overlay: true })[0]?.type, 'file', 'the first name carries the content');
  t.same(planEntries(b, links, { overlay: true })[0], {
    path: 'z/b',
    type: 'hardlink',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime,
    linkTarget: 'a',
    size: 0,
  });
  t.equal(planEntries(other, links, { overlay: true })[0]?.type, 'file', 'same inode number, other device');
});

t.test('planEntries refuses devices and overlay diffs that are not self-contained', async (t) => {
  const links: LinkTable = new Map();
  t.throws(() => planEntries(node('dev/null', 'char', { rdev: 0x103 }), links, { overlay: true }), {
    code: 'InvalidArgument',
    message: /\/up\/dev\/null is a device node \(char 1:3\)/,
  });
  t.throws(() => planEntries(node('dev/sda', 'block', { rdev: 0x800 }), links, { overlay: false }), {
    message: /block 8:0/,
  });
  t.throws(
    () => planEntries(node('x', 'char', { rdev: 0 }), links, { overlay: false }),
    { message: /device node/ },
    'outside an overlay a 0:0 device is just a device',
  );
  t.throws(() => planEntries(node('d', 'directory', { redirect: '/old' }), links, { overlay: true }), {
    message: /redirect_dir=off/,
  });
  t.throws(() => planEntries(node('f', 'file', { metacopy: true }), links, { overlay: true }), {
    message: /metacopy=off/,
  });
});

t.test('planEntries for directories: prefix, owner, mtime, no overlay meaning', async (t) => {
  const links: LinkTable = new Map();
  const options = { overlay: false, prefix: 'srv/app', owner: { uid: 1000, gid: 1001 }, mtime: new Date(0) };
  t.same(planEntries(node('', 'directory', { mode: 0o40700 }), links, options), [
    { path: 'srv/app', type: 'directory', mode: 0o700, uid: 1000, gid: 1001, mtime: new Date(0) },
  ]);
  t.same(planEntries(node('x/.wh.y', 'file'), links, options)[0]?.path, 'srv/app/x/.wh.y');
  t.same(planEntries(node('d', 'directory', { opaque: true }), links, options).length, 1, 'no opaque marker');
});

t.test('encodeHeader writes ustar headers that tar reads back, PAX for long names', async (t) => {
  const block = encodeHeader({ path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime });
  t.equal(block.length, 512);
  const dir = new Header(block);
  t.equal(dir.path, 'etc/', 'directories end in "/"');
  t.equal(dir.type, 'Directory');
  t.equal(dir.uname, '', 'no user names');
  const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
  const withPax = encodeHeader({ path: long, type: 'file', mode: 0o4755, uid: 7, gid: 8, mtime, size: 10 });
  t.equal(withPax.length, 512 * 3, 'a PAX header and its body before the entry');
  t.equal(new Header(withPax.subarray(0, 512)).type, 'ExtendedHeader');
  t.match(withPax.subarray(512, 1024).toString(), new RegExp(`path=${long}\n`));
  const file = new Header(withPax.subarray(1024));
  t.equal(file.mode, 0o4755, 'setuid kept');
  t.equal(file.size, 10);
  t.same(file.mtime, mtime);
  const sub = encodeHeader({ path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(1500) });
  t.same(new Header(sub).mtime, new Date(1000), 'whole seconds');
});

t.test('parseOverlayAttrDump reads getfattr output, escapes included', async (t) => {
  const dump = [
    '# file: /up/a b/c',
    'trusted.overlay.opaque="y"',
    '',
    '# file: /up/nl\\012z',
    'trusted.overlay.opaque="y"',
    'trusted.overlay.origin=0x00fb',
    '',
    '# file: /up/x\\134y',
    'trusted.overlay.redirect="/old\\012name"',
    '',
    '# file: /up/é',
    'trusted.overlay.metacopy',
    '',
    '# file: /up/notopaque',
    'trusted.overlay.opaque="x"',
    '',
  ].join('\n');
  const attrs = parseOverlayAttrDump(dump);
  t.same([...attrs.keys()], ['/up/a b/c', '/up/nl\nz', '/up/x\\y', '/up/é', '/up/notopaque']);
  t.same(attrs.get('/up/a b/c'), { opaque: true, metacopy: false });
  t.same(attrs.get('/up/nl\nz'), { opaque: true, metacopy: false });
  t.same(attrs.get('/up/x\\y'), { opaque: false, metacopy: false, redirect: '/old\nname' });
  t.same(attrs.get('/up/é'), { opaque: false, metacopy: true });
  t.same(attrs.get('/up/notopaque')?.opaque, false);
  t.same(parseOverlayAttrDump('').size, 0);
});
