// The controller's V8 flags are written in two places that must agree: the shebang of its
// dist/main.js (how a user or systemd starts flotilla-controller directly) and
// controllerNodeFlags (what deploy up and the test harness pass to node).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { controllerNodeFlags, controllerShebang } from '@flotilla/common';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

t.test('the built controller starts with the flags deploy up passes', async (t) => {
  const built = readFileSync(join(root, 'controller/dist/main.js'), 'utf8').split('\n')[0];
  t.equal(built, controllerShebang);
  t.ok(controllerNodeFlags.length > 0);
});

t.test('node accepts every controller flag', async (t) => {
  const res = spawnSync(process.execPath, [...controllerNodeFlags, '-e', 'process.exit(0)'], {
    encoding: 'utf8',
  });
  t.equal(res.status, 0, res.stderr);
  t.equal(res.stderr, '');
});
