// The agent's spawn server (agent/libexec/spawn-server.py) answers exactly as a direct
// spawn does: output, stdin and env, exit codes, signals, missing commands, timeouts, and
// many commands at once each with its own answer; and the ops it carries out itself (a
// named netns, an overlay mount, a daemon started with a sync pipe) as ip, mount(8) and a
// direct spawn would.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  CommandError,
  SpawnServer,
  agentMountAt,
  agentUnmount,
  spawnDirect,
  startDetachedDirect,
  useSpawnServer,
  type CommandOptions,
  type CommandResult,
} from '@flotilla/agent';
import { silentLogger } from '@flotilla/common';
import { mountsUnder } from '@flotilla/images';

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

t.test('ops: a named netns as ip netns add/delete makes and removes it', async (t) => {
  const name = `fltss${process.pid}`;
  t.teardown(() => {
    if (existsSync(`/run/netns/${name}`)) spawnSync('ip', ['netns', 'delete', name]);
  });
  await server.op({ op: 'netns-add', name });
  t.ok(existsSync(`/run/netns/${name}`), 'the netns file exists');
  t.match(spawnSync('ip', ['netns', 'list']).stdout.toString(), name, 'ip netns lists it');
  const inside = spawnSync('nsenter', [`--net=/run/netns/${name}`, 'ip', '-o', 'link']).stdout.toString();
  t.match(inside, /^1: lo:/, 'a fresh network namespace: only lo');
  t.notOk(inside.includes('\n2:'), 'nothing but lo');
  await t.rejects(server.op({ op: 'netns-add', name }), { code: 'EEXIST' }, 'a second add fails');
  t.ok(existsSync(`/run/netns/${name}`), 'and leaves the first one');
  await server.op({ op: 'netns-delete', name });
  t.notOk(existsSync(`/run/netns/${name}`), 'deleted');
  await t.rejects(server.op({ op: 'netns-delete', name }), { code: 'ENOENT' });
  await t.rejects(server.op({ op: 'netns-add', name: '../etc' }), { code: 'EINVAL' });
});

t.test('ops: an overlay mount(2) and umount2(2), as mount(8) makes them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flt-ss-'));
  const target = join(dir, 'm');
  t.teardown(async () => {
    spawnSync('umount', ['-l', target]);
    await rm(dir, { recursive: true, force: true });
  });
  for (const d of ['l1', 'l2', 'u', 'w', 'm']) await mkdir(join(dir, d));
  await writeFile(join(dir, 'l1', 'a'), 'a');
  await writeFile(join(dir, 'l2', 'b'), 'b');
  const spec = {
    type: 'overlay',
    source: 'overlay',
    options: [`lowerdir=${dir}/l2:${dir}/l1`, `upperdir=${dir}/u`, `workdir=${dir}/w`, 'redirect_dir=off'],
  };
  // The agent's functions use the shared server (a second one: turning it off closes it).
  useSpawnServer(new SpawnServer({ logger: silentLogger }));
  t.teardown(() => useSpawnServer(undefined));
  await agentMountAt(spec, target);
  t.same((await readdir(target)).sort(), ['a', 'b'], 'both layers seen');
  t.ok((await mountsUnder(dir)).includes(target));
  await agentUnmount(target);
  await agentUnmount(target);
  await agentUnmount(join(dir, 'missing'));
  t.same(await mountsUnder(dir), [], 'unmounted; again and a missing path are no-ops');
  await t.rejects(
    agentMountAt({ ...spec, options: [`lowerdir=${dir}/none`, ...spec.options.slice(1)] }, target),
    {
      message: /mounting the overlay rootfs at .* failed: .*No such file or directory/,
    },
  );
});

t.test('ops: detached start with a sync pipe, through the server and directly', async (t) => {
  const script = 'echo "{\\"data\\": $$}" >&$SYNC; sleep 0.1';
  const server1 = await server.op({
    op: 'detached',
    argv: ['/bin/sh', '-c', script],
    env: null,
    cwd: tmpdir(),
    syncPipeEnv: 'SYNC',
  });
  t.match(server1.stdout, /^\{"data": \d+\}\n$/);
  const direct = await startDetachedDirect('/bin/sh', ['-c', script], { cwd: tmpdir(), syncPipeEnv: 'SYNC' });
  t.match(direct.syncText, /^\{"data": \d+\}\n$/);
  const starts: [string, (f: string, a: string[]) => Promise<string>][] = [
    [
      'server',
      async (f, a) =>
        (await server.op({ op: 'detached', argv: [f, ...a], env: null, cwd: '/', syncPipeEnv: 'S' })).stdout,
    ],
    ['direct', async (f, a) => (await startDetachedDirect(f, a, { cwd: '/', syncPipeEnv: 'S' })).syncText],
  ];
  for (const [how, start] of starts) {
    t.equal(await start('/bin/sh', ['-c', 'exit 0']), '', `${how}: the pipe ends without a message`);
    await t.rejects(start('/no/such/conmon', []), { name: 'CommandError', code: 'ENOENT' }, how);
  }
});
