// The declarative object API over gRPC against real etcd, nats-server and the controller
// process: multi-object apply (created / unchanged / configured, generation), a batch
// with an invalid object writing nothing, dry runs, get / list / watch of each kind,
// service IP and nodePort allocation under concurrent applies, cordon and events,
// eviction against maxUnavailable, and the delete cascades. No agent runs: nodes,
// ReplicaSets and pod statuses the test needs are written to etcd as the other loops would.
import t from 'tap';
import {
  Deployment,
  Namespace,
  Node,
  Pod,
  PodEvent_Type,
  ReplicaSet,
  Service,
  type ApplyResponse,
  type Object as ProtoObject,
  type ObjectEvent,
} from '@flotilla/proto';
import { ControlPlane, makeRunDir, putEtcd, readEtcdJson, unary, waitFor } from '../lib/index.js';

const plane = new ControlPlane(makeRunDir('objects'), {
  nodeGrace: '300s',
  // A small service range (14 addresses), so that concurrent applies do collide.
  // The object API alone: no scheduler binding or deployment loop acting on the test's objects.
  controllerArgs: ['--service-cidr=10.96.0.0/28', '--controllers=*,-scheduler,-deployments'],
});

t.before(async () => {
  await plane.start();
});
t.teardown(async () => {
  await plane.destroy();
});

const cluster = () => plane.admin.client;
const apply = (objects: ProtoObject[], dryRun = false): Promise<ApplyResponse> =>
  unary(cluster().apply.bind(cluster()), { objects, dryRun }, 30_000);
const get = (kind: string, name: string, namespace = ''): Promise<ProtoObject> =>
  unary(cluster().getObject.bind(cluster()), { kind, namespace, name });
const list = (kind: string, namespace = '', labelSelector = '', fieldSelector = '') =>
  unary(cluster().listObjects.bind(cluster()), { kind, namespace, labelSelector, fieldSelector });
const remove = (kind: string, name: string, namespace = '', dryRun = false): Promise<ProtoObject> =>
  unary(cluster().deleteObject.bind(cluster()), {
    kind,
    namespace,
    name,
    dryRun,
    gracePeriodSeconds: undefined,
  });
const evict = (name: string): Promise<Pod> =>
  unary(cluster().evictPod.bind(cluster()), { namespace: 'default', name, gracePeriodSeconds: undefined });
const cordon = (name: string, unschedulable: boolean): Promise<Node> =>
  unary(cluster().cordonNode.bind(cluster()), { name, unschedulable });

type Failure = Error & { code?: string };
const failure = (p: Promise<unknown>): Promise<Failure | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => e as Failure,
  );

const etcdKey = (key: string): string => `/flotilla/v1/${key}`;
const put = (key: string, json: unknown): Promise<void> =>
  putEtcd(plane.etcd.endpoint, etcdKey(key), JSON.stringify(json));

function watch(kind: string, namespace = '', resourceVersion = '') {
  const call = cluster().watchObjects({ kind, namespace, name: '', labelSelector: '', resourceVersion });
  const events: ObjectEvent[] = [];
  let error: Failure | undefined;
  call.on('data', (e: ObjectEvent) => events.push(e));
  call.on('error', (e: Failure) => (error = e));
  return { events, error: () => error, stop: () => call.cancel() };
}

const ns = (name: string, labels: Record<string, string> = {}): ProtoObject => ({
  namespace: Namespace.fromJSON({ metadata: { name, labels } }),
});

function deployment(name: string, namespace: string, spec: Record<string, unknown> = {}): ProtoObject {
  return {
    deployment: Deployment.fromJSON({
      metadata: { name, namespace, labels: { app: name } },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'web', image: 'busybox:1.36', command: ['sleep', '1000'] }] },
        },
        ...spec,
      },
    }),
  };
}

function service(name: string, namespace = 'default', spec: Record<string, unknown> = {}): ProtoObject {
  return {
    service: Service.fromJSON({
      metadata: { name, namespace },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }], ...spec },
    }),
  };
}

const meta = (o: ProtoObject | undefined) =>
  (o?.deployment ?? o?.service ?? o?.namespace ?? o?.pod ?? o?.node ?? o?.replicaSet ?? o?.event)?.metadata;

t.test('the default namespace exists from the start', async (t) => {
  const got = await get('Namespace', 'default');
  t.equal(got.namespace?.status?.phase, 'Active');
  t.ok(got.namespace?.metadata?.uid);
});

t.test('a multi-object apply creates, then leaves unchanged, then configures', async (t) => {
  const objects = [ns('team-a', { team: 'a' }), deployment('web', 'team-a'), service('web', 'team-a')];
  const first = await apply(objects);
  t.same(
    first.results.map((r) => r.action),
    ['created', 'created', 'created'],
  );
  const d = first.results[1]?.object?.deployment;
  t.equal(d?.metadata?.generation, 1);
  t.equal(d?.spec?.replicas, 1, 'defaults applied');
  t.equal(d?.spec?.strategy?.rollingUpdate?.maxSurge, '25%');
  const rv = Number(d?.metadata?.resourceVersion);
  t.ok(rv > 0);
  t.equal(
    Number(first.results[0]?.object?.namespace?.metadata?.resourceVersion),
    rv,
    'one transaction: every object at one revision',
  );
  const svc = first.results[2]?.object?.service;
  t.match(svc?.spec?.clusterIP, /^10\.96\.0\.([1-9]|1[0-4])$/, 'a cluster IP from --service-cidr');

  const stored = await readEtcdJson<{ metadata: { uid: string } }>(
    plane.etcd.endpoint,
    etcdKey('deployments/team-a/web'),
  );
  t.equal(stored?.metadata.uid, d?.metadata?.uid, 'stored at deployments/<namespace>/<name>');

  const again = await apply(objects);
  t.same(
    again.results.map((r) => r.action),
    ['unchanged', 'unchanged', 'unchanged'],
  );
  t.equal(again.results[1]?.object?.deployment?.metadata?.resourceVersion, String(rv), 'nothing written');
  t.equal(again.results[2]?.object?.service?.spec?.clusterIP, svc?.spec?.clusterIP, 'the IP is kept');

  const third = await apply([objects[0]!, deployment('web', 'team-a', { replicas: 3 }), objects[2]!]);
  t.same(
    third.results.map((r) => r.action),
    ['unchanged', 'configured', 'unchanged'],
  );
  const d3 = third.results[1]?.object?.deployment;
  t.equal(d3?.metadata?.generation, 2, 'a spec change counts a generation');
  t.equal(d3?.metadata?.uid, d?.metadata?.uid);
  t.equal(d3?.spec?.replicas, 3);

  const selector = await failure(
    apply([
      deployment('web', 'team-a', {
        selector: { matchLabels: { app: 'web', v: '2' } },
        template: {
          metadata: { labels: { app: 'web', v: '2' } },
          spec: { containers: [{ name: 'web', image: 'busybox:1.36' }] },
        },
      }),
    ]),
  );
  t.equal(selector?.code, 'InvalidArgument');
  t.match(selector?.message, /Deployment team-a\/web \(objects\[0\]\): spec\.selector: .*cannot change/);
});

t.test('one invalid object refuses the whole batch, listing every problem', async (t) => {
  const before = await list('Deployment', 'team-a');
  const bad = await failure(
    apply([
      deployment('fine', 'team-a'),
      deployment('broken', 'team-a', { replicas: -1, selector: { matchLabels: { app: 'other' } } }),
      service('Bad_Name', 'team-a', { ports: [{ port: 0 }] }),
      { node: Node.fromJSON({ metadata: { name: 'n9' } }) },
    ]),
  );
  t.equal(bad?.code, 'InvalidArgument');
  t.match(bad?.message, /nothing was written/);
  t.match(bad?.message, /Deployment team-a\/broken \(objects\[1\]\): spec\.replicas: -1 must be 0 or more/);
  t.match(bad?.message, /Deployment team-a\/broken \(objects\[1\]\): spec\.selector: .*does not select/);
  t.match(bad?.message, /\(objects\[2\]\): metadata\.name: "Bad_Name"/);
  t.match(bad?.message, /\(objects\[2\]\): spec\.ports\[0\]\.port: 0 must be between 1 and 65535/);
  t.match(bad?.message, /\(objects\[3\]\): kind Node cannot be applied/);
  const after = await list('Deployment', 'team-a');
  t.same(
    after.items.map((o) => meta(o)?.name),
    before.items.map((o) => meta(o)?.name),
    'not even the valid one was written',
  );
  const missingNs = await failure(apply([deployment('x', 'nowhere')]));
  t.match(missingNs?.message, /namespace "nowhere" does not exist/);
});

t.test('a dry run answers what would be stored and writes nothing', async (t) => {
  const dry = await apply([deployment('dry', 'team-a'), service('dry', 'team-a')], true);
  t.same(
    dry.results.map((r) => r.action),
    ['created', 'created'],
  );
  t.ok(dry.results[0]?.object?.deployment?.metadata?.uid, 'with the identity it would get');
  t.match(dry.results[1]?.object?.service?.spec?.clusterIP, /^10\.96\.0\./);
  t.equal((await failure(get('Deployment', 'dry', 'team-a')))?.code, 'NotFound');
  t.equal((await failure(get('Service', 'dry', 'team-a')))?.code, 'NotFound');
  const dryDelete = await remove('Deployment', 'web', 'team-a', true);
  t.equal(meta(dryDelete)?.name, 'web');
  t.ok(await get('Deployment', 'web', 'team-a'), 'a dry-run delete deletes nothing');
});

const node = (name: string) =>
  Node.toJSON(
    Node.fromJSON({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, uid: `uid-${name}`, labels: { zone: 'z1' } },
      spec: { unschedulable: false },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    }),
  );

function ownedPod(name: string, rs: { name: string; uid: string }, ready: boolean, nodeName = 'n1'): unknown {
  return Pod.toJSON(
    Pod.fromJSON({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'default',
        uid: `uid-${name}`,
        generation: 1,
        labels: { app: 'api' },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.name, uid: rs.uid, controller: true },
        ],
      },
      spec: { nodeName, containers: [{ name: 'web', image: 'busybox:1.36' }] },
      status: {
        phase: 'Running',
        conditions: [
          { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-01-01T00:00:00Z' },
        ],
      },
    }),
  );
}

t.test('get, list and watch serve every kind', async (t) => {
  await put('nodes/n1', node('n1'));
  await put('nodes/n2', node('n2'));
  const nodes = await list('nodes');
  t.same(
    nodes.items.map((o) => o.node?.metadata?.name),
    ['n1', 'n2'],
  );
  t.equal((await get('Node', 'n1')).node?.metadata?.uid, 'uid-n1');
  t.same(
    (await list('Namespace', '', 'team=a')).items.map((o) => meta(o)?.name),
    ['team-a'],
    'labelSelector',
  );
  t.equal((await list('Service', 'team-a')).items.length, 1);

  const applied = await apply([
    {
      pod: Pod.fromJSON({
        metadata: { name: 'solo' },
        spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] },
      }),
    },
  ]);
  t.equal(
    applied.results[0]?.object?.pod?.status?.phase,
    'Pending',
    'a pod through Apply, as CreatePod stores it',
  );
  t.equal((await get('pod', 'solo', 'default')).pod?.spec?.restartPolicy, 'Always');

  const rsKey = 'replicasets/default/api-1';
  await put(
    rsKey,
    ReplicaSet.toJSON(
      ReplicaSet.fromJSON({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'api-1', namespace: 'default', uid: 'rs-x' },
      }),
    ),
  );
  t.equal((await get('rs', 'api-1', 'default')).replicaSet?.metadata?.uid, 'rs-x');
  t.equal((await failure(get('Deployment', 'nope', 'default')))?.code, 'NotFound');
  t.equal((await failure(get('Ingress', 'x')))?.code, 'InvalidArgument');

  const w = watch('Deployment', 'team-a');
  await waitFor('ADDED for the current deployment', () =>
    w.events.some((e) => e.type === PodEvent_Type.ADDED),
  );
  t.equal(w.events[0]?.object?.deployment?.metadata?.name, 'web');
  const changed = await apply([deployment('web', 'team-a', { replicas: 2 })]);
  await waitFor('MODIFIED', () => w.events.some((e) => e.type === PodEvent_Type.MODIFIED));
  const modified = w.events.find((e) => e.type === PodEvent_Type.MODIFIED);
  t.equal(modified?.object?.deployment?.spec?.replicas, 2);
  t.equal(w.error(), undefined, 'the watch ran without error');
  w.stop();

  const resumed = watch(
    'Deployment',
    'team-a',
    changed.results[0]?.object?.deployment?.metadata?.resourceVersion,
  );
  await apply([deployment('web', 'team-a', { replicas: 4 })]);
  await waitFor('the change after the resourceVersion', () => resumed.events.length > 0);
  t.equal(resumed.events.length, 1, 'resumed: no ADDED replay, only what came after');
  t.equal(resumed.events[0]?.type, PodEvent_Type.MODIFIED);
  t.equal(resumed.events[0]?.object?.deployment?.spec?.replicas, 4);
  resumed.stop();
});

t.test(
  'service IPs and node ports stay unique under concurrent applies and are released on delete',
  async (t) => {
    // team-a/web holds one of the 14 addresses; 12 more services race for the other 13.
    const names = Array.from({ length: 12 }, (_, i) => `svc-${i}`);
    const results = await Promise.all(names.map((n) => apply([service(n, 'default', { type: 'NodePort' })])));
    const services = results.map((r) => r.results[0]?.object?.service);
    const ips = services.map((s) => s?.spec?.clusterIP);
    const ports = services.map((s) => s?.spec?.ports[0]?.nodePort);
    const webIp = (await get('Service', 'web', 'team-a')).service?.spec?.clusterIP;
    t.equal(new Set([...ips, webIp]).size, 13, 'every cluster IP distinct');
    t.equal(new Set(ports).size, 12, 'every nodePort distinct');
    t.ok(
      ports.every((p) => p !== undefined && p >= 30000 && p <= 32767),
      'in the node-port range',
    );
    for (const s of services) {
      const owner = await readEtcdJson<{ name: string }>(
        plane.etcd.endpoint,
        etcdKey(`allocations/serviceips/${s?.spec?.clusterIP ?? ''}`),
      );
      t.equal(owner?.name, s?.metadata?.name, `allocation key for ${s?.spec?.clusterIP}`);
    }

    const full = await failure(apply([service('one-more'), service('two-more')]));
    t.match(full?.message, /no free address left/, 'the range is full: refused, not looped');

    const first = services[0]!;
    const moved = await failure(
      apply([service(first.metadata!.name, 'default', { type: 'NodePort', clusterIP: webIp })]),
    );
    t.match(moved?.message, /spec\.clusterIP: .* cannot change/);

    await remove('Service', first.metadata!.name, 'default');
    t.equal(
      await readEtcdJson(plane.etcd.endpoint, etcdKey(`allocations/serviceips/${first.spec!.clusterIP}`)),
      undefined,
      'IP released',
    );
    t.equal(
      await readEtcdJson(
        plane.etcd.endpoint,
        etcdKey(`allocations/nodeports/${first.spec!.ports[0]!.nodePort}`),
      ),
      undefined,
      'nodePort released',
    );
    const reuse = await apply([service('reuser', 'default', { clusterIP: first.spec!.clusterIP })]);
    t.equal(
      reuse.results[0]?.object?.service?.spec?.clusterIP,
      first.spec!.clusterIP,
      'a released IP can be taken again',
    );
  },
);

t.test('cordon and uncordon a node, with an event', async (t) => {
  const cordoned = await cordon('n1', true);
  t.equal(cordoned.spec?.unschedulable, true);
  t.equal((await get('Node', 'n1')).node?.spec?.unschedulable, true);
  await cordon('n1', true);
  await waitFor('the NodeNotSchedulable event', async () => {
    const events = await list('Event', 'default', '', 'involvedObject.kind=Node,involvedObject.name=n1');
    return events.items.some((e) => e.event?.reason === 'NodeNotSchedulable');
  });
  const events = await list('Event', '', '', 'involvedObject.name=n1');
  const ev = events.items.find((e) => e.event?.reason === 'NodeNotSchedulable')?.event;
  t.equal(ev?.count, 1, 'a cordon of a cordoned node changes nothing and records nothing');
  t.match(ev?.metadata?.name, /^n1\.[0-9a-f]+$/);
  t.equal((await cordon('n1', false)).spec?.unschedulable, false);
  t.equal((await failure(cordon('ghost', true)))?.code, 'NotFound');
  t.equal(
    (await failure(list('Pod', '', '', 'reason=x')))?.code,
    'InvalidArgument',
    'fieldSelector is for Events',
  );
});

t.test('eviction is refused while it would break maxUnavailable, then allowed', async (t) => {
  const applied = await apply([
    {
      deployment: Deployment.fromJSON({
        metadata: { name: 'api' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'api' } },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '1', maxUnavailable: '0' } },
          template: {
            metadata: { labels: { app: 'api' } },
            spec: { containers: [{ name: 'web', image: 'busybox:1.36' }] },
          },
        },
      }),
    },
  ]);
  const d = applied.results[0]!.object!.deployment!;
  const rs = { name: 'api-abc', uid: 'rs-api' };
  await put(
    'replicasets/default/api-abc',
    ReplicaSet.toJSON(
      ReplicaSet.fromJSON({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: rs.name,
          namespace: 'default',
          uid: rs.uid,
          labels: { app: 'api' },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name: 'api',
              uid: d.metadata!.uid,
              controller: true,
            },
          ],
        },
        spec: { replicas: 2 },
      }),
    ),
  );
  await put('pods/default/api-1', ownedPod('api-1', rs, true));
  await put('pods/default/api-2', ownedPod('api-2', rs, true));
  const refused = await failure(evict('api-1'));
  t.equal(refused?.code, 'ResourceExhausted');
  t.match(refused?.message, /Deployment "api" with 1 available pods, fewer than the 2 it needs.*retry/);
  t.notOk((await get('Pod', 'api-1', 'default')).pod?.metadata?.deletionTimestamp, 'not deleted');

  await put('pods/default/api-3', ownedPod('api-3', rs, true, 'n2'));
  const evicted = await evict('api-1');
  t.ok(evicted.metadata?.deletionTimestamp, 'allowed once a third pod is available: graceful deletion');
  await waitFor('the Evicted event', async () => {
    const events = await list('Event', 'default', '', 'involvedObject.name=api-1');
    return events.items.some((e) => e.event?.reason === 'Evicted');
  });
});

t.test('deleting a Deployment deletes its ReplicaSets and their pods', async (t) => {
  await put(
    'pods/default/api-unbound',
    ownedPod('api-unbound', { name: 'api-abc', uid: 'rs-api' }, false, ''),
  );
  const w = watch('Deployment', 'default');
  await waitFor('ADDED for api', () => w.events.some((e) => e.object?.deployment?.metadata?.name === 'api'));
  const deleted = await remove('Deployment', 'api', 'default');
  t.equal(meta(deleted)?.name, 'api');
  await waitFor('DELETED for api', () => w.events.some((e) => e.type === PodEvent_Type.DELETED));
  t.equal(w.events.find((e) => e.type === PodEvent_Type.DELETED)?.object?.deployment?.metadata?.name, 'api');
  w.stop();
  t.equal((await failure(get('Deployment', 'api', 'default')))?.code, 'NotFound');
  t.equal(
    (await failure(get('ReplicaSet', 'api-abc', 'default')))?.code,
    'NotFound',
    'its ReplicaSet in the same transaction',
  );
  const pod2 = (await get('Pod', 'api-2', 'default')).pod;
  t.ok(pod2?.metadata?.deletionTimestamp, 'a bound pod is deleted gracefully (its agent confirms)');
  t.equal(
    (await failure(get('Pod', 'api-unbound', 'default')))?.code,
    'NotFound',
    'an unbound pod goes at once',
  );
});

t.test(
  'deleting a namespace: never default; otherwise Terminating, then its objects, then itself',
  async (t) => {
    const refused = await failure(remove('Namespace', 'default'));
    t.equal(refused?.code, 'FailedPrecondition');
    await apply([ns('team-b'), deployment('gone', 'team-b'), service('gone', 'team-b')]);
    const svcIp = (await get('Service', 'gone', 'team-b')).service?.spec?.clusterIP;
    const marked = await remove('Namespace', 'team-b');
    t.equal(marked.namespace?.status?.phase, 'Terminating');
    const late = await failure(apply([deployment('late', 'team-b')]));
    t.match(late?.message, /being deleted/);
    await waitFor(
      'the namespace to be gone',
      () => failure(get('Namespace', 'team-b')).then((f) => f?.code === 'NotFound'),
      { timeoutMs: 20_000 },
    );
    t.equal((await list('Deployment', 'team-b')).items.length, 0);
    t.equal((await list('Service', 'team-b')).items.length, 0);
    t.equal(
      await readEtcdJson(plane.etcd.endpoint, etcdKey(`allocations/serviceips/${svcIp ?? ''}`)),
      undefined,
      'its service IP released',
    );
  },
);
