// The Agent gRPC service end to end with the host's runc and conmon: a real TLS server
// with test certificates, dialled the way the controller dials it (CA + CN node:<name>),
// containers run by the conmon runner. Attach to a tty shell (input, resize, exit code),
// exec with and without a terminal, cancelling an exec, logs with tail and follow, who
// may call; then the same through the controller's Cluster proxy (pods and nodes in etcd).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { busyboxRootfs, ociConfigForBuild, readHostLimits } from '@flotilla/images';
import {
  ContainerRunner,
  startAgentServer,
  type ContainerHandle,
  type PodRuntimeView,
  type RunningAgentServer,
} from '@flotilla/agent';
import {
  AgentClients,
  EtcdStore,
  agentChannel,
  createPodStreamService,
  keys,
  nodeCodec,
  podCodec,
} from '@flotilla/controller';
import {
  adminOrganization,
  controllerOrganization,
  createCertificateAuthority,
  issueCertificate,
  nodeCommonName,
  nodeOrganization,
  notFound,
  controllerChannel,
  serverCredentials,
  silentLogger,
  type KeyAndCert,
} from '@flotilla/common';
import {
  AgentClient,
  ClusterClient,
  ClusterService,
  Node,
  Pod,
  type LogsRequest,
  type LogsResponse,
  type StreamRequest,
  type StreamResponse,
} from '@flotilla/proto';
import { freePort, makeRunDir, startEtcd, waitFor } from '../lib/index.js';

const tools = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/python3'].every((p) => existsSync(p));
const skip =
  process.getuid?.() !== 0
    ? { skip: 'needs root' }
    : !tools
      ? { skip: 'needs runc, conmon and python3' }
      : {};

const run = makeRunDir('attach');
const runcRoot = join(run, 'runc');
const stateDir = join(run, 'state');
const rootfs = join(run, 'rootfs');
const cgroupParent = `flotilla-test-${basename(run)}`;
const roots = { runcRoot, stateDir };
const runner = new ContainerRunner({ ...roots, logger: silentLogger, pollMs: 20 });
const nodeName = 'attach-node';

t.teardown(() => {
  if (existsSync(runcRoot)) {
    for (const id of readdirSync(runcRoot)) {
      try {
        execFileSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
  for (const controller of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    const dir = join('/sys/fs/cgroup', controller, cgroupParent);
    if (existsSync(dir)) {
      try {
        execFileSync('rmdir', [dir]);
      } catch {
        // a controller that is a symlink to another (cpu,cpuacct) is removed through it
      }
    }
  }
  rmSync(run, { recursive: true, force: true });
});

// Containers the view knows: one per pod, named after it.
const containers = new Map<string, ContainerHandle>();
const view: PodRuntimeView = {
  container(namespace, pod, container, uid) {
    const h = containers.get(`${namespace}/${pod}`);
    if (!h || (container !== '' && container !== h.container) || (uid !== undefined && uid !== h.uid)) {
      throw notFound(`pod ${namespace}/${pod} (container "${container}") is not on this node`);
    }
    return h;
  },
  async waitExit(containerId, signal) {
    for (;;) {
      const exit = await runner.waitExit(containerId, 200);
      if (exit) return { exitCode: exit.exitCode, reason: exit.exitCode === 0 ? 'Completed' : 'Error' };
      if (signal?.aborted) throw new Error('aborted');
    }
  },
};

let rootfsReady = false;
async function startContainer(
  pod: string,
  args: string[],
  opts: { tty?: boolean; stdin?: boolean } = {},
): Promise<ContainerHandle> {
  if (!rootfsReady) {
    await busyboxRootfs(rootfs);
    rootfsReady = true;
  }
  const id = `att-${pod}`;
  const dir = join(run, 'bundles', id);
  await mkdir(dir, { recursive: true });
  const spec = ociConfigForBuild({
    args,
    env: ['PATH=/bin', 'PS1=$ '],
    cwd: '/',
    user: { uid: 0, gid: 0 },
    rootfs,
    cgroupsPath: `/${cgroupParent}/${id}`,
    hostLimits: await readHostLimits(),
    hostname: pod,
  });
  spec.root = { path: rootfs, readonly: true };
  if (spec.process) spec.process.terminal = opts.tty === true;
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
  const created = await runner.run({
    id,
    bundle: dir,
    terminal: opts.tty === true,
    stdin: opts.stdin === true,
    stdinOnce: false,
  });
  const handle: ContainerHandle = {
    namespace: 'default',
    pod,
    uid: `uid-${pod}`,
    container: pod,
    containerId: id,
    logPath: created.logPath,
    running: true,
    tty: opts.tty === true,
    stdin: opts.stdin === true,
  };
  containers.set(`default/${pod}`, handle);
  return handle;
}

let ca: KeyAndCert;
let controllerCert: KeyAndCert;
let server: RunningAgentServer;
let client: AgentClient;

t.before(async () => {
  if ('skip' in skip) return;
  ca = await createCertificateAuthority('attach-test-ca');
  const nodeCert = await issueCertificate(ca, {
    subject: { commonName: nodeCommonName(nodeName), organization: nodeOrganization },
    usage: 'both',
    validDays: 1,
  });
  controllerCert = await issueCertificate(ca, {
    subject: { commonName: 'flotilla-controller', organization: controllerOrganization },
    usage: 'both',
    ipAddresses: ['127.0.0.1'],
    validDays: 1,
  });
  server = await startAgentServer({
    host: '127.0.0.1',
    port: 0,
    keyPem: nodeCert.keyPem,
    certPem: nodeCert.certPem,
    caPem: ca.certPem,
    pods: view,
    roots,
    log: silentLogger,
    logPollMs: 50,
  });
  const { credentials, options } = agentChannel(nodeName, { caPem: ca.certPem, ...controllerCert });
  client = new AgentClient(server.address, credentials, options);
});

t.teardown(async () => {
  client?.close();
  await server?.stop(100);
});

const empty: StreamRequest = {
  exec: undefined,
  attach: undefined,
  stdin: Buffer.alloc(0),
  resize: undefined,
  closeStdin: false,
};

/** A bidi call with its output collected as text and its end as a promise. */
function open(call: grpc.ClientDuplexStream<StreamRequest, StreamResponse>) {
  let out = '';
  let err = '';
  const ended = new Promise<{ exit?: StreamResponse['exit']; error?: grpc.ServiceError }>((resolve) => {
    let exit: StreamResponse['exit'];
    call.on('data', (r: StreamResponse) => {
      out += r.stdout.toString();
      err += r.stderr.toString();
      if (r.exit) exit = r.exit;
    });
    call.on('error', (e: grpc.ServiceError) => resolve({ error: e }));
    call.on('end', () => resolve({ exit }));
  });
  return {
    call,
    ended,
    out: () => out,
    err: () => err,
    send: (frame: Partial<StreamRequest>) => call.write({ ...empty, ...frame }),
  };
}

function logs(req: Partial<LogsRequest>): Promise<{ lines: string[]; batches: number }> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let batches = 0;
    const call = client.logs({
      namespace: 'default',
      pod: '',
      container: '',
      follow: false,
      tailLines: undefined,
      sinceTime: '',
      previous: false,
      uid: '',
      ...req,
    });
    call.on('data', (r: LogsResponse) => {
      batches++;
      for (const e of r.entries) lines.push(`${e.stream}:${e.content.toString()}`);
    });
    call.on('error', reject);
    call.on('end', () => resolve({ lines, batches }));
  });
}

t.test('attach to a tty shell: input, resize, exit status', skip, async (t) => {
  const handle = await startContainer('shell', ['sh'], { tty: true, stdin: true });
  const s = open(client.attach());
  s.send({
    attach: {
      namespace: 'default',
      pod: 'shell',
      container: '',
      stdin: true,
      tty: true,
      size: { rows: 24, cols: 80 },
      uid: handle.uid,
    },
  });
  s.send({ stdin: Buffer.from('echo $((6*7))\n') });
  await waitFor('42 from the shell', () => s.out().includes('42'));
  s.send({ resize: { rows: 33, cols: 101 } });
  s.send({ stdin: Buffer.from('stty size\n') });
  await waitFor('the new size from stty', () => s.out().includes('33 101'), { timeoutMs: 10_000 });
  s.send({ stdin: Buffer.from('exit 3\n') });
  const end = await s.ended;
  t.equal(end.error, undefined, 'no error');
  t.same(end.exit, { exitCode: 3, reason: 'Error' }, 'the shell exit code, last');
});

t.test('exec with pipes and with a terminal', skip, async (t) => {
  await startContainer('sleeper', ['sleep', '600']);
  const start = { namespace: 'default', pod: 'sleeper', container: 'sleeper', uid: '', size: undefined };

  const pipes = open(client.exec());
  pipes.send({
    exec: { ...start, command: ['sh', '-c', 'cat; echo to-err >&2; exit 5'], stdin: true, tty: false },
  });
  pipes.send({ stdin: Buffer.from('hello through a pipe\n') });
  pipes.send({ closeStdin: true });
  const piped = await pipes.ended;
  t.same(piped.exit, { exitCode: 5, reason: 'Error' });
  t.equal(pipes.out(), 'hello through a pipe\n', 'stdin came back on stdout');
  t.equal(pipes.err(), 'to-err\n', 'stderr on its own stream');

  const tty = open(client.exec());
  tty.send({ exec: { ...start, command: ['sh'], stdin: true, tty: true, size: { rows: 40, cols: 120 } } });
  tty.send({ stdin: Buffer.from('tty; stty size; exit 7\n') });
  const tted = await tty.ended;
  t.same(tted.exit, { exitCode: 7, reason: 'Error' });
  t.match(tty.out(), /\/dev\/pts\/\d+/, 'a real terminal');
  t.match(tty.out(), /40 120/, 'of the asked size');

  const none = open(client.exec());
  none.send({ exec: { ...start, command: ['no-such-command'], stdin: false, tty: false } });
  const failed = await none.ended;
  t.not(failed.exit?.exitCode, 0, 'a command that does not exist fails');
});

t.test('cancelling an exec kills its process', skip, async (t) => {
  const s = open(client.exec());
  s.send({
    exec: {
      namespace: 'default',
      pod: 'sleeper',
      container: '',
      uid: '',
      size: undefined,
      command: ['sh', '-c', 'echo started; exec sleep 300'],
      stdin: false,
      tty: false,
    },
  });
  await waitFor('the exec started', () => s.out().includes('started'));
  const before = execFileSync('runc', ['--root', runcRoot, 'ps', 'att-sleeper']).toString();
  t.match(before, /sleep 300/, 'the exec process runs');
  s.call.cancel();
  await s.ended;
  await waitFor(
    'the exec process gone',
    () => !execFileSync('runc', ['--root', runcRoot, 'ps', 'att-sleeper']).toString().includes('sleep 300'),
  );
});

t.test('logs: all, tail, sinceTime, follow until the container ends', skip, async (t) => {
  await startContainer(
    'talker',
    ['sh', '-c', 'for i in 1 2 3; do echo line-$i; done; echo oops >&2; read x; echo after-$x; exit 0'],
    { stdin: true },
  );
  await waitFor('four lines logged', async () => (await logs({ pod: 'talker' })).lines.length === 4);
  const all = await logs({ pod: 'talker' });
  t.same(all.lines, ['stdout:line-1', 'stdout:line-2', 'stdout:line-3', 'stderr:oops']);
  t.equal(all.batches, 1, 'what is there is sent in one batch');
  t.same((await logs({ pod: 'talker', tailLines: 2 })).lines, ['stdout:line-3', 'stderr:oops']);
  t.same(
    (await logs({ pod: 'talker', sinceTime: '2999-01-01T00:00:00Z' })).lines,
    [],
    'nothing after a future time',
  );
  await t.rejects(logs({ pod: 'talker', sinceTime: 'yesterday' }), { code: grpc.status.INVALID_ARGUMENT });

  const followed = logs({ pod: 'talker', follow: true, tailLines: 1 });
  // The container is waiting on stdin: give it a line through attach, then it exits.
  const a = open(client.attach());
  a.send({
    attach: {
      namespace: 'default',
      pod: 'talker',
      container: '',
      stdin: true,
      tty: false,
      size: undefined,
      uid: '',
    },
  });
  a.send({ stdin: Buffer.from('now\n') });
  const attached = await a.ended;
  t.same(attached.exit, { exitCode: 0, reason: 'Completed' });
  t.match(a.out(), 'after-now', 'output after attaching comes through attach');
  const result = await followed;
  t.same(
    result.lines,
    ['stderr:oops', 'stdout:after-now'],
    'follow ended with the container, after its last line',
  );
});

t.test('previous runs and refusals', skip, async (t) => {
  const talker = containers.get('default/talker');
  if (!talker) throw new Error('the logs test runs first');
  // A pod whose container restarted: its previous run is the talker's.
  containers.set('default/again', {
    ...talker,
    pod: 'again',
    previous: { containerId: talker.containerId, logPath: talker.logPath },
  });
  t.same(
    (await logs({ pod: 'again', previous: true, tailLines: 1 })).lines,
    ['stdout:after-now'],
    'the previous run',
  );
  await t.rejects(logs({ pod: 'talker', previous: true }), {
    code: grpc.status.NOT_FOUND,
    details: /previous terminated container "talker" of pod default\/talker not found/,
  });

  containers.set('default/talker', { ...talker, running: false });
  const refused = async (
    kind: 'exec' | 'attach',
    frame: Partial<StreamRequest>,
  ): Promise<grpc.ServiceError | undefined> => {
    const s = open(kind === 'exec' ? client.exec() : client.attach());
    s.send(frame);
    return (await s.ended).error;
  };
  const execStart = {
    namespace: 'default',
    container: '',
    uid: '',
    size: undefined,
    command: ['true'],
    stdin: false,
    tty: false,
  };
  t.match(await refused('exec', { exec: { ...execStart, pod: 'talker' } }), {
    code: grpc.status.FAILED_PRECONDITION,
    details: /cannot exec in container "talker" of pod default\/talker: it is not running/,
  });
  const attachStart = {
    namespace: 'default',
    container: '',
    uid: '',
    size: undefined,
    stdin: true,
    tty: false,
  };
  t.match(await refused('attach', { attach: { ...attachStart, pod: 'sleeper' } }), {
    code: grpc.status.FAILED_PRECONDITION,
    details: /created without one/,
  });
  t.match(await refused('attach', { exec: { ...execStart, pod: 'sleeper' } }), {
    code: grpc.status.INVALID_ARGUMENT,
    details: /first frame of Attach must carry attach/,
  });
  t.match(
    await refused('exec', { exec: { ...execStart, pod: 'sleeper', uid: 'another-uid' } }),
    {
      code: grpc.status.NOT_FOUND,
    },
    "a uid that is not the pod's",
  );
  containers.set('default/talker', talker);
});

t.test('who may call', skip, async (t) => {
  const admin = await issueCertificate(ca, {
    subject: { commonName: 'someone', organization: adminOrganization },
    usage: 'client',
    validDays: 1,
  });
  const { credentials, options } = agentChannel(nodeName, { caPem: ca.certPem, ...admin });
  const asAdmin = new AgentClient(server.address, credentials, options);
  const denied = await new Promise<grpc.ServiceError>((resolve) => {
    const call = asAdmin.logs({
      namespace: 'default',
      pod: 'talker',
      container: '',
      follow: false,
      sinceTime: '',
      previous: false,
      uid: '',
    });
    call.on('data', () => undefined);
    call.on('error', resolve);
  });
  t.equal(denied.code, grpc.status.PERMISSION_DENIED, 'an admin is not a controller');
  asAdmin.close();

  const wrongNode = agentChannel('other-node', { caPem: ca.certPem, ...controllerCert });
  const misdirected = new AgentClient(server.address, wrongNode.credentials, wrongNode.options);
  const refused = await new Promise<grpc.ServiceError>((resolve) => {
    const call = misdirected.logs({
      namespace: 'default',
      pod: 'talker',
      container: '',
      follow: false,
      sinceTime: '',
      previous: false,
      uid: '',
    });
    call.on('data', () => undefined);
    call.on('error', resolve);
  });
  t.equal(refused.code, grpc.status.UNAVAILABLE, 'a controller refuses an agent with another node name');
  misdirected.close();

  const missing = await logs({ pod: 'nope' }).catch((e: grpc.ServiceError) => e);
  t.equal((missing as grpc.ServiceError).code, grpc.status.NOT_FOUND);
});

t.test("through the controller's Cluster proxy", skip, async (t) => {
  const etcd = await startEtcd(run);
  t.teardown(() => etcd.stop());
  const store = new EtcdStore({ endpoints: [etcd.endpoint], logger: silentLogger });
  t.teardown(() => store.close());
  const node = (name: string, port: number): Node =>
    Node.fromJSON({
      metadata: { name },
      status: {
        addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
        daemonEndpoints: { agentEndpoint: { port } },
      },
    });
  const pod = (name: string, nodeName: string): Pod =>
    Pod.fromJSON({ metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec: { nodeName } });
  await store.create(nodeCodec, keys.node(nodeName), node(nodeName, server.port));
  const closed = await freePort();
  await store.create(nodeCodec, keys.node('gone-node'), node('gone-node', closed));
  await store.create(podCodec, keys.pod('default', 'sleeper'), pod('sleeper', nodeName));
  await store.create(podCodec, keys.pod('default', 'talker'), pod('talker', nodeName));
  await store.create(podCodec, keys.pod('default', 'pending'), pod('pending', ''));
  await store.create(podCodec, keys.pod('default', 'lost'), pod('lost', 'gone-node'));

  const agents = new AgentClients({ caPem: ca.certPem, ...controllerCert });
  t.teardown(() => agents.close());
  const api = new grpc.Server();
  api.addService(
    ClusterService,
    createPodStreamService({ store, caPem: ca.certPem, agents, log: silentLogger }),
  );
  const apiPort = await new Promise<number>((resolve, reject) =>
    api.bindAsync(
      '127.0.0.1:0',
      serverCredentials(ca.certPem, controllerCert.certPem, controllerCert.keyPem),
      (err, port) => (err ? reject(err) : resolve(port)),
    ),
  );
  t.teardown(() => api.forceShutdown());
  const admin = await issueCertificate(ca, {
    subject: { commonName: 'admin', organization: adminOrganization },
    usage: 'client',
    validDays: 1,
  });
  const address = `127.0.0.1:${apiPort}`;
  const channel = controllerChannel(address, { caPem: ca.certPem, ...admin });
  const cluster = new ClusterClient(address, channel.credentials, channel.options);
  t.teardown(() => cluster.close());

  const podLogs = (name: string): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const lines: string[] = [];
      const call = cluster.podLogs({
        namespace: '',
        pod: name,
        container: '',
        follow: false,
        tailLines: undefined,
        sinceTime: '',
        previous: false,
        uid: '',
      });
      call.on('data', (r: LogsResponse) => lines.push(...r.entries.map((e) => e.content.toString())));
      call.on('error', reject);
      call.on('end', () => resolve(lines));
    });
  t.same(
    await podLogs('talker'),
    ['line-1', 'line-2', 'line-3', 'oops', 'after-now'],
    'logs through the proxy',
  );

  const s = open(cluster.exec());
  s.send({
    exec: {
      namespace: 'default',
      pod: 'sleeper',
      container: '',
      uid: '',
      size: undefined,
      command: ['sh', '-c', 'read x; echo got-$x; exit 4'],
      stdin: true,
      tty: false,
    },
  });
  s.send({ stdin: Buffer.from('it\n') });
  const end = await s.ended;
  t.same(end.exit, { exitCode: 4, reason: 'Error' }, 'exec through the proxy');
  t.equal(s.out(), 'got-it\n');

  const long = open(cluster.exec());
  long.send({
    exec: {
      namespace: 'default',
      pod: 'sleeper',
      container: '',
      uid: '',
      size: undefined,
      command: ['sh', '-c', 'echo started; exec sleep 301'],
      stdin: false,
      tty: false,
    },
  });
  await waitFor('the proxied exec started', () => long.out().includes('started'));
  long.call.cancel();
  t.pass('the CLI side of a proxied exec cancelled');
  await long.ended;
  await waitFor(
    'the proxied exec killed once its caller left',
    () => !execFileSync('runc', ['--root', runcRoot, 'ps', 'att-sleeper']).toString().includes('sleep 301'),
  );

  const failure = (name: string) =>
    podLogs(name).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
  t.match(await failure('absent'), { code: grpc.status.NOT_FOUND, details: /pod default\/absent not found/ });
  t.match(await failure('pending'), { code: grpc.status.FAILED_PRECONDITION, details: /not on a node yet/ });
  t.match(await failure('lost'), {
    code: grpc.status.UNAVAILABLE,
    details: /cannot reach the agent of node "gone-node" at 127\.0\.0\.1:\d+ for pod default\/lost/,
  });

  const asController = controllerChannel(address, { caPem: ca.certPem, ...controllerCert });
  const notAdmin = new ClusterClient(address, asController.credentials, asController.options);
  const denied = await new Promise<grpc.ServiceError>((resolve) => {
    const call = notAdmin.podLogs({
      namespace: 'default',
      pod: 'talker',
      container: '',
      follow: false,
      sinceTime: '',
      previous: false,
      uid: '',
    });
    call.on('data', () => undefined);
    call.on('error', resolve);
  });
  t.equal(denied.code, grpc.status.PERMISSION_DENIED, 'Cluster.PodLogs needs an admin');
  notAdmin.close();
});
