import t from 'tap';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFlotillaError } from '@flotilla/common';
import { busyboxApplets, busyboxImageConfig, busyboxRootfs, hostPlatform } from '@flotilla/images';
import { makeRunDir } from '../lib/index.js';

/** Everything under dir, sorted, with what a layer records: type, mode, owner, size, mtime, target. */
function listing(dir: string): string[] {
  const lines: string[] = [];
  const visit = (rel: string): void => {
    const full = rel === '.' ? dir : join(dir, rel);
    const st = lstatSync(full);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
    const target = st.isSymbolicLink() ? readlinkSync(full) : '';
    const size = st.isFile() ? st.size : 0;
    lines.push(
      [rel, type, (st.mode & 0o7777).toString(8), st.uid, st.gid, size, st.mtimeMs, target].join(' '),
    );
    if (st.isDirectory()) {
      for (const name of readdirSync(full).sort()) visit(rel === '.' ? name : `${rel}/${name}`);
    }
  };
  visit('.');
  return lines;
}

const run = makeRunDir('busybox');
t.teardown(() => rmSync(run, { recursive: true, force: true }));

t.test('busyboxRootfs is deterministic: two builds, the same sorted listing', async (t) => {
  const a = join(run, 'a');
  const b = join(run, 'b');
  const entriesA = await busyboxRootfs(a);
  const entriesB = await busyboxRootfs(b);
  t.same(entriesA, entriesB, 'the same entries returned');
  const listA = listing(a);
  t.same(listA, listing(b), 'the same files, modes, owners, sizes, mtimes and link targets');
  t.equal(listA.length, entriesA.length, 'the entries returned are everything on disk');
  t.same(
    entriesA.map((e) => e.path),
    [...entriesA.map((e) => e.path)].sort(),
    'entries come sorted by path',
  );
  for (const line of listA) t.match(line, / 0 0 \d+ 0 /, `${line.split(' ')[0]}: owned by 0:0, mtime 0`);
});

t.test(
  'the rootfs has busybox, an applet symlink each, a minimal /etc and the usual directories',
  async (t) => {
    const dir = join(run, 'a');
    const applets = await busyboxApplets();
    t.ok(
      applets.includes('sh') && applets.includes('httpd') && applets.includes('ls'),
      'sh, httpd, ls are applets',
    );
    t.notOk(applets.includes('busybox'));
    for (const applet of applets) t.equal(readlinkSync(join(dir, 'bin', applet)), 'busybox', `bin/${applet}`);
    t.same(
      readFileSync(join(dir, 'bin/busybox')),
      readFileSync('/bin/busybox'),
      'bin/busybox is the Debian binary',
    );
    t.equal(lstatSync(join(dir, 'bin/busybox')).mode & 0o7777, 0o755);
    t.equal(lstatSync(join(dir, 'tmp')).mode & 0o7777, 0o1777, '/tmp is 1777');
    t.equal(lstatSync(join(dir, 'root')).mode & 0o7777, 0o700);
    for (const d of ['dev', 'proc', 'sys'])
      t.same(readdirSync(join(dir, d)), [], `/${d} is an empty directory`);
    t.match(
      readFileSync(join(dir, 'etc/passwd'), 'utf8'),
      /^root:x:0:0:root:\/root:\/bin\/sh\nnobody:x:65534:65534:/,
    );
    t.match(readFileSync(join(dir, 'etc/group'), 'utf8'), /^root:x:0:\n.*nogroup:x:65534:/s);
    const out = execFileSync(join(dir, 'bin/sh'), ['-c', 'echo hello from $0'], { encoding: 'utf8' });
    t.equal(out, 'hello from ' + join(dir, 'bin/sh') + '\n', 'the applet symlinks run');
  },
);

t.test('busyboxRootfs refuses a non-empty directory, and a missing busybox', async (t) => {
  const dir = join(run, 'full');
  await busyboxRootfs(dir);
  writeFileSync(join(dir, 'extra'), 'x');
  await t.rejects(busyboxRootfs(dir), {
    message: /is not empty: busyboxRootfs builds into an empty directory/,
  });
  const err = await busyboxRootfs(join(run, 'none'), { busybox: join(run, 'no-such-busybox') }).catch(
    (e: unknown) => e,
  );
  t.ok(isFlotillaError(err, 'FailedPrecondition'), 'FailedPrecondition');
  t.match(
    (err as Error).message,
    /cannot list the applets of .*no-such-busybox: install Debian's busybox-static/,
  );
});

t.test('busyboxImageConfig: sh, PATH, the host platform, the given diff IDs', async (t) => {
  const diffId = 'sha256:' + 'e'.repeat(64);
  const config = busyboxImageConfig({ diffIds: [diffId] });
  t.match(config, {
    architecture: hostPlatform().architecture,
    os: 'linux',
    config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
  });
  t.equal(config.history?.length, 1, 'one history entry for the one layer');
  t.same(busyboxImageConfig({ diffIds: [diffId] }), config, 'deterministic (fixed creation time)');
});
