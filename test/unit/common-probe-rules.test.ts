// The probe rules and quantity parser @flotilla/common shares between the controller's
// validation and the agents: the same input gets the same field-precise answer on both sides.
import t from 'tap';
import { Probe as ProtoProbe } from '@flotilla/proto';
import {
  FlotillaError,
  parseByteQuantity,
  parseCpuMillis,
  probeFromWire,
  probeProblems,
  scaledQuantity,
  validatePortName,
} from '@flotilla/common';

const ports = [
  { name: 'http', containerPort: 8080 },
  { name: '', containerPort: 9000 },
];

t.test('wire probes: numeric ports become numbers, empty strings are left out', async (t) => {
  t.same(probeFromWire(ProtoProbe.fromJSON({ httpGet: { port: '8080', scheme: 'FTP' }, periodSeconds: 2 })), {
    httpGet: { port: 8080, scheme: 'FTP' },
    periodSeconds: 2,
  });
  t.same(probeFromWire(ProtoProbe.fromJSON({ tcpSocket: { port: 'http', host: '' } })), {
    tcpSocket: { port: 'http' },
  });
});

t.test('with the container ports, a port name must be one of them', async (t) => {
  const field = 'spec.containers[0].livenessProbe';
  t.same(probeProblems({ httpGet: { port: 'http' } }, 'liveness', field, ports), []);
  const [unknown, ...rest] = probeProblems({ httpGet: { port: 'metrics' } }, 'liveness', field, ports);
  t.same(rest, []);
  t.equal(unknown?.field, `${field}.httpGet.port`);
  t.equal(unknown?.value, 'metrics');
  t.equal(
    unknown?.message,
    `${field}.httpGet.port: port name "metrics" is not one of the container's ports (http)`,
  );
  // Without them (the agent validates before it resolves), only the name's form is checked.
  t.same(probeProblems({ httpGet: { port: 'metrics' } }, 'liveness', field), []);
  const [empty] = probeProblems(probeFromWire(ProtoProbe.fromJSON({ tcpSocket: {} })), 'readiness');
  t.match(empty, { field: 'readinessProbe.tcpSocket.port', value: undefined });
  t.match(empty?.message, /^readinessProbe\.tcpSocket\.port: is required: a port number or the name/);
  t.match(probeProblems({ tcpSocket: { port: 0 } }, 'readiness')[0], {
    field: 'readinessProbe.tcpSocket.port',
    value: 0,
    message: 'readinessProbe.tcpSocket.port: 0 must be between 1 and 65535',
  });
});

t.test('port names follow IANA_SVC_NAME', async (t) => {
  t.equal(validatePortName('web-1'), undefined);
  for (const bad of ['', 'HTTP', '8080', 'a--b', '-a', 'a-', 'a-very-long-port-name']) {
    t.match(validatePortName(bad), /at most 15 lower-case letters/, bad);
  }
});

t.test('quantities: exact, rounded up, errors name the field and the value', async (t) => {
  t.equal(scaledQuantity(' 0.1 ', 1000n), 100n);
  t.equal(scaledQuantity('1Ki', 1n), 1024n);
  t.equal(scaledQuantity('1e999999', 1n), undefined);
  t.equal(parseCpuMillis('0.1', 'cpu'), 100);
  t.equal(parseByteQuantity('1.5Gi', 'memory'), 1610612736);
  const err = t.throws(() => parseByteQuantity('1 GB', 'spec.volumes[0].emptyDir.sizeLimit'));
  t.type(err, FlotillaError);
  t.equal(
    (err as Error).message,
    'spec.volumes[0].emptyDir.sizeLimit: "1 GB" is not a quantity; want e.g. 256Mi, 1G or 500000000',
  );
  t.throws(
    () => parseCpuMillis('lots', 'cpu'),
    /^cpu: "lots" is not a CPU quantity; want e.g. 500m, 0.5 or 2$/,
  );
});
