// The pod status the agent reports, pure: container states from the record and the
// runner, the kubelet's phase rules, conditions; and the small pure pieces around it
// (probe conversion, /etc/hosts, resolv.conf, host-port clashes).
import t from 'tap';
import {
  buildPodStatus,
  clashingMapping,
  containerRunId,
  hostsFile,
  lifecycleProbe,
  newPodRecord,
  podPhase,
  podResolvConf,
  resolveProbe,
  runcReason,
  type ContainerState,
  type PodRecord,
  type PodStatusInput,
} from '@flotilla/agent';
import { Pod, Probe } from '@flotilla/proto';

const uid = '0b9a6a52-8e2f-4d0e-9a43-4f1c2b3d4e5f';
const now = new Date('2026-01-01T12:00:00Z');

function pod(spec: Record<string, unknown> = {}): Pod {
  return Pod.fromJSON({
    metadata: { name: 'web', namespace: 'default', uid },
    spec: {
      containers: [
        { name: 'a', image: 'busybox' },
        { name: 'b', image: 'busybox' },
      ],
      restartPolicy: 'Never',
      ...spec,
    },
  });
}

type RunSpec = { run: number; exit?: number; reason?: string; previousExit?: number };

function record(p: Pod, runs: Record<string, RunSpec>): PodRecord {
  const r = newPodRecord(p, new Date('2026-01-01T11:00:00Z'));
  for (const [name, spec] of Object.entries(runs)) {
    const id = containerRunId(uid, name, spec.run);
    const termination = (code: number, cid: string, reason?: string) => ({
      exitCode: code,
      signal: code > 128 ? code - 128 : 0,
      reason: reason ?? (code === 0 ? 'Completed' : 'Error'),
      startedAt: '2026-01-01T11:58:00Z',
      finishedAt: '2026-01-01T11:59:00Z',
      containerId: cid,
    });
    r.containers[name] = {
      name,
      restartCount: spec.run - 1,
      backoffSteps: 0,
      current: {
        run: spec.run,
        id,
        logPath: `/l/${name}-${spec.run}`,
        startedAt: '2026-01-01T11:58:00Z',
        ...(spec.exit !== undefined ? { termination: termination(spec.exit, id, spec.reason) } : {}),
      },
      ...(spec.previousExit !== undefined
        ? {
            previous: {
              run: spec.run - 1,
              id: containerRunId(uid, name, spec.run - 1),
              logPath: '/l/prev',
              startedAt: '2026-01-01T11:50:00Z',
              termination: termination(spec.previousExit, containerRunId(uid, name, spec.run - 1)),
            },
          }
        : {}),
    };
  }
  return r;
}

function runningStates(r: PodRecord): Map<string, ContainerState> {
  const m = new Map<string, ContainerState>();
  for (const c of Object.values(r.containers)) {
    const run = c.current;
    if (run !== undefined && run.termination === undefined)
      m.set(run.id, { status: 'running', id: run.id, pid: 7, paused: false });
  }
  return m;
}

function input(p: Pod, r: PodRecord | undefined, over: Partial<PodStatusInput> = {}): PodStatusInput {
  return {
    pod: p,
    ...(r !== undefined ? { record: r } : {}),
    runs: r !== undefined ? runningStates(r) : new Map(),
    images: new Map([
      ['a', { state: 'present', digest: 'sha256:abc', configDigest: 'sha256:cfg', chainIds: [] }],
      ['b', { state: 'present', digest: 'sha256:abc', configDigest: 'sha256:cfg', chainIds: [] }],
    ]),
    waiting: new Map(),
    probes: new Map(),
    podIP: '10.88.0.5',
    hostIP: '192.0.2.10',
    now,
    ...over,
  };
}

t.test('running containers: phase Running, ready, container IDs, pod IP', async (t) => {
  const p = pod();
  const r = record(p, { a: { run: 1 }, b: { run: 1 } });
  const s = buildPodStatus(input(p, r));
  t.equal(s.phase, 'Running');
  t.equal(s.podIP, '10.88.0.5');
  t.equal(s.hostIP, '192.0.2.10');
  t.equal(s.startTime, '2026-01-01T11:00:00.000Z');
  t.match(s.containerStatuses[0], {
    name: 'a',
    ready: true,
    started: true,
    restartCount: 0,
    image: 'busybox',
    imageID: 'sha256:abc',
    containerID: `runc://${containerRunId(uid, 'a', 1)}`,
    state: { running: { startedAt: '2026-01-01T11:58:00Z' } },
  });
  t.same(
    s.conditions.map((c) => [c.type, c.status]),
    [
      ['PodScheduled', 'True'],
      ['Initialized', 'True'],
      ['ContainersReady', 'True'],
      ['Ready', 'True'],
    ],
  );
});

t.test('nothing ran yet: Pending with the waiting reasons', async (t) => {
  const p = pod();
  const waiting = new Map([['a', { reason: 'ErrImagePull', message: 'image busybox: not found' }]]);
  const s = buildPodStatus(input(p, newPodRecord(p, now), { waiting }));
  t.equal(s.phase, 'Pending');
  t.same(s.containerStatuses[0]?.state?.waiting, {
    reason: 'ErrImagePull',
    message: 'image busybox: not found',
  });
  t.same(s.containerStatuses[1]?.state?.waiting, { reason: 'ContainerCreating', message: '' });
  t.equal(s.containerStatuses[0]?.containerID, '');
  const ready = s.conditions.find((c) => c.type === 'Ready');
  t.match(ready, {
    status: 'False',
    reason: 'ContainersNotReady',
    message: 'containers with unready status: [a b]',
  });
});

t.test('the kubelet phase rules for ended containers', async (t) => {
  const table: Array<[string, number, number, string]> = [
    ['Never', 0, 0, 'Succeeded'],
    ['Never', 0, 1, 'Failed'],
    ['OnFailure', 0, 0, 'Succeeded'],
    ['OnFailure', 0, 2, 'Running'],
    ['Always', 0, 0, 'Running'],
  ];
  for (const [restartPolicy, ea, eb, phase] of table) {
    const p = pod({ restartPolicy });
    const s = buildPodStatus(input(p, record(p, { a: { run: 1, exit: ea }, b: { run: 1, exit: eb } })));
    t.equal(s.phase, phase, `${restartPolicy}, exits ${ea}/${eb} → ${phase}`);
    t.equal(podPhase(p, s.containerStatuses), phase);
  }
  const stopped = pod({ restartPolicy: 'Always', stopped: true });
  const s = buildPodStatus(
    input(stopped, record(stopped, { a: { run: 1, exit: 143 }, b: { run: 1, exit: 0 } })),
  );
  t.equal(s.phase, 'Failed', 'a stopped pod has ended whatever its policy');
  const done = buildPodStatus(
    input(pod(), record(pod(), { a: { run: 1, exit: 0 }, b: { run: 1, exit: 0 } })),
  );
  t.match(
    done.conditions.find((c) => c.type === 'Ready'),
    { status: 'False', reason: 'PodCompleted', message: '' },
  );
});

t.test('terminated, OOMKilled, and a crash loop with lastState', async (t) => {
  const p = pod({ restartPolicy: 'Always' });
  const r = record(p, {
    a: { run: 1, exit: 137, reason: 'OOMKilled' },
    b: { run: 3, exit: 2, previousExit: 2 },
  });
  const waiting = new Map([['b', { reason: 'CrashLoopBackOff', message: 'back-off 20s' }]]);
  const s = buildPodStatus(input(p, r, { waiting }));
  t.match(s.containerStatuses[0]?.state?.terminated, {
    exitCode: 137,
    signal: 9,
    reason: 'OOMKilled',
    containerID: `runc://${containerRunId(uid, 'a', 1)}`,
  });
  const b = s.containerStatuses[1];
  t.same(b?.state?.waiting, { reason: 'CrashLoopBackOff', message: 'back-off 20s' });
  t.match(b?.lastState?.terminated, { exitCode: 2, containerID: `runc://${containerRunId(uid, 'b', 3)}` });
  t.equal(b?.restartCount, 2);
  t.equal(s.phase, 'Running');
});

t.test('probes decide ready and started; transition times survive unchanged conditions', async (t) => {
  const p = Pod.fromJSON({
    metadata: { name: 'web', namespace: 'default', uid },
    spec: {
      containers: [{ name: 'a', image: 'busybox', readinessProbe: { tcpSocket: { port: '80' } } }],
    },
  });
  const r = record(p, { a: { run: 1 } });
  const id = containerRunId(uid, 'a', 1);
  const noProber = buildPodStatus(input(p, r));
  t.equal(noProber.containerStatuses[0]?.ready, false, 'a readiness probe that has not passed yet');
  const probes = new Map([['a', { runId: id, ready: true, started: true }]]);
  const first = buildPodStatus(input(p, r, { probes }));
  t.equal(first.containerStatuses[0]?.ready, true);
  const later = buildPodStatus(
    input(p, r, { probes, previous: first, now: new Date('2026-01-01T12:05:00Z') }),
  );
  t.equal(
    later.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime,
    first.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime,
    'unchanged condition keeps its time',
  );
  const stale = new Map([['a', { runId: 'another-run', ready: true, started: true }]]);
  t.equal(
    buildPodStatus(input(p, r, { probes: stale })).containerStatuses[0]?.ready,
    false,
    "another run's probe does not count",
  );
});

t.test('proto probes convert once: numeric strings become numbers, names stay', async (t) => {
  const http = lifecycleProbe(
    Probe.fromJSON({ httpGet: { port: '8080', path: '/healthz' }, periodSeconds: 2 }),
  );
  t.same(http, { httpGet: { port: 8080, path: '/healthz' }, periodSeconds: 2 });
  const named = lifecycleProbe(Probe.fromJSON({ tcpSocket: { port: 'http' } }));
  t.same(named, { tcpSocket: { port: 'http' } });
  const resolved = resolveProbe(named, 'readiness', [{ name: 'http', containerPort: 80 }]);
  t.match(resolved.action, { type: 'tcpSocket', port: 80 });
  const exec = lifecycleProbe(Probe.fromJSON({ exec: { command: ['cat', '/tmp/ok'] }, failureThreshold: 1 }));
  t.same(exec, { exec: { command: ['cat', '/tmp/ok'] }, failureThreshold: 1 });
  const bad = lifecycleProbe(Probe.fromJSON({ httpGet: { port: '80', scheme: 'FTP' } }));
  t.throws(() => resolveProbe(bad, 'liveness', []), /scheme: "FTP" must be HTTP or HTTPS/);
});

t.test('/etc/hosts and resolv.conf', async (t) => {
  const hosts = hostsFile('web', '10.88.0.5');
  t.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
  t.match(hosts, /^10\.88\.0\.5\tweb$/m);
  t.notMatch(hostsFile('web', undefined), /\tweb$/m);
  const resolv = podResolvConf('nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\n');
  t.notMatch(resolv, /^nameserver 127/m, 'loopback nameservers are dropped');
  t.match(resolv, /^nameserver 192\.0\.2\.53$/m);
  t.match(resolv, /^search example\.org$/m);
  t.match(resolv, /# dropped "nameserver 127\.0\.0\.53"/);
  t.match(podResolvConf('nameserver 127.0.0.1\n'), /no nameserver left/);
});

t.test('host port clashes between pods of this node', async (t) => {
  const others = new Map([['default/a', [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }]]]);
  t.match(clashingMapping([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], others), {
    pod: 'default/a',
  });
  t.equal(clashingMapping([{ hostPort: 8080, containerPort: 80, protocol: 'udp' }], others), undefined);
  t.match(
    clashingMapping([{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }], others),
    {
      pod: 'default/a',
    },
  );
  t.equal(clashingMapping([{ hostPort: 8081, containerPort: 80, protocol: 'tcp' }], others), undefined);
});

t.test("runc's reason is cut out of the runner's message and unescaped", async (t) => {
  t.equal(
    runcReason(
      'container x could not be created: runc create failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH"',
    ),
    'exec: "nosuch": executable file not found in $PATH',
  );
  t.equal(runcReason('something else'), 'something else');
});
