// The agent's V8 flags are written in three places that must agree: the shebangs of its bin
// and of dist/main.js (how a user or systemd starts it directly) and agentNodeFlags (what
// deploy up and the test harness pass to node).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { agentNodeFlags, agentShebang } from '@flotilla/common';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

t.test('the built agent starts with the flags deploy up passes', async (t) => {
  const built = readFileSync(join(root, 'agent/dist/main.js'), 'utf8').split('\n')[0];
  t.equal(built, agentShebang);
  t.ok(agentNodeFlags.length > 0);
});

t.test("so does the agent's bin (what npm links as flotilla-agent)", async (t) => {
  const bin = readFileSync(join(root, 'agent/bin/flotilla-agent.js'), 'utf8').split('\n')[0];
  t.equal(bin, agentShebang);
});

t.test('node accepts every agent flag', async (t) => {
  const res = spawnSync(process.execPath, [...agentNodeFlags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
  t.equal(res.status, 0, res.stderr);
  t.equal(res.stderr, '');
});
