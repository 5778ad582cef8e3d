import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFlotillaError } from '@flotilla/common';
import {
  containerArgv,
  containerOciConfig,
  containerResources,
  expandReferences,
  loadDefaultSeccomp,
  mergeEnvironment,
  parseByteQuantity,
  parseCpuMillis,
  seccompForContainer,
  specEnvironment,
  type ContainerConfigInput,
  type SeccompProfile,
} from '@flotilla/agent';
import { dockerDefaultCapabilities, type ImageConfig } from '@flotilla/images';
import type { Container, Pod } from '@flotilla/proto';

function container(overrides: Partial<Container> = {}): Container {
  return {
    name: 'app',
    image: 'busybox',
    command: [],
    args: [],
    workingDir: '',
    ports: [],
    env: [],
    resources: undefined,
    imagePullPolicy: 'IfNotPresent',
    volumeMounts: [],
    livenessProbe: undefined,
    readinessProbe: undefined,
    startupProbe: undefined,
    stdin: false,
    stdinOnce: false,
    tty: false,
    ...overrides,
  };
}

function pod(name = 'web-1', uid = 'uid-123'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid,
      resourceVersion: '',
      generation: 0,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: {
      containers: [],
      restartPolicy: 'Always',
      nodeName: 'n1',
      nodeSelector: {},
      hostname: '',
      volumes: [],
      stopped: false,
      tolerations: [],
      affinity: undefined,
    },
    status: undefined,
  };
}

function image(config: ImageConfig['config'] = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } };
}

function input(overrides: Partial<ContainerConfigInput> = {}): ContainerConfigInput {
  return {
    pod: pod(),
    container: container({ command: ['/bin/true'] }),
    image: image(),
    rootfs: '/var/lib/flotilla/rootfs',
    netnsPath: '/run/netns/flotilla-test-web',
    hostLimits: new Map([
      ['RLIMIT_NOFILE', { soft: 1024, hard: 524288 }],
      ['RLIMIT_NPROC', { soft: 50000, hard: Infinity }],
    ]),
    cgroupParent: '/flotilla',
    ...overrides,
  };
}

t.test("Kubernetes' command/args table", async (t) => {
  const img = { Entrypoint: ['/ep-1', 'ep-2'], Cmd: ['cmd-1', 'cmd-2'] };
  const cases: Array<[string, string[], string[], string[]]> = [
    ['neither: Entrypoint + Cmd', [], [], ['/ep-1', 'ep-2', 'cmd-1', 'cmd-2']],
    ['command only: command, Cmd ignored', ['/c'], [], ['/c']],
    ['args only: Entrypoint + args', [], ['a1'], ['/ep-1', 'ep-2', 'a1']],
    ['both: command + args', ['/c'], ['a1', 'a2'], ['/c', 'a1', 'a2']],
  ];
  for (const [name, command, args, want] of cases) {
    t.same(containerArgv({ command, args }, img, new Map(), 'pod/p/container/c'), want, name);
  }
  t.same(containerArgv({ command: [], args: [] }, { Cmd: ['sh'] }, new Map(), 'x'), ['sh'], 'Cmd alone');
  t.same(
    containerArgv({ command: [], args: ['x'] }, { Entrypoint: null, Cmd: ['sh'] }, new Map(), 'x'),
    ['x'],
    'args without an Entrypoint runs args',
  );
});

t.test('an empty argv is an InvalidArgument naming the container', async (t) => {
  const err = t.throws(() => containerOciConfig(input({ container: container({ name: 'side' }) })));
  t.ok(isFlotillaError(err, 'InvalidArgument'), 'InvalidArgument');
  t.match((err as Error).message, /pod\/web-1\/container\/side: nothing to run/);
  t.throws(
    () => containerArgv({ command: [], args: [] }, { Entrypoint: null, Cmd: null }, new Map(), 'c'),
    /nothing to run/,
  );
});

t.test('$(VAR) expansion follows Kubernetes', async (t) => {
  const vars = new Map([
    ['A', 'alpha'],
    ['B', 'b$(A)'],
  ]);
  const cases: Array<[string, string]> = [
    ['$(A)', 'alpha'],
    ['x-$(A)-y', 'x-alpha-y'],
    ['$(UNKNOWN)', '$(UNKNOWN)'],
    ['$$(A)', '$(A)'],
    ['$$$(A)', '$alpha'],
    ['$$', '$'],
    ['$HOME', '$HOME'],
    ['$(A', '$(A'],
    ['end$', 'end$'],
    ['$(A)$(A)', 'alphaalpha'],
    ['$()', '$()'],
    ['$(B)', 'b$(A)'],
  ];
  for (const [text, want] of cases) t.equal(expandReferences(text, vars), want, JSON.stringify(text));
  const env = specEnvironment([
    { name: 'HOST', value: 'db' },
    { name: 'URL', value: 'http://$(HOST):5432' },
    { name: 'LATER', value: '$(AFTER)' },
    { name: 'AFTER', value: 'x' },
  ]);
  t.equal(env.get('URL'), 'http://db:5432', 'env values expand against earlier ones');
  t.equal(env.get('LATER'), '$(AFTER)', 'not against later ones');
  t.same(
    containerArgv({ command: ['echo', '$(URL)'], args: [] }, {}, env, 'c'),
    ['echo', 'http://db:5432'],
    'command elements are expanded',
  );
});

t.test('env: image first, spec overrides by name in place, PATH default', async (t) => {
  t.same(
    mergeEnvironment(
      [],
      ['PATH=/bin', 'A=1', 'B=2'],
      new Map([
        ['A', 'x'],
        ['C', '3'],
      ]),
    ),
    ['PATH=/bin', 'A=x', 'B=2', 'C=3'],
  );
  t.same(mergeEnvironment([], ['A=1'], new Map()), [
    'A=1',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  ]);
  t.same(mergeEnvironment([], ['A=b=c', 'EMPTY'], new Map()).slice(0, 2), ['A=b=c', 'EMPTY=']);
  const cfg = containerOciConfig(
    input({
      container: container({ command: ['/x'], env: [{ name: 'GREETING', value: 'hi' }] }),
      image: image({ Env: ['GREETING=hello', 'PATH=/opt/bin'] }),
    }),
  );
  t.same(cfg.process.env, ['HOSTNAME=web-1', 'GREETING=hi', 'PATH=/opt/bin']);
});

t.test('workingDir: spec, else image, else /', async (t) => {
  const cwd = (spec: string, img?: string): string =>
    containerOciConfig(
      input({
        container: container({ command: ['/x'], workingDir: spec }),
        image: image(img === undefined ? {} : { WorkingDir: img }),
      }),
    ).process.cwd;
  t.equal(cwd('/spec', '/img'), '/spec');
  t.equal(cwd('', '/img'), '/img');
  t.equal(cwd(''), '/');
  t.equal(cwd('', ''), '/');
  t.throws(() => cwd('relative'), /workingDir "relative" must be absolute/);
});

t.test('quantities', async (t) => {
  const bytes: Array<[string, number]> = [
    ['256Mi', 256 * 1024 * 1024],
    ['1G', 1e9],
    ['512M', 512e6],
    ['500000000', 500000000],
    ['1Ki', 1024],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['1e3', 1000],
    ['0.5', 1],
    ['100m', 1],
    ['128k', 128000],
  ];
  for (const [text, want] of bytes) t.equal(parseByteQuantity(text, 'f'), want, text);
  const millis: Array<[string, number]> = [
    ['500m', 500],
    ['0.5', 500],
    ['2', 2000],
    ['0.1', 100],
    ['1.0005', 1001],
    ['250m', 250],
    ['1e-3', 1],
  ];
  for (const [text, want] of millis) t.equal(parseCpuMillis(text, 'f'), want, text);
  const err = t.throws(() => parseByteQuantity('12xb', 'resources.limits.memory'));
  t.equal(
    (err as Error).message,
    'resources.limits.memory: "12xb" is not a quantity; want e.g. 256Mi, 1G or 500000000',
  );
  t.ok(isFlotillaError(err, 'InvalidArgument'));
  for (const bad of ['', '-1', '1 Gi', 'Mi', '1.2.3', '1GiB', '1e999999', 'abc']) {
    t.throws(() => parseByteQuantity(bad, 'f'), /is not a quantity/, JSON.stringify(bad));
  }
  t.throws(
    () => parseCpuMillis('half', 'resources.limits.cpu'),
    /"half" is not a CPU quantity; want e.g. 500m/,
  );
  t.throws(() => parseByteQuantity('100Ei', 'f'), /too large/);
});

t.test('resources map to cgroup settings by the kubelet formulas', async (t) => {
  const res = (limits: Record<string, string>, requests: Record<string, string> = {}, pids?: number) =>
    containerResources(container({ resources: { limits, requests } }), 'pod/p/container/c', pids);
  const r = res({ memory: '256Mi', cpu: '500m' }, { cpu: '250m' });
  t.same(r.memory, { limit: 268435456, swap: 268435456 }, 'memory limit, no swap above it');
  t.same(r.cpu, { shares: 256, quota: 50000, period: 100000 });
  t.same(r.pids, { limit: 4096 }, 'default pids limit');
  t.same(res({ cpu: '2' }).cpu, { shares: 2048, quota: 200000, period: 100000 }, 'request defaults to limit');
  t.same(res({}).cpu, { shares: 2 }, 'no CPU asked: the minimum shares, no quota');
  t.equal(res({}).memory, undefined, 'no memory limit');
  t.same(res({}, { cpu: '1m' }).cpu, { shares: 2 }, 'shares floor of 2');
  t.same(res({ cpu: '1m' }).cpu.quota, 1000, 'quota floor of 1ms');
  t.same(res({}, {}, 64).pids, { limit: 64 }, 'pids limit configurable');
  t.throws(
    () => res({ memory: '12xb' }),
    /pod\/p\/container\/c: resources.limits.memory: "12xb" is not a quantity/,
  );
  t.throws(() => res({ memory: '0' }), /must be more than 0/);
});

t.test('capabilities: Docker defaults; effective empty for a non-root user', async (t) => {
  const accounts = {
    passwd: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
    group: 'app:x:1000:\n',
  };
  const root = containerOciConfig(input({ accounts }));
  t.same(root.process.user, { uid: 0, gid: 0 });
  t.same(root.process.capabilities.effective, dockerDefaultCapabilities);
  t.same(root.process.capabilities.bounding, dockerDefaultCapabilities);
  t.notOk(root.process.capabilities.bounding.includes('CAP_SYS_ADMIN'), 'no CAP_SYS_ADMIN');
  const app = containerOciConfig(input({ accounts, image: image({ User: 'app' }) }));
  t.same(app.process.user, { uid: 1000, gid: 1000 });
  t.same(app.process.capabilities.effective, [], 'non-root: no effective capabilities');
  t.same(app.process.capabilities.permitted, []);
  t.same(app.process.capabilities.bounding, dockerDefaultCapabilities, 'bounding kept');
  t.equal(app.process.noNewPrivileges, true);
  t.throws(
    () => containerOciConfig(input({ accounts, image: image({ User: 'ghost' }) })),
    /unable to find user ghost/,
  );
});

t.test('rlimits are clamped to the host hard limits', async (t) => {
  const cfg = containerOciConfig(input());
  t.same(cfg.process.rlimits, [
    { type: 'RLIMIT_NOFILE', soft: 524288, hard: 524288 },
    { type: 'RLIMIT_NPROC', soft: 1048576, hard: 1048576 },
  ]);
  const generous = containerOciConfig(input({ hostLimits: new Map() }));
  t.same(
    generous.process.rlimits.map((r) => r.hard),
    [1048576, 1048576],
    'unknown host limits leave the wanted ones',
  );
  t.ok(JSON.stringify(cfg).includes('"hard":524288'), 'serialises to finite numbers');
});

t.test('hostname, namespaces, cgroups path and hardening', async (t) => {
  const cfg = containerOciConfig(input());
  t.equal(cfg.hostname, 'web-1', 'hostname is the pod name');
  t.same(cfg.linux.namespaces, [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    { type: 'network', path: '/run/netns/flotilla-test-web' },
  ]);
  t.equal(cfg.linux.cgroupsPath, '/flotilla/uid-123/app');
  t.ok(cfg.linux.maskedPaths.includes('/proc/kcore'));
  t.ok(cfg.linux.readonlyPaths.includes('/proc/sys'));
  t.equal(cfg.linux.seccomp, undefined, 'no profile, no filter');
  const named = pod('p');
  named.spec = { ...named.spec!, hostname: 'custom' };
  t.equal(containerOciConfig(input({ pod: named })).hostname, 'custom', 'spec.hostname wins');
  const long = `${'a'.repeat(62)}-${'b'.repeat(10)}`;
  t.equal(
    containerOciConfig(input({ pod: pod(long) })).hostname,
    'a'.repeat(62),
    'cut to 63, trailing "-" trimmed',
  );
  t.throws(
    () => containerOciConfig(input({ pod: pod('p', '../x') })),
    /metadata.uid "..\/x" cannot name a cgroup/,
  );
  t.throws(() => containerOciConfig(input({ cgroupParent: 'rel' })), /must be absolute/);
  t.throws(() => containerOciConfig(input({ pod: pod('') })), /no metadata.name/);
  const dests = cfg.mounts.map((m) => m.destination);
  t.same(dests, ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
  t.same(cfg.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options.includes('ro'), true);
  t.equal(containerOciConfig(input({ terminal: true })).process.terminal, true);
});

t.test('volume and /etc mounts', async (t) => {
  const cfg = containerOciConfig(
    input({
      etc: { hosts: '/s/hosts', resolvConf: '/s/resolv.conf', hostname: '/s/hostname' },
      volumes: [
        { kind: 'emptyDir', name: 'cache', source: '/s/empty/cache', destination: '/www/cache' },
        { kind: 'hostPath', name: 'www', source: '/srv/www', destination: '/www/', readOnly: true },
        { kind: 'hostPath', name: 'rw', source: '/srv/rw', destination: '/rw', readOnly: false },
      ],
    }),
  );
  const binds = cfg.mounts.filter((m) => m.type === 'bind');
  t.same(binds, [
    { destination: '/etc/hostname', type: 'bind', source: '/s/hostname', options: ['rbind', 'rprivate'] },
    { destination: '/etc/hosts', type: 'bind', source: '/s/hosts', options: ['rbind', 'rprivate'] },
    {
      destination: '/etc/resolv.conf',
      type: 'bind',
      source: '/s/resolv.conf',
      options: ['rbind', 'rprivate'],
    },
    { destination: '/www', type: 'bind', source: '/srv/www', options: ['rbind', 'rprivate', 'ro'] },
    { destination: '/rw', type: 'bind', source: '/srv/rw', options: ['rbind', 'rprivate'] },
    { destination: '/www/cache', type: 'bind', source: '/s/empty/cache', options: ['rbind', 'rprivate'] },
  ]);
  const vol = (destination: string) =>
    containerOciConfig(input({ volumes: [{ kind: 'emptyDir', name: 'v', source: '/s', destination }] }));
  t.throws(() => vol('relative'), /volumeMounts\[v\].mountPath "relative" must be an absolute path/);
  t.throws(() => vol('/a/../etc'), /without "\.\."/);
  t.throws(
    () =>
      containerOciConfig(
        input({
          volumes: [
            { kind: 'emptyDir', name: 'a', source: '/s', destination: '/d' },
            { kind: 'emptyDir', name: 'b', source: '/t', destination: '/d/' },
          ],
        }),
      ),
    /"\/d" is mounted twice/,
  );
});

t.test('seccomp: the containers-common format converts to OCI', async (t) => {
  const profile: SeccompProfile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    ],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [] },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
      { names: ['arm_fadvise64_64'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
      { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
      { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_KILL'] } },
      {
        names: ['personality'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }],
      },
    ],
  };
  const oci = seccompForContainer(profile, 'amd64', dockerDefaultCapabilities);
  t.equal(oci.defaultAction, 'SCMP_ACT_ERRNO');
  t.equal(oci.defaultErrnoRet, 38);
  t.same(oci.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  t.same(
    oci.syscalls.map((s) => s.names[0]),
    ['read', 'arch_prctl', 'chroot', 'bpf', 'personality'],
    'arch and capability filters applied',
  );
  t.equal(oci.syscalls[0]?.args, undefined, 'empty args dropped');
  t.same(oci.syscalls[3], { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
  t.same(oci.syscalls[4]?.args, [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);
  const arm = seccompForContainer(profile, 'arm64', []);
  t.same(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.same(
    arm.syscalls.map((s) => s.names[0]),
    ['read', 'arm_fadvise64_64', 'bpf', 'kill', 'personality'],
  );
  const cfg = containerOciConfig(input({ seccomp: oci }));
  t.equal(cfg.linux.seccomp, oci, 'the generator carries the profile');
});

t.test('loadDefaultSeccomp: absent is none, bad JSON is an error, the real one converts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flt-test-spec-seccomp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(await loadDefaultSeccomp(join(dir, 'absent.json')), undefined, 'no file, no filter');
  writeFileSync(join(dir, 'bad.json'), '{ not json');
  await t.rejects(loadDefaultSeccomp(join(dir, 'bad.json')), /bad\.json is not valid JSON/);
  writeFileSync(join(dir, 'shape.json'), JSON.stringify({ syscalls: [] }));
  await t.rejects(loadDefaultSeccomp(join(dir, 'shape.json')), /defaultAction must be a string/);
  writeFileSync(
    join(dir, 'names.json'),
    JSON.stringify({ defaultAction: 'X', syscalls: [{ action: 'A', names: 'read' }] }),
  );
  await t.rejects(
    loadDefaultSeccomp(join(dir, 'names.json')),
    /syscalls\[0\]\.names must be a list of names/,
  );
  const real = await loadDefaultSeccomp(undefined, 'amd64');
  if (real === undefined) {
    t.fail('/usr/share/containers/seccomp.json is missing: install containers-common (a skopeo dependency)');
    return;
  }
  t.equal(real.defaultAction, 'SCMP_ACT_ERRNO');
  t.same(real.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const allowed = new Set(real.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names));
  t.ok(
    allowed.has('read') && allowed.has('clone') && allowed.has('arch_prctl'),
    'ordinary and amd64 calls allowed',
  );
  t.notOk(allowed.has('bpf'), 'bpf needs CAP_SYS_ADMIN, which the default set lacks');
  const denied = new Set(real.syscalls.filter((s) => s.action === 'SCMP_ACT_ERRNO').flatMap((s) => s.names));
  t.ok(denied.has('bpf') && denied.has('init_module'), 'and is refused with an errno instead');
  t.ok(allowed.has('chroot'), 'chroot comes with CAP_SYS_CHROOT');
  t.notOk(JSON.stringify(real).includes('includes'), 'no profile-only fields left');
});
