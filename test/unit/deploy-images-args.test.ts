// The image commands' arguments and settings, checked before anything touches the disk or
// the network; and their usage errors through the CLI (exit code 2, a pointer to help).
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkTag,
  insecureRegistryProblem,
  parseBuildArgs,
  parseTags,
  passwordFromStdin,
  registryHosts,
  resolveImageSettings,
  runCli,
  seedPlan,
  type CliIo,
} from '@flotilla/deploy';

t.test('image root: --image-root, else $FLOTILLA_IMAGE_ROOT, else ~/.flotilla/images', async (t) => {
  const base = { insecureRegistries: [], home: '/home/ann', cwd: '/work' };
  t.equal(resolveImageSettings({ ...base, env: {} }).root, '/home/ann/.flotilla/images');
  t.equal(resolveImageSettings({ ...base, env: { FLOTILLA_IMAGE_ROOT: 'imgs' } }).root, '/work/imgs');
  t.equal(
    resolveImageSettings({ ...base, imageRoot: '/srv/img', env: { FLOTILLA_IMAGE_ROOT: '/other' } }).root,
    '/srv/img',
    'the flag wins over the environment',
  );
  t.equal(resolveImageSettings({ ...base, imageRoot: '', env: {} }).root, '/home/ann/.flotilla/images');
});

t.test('credentials: $FLOTILLA_AUTH_FILE, else ~/.flotilla/auth.json', async (t) => {
  const base = { insecureRegistries: [], home: '/home/ann', cwd: '/work' };
  t.equal(resolveImageSettings({ ...base, env: {} }).authFile, '/home/ann/.flotilla/auth.json');
  t.equal(resolveImageSettings({ ...base, env: { FLOTILLA_AUTH_FILE: 'a.json' } }).authFile, '/work/a.json');
});

t.test('insecure registries become plain-HTTP host options, once each', async (t) => {
  const settings = resolveImageSettings({
    insecureRegistries: ['registry.lan:5000', 'registry.lan:5000', ' 10.0.0.5 '],
    env: {},
    home: '/h',
    cwd: '/',
  });
  t.same(settings.insecure, ['registry.lan:5000', '10.0.0.5']);
  t.same(registryHosts(settings), {
    'registry.lan:5000': { insecure: true },
    '10.0.0.5': { insecure: true },
  });
  t.same(
    registryHosts(settings, {
      'secure.lan:443': '/c/secure.lan:443/ca.crt',
      '10.0.0.5': '/c/10.0.0.5/ca.crt',
    }),
    {
      'secure.lan:443': { caFile: '/c/secure.lan:443/ca.crt' },
      'registry.lan:5000': { insecure: true },
      '10.0.0.5': { insecure: true },
    },
    'a CA from certs.d, unless the registry is named insecure',
  );
  t.equal(settings.certsDir, '/h/.flotilla/certs.d');
  for (const good of ['registry.lan:5000', 'localhost', '10.0.0.5:443', '[::1]:5000', 'reg-1.example.com']) {
    t.equal(insecureRegistryProblem(good), undefined, `${good} is a host`);
  }
  for (const bad of [
    '',
    'http://registry.lan',
    'registry.lan/team',
    'reg:99999',
    'a b',
    'user@reg',
    '-reg',
  ]) {
    t.match(insecureRegistryProblem(bad), /HOST or HOST:PORT/, `"${bad}" is refused`);
  }
});

t.test('-t values: canonical, de-duplicated, at least one, no digests', async (t) => {
  const tags = parseTags(['web', 'docker.io/library/web:latest', '127.0.0.1:5000/team/web:v2']);
  t.ok(tags.ok);
  if (tags.ok) {
    t.same(
      tags.value.map((r) => r.canonical),
      ['docker.io/library/web:latest', '127.0.0.1:5000/team/web:v2'],
    );
  }
  const none = parseTags([]);
  t.notOk(none.ok);
  if (!none.ok) t.match(none.problem, /at least one -t/);
  const bad = parseTags(['Web']);
  t.notOk(bad.ok);
  if (!bad.ok) t.match(bad.problem, /invalid -t value: .*lowercase/);
  const digest = checkTag(`web@sha256:${'a'.repeat(64)}`);
  t.notOk(digest.ok);
  if (!digest.ok) t.match(digest.problem, /names a digest; a tag is NAME\[:TAG\]/);
});

t.test('--build-arg: NAME=VALUE, or NAME from the environment', async (t) => {
  const parsed = parseBuildArgs(['A=1', 'B=x=y', 'C=', 'HOME', 'MISSING'], { HOME: '/root' });
  t.same(parsed, { ok: true, value: { A: '1', B: 'x=y', C: '', HOME: '/root' } });
  for (const bad of ['=1', '1A=2', 'A-B=1', '']) {
    const result = parseBuildArgs([bad], {});
    t.notOk(result.ok, `"${bad}" is refused`);
    if (!result.ok) t.match(result.problem, /must be NAME=VALUE/);
  }
});

t.test('a password from stdin loses its trailing newline only', async (t) => {
  t.equal(passwordFromStdin('s3cret\n'), 's3cret');
  t.equal(passwordFromStdin('s3cret\r\n'), 's3cret');
  t.equal(passwordFromStdin(' pass word \n\n'), ' pass word ');
});

t.test('deploy up seeds busybox and the examples into its registry', async (t) => {
  t.same(
    seedPlan('127.0.0.1:5000').map((s) => s.name),
    [
      '127.0.0.1:5000/library/busybox:latest',
      '127.0.0.1:5000/examples/hello:latest',
      '127.0.0.1:5000/examples/web:latest',
    ],
  );
});

// A usage error must be found before anything is written: HOME stays empty.
const home = mkdtempSync(join(tmpdir(), 'flt-test-images-args-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { HOME: home },
    cwd: home,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

t.test('usage errors of the image commands exit 2 and say what is valid', async (t) => {
  const cases: [string[], RegExp][] = [
    [['build', '.'], /needs at least one -t NAME\[:TAG\]/],
    [['build', '-t', 'Bad', '.'], /invalid -t value: .*lowercase/],
    [['build', '-t', 'x', '--build-arg', '1=2', '.'], /invalid --build-arg "1=2"/],
    [['build', '-t', 'x'], /"deploy build" needs CONTEXT/],
    [['build', '-t', 'x', '--target', '-x', '.'], /--target: must be a stage name/],
    [['push'], /needs NAME\[:TAG\]/],
    [['push', `web@sha256:${'a'.repeat(64)}`], /names a digest/],
    [['pull', 'team/Web'], /invalid image reference "team\/Web": the repository name must be lowercase/],
    [['pull', 'busybox', '--insecure-registry', 'http://x'], /--insecure-registry: must be a registry HOST/],
    [['tag', 'busybox'], /needs SOURCE TARGET/],
    [['tag', 'busybox', 'bad name'], /white space/],
    [['rmi'], /needs IMAGE\.\.\./],
    [['images', 'a', 'b'], /too many arguments/],
    [['login'], /needs REGISTRY/],
    [['login', '--password-stdin', '127.0.0.1:5000'], /needs -u USERNAME/],
    [['login', 'reg/path'], /must be a host name/],
    [['prune', '--bogus'], /unknown flag --bogus/],
    [['image'], /"deploy image" needs a subcommand/],
  ];
  for (const [argv, message] of cases) {
    const result = await run(argv);
    t.equal(result.code, 2, `deploy ${argv.join(' ')} exits 2 (${result.stderr.trim()})`);
    t.match(result.stderr, message, `deploy ${argv.join(' ')}`);
    t.match(result.stderr, /Run "deploy .*--help" for usage/);
  }
  t.same(readdirSync(home), [], 'nothing was written');
});

t.test('repeatable flags keep every value; help says they repeat', async (t) => {
  const help = await run(['build', '--help']);
  t.match(help.stdout, /-t, --tag NAME\[:TAG\] +name the image .*\(repeatable\)/);
  t.match(help.stdout, /--build-arg NAME=VALUE +.*\(repeatable\)/);
  t.match(help.stdout, /--insecure-registry HOST:PORT/);
  t.match(help.stdout, /--image-root DIR/);
});
