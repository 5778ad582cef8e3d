// Pod validation, table-style: each case changes one thing of a valid pod and names the
// field path the error must carry; defaults are applied first, as CreatePod does.
import t from 'tap';
import { Pod } from '@flotilla/proto';
import { defaultImagePullPolicy, newPod, podProblems, validatePod } from '@flotilla/controller';

type Json = Record<string, unknown>;

function base(): Json {
  return {
    metadata: {
      name: 'web',
      labels: { app: 'web' },
      annotations: {
        'flotilla.io/auto-remove': 'true',
        'flotilla.io/restartedAt': '2026-01-02T15:04:05.123Z',
      },
    },
    spec: {
      restartPolicy: 'Never',
      volumes: [
        { name: 'www', hostPath: { path: '/srv/www' } },
        { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
      ],
      containers: [
        {
          name: 'web',
          image: 'registry.local:5000/web:1.0',
          command: ['/bin/httpd'],
          args: ['-f', '-p', '8080'],
          env: [
            { name: 'GREETING', value: 'hi' },
            { name: 'my.var-1', value: '' },
          ],
          ports: [
            { name: 'http', containerPort: 8080, hostPort: 18080 },
            { containerPort: 53, protocol: 'UDP', hostPort: 5353, hostIP: '127.0.0.1' },
          ],
          resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '0.5', memory: '128Mi' } },
          volumeMounts: [
            { name: 'www', mountPath: '/www', readOnly: true },
            { name: 'scratch', mountPath: '/tmp', subPath: 'a/b' },
          ],
          livenessProbe: { httpGet: { port: 'http', path: '/healthz' }, failureThreshold: 2 },
          readinessProbe: { tcpSocket: { port: '8080' }, successThreshold: 2 },
          startupProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 },
          stdin: true,
          stdinOnce: true,
          tty: true,
        },
      ],
    },
  };
}

/** A deep copy of the base pod with edit applied, defaulted as CreatePod does. */
function pod(edit: (p: Json & { spec: Json & { containers: Json[] } }) => void = () => undefined): Pod {
  const json = structuredClone(base()) as Json & { spec: Json & { containers: Json[] } };
  edit(json);
  return newPod(Pod.fromJSON(json), { uid: 'u', now: new Date('2026-01-01T00:00:00Z') });
}

const c0 = (p: { spec: { containers: Json[] } }): Json => p.spec.containers[0] as Json;

t.test('the base pod is valid', async (t) => {
  t.same(podProblems(pod()), []);
  t.doesNotThrow(() => validatePod(pod()));
});

const cases: [string, (p: Json & { spec: Json & { containers: Json[] } }) => void, string, RegExp?][] = [
  ['name with upper case', (p) => ((p.metadata as Json).name = 'Web'), 'metadata.name', /DNS-1123 subdomain/],
  ['empty name', (p) => ((p.metadata as Json).name = ''), 'metadata.name', /must not be empty/],
  ['namespace with a dot', (p) => ((p.metadata as Json).namespace = 'a.b'), 'metadata.namespace', /label/],
  ['bad label key', (p) => ((p.metadata as Json).labels = { '-x': 'y' }), 'metadata.labels', /label key/],
  ['bad label value', (p) => ((p.metadata as Json).labels = { x: 'a b' }), 'metadata.labels.x', /value/],
  [
    'bad annotation key',
    (p) => ((p.metadata as Json).annotations = { 'a/b/c': 'y' }),
    'metadata.annotations',
  ],
  ['no containers', (p) => (p.spec.containers = []), 'spec.containers', /at least one container/],
  ['container name with a dot', (p) => (c0(p).name = 'we.b'), 'spec.containers[0].name', /DNS-1123 label/],
  [
    'duplicate container names',
    (p) => p.spec.containers.push({ name: 'web', image: 'busybox' }),
    'spec.containers[1].name',
    /another container/,
  ],
  ['no image', (p) => (c0(p).image = ''), 'spec.containers[0].image', /is required/],
  ['bad image', (p) => (c0(p).image = 'Busy Box'), 'spec.containers[0].image', /image reference/],
  ['bad pull policy', (p) => (c0(p).imagePullPolicy = 'Sometimes'), 'spec.containers[0].imagePullPolicy'],
  ['empty command[0]', (p) => (c0(p).command = ['']), 'spec.containers[0].command[0]'],
  ['relative workingDir', (p) => (c0(p).workingDir = 'srv'), 'spec.containers[0].workingDir', /absolute/],
  ['env name with a digit first', (p) => (c0(p).env = [{ name: '1X' }]), 'spec.containers[0].env[0].name'],
  ['env name with =', (p) => (c0(p).env = [{ name: 'A=B' }]), 'spec.containers[0].env[0].name'],
  [
    'containerPort 0',
    (p) => (c0(p).ports = [{ containerPort: 0 }]),
    'spec.containers[0].ports[0].containerPort',
    /between 1 and 65535/,
  ],
  [
    'containerPort 70000',
    (p) => ((c0(p).ports as Json[])[1] = { containerPort: 70000 }),
    'spec.containers[0].ports[1].containerPort',
    /70000 must be between 1 and 65535/,
  ],
  [
    'hostPort 65536',
    (p) => (c0(p).ports = [{ containerPort: 80, hostPort: 65536 }]),
    'spec.containers[0].ports[0].hostPort',
  ],
  [
    'protocol HTTP',
    (p) => (c0(p).ports = [{ containerPort: 80, protocol: 'HTTP' }]),
    'spec.containers[0].ports[0].protocol',
    /TCP/,
  ],
  [
    'hostIP not an IP',
    (p) => (c0(p).ports = [{ containerPort: 80, hostPort: 80, hostIP: 'x' }]),
    'spec.containers[0].ports[0].hostIP',
  ],
  [
    'the same hostPort twice',
    (p) =>
      p.spec.containers.push({
        name: 'side',
        image: 'busybox',
        ports: [{ containerPort: 81, hostPort: 18080 }],
      }),
    'spec.containers[1].ports[0].hostPort',
    /already bound by spec\.containers\[0\]\.ports\[0\]/,
  ],
  [
    'duplicate port names',
    (p) =>
      p.spec.containers.push({
        name: 'side',
        image: 'busybox',
        ports: [{ name: 'http', containerPort: 81 }],
      }),
    'spec.containers[1].ports[0].name',
  ],
  [
    'unknown resource',
    (p) => (c0(p).resources = { limits: { gpu: '1' } }),
    'spec.containers[0].resources.limits',
    /cpu/,
  ],
  [
    'bad memory quantity',
    (p) => (c0(p).resources = { limits: { memory: '1 GB' } }),
    'spec.containers[0].resources.limits.memory',
  ],
  [
    'bad cpu quantity',
    (p) => (c0(p).resources = { requests: { cpu: 'lots' } }),
    'spec.containers[0].resources.requests.cpu',
  ],
  [
    'request above limit',
    (p) => (c0(p).resources = { requests: { memory: '256Mi' }, limits: { memory: '128Mi' } }),
    'spec.containers[0].resources.requests.memory',
    /must not exceed the limit "128Mi"/,
  ],
  [
    'volume name duplicate',
    (p) => (p.spec.volumes as Json[]).push({ name: 'www', emptyDir: {} }),
    'spec.volumes[2].name',
  ],
  [
    'volume without a source',
    (p) => (p.spec.volumes as Json[]).push({ name: 'x' }),
    'spec.volumes[2]',
    /exactly one source/,
  ],
  [
    'volume with two sources',
    (p) => (p.spec.volumes as Json[]).push({ name: 'x', emptyDir: {}, hostPath: { path: '/a' } }),
    'spec.volumes[2]',
  ],
  [
    'relative hostPath',
    (p) => ((p.spec.volumes as Json[])[0] = { name: 'www', hostPath: { path: 'srv' } }),
    'spec.volumes[0].hostPath.path',
    /absolute/,
  ],
  [
    'hostPath type',
    (p) => ((p.spec.volumes as Json[])[0] = { name: 'www', hostPath: { path: '/s', type: 'Dir' } }),
    'spec.volumes[0].hostPath.type',
  ],
  [
    'emptyDir medium',
    (p) => ((p.spec.volumes as Json[])[1] = { name: 'scratch', emptyDir: { medium: 'Disk' } }),
    'spec.volumes[1].emptyDir.medium',
  ],
  [
    'emptyDir sizeLimit',
    (p) => ((p.spec.volumes as Json[])[1] = { name: 'scratch', emptyDir: { sizeLimit: 'big' } }),
    'spec.volumes[1].emptyDir.sizeLimit',
  ],
  [
    'mount of an unknown volume',
    (p) => (c0(p).volumeMounts = [{ name: 'nope', mountPath: '/x' }]),
    'spec.containers[0].volumeMounts[0].name',
    /not one of spec\.volumes \(www, scratch\)/,
  ],
  [
    'relative mountPath',
    (p) => (c0(p).volumeMounts = [{ name: 'www', mountPath: 'x' }]),
    'spec.containers[0].volumeMounts[0].mountPath',
  ],
  [
    'the same mountPath twice',
    (p) =>
      (c0(p).volumeMounts = [
        { name: 'www', mountPath: '/x' },
        { name: 'scratch', mountPath: '/x' },
      ]),
    'spec.containers[0].volumeMounts[1].mountPath',
  ],
  [
    'subPath with ..',
    (p) => (c0(p).volumeMounts = [{ name: 'www', mountPath: '/x', subPath: '../etc' }]),
    'spec.containers[0].volumeMounts[0].subPath',
  ],
  [
    'probe without an action',
    (p) => (c0(p).livenessProbe = { periodSeconds: 3 }),
    'spec.containers[0].livenessProbe',
    /exactly one/,
  ],
  [
    'probe with two actions',
    (p) => (c0(p).livenessProbe = { exec: { command: ['true'] }, tcpSocket: { port: '80' } }),
    'spec.containers[0].livenessProbe',
    /only one/,
  ],
  [
    'probe port name unknown',
    (p) => (c0(p).livenessProbe = { httpGet: { port: 'metrics' } }),
    'spec.containers[0].livenessProbe.httpGet.port',
    /container's ports \(http\)/,
  ],
  [
    'probe port number 0',
    (p) => (c0(p).readinessProbe = { tcpSocket: { port: '0' } }),
    'spec.containers[0].readinessProbe.tcpSocket.port',
  ],
  [
    'probe threshold 0',
    (p) => (c0(p).readinessProbe = { tcpSocket: { port: '80' }, failureThreshold: 0 }),
    'spec.containers[0].readinessProbe.failureThreshold',
    /at least 1/,
  ],
  [
    'liveness successThreshold 2',
    (p) => (c0(p).livenessProbe = { tcpSocket: { port: '80' }, successThreshold: 2 }),
    'spec.containers[0].livenessProbe.successThreshold',
    /must be 1/,
  ],
  [
    'probe path without /',
    (p) => (c0(p).livenessProbe = { httpGet: { port: '80', path: 'x' } }),
    'spec.containers[0].livenessProbe.httpGet.path',
  ],
  [
    'probe exec empty',
    (p) => (c0(p).startupProbe = { exec: { command: [] } }),
    'spec.containers[0].startupProbe.exec.command',
  ],
  [
    'restartPolicy',
    (p) => (p.spec.restartPolicy = 'Sometimes'),
    'spec.restartPolicy',
    /"Always", "OnFailure", "Never"/,
  ],
  [
    'negative grace',
    (p) => (p.spec.terminationGracePeriodSeconds = -1),
    'spec.terminationGracePeriodSeconds',
  ],
  ['stdinOnce without stdin', (p) => (c0(p).stdin = false), 'spec.containers[0].stdinOnce', /needs stdin/],
  ['bad nodeSelector', (p) => (p.spec.nodeSelector = { zone: 'a b' }), 'spec.nodeSelector.zone'],
  ['bad nodeName', (p) => (p.spec.nodeName = 'Node_1'), 'spec.nodeName'],
  [
    'restartedAt not a time',
    (p) => ((p.metadata as Json).annotations = { 'flotilla.io/restartedAt': 'yesterday' }),
    'metadata.annotations.flotilla.io/restartedAt',
    /RFC 3339/,
  ],
  [
    'auto-remove neither true nor false',
    (p) => ((p.metadata as Json).annotations = { 'flotilla.io/auto-remove': 'yes' }),
    'metadata.annotations.flotilla.io/auto-remove',
  ],
];

for (const [name, edit, field, message] of cases) {
  t.test(name, async (t) => {
    const problems = podProblems(pod(edit));
    t.ok(problems.length >= 1, 'is refused');
    const hit = problems.find((p) => p.field === field);
    t.ok(hit, `names ${field} (got ${problems.map((p) => p.field).join(', ')})`);
    t.ok(hit?.message.startsWith(`${field}: `), 'the message starts with the field path');
    if (message) t.match(hit?.message, message, 'and says what is valid');
  });
}

t.test('tty alone needs nothing', async (t) => {
  t.same(
    podProblems(
      pod((p) => {
        c0(p).stdin = false;
        c0(p).stdinOnce = false;
      }),
    ),
    [],
  );
});

t.test('every problem is collected into one InvalidArgument', async (t) => {
  const bad = pod((p) => {
    (p.metadata as Json).name = 'Bad';
    c0(p).ports = [{ containerPort: 0 }];
    c0(p).image = '';
  });
  const err = t.throws(() => validatePod(bad)) as Error & { code?: string; context?: { field?: string } };
  t.equal(err.code, 'InvalidArgument');
  t.match(err.message, /metadata\.name: "Bad"/);
  t.match(err.message, /spec\.containers\[0\]\.ports\[0\]\.containerPort: 0 must be between 1 and 65535/);
  t.match(err.message, /spec\.containers\[0\]\.image: is required/);
  t.equal(err.context?.field, 'metadata.name', 'the first problem names the field in the error context');
});

t.test('defaults: namespace, restart policy, grace, protocol, pull policy, probes, status', async (t) => {
  const p = newPod(
    Pod.fromJSON({
      metadata: { name: 'x' },
      spec: {
        containers: [
          {
            name: 'a',
            image: 'busybox',
            ports: [{ containerPort: 80 }],
            readinessProbe: { httpGet: { port: '80' } },
          },
          { name: 'b', image: 'busybox:1.36' },
          { name: 'c', image: 'busybox:latest' },
          { name: 'd', image: `busybox@sha256:${'a'.repeat(64)}` },
          { name: 'e', image: 'busybox', imagePullPolicy: 'Never' },
        ],
      },
    }),
    { uid: 'uid-1', now: new Date('2026-01-01T00:00:00Z') },
  );
  t.equal(p.metadata?.namespace, 'default');
  t.equal(p.metadata?.uid, 'uid-1');
  t.equal(p.metadata?.generation, 1);
  t.equal(p.metadata?.creationTimestamp, '2026-01-01T00:00:00.000Z');
  t.equal(p.spec?.restartPolicy, 'Always');
  t.equal(p.spec?.terminationGracePeriodSeconds, 30);
  t.equal(p.spec?.containers[0]?.ports[0]?.protocol, 'TCP');
  t.same(
    p.spec?.containers.map((c) => c.imagePullPolicy),
    ['Always', 'IfNotPresent', 'Always', 'IfNotPresent', 'Never'],
  );
  const probe = p.spec?.containers[0]?.readinessProbe;
  t.same(
    [
      probe?.httpGet?.path,
      probe?.httpGet?.scheme,
      probe?.timeoutSeconds,
      probe?.periodSeconds,
      probe?.failureThreshold,
    ],
    ['/', 'HTTP', 1, 10, 3],
  );
  t.equal(p.status?.phase, 'Pending');
  t.same(podProblems(p), []);
  t.equal(defaultImagePullPolicy('not a ref'), '', 'an invalid image gets no policy (validation says why)');
});

t.test('a restartPolicy given is kept (deploy run sends Never)', async (t) => {
  t.equal(pod().spec?.restartPolicy, 'Never');
});
