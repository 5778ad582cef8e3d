// bin/deploy.js runs the CLI's bundle (scripts/bundle-cli.mjs) while it is fresh and the
// unbundled dist/ otherwise: both must be the same CLI.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(root, 'deploy/bin/deploy.js');

function deploy(args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const res = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env, FLOTILLA_CONFIG: join(root, 'does-not-exist.yaml') },
  });
  return { status: res.status, out: `${res.stdout}\n--stderr--\n${res.stderr}` };
}

t.test('the bundle and the unbundled CLI answer alike', async (t) => {
  t.ok(existsSync(join(root, 'deploy/dist/bundle/deploy.cjs')), 'the build made the bundle');
  for (const args of [['--help'], ['run', '--help'], ['run', '--no-such-flag', 'x'], ['no-such-command']]) {
    const bundled = deploy(args);
    const unbundled = deploy(args, { FLOTILLA_CLI_BUNDLE: '0' });
    t.equal(bundled.status, unbundled.status, `deploy ${args.join(' ')}: same exit code`);
    t.equal(bundled.out, unbundled.out, `deploy ${args.join(' ')}: same output`);
  }
});

t.test('bundle-cli --if-stale leaves a fresh bundle alone', async (t) => {
  const res = spawnSync(process.execPath, [join(root, 'scripts/bundle-cli.mjs'), '--if-stale'], {
    encoding: 'utf8',
  });
  t.equal(res.status, 0, res.stderr);
  t.equal(res.stdout, '', 'nothing rebuilt: the test runner bundled after its build');
});
