// deploy inspect: a pod in docker inspect's container shape, with the pod under "Pod".
import t from 'tap';
import {
  buildRunPod,
  flagReader,
  inspectPod,
  parseCommandLine,
  rootCommand,
  runCommand,
  runOptionsFromFlags,
} from '@flotilla/deploy';
import { Pod } from '@flotilla/proto';

function runPod(argv: string[]): Pod {
  const inv = parseCommandLine(rootCommand, [], ['run', ...argv]);
  const opts = runOptionsFromFlags(flagReader(runCommand.flags ?? [], inv.given), inv.args);
  return buildRunPod(opts, opts.name ?? 'web', {}, 'deploy run');
}

/** The pod as the controller returns it: metadata filled in, bound, with a status. */
function served(pod: Pod, status: unknown): Pod {
  const json = Pod.toJSON(pod) as Record<string, Record<string, unknown>>;
  return Pod.fromJSON({
    ...json,
    metadata: {
      ...json.metadata,
      uid: 'b1946ac9-2a1f-4a5e-9d3c-5a7a1c9e0f11',
      creationTimestamp: '2026-12-01T10:00:00Z',
      resourceVersion: '42',
    },
    spec: { ...json.spec, nodeName: 'node-1' },
    status,
  });
}

const web = served(
  runPod([
    '--name',
    'web',
    '-p',
    '127.0.0.1:18080:8080',
    '-p',
    '9090:9090/udp',
    '-v',
    '/srv/www:/www:ro',
    '-v',
    '/cache',
    '-e',
    'GREETING=hi',
    '-m',
    '256m',
    '--cpus',
    '0.5',
    '--restart',
    'on-failure',
    'examples/web',
    'httpd',
    '-f',
  ]),
  {
    phase: 'Running',
    podIP: '10.88.0.5',
    containerStatuses: [
      {
        name: 'web',
        state: { running: { startedAt: '2026-12-01T10:00:02Z' } },
        ready: true,
        restartCount: 2,
        image: 'examples/web',
        imageID: 'sha256:abc',
      },
    ],
  },
);

t.test('a running pod in docker inspect shape', async (t) => {
  const doc = inspectPod(web);
  t.match(doc, {
    Id: 'b1946ac9-2a1f-4a5e-9d3c-5a7a1c9e0f11',
    Name: '/web',
    Created: '2026-12-01T10:00:00Z',
    Path: 'httpd',
    Args: ['-f'],
    Image: 'sha256:abc',
    RestartCount: 2,
    Node: 'node-1',
    State: {
      Status: 'running',
      Running: true,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      ExitCode: 0,
      Error: '',
      StartedAt: '2026-12-01T10:00:02Z',
      FinishedAt: '0001-01-01T00:00:00Z',
    },
    Config: {
      Image: 'examples/web',
      Cmd: ['httpd', '-f'],
      Entrypoint: null,
      Env: ['GREETING=hi'],
      Tty: false,
      OpenStdin: false,
      ExposedPorts: { '8080/tcp': {}, '9090/udp': {} },
      Labels: {},
      Hostname: 'web',
    },
    HostConfig: {
      PortBindings: {
        '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }],
        '9090/udp': [{ HostIp: '', HostPort: '9090' }],
      },
      Binds: ['/srv/www:/www:ro'],
      Memory: 268435456,
      NanoCpus: 500000000,
      RestartPolicy: { Name: 'on-failure' },
      AutoRemove: false,
    },
    NetworkSettings: {
      IPAddress: '10.88.0.5',
      Ports: {
        '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }],
        '9090/udp': [{ HostIp: '0.0.0.0', HostPort: '9090' }],
      },
    },
  });
  t.same(doc.Mounts, [
    { Type: 'bind', Source: '/srv/www', Destination: '/www', Mode: 'ro', RW: false, Propagation: 'rprivate' },
    {
      Type: 'volume',
      Name: 'volume-2',
      Source: '',
      Destination: '/cache',
      Driver: 'local',
      Mode: '',
      RW: true,
      Propagation: '',
    },
  ]);
  t.same(doc.Pod, Pod.toJSON(web), 'the pod itself, as Pod.toJSON writes it');
  t.notOk('Health' in (doc.State as object), 'no health without a readiness probe');
  t.same(JSON.parse(JSON.stringify([doc])), [doc], 'the document is plain JSON');
});

t.test('exited, OOM-killed, auto-removed and failing pods', async (t) => {
  const hello = served(runPod(['--rm', '--name', 'hello', 'examples/hello']), {
    phase: 'Succeeded',
    containerStatuses: [
      {
        name: 'hello',
        state: {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            startedAt: '2026-12-01T10:00:01Z',
            finishedAt: '2026-12-01T10:00:02Z',
          },
        },
      },
    ],
  });
  const doc = inspectPod(hello);
  t.match(doc, {
    Path: '',
    Args: [],
    State: {
      Status: 'exited',
      Running: false,
      ExitCode: 0,
      StartedAt: '2026-12-01T10:00:01Z',
      FinishedAt: '2026-12-01T10:00:02Z',
      Error: '',
    },
    HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'no' }, Binds: null, Memory: 0, NanoCpus: 0 },
    Config: { Cmd: null, Entrypoint: null, ExposedPorts: null },
    Image: 'examples/hello',
  });
  const oom = inspectPod(
    served(runPod(['-m', '64m', 'b']), {
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'web',
          state: { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: '2026-12-01T10:00:09Z' } },
        },
      ],
    }),
  );
  t.match(oom, { State: { Status: 'exited', OOMKilled: true, ExitCode: 137 } });
  const pull = inspectPod(
    served(runPod(['r/nope:v1']), {
      phase: 'Pending',
      containerStatuses: [
        { name: 'web', state: { waiting: { reason: 'ErrImagePull', message: 'manifest unknown' } } },
      ],
    }),
  );
  t.match(pull, { State: { Status: 'created', Running: false, Error: 'ErrImagePull: manifest unknown' } });
  const probed = Pod.fromJSON({
    ...(Pod.toJSON(web) as object),
    spec: { containers: [{ name: 'web', image: 'w', readinessProbe: { tcpSocket: { port: '8080' } } }] },
  });
  t.match(inspectPod(probed), { State: { Health: { Status: 'healthy' } } });
  const it = inspectPod(served(runPod(['-it', 'busybox', 'sh']), {}));
  t.match(it, { Config: { Tty: true, OpenStdin: true, StdinOnce: true }, State: { Status: 'created' } });
});

t.test("the image's Entrypoint, Cmd and Env when the CLI can see the image", async (t) => {
  const image = {
    Entrypoint: ['/entry'],
    Cmd: ['cat', '/hello.txt'],
    Env: ['PATH=/bin', 'GREETING=hello'],
    WorkingDir: '/app',
  };
  const plain = inspectPod(served(runPod(['-e', 'GREETING=hi', 'examples/hello']), {}), image);
  t.match(plain, {
    Path: '/entry',
    Args: ['cat', '/hello.txt'],
    Config: {
      Entrypoint: ['/entry'],
      Cmd: ['cat', '/hello.txt'],
      Env: ['PATH=/bin', 'GREETING=hi'],
      WorkingDir: '/app',
    },
  });
  const args = inspectPod(served(runPod(['examples/hello', 'ls', '/']), {}), image);
  t.match(
    args,
    { Path: '/entry', Args: ['ls', '/'], Config: { Entrypoint: ['/entry'], Cmd: ['ls', '/'] } },
    'args replace Cmd, keep Entrypoint',
  );
  const withCommand = Pod.fromJSON({
    metadata: { name: 'x' },
    spec: { containers: [{ name: 'x', image: 'i', command: ['/bin/sh'] }] },
  });
  t.match(
    inspectPod(withCommand, image),
    { Path: '/bin/sh', Args: [], Config: { Entrypoint: ['/bin/sh'], Cmd: null } },
    'a command drops the image Cmd',
  );
});
