// The declarative commands through runCli, up to where they would connect: manifests are
// checked whole before anything is sent (exit 1, every problem listed), and the command
// tree loads none of the manifest code (@kubernetes/client-node) until a command needs it.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli, type CliIo } from '@flotilla/deploy';

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-object-cli-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function run(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { HOME: '/nonexistent/home' },
    cwd: dir,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

t.test(
  'apply, diff and delete -f refuse invalid manifests before connecting, listing every problem',
  async (t) => {
    await writeFile(
      join(dir, 'bad.yaml'),
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: web}',
        'spec:',
        '  replicas: three',
        '  template: {spec: {serviceAccountName: web, containers: []}}',
        '---',
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata: {name: c}',
      ].join('\n'),
    );
    const expected =
      'error: 3 problems in the manifests, nothing was sent:\n' +
      '  bad.yaml document 1 (Deployment/web): spec.replicas: "three" is a string; expected an integer (int32)\n' +
      '  bad.yaml document 1 (Deployment/web): spec.template.spec.serviceAccountName: "web" is not supported by Flotilla; ' +
      'the PodSpec fields it supports: containers, restartPolicy, nodeName, nodeSelector, terminationGracePeriodSeconds, ' +
      'hostname, volumes, tolerations, affinity\n' +
      '  bad.yaml document 2 (ConfigMap/c): kind: "ConfigMap" is not supported by Flotilla ' +
      '(supported kinds: Pod, Deployment, Service, Namespace)\n';
    for (const argv of [
      ['apply', '-f', 'bad.yaml'],
      ['delete', '-f', 'bad.yaml'],
    ]) {
      const result = await run(argv);
      t.equal(result.code, 1, `${argv.join(' ')} exits 1`);
      t.equal(result.stderr, expected, argv.join(' '));
      t.equal(result.stdout, '');
    }
    const diff = await run(['diff', '-f', 'bad.yaml']);
    t.equal(diff.code, 2, 'diff: an error is above 1, as 1 means differences');
    t.equal(diff.stderr, expected);
  },
);

t.test('valid manifests get as far as the client config', async (t) => {
  await writeFile(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n');
  const result = await run(['apply', '-f', 'ns.yaml', '--config', '/nonexistent/config.yaml']);
  t.equal(result.code, 1);
  t.match(result.stderr, /^error: no client config at \/nonexistent\/config\.yaml/);
});

t.test('deploy --help and deploy ps --help load no manifest code', async (t) => {
  const hook = join(dir, 'hooks.mjs');
  const register = join(dir, 'register.mjs');
  await writeFile(
    hook,
    "export async function load(url, context, next) { process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }\n",
  );
  await writeFile(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hook}`)});\n`,
  );
  const bin = join(import.meta.dirname, '..', '..', 'deploy', 'bin', 'deploy.js');
  for (const argv of [['--help'], ['ps', '--help'], ['apply', '--help']]) {
    // The unbundled CLI, whose module graph the hook can see (the bundle is one file).
    const child = spawnSync(process.execPath, ['--import', register, bin, ...argv], {
      encoding: 'utf8',
      env: { ...process.env, FLOTILLA_CLI_BUNDLE: '0' },
    });
    t.equal(child.status, 0, `${argv.join(' ')} exits 0`);
    const loaded = child.stderr.split('\n').filter((l) => l.startsWith('LOADED '));
    t.ok(
      loaded.some((l) => l.includes('/deploy/dist/commands/root.js')),
      'the hook sees the CLI load',
    );
    t.same(
      loaded.filter((l) =>
        /@kubernetes|\/dist\/manifests\/|\/dist\/commands\/(apply|get|diff|drain)\.js/.test(l),
      ),
      [],
      `${argv.join(' ')}: nothing of the manifests or the object commands`,
    );
  }
});
