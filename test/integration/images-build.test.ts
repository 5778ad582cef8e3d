// Dockerfile builds for real (needs root, runc and overlayfs): a busybox base committed to
// a temporary store, a Dockerfile using most instructions built on it (RUN in runc), the
// resulting config and layer content checked through a fresh snapshotter, the layer cache
// (unchanged rebuild, a changed context file, --no-cache), multi-stage COPY --from, and a
// failing or aborted RUN leaving no mount, container or scratch directory behind.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { c as createTar } from 'tar';
import {
  accountFiles,
  buildImage,
  readFileInRoot,
  resolveInRoot,
  busyboxImageConfig,
  busyboxRootfs,
  commitBaseImage,
  listContainers,
  mountAt,
  mountsUnder,
  openLocalImages,
  OverlaySnapshotter,
  rootfsMount,
  unmount,
  type BuildImageOptions,
  type BuildResult,
  type ImageConfig,
  type ImageManifest,
  type LocalImages,
  type SnapshotInfo,
} from '@flotilla/images';
import { makeRunDir } from '../lib/index.js';

const runcPresent = ((): boolean => {
  try {
    execFileSync('runc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = process.getuid?.() !== 0 ? { skip: 'needs root' } : !runcPresent ? { skip: 'needs runc' } : {};

const run = makeRunDir('build');
const store = join(run, 'store');
const cgroupParent = `flotilla-test-${basename(run)}`;
const runcRoot = join(store, 'runc');

/** Mount points below the run directory, from the kernel's table. */
function mountsInRun(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(`${run}/`));
}

t.teardown(async () => {
  for (const target of await mountsUnder(run)) await unmount(target).catch(() => undefined);
  if (existsSync(runcRoot)) {
    for (const c of await listContainers({ root: runcRoot }).catch(() => [])) {
      execFileSync('runc', ['--root', runcRoot, 'delete', '--force', c.id], { stdio: 'ignore' });
    }
  }
  // cgroup directories are removed with rmdir, not rm -r.
  for (const controller of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    const dir = join('/sys/fs/cgroup', controller, cgroupParent);
    if (existsSync(dir)) execFileSync('rmdir', [dir]);
  }
  rmSync(run, { recursive: true, force: true });
});

let local: LocalImages;

async function build(
  context: string,
  tags: string[],
  more: Partial<BuildImageOptions> = {},
): Promise<{ result: BuildResult; output: string }> {
  let output = '';
  const result = await buildImage({
    contextDir: context,
    tags,
    buildArgs: {},
    noCache: false,
    local,
    output: (text) => (output += text),
    cgroupParent,
    ...more,
  });
  return { result, output };
}

async function readJson<T>(digest: string): Promise<T> {
  return JSON.parse((await local.content.read(digest)).toString('utf8')) as T;
}

/** Unpacks an image into a fresh snapshotter and mounts it read-only; returns the root. */
async function mountImage(t: Test, manifestDigest: string, label: string): Promise<string> {
  const manifest = await readJson<ImageManifest>(manifestDigest);
  const config = await readJson<ImageConfig>(manifest.config.digest);
  const snapshots = new OverlaySnapshotter(join(run, `fresh-${label}`));
  const chain: SnapshotInfo[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    chain.push(
      await snapshots.unpack(chain.at(-1)?.chainId, {
        blobPath: local.content.path(layer.digest),
        mediaType: layer.mediaType,
        diffId: config.rootfs.diff_ids[i] as string,
      }),
    );
  }
  const target = join(run, `mnt-${label}`);
  await mkdir(target);
  await mountAt(rootfsMount(chain), target);
  t.teardown(() => unmount(target));
  return target;
}

t.test('paths in a rootfs resolve as if chrooted: symlinks never leave it', async (t) => {
  const root = join(run, 'chroot');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(join(root, 'real'), { recursive: true });
  await writeFile(join(root, 'real/passwd'), 'app:x:7:7::/:/bin/sh\n');
  await symlink('/real/passwd', join(root, 'etc/passwd'));
  await symlink('/etc/shadow', join(root, 'etc/shadow-link'));
  await symlink('../../../../real', join(root, 'up'));
  t.same(
    await resolveInRoot(root, '/etc/passwd'),
    { parts: ['real', 'passwd'], kind: 'file' },
    'absolute targets start at the root',
  );
  t.same(
    await resolveInRoot(root, '/up/passwd'),
    { parts: ['real', 'passwd'], kind: 'file' },
    '".." stops at the root',
  );
  t.same(
    await resolveInRoot(root, '/etc/shadow-link'),
    { parts: ['etc', 'shadow'], kind: 'missing' },
    "never the host's file",
  );
  t.same(await resolveInRoot(root, '/etc/passwd', false), { parts: ['etc', 'passwd'], kind: 'symlink' });
  t.same(await resolveInRoot(root, '/new/dir/../x'), { parts: ['new', 'x'], kind: 'missing' });
  t.same(await accountFiles(root), { passwd: 'app:x:7:7::/:/bin/sh\n' }, 'no /etc/group: left out');
  t.equal(await readFileInRoot(root, '/etc/shadow-link'), undefined);
  await t.rejects(resolveInRoot(root, '/real/passwd/x'), { message: /is not a directory/ });
});

const dockerfile = `# the app image
ARG BASE=busybox
FROM $BASE
ARG GREETING=hello
ENV GREETING=\${GREETING} APP_HOME=/srv/app
WORKDIR /srv/app
COPY --chown=nobody:nogroup app/ ./
COPY --chown=1234:2345 config.txt /etc/app/config.txt
ADD files.tar /opt/
RUN echo "$GREETING from RUN as $(id -u)" > greeting.txt && rm /bin/tac && \\
    mkdir -p /data && ln greeting.txt /data/link.txt && echo "said $GREETING"
USER nobody
EXPOSE 8080 53/udp
LABEL org.example.name="web app" version=1
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /srv/app/greeting.txt"]
`;

async function makeContext(dir: string): Promise<void> {
  await mkdir(join(dir, 'app/sub'), { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  await writeFile(join(dir, '.dockerignore'), '**/*.log\n');
  await writeFile(join(dir, 'app/main.txt'), 'main v1\n');
  await writeFile(join(dir, 'app/sub/run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  await writeFile(join(dir, 'app/debug.log'), 'ignored\n');
  await writeFile(join(dir, 'config.txt'), 'key=value\n');
  const files = join(dir, 'tarsrc');
  await mkdir(join(files, 'lib'), { recursive: true });
  await writeFile(join(files, 'lib/data.txt'), 'from the archive\n');
  await createTar({ file: join(dir, 'files.tar'), cwd: files, portable: true }, ['lib']);
}

t.test('builds, caches and cleans up', skip, async (t) => {
  local = openLocalImages(store);
  const rootfs = join(run, 'busybox-rootfs');
  await busyboxRootfs(rootfs);
  const base = await commitBaseImage(local, 'busybox:latest', rootfs, busyboxImageConfig());
  t.ok(
    await local.images.get('docker.io/library/busybox:latest'),
    'the base is stored as docker.io/library/busybox:latest',
  );
  t.equal((await readJson<ImageManifest>(base.manifestDigest)).layers.length, 1, 'a one-layer base');

  const context = join(run, 'context');
  let changedManifest = '';
  await makeContext(context);
  const first = await build(context, ['127.0.0.1:5000/team/app:v1', 'app:latest'], {
    buildArgs: { GREETING: 'bonjour' },
  });
  const { result } = first;

  await t.test('progress reads like docker build', async (t) => {
    t.match(first.output, /^Step 1\/13 : FROM \$BASE\n/, 'numbered steps, the instruction as written');
    t.match(first.output, /Step 8\/13 : RUN echo/);
    t.match(first.output, / ---> Running in build-\d+-/);
    t.match(first.output, /\nsaid bonjour\n/, 'the RUN output, with the build arg');
    t.match(first.output, / ---> sha256:[0-9a-f]{12}\n/);
    t.match(
      first.output,
      /Successfully tagged 127\.0\.0\.1:5000\/team\/app:v1\nSuccessfully tagged app:latest\n$/,
    );
    t.notMatch(first.output, /Using cache/, 'nothing cached on the first build');
    t.same(
      result.steps.map((s) => s.cached),
      Array(13).fill(false),
      'nothing cached: even the base had to be unpacked',
    );
  });

  await t.test('the image config', async (t) => {
    t.equal(result.image.name, '127.0.0.1:5000/team/app:v1', 'the first tag is the main record');
    t.equal((await local.images.get('docker.io/library/app:latest'))?.target.digest, result.manifestDigest);
    const manifest = await readJson<ImageManifest>(result.manifestDigest);
    t.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    t.equal(manifest.config.digest, result.configDigest);
    t.equal(manifest.layers.length, 5, 'base + COPY + COPY + ADD + RUN');
    for (const layer of manifest.layers)
      t.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const config = await readJson<ImageConfig>(result.configDigest);
    const c = config.config ?? {};
    t.ok(c.Env?.includes('GREETING=bonjour') && c.Env.includes('APP_HOME=/srv/app'), 'ENV, from the ARG');
    t.ok(
      c.Env?.some((e) => e.startsWith('PATH=')),
      'PATH from the base',
    );
    t.same(c.Entrypoint, ['/bin/sh', '-c']);
    t.same(c.Cmd, ['cat /srv/app/greeting.txt']);
    t.equal(c.WorkingDir, '/srv/app');
    t.equal(c.User, 'nobody');
    t.same(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    t.same(c.Labels, { 'org.example.name': 'web app', version: '1' });
    t.equal(config.rootfs.diff_ids.length, 5);
    t.equal(config.rootfs.diff_ids[0], base.diffId, 'the base layer comes first');
    const history = config.history ?? [];
    t.equal(history.length, 1 + 12, "the base's history, then one entry per instruction");
    t.same(
      history.slice(1).map((h) => h.empty_layer === true),
      [true, true, true, false, false, false, false, true, true, true, true, true],
      'only COPY, ADD and RUN add layers',
    );
    // GREETING is in ENV by then, so the RUN takes it from there and names no build arg.
    t.match(history[7]?.created_by ?? '', /^RUN \/bin\/sh -c echo "\$GREETING from RUN/, 'RUN as normalised');
  });

  await t.test('the layers hold what the steps did', async (t) => {
    const root = await mountImage(t, result.manifestDigest, 'first');
    t.equal(
      await readFile(join(root, 'srv/app/greeting.txt'), 'utf8'),
      'bonjour from RUN as 0\n',
      'the file RUN wrote',
    );
    t.notOk(existsSync(join(root, 'bin/tac')), 'the base file RUN deleted is gone');
    t.ok(existsSync(join(root, 'bin/cat')), 'the rest of the base is there');
    const main = await lstat(join(root, 'srv/app/main.txt'));
    t.same(
      [main.uid, main.gid],
      [65534, 65534],
      '--chown=nobody:nogroup resolved through /etc/passwd and /etc/group',
    );
    t.equal(await readFile(join(root, 'srv/app/main.txt'), 'utf8'), 'main v1\n');
    t.equal((await lstat(join(root, 'srv/app/sub/run.sh'))).mode & 0o777, 0o755, 'modes kept');
    t.notOk(existsSync(join(root, 'srv/app/debug.log')), '.dockerignore excluded app/debug.log');
    const config = await lstat(join(root, 'etc/app/config.txt'));
    t.same([config.uid, config.gid], [1234, 2345], 'numeric --chown');
    t.same(
      (await lstat(join(root, 'etc/app'))).uid,
      1234,
      'a created parent directory gets the --chown owner',
    );
    t.equal((await lstat(join(root, 'etc'))).uid, 0, 'an existing parent keeps its owner');
    t.equal(
      await readFile(join(root, 'opt/lib/data.txt'), 'utf8'),
      'from the archive\n',
      'ADD extracted the tar',
    );
    const a = await lstat(join(root, 'srv/app/greeting.txt'));
    t.equal(a.nlink, 2, 'the hard link RUN made is kept');
    t.equal(await readFile(join(root, 'data/link.txt'), 'utf8'), 'bonjour from RUN as 0\n');
    t.notOk(existsSync(join(root, 'proc/self')), 'nothing of the container mounts is in the layers');
  });

  await t.test('an unchanged rebuild is fully cached and gives the same digests', async (t) => {
    const again = await build(context, ['127.0.0.1:5000/team/app:v1', 'app:latest'], {
      buildArgs: { GREETING: 'bonjour' },
    });
    t.same(
      again.result.steps.filter((s) => !s.cached).map((s) => s.instruction),
      [],
      'every step cached',
    );
    t.equal(
      again.output.match(/ ---> Using cache\n/g)?.length,
      12,
      'every step after FROM says "Using cache"',
    );
    t.notMatch(again.output, /Running in/, 'no container ran');
    t.equal(again.result.manifestDigest, result.manifestDigest, 'the same manifest digest');
    t.equal(again.result.configDigest, result.configDigest);
  });

  await t.test('a changed build arg invalidates the steps that use it', async (t) => {
    const other = await build(context, ['app:other'], { buildArgs: { GREETING: 'hola' } });
    const firstMiss = other.result.steps.findIndex((s) => !s.cached);
    t.match(other.result.steps[firstMiss]?.instruction, /^ENV GREETING/, 'ENV is the first step to use it');
    t.not(other.result.manifestDigest, result.manifestDigest);
  });

  await t.test('a changed context file invalidates from its COPY on', async (t) => {
    await writeFile(join(context, 'app/main.txt'), 'main v2\n');
    const changed = await build(context, ['app:changed'], { buildArgs: { GREETING: 'bonjour' } });
    const cached = changed.result.steps.map((s) => s.cached);
    const copyAt = changed.result.steps.findIndex((s) => s.instruction.startsWith('COPY --chown=nobody'));
    t.same(cached.slice(0, copyAt), Array(copyAt).fill(true), 'the steps before the COPY are cached');
    t.same(
      cached.slice(copyAt),
      Array(cached.length - copyAt).fill(false),
      'the COPY and everything after run',
    );
    changedManifest = changed.result.manifestDigest;
    const root = await mountImage(t, changed.result.manifestDigest, 'changed');
    t.equal(await readFile(join(root, 'srv/app/main.txt'), 'utf8'), 'main v2\n');
  });

  await t.test('a .dockerignore-d file changing does not invalidate anything', async (t) => {
    await writeFile(join(context, 'app/debug.log'), 'changed but ignored\n');
    const again = await build(context, ['app:changed'], { buildArgs: { GREETING: 'bonjour' } });
    t.ok(
      again.result.steps.every((s) => s.cached),
      'fully cached',
    );
  });

  await t.test('--no-cache runs every step again', async (t) => {
    const fresh = await build(context, ['app:nocache'], {
      buildArgs: { GREETING: 'bonjour' },
      noCache: true,
    });
    t.same(
      fresh.result.steps.filter((s) => s.cached).map((s) => s.instruction),
      [],
      'no step reports a cache hit',
    );
    t.match(fresh.output, /Running in/);
    t.notMatch(fresh.output, /Using cache/);
    const before = await readJson<ImageManifest>(changedManifest);
    const after = await readJson<ImageManifest>(fresh.result.manifestDigest);
    t.same(
      after.layers.slice(0, 4).map((l) => l.digest),
      before.layers.slice(0, 4).map((l) => l.digest),
      'COPY and ADD made byte-identical layers again (deterministic tar and gzip)',
    );
    const root = await mountImage(t, fresh.result.manifestDigest, 'nocache');
    t.equal(await readFile(join(root, 'srv/app/greeting.txt'), 'utf8'), 'bonjour from RUN as 0\n');
  });

  await t.test('multi-stage: COPY --from a stage onto scratch, RUN as a USER', async (t) => {
    const dir = join(run, 'multi');
    await mkdir(dir);
    await writeFile(
      join(dir, 'Dockerfile'),
      [
        'FROM busybox AS build',
        'USER nobody',
        'RUN id -u > /tmp/uid && id -g >> /tmp/uid && cat /proc/self/status | grep CapEff > /tmp/caps',
        'RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " > /tmp/net && hostname > /tmp/host && \\',
        '    grep "Max open files" /proc/self/limits > /tmp/limits',
        'FROM scratch',
        'COPY --from=build /tmp/uid /tmp/caps /tmp/net /tmp/host /tmp/limits /out/',
        'COPY --from=build /bin/busybox /bin/busybox',
        '',
      ].join('\n'),
    );
    const { result } = await build(dir, ['multi:latest']);
    const root = await mountImage(t, result.manifestDigest, 'multi');
    t.equal(await readFile(join(root, 'out/uid'), 'utf8'), '65534\n65534\n', 'RUN ran as nobody');
    t.equal(
      await readFile(join(root, 'out/caps'), 'utf8'),
      'CapEff:\t0000000000000000\n',
      'a non-root RUN has no effective capabilities',
    );
    t.equal(
      await readFile(join(root, 'out/net'), 'utf8'),
      'lo\n',
      'the build network namespace has only loopback',
    );
    t.equal(await readFile(join(root, 'out/host'), 'utf8'), 'flotilla-build\n', 'its own hostname');
    const hostHard =
      /Max open files\s+\S+\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '';
    const nofile = hostHard === 'unlimited' ? 1048576 : Math.min(1048576, Number(hostHard));
    t.match(
      await readFile(join(root, 'out/limits'), 'utf8'),
      new RegExp(`^Max open files\\s+${nofile}\\s+${nofile}\\s`),
      'nofile as asked for, clamped to the host hard limit',
    );
    const owner = await lstat(join(root, 'out/uid'));
    t.same([owner.uid, owner.gid], [65534, 65534], 'COPY --from keeps the owner');
    t.same(await readdir(root), ['bin', 'out'], 'only what was copied');
    const config = await readJson<ImageConfig>(result.configDigest);
    t.equal(config.rootfs.diff_ids.length, 2, 'the scratch image has only its own two layers');
  });

  await t.test('a failing RUN names its line and leaves nothing behind', async (t) => {
    const dir = join(run, 'failing');
    await mkdir(dir);
    await writeFile(
      join(dir, 'Dockerfile'),
      'FROM busybox\nRUN echo before > /x\nRUN echo failing; exit 3\nCMD ["true"]\n',
    );
    let output = '';
    await t.rejects(
      buildImage({
        contextDir: dir,
        tags: ['failing:latest'],
        buildArgs: {},
        noCache: false,
        local,
        output: (text) => (output += text),
        cgroupParent,
      }),
      { message: /^Dockerfile:3: RUN exited with code 3$/ },
    );
    t.match(output, /failing\n/, 'its output was shown');
    t.equal(await local.images.get('failing:latest'), undefined, 'nothing committed');
    t.same(
      mountsInRun().filter((p) => p.startsWith(store)),
      [],
      'no mount left',
    );
    t.same(await listContainers({ root: runcRoot }), [], 'no runc container left');
    t.same(await readdir(join(store, 'build')), [], 'no build workspace left');
    t.same(await readdir(join(store, 'snapshots/tmp')), [], 'no half-unpacked snapshot');
    const ingest = join(store, 'content/ingest');
    t.same(
      existsSync(ingest) ? (await readdir(ingest)).filter((n) => !n.endsWith('.lock')) : [],
      [],
      'no partial blob',
    );
  });

  await t.test('an abort kills the running container and cleans up', async (t) => {
    const dir = join(run, 'abort');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo started; sleep 60\n');
    const controller = new AbortController();
    let output = '';
    const building = buildImage({
      contextDir: dir,
      tags: ['abort:latest'],
      buildArgs: {},
      noCache: false,
      local,
      cgroupParent,
      signal: controller.signal,
      output: (text) => {
        output += text;
        if (text.includes('started')) controller.abort(new Error('stopped by the test'));
      },
    });
    await t.rejects(building, { message: 'stopped by the test' });
    t.match(output, /started/);
    t.same(
      mountsInRun().filter((p) => p.startsWith(store)),
      [],
      'no mount left',
    );
    t.same(await listContainers({ root: runcRoot }), [], 'no runc container left');
    t.same(await readdir(join(store, 'build')), [], 'no build workspace left');
  });

  await t.test('a build cleans up what a dead build left: its mounts and workspace', async (t) => {
    const dead = join(store, 'build', '999999999-dead');
    const target = join(dead, 'rootfs');
    await mkdir(target, { recursive: true });
    await mountAt({ type: 'bind', source: join(run, 'busybox-rootfs'), options: ['rbind', 'ro'] }, target);
    t.ok(mountsInRun().includes(target), 'a leftover mount');
    const again = await build(context, ['app:changed'], { buildArgs: { GREETING: 'bonjour' } });
    t.ok(again.result.steps.every((s) => s.cached));
    t.notOk(mountsInRun().includes(target), 'unmounted');
    t.notOk(existsSync(dead), 'removed');
    t.ok(existsSync(join(run, 'busybox-rootfs/bin/busybox')), 'without deleting what was mounted there');
  });

  await t.test('Dockerfile errors name the line; a missing base is NotFound', async (t) => {
    const dir = join(run, 'bad');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY missing.txt /\n');
    await t.rejects(build(dir, ['bad:1']), { message: /^Dockerfile:2: COPY missing.txt: not found/ });
    await writeFile(join(dir, 'Dockerfile'), 'FROM nothere:1\n');
    await t.rejects(build(dir, ['bad:2']), { code: 'NotFound', message: /Dockerfile:1: .*nothere:1/ });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nUSER ghost\nRUN true\n');
    await t.rejects(build(dir, ['bad:3']), {
      message: /^Dockerfile:3: RUN as USER ghost: unable to find user ghost/,
    });
    t.same(await readdir(join(store, 'build')), [], 'no build workspace left');
  });
});
