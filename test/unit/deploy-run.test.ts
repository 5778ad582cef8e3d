// deploy run's flags -> the Pod it creates: docker's flag spellings, the pod conventions
// (one container named like the pod, restartPolicy, auto-remove), and every bad value's message.
import t from 'tap';
import {
  type RunOptions,
  type UsageError,
  autoRemoveAnnotation,
  buildRunPod,
  cannotRunCode,
  checkPodName,
  detachedStart,
  failureCode,
  flagReader,
  isUsageError,
  memoryQuantity,
  parseCommandLine,
  parseCpus,
  parseEnvFile,
  parseMemory,
  parsePublish,
  parseVolume,
  randomPodName,
  rootCommand,
  runCommand,
  runOptionsFromFlags,
  runProgress,
  startFailureText,
  terminalLine,
  execExitCode,
} from '@flotilla/deploy';
import { Pod } from '@flotilla/proto';

/** argv after "deploy run", as the CLI parses it, to RunOptions. */
function options(argv: string[]): RunOptions {
  const inv = parseCommandLine(rootCommand, [], ['run', ...argv]);
  return runOptionsFromFlags(flagReader(runCommand.flags ?? [], inv.given), inv.args);
}

function pod(argv: string[], env: NodeJS.ProcessEnv = {}, name = 'test-pod'): Pod {
  const opts = options(argv);
  return buildRunPod(opts, opts.name ?? name, env, 'deploy run');
}

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    if (isUsageError(err)) return err;
    throw err;
  }
  throw new Error('no usage error');
}

t.test('a bare run: one container named like the pod, restartPolicy Never, namespace default', async (t) => {
  const p = pod(['busybox']);
  t.equal(p.metadata?.name, 'test-pod');
  t.equal(p.metadata?.namespace, 'default');
  t.equal(p.spec?.restartPolicy, 'Never');
  t.equal(p.spec?.containers.length, 1);
  const c = p.spec?.containers[0];
  t.equal(c?.name, 'test-pod');
  t.equal(c?.image, 'busybox');
  t.same(c?.command, [], 'the image entrypoint is kept');
  t.same(c?.args, []);
  t.equal(c?.stdin, false);
  t.equal(c?.tty, false);
  t.same(p.metadata?.annotations, {});
  t.equal(p.spec?.nodeName, '');
  t.equal(p.spec?.terminationGracePeriodSeconds, 10, "docker's stop timeout");
  t.equal(pod(['--stop-timeout', '0', 'b']).spec?.terminationGracePeriodSeconds, 0);
  t.equal(c?.imagePullPolicy, 'IfNotPresent', "Docker's --pull missing unless --pull");
});

t.test('COMMAND and ARGs become args; flags after IMAGE belong to the command', async (t) => {
  const p = pod(['--name', 'x', 'busybox', 'sh', '-c', 'echo hi; exit 3', '--rm', '-p', '1:2']);
  const c = p.spec?.containers[0];
  t.same(c?.args, ['sh', '-c', 'echo hi; exit 3', '--rm', '-p', '1:2']);
  t.same(c?.command, []);
  t.same(p.metadata?.annotations, {}, '--rm after IMAGE is an argument');
  t.equal(p.metadata?.name, 'x');
  t.equal(c?.name, 'x');
});

t.test('-it, -dit, -dp and --rm', async (t) => {
  const it = pod(['-it', '--rm', 'busybox', 'sh']);
  const c = it.spec?.containers[0];
  t.equal(c?.stdin, true);
  t.equal(c?.stdinOnce, true, 'attached -i closes stdin after the first attach');
  t.equal(c?.tty, true);
  t.equal(it.metadata?.annotations[autoRemoveAnnotation], 'true');
  const dit = pod(['-dit', 'busybox']);
  t.equal(dit.spec?.containers[0]?.stdinOnce, false, 'detached -i keeps stdin for later attaches');
  t.equal(options(['-dit', 'busybox']).detach, true);
  const dp = pod(['-dp', '8080:80', 'web']);
  t.same(
    dp.spec?.containers[0]?.ports.map((p) => p.hostPort),
    [8080],
    '-dp 8080:80 as in docker tutorials',
  );
  t.equal(options(['-dp8080:80', 'web']).detach, true);
  t.same(options(['-dp8080:80', 'web']).publish, ['8080:80']);
});

t.test('--restart maps to the restart policy', async (t) => {
  t.equal(pod(['--restart', 'no', 'b']).spec?.restartPolicy, 'Never');
  t.equal(pod(['--restart', 'on-failure', 'b']).spec?.restartPolicy, 'OnFailure');
  t.equal(pod(['--restart=always', 'b']).spec?.restartPolicy, 'Always');
});

t.test('-p: host ports, host IPs, protocols and ranges', async (t) => {
  const p = pod([
    '-p',
    '18080:8080',
    '-p',
    '127.0.0.1:5353:53/udp',
    '-p',
    '9000-9001:90-91',
    '-p',
    '[::1]:7000:7000/tcp',
    'b',
  ]);
  t.same(
    p.spec?.containers[0]?.ports.map((x) => [x.hostIP, x.hostPort, x.containerPort, x.protocol]),
    [
      ['', 18080, 8080, 'TCP'],
      ['127.0.0.1', 5353, 53, 'UDP'],
      ['', 9000, 90, 'TCP'],
      ['', 9001, 91, 'TCP'],
      ['::1', 7000, 7000, 'TCP'],
    ],
  );
});

t.test('-v: hostPath volumes with read-only mounts; a lone path is an emptyDir', async (t) => {
  const p = pod(['-v', '/srv/www/:/www:ro', '-v', '/data:/data', '-v', '/cache', 'b']);
  t.same(
    p.spec?.volumes.map((v) => [v.name, v.hostPath?.path, v.emptyDir !== undefined]),
    [
      ['volume-1', '/srv/www', false],
      ['volume-2', '/data', false],
      ['volume-3', undefined, true],
    ],
  );
  t.same(
    p.spec?.containers[0]?.volumeMounts.map((m) => [m.name, m.mountPath, m.readOnly]),
    [
      ['volume-1', '/www', true],
      ['volume-2', '/data', false],
      ['volume-3', '/cache', false],
    ],
  );
  t.match(parsePublish('8080:80/UDP'), {
    ok: true,
    value: [{ hostPort: 8080, containerPort: 80, protocol: 'UDP' }],
  });
  t.same(parseVolume('/a:/b:rw'), { ok: true, value: { hostPath: '/a', mountPath: '/b', readOnly: false } });
});

t.test('-e, --env-file and the environment', async (t) => {
  const opts = {
    ...options(['-e', 'A=1', '-e', 'B', '-e', 'MISSING', '-e', 'C=x=y', '-e', 'E=', 'b']),
    envFiles: [{ path: 'f.env', text: '# comment\n\nA=from-file\n  D=4\nHOME\n' }],
  };
  const p = buildRunPod(opts, 'n', { B: 'from-shell', HOME: '/root' }, 'deploy run');
  t.same(
    p.spec?.containers[0]?.env.map((e) => `${e.name}=${e.value}`),
    ['A=1', 'D=4', 'HOME=/root', 'B=from-shell', 'C=x=y', 'E='],
    'files first, then -e; a bare name takes the shell value, or is left out',
  );
  t.same(parseEnvFile('X=1\r\nY=2\r\n', {}), {
    ok: true,
    value: [
      { name: 'X', value: '1' },
      { name: 'Y', value: '2' },
    ],
  });
});

t.test('--memory in docker units and --cpus in millicores', async (t) => {
  t.equal(pod(['--memory', '256m', 'b']).spec?.containers[0]?.resources?.limits.memory, '256Mi');
  t.equal(pod(['-m', '1g', 'b']).spec?.containers[0]?.resources?.limits.memory, '1Gi');
  t.equal(pod(['-m', '1.5g', 'b']).spec?.containers[0]?.resources?.limits.memory, '1536Mi');
  t.equal(pod(['-m', '7000k', 'b']).spec?.containers[0]?.resources?.limits.memory, '7000Ki');
  t.same(parseMemory('6291457'), { ok: true, value: 6291457 }, 'no unit is bytes');
  t.equal(memoryQuantity(6291457), '6291457');
  t.same(parseMemory('64MB'), { ok: true, value: 64 * 2 ** 20 });
  t.equal(pod(['--cpus', '0.5', 'b']).spec?.containers[0]?.resources?.limits.cpu, '500m');
  t.equal(pod(['--cpus', '2', 'b']).spec?.containers[0]?.resources?.limits.cpu, '2000m');
  t.same(parseCpus('.25'), { ok: true, value: 250 });
  t.same(pod(['b']).spec?.containers[0]?.resources?.limits, {});
});

t.test('--node, --namespace and --pull', async (t) => {
  const p = pod(['--node', 'node-1.example', '--namespace', 'team', '--pull', 'never', 'b']);
  t.equal(p.spec?.nodeName, 'node-1.example');
  t.equal(p.metadata?.namespace, 'team');
  t.equal(p.spec?.containers[0]?.imagePullPolicy, 'Never');
  t.equal(pod(['--pull', 'missing', 'b']).spec?.containers[0]?.imagePullPolicy, 'IfNotPresent');
  t.equal(pod(['--pull', 'always', 'b']).spec?.containers[0]?.imagePullPolicy, 'Always');
});

t.test('every bad value names the flag, the value and what is valid', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [
      ['-p', '80', 'b'],
      /invalid value "80" for flag -p\/--publish: a host port is needed .*\[IP:\]HOST_PORT:CONTAINER_PORT/,
    ],
    [['-p', ':80', 'b'], /invalid value ":80" for flag -p\/--publish: a host port is needed/],
    [
      ['-p', '70000:80', 'b'],
      /invalid value "70000:80" for flag -p\/--publish: the host port 70000 is outside 1 to 65535/,
    ],
    [['-p', '80:http', 'b'], /the container port "http" is not a number from 1 to 65535/],
    [['-p', '80:80/icmp', 'b'], /the protocol "icmp" is not tcp, udp or sctp/],
    [['-p', '1.2.3:80:80', 'b'], /"1.2.3" is not an IPv4 address/],
    [
      ['-p', '9000-9002:90-91', 'b'],
      /the host range 9000-9002 and the container range 90-91 differ in length/,
    ],
    [['-p', '91-90:91-90', 'b'], /the host port range 91-90 ends before it starts/],
    [['-p', '80:80', '-p', '127.0.0.1:80:81', 'b'], /host port 80\/tcp is already published by another -p/],
    [
      ['-v', 'rel:/x', 'b'],
      /invalid value "rel:\/x" for flag -v\/--volume: the host path "rel" must be absolute/,
    ],
    [['-v', 'named:/x', 'b'], /named volumes are not supported/],
    [['-v', '/a:b', 'b'], /the container path "b" must be absolute/],
    [['-v', '/a:/b:rx', 'b'], /the mode "rx" is not ro or rw/],
    [['-v', '/a:/b:ro,rw', 'b'], /says both ro and rw/],
    [['-v', '/a:/b:ro:x', 'b'], /it must be HOST_PATH:CONTAINER_PATH\[:ro\|rw\]/],
    [['-v', '/a:/b/../c', 'b'], /must not contain "\.\."/],
    [['-v', '/a:/x', '-v', '/b:/x', 'b'], /\/x is already mounted by another -v/],
    [['-v', 'x', 'b'], /the container path "x" must be absolute/],
    [['-e', '=v', 'b'], /invalid value "=v" for flag -e\/--env: must be NAME=VALUE/],
    [['-e', 'A B=1', 'b'], /invalid value "A B=1" for flag -e\/--env/],
    [['-m', '3m', 'b'], /invalid value "3m" for flag -m\/--memory: must be at least 6m/],
    [
      ['-m', 'lots', 'b'],
      /invalid value "lots" for flag -m\/--memory: must be a size such as 256m, 1g or 512k/,
    ],
    [['-m', '5t', 'b'], /invalid value "5t" for flag -m\/--memory/],
    [['--cpus', '0', 'b'], /invalid value "0" for flag --cpus: must be a number of CPUs such as 0.5/],
    [['--cpus', 'half', 'b'], /invalid value "half" for flag --cpus/],
    [['--name', 'My_App', 'b'], /invalid value "My_App" for flag --name: must be a DNS-1123 label/],
    [['--name', 'a'.repeat(64), 'b'], /for flag --name: must be a DNS-1123 label: at most 63/],
    [['--name', '', 'b'], /invalid value "" for flag --name: must not be empty/],
    [['--namespace', 'Team', 'b'], /invalid value "Team" for flag --namespace/],
    [['--node', 'Node_1', 'b'], /invalid value "Node_1" for flag --node: .*a node name/],
    [['--rm', '--restart', 'always', 'b'], /conflicting options --rm and --restart always/],
    [['Bad Image'], /invalid IMAGE "Bad Image"/],
  ];
  for (const [argv, message] of cases) {
    const err = usageError(() => pod(argv));
    t.match(err.message, message, argv.join(' '));
    t.equal(err.commandPath, 'deploy run');
  }
  const env = usageError(() =>
    buildRunPod(
      { ...options(['b']), envFiles: [{ path: 'my.env', text: 'OK=1\n=bad\n' }] },
      'n',
      {},
      'deploy run',
    ),
  );
  t.match(env.message, /invalid value "my.env" for flag --env-file: line 2 "=bad": must be NAME=VALUE/);
});

t.test('the parser rejects bad enums, groups and a missing IMAGE', async (t) => {
  const parseError = (argv: string[]): string =>
    usageError(() => parseCommandLine(rootCommand, [], ['run', ...argv])).message;
  t.match(
    parseError(['--restart', 'sometimes', 'b']),
    /invalid value "sometimes" for flag --restart: must be one of no, on-failure or always/,
  );
  t.match(parseError(['--restart', 'unless-stopped', 'b']), /must be one of no, on-failure or always/);
  t.match(
    parseError(['--pull', 'newer', 'b']),
    /invalid value "newer" for flag --pull: must be one of always, missing or never/,
  );
  t.match(
    parseError(['--stop-timeout', '-1', 'b']),
    /invalid value "-1" for flag --stop-timeout: must be an integer from 0 to 86400/,
  );
  t.match(parseError(['-itx', 'b']), /invalid flag group -itx for "deploy run": -x is not a flag/);
  t.match(parseError([]), /"deploy run" needs IMAGE \[COMMAND \[ARG...\]\]/);
  t.match(parseError(['--detatch', 'b']), /unknown flag --detatch for "deploy run"; did you mean --detach\?/);
});

t.test('pod names: checked as DNS-1123 labels; random ones are docker-like and valid', async (t) => {
  t.equal(checkPodName('web-1'), undefined);
  t.ok(checkPodName('-web'));
  t.ok(checkPodName('web.1'), 'a dot would not make a valid container name');
  let seed = 0;
  const random = (): number => (seed = (seed * 9301 + 49297) % 233280) / 233280;
  for (let i = 0; i < 200; i++) {
    const plain = randomPodName(random);
    t.match(plain, /^[a-z]+-[a-z]+$/);
    t.equal(checkPodName(plain), undefined);
    const suffixed = randomPodName(random, true);
    t.match(suffixed, /^[a-z]+-[a-z]+-[a-z0-9]{4}$/);
    t.equal(checkPodName(suffixed), undefined);
  }
  t.equal(
    randomPodName(() => 0),
    'admiring-albattani',
  );
  t.equal(
    randomPodName(() => 0.999999),
    'zealous-yalow',
  );
});

function statusPod(status: unknown, spec: unknown = {}): Pod {
  return Pod.fromJSON({
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: { containers: [{ name: 'p', image: 'b' }], ...(spec as object) },
    status,
  });
}

t.test('run progress: waiting, running, exit codes, and failures before the container ran', async (t) => {
  t.same(runProgress(undefined), { kind: 'gone' });
  t.same(runProgress(statusPod({ phase: 'Pending' })), { kind: 'waiting' });
  t.same(
    runProgress(
      statusPod({
        phase: 'Pending',
        containerStatuses: [{ name: 'p', state: { waiting: { reason: 'ContainerCreating' } } }],
      }),
    ),
    { kind: 'waiting' },
  );
  t.same(
    runProgress(
      statusPod({
        phase: 'Running',
        containerStatuses: [{ name: 'p', state: { running: { startedAt: 'x' } } }],
      }),
    ),
    {
      kind: 'running',
    },
  );
  t.same(
    runProgress(
      statusPod({
        phase: 'Failed',
        containerStatuses: [{ name: 'p', state: { terminated: { exitCode: 3, reason: 'Error' } } }],
      }),
    ),
    { kind: 'exited', code: 3 },
  );
  t.same(
    runProgress(
      statusPod({
        containerStatuses: [
          { name: 'p', state: { terminated: { exitCode: 0, signal: 9, reason: 'Error' } } },
        ],
      }),
    ),
    { kind: 'exited', code: 137 },
    'a signal death is 128 + the signal',
  );
  t.same(
    runProgress(
      statusPod({
        containerStatuses: [
          {
            name: 'p',
            restartCount: 1,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 4 } },
          },
        ],
      }),
    ),
    { kind: 'exited', code: 4 },
    'a run that ended and restarted between two events still ends the attached run',
  );
  t.same(
    runProgress(
      statusPod({
        containerStatuses: [
          { name: 'p', restartCount: 1, state: { running: {} }, lastState: { terminated: { exitCode: 4 } } },
        ],
      }),
      1,
    ),
    { kind: 'running' },
    'restarts before the attach do not count',
  );
  const pull = runProgress(
    statusPod({
      containerStatuses: [
        {
          name: 'p',
          state: { waiting: { reason: 'ErrImagePull', message: 'manifest for r/nope:v1 not found' } },
        },
      ],
    }),
  );
  t.same(pull, {
    kind: 'failed',
    code: 125,
    reason: 'ErrImagePull',
    message: 'manifest for r/nope:v1 not found',
    noContainer: true,
  });
  const cmd = runProgress(
    statusPod({
      containerStatuses: [
        {
          name: 'p',
          state: {
            waiting: {
              reason: 'CreateContainerError',
              message: 'exec: "/no/such/cmd": stat /no/such/cmd: no such file or directory',
            },
          },
        },
      ],
    }),
  );
  t.match(cmd, { kind: 'failed', code: 127, noContainer: false });
  const cannot = runProgress(
    statusPod({
      containerStatuses: [
        {
          name: 'p',
          state: {
            terminated: { exitCode: 126, reason: 'ContainerCannotRun', message: 'permission denied' },
          },
        },
      ],
    }),
  );
  t.match(cannot, { kind: 'failed', code: 126 });
  const unschedulable = runProgress(
    statusPod({
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes fit' },
      ],
    }),
  );
  t.same(unschedulable, {
    kind: 'failed',
    code: 125,
    reason: 'Unschedulable',
    message: '0/1 nodes fit',
    noContainer: true,
  });
  t.same(
    runProgress(statusPod({ phase: 'Pending', conditions: [] })),
    { kind: 'waiting' },
    'stored unbound, before the scheduler decides: still waiting',
  );
  t.equal(cannotRunCode('RunContainerError', 'executable file not found in $PATH'), 127);
  t.equal(cannotRunCode('RunContainerError', 'exec format error'), 126);
  t.equal(cannotRunCode('CreateContainerError', 'host port 80 in use'), 125);
});

t.test('failure codes: 125 before the runtime starts the process, 126/127 from its message', async (t) => {
  t.equal(failureCode('RunContainerError', 'exec: "/x": stat /x: no such file or directory'), 127);
  t.equal(failureCode('CreateContainerError', 'exec: "/x": permission denied'), 126);
  t.equal(failureCode('ContainerCannotRun', 'exec format error'), 126);
  t.equal(
    failureCode('ErrImagePull', 'image r/x: open /blobs/y: no such file or directory (error)'),
    125,
    'a pull is the daemon side whatever its message says',
  );
  t.equal(
    failureCode('CreateContainerConfigError', 'hostPath /srv/x: no such file or directory'),
    125,
    'so are the pod’s volumes and files, prepared before the runtime',
  );
  t.equal(failureCode('Unschedulable', '0/1 nodes are available'), 125);
});

function containerState(state: unknown, extra: object = {}): Pod {
  return statusPod({ phase: 'Pending', containerStatuses: [{ name: 'p', state, ...extra }] });
}

t.test('run -d: wait, started, or failed with docker’s code, the reason and the message', async (t) => {
  const table: { what: string; pod: Pod | undefined; rm?: boolean; want: unknown }[] = [
    { what: 'just created, unbound', pod: statusPod({}), want: { kind: 'wait' } },
    {
      what: 'pulling the image',
      pod: containerState({
        waiting: { reason: 'ContainerCreating', message: 'pulling image b (attempt 1)' },
      }),
      want: { kind: 'wait' },
    },
    {
      what: 'bound, not yet reported',
      pod: statusPod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] }),
      want: { kind: 'wait' },
    },
    { what: 'running', pod: containerState({ running: { startedAt: 'x' } }), want: { kind: 'started' } },
    {
      what: 'ran and exited with 3 (docker run -d: the ID, exit 0)',
      pod: containerState({ terminated: { exitCode: 3, reason: 'Error' } }),
      want: { kind: 'started' },
    },
    {
      what: 'ran, exited and restarts (--restart always)',
      pod: containerState(
        { waiting: { reason: 'CrashLoopBackOff' } },
        { restartCount: 1, lastState: { terminated: { exitCode: 1 } } },
      ),
      want: { kind: 'started' },
    },
    {
      what: 'no such image: 125, removed (docker creates no container)',
      pod: containerState({
        waiting: { reason: 'ErrImagePull', message: 'image r/nope:v1: r/nope:v1 not found (not-found)' },
      }),
      want: {
        kind: 'failed',
        code: 125,
        reason: 'ErrImagePull',
        message: 'image r/nope:v1: r/nope:v1 not found (not-found)',
        remove: true,
      },
    },
    {
      what: 'pull refused',
      pod: containerState({
        waiting: { reason: 'ImagePullBackOff', message: 'back-off pulling image r/p: unauthorized' },
      }),
      want: { kind: 'failed', code: 125, reason: 'ImagePullBackOff', remove: true },
    },
    {
      what: 'command not found: 127, kept',
      pod: containerState({
        waiting: {
          reason: 'RunContainerError',
          message: 'exec: "/nonexistent": stat /nonexistent: no such file or directory',
        },
      }),
      want: { kind: 'failed', code: 127, reason: 'RunContainerError', remove: false },
    },
    {
      what: 'command not found with --rm: removed',
      rm: true,
      pod: containerState({
        waiting: { reason: 'RunContainerError', message: 'exec: "nope": executable file not found in $PATH' },
      }),
      want: { kind: 'failed', code: 127, remove: true },
    },
    {
      what: 'not executable: 126',
      pod: containerState({
        terminated: {
          exitCode: 126,
          reason: 'ContainerCannotRun',
          message: 'exec: "/etc": permission denied',
        },
      }),
      want: { kind: 'failed', code: 126, reason: 'ContainerCannotRun', remove: false },
    },
    {
      what: 'host port in use on the node: 125',
      pod: containerState({
        waiting: {
          reason: 'CreateContainerError',
          message: 'host port 8080/TCP on 0.0.0.0 is already in use on this node (EADDRINUSE)',
        },
      }),
      want: { kind: 'failed', code: 125, reason: 'CreateContainerError', remove: false },
    },
    {
      what: 'an invalid mount: 125',
      pod: containerState({
        waiting: {
          reason: 'CreateContainerConfigError',
          message: 'volume v: /srv/x: no such file or directory',
        },
      }),
      want: { kind: 'failed', code: 125, reason: 'CreateContainerConfigError' },
    },
    {
      what: 'unschedulable: the scheduler’s reason, as describe shows it',
      pod: statusPod({
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/1 nodes are available: 1 host port conflict',
          },
        ],
      }),
      want: {
        kind: 'failed',
        code: 125,
        reason: 'Unschedulable',
        message: '0/1 nodes are available: 1 host port conflict',
        remove: true,
      },
    },
    {
      what: 'removed meanwhile',
      pod: undefined,
      want: { kind: 'failed', code: 125, reason: 'Removed', remove: false },
    },
  ];
  for (const row of table) t.match(detachedStart(row.pod, row.rm ?? false), row.want, row.what);
});

t.test('run -d: what a failed start says', async (t) => {
  t.equal(
    startFailureText('web', {
      kind: 'failed',
      code: 127,
      reason: 'RunContainerError',
      message: 'exec: "/nonexistent": stat /nonexistent: no such file or directory',
      remove: false,
    }),
    'error: pod web failed to start: RunContainerError: exec: "/nonexistent": stat /nonexistent: no such file or directory\n' +
      "the command is not in the image: check COMMAND, or the image's Entrypoint and PATH\n",
  );
  t.equal(
    startFailureText('web', {
      kind: 'failed',
      code: 125,
      reason: 'Unschedulable',
      message: '',
      remove: true,
    }),
    'error: pod web failed to start: Unschedulable\n',
  );
});

t.test('logged terminal lines and exec exit codes', async (t) => {
  const b = (text: string): Buffer => Buffer.from(text);
  t.equal(
    terminalLine(b('42\r'), true).toString(),
    '42\r\n',
    'raw: the terminal line as the container wrote it',
  );
  t.equal(terminalLine(b('42\r'), false).toString(), '42\n', 'cooked: our terminal adds the \\r');
  t.equal(terminalLine(b('/ # '), true).toString(), '/ # ', 'a prompt stays a partial line');
  t.equal(execExitCode({ exitCode: 3, reason: 'Error' }), 3);
  t.equal(
    execExitCode({ exitCode: 255, reason: 'could not run the command: stat /x: no such file or directory' }),
    127,
  );
  t.equal(execExitCode({ exitCode: 255, reason: 'could not run the command: permission denied' }), 126);
  t.equal(execExitCode({ exitCode: 255, reason: 'something else' }), 255);
  t.equal(execExitCode({ exitCode: 0, reason: '' }), 0);
});
