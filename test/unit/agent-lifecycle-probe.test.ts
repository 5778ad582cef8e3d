import t from 'tap';
import { FlotillaError } from '@flotilla/common';
import { probeErrors, resolveProbe, resolveProbePort, type Probe } from '@flotilla/agent';

const ports = [
  { name: 'http', containerPort: 8080 },
  { name: '', containerPort: 9000 },
];

t.test("defaults are Kubernetes' and named ports resolve", async (t) => {
  const r = resolveProbe({ httpGet: { port: 'http' } }, 'liveness', ports);
  t.same(r, {
    kind: 'liveness',
    action: { type: 'httpGet', scheme: 'HTTP', host: undefined, port: 8080, path: '/', headers: [] },
    initialDelaySeconds: 0,
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
  const tcp = resolveProbe(
    { tcpSocket: { port: 9000, host: '10.0.0.5' }, periodSeconds: 2 },
    'readiness',
    ports,
  );
  t.same(tcp.action, { type: 'tcpSocket', host: '10.0.0.5', port: 9000 });
  t.equal(tcp.periodSeconds, 2);
  t.same(resolveProbe({ exec: { command: ['cat', '/tmp/ok'] } }, 'startup', []).action, {
    type: 'exec',
    command: ['cat', '/tmp/ok'],
  });
});

t.test('an unknown port name is an error naming the field and the ports there are', async (t) => {
  t.equal(resolveProbePort(7, [], 'x'), 7);
  const err = t.throws(() => resolveProbePort('metrics', ports, 'livenessProbe.httpGet.port'));
  t.type(err, FlotillaError);
  t.match(
    (err as Error).message,
    /^livenessProbe\.httpGet\.port: port name "metrics" is not one of the container's ports \(http\)/,
  );
});

t.test('the validator names each bad field and value', async (t) => {
  const cases: Array<[Probe, 'liveness' | 'readiness' | 'startup', RegExp]> = [
    [
      { httpGet: { port: 80 }, periodSeconds: 0 },
      'readiness',
      /^readinessProbe\.periodSeconds: 0 must be at least 1$/,
    ],
    [
      { httpGet: { port: 80 }, timeoutSeconds: 0 },
      'liveness',
      /^livenessProbe\.timeoutSeconds: 0 must be at least 1$/,
    ],
    [
      { httpGet: { port: 80 }, initialDelaySeconds: -1 },
      'liveness',
      /initialDelaySeconds: -1 must be at least 0/,
    ],
    [{ httpGet: { port: 80 }, failureThreshold: 0 }, 'liveness', /failureThreshold: 0 must be at least 1/],
    [{ httpGet: { port: 80 }, periodSeconds: 1.5 }, 'liveness', /periodSeconds: 1.5 must be a whole number/],
    [
      { httpGet: { port: 80 }, successThreshold: 2 },
      'liveness',
      /^livenessProbe\.successThreshold: 2 must be 1 for a liveness probe$/,
    ],
    [{ httpGet: { port: 80 }, successThreshold: 2 }, 'startup', /must be 1 for a startup probe/],
    [{}, 'liveness', /^livenessProbe: must specify exactly one of httpGet, tcpSocket or exec$/],
    [
      { httpGet: { port: 80 }, exec: { command: ['true'] } },
      'liveness',
      /only one of .* not httpGet and exec/,
    ],
    [{ httpGet: { port: 0 } }, 'liveness', /^livenessProbe\.httpGet\.port: 0 must be between 1 and 65535$/],
    [
      { tcpSocket: { port: 70000 } },
      'readiness',
      /^readinessProbe\.tcpSocket\.port: 70000 must be between 1 and 65535$/,
    ],
    [
      { tcpSocket: { port: 'HTTP' } },
      'readiness',
      /tcpSocket\.port: "HTTP" must be a port number or a port name/,
    ],
    [{ tcpSocket: { port: 'a-very-long-port-name' } }, 'readiness', /port name of at most 15/],
    [{ tcpSocket: { port: '8080' } }, 'readiness', /at least one letter/],
    [{ httpGet: { port: 80, path: 'healthz' } }, 'liveness', /httpGet\.path: "healthz" must start with "\/"/],
    [
      { httpGet: { port: 80, scheme: 'FTP' as 'HTTP' } },
      'liveness',
      /httpGet\.scheme: "FTP" must be HTTP or HTTPS/,
    ],
    [
      { httpGet: { port: 80, httpHeaders: [{ name: 'bad header', value: 'x' }] } },
      'liveness',
      /httpHeaders\[0\]\.name: "bad header"/,
    ],
    [{ exec: { command: [] } }, 'startup', /^startupProbe\.exec\.command: must not be empty$/],
  ];
  for (const [probe, kind, reason] of cases) {
    const errors = probeErrors(probe, kind);
    t.equal(errors.length, 1, JSON.stringify(probe));
    t.match(errors[0], reason, JSON.stringify(probe));
  }
  t.same(
    probeErrors(
      { httpGet: { port: 'http', path: '/healthz', scheme: 'HTTPS' }, successThreshold: 3 },
      'readiness',
    ),
    [],
  );
  t.same(probeErrors({ tcpSocket: { port: 'web-1' } }, 'liveness', 'spec.containers[0].livenessProbe'), []);
  t.match(
    probeErrors({ tcpSocket: { port: 0 } }, 'liveness', 'spec.containers[0].livenessProbe')[0],
    /^spec\.containers\[0\]\.livenessProbe\.tcpSocket\.port/,
  );
  const err = t.throws(() => resolveProbe({ httpGet: { port: 0 }, periodSeconds: 0 }, 'readiness', []));
  t.type(err, FlotillaError);
  t.match((err as Error).message, /periodSeconds: 0 must be at least 1; readinessProbe\.httpGet\.port: 0/);
});
