// The agent's spawn server (agent/libexec/spawn-server.py) answers exactly as a direct
// spawn does: output, stdin and env, exit codes, signals, missing commands, timeouts, and
// many commands at once each with its own answer; and the ops it carries out itself (a
// named netns, an overlay mount, a daemon started with a sync pipe) as ip, mount(8) and a
// direct spawn would.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import {
  CommandError,
  SpawnServer,
  agentMountAt,
  agentUnmount,
  decodeSpawnReply,
  encodeSpawnRequest,
  spawnDirect,
  spawnServerScriptPath,
  splitSpawnFrames,
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

/** The descriptors a command holds (its listing's own left out), as python3 sees them. */
const listFds =
  "import os; d='/proc/self/fd'; print(' '.join(sorted((f for f in os.listdir(d) if os.path.lexists(d+'/'+f)), key=int)))";

/**
 * glibc's posix_spawn leaves its two internal signals (32, 33) ignored in the child, where
 * glibc installs its handlers when a second thread starts (musl when it needs them; Go does
 * not use them): not a signal a program catches or is sent. Every other must be default.
 */
const glibcInternal = (1n << 31n) | (1n << 32n);

for (const [name, run] of runners) {
  t.test(`${name}: signals at their defaults`, async (t) => {
    const status = (await run('/bin/cat', ['/proc/self/status'])).stdout;
    const mask = (name: string): bigint =>
      BigInt(`0x${new RegExp(`^${name}:\\s+(\\w+)`, 'm').exec(status)?.[1]}`);
    t.equal(mask('SigBlk'), 0n, 'none blocked');
    t.equal(mask('SigIgn') & ~glibcInternal, 0n, 'none ignored (SIGPIPE kills, as a shell pipeline expects)');
    t.match(await run('/bin/sh', ['-c', 'yes | head -c 1 >/dev/null; exit 0']), { code: 0 });
  });

  t.test(`${name}: PATH is searched in the command's environment`, async (t) => {
    t.equal((await run('echo', ['hi'], { env: { PATH: '/no/such/dir:/bin' } })).stdout, 'hi\n');
    await t.rejects(run('echo', ['hi'], { env: { PATH: '/no/such/dir' } }), { code: 'ENOENT' });
  });

  t.test(`${name}: the environment as given, or the agent's`, async (t) => {
    const inherited = (await run('/usr/bin/env', [])).stdout.split('\n').sort();
    const own = Object.entries(process.env)
      .map(([k, v]) => `${k}=${v}`)
      .concat([''])
      .sort();
    t.same(inherited, own, "the agent's, nothing added or taken away");
    t.equal((await run('/usr/bin/env', [], { env: { A: 'x=y', EMPTY: '' } })).stdout, 'A=x=y\nEMPTY=\n');
    t.equal((await run('/usr/bin/env', [], { env: {} })).stdout, '', 'an empty environment');
  });

  t.test(`${name}: a megabyte each way`, async (t) => {
    const big = Array.from({ length: 1 << 15 }, (_, i) => `line ${i} é\n`).join('');
    const result = await run('/bin/cat', [], { input: big });
    t.equal(result.stdout.length, big.length);
    t.ok(result.stdout === big, 'the same text back');
  });
}

t.test('spawn server: a command gets stdio and nothing else', async (t) => {
  // Directly, a command also gets what the agent inherited without close-on-exec (under the
  // test runner an fd of its own); the server marks those close-on-exec at its start.
  t.equal(
    (await server.run('/usr/bin/python3', ['-I', '-S', '-c', listFds])).stdout,
    '0 1 2\n',
    'fds 0-2 only',
  );
  t.equal(
    (await server.run('/usr/bin/python3', ['-I', '-S', '-c', listFds], { input: 'x' })).stdout,
    '0 1 2\n',
    'with input too',
  );
});

t.test('spawn server: a NUL in an argument is refused', async (t) => {
  await t.rejects(server.run('/bin/echo', ['a\0b']), { name: 'CommandError', code: 'EINVAL' });
});

t.test('spawn server: a timeout SIGKILLs the command and reaps it, output so far kept', async (t) => {
  const err = await server.run('/bin/sh', ['-c', 'echo $$; exec sleep 30'], { timeoutMs: 300 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CommandError && err.code === 'ETIMEDOUT', 'ETIMEDOUT');
  const pid = Number((err as CommandError).stdout.trim());
  t.ok(pid > 0, 'its output before the kill');
  t.notOk(existsSync(`/proc/${pid}`), 'killed and reaped: not even a zombie');
});

/** The running spawn server processes that are this process's children. */
function serverPids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return (
          ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('spawn-server.py')
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The pids whose parent is pid. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
}

t.test('spawn server: after commands and ops, no child left and no descriptor leaked', async (t) => {
  const own = new SpawnServer({ logger: silentLogger });
  t.teardown(() => own.close());
  await own.run('/bin/true', []);
  const pids = serverPids();
  t.ok(pids.length >= 1, 'the server runs');
  const fdsOf = (p: number): string[] => readdirSync(`/proc/${p}/fd`).sort();
  const before = new Map(pids.map((p) => [p, fdsOf(p)]));
  await Promise.all([
    ...Array.from({ length: 20 }, (_, i) => own.run('/bin/sh', ['-c', `echo ${i}`], { input: 'x' })),
    own.run('/bin/sleep', ['5'], { timeoutMs: 100 }).catch(() => undefined),
    own.run('/no/such/command', []).catch(() => undefined),
    own.op({
      op: 'detached',
      argv: ['/bin/sh', '-c', 'echo x >&$S; sleep 0.2'],
      env: null,
      cwd: '/',
      syncPipeEnv: 'S',
    }),
    own
      .op({ op: 'detached', argv: ['/no/such/conmon'], env: null, cwd: '/', syncPipeEnv: 'S' })
      .catch(() => undefined),
    own
      .op({ op: 'detached', argv: ['/bin/true'], env: null, cwd: '/no/such/dir', syncPipeEnv: 'S' })
      .catch(() => undefined),
    own.op({ op: 'umount', target: '/no/such/mount', flags: 0 }).catch(() => undefined),
  ]);
  for (const p of pids) {
    t.same(childrenOf(p), [], `server ${p}: every child waited for`);
    t.same(fdsOf(p), before.get(p), `server ${p}: the same descriptors as before`);
  }
  t.same(
    (await own.run('/bin/pwd', [])).stdout,
    `${process.cwd()}\n`,
    'a detached start in another directory left the server where it was',
  );
});

t.test('ops: a detached command gets stdio and the sync pipe, nothing else', async (t) => {
  const script = `import os; d='/proc/self/fd'; fds=sorted((f for f in os.listdir(d) if os.path.lexists(d+'/'+f)), key=int); os.write(int(os.environ['S']), (os.environ['S'] + ':' + ' '.join(fds) + ':' + str(os.getsid(0) == os.getpid()) + '\\n').encode())`;
  const { stdout } = await server.op({
    op: 'detached',
    argv: ['/usr/bin/python3', '-I', '-S', '-c', script],
    env: null,
    cwd: '/',
    syncPipeEnv: 'S',
  });
  const [sync, fds, leader] = stdout.trim().split(':');
  t.same(
    fds?.split(' '),
    ['0', '1', '2', sync].sort((a, b) => Number(a) - Number(b)),
  );
  t.equal(leader, 'True', 'in a session of its own');
});

t.test('ops: a detached command (conmon: the containers descend from it) ignores no signal', async (t) => {
  // Not even glibc's internal 32 and 33, which a posix_spawn'd command has ignored: an
  // ignored signal stays ignored across exec, down to the container's processes.
  const { stdout } = await server.op({
    op: 'detached',
    argv: ['/bin/sh', '-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status | tr "\\n" " " > /proc/self/fd/$S'],
    env: null,
    cwd: '/',
    syncPipeEnv: 'S',
  });
  t.match(stdout, /^SigBlk:\s+0+ SigIgn:\s+0+ $/);
});

t.test('spawn server: stdin closing ends it once what was under way answered', async (t) => {
  const child = spawn('/usr/bin/python3', ['-I', '-S', spawnServerScriptPath], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  const started = Date.now();
  child.stdin.end(
    Buffer.concat([
      encodeSpawnRequest(1, {
        op: 'run',
        argv: ['/bin/sh', '-c', 'sleep 0.3; echo done'],
        env: null,
        stdin: null,
        timeoutMs: null,
      }),
      encodeSpawnRequest(2, { op: 'netns-add', name: '../x' }),
    ]),
  );
  const [code] = (await once(child, 'close')) as [number | null];
  t.equal(code, 0, 'it exited by itself');
  t.ok(Date.now() - started >= 300, 'after the command finished');
  const { bodies, rest } = splitSpawnFrames(Buffer.concat(chunks));
  t.equal(rest.length, 0);
  const replies = bodies.map(decodeSpawnReply).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  t.match(replies, [
    { id: 1, code: 0, stdout: 'done\n', error: null },
    { id: 2, error: 'EINVAL' },
  ]);
});

t.test('spawn-server.py runs the server from cached bytecode, compiling it once', async (t) => {
  const cacheDir = join(dirname(spawnServerScriptPath), '__pycache__');
  const caches = (): string[] =>
    existsSync(cacheDir) ? readdirSync(cacheDir).filter((f) => f.startsWith('spawn_server_core.')) : [];
  for (const f of caches()) await rm(join(cacheDir, f));
  /** Starts a server, has it run a command, and returns its argv as it runs. */
  const start = async (): Promise<string[]> => {
    const child = spawn('/usr/bin/python3', ['-I', '-S', spawnServerScriptPath], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child.stdin.write(
      encodeSpawnRequest(1, { op: 'run', argv: ['/bin/true'], env: null, stdin: null, timeoutMs: null }),
    );
    // A small answer: one write, one chunk.
    const [answer] = (await once(child.stdout, 'data')) as [Buffer];
    t.match(decodeSpawnReply(splitSpawnFrames(answer).bodies[0]!), { id: 1, code: 0 });
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    child.stdin.end();
    await once(child, 'close');
    return argv;
  };
  t.ok((await start()).includes('--compiled'), 'no cache: compiled it, then ran again from it');
  t.equal(caches().length, 1, 'the cache written');
  t.notOk((await start()).includes('--compiled'), 'from the cache at once');
});

t.test('the server reaches libc through _ctypes, or ctypes when _ctypes is not as expected', async (t) => {
  const check = (loader: string): string =>
    spawnSync(
      '/usr/bin/python3',
      [
        '-I',
        '-S',
        '-c',
        `import sys; sys.path.insert(0, ${JSON.stringify(dirname(spawnServerScriptPath))}); import spawn_server_core as c
libc, errno = c.${loader}()
print(libc.umount2(b'/no/such/mount', 0), errno(), libc.mount(b'none', b'/no/such/mount', b'tmpfs', 0, None), errno())`,
      ],
      { encoding: 'utf8' },
    ).stdout;
  t.equal(check('libc_from_ctypes_core'), '-1 2 -1 2\n', '_ctypes: ENOENT from both calls');
  t.equal(check('libc_from_ctypes'), '-1 2 -1 2\n', 'ctypes: the same');
});
