import t from 'tap';
import {
  buildRlimits,
  capabilitiesFor,
  clampRlimits,
  dockerDefaultCapabilities,
  mountCommands,
  ociConfigForBuild,
  parseProcLimits,
  resolveChown,
  resolveUser,
  type BuildContainerInput,
  type HostLimits,
} from '@flotilla/images';

const procLimits = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max stack size            8388608              unlimited            bytes
Max processes             96364                96364                processes
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
Max realtime timeout      unlimited            unlimited            us
`;

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1001:app:/home/app:/bin/sh',
  '# a comment:x:5:5',
  'broken:x:notanumber:1',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
const group = [
  'root:x:0:',
  'daemon:x:1:',
  'staff:x:50:app,daemon',
  'appgroup:x:1001:',
  'docker:x:999:app',
  'nogroup:x:65534:',
  '',
].join('\n');

function makeInput(overrides: Partial<BuildContainerInput> = {}): BuildContainerInput {
  return {
    args: ['/bin/sh', '-c', 'echo hi'],
    env: ['PATH=/usr/bin:/bin', 'A=1'],
    cwd: '/srv',
    user: { uid: 0, gid: 0 },
    rootfs: '/var/lib/flotilla/build/1-ab/rootfs',
    cgroupsPath: '/flotilla-build/build-1-ab-1',
    hostLimits: parseProcLimits(procLimits),
    ...overrides,
  };
}

t.test('parseProcLimits reads /proc/self/limits, unlimited as Infinity', async (t) => {
  const limits = parseProcLimits(procLimits);
  t.same(limits.get('RLIMIT_NOFILE'), { soft: 20000, hard: 20000 });
  t.same(limits.get('RLIMIT_STACK'), { soft: 8388608, hard: Infinity });
  t.same(limits.get('RLIMIT_CPU'), { soft: Infinity, hard: Infinity });
  t.same(limits.get('RLIMIT_NPROC'), { soft: 96364, hard: 96364 });
  t.same(limits.get('RLIMIT_RTTIME'), { soft: Infinity, hard: Infinity });
  t.equal(limits.has('Limit'), false, 'the header is not a limit');
  t.equal(parseProcLimits('').size, 0);
});

t.test('rlimits never ask for more than the host hard limit', async (t) => {
  const host: HostLimits = new Map([['RLIMIT_NOFILE', { soft: 1024, hard: 20000 }]]);
  t.same(clampRlimits([{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }], host), [
    { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 },
  ]);
  t.same(
    clampRlimits([{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 8192 }], host),
    [{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 8192 }],
    'below the host limit: unchanged',
  );
  t.same(
    clampRlimits(
      [{ type: 'RLIMIT_NOFILE', soft: 50000, hard: 60000 }],
      new Map([['RLIMIT_NOFILE', { soft: 1, hard: 30000 }]]),
    ),
    [{ type: 'RLIMIT_NOFILE', soft: 30000, hard: 30000 }],
    'soft is lowered with hard',
  );
  t.same(
    clampRlimits([{ type: 'RLIMIT_NPROC', soft: 10, hard: 20 }], host),
    [{ type: 'RLIMIT_NPROC', soft: 10, hard: 20 }],
    'a limit the host does not report stays',
  );
  t.same(
    clampRlimits(buildRlimits, new Map([['RLIMIT_NOFILE', { soft: Infinity, hard: Infinity }]])),
    [...buildRlimits],
    'an unlimited host grants what is asked',
  );
  const spec = ociConfigForBuild(makeInput());
  t.same(
    spec.process.rlimits,
    [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }],
    'the config uses the clamp',
  );
});

t.test('the build container config: hardening, namespaces, mounts', async (t) => {
  const spec = ociConfigForBuild(makeInput());
  t.equal(spec.ociVersion, '1.0.2');
  t.same(spec.process.args, ['/bin/sh', '-c', 'echo hi']);
  t.same(spec.process.env, ['PATH=/usr/bin:/bin', 'A=1']);
  t.equal(spec.process.cwd, '/srv');
  t.equal(spec.process.terminal, false);
  t.equal(spec.process.noNewPrivileges, true, 'no-new-privileges');
  t.same(spec.root, { path: '/var/lib/flotilla/build/1-ab/rootfs', readonly: false });
  t.equal(spec.hostname, 'flotilla-build');
  t.same(
    spec.linux.namespaces.map((n) => n.type).sort(),
    ['ipc', 'mount', 'network', 'pid', 'uts'],
    'new pid, ipc, uts, mount and network namespaces',
  );
  t.notOk(
    spec.linux.namespaces.some((n) => n.path !== undefined),
    'no namespace is joined: the network is a new one, with only loopback',
  );
  t.equal(spec.linux.cgroupsPath, '/flotilla-build/build-1-ab-1');
  t.same(
    spec.linux.resources.devices,
    [{ allow: false, access: 'rwm' }],
    'devices denied but for runc defaults',
  );
  t.same(
    spec.mounts.map((m) => [m.destination, m.type]),
    [
      ['/proc', 'proc'],
      ['/dev', 'tmpfs'],
      ['/dev/pts', 'devpts'],
      ['/dev/shm', 'tmpfs'],
      ['/dev/mqueue', 'mqueue'],
      ['/sys', 'sysfs'],
    ],
  );
  t.ok(spec.mounts.find((m) => m.destination === '/sys')?.options.includes('ro'), '/sys is read-only');
  t.ok(spec.mounts.find((m) => m.destination === '/proc')?.options.includes('nosuid'));
  for (const path of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware', '/proc/scsi']) {
    t.ok(spec.linux.maskedPaths.includes(path), `${path} masked`);
  }
  for (const path of ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs']) {
    t.ok(spec.linux.readonlyPaths.includes(path), `${path} read-only`);
  }
  t.same(ociConfigForBuild(makeInput({ hostname: 'other' })).hostname, 'other');
  t.same(ociConfigForBuild(makeInput({ pidsLimit: 512 })).linux.resources.pids, { limit: 512 });
  t.notOk('pids' in spec.linux.resources, 'no pids limit unless asked');
});

t.test("Docker's default capabilities: all of them for root, bounding only otherwise", async (t) => {
  t.equal(dockerDefaultCapabilities.length, 14);
  for (const cap of ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_SETUID', 'CAP_NET_BIND_SERVICE', 'CAP_KILL']) {
    t.ok(dockerDefaultCapabilities.includes(cap), cap);
  }
  for (const cap of ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_MODULE']) {
    t.notOk(dockerDefaultCapabilities.includes(cap), `not ${cap}`);
  }
  const root = capabilitiesFor(0);
  t.same(root.bounding, dockerDefaultCapabilities);
  t.same(root.effective, dockerDefaultCapabilities);
  t.same(root.permitted, dockerDefaultCapabilities);
  t.same(root.inheritable, []);
  t.same(root.ambient, []);
  const user = capabilitiesFor(1000);
  t.same(user.bounding, dockerDefaultCapabilities);
  t.same([user.effective, user.permitted, user.inheritable, user.ambient], [[], [], [], []]);
  t.same(ociConfigForBuild(makeInput({ user: { uid: 1000, gid: 1000 } })).process.capabilities.effective, []);
});

t.test('ociConfigForBuild refuses what runc cannot run', async (t) => {
  t.throws(() => ociConfigForBuild(makeInput({ args: [] })), {
    code: 'InvalidArgument',
    message: /needs a command/,
  });
  t.throws(() => ociConfigForBuild(makeInput({ cwd: 'srv' })), { message: /"srv" must be absolute/ });
});

t.test('resolveUser reads USER the way runc does', async (t) => {
  const files = { passwd, group };
  const cases: [string, object][] = [
    ['', { uid: 0, gid: 0 }],
    ['root', { uid: 0, gid: 0 }],
    ['0', { uid: 0, gid: 0 }],
    ['app', { uid: 1000, gid: 1001, additionalGids: [50, 999] }],
    ['1000', { uid: 1000, gid: 1001, additionalGids: [50, 999] }],
    ['daemon', { uid: 1, gid: 1, additionalGids: [50] }],
    ['app:staff', { uid: 1000, gid: 50 }],
    ['app:7', { uid: 1000, gid: 7 }],
    ['4242', { uid: 4242, gid: 0 }],
    ['4242:4343', { uid: 4242, gid: 4343 }],
    ['nobody', { uid: 65534, gid: 65534 }],
  ];
  for (const [user, want] of cases) t.same(resolveUser(user, files), want, JSON.stringify(user));
  t.same(resolveUser('', {}), { uid: 0, gid: 0 }, 'an image without /etc/passwd runs as root');
  t.same(resolveUser('12:34', {}), { uid: 12, gid: 34 }, 'numeric ids need no files');
  t.throws(() => resolveUser('ghost', files), { code: 'NotFound', message: /unable to find user ghost/ });
  t.throws(
    () => resolveUser('broken', files),
    { message: /unable to find user broken/ },
    'a malformed line is no user',
  );
  t.throws(() => resolveUser('app:ghosts', files), {
    code: 'NotFound',
    message: /unable to find group ghosts/,
  });
  t.throws(() => resolveUser('app', {}), { message: /unable to find user app/ });
});

t.test("resolveChown: without a group the gid is the uid (Docker's COPY rule)", async (t) => {
  const files = { passwd, group };
  t.same(resolveChown('app', files), { uid: 1000, gid: 1000 });
  t.same(resolveChown('55', files), { uid: 55, gid: 55 });
  t.same(resolveChown('app:staff', files), { uid: 1000, gid: 50 });
  t.same(resolveChown('nobody:nogroup', files), { uid: 65534, gid: 65534 });
  t.same(resolveChown('10:20', {}), { uid: 10, gid: 20 });
  t.throws(() => resolveChown('ghost', files), { message: /unable to find user ghost/ });
  t.throws(() => resolveChown('app:ghosts', files), { message: /unable to find group ghosts/ });
});

t.test('mountCommands turns a MountSpec into mount(8) arguments', async (t) => {
  t.same(
    mountCommands(
      { type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b', 'upperdir=/u', 'workdir=/w'] },
      '/t',
    ),
    [['-t', 'overlay', '-o', 'lowerdir=/a:/b,upperdir=/u,workdir=/w', 'overlay', '/t']],
  );
  t.same(mountCommands({ type: 'bind', source: '/s', options: ['rbind', 'rw'] }, '/t'), [
    ['--rbind', '/s', '/t'],
  ]);
  t.same(mountCommands({ type: 'bind', source: '/s', options: ['rbind', 'ro'] }, '/t'), [
    ['--rbind', '/s', '/t'],
    ['-o', 'remount,bind,ro', '/t'],
  ]);
});
