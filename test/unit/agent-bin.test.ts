// bin/flotilla-agent.js runs the agent's bundle (scripts/bundle-agent.mjs) while it is fresh
// and the unbundled dist/ otherwise: both must be the same agent.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(root, 'agent/bin/flotilla-agent.js');
const bundle = join(root, 'agent/dist/bundle/flotilla-agent.mjs');

function agent(args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const res = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { status: res.status, out: `${res.stdout}\n--stderr--\n${res.stderr}` };
}

t.test('the bundle and the unbundled agent answer alike', async (t) => {
  t.ok(existsSync(bundle), 'the build made the bundle');
  for (const args of [['--help'], ['--version'], ['--no-such-flag'], ['reset', '--help'], ['--join']]) {
    const bundled = agent(args);
    const unbundled = agent(args, { FLOTILLA_AGENT_BUNDLE: '0' });
    t.equal(bundled.status, unbundled.status, `flotilla-agent ${args.join(' ')}: same exit code`);
    t.equal(bundled.out, unbundled.out, `flotilla-agent ${args.join(' ')}: same output`);
  }
});

t.test("the files the bundle's modules find beside them exist", async (t) => {
  // Each module's import.meta.url is rewritten to its dist/ file's URL (bundle-agent.mjs).
  const text = readFileSync(bundle, 'utf8');
  const found = [
    ...text.matchAll(/new URL\("([^"]+)",\s*new URL\("([^"]+)",\s*import\.meta\.url\)\.href\)/g),
  ];
  t.ok(found.length >= 3, 'the libexec scripts and package.json are found from import.meta.url');
  const base = pathToFileURL(bundle);
  for (const [, target, module] of found) {
    const path = fileURLToPath(new URL(target!, new URL(module!, base)));
    t.ok(existsSync(path), `${module} -> ${target} (${path})`);
  }
});

t.test('bundle-agent --if-stale leaves a fresh bundle alone', async (t) => {
  const res = spawnSync(process.execPath, [join(root, 'scripts/bundle-agent.mjs'), '--if-stale'], {
    encoding: 'utf8',
  });
  t.equal(res.status, 0, res.stderr);
  t.equal(res.stdout, '', 'nothing rebuilt: the test runner bundled after its build');
});
