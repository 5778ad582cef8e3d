import t from 'tap';
import {
  CriAssembler,
  conmonArgs,
  containerPaths,
  decideRuncStatus,
  decideState,
  joinStates,
  parseCriLine,
  parseCriLog,
  parseExitFile,
  parseInitProcess,
  parseProcPidStat,
  parseRuncList,
  tailEntries,
  validateContainerId,
  type ExitRecord,
} from '@flotilla/agent';

const roots = { runcRoot: '/run/flt-test/runc', stateDir: '/run/flt-test/state' };

t.test('parseCriLine reads both timestamp styles, streams and the partial flag', async (t) => {
  const conmon = parseCriLine('2026-11-24T01:52:43.972808173+00:00 stdout F out');
  t.match(conmon, {
    stream: 'stdout',
    partial: false,
    text: 'out',
    time: '2026-11-24T01:52:43.972808173+00:00',
  });
  t.equal(conmon?.timeMs, Date.UTC(2026, 10, 24, 1, 52, 43, 972));
  const kubelet = parseCriLine('2026-11-24T01:02:03.456789012Z stderr P half ');
  t.match(kubelet, { stream: 'stderr', partial: true, text: 'half ' });
  t.equal(parseCriLine('2026-11-24T01:02:03Z stdout F ')?.text, '', 'an empty line');
  t.equal(parseCriLine('2026-11-24T01:02:03Z stdout F')?.text, '', 'an empty line without its space');
  t.equal(parseCriLine('2026-11-24T01:02:03Z stdout F  two  spaces ')?.text, ' two  spaces ');
  t.equal(parseCriLine('not a log line'), undefined);
  t.equal(parseCriLine('2026-11-24T01:02:03Z stdin F x'), undefined, 'unknown stream');
  t.equal(parseCriLine('2026-11-24T01:02:03Z stdout X x'), undefined, 'unknown flag');
  t.equal(parseCriLine('2026-13-45T01:02:03Z stdout F x'), undefined, 'impossible date');
});

t.test('partial lines are joined per stream; the first piece gives the time', async (t) => {
  const text = [
    '2026-11-24T01:00:00.000000001Z stdout P hel',
    '2026-11-24T01:00:01Z stderr F oops',
    '2026-11-24T01:00:02Z stdout P lo ',
    '2026-11-24T01:00:03Z stdout F world',
    'garbage',
    '2026-11-24T01:00:04Z stdout P unfinished',
    '',
  ].join('\n');
  const entries = parseCriLog(text);
  t.same(
    entries.map((e) => [e.stream, e.text, e.time]),
    [
      ['stderr', 'oops', '2026-11-24T01:00:01Z'],
      ['stdout', 'hello world', '2026-11-24T01:00:00.000000001Z'],
      ['stdout', 'unfinished', '2026-11-24T01:00:04Z'],
    ],
  );
  t.equal(parseCriLog(text, { flush: false }).length, 2, 'an open partial run is held back without flush');
  const assembler = new CriAssembler();
  const p = parseCriLine('2026-11-24T01:00:00Z stdout P a');
  t.ok(p);
  if (p) t.equal(assembler.push(p), undefined);
  t.same(
    assembler.flush().map((e) => e.text),
    ['a'],
  );
  t.same(assembler.flush(), [], 'flush empties');
});

t.test('tailEntries keeps the last n', async (t) => {
  const entries = parseCriLog(['a', 'b', 'c'].map((x) => `2026-11-24T01:00:00Z stdout F ${x}`).join('\n'));
  t.same(
    tailEntries(entries, 2).map((e) => e.text),
    ['b', 'c'],
  );
  t.same(tailEntries(entries, 0), []);
  t.equal(tailEntries(entries, undefined).length, 3);
  t.equal(tailEntries(entries, 10).length, 3);
});

t.test('parseExitFile reads conmon exit codes and names bad files', async (t) => {
  t.equal(parseExitFile('c1', '3'), 3);
  t.equal(parseExitFile('c1', '137\n'), 137);
  t.throws(() => parseExitFile('c1', 'abc'), { code: 'Internal', message: /container c1.*"abc"/ });
});

t.test('decideState: the exit file wins, runc status otherwise', async (t) => {
  const exit: ExitRecord = { exitCode: 0, finishedAt: new Date(0), oomKilled: false };
  t.match(decideState('a', { id: 'a', status: 'running', pid: 5 }, exit), {
    status: 'exited',
    reason: 'Completed',
  });
  t.match(decideState('a', undefined, { ...exit, exitCode: 2 }), {
    status: 'exited',
    reason: 'Error',
    exitCode: 2,
  });
  t.match(decideState('a', undefined, { ...exit, exitCode: 137, oomKilled: true }), { reason: 'OOMKilled' });
  t.same(decideState('a', { id: 'a', status: 'running', pid: 5 }, undefined), {
    status: 'running',
    id: 'a',
    pid: 5,
    paused: false,
  });
  t.match(decideState('a', { id: 'a', status: 'paused', pid: 5 }, undefined), {
    status: 'running',
    paused: true,
  });
  t.match(decideState('a', { id: 'a', status: 'created', pid: 5 }, undefined), { status: 'created', pid: 5 });
  t.match(decideState('a', { id: 'a', status: 'stopped', pid: 0 }, undefined), {
    status: 'unknown',
    reason: /not recorded/,
  });
  t.match(decideState('a', undefined, undefined), { status: 'unknown', reason: /neither/ });
});

t.test('joinStates lists every container once, exits without runc entries too', async (t) => {
  const exits = new Map<string, ExitRecord>([
    ['b', { exitCode: 143, finishedAt: new Date(0), oomKilled: false }],
    ['c', { exitCode: 0, finishedAt: new Date(0), oomKilled: false }],
  ]);
  const states = joinStates(
    [
      { id: 'b', status: 'stopped', pid: 0 },
      { id: 'a', status: 'running', pid: 9 },
    ],
    exits,
  );
  t.same(
    states.map((s) => [s.id, s.status]),
    [
      ['a', 'running'],
      ['b', 'exited'],
      ['c', 'exited'],
    ],
  );
});

t.test('parseRuncList', async (t) => {
  t.same(parseRuncList('/r', 'null\n'), []);
  t.same(parseRuncList('/r', ''), []);
  t.same(parseRuncList('/r', '[{"id":"x","status":"running","pid":3,"bundle":"/b"},{"nope":1}]'), [
    { id: 'x', status: 'running', pid: 3 },
  ]);
  t.throws(() => parseRuncList('/r', '{'), { message: /invalid JSON/ });
  t.throws(() => parseRuncList('/r', '{}'), { message: /not a list/ });
});

t.test('container IDs and paths', async (t) => {
  t.doesNotThrow(() => validateContainerId('pod-1_web.0'));
  for (const bad of ['', '../x', 'a/b', '-a', 'a'.repeat(65)]) {
    t.throws(() => validateContainerId(bad), { code: 'InvalidArgument', context: { field: 'id' } }, bad);
  }
  const paths = containerPaths(roots, 'web');
  t.equal(paths.exitFile, '/run/flt-test/state/exits/web');
  t.equal(paths.persistDir, '/run/flt-test/state/containers/web');
});

t.test('conmonArgs names runc, the root, the bundle, the log and the exit dir', async (t) => {
  const args = conmonArgs({ id: 'web', bundle: '/b', logPath: '/l/web.log', runc: '/usr/sbin/runc', roots });
  const after = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
  t.equal(after('--api-version'), '1');
  t.equal(after('-c'), 'web');
  t.equal(after('-r'), '/usr/sbin/runc');
  t.equal(after('-b'), '/b');
  t.equal(after('-l'), 'k8s-file:/l/web.log');
  t.equal(after('--exit-dir'), '/run/flt-test/state/exits');
  t.equal(after('--runtime-arg'), '--root=/run/flt-test/runc');
  t.notOk(args.includes('--log-size-max'));
  const rotated = conmonArgs({ id: 'web', bundle: '/b', logPath: '/l', runc: 'r', roots, logSizeMax: 1024 });
  t.equal(rotated[rotated.indexOf('--log-size-max') + 1], '1024');
  t.throws(() => conmonArgs({ id: 'web', bundle: '/b', logPath: '/l', runc: 'r', roots, logSizeMax: 0 }), {
    code: 'InvalidArgument',
    message: /log size limit 0/,
  });
});

t.test('parseProcPidStat reads state and start time past a command with spaces and parens', async (t) => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = 'S';
  fields[19] = '1283456';
  t.same(parseProcPidStat(`9539 (sleep (x) y) ${fields.join(' ')}`), { state: 'S', startTime: 1283456 });
  t.equal(parseProcPidStat('garbage'), undefined);
  t.equal(parseProcPidStat('1 (x) S'), undefined, 'too short');
});

t.test("decideRuncStatus follows runc's rule", async (t) => {
  const alive = { state: 'S', startTime: 100 };
  t.equal(decideRuncStatus(100, alive, true), 'created', 'exec fifo still there');
  t.equal(decideRuncStatus(100, alive, false), 'running');
  t.equal(decideRuncStatus(100, undefined, false), 'stopped', 'no process');
  t.equal(decideRuncStatus(100, { state: 'S', startTime: 101 }, false), 'stopped', 'pid reused');
  t.equal(decideRuncStatus(100, { state: 'Z', startTime: 100 }, false), 'stopped', 'zombie');
  t.equal(decideRuncStatus(100, { state: 'X', startTime: 100 }, false), 'stopped', 'dead');
});

t.test('parseInitProcess takes the init pid and start time from state.json', async (t) => {
  t.same(parseInitProcess('{"id":"x","init_process_pid":9539,"init_process_start":1283456,"config":{}}'), {
    pid: 9539,
    start: 1283456,
  });
  t.same(parseInitProcess('{"id":"x"}'), { pid: 0, start: -1 }, 'no process recorded: stopped');
  t.equal(parseInitProcess('{"id":'), undefined, 'torn');
});
