// The controller's cluster network against real etcd, nats-server and the controller
// process, with nodes speaking the agent's protocol (join, RegisterNode, the Network
// stream, heartbeats and NetworkApplied over NATS with their own credentials): pod CIDR
// allocation at registration (distinct blocks, a requested one honoured, an overlap
// refused, kept on re-registration, released on delete), NetworkState updates after a
// Service and an Endpoints change, and AwaitEndpointsDrained waiting for the nodes'
// acknowledgements, on the first controller and on a second replica. No endpoints loop
// runs here: the test writes Endpoints to etcd as it would.
import t from 'tap';
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import {
  controllerChannel,
  createCertificateRequest,
  newUserSeed,
  nodeCommonName,
  nodeOrganization,
  subjects,
} from '@flotilla/common';
import {
  Endpoints,
  NetworkApplied,
  Node,
  NodeGatewayClient,
  NodeHeartbeat,
  Pod,
  Service,
  type AwaitEndpointsDrainedResponse,
  type NetworkState,
} from '@flotilla/proto';
import { connect, jwtAuthenticator, type NatsConnection } from 'nats';
import { ControlPlane, makeRunDir, putEtcd, readEtcdJson, unary, waitFor } from '../lib/index.js';

const plane = new ControlPlane(makeRunDir('network'), {
  nodeGrace: '5s',
  // No scheduler or deployments acting on the pods the test writes, and no endpoints loop:
  // the test writes Endpoints itself (the loop would recompute them from pods it has none of).
  controllerArgs: ['--controllers=*,-scheduler,-deployments,-endpoints'],
});
t.before(() => plane.start());
t.teardown(() => plane.destroy());

const encoder = new TextEncoder();
const root = '/flotilla/v1/';

/** A node as the agent is to the controller, minus the containers. */
class NetNode {
  states: NetworkState[] = [];
  private client!: NodeGatewayClient;
  private nc: NatsConnection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private call: grpc.ClientReadableStream<NetworkState> | undefined;
  private sequence = 0;
  private tls: { caPem: string; certPem: string; keyPem: string } | undefined;

  constructor(readonly name: string) {}

  async join(): Promise<void> {
    const csr = await createCertificateRequest({
      commonName: nodeCommonName(this.name),
      organization: nodeOrganization,
    });
    const nats = newUserSeed();
    const anonymous = this.dial({ caPem: this.caPem });
    const res = await unary(anonymous.join.bind(anonymous), {
      token: plane.joinToken(),
      nodeName: this.name,
      csrPem: csr.csrPem,
      natsUserPublicKey: nats.publicKey,
    });
    anonymous.close();
    this.tls = { caPem: this.caPem, certPem: res.certificatePem, keyPem: csr.keyPem };
    this.client = this.dial(this.tls);
    const nc = await connect({
      servers: res.natsUrls,
      authenticator: jwtAuthenticator(res.natsUserJwt, encoder.encode(nats.seed)),
    });
    this.nc = nc;
    const beat = (): void => {
      const hb = NodeHeartbeat.fromJSON({
        nodeName: this.name,
        time: new Date().toISOString(),
        sequence: ++this.sequence,
        agentInstance: `test-${this.name}`,
        usage: {},
      });
      nc.publish(subjects.heartbeat(this.name), NodeHeartbeat.encode(hb).finish());
    };
    this.timer = setInterval(beat, 300);
  }

  private get caPem(): string {
    return readFileText(plane.caFile);
  }

  private dial(
    tls: { caPem: string; certPem?: string; keyPem?: string },
    address = plane.apiAddress,
  ): NodeGatewayClient {
    const channel = controllerChannel(address, tls);
    return new NodeGatewayClient(address, channel.credentials, channel.options);
  }

  /** Dials another controller replica from now on; the open stream ends. */
  useController(address: string): void {
    if (!this.tls) throw new Error(`${this.name} has not joined`);
    this.call?.cancel();
    this.client.close();
    this.client = this.dial(this.tls, address);
    this.states = [];
  }

  register(podCIDR = '', labels: Record<string, string> = {}): Promise<Node | undefined> {
    const node = Node.fromJSON({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: this.name, labels },
      spec: podCIDR ? { podCIDR } : {},
      status: {
        capacity: { cpu: '2', memory: '4Gi', pods: '110' },
        addresses: [{ type: 'InternalIP', address: `192.0.2.${this.name.charCodeAt(0) - 96}` }],
      },
    });
    return unary(this.client.registerNode.bind(this.client), { node, natsUserPublicKey: '' }).then(
      (r) => r.node,
    );
  }

  follow(): void {
    const call = this.client.network({ nodeName: this.name, acceptDeltas: false });
    call.on('data', (s: NetworkState) => this.states.push(s));
    call.on('error', () => undefined);
    this.call = call;
  }

  /** The newest state that satisfies check. */
  state(what: string, check: (s: NetworkState) => boolean): Promise<NetworkState> {
    return waitFor(`${this.name}: a state with ${what}`, () => this.states.findLast(check), {
      timeoutMs: 10_000,
    });
  }

  applied(endpointsRevision: number): void {
    const msg = NetworkApplied.encode({
      nodeName: this.name,
      endpointsRevision,
      appliedAt: new Date().toISOString(),
    }).finish();
    this.nc?.publish(subjects.networkApplied(this.name), msg);
  }

  drain(
    namespace: string,
    podName: string,
    podUid: string,
    timeoutMs: number,
  ): Promise<AwaitEndpointsDrainedResponse> {
    return unary(
      this.client.awaitEndpointsDrained.bind(this.client),
      { nodeName: this.name, namespace, podName, podUid, timeoutMs },
      timeoutMs + 10_000,
    );
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.call?.cancel();
    await this.nc?.close();
    this.client?.close();
  }
}

const readFileText = (path: string): string => readFileSync(path, 'utf8');

const nodes = new Map<string, NetNode>();
async function node(name: string): Promise<NetNode> {
  const existing = nodes.get(name);
  if (existing) return existing;
  const n = new NetNode(name);
  await n.join();
  nodes.set(name, n);
  return n;
}
t.teardown(async () => {
  for (const n of nodes.values()) await n.close();
});

const cluster = () => plane.admin.client;
const allocationOf = (cidr: string) =>
  readEtcdJson<{ name: string }>(
    plane.etcd.endpoint,
    `${root}allocations/podcidrs/${cidr.replace('/', '-')}`,
  );

function endpointsOf(ready: { ip: string; node: string; pod: string; uid: string }[]): string {
  return JSON.stringify(
    Endpoints.toJSON(
      Endpoints.fromJSON({
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { namespace: 'default', name: 'web' },
        subsets:
          ready.length === 0
            ? []
            : [
                {
                  addresses: ready.map((r) => ({
                    ip: r.ip,
                    nodeName: r.node,
                    targetRef: { kind: 'Pod', namespace: 'default', name: r.pod, uid: r.uid },
                  })),
                  ports: [{ name: '', port: 8080, protocol: 'TCP' }],
                },
              ],
      }),
    ),
  );
}

async function putPod(name: string, nodeName: string, uid: string, podIP: string): Promise<void> {
  const pod = Pod.fromJSON({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'default', name, uid, creationTimestamp: new Date().toISOString() },
    spec: { nodeName, containers: [{ name: 'main', image: 'web:1' }] },
    status: { phase: 'Running', podIP },
  });
  await putEtcd(plane.etcd.endpoint, `${root}pods/default/${name}`, JSON.stringify(Pod.toJSON(pod)));
}

t.test('nodes get pod CIDRs when they register', async (t) => {
  const a = await node('a');
  const b = await node('b');
  const c = await node('c');
  const d = await node('d');
  const cidrA = (await a.register())?.spec?.podCIDR;
  const cidrB = (await b.register())?.spec?.podCIDR;
  t.equal(cidrA, '10.244.0.0/24', 'the first node: the first /24 of the cluster CIDR');
  t.equal(cidrB, '10.244.1.0/24', 'the second: the next one');
  t.equal((await allocationOf('10.244.0.0/24'))?.name, 'a', 'the allocation key names its node');

  t.equal(
    (await c.register('10.250.0.0/24'))?.spec?.podCIDR,
    '10.250.0.0/24',
    'a requested CIDR is honoured',
  );
  await t.rejects(
    d.register('10.244.1.128/25'),
    { code: 'FailedPrecondition', message: /spec\.podCIDR "10\.244\.1\.128\/25".*node "b"/ },
    'an overlapping request is refused, naming spec.podCIDR and the holder',
  );
  t.equal(
    (await a.register('10.99.0.0/24'))?.spec?.podCIDR,
    '10.244.0.0/24',
    'a stored node keeps its block',
  );

  await unary(cluster().deleteObject.bind(cluster()), {
    kind: 'Node',
    namespace: '',
    name: 'c',
    dryRun: false,
    gracePeriodSeconds: undefined,
  });
  t.equal(await allocationOf('10.250.0.0/24'), undefined, "deleting the node releases its block's key");
  t.equal(
    (await d.register('10.250.0.0/24'))?.spec?.podCIDR,
    '10.250.0.0/24',
    'the released block can be taken by another node',
  );
});

t.test("a node's Network stream follows nodes, services and endpoints", async (t) => {
  const a = await node('a');
  a.follow();
  const first = await a.state('the peers', (s) => s.nodes.length === 3);
  t.same(
    first.nodes.map((n) => `${n.name} ${n.podCIDR} via ${n.internalIP}`),
    ['a 10.244.0.0/24 via 192.0.2.1', 'b 10.244.1.0/24 via 192.0.2.2', 'd 10.250.0.0/24 via 192.0.2.4'],
    "the peers' pod CIDRs and InternalIPs",
  );
  t.equal(first.clusterCidr, '10.244.0.0/16');
  t.equal(first.serviceCidr, '10.96.0.0/16');
  t.equal(first.clusterDomain, 'cluster.local');
  t.equal(first.webFacing, false, 'not labelled web-facing');

  await unary(cluster().apply.bind(cluster()), {
    objects: [
      {
        service: Service.fromJSON({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web', namespace: 'default' },
          spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: '8080' }] },
        }),
      },
    ],
    dryRun: false,
  });
  const withService = await a.state('the service', (s) => s.services.some((x) => x.name === 'web'));
  const web = withService.services.find((x) => x.name === 'web');
  t.match(web?.clusterIP, /^10\.96\./, 'its cluster IP');
  t.ok((web?.ports[0]?.nodePort ?? 0) >= 30000, 'its node port');
  t.same(web?.ports[0]?.endpoints, [], 'no endpoints yet');

  await putPod('web-1', 'b', 'uid-web-1', '10.244.1.5');
  await putEtcd(
    plane.etcd.endpoint,
    `${root}endpoints/default/web`,
    endpointsOf([{ ip: '10.244.1.5', node: 'b', pod: 'web-1', uid: 'uid-web-1' }]),
  );
  const withEndpoints = await a.state('the endpoint', (s) =>
    s.services.some((x) => x.name === 'web' && (x.ports[0]?.endpoints.length ?? 0) > 0),
  );
  t.same(
    withEndpoints.services.find((x) => x.name === 'web')?.ports[0]?.endpoints,
    [{ ip: '10.244.1.5', port: 8080, nodeName: 'b', podNamespace: 'default', podName: 'web-1' }],
    'the ready endpoint target',
  );
  t.ok(withEndpoints.endpointsRevision > withService.endpointsRevision, 'a newer endpoints revision');
});

t.test('AwaitEndpointsDrained waits for every Ready node to acknowledge', async (t) => {
  const [a, b, d] = [await node('a'), await node('b'), await node('d')];
  b.follow();
  d.follow();
  const listed = await b.state('the endpoint', (s) =>
    s.services.some((x) => (x.ports[0]?.endpoints.length ?? 0) > 0),
  );

  let answer: AwaitEndpointsDrainedResponse | undefined;
  const draining = b.drain('default', 'web-1', 'uid-web-1', 20_000).then((r) => (answer = r));
  await t.rejects(
    a.drain('default', 'web-1', 'uid-web-1', 100),
    { code: 'FailedPrecondition', message: /bound to node "b", not to "a"/ },
    "another node cannot drain b's pod",
  );

  // The endpoints loop takes the pod out: the nodes get a state without it.
  await putEtcd(plane.etcd.endpoint, `${root}endpoints/default/web`, endpointsOf([]));
  const without = (s: NetworkState): boolean =>
    s.endpointsRevision > listed.endpointsRevision &&
    s.services.some((x) => x.name === 'web' && x.ports[0]?.endpoints.length === 0);
  const states = await Promise.all([a, b, d].map((n) => n.state('the endpoint gone', without)));
  const revision = Math.max(...states.map((s) => s.endpointsRevision));
  a.applied(revision);
  d.applied(revision);
  b.applied(revision - 1);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(answer, undefined, 'not drained while b has not programmed the change');
  b.applied(revision);
  await draining;
  t.same(
    answer,
    { drained: true, endpointsRevision: revision, pendingNodes: [], pendingServices: [] },
    'drained once every Ready node acknowledged the revision that removed the pod',
  );
});

t.test('AwaitEndpointsDrained times out naming the Ready node that never acknowledges', async (t) => {
  // d, Ready (it heartbeats) and following, never acknowledges from here on.
  const [a, b] = [await node('a'), await node('b')];
  await putPod('web-2', 'a', 'uid-web-2', '10.244.0.7');
  await putEtcd(
    plane.etcd.endpoint,
    `${root}endpoints/default/web`,
    endpointsOf([{ ip: '10.244.0.7', node: 'a', pod: 'web-2', uid: 'uid-web-2' }]),
  );
  const withPod = await a.state('web-2', (s) =>
    s.services.some((x) => x.ports[0]?.endpoints[0]?.podName === 'web-2'),
  );
  const listed = await a.drain('default', 'web-2', 'uid-web-2', 300);
  t.same(
    listed,
    { drained: false, endpointsRevision: 0, pendingNodes: [], pendingServices: ['default/web'] },
    'still in the endpoints: the service is pending',
  );
  await putEtcd(plane.etcd.endpoint, `${root}endpoints/default/web`, endpointsOf([]));
  const gone = await a.state(
    'web-2 gone',
    (s) =>
      s.endpointsRevision > withPod.endpointsRevision &&
      s.services.some((x) => x.ports[0]?.endpoints.length === 0),
  );
  a.applied(gone.endpointsRevision);
  b.applied(gone.endpointsRevision);
  const result = await a.drain('default', 'web-2', 'uid-web-2', 1_500);
  t.equal(result.drained, false, 'not drained');
  t.same(result.pendingNodes, ['d'], 'd, Ready and silent, is pending');
  t.equal(result.endpointsRevision, gone.endpointsRevision, 'the target revision');
});

t.test('a controller replica (not the leader) serves the stream and the drain as well', async (t) => {
  const replica = await plane.startReplica('controller-2');
  t.teardown(() => replica.process.stop());
  const [a, b, d] = [await node('a'), await node('b'), await node('d')];
  d.useController(replica.address);
  d.follow();
  const first = await d.state('the peers', (s) => s.nodes.length === 3);
  t.same(
    first.nodes.map((n) => n.name),
    ['a', 'b', 'd'],
    "the replica's state has every node",
  );
  await putPod('web-3', 'd', 'uid-web-3', '10.250.0.9');
  await putEtcd(
    plane.etcd.endpoint,
    `${root}endpoints/default/web`,
    endpointsOf([{ ip: '10.250.0.9', node: 'd', pod: 'web-3', uid: 'uid-web-3' }]),
  );
  const withPod = await d.state('web-3', (s) =>
    s.services.some((x) => x.ports[0]?.endpoints[0]?.podName === 'web-3'),
  );
  let answer: AwaitEndpointsDrainedResponse | undefined;
  const draining = d.drain('default', 'web-3', 'uid-web-3', 20_000).then((r) => (answer = r));
  await putEtcd(plane.etcd.endpoint, `${root}endpoints/default/web`, endpointsOf([]));
  const gone = await d.state(
    'web-3 gone',
    (s) =>
      s.endpointsRevision > withPod.endpointsRevision &&
      s.services.some((x) => x.ports[0]?.endpoints.length === 0),
  );
  a.applied(gone.endpointsRevision);
  b.applied(gone.endpointsRevision);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(answer, undefined, 'the replica waits for d as well');
  d.applied(gone.endpointsRevision);
  await draining;
  t.same(
    answer,
    { drained: true, endpointsRevision: gone.endpointsRevision, pendingNodes: [], pendingServices: [] },
    'the replica learned every acknowledgement over NATS',
  );
});
