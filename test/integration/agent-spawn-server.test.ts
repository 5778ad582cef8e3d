// The agent's spawn server (agent/libexec/spawn-server.py) answers exactly as a direct
// spawn does: output, stdin and env, exit codes, signals, missing commands, timeouts, and
// many commands at once each with its own answer.
import t from 'tap';
import {
  CommandError,
  SpawnServer,
  spawnDirect,
  type CommandOptions,
  type CommandResult,
} from '@flotilla/agent';
import { silentLogger } from '@flotilla/common';

type Runner = (file: string, args: string[], options?: CommandOptions) => Promise<CommandResult>;

const server = new SpawnServer({ logger: silentLogger });
t.teardown(() => server.close());
const runners: [string, Runner][] = [
  ['spawn server', (f, a, o) => server.run(f, a, o)],
  ['direct', (f, a, o) => spawnDirect(f, a, o)],
];

for (const [name, run] of runners) {
  t.test(`${name}: results`, async (t) => {
    t.same(await run('/bin/echo', ['hi']), { code: 0, signal: null, stdout: 'hi\n', stderr: '' });
    t.same(await run('/bin/sh', ['-c', 'cat; echo "$A" >&2; exit 3'], { input: 'in', env: { A: 'b' } }), {
      code: 3,
      signal: null,
      stdout: 'in',
      stderr: 'b\n',
    });
    t.match(await run('/bin/sh', ['-c', 'kill -9 $$']), { code: null, signal: 9 });
    t.equal((await run('/bin/cat', [])).stdout, '', 'no input: /dev/null');
    const big = 'x'.repeat(1 << 20);
    t.match(await run('/bin/sh', ['-c', 'exit 4'], { input: big }), { code: 4 }, 'input it never read');
    await t.rejects(run('/no/such/command', []), { name: 'CommandError', code: 'ENOENT' });
    await t.rejects(run('/bin/sleep', ['5'], { timeoutMs: 200 }), {
      name: 'CommandError',
      code: 'ETIMEDOUT',
    });
  });
}

t.test('fifty commands at once each get their own answer', async (t) => {
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => server.run('/bin/sh', ['-c', `echo ${i}; exit ${i % 7}`])),
  );
  t.same(
    answers.map((a) => [a.stdout, a.code]),
    Array.from({ length: 50 }, (_, i) => [`${i}\n`, i % 7]),
  );
});

t.test('without python3 it spawns directly', async (t) => {
  const broken = new SpawnServer({ python: '/no/such/python3', logger: silentLogger });
  t.teardown(() => broken.close());
  // The first command races the failed start: it either falls back or fails as EPIPE/ENOENT.
  await broken.run('/bin/true', []).catch((err: unknown) => t.ok(err instanceof CommandError));
  t.same(await broken.run('/bin/echo', ['x']), { code: 0, signal: null, stdout: 'x\n', stderr: '' });
});
