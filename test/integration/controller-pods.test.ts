// The controller's pod API and pod status ingest against real etcd, nats-server and the
// controller process. The nodes are registered through the NodeGateway with their own
// certificates and publish over NATS with their own node credentials, as agents do; no
// agent runs, so every status here is one the test published.
import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  controllerChannel,
  createCertificateRequest,
  newUserSeed,
  nodeCommonName,
  nodeOrganization,
  subjects,
} from '@flotilla/common';
import {
  NodeGatewayClient,
  Pod,
  PodEvent_Type,
  PodStatusReport,
  type PodEvent,
  type PodStatus,
} from '@flotilla/proto';
import { Etcd3 } from 'etcd3';
import { connect, jwtAuthenticator, type NatsConnection } from 'nats';
import { ControlPlane, makeRunDir, readEtcdJson, unary, waitFor } from '../lib/index.js';

// A long grace: the test nodes send no heartbeats and must stay Ready.
const plane = new ControlPlane(makeRunDir('pods'), { nodeGrace: '120s' });

interface TestNode {
  name: string;
  nc: NatsConnection;
  instance: string;
  sequence: number;
  resyncRequests: number;
  report(
    pod: Pod,
    extra: {
      status?: Partial<PodStatus>;
      removed?: boolean;
      sequence?: number;
      nodeName?: string;
      uid?: string;
    },
  ): Promise<void>;
}

const nodes: TestNode[] = [];

/** Joins and registers a node with the join token, then connects to NATS as that node. */
async function addNode(
  name: string,
  capacity: Record<string, string>,
  labels: Record<string, string> = {},
): Promise<TestNode> {
  const caPem = readFileSync(plane.caFile, 'utf8');
  const { csrPem, keyPem } = await createCertificateRequest({
    commonName: nodeCommonName(name),
    organization: nodeOrganization,
  });
  const user = newUserSeed();
  const anonymous = controllerChannel(plane.apiAddress, { caPem });
  const gateway = new NodeGatewayClient(plane.apiAddress, anonymous.credentials, anonymous.options);
  const joined = await unary(gateway.join.bind(gateway), {
    token: plane.joinToken(),
    nodeName: name,
    csrPem,
    natsUserPublicKey: user.publicKey,
  });
  gateway.close();
  const tls = controllerChannel(plane.apiAddress, { caPem, certPem: joined.certificatePem, keyPem });
  const asNode = new NodeGatewayClient(plane.apiAddress, tls.credentials, tls.options);
  await unary(asNode.registerNode.bind(asNode), {
    natsUserPublicKey: '',
    node: {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: Pod.fromJSON({ metadata: { name, labels } }).metadata,
      spec: undefined,
      status: {
        capacity,
        allocatable: capacity,
        conditions: [],
        addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
        nodeInfo: undefined,
        daemonEndpoints: undefined,
        images: [],
      },
    },
  });
  asNode.close();
  const nc = await connect({
    servers: plane.natsUrl,
    authenticator: jwtAuthenticator(joined.natsUserJwt, new TextEncoder().encode(user.seed)),
  });
  const node: TestNode = {
    name,
    nc,
    instance: `${name}-instance`,
    sequence: 0,
    resyncRequests: 0,
    async report(pod, extra) {
      const sequence = extra.sequence ?? ++node.sequence;
      const status = extra.removed
        ? undefined
        : {
            phase: 'Running',
            reason: '',
            message: '',
            hostIP: '127.0.0.1',
            podIP: '10.88.0.2',
            startTime: new Date().toISOString(),
            conditions: [],
            containerStatuses: [],
            ...extra.status,
          };
      const data = PodStatusReport.encode({
        nodeName: extra.nodeName ?? name,
        namespace: pod.metadata?.namespace ?? 'default',
        name: pod.metadata?.name ?? '',
        uid: extra.uid ?? pod.metadata?.uid ?? '',
        status,
        removed: extra.removed ?? false,
        agentInstance: node.instance,
        sequence,
        time: new Date().toISOString(),
      }).finish();
      nc.publish(subjects.podStatus(name), data);
      await nc.flush();
    },
  };
  // Answer resync requests the way an agent does: a JSON summary.
  nc.subscribe(subjects.resync(name), {
    callback: (_err, msg) => {
      node.resyncRequests++;
      msg.respond(new TextEncoder().encode(JSON.stringify({ nodeName: name, agentInstance: node.instance })));
    },
  });
  await nc.flush();
  nodes.push(node);
  return node;
}

t.before(async () => {
  await plane.start();
});
t.teardown(async () => {
  for (const n of nodes) await n.nc.close().catch(() => undefined);
  await plane.destroy();
});

function makePod(
  name: string,
  container: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Pod {
  return Pod.fromJSON({
    metadata: { name, labels: { app: name } },
    spec: {
      restartPolicy: 'Never',
      containers: [{ name, image: 'busybox:1.36', command: ['sleep', '1000'], ...container }],
    },
    ...extra,
  });
}

const cluster = () => plane.admin.client;
const create = (pod: Pod, dryRun = false): Promise<Pod> =>
  unary(cluster().createPod.bind(cluster()), { pod, dryRun });
const get = (name: string): Promise<Pod> =>
  unary(cluster().getPod.bind(cluster()), { namespace: 'default', name });
/** Creates the pod (stored unbound) and waits for the scheduler to bind it. */
const createBound = async (pod: Pod): Promise<Pod> => {
  const created = await create(pod);
  if (created.spec?.nodeName)
    throw new Error(`${created.metadata?.name} was stored bound, not left to the scheduler`);
  const name = created.metadata?.name ?? '';
  return waitFor(`the scheduler to bind ${name}`, async () => {
    const p = await get(name);
    return p.spec?.nodeName ? p : undefined;
  });
};
const update = (pod: Pod): Promise<Pod> => unary(cluster().updatePod.bind(cluster()), { pod });
const remove = (
  name: string,
  options: { force?: boolean; uid?: string; gracePeriodSeconds?: number } = {},
): Promise<Pod> =>
  unary(cluster().deletePod.bind(cluster()), {
    namespace: 'default',
    name,
    force: options.force ?? false,
    uid: options.uid ?? '',
    gracePeriodSeconds: options.gracePeriodSeconds,
  });
const list = (labelSelector = '', nodeName = '') =>
  unary(cluster().listPods.bind(cluster()), { namespace: '', labelSelector, nodeName });

type Failure = Error & { code?: string; context?: { field?: string } };
const failure = (p: Promise<unknown>): Promise<Failure | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => e as Failure,
  );

/** A watch whose events collect into a list; stop() cancels it. */
function watch(request: {
  namespace?: string;
  name?: string;
  labelSelector?: string;
  resourceVersion?: string;
}) {
  const call = cluster().watchPods({
    namespace: request.namespace ?? '',
    name: request.name ?? '',
    labelSelector: request.labelSelector ?? '',
    resourceVersion: request.resourceVersion ?? '',
  });
  const events: PodEvent[] = [];
  let error: Failure | undefined;
  call.on('data', (e: PodEvent) => events.push(e));
  call.on('error', (e: Failure) => (error = e));
  return {
    events,
    error: () => error,
    stop: () => call.cancel(),
  };
}

const seen = (events: PodEvent[], type: PodEvent_Type, name: string): PodEvent | undefined =>
  events.find((e) => e.type === type && e.pod?.metadata?.name === name);

let n1: TestNode;
let n2: TestNode;

t.test('nodes register through the NodeGateway', async (t) => {
  // node-a has more cpu: with equal memory, least-allocated prefers it, so the first pod's node is known.
  n1 = await addNode('node-a', { cpu: '4', memory: '1Gi', pods: '110' }, { zone: 'z1' });
  n2 = await addNode('node-b', { cpu: '2', memory: '1Gi', pods: '110' }, { zone: 'z2' });
  const listed = await plane.admin.listNodes();
  t.same(
    listed.items.map((n) => n.metadata?.name),
    ['node-a', 'node-b'],
  );
});

t.test('create stores the pod with defaults; the scheduler places it where it fits', async (t) => {
  const created = await createBound(
    makePod('web', {
      resources: { requests: { memory: '768Mi' } },
      ports: [{ containerPort: 80, hostPort: 18080 }],
    }),
  );
  t.equal(created.spec?.nodeName, 'node-a', 'the least allocated node');
  t.ok(created.metadata?.uid, 'a uid');
  t.ok(Number(created.metadata?.resourceVersion) > 0, 'resourceVersion is the mod revision');
  t.equal(created.metadata?.generation, 1);
  t.ok(created.metadata?.creationTimestamp);
  t.equal(created.spec?.restartPolicy, 'Never', 'restartPolicy as sent');
  t.equal(created.spec?.terminationGracePeriodSeconds, 30);
  t.equal(created.spec?.containers[0]?.imagePullPolicy, 'IfNotPresent');
  t.equal(created.spec?.containers[0]?.ports[0]?.protocol, 'TCP');
  t.equal(created.status?.phase, 'Pending');
  t.match(created.status?.conditions, [{ type: 'PodScheduled', status: 'True' }]);

  const stored = await readEtcdJson<{ metadata: { uid: string } }>(
    plane.etcd.endpoint,
    '/flotilla/v1/pods/default/web',
  );
  t.equal(stored?.metadata.uid, created.metadata?.uid, 'stored at pods/<namespace>/<name>');

  const second = await createBound(makePod('web2', { resources: { requests: { memory: '512Mi' } } }));
  t.equal(second.spec?.nodeName, 'node-b', 'node-a has no room left');
  const port = await createBound(makePod('web3', { ports: [{ containerPort: 80, hostPort: 18080 }] }));
  t.equal(port.spec?.nodeName, 'node-b', "node-a's host port is taken");
  const selected = await createBound(
    makePod(
      'zoned',
      {},
      { spec: { nodeSelector: { zone: 'z2' }, containers: [{ name: 'zoned', image: 'busybox' }] } },
    ),
  );
  t.equal(selected.spec?.nodeName, 'node-b', 'nodeSelector');
  t.equal(selected.spec?.containers[0]?.imagePullPolicy, 'Always', 'no tag: Always');
  t.equal(selected.spec?.restartPolicy, 'Always', 'restartPolicy defaults to Always');

  const got = await get('web');
  t.equal(got.metadata?.uid, created.metadata?.uid);
  const all = await list();
  t.same(
    all.items.map((p) => p.metadata?.name),
    ['web', 'web2', 'web3', 'zoned'],
  );
  t.same(
    (await list('app=web2')).items.map((p) => p.metadata?.name),
    ['web2'],
    'labelSelector',
  );
  t.same(
    (await list('', 'node-a')).items.map((p) => p.metadata?.name),
    ['web'],
    'nodeName',
  );
});

t.test('a pod that fits nowhere stays Pending, Unschedulable, with the reasons', async (t) => {
  await create(
    makePod('huge', {
      resources: { requests: { memory: '4Gi' } },
      ports: [{ containerPort: 80, hostPort: 18080 }],
    }),
  );
  const pod = await waitFor('the scheduler to give up on huge', async () => {
    const p = await get('huge');
    return p.status?.conditions.some((c) => c.type === 'PodScheduled') ? p : undefined;
  });
  t.equal(pod.spec?.nodeName, '', 'not bound');
  t.equal(pod.status?.phase, 'Pending');
  const cond = pod.status?.conditions.find((c) => c.type === 'PodScheduled');
  t.equal(cond?.status, 'False');
  t.equal(cond?.reason, 'Unschedulable');
  t.equal(
    cond?.message,
    "0/2 nodes are available: 2 insufficient memory, 2 node(s) didn't have free ports for the requested pod ports.",
  );
  const gone = await remove('huge');
  t.ok(gone.metadata?.deletionTimestamp, 'the returned pod carries the deletion mark');
  t.equal((await failure(get('huge')))?.code, 'NotFound', 'an unbound pod is deleted at once');
});

t.test('create refuses invalid pods, taken names and unknown nodes; dryRun writes nothing', async (t) => {
  const bad = await failure(
    create(makePod('Bad_Name', { ports: [{ containerPort: 70000 }], env: [{ name: '1X', value: '' }] })),
  );
  t.equal(bad?.code, 'InvalidArgument');
  t.match(bad?.message, /metadata\.name: "Bad_Name"/);
  t.match(
    bad?.message,
    /spec\.containers\[0\]\.ports\[0\]\.containerPort: 70000 must be between 1 and 65535/,
  );
  t.match(bad?.message, /spec\.containers\[0\]\.env\[0\]\.name: "1X"/);
  t.equal(bad?.context?.field, 'metadata.name', 'the field travels in the status metadata');

  const taken = await failure(create(makePod('web')));
  t.equal(taken?.code, 'AlreadyExists');
  t.match(taken?.message, /pod "default\/web" already exists/);

  const unknown = await failure(
    create(
      makePod(
        'pinned',
        {},
        { spec: { nodeName: 'node-z', containers: [{ name: 'pinned', image: 'busybox' }] } },
      ),
    ),
  );
  t.equal(unknown?.code, 'NotFound');
  t.match(unknown?.message, /node "node-z" not found/);

  const takenAndUnknown = await failure(
    create(
      makePod('web', {}, { spec: { nodeName: 'node-z', containers: [{ name: 'web', image: 'busybox' }] } }),
    ),
  );
  t.equal(takenAndUnknown?.code, 'AlreadyExists', 'a taken name wins over an unknown node');

  const pinned = await create(
    makePod(
      'pinned',
      {},
      { spec: { nodeName: 'node-b', containers: [{ name: 'pinned', image: 'busybox' }] } },
    ),
  );
  t.equal(pinned.spec?.nodeName, 'node-b', 'spec.nodeName is kept');

  const dry = await create(makePod('dry'), true);
  t.equal(dry.spec?.nodeName, '', 'dryRun answers the pod as stored: unbound, for the scheduler');
  t.equal((await failure(get('dry')))?.code, 'NotFound', 'and writes nothing');
});

t.test('update changes labels, annotations and spec.stopped only, guarded by resourceVersion', async (t) => {
  const pod = await get('web2');
  const edited = Pod.fromJSON(Pod.toJSON(pod));
  edited.metadata!.labels = { app: 'web2', tier: 'front' };
  edited.metadata!.annotations = { 'flotilla.io/restartedAt': '2026-01-01T00:00:00Z' };
  edited.spec!.stopped = true;
  const updated = await update(edited);
  t.same(updated.metadata?.labels, { app: 'web2', tier: 'front' });
  t.equal(updated.spec?.stopped, true);
  t.equal(updated.metadata?.generation, 2);
  t.ok(Number(updated.metadata?.resourceVersion) > Number(pod.metadata?.resourceVersion));

  const stale = await failure(update(edited));
  t.equal(stale?.code, 'Conflict', 'the resourceVersion read before is stale now');
  t.match(stale?.message, /changed since resourceVersion/);

  const image = Pod.fromJSON(Pod.toJSON(updated));
  image.spec!.containers[0]!.image = 'busybox:2';
  const refused = await failure(update(image));
  t.equal(refused?.code, 'InvalidArgument');
  t.match(refused?.message, /spec\.containers\[0\]\.image: "busybox:2" cannot change/);

  const noRv = Pod.fromJSON(Pod.toJSON(updated));
  noRv.metadata!.resourceVersion = '';
  t.equal((await failure(update(noRv)))?.code, 'InvalidArgument', 'a resourceVersion is required');
});

t.test('watch: current pods as ADDED, then changes; resumable; compacted history says so', async (t) => {
  const w = watch({});
  t.teardown(() => w.stop());
  await waitFor('the current pods as ADDED', () => seen(w.events, PodEvent_Type.ADDED, 'web2'));
  t.ok(seen(w.events, PodEvent_Type.ADDED, 'web'));

  const byName = watch({ namespace: 'default', name: 'watched' });
  t.teardown(() => byName.stop());
  const created = await createBound(makePod('watched'));
  await waitFor('ADDED for a new pod', () => seen(byName.events, PodEvent_Type.ADDED, 'watched'));
  await waitFor('MODIFIED: bound', () => seen(byName.events, PodEvent_Type.MODIFIED, 'watched'));
  const edited = Pod.fromJSON(Pod.toJSON(created));
  edited.metadata!.labels = { app: 'watched', more: 'yes' };
  await update(edited);
  const modified = await waitFor('MODIFIED', () =>
    byName.events.find((e) => e.type === PodEvent_Type.MODIFIED && e.pod?.metadata?.labels.more === 'yes'),
  );
  t.equal(modified.pod?.metadata?.labels.more, 'yes');
  await remove('watched', { force: true });
  await waitFor('DELETED', () => seen(byName.events, PodEvent_Type.DELETED, 'watched'));
  t.notOk(
    byName.events.some((e) => e.pod?.metadata?.name !== 'watched'),
    'the name filter holds',
  );

  // Resume after the binding: the update, the deletion mark and the deletion follow.
  const resumed = watch({ name: 'watched', resourceVersion: created.metadata?.resourceVersion ?? '' });
  t.teardown(() => resumed.stop());
  await waitFor('the resumed watch to replay the changes', () =>
    seen(resumed.events, PodEvent_Type.DELETED, 'watched'),
  );
  t.same(
    resumed.events.map((e) => e.type),
    [PodEvent_Type.MODIFIED, PodEvent_Type.MODIFIED, PodEvent_Type.DELETED],
  );

  const labelled = watch({ labelSelector: 'tier=front' });
  t.teardown(() => labelled.stop());
  await waitFor('the selector to pick web2', () => seen(labelled.events, PodEvent_Type.ADDED, 'web2'));
  t.equal(labelled.events.length, 1, 'only the pods the selector picks');

  const etcd = new Etcd3({ hosts: plane.etcd.endpoint });
  t.teardown(() => etcd.close());
  const head = (await list()).resourceVersion;
  await etcd.put('/flotilla/v1/test/bump').value('x');
  await etcd.kv.compact({ revision: String(Number(head) + 1), physical: true });
  const old = watch({ resourceVersion: String(created.metadata?.resourceVersion) });
  const err = await waitFor('the compacted watch to fail', () => old.error());
  t.equal(err.code, 9, 'FAILED_PRECONDITION');
  t.match(err.message, /too old.*list the pods again/);
});

t.test('status reports from the node land in etcd; other nodes and stale reports are ignored', async (t) => {
  const web = await get('web');
  await n1.report(web, { status: { phase: 'Running', podIP: '10.88.0.7' } });
  const running = await waitFor('the status to land', async () => {
    const p = await get('web');
    return p.status?.phase === 'Running' ? p : undefined;
  });
  t.equal(running.status?.podIP, '10.88.0.7');
  t.same(running.spec, web.spec, 'only the status changed');
  t.same(running.metadata?.labels, web.metadata?.labels);
  const stored = await readEtcdJson<{ status: { phase: string } }>(
    plane.etcd.endpoint,
    '/flotilla/v1/pods/default/web',
  );
  t.equal(stored?.status.phase, 'Running', 'written to etcd');

  // A marker report after others: once it lands, the ones before it were handled.
  const web3 = await get('web3');
  let marker = 0;
  const afterMarker = async (): Promise<void> => {
    const podIP = `10.88.1.${++marker}`;
    await n2.report(web3, { status: { phase: 'Running', podIP } });
    await waitFor('the marker report', async () => (await get('web3')).status?.podIP === podIP);
  };
  // node-b about node-a's pod, and node-b claiming to be node-a.
  await n2.report(web, { status: { phase: 'Failed' } });
  await n2.report(web, { status: { phase: 'Failed' }, nodeName: n1.name });
  await afterMarker();
  t.equal((await get('web')).status?.phase, 'Running', "another node's reports change nothing");
  // A stale sequence, then another uid, from the right node.
  await n1.report(web, { status: { phase: 'Failed' }, sequence: 1 });
  await afterMarker();
  t.equal((await get('web')).status?.phase, 'Running', 'a stale report changes nothing');
  await n1.report(web, { status: { phase: 'Failed' }, uid: 'another-uid' });
  await afterMarker();
  t.equal((await get('web')).status?.phase, 'Running', 'a report about another uid changes nothing');
});

t.test('delete marks the pod; removed: true from its agent deletes it', async (t) => {
  const before = await get('web');
  const wrongUid = await failure(remove('web', { uid: 'not-the-uid' }));
  t.equal(wrongUid?.code, 'Conflict', 'the uid precondition');
  const marked = await remove('web', { gracePeriodSeconds: 5 });
  t.ok(marked.metadata?.deletionTimestamp, 'deletionTimestamp');
  t.equal(marked.metadata?.deletionGracePeriodSeconds, 5);
  const still = await get('web');
  t.ok(still.metadata?.deletionTimestamp, 'still stored while its agent stops it');
  await n1.report(before, { removed: true, uid: 'old-uid' });
  await n2.report(await get('web3'), { status: { phase: 'Running', podIP: '10.88.2.1' } });
  await waitFor('the marker report', async () => (await get('web3')).status?.podIP === '10.88.2.1');
  t.ok(await get('web'), 'a removed report for another uid deletes nothing');
  await n1.report(before, { removed: true });
  await waitFor('the pod to leave etcd', async () => (await failure(get('web')))?.code === 'NotFound');
  t.pass('deleted once its agent said it removed everything');
});

t.test('force deletes the key at once', async (t) => {
  const marked = await remove('web3', { force: true, gracePeriodSeconds: 0 });
  t.ok(marked.metadata?.deletionTimestamp);
  t.equal(marked.metadata?.deletionGracePeriodSeconds, 0);
  t.equal((await failure(get('web3')))?.code, 'NotFound');
});

t.test('auto-remove: a finished pod is deleted through the deletion flow', async (t) => {
  const pod = await createBound(
    makePod('once', {}, { metadata: { name: 'once', annotations: { 'flotilla.io/auto-remove': 'true' } } }),
  );
  const node = nodes.find((n) => n.name === pod.spec?.nodeName);
  if (!node) throw new Error(`pod placed on ${pod.spec?.nodeName}`);
  await node.report(pod, { status: { phase: 'Succeeded' } });
  const marked = await waitFor('the deletion to start', async () => {
    const p = await get('once');
    return p.metadata?.deletionTimestamp ? p : undefined;
  });
  t.equal(marked.status?.phase, 'Succeeded', 'the status was written too');
  t.equal(marked.metadata?.deletionGracePeriodSeconds, 30);
  await node.report(pod, { removed: true });
  await waitFor('the pod to leave etcd', async () => (await failure(get('once')))?.code === 'NotFound');
  t.pass('removed');
});

t.test('a restarted controller asks every node to resync', async (t) => {
  const before = n1.resyncRequests + n2.resyncRequests;
  await plane.controller.stop();
  await plane.startController();
  await waitFor(
    'both nodes to be asked',
    () =>
      n1.resyncRequests > 0 && n2.resyncRequests > 0 && n1.resyncRequests + n2.resyncRequests >= before + 2,
  );
  t.pass('resync requested');
  // Reports still land after the restart.
  const zoned = await get('zoned');
  await n2.report(zoned, { status: { phase: 'Running', podIP: '10.88.1.9' } });
  await waitFor('a report after the restart', async () => (await get('zoned')).status?.podIP === '10.88.1.9');
});

t.test('a pod whose node left the cluster is deleted at once', async (t) => {
  await addNode('node-c', { cpu: '1', memory: '512Mi' });
  await create(
    makePod(
      'orphan',
      {},
      { spec: { nodeName: 'node-c', containers: [{ name: 'orphan', image: 'busybox' }] } },
    ),
  );
  const etcd = new Etcd3({ hosts: plane.etcd.endpoint });
  t.teardown(() => etcd.close());
  await etcd.delete().key('/flotilla/v1/nodes/node-c');
  const marked = await remove('orphan');
  t.ok(marked.metadata?.deletionTimestamp);
  t.equal((await failure(get('orphan')))?.code, 'NotFound', 'no agent to wait for');
});
