// The pure decisions of the supervisor and of `deploy down`: restart back-off, which
// mounts to undo, and whether a recorded PID still runs what was started.
import t from 'tap';
import {
  backoff,
  cmdlineMatches,
  isSupervisorCmdline,
  listeningInodes,
  mountsUnder,
  nextFailureCount,
  restartDelay,
} from '@flotilla/deploy';

t.test('restartDelay starts at 1 s and doubles up to 30 s', async (t) => {
  const cases: Array<[number, number]> = [
    [0, 1_000],
    [1, 2_000],
    [2, 4_000],
    [3, 8_000],
    [4, 16_000],
    [5, 30_000],
    [6, 30_000],
    [31, 30_000],
    [1_000, 30_000],
  ];
  for (const [failures, ms] of cases)
    t.equal(restartDelay(failures), ms, `after ${failures} failures in a row`);
  t.same(backoff, { initialMs: 1_000, maxMs: 30_000, resetAfterMs: 60_000 });
});

t.test('restartDelay never shrinks as failures accumulate', async (t) => {
  let previous = 0;
  for (let failures = 0; failures < 100; failures++) {
    const delay = restartDelay(failures);
    t.ok(delay >= previous && delay <= backoff.maxMs, `${failures}: ${delay} ms`);
    previous = delay;
  }
});

t.test('nextFailureCount counts exits in a row and resets after a minute of running', async (t) => {
  const cases: Array<[number, number, number]> = [
    // previous, uptime, next
    [0, 0, 1],
    [0, 500, 1],
    [1, 2_000, 2],
    [4, 59_999, 5],
    [4, 60_000, 1],
    [9, 3_600_000, 1],
  ];
  for (const [previous, uptime, next] of cases) {
    t.equal(nextFailureCount(previous, uptime), next, `${previous} before, up ${uptime} ms`);
  }
});

t.test('a crash loop backs off 1, 2, 4, 8, 16, 30, 30 s, and a long run starts over', async (t) => {
  const delays: number[] = [];
  let failures = 0;
  for (const uptime of [100, 100, 100, 100, 100, 100, 100, 120_000, 100]) {
    failures = nextFailureCount(failures, uptime);
    delays.push(restartDelay(failures - 1));
  }
  t.same(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 1_000, 2_000]);
});

/** A /proc/self/mountinfo line with the mount point in field 5. */
function mountLine(id: number, point: string, fsType = 'overlay'): string {
  return `${id} 22 0:${id} / ${point} rw,relatime shared:1 - ${fsType} ${fsType} rw`;
}

t.test('mountsUnder finds the mount points at or below a directory, deepest first', async (t) => {
  const mountinfo = [
    mountLine(21, '/', 'ext4'),
    mountLine(22, '/proc', 'proc'),
    mountLine(30, '/data/fl', 'tmpfs'),
    mountLine(31, '/data/fl/containers/a/rootfs'),
    mountLine(32, '/data/fl/containers'),
    mountLine(33, '/data/flotsam', 'tmpfs'),
    mountLine(34, '/data', 'ext4'),
    '',
  ].join('\n');
  const cases: Array<[string, string[]]> = [
    ['/data/fl', ['/data/fl/containers/a/rootfs', '/data/fl/containers', '/data/fl']],
    ['/data/fl/', ['/data/fl/containers/a/rootfs', '/data/fl/containers', '/data/fl']],
    ['/data/fl/containers', ['/data/fl/containers/a/rootfs', '/data/fl/containers']],
    ['/data/f', []],
    ['/elsewhere', []],
  ];
  for (const [dir, points] of cases) t.same(mountsUnder(mountinfo, dir), points, dir);
});

t.test('mountsUnder decodes the octal escapes of mountinfo', async (t) => {
  const mountinfo = [mountLine(40, '/data/fl/with\\040space'), mountLine(41, '/data/fl/back\\134slash')].join(
    '\n',
  );
  t.same(mountsUnder(mountinfo, '/data/fl'), ['/data/fl/with space', '/data/fl/back\\slash']);
  t.same(mountsUnder(mountLine(42, '/data/my\\040fl/x'), '/data/my fl'), ['/data/my fl/x']);
});

t.test('mountsUnder lists a point mounted twice once', async (t) => {
  const mountinfo = [mountLine(50, '/data/fl/x'), mountLine(51, '/data/fl/x')].join('\n');
  t.same(mountsUnder(mountinfo, '/data/fl'), ['/data/fl/x']);
  t.same(mountsUnder('', '/data/fl'), [], 'no mounts at all');
});

t.test('cmdlineMatches: the recorded argv, with the executable compared by name', async (t) => {
  const recorded = ['/opt/bin/etcd', '--name', 'flotilla-local', '--data-dir', '/d/etcd'];
  const cases: Array<[string, string[], boolean]> = [
    ['the same argv', recorded, true],
    ['the executable by another path', ['etcd', '--name', 'flotilla-local', '--data-dir', '/d/etcd'], true],
    ['another data directory', ['/opt/bin/etcd', '--name', 'flotilla-local', '--data-dir', '/e/etcd'], false],
    ['another program', ['/usr/bin/vim', '--name', 'flotilla-local', '--data-dir', '/d/etcd'], false],
    ['an argument missing', recorded.slice(0, -1), false],
    ['an argument more', [...recorded, '--debug'], false],
    ['nothing', [], false],
  ];
  for (const [name, cmdline, expected] of cases) t.equal(cmdlineMatches(cmdline, recorded), expected, name);
  t.equal(cmdlineMatches([], []), false, 'an empty record matches nothing');
});

t.test('isSupervisorCmdline: only the supervisor of that data directory', async (t) => {
  const supervisor = [
    '/usr/bin/node',
    '/app/deploy/dist/local/supervisor.js',
    '--data-dir',
    '/d',
    '--api-port',
    '7443',
  ];
  const cases: Array<[string, string[], string, boolean]> = [
    ['our supervisor', supervisor, '/d', true],
    ['the supervisor of another directory', supervisor, '/e', false],
    ['a supervisor of a prefix of the directory', supervisor, '/d/sub', false],
    ['another script', ['/usr/bin/node', '/app/other/supervisor.js', '--data-dir', '/d'], '/d', false],
    ['no --data-dir', ['/usr/bin/node', '/app/deploy/dist/local/supervisor.js'], '/d', false],
    [
      '--data-dir without a value',
      ['/usr/bin/node', '/app/deploy/dist/local/supervisor.js', '--data-dir'],
      '/d',
      false,
    ],
    ['nothing', [], '/d', false],
  ];
  for (const [name, cmdline, dir, expected] of cases)
    t.equal(isSupervisorCmdline(cmdline, dir), expected, name);
});

t.test('listeningInodes finds the sockets listening on a port in /proc/net/tcp', async (t) => {
  const procNetTcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1D13 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:1D13 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1',
    '   2: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0',
    '',
  ].join('\n');
  t.same(listeningInodes(procNetTcp, 7443), ['111'], 'listening only, not established');
  t.same(listeningInodes(procNetTcp, 5000), ['333']);
  t.same(listeningInodes(procNetTcp, 80), []);
  const tcp6 =
    '  sl  local_address                         remote_address                        st\n' +
    '   0: 00000000000000000000000001000000:1D13 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1';
  t.same(listeningInodes(tcp6, 7443), ['444'], 'IPv6 addresses');
});
