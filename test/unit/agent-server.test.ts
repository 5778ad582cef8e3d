// The pure parts of the Agent service and its proxy: --agent-listen, request checks,
// conmon's attach flags, the node's daemonEndpoints, how the controller names an agent.
import t from 'tap';
import type { PeerCertificate } from 'node:tls';
import {
  agentListenAddress,
  attachPaths,
  attachStartOf,
  buildNode,
  conmonArgs,
  execStartOf,
  parseAgentListen,
  parseAgentArgs,
  parseSinceTime,
  parseTailLines,
  validSize,
  withAgentPort,
  type HostFacts,
} from '@flotilla/agent';
import { agentAddressOf, checkNodeIdentity } from '@flotilla/controller';
import { Node, type StreamRequest } from '@flotilla/proto';

t.test('--agent-listen', async (t) => {
  t.same(parseAgentListen('--agent-listen', '10.0.0.5:10250'), { host: '10.0.0.5', port: 10250 });
  t.same(parseAgentListen('--agent-listen', ':0'), { port: 0 }, 'no host: the node address');
  t.same(parseAgentListen('--agent-listen', '[fd00::1]:7'), { host: 'fd00::1', port: 7 });
  for (const bad of ['10250', 'host.example:1', '1.2.3.4:70000', '1.2.3.4:', '[1.2.3.4]:5']) {
    t.throws(() => parseAgentListen('--agent-listen', bad), { code: 'InvalidArgument' }, bad);
  }
  t.same(agentListenAddress(undefined, '10.1.1.1'), { host: '10.1.1.1', port: 10250 }, 'the default');
  t.same(agentListenAddress({ port: 0 }, '10.1.1.1'), { host: '10.1.1.1', port: 0 });
  const cmd = parseAgentArgs(['--agent-listen', '127.0.0.1:0'], {});
  t.match(cmd, { kind: 'run', options: { agentListen: { host: '127.0.0.1', port: 0 } } });
  t.throws(() => parseAgentArgs(['--agent-listen', 'nope'], {}), /--agent-listen "nope" is not valid/);
});

t.test('sinceTime and tailLines', async (t) => {
  t.equal(parseSinceTime(''), undefined);
  t.equal(parseSinceTime('2026-01-02T03:04:05.123456789Z'), Date.UTC(2026, 0, 2, 3, 4, 5, 123));
  t.equal(parseSinceTime('2026-01-02T03:04:05+01:00'), Date.UTC(2026, 0, 2, 2, 4, 5));
  t.throws(() => parseSinceTime('2026-01-02'), { code: 'InvalidArgument', context: { field: 'sinceTime' } });
  t.equal(parseTailLines(undefined), undefined);
  t.equal(parseTailLines(0), 0);
  t.throws(() => parseTailLines(-1), { code: 'InvalidArgument' });
});

t.test('first frames', async (t) => {
  const frame = (f: Partial<StreamRequest>): StreamRequest => ({
    exec: undefined,
    attach: undefined,
    stdin: Buffer.alloc(0),
    resize: undefined,
    closeStdin: false,
    ...f,
  });
  const exec = {
    namespace: 'default',
    pod: 'p',
    container: '',
    command: ['sh'],
    stdin: false,
    tty: false,
    size: undefined,
    uid: '',
  };
  t.equal(execStartOf(frame({ exec })).pod, 'p');
  t.throws(() => execStartOf(frame({ stdin: Buffer.from('x') })), /first frame of Exec must carry exec/);
  t.throws(() => execStartOf(undefined), { code: 'InvalidArgument' });
  t.throws(() => execStartOf(frame({ exec: { ...exec, command: [] } })), /needs a command/);
  t.throws(() => execStartOf(frame({ exec: { ...exec, pod: '' } })), /namespace and pod are required/);
  const attach = {
    namespace: 'default',
    pod: 'p',
    container: 'c',
    stdin: true,
    tty: true,
    size: undefined,
    uid: '',
  };
  t.equal(attachStartOf(frame({ attach })).container, 'c');
  t.throws(() => attachStartOf(frame({ exec })), /first frame of Attach must carry attach/);
  t.equal(validSize(undefined), undefined);
  t.equal(validSize({ rows: 0, cols: 80 }), undefined, 'no size yet');
  t.same(validSize({ rows: 5000, cols: 80 }), { rows: 1000, cols: 80 }, 'conmon takes at most 1000');
});

t.test('conmon flags for terminals and stdin', async (t) => {
  const roots = { runcRoot: '/run/r', stateDir: '/var/s' };
  const base = { id: 'c1', bundle: '/b', logPath: '/l', runc: '/usr/sbin/runc', roots };
  const plain = conmonArgs(base);
  t.notOk(plain.includes('--terminal') || plain.includes('--stdin'), 'neither by default');
  t.ok(conmonArgs({ ...base, terminal: true }).includes('--terminal'));
  const open = conmonArgs({ ...base, stdin: true });
  t.ok(open.includes('--stdin') && open.includes('--leave-stdin-open'), 'stdin stays open across attaches');
  const once = conmonArgs({ ...base, stdin: true, stdinOnce: true });
  t.ok(
    once.includes('--stdin') && !once.includes('--leave-stdin-open'),
    'stdinOnce: closed when the client leaves',
  );
  t.same(attachPaths(roots, 'c1'), {
    dir: '/var/s/sockets/c1',
    socket: '/var/s/sockets/c1/attach',
    ctl: '/var/s/sockets/c1/ctl',
  });
});

t.test("the node's Agent port, and how the controller finds and checks it", async (t) => {
  const facts: HostFacts = {
    hostname: 'h',
    machineID: 'm',
    bootID: 'b',
    kernelVersion: 'k',
    osImage: 'o',
    operatingSystem: 'linux',
    architecture: 'amd64',
    cpuCount: 2,
    memoryTotalBytes: 1024 * 1024,
    ipv4Addresses: ['10.0.0.9'],
    runcVersion: '1',
    agentVersion: '1',
  };
  const node = buildNode(facts, { nodeName: 'n1', labels: {} });
  t.equal(node.status?.daemonEndpoints, undefined, 'no port before the server is bound');
  const bound = withAgentPort(node, 43210);
  t.same(bound.status?.daemonEndpoints, { agentEndpoint: { port: 43210 } });
  t.equal(node.status?.daemonEndpoints, undefined, 'the original is untouched');
  t.equal(
    buildNode(facts, { nodeName: 'n1', labels: {}, agentPort: 7 }).status?.daemonEndpoints?.agentEndpoint
      ?.port,
    7,
  );

  t.equal(agentAddressOf(bound, 'default/p'), '10.0.0.9:43210');
  t.throws(() => agentAddressOf(node, 'default/p'), {
    code: 'Unavailable',
    message: /reports no Agent service port/,
  });
  const noIp = Node.fromJSON({
    metadata: { name: 'n2' },
    status: { daemonEndpoints: { agentEndpoint: { port: 1 } } },
  });
  t.throws(() => agentAddressOf(noIp, 'default/p'), /node "n2", which reports no InternalIP/);

  const check = checkNodeIdentity('n1');
  const cert = (cn: string, eku?: string[]): PeerCertificate =>
    ({ subject: { CN: cn }, ...(eku ? { ext_key_usage: eku } : {}) }) as unknown as PeerCertificate;
  t.equal(check('10.0.0.9', cert('node:n1', ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])), undefined);
  t.match(check('10.0.0.9', cert('node:n2')), { message: /CN=node:n2, not node:n1/ });
  t.match(check('10.0.0.9', cert('node:n1', ['1.3.6.1.5.5.7.3.2'])), { message: /for clients only/ });
});
