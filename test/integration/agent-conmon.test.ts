// Containers under conmon, as root with the host's runc and conmon: exit codes, CRI logs,
// survival across a "restarted agent" (a new runner over the same roots), exits collected
// while no runner existed, and graceful stop.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { busyboxRootfs, ociConfigForBuild, readHostLimits } from '@flotilla/images';
import {
  ContainerRunner,
  parseCriLog,
  parseRuncList,
  readCriLog,
  readRuncStates,
  RuncStateReader,
  type LogEntry,
} from '@flotilla/agent';
import { silentLogger } from '@flotilla/common';
import { isPidAlive, makeRunDir, runCommand, waitFor } from '../lib/index.js';

const tools = ['/usr/sbin/runc', '/usr/bin/conmon'].every((p) => existsSync(p));
const skip =
  process.getuid?.() !== 0 ? { skip: 'needs root' } : !tools ? { skip: 'needs runc and conmon' } : {};

const run = makeRunDir('conmon');
const runcRoot = join(run, 'runc');
const stateDir = join(run, 'state');
const rootfs = join(run, 'rootfs');
const cgroupParent = `flotilla-test-${basename(run)}`;
const roots = { runcRoot, stateDir, logger: silentLogger };

t.teardown(() => {
  if (existsSync(runcRoot)) {
    for (const id of readdirSync(runcRoot)) {
      try {
        execFileSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
  // runc removes each container's cgroup; the parent is ours, removed with rmdir.
  for (const controller of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    const dir = join('/sys/fs/cgroup', controller, cgroupParent);
    if (existsSync(dir)) {
      try {
        execFileSync('rmdir', [dir]);
      } catch {
        // a controller that is a symlink to another (cpu,cpuacct) is removed through it
      }
    }
  }
  rmSync(run, { recursive: true, force: true });
});

let prepared = false;
/** A bundle running script with sh; the rootfs is shared read-only by all bundles. */
async function bundle(name: string, script: string, memoryLimit?: number): Promise<string> {
  if (!prepared) {
    await busyboxRootfs(rootfs);
    prepared = true;
  }
  const dir = join(run, 'bundles', name);
  await mkdir(dir, { recursive: true });
  const spec = ociConfigForBuild({
    args: ['sh', '-c', script],
    env: ['PATH=/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0 },
    rootfs,
    cgroupsPath: `/${cgroupParent}/${name}`,
    hostLimits: await readHostLimits(),
    hostname: name,
  });
  spec.root = { path: rootfs, readonly: true };
  if (memoryLimit !== undefined && spec.linux?.resources) {
    // No swap either, or the cgroup would page out instead of hitting its limit.
    Object.assign(spec.linux.resources, { memory: { limit: memoryLimit, swap: memoryLimit } });
  }
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

async function logsOf(path: string): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  for await (const e of readCriLog(path)) entries.push(e);
  return entries;
}

t.test('a container that writes to both streams and exits 3', skip, async (t) => {
  const runner = new ContainerRunner(roots);
  const b = await bundle('exit3', 'echo to-out; echo to-err >&2; exit 3');
  const created = await runner.run({ id: 'exit3', bundle: b });
  t.ok(created.pid > 0, 'the init pid');
  const exit = await runner.waitExit('exit3', 20_000);
  t.equal(exit?.exitCode, 3);
  t.equal(exit?.oomKilled, false);
  const state = await runner.state('exit3');
  t.match(state, { status: 'exited', exitCode: 3, reason: 'Error' });
  const entries = await waitFor('both lines in the log', async () => {
    const e = await logsOf(created.logPath);
    return e.length >= 2 ? e : undefined;
  });
  t.same(entries.map((e) => [e.stream, e.text]).sort(), [
    ['stderr', 'to-err'],
    ['stdout', 'to-out'],
  ]);
  const tail: LogEntry[] = [];
  for await (const e of readCriLog(created.logPath, { tail: 1 })) tail.push(e);
  t.same(
    tail.map((e) => e.text),
    [entries[entries.length - 1]?.text],
    'tail 1 is the last entry',
  );
  await runner.remove('exit3');
  t.match(await runner.state('exit3'), { status: 'unknown' }, 'removed: nothing left');
  t.notOk(existsSync(join(stateDir, 'exits', 'exit3')), 'exit file removed');
});

t.test("a command that does not exist fails create with runc's reason", skip, async (t) => {
  const runner = new ContainerRunner(roots);
  const b = await bundle('nocmd', 'true');
  const spec = JSON.parse(await readFile(join(b, 'config.json'), 'utf8')) as { process: { args: string[] } };
  spec.process.args = ['/bin/no-such-command'];
  await writeFile(join(b, 'config.json'), JSON.stringify(spec));
  await t.rejects(runner.run({ id: 'nocmd', bundle: b }), {
    code: 'FailedPrecondition',
    message: /nocmd could not be created.*no-such-command/s,
  });
  await runner.remove('nocmd');
});

t.test('containers outlive their runner; a new runner re-adopts them and collects exits', skip, async (t) => {
  let first: ContainerRunner | undefined = new ContainerRunner(roots);
  const b1 = await bundle('long1', 'sleep 1000');
  const b2 = await bundle('long2', 'sleep 1000');
  const c1 = await first.run({ id: 'long1', bundle: b1 });
  await first.run({ id: 'long2', bundle: b2 });
  first = undefined; // the "agent" is gone; conmon is not its child
  t.equal(first, undefined);

  const second = new ContainerRunner(roots);
  const listed = await second.list();
  const long = listed.filter((s) => s.id.startsWith('long'));
  t.same(
    long.map((s) => [s.id, s.status]),
    [
      ['long1', 'running'],
      ['long2', 'running'],
    ],
    'both running, once each',
  );
  t.match(await second.state('long1'), { status: 'running', pid: c1.pid });
  t.ok(isPidAlive(c1.pid), 'the same process');

  // long2 ends while no runner exists (SIGKILL: sleep as pid 1 has no SIGTERM handler).
  const killed = await runCommand('runc', ['--root', runcRoot, 'kill', 'long2', 'KILL']);
  t.equal(killed.code, 0, killed.stderr);
  await waitFor(
    'conmon to record long2 exit',
    () => existsSync(join(stateDir, 'exits', 'long2')) || undefined,
  );

  const third = new ContainerRunner(roots);
  const after = await third.list();
  t.match(
    after.find((s) => s.id === 'long2'),
    { status: 'exited', exitCode: 137, reason: 'Error' },
  );
  t.match(
    after.find((s) => s.id === 'long1'),
    { status: 'running' },
  );
  const stopped = await third.stop('long1', 0);
  t.equal(stopped.exitCode, 137, 'sleep as pid 1 ignores SIGTERM, so grace 0 means SIGKILL');
  await third.remove('long1');
  await third.remove('long2');
  t.same(
    (await third.list()).filter((s) => s.id.startsWith('long')),
    [],
  );
});

t.test('readRuncStates says what runc list says: created, running, stopped', skip, async (t) => {
  const b = await bundle('states', 'sleep 1000');
  const id = 'states';
  const listed = async (): Promise<string> => {
    const res = await runCommand('runc', ['--root', runcRoot, 'list', '--format', 'json']);
    t.equal(res.code, 0, res.stderr);
    return JSON.stringify(parseRuncList(runcRoot, res.stdout).filter((e) => e.id === id));
  };
  // A reader kept across the steps (its state.json cache must notice each rewrite) and a fresh one.
  const kept = new RuncStateReader(runcRoot);
  const ours = async (): Promise<string> => {
    const fresh = JSON.stringify((await readRuncStates(runcRoot)).filter((e) => e.id === id));
    t.equal(
      JSON.stringify((await kept.list()).filter((e) => e.id === id)),
      fresh,
      'the cached reader agrees',
    );
    return fresh;
  };
  t.teardown(() => runCommand('runc', ['--root', runcRoot, 'delete', '--force', id]).then(() => undefined));

  const created = await runCommand('runc', ['--root', runcRoot, 'create', '--bundle', b, id]);
  t.equal(created.code, 0, created.stderr);
  t.match(JSON.parse(await ours()), [{ id, status: 'created' }]);
  t.equal(await ours(), await listed(), 'created');

  t.equal((await runCommand('runc', ['--root', runcRoot, 'start', id])).code, 0);
  t.match(JSON.parse(await ours()), [{ id, status: 'running' }]);
  t.equal(await ours(), await listed(), 'running');

  t.equal((await runCommand('runc', ['--root', runcRoot, 'kill', id, 'KILL'])).code, 0);
  await waitFor('the container to stop', async () => (await ours()).includes('"stopped"') || undefined);
  t.equal(await ours(), await listed(), 'stopped');

  t.equal((await runCommand('runc', ['--root', runcRoot, 'delete', id])).code, 0);
  t.equal(await ours(), '[]', 'deleted');
  t.same(await readRuncStates(join(run, 'no-such-root')), [], 'a missing root lists nothing');
});

t.test('a container past its memory limit is recorded as OOMKilled', skip, async (t) => {
  const runner = new ContainerRunner(roots);
  // A shell variable that doubles until the 16 MiB cgroup limit kills the shell.
  const b = await bundle('oom', 'x=a; while true; do x="$x$x"; done', 16 * 1024 * 1024);
  await runner.run({ id: 'oom', bundle: b });
  const exit = await runner.waitExit('oom', 20_000);
  t.equal(exit?.exitCode, 137, 'SIGKILLed by the kernel');
  t.equal(exit?.oomKilled, true);
  t.match(await runner.state('oom'), { status: 'exited', reason: 'OOMKilled' });
  await runner.remove('oom');
});

t.test('conmon rotates the log past logSizeMax, keeping the newest lines', skip, async (t) => {
  const runner = new ContainerRunner(roots);
  const b = await bundle('chatty', 'i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done');
  const created = await runner.run({ id: 'chatty', bundle: b, logSizeMax: 8192 });
  t.equal((await runner.waitExit('chatty', 20_000))?.exitCode, 0);
  const size = statSync(created.logPath).size;
  t.ok(size <= 8192, `the log file holds ${size} bytes, at most the limit`);
  const entries = await logsOf(created.logPath);
  t.equal(entries[entries.length - 1]?.text, 'line-1999', 'the newest line is kept');
  t.ok(entries.length < 2000, 'older lines were rotated away');
  await runner.remove('chatty');
});

t.test('stop: SIGTERM handled within the grace, ignored then SIGKILL', skip, async (t) => {
  const runner = new ContainerRunner(roots);
  const polite = await bundle(
    'polite',
    "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
  );
  const stubborn = await bundle('stubborn', "trap '' TERM; echo ready; while true; do sleep 0.1; done");
  const p = await runner.run({ id: 'polite', bundle: polite });
  const s = await runner.run({ id: 'stubborn', bundle: stubborn });
  for (const c of [p, s]) {
    await waitFor(
      `${c.id} ready`,
      async () => (await logsOf(c.logPath)).some((e) => e.text === 'ready') || undefined,
    );
  }
  const started = Date.now();
  const politeExit = await runner.stop('polite', 10);
  t.equal(politeExit.exitCode, 0, 'the trap exited 0');
  t.ok(Date.now() - started < 9_000, 'well before the grace ran out');
  t.ok(
    (await logsOf(p.logPath)).some((e) => e.text === 'bye'),
    'the trap ran',
  );

  const before = Date.now();
  const stubbornExit = await runner.stop('stubborn', 1);
  t.equal(stubbornExit.exitCode, 137, 'SIGKILLed');
  t.ok(Date.now() - before >= 1_000, 'not before the grace');
  await runner.remove('polite');
  await runner.remove('stubborn');
});

t.test('readCriLog follows a file as it grows and through rotation', async (t) => {
  const path = join(run, 'follow.log');
  await writeFile(path, '2026-11-24T01:00:00Z stdout F one\n2026-11-24T01:00:01Z stdout P tw');
  const controller = new AbortController();
  const seen: string[] = [];
  const reading = (async () => {
    for await (const e of readCriLog(path, { follow: true, signal: controller.signal, pollMs: 20 })) {
      seen.push(e.text);
    }
  })();
  await waitFor('the first line', () => seen.includes('one') || undefined);
  await appendFile(path, '\n2026-11-24T01:00:02Z stdout F o\n');
  await waitFor('the joined second line', () => seen.includes('two') || undefined);
  // Rotation as conmon does it: a new file renamed over the old one.
  await writeFile(`${path}.new`, '2026-11-24T01:00:03Z stderr F three\n');
  execFileSync('mv', [`${path}.new`, path]);
  await waitFor('the line of the new file', () => seen.includes('three') || undefined);
  controller.abort();
  await reading;
  t.same(seen, ['one', 'two', 'three']);
  t.same(
    parseCriLog('2026-11-24T01:00:00Z stdout F x').map((e) => e.text),
    ['x'],
  );
});
