// The node's DNS server with real clients. On loopback (no root): node:dns's Resolver and
// busybox nslookup ask it for a service name, a missing name (NXDOMAIN), the AAAA of a
// service (no data), a name outside the cluster (forwarded to a fake upstream on
// loopback; SERVFAIL when the upstream is down); services added and removed are answered
// at once; TCP answers; malformed packets do not end it. As root, on a bridge and a pod
// netns made with the real CNI plugins: the node DNS binds the gateway once the first pod
// network brings it, and inside the pod (its own mount namespace with the
// agent's resolv.conf as /etc/resolv.conf) the static busybox resolves SERVICE through
// the search list (nslookup) and fetches http://SERVICE.NAMESPACE:PORT/ (wget, glibc's
// resolver). Then under a real PodManager (runc, conmon, CNI): a container's resolv.conf
// is the ClusterFirst one and it fetches http://SERVICE.NAMESPACE:PORT/ through the node
// DNS; deleting the pod waits for the (fake) controller's drain answer before SIGTERM,
// and goes on to SIGTERM after --endpoint-drain-timeout when no answer comes. Every name
// carries this run's prefix and is removed after a failure too.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { silentLogger, unavailable } from '@flotilla/common';
import {
  ContainerRunner,
  DesiredSet,
  ImageService,
  PodManager,
  deletePodNetworkById,
  listPodNetworks,
  type DrainAnswer,
  type DrainRequest,
  type PodStatusUpdate,
  DnsServer,
  NodeDns,
  classIN,
  clusterResolvConf,
  createPodNetwork,
  deleteNodeBridge,
  deletePodNetwork,
  encodeMessage,
  parseMessage,
  rcode,
  replyTo,
  rrType,
  type NodeNetworkOptions,
} from '@flotilla/agent';
import {
  busyboxImageConfig,
  busyboxRootfs,
  commitBaseImage,
  mountsUnder,
  openLocalImages,
  unmount,
} from '@flotilla/images';
import { AssignmentEvent_Type as Type, NetworkState, Pod } from '@flotilla/proto';
import { freePort, makeRunDir, runCommand, waitFor } from '../lib/index.js';

type NetworkStateSource = ConstructorParameters<typeof DnsServer>[0]['network'];

/** The fake NetworkStateSource: the stream client's role, played by the test. */
class FakeNetwork implements NetworkStateSource {
  private state: NetworkState | undefined;
  private readonly listeners = new Set<(s: NetworkState) => void>();
  current(): NetworkState | undefined {
    return this.state;
  }
  onChange(listener: (s: NetworkState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(services: Array<[string, string, string]>): void {
    this.state = NetworkState.fromJSON({
      endpointsRevision: 1,
      clusterDomain: 'cluster.local',
      services: services.map(([namespace, name, clusterIP]) => ({
        namespace,
        name,
        clusterIP,
        type: 'ClusterIP',
      })),
    });
    for (const l of this.listeners) l(this.state);
  }
}

/** An upstream nameserver on loopback: every A question is answered 192.0.2.7. */
async function fakeUpstream(): Promise<{ port: number; queries: string[]; close: () => void }> {
  const socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const parsed = parseMessage(msg);
    if (!parsed.ok) return;
    const q = parsed.message.questions[0];
    queries.push(q?.name ?? '');
    const answers =
      q?.type === rrType.A
        ? [
            {
              name: q.name,
              type: rrType.A,
              class: classIN,
              ttl: 60,
              data: { kind: 'a' as const, address: '192.0.2.7' },
            },
          ]
        : [];
    socket.send(
      encodeMessage(replyTo(parsed.message, rcode.noError, { answers })),
      rinfo.port,
      rinfo.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, queries, close: () => socket.close() };
}

function resolverFor(port: number): Resolver {
  const r = new Resolver({ timeout: 1_000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'no code';
  }
}

/** One query over TCP (2-byte length prefix), parsed. */
function tcpQuery(
  port: number,
  name: string,
  type: number = rrType.A,
): Promise<ReturnType<typeof parseMessage>> {
  const q = encodeMessage({
    header: { id: 0x5151, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [{ name, type, class: classIN }],
    answers: [],
    authorities: [],
    additionals: [],
  });
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    s.setTimeout(3_000, () => s.destroy(new Error('TCP query timed out')));
    s.on('error', reject);
    s.on('connect', () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(q.length);
      s.write(Buffer.concat([prefix, q]));
    });
    s.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        s.destroy();
        resolve(parseMessage(data.subarray(2, 2 + data.readUInt16BE(0))));
      }
    });
  });
}

/** Raw bytes over UDP; the reply's bytes, or undefined when none came within 500 ms. */
function udpRaw(port: number, bytes: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, 500);
    s.on('message', (msg) => {
      clearTimeout(timer);
      s.close();
      resolve(msg);
    });
    s.send(bytes, port, '127.0.0.1');
  });
}

t.test('the DNS server on loopback, with real clients', async (t) => {
  const network = new FakeNetwork();
  network.set([
    ['default', 'web', '10.96.0.10'],
    ['shop', 'cart', '10.96.3.4'],
  ]);
  const upstream = await fakeUpstream();
  t.teardown(() => upstream.close());
  let upstreams = [{ address: '127.0.0.1', port: upstream.port }];
  const server = new DnsServer({
    network,
    address: '127.0.0.1',
    port: 0,
    upstreams: () => upstreams,
    forwardTimeoutMs: 300,
    logger: silentLogger,
  });
  const { port } = await server.start();
  t.teardown(() => server.stop());
  const resolver = resolverFor(port);

  t.same(
    await resolver.resolve4('web.default.svc.cluster.local'),
    ['10.96.0.10'],
    'a service: its cluster IP',
  );
  t.same(await resolver.resolve4('CART.shop.svc.cluster.local'), ['10.96.3.4'], 'case-insensitive');
  t.equal(
    await errorCode(resolver.resolve4('nope.default.svc.cluster.local')),
    'ENOTFOUND',
    'missing: NXDOMAIN',
  );
  t.equal(
    await errorCode(resolver.resolve6('web.default.svc.cluster.local')),
    'ENODATA',
    'AAAA: NOERROR, no data',
  );
  t.same(await resolver.resolve4('www.example.com'), ['192.0.2.7'], 'outside the cluster: forwarded');
  t.same(upstream.queries, ['www.example.com'], 'only the outside name went upstream');

  network.set([
    ['default', 'web', '10.96.0.10'],
    ['default', 'api', '10.96.0.11'],
  ]);
  t.same(
    await resolver.resolve4('api.default.svc.cluster.local'),
    ['10.96.0.11'],
    'a new service is answered',
  );
  network.set([['default', 'api', '10.96.0.11']]);
  t.equal(
    await errorCode(resolver.resolve4('web.default.svc.cluster.local')),
    'ENOTFOUND',
    'a removed one is NXDOMAIN',
  );

  const overTcp = await tcpQuery(port, 'api.default.svc.cluster.local');
  t.ok(overTcp.ok && overTcp.message.header.id === 0x5151);
  t.same(
    overTcp.ok && overTcp.message.answers.map((r) => r.data),
    [{ kind: 'a', address: '10.96.0.11' }],
    'TCP',
  );

  // Malformed packets: a bad question is FORMERR, garbage without a header is dropped,
  // and the server answers the next query as before.
  const formerr = await udpRaw(port, Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 1]));
  const formParsed = formerr && parseMessage(formerr);
  t.ok(
    formParsed?.ok &&
      formParsed.message.header.rcode === rcode.formErr &&
      formParsed.message.header.id === 0xabcd,
    'FORMERR',
  );
  t.equal(await udpRaw(port, Buffer.from([1, 2, 3])), undefined, 'no reply to garbage');
  const response = encodeMessage(
    replyTo(
      {
        header: { id: 7, qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, rcode: 0 },
        questions: [{ name: 'api.default.svc.cluster.local', type: rrType.A, class: classIN }],
      },
      rcode.noError,
    ),
  );
  t.equal(await udpRaw(port, response), undefined, 'no reply to a response');
  t.same(await resolver.resolve4('api.default.svc.cluster.local'), ['10.96.0.11'], 'still answering');

  // busybox nslookup: its own resolver code, talking to a port given with -port=.
  if (existsSync('/bin/busybox')) {
    const ok = await runCommand('/bin/busybox', [
      'nslookup',
      `-port=${port}`,
      'api.default.svc.cluster.local',
      '127.0.0.1',
    ]);
    t.equal(ok.code, 0, ok.stdout + ok.stderr);
    t.match(ok.stdout, /Address:\s+10\.96\.0\.11/);
    const missing = await runCommand('/bin/busybox', [
      'nslookup',
      `-port=${port}`,
      'web.default.svc.cluster.local',
      '127.0.0.1',
    ]);
    t.not(missing.code, 0);
    t.match(missing.stdout + missing.stderr, /NXDOMAIN/);
  }

  // The upstream gone, or none: SERVFAIL, soon.
  const closedPort = await freePort();
  upstreams = [{ address: '127.0.0.1', port: closedPort }];
  // (c-ares gives up after 1 s: SERVFAIL, not ETIMEOUT, means it came within the forward timeout.)
  t.equal(await errorCode(resolver.resolve4('gone.example.org')), 'ESERVFAIL', 'upstream down: SERVFAIL');
  upstreams = [];
  t.equal(await errorCode(resolver.resolve4('none.example.org')), 'ESERVFAIL', 'no upstream: SERVFAIL');
  // Never forwarded to itself, even when the host's resolv.conf names it.
  upstreams = [{ address: '127.0.0.1', port }];
  t.equal(await errorCode(resolver.resolve4('loop.example.org')), 'ESERVFAIL', 'no loop through itself');
});

const cniBin = '/usr/lib/cni';
const rootSkip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync(join(cniBin, 'bridge')) || !existsSync('/bin/busybox')
      ? 'needs containernetworking-plugins and busybox-static'
      : false;

async function unusedPodCidr(): Promise<string> {
  const routes = (await runCommand('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout;
  for (;;) {
    const [a = 0, b = 0] = randomBytes(2);
    if (!routes.includes(`10.${a}.${b}.`) && !routes.includes(`10.${a}.0.0/16`)) return `10.${a}.${b}.0/24`;
  }
}

t.test('a pod resolves SERVICE and SERVICE.NAMESPACE through the node DNS', { skip: rootSkip }, async (t) => {
  const prefix = `flt${randomBytes(3).toString('hex')}`;
  const dir = makeRunDir('dns');
  const podCidr = await unusedPodCidr();
  const options: NodeNetworkOptions = {
    networkName: `${prefix}-net`,
    bridgeName: `${prefix}br`,
    podCidr,
    ipamDataDir: join(dir, 'ipam'),
    netnsPrefix: prefix,
    cniBinDir: cniBin,
  };
  const pod = Pod.fromJSON({
    metadata: { name: 'client', namespace: 'default', uid: randomUUID() },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
  });
  const network = new FakeNetwork();
  const dns = new NodeDns({
    network,
    podCidr,
    upstreams: () => [],
    logger: silentLogger,
    retryMs: 60_000,
  });
  t.teardown(async () => {
    await dns.stop();
    await deletePodNetwork(pod, options).catch(() => undefined);
    await deleteNodeBridge(options).catch(() => undefined);
    await runCommand('rm', ['-rf', dir]);
  });

  // Before any pod there is no gateway address to bind; the pod network brings it.
  dns.start();
  const gateway = dns.gateway?.address ?? '';
  await new Promise((r) => setTimeout(r, 200));
  t.equal(dns.address, undefined, 'not listening before the bridge has its address');
  const net = await createPodNetwork(pod, options, { logger: silentLogger });
  t.equal(net.gateway, gateway, "the pod's gateway is the DNS address");
  await dns.bindNow();
  t.same(dns.address, { address: gateway, port: 53 }, `listening on the gateway ${gateway}:53 right after`);

  // A service whose cluster IP is the gateway itself, where a test HTTP server answers:
  // no service proxy needed to show that the name resolved.
  network.set([['default', 'web', gateway]]);
  const http = createHttpServer((_req, res) => res.end('hello from web\n'));
  const httpPort = await freePort();
  await new Promise<void>((resolve) => http.listen(httpPort, gateway, resolve));
  t.teardown(() => new Promise<void>((resolve) => http.close(() => resolve())));

  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, clusterResolvConf('default', { nameserver: gateway, domain: 'cluster.local' }));
  // (No wget -T: Debian's busybox 1.35 crashes with it. runCommand's timeout bounds each.)
  const inPod = (script: string): ReturnType<typeof runCommand> =>
    runCommand(
      'nsenter',
      [
        `--net=${net.netnsPath}`,
        'unshare',
        '--mount',
        'sh',
        '-c',
        `mount --bind ${resolvConf} /etc/resolv.conf && ${script}`,
      ],
      { timeoutMs: 30_000 },
    );

  // busybox's nslookup tries every search domain and prints each outcome (so exits 1
  // for the NXDOMAINs of the wrong guesses): the first one is the answer.
  const short = await inPod('/bin/busybox nslookup -type=a web');
  t.match(
    short.stdout,
    new RegExp(
      `Name:\\s+web\\.default\\.svc\\.cluster\\.local\\s+Address:\\s+${gateway.replace(/\./g, '\\.')}`,
    ),
    `nslookup web: ${short.stdout}${short.stderr}`,
  );
  const fetched = await inPod(`/bin/busybox wget -q -O - http://web.default:${httpPort}/`);
  t.equal(fetched.code, 0, `wget http://web.default:${httpPort}/: ${fetched.stderr}`);
  t.equal(fetched.stdout, 'hello from web\n');
  const fqdn = await inPod(`/bin/busybox wget -q -O - http://web:${httpPort}/`);
  t.equal(fqdn.stdout, 'hello from web\n', 'SERVICE alone, through the search list');
  const missing = await inPod(`/bin/busybox wget -q -O - http://nope.default:${httpPort}/`);
  t.not(missing.code, 0, 'a missing service does not resolve');
  t.match(missing.stderr, /bad address|resolve|unknown host/i);
});

const podSkip =
  rootSkip ||
  (['/usr/sbin/runc', '/usr/bin/conmon'].every((p) => existsSync(p)) ? false : 'needs runc and conmon');

t.test(
  'pods under the manager: DNS from a container, the drain before SIGTERM',
  { skip: podSkip },
  async (t) => {
    const prefix = `flt${randomBytes(3).toString('hex')}`;
    const run = makeRunDir('dns-pods');
    const runcRoot = join(run, 'runc');
    const runnerStateDir = join(run, 'runtime');
    const cgroupParent = `/flt-test-${prefix}`;
    const hostDir = join(run, 'host');
    const podCidr = await unusedPodCidr();
    const options: NodeNetworkOptions = {
      networkName: `${prefix}-net`,
      bridgeName: `${prefix}br`,
      podCidr,
      ipamDataDir: join(run, 'cni'),
      netnsPrefix: prefix,
      cniBinDir: cniBin,
    };
    const network = new FakeNetwork();
    const dns = new NodeDns({ network, podCidr, upstreams: () => [], logger: silentLogger });
    const desired = new DesiredSet();
    let revision = 0;
    // Set once made; the teardown stops whatever was made.
    const made: { images?: ImageService; manager?: PodManager } = {};
    const latest = new Map<string, PodStatusUpdate>();
    const http = createHttpServer((_req, res) => res.end('hello from web\n'));

    t.teardown(async () => {
      await made.manager?.stop();
      await made.images?.stop();
      await dns.stop();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      if (existsSync(runcRoot)) {
        for (const id of readdirSync(runcRoot)) {
          try {
            execFileSync('/usr/sbin/runc', ['--root', runcRoot, 'delete', '--force', id], {
              stdio: 'ignore',
            });
          } catch {
            // gone already
          }
        }
      }
      for (const point of await mountsUnder(run)) await unmount(point).catch(() => undefined);
      for (const id of listPodNetworks(options))
        await deletePodNetworkById(id, options).catch(() => undefined);
      await deleteNodeBridge(options).catch(() => undefined);
      for (const root of readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c))) {
        const walk = (d: string): string[] =>
          existsSync(d)
            ? [
                ...readdirSync(d, { withFileTypes: true })
                  .filter((e) => e.isDirectory())
                  .flatMap((e) => walk(join(d, e.name))),
                d,
              ]
            : [];
        for (const d of walk(join(root, cgroupParent))) {
          try {
            execFileSync('rmdir', [d], { stdio: 'ignore' });
          } catch {
            // a controller linked to another goes with it
          }
        }
      }
      await runCommand('rm', ['-rf', run]);
    });

    dns.start();
    const gateway = dns.gateway?.address ?? '';
    // On every address: the gateway's comes with the first pod network, just before its container.
    const httpPort = await freePort();
    await new Promise<void>((resolve) => http.listen(httpPort, '0.0.0.0', resolve));
    network.set([['default', 'web', gateway]]);

    const local = openLocalImages(join(run, 'images'), { logger: silentLogger });
    await busyboxRootfs(join(run, 'busybox-rootfs'));
    await commitBaseImage(
      local,
      'docker.io/library/busybox:latest',
      join(run, 'busybox-rootfs'),
      busyboxImageConfig(),
    );
    const images = new ImageService({ root: join(run, 'images'), desired, logger: silentLogger });
    made.images = images;
    images.start();

    // The controller's side, played by the test: each pod's events file shows the order.
    type Behaviour = (req: DrainRequest, signal: AbortSignal, events: string) => Promise<DrainAnswer>;
    const behaviours = new Map<string, Behaviour>();
    const calls: DrainRequest[] = [];
    const manager = new PodManager({
      nodeName: 'dns-test',
      desired,
      images,
      runner: new ContainerRunner({ runcRoot, stateDir: runnerStateDir, logger: silentLogger }),
      runnerStateDir,
      runc: '/usr/sbin/runc',
      runcRoot,
      network: options,
      podsDir: join(run, 'pods'),
      cgroupParent,
      hostIP: '127.0.0.1',
      logger: silentLogger,
      resyncIntervalMs: 1_000,
      clusterDns: () => ({ nameserver: gateway, domain: 'cluster.local' }),
      podNetworkCreated: () => dns.bindNow(),
      endpointsDrainer: {
        awaitEndpointsDrained: (req, signal) => {
          calls.push(req);
          const behaviour = behaviours.get(req.name);
          if (behaviour === undefined) return Promise.reject(unavailable('no behaviour'));
          return behaviour(req, signal, join(hostDir, req.name, 'events'));
        },
      },
      endpointDrainTimeoutMs: 1_000,
    });
    made.manager = manager;
    manager.events.on('status', (u) => latest.set(u.name, u));
    await manager.start();

    const script = [
      'cat /etc/resolv.conf > /data/resolv.conf',
      `wget -q -O /data/fetched http://web.default:${httpPort}/; echo $? > /data/wget.rc`,
      "trap 'echo TERM >> /data/events; exit 0' TERM",
      'echo started >> /data/events',
      'while true; do sleep 0.1; done',
    ].join('\n');
    const makePod = (name: string): Pod => {
      mkdirSync(join(hostDir, name), { recursive: true });
      return Pod.fromJSON({
        metadata: { name, namespace: 'default', uid: randomUUID(), resourceVersion: String(++revision) },
        spec: {
          nodeName: 'dns-test',
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 10,
          volumes: [{ name: 'data', hostPath: { path: join(hostDir, name), type: 'Directory' } }],
          containers: [
            {
              name: 'main',
              image: 'busybox',
              imagePullPolicy: 'Never',
              command: ['sh', '-c', script],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
        },
      });
    };
    const events = (name: string): string[] => {
      const path = join(hostDir, name, 'events');
      return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n') : [];
    };
    const remove = async (pod: Pod): Promise<number> => {
      const deleting: Pod = {
        ...pod,
        metadata: {
          ...pod.metadata!,
          resourceVersion: String(++revision),
          deletionTimestamp: new Date().toISOString(),
          deletionGracePeriodSeconds: 10,
        },
      };
      const t0 = Date.now();
      desired.apply({ type: Type.MODIFIED, revision: ++revision, pods: [deleting] });
      await waitFor(`${pod.metadata!.name} removed`, () => latest.get(pod.metadata!.name)?.removed === true, {
        timeoutMs: 30_000,
        intervalMs: 20,
      });
      return Date.now() - t0;
    };

    const drained = makePod('drained');
    const silent = makePod('silent');
    desired.apply({ type: Type.SNAPSHOT, revision: ++revision, pods: [drained, silent] });
    for (const name of ['drained', 'silent'])
      await waitFor(`${name} started`, () => events(name).includes('started'), {
        timeoutMs: 60_000,
        intervalMs: 50,
      });

    await t.test(
      "the container's resolv.conf is ClusterFirst, and it resolves SERVICE.NAMESPACE",
      async (t) => {
        const resolv = readFileSync(join(hostDir, 'drained', 'resolv.conf'), 'utf8');
        t.match(resolv, new RegExp(`^nameserver ${gateway.replace(/\./g, '\\.')}$`, 'm'));
        t.match(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
        t.match(resolv, /^options ndots:5$/m);
        t.equal(readFileSync(join(hostDir, 'drained', 'wget.rc'), 'utf8').trim(), '0', 'wget exited 0');
        t.equal(readFileSync(join(hostDir, 'drained', 'fetched'), 'utf8'), 'hello from web\n');
      },
    );

    await t.test('deletion: SIGTERM only after the controller says drained', async (t) => {
      behaviours.set('drained', async (_req, _signal, file) => {
        appendFileSync(file, 'drain-asked\n');
        await new Promise((r) => setTimeout(r, 700));
        appendFileSync(file, 'drained\n');
        return { drained: true, endpointsRevision: 5, pendingNodes: [], pendingServices: [] };
      });
      const took = await remove(drained);
      t.same(events('drained'), ['started', 'drain-asked', 'drained', 'TERM']);
      t.ok(took >= 700, `removed after ${took} ms`);
      t.match(
        calls.find((c) => c.name === 'drained'),
        {
          namespace: 'default',
          uid: drained.metadata!.uid,
          timeoutMs: 1_000,
        },
        'asked with min(grace 10 s, --endpoint-drain-timeout 1 s)',
      );
    });

    await t.test('deletion: no answer, SIGTERM after the drain timeout', async (t) => {
      behaviours.set('silent', (_req, signal, file) => {
        appendFileSync(file, 'drain-asked\n');
        return new Promise(() => signal.addEventListener('abort', () => appendFileSync(file, 'given-up\n')));
      });
      const took = await remove(silent);
      t.same(events('silent'), ['started', 'drain-asked', 'given-up', 'TERM']);
      t.ok(
        took >= 1_400 && took < 10_000,
        `removed after ${took} ms: the drain timeout (1 s + 0.5 s slack), not the 10 s grace`,
      );
    });
  },
);
