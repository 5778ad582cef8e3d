import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  busyboxImageConfig,
  createContextHasher,
  isLocalArchive,
  loadDockerignore,
  parseDockerfile,
  planBuild,
  walkContext,
  type ContextHashRequest,
} from '@flotilla/images';
import { makeRunDir } from '../lib/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = makeRunDir('buildcontext');
t.teardown(() => rmSync(run, { recursive: true, force: true }));

function write(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** A context with ignored files, an exception inside an ignored directory and a symlink. */
function makeContext(name: string): string {
  const root = join(run, name);
  write(root, {
    Dockerfile: 'FROM busybox\nCOPY . /app/\n',
    '.dockerignore':
      '# build output\nbuild\n*.log\n!important.log\nsecrets\n!secrets/public.pem\nDockerfile\n',
    'src/main.js': 'main',
    'src/util/x.js': 'x',
    'build/out.o': 'binary',
    'debug.log': 'noise',
    'important.log': 'keep',
    'secrets/private.pem': 'private',
    'secrets/public.pem': 'public',
    'README.md': 'readme',
  });
  symlinkSync('src/main.js', join(root, 'link.js'));
  return root;
}

const copyAll: ContextHashRequest = { sources: ['.'], owner: '0:0', detectArchives: false };

t.test('walkContext honours .dockerignore, its exceptions, and keeps symlinks as links', async (t) => {
  const root = makeContext('walk');
  const entries = await walkContext(root, await loadDockerignore(root));
  t.same(
    entries.map((e) => `${e.path} ${e.type}`),
    [
      '. dir',
      '.dockerignore file',
      'README.md file',
      'important.log file',
      'link.js symlink',
      'secrets dir',
      'secrets/public.pem file',
      'src dir',
      'src/main.js file',
      'src/util dir',
      'src/util/x.js file',
    ],
    'build/, *.log, secrets/private.pem and the Dockerfile are left out',
  );
  t.equal(entries.find((e) => e.path === 'link.js')?.linkTarget, 'src/main.js');
  const everything = await walkContext(root);
  t.equal(everything.length, 16, 'without a .dockerignore everything is there');
});

t.test(
  'the context hasher: stable, sensitive to content, mode and owner, blind to mtime and ignored files',
  async (t) => {
    const root = makeContext('hash');
    const first = await createContextHasher(root)(copyAll);
    const again = await createContextHasher(root)(copyAll);
    t.equal(first.digest, again.digest, 'two hashers, the same digest');
    t.match(first.digest, /^sha256:[0-9a-f]{64}$/);
    t.same(first.matches, [[{ path: '.', type: 'dir' }]]);

    utimesSync(join(root, 'src/main.js'), new Date(0), new Date(0));
    t.equal((await createContextHasher(root)(copyAll)).digest, first.digest, 'mtime does not count');
    writeFileSync(join(root, 'debug.log'), 'more noise');
    writeFileSync(join(root, 'build/out.o'), 'rebuilt');
    t.equal((await createContextHasher(root)(copyAll)).digest, first.digest, 'ignored files do not count');
    t.not(
      (await createContextHasher(root)({ ...copyAll, owner: '1000:1000' })).digest,
      first.digest,
      'the owner (--chown) counts',
    );
    chmodSync(join(root, 'src/main.js'), 0o755);
    const moded = (await createContextHasher(root)(copyAll)).digest;
    t.not(moded, first.digest, 'a mode change counts');
    writeFileSync(join(root, 'src/main.js'), 'main v2');
    t.not((await createContextHasher(root)(copyAll)).digest, moded, 'a content change counts');
  },
);

t.test('the context hasher selects sources: plain paths, wildcards, excluded files', async (t) => {
  const root = makeContext('select');
  const hasher = createContextHasher(root);
  const selection = await hasher({
    sources: ['src', '*.md', 'src/*/x.js', 'debug.log', 'secrets/private.pem', 'nothing*'],
    owner: '0:0',
    detectArchives: false,
  });
  t.same(selection.matches, [
    [{ path: 'src', type: 'dir' }],
    [{ path: 'README.md', type: 'file' }],
    [{ path: 'src/util/x.js', type: 'file' }],
    [],
    [],
    [],
  ]);
  const one = await hasher({ sources: ['README.md'], owner: '0:0', detectArchives: false });
  const other = await hasher({ sources: ['src'], owner: '0:0', detectArchives: false });
  t.not(one.digest, other.digest);
});

t.test('ADD detects local tar archives, plain and gzip-compressed', async (t) => {
  const root = join(run, 'archives');
  write(root, { 'payload/a.txt': 'a', 'notes.txt': 'just text\n' });
  execFileSync('tar', ['-cf', join(root, 'plain.tar'), '-C', join(root, 'payload'), 'a.txt']);
  execFileSync('tar', ['-czf', join(root, 'packed.tgz'), '-C', join(root, 'payload'), 'a.txt']);
  execFileSync('gzip', ['-k', join(root, 'notes.txt')]);
  t.ok(await isLocalArchive(join(root, 'plain.tar')), 'tar');
  t.ok(await isLocalArchive(join(root, 'packed.tgz')), 'tar.gz');
  t.notOk(await isLocalArchive(join(root, 'notes.txt')), 'text');
  t.notOk(await isLocalArchive(join(root, 'notes.txt.gz')), 'gzip of something that is not a tar');
  const selection = await createContextHasher(root)({
    sources: ['plain.tar', 'packed.tgz', 'notes.txt'],
    owner: '0:0',
    detectArchives: true,
  });
  t.same(selection.matches, [
    [{ path: 'plain.tar', type: 'file', extract: true }],
    [{ path: 'packed.tgz', type: 'file', extract: true }],
    [{ path: 'notes.txt', type: 'file' }],
  ]);
});

t.test('the examples plan against the real context hasher', async (t) => {
  const resolveImage = async (ref: string) => {
    if (ref !== 'busybox') throw new Error(`unexpected base ${ref}`);
    return {
      ref: 'docker.io/library/busybox:latest',
      digest: 'sha256:' + 'f'.repeat(64),
      config: busyboxImageConfig(),
    };
  };
  const platform = { os: 'linux', architecture: 'amd64' };
  for (const name of ['hello', 'web']) {
    const dir = join(repo, 'examples', name);
    const dockerfile = parseDockerfile(readFileSync(join(dir, 'Dockerfile'), 'utf8'));
    const plan = await planBuild(dockerfile, {
      platform,
      resolveImage,
      hashContext: createContextHasher(dir),
    });
    const again = await planBuild(dockerfile, {
      platform,
      resolveImage,
      hashContext: createContextHasher(dir),
    });
    const steps = plan.stages[0]?.steps ?? [];
    t.same(
      steps.map((s) => s.cacheKey),
      (again.stages[0]?.steps ?? []).map((s) => s.cacheKey),
      `${name}: an unchanged rebuild has the same keys`,
    );
    t.same(plan.warnings, []);
    const config = plan.stages[0]?.config;
    if (name === 'hello') {
      t.same(
        steps.map((s) => s.kind),
        ['base', 'copy', 'config'],
      );
      t.same(config?.Cmd, ['cat', '/hello.txt']);
      t.match(readFileSync(join(dir, 'hello.txt'), 'utf8'), /Hello from Flotilla!/);
    } else {
      t.same(
        steps.map((s) => s.kind),
        ['base', 'copy', 'copy', 'config', 'config'],
      );
      t.match(steps[1], { dest: '/www/index.html', matches: [[{ path: 'index.html', type: 'file' }]] });
      t.match(steps[2], { dest: '/www/cgi-bin/pod', matches: [[{ path: 'pod.cgi', type: 'file' }]] });
      t.same(config?.ExposedPorts, { '8080/tcp': {} });
      t.same(config?.Cmd, ['sh', '-c', "httpd -f -v -p 8080 -h /www & trap 'kill $!; exit 0' TERM; wait"]);
    }
  }
});
