// The endpoints loop against real etcd, nats-server and the controller process, with
// simulated nodes reporting the pods they are given Running and Ready (or not ready, for
// the image "unready"): a Service's Endpoints list its ready pods; a pod turning not ready
// moves to notReadyAddresses; a pod being deleted leaves the ready addresses at once (and
// the Endpoints once it is gone); the service deleted takes its Endpoints; Apply refuses
// Endpoints; a node lost takes its pods out of the ready addresses. The simulated nodes give every pod the same IP (10.0.0.1): addresses are
// told apart by their pod reference.
import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  Endpoints,
  Pod,
  PodEvent_Type,
  Service,
  type Object as ProtoObject,
  type ObjectEvent,
} from '@flotilla/proto';
import {
  ControlPlane,
  SimNodes,
  deployMain,
  makeRunDir,
  putEtcd,
  readEtcdJson,
  runCommand,
  unary,
  waitFor,
} from '../lib/index.js';

// A short grace, so that a killed node is NotReady soon (the last test).
const plane = new ControlPlane(makeRunDir('endpoints'), { nodeGrace: '2s', evictionTimeout: '60s' });
let fleet: SimNodes | undefined;

t.before(async () => {
  await plane.start();
  fleet = new SimNodes(2, {
    controllers: [plane.apiAddress],
    caPem: readFileSync(plane.caFile, 'utf8'),
    token: plane.joinToken(),
    heartbeatIntervalMs: 300,
    prefix: 'ep',
    unreadyImages: ['unready'],
  });
  await fleet.start();
  await waitFor('both simulated nodes to be Ready', async () => {
    const { items } = await plane.admin.listNodes();
    return (
      items.length === 2 &&
      items.every((n) => n.status?.conditions.some((c) => c.type === 'Ready' && c.status === 'True'))
    );
  });
});
t.teardown(async () => {
  await fleet?.stop();
  await plane.destroy();
});

const cluster = () => plane.admin.client;
const apply = (objects: ProtoObject[]) =>
  unary(cluster().apply.bind(cluster()), { objects, dryRun: false }, 30_000);
const get = (kind: string, name: string): Promise<ProtoObject> =>
  unary(cluster().getObject.bind(cluster()), { kind, namespace: 'default', name });
const remove = (kind: string, name: string) =>
  unary(cluster().deleteObject.bind(cluster()), {
    kind,
    namespace: 'default',
    name,
    dryRun: false,
    gracePeriodSeconds: undefined,
  });

type Failure = Error & { code?: string };

const pod = (name: string, node: string, image = 'web'): ProtoObject => ({
  pod: Pod.fromJSON({
    metadata: { name, namespace: 'default', labels: { app: 'web' } },
    spec: {
      nodeName: node,
      containers: [{ name: 'main', image, ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  }),
});

/** "ready pods | not-ready pods", each sorted. */
const summary = (e: Endpoints | undefined): string => {
  if (!e) return 'none';
  const names = (kind: 'addresses' | 'notReadyAddresses') =>
    e.subsets
      .flatMap((s) => s[kind].map((a) => a.targetRef?.name ?? ''))
      .sort()
      .join(',');
  return `${names('addresses')} | ${names('notReadyAddresses')}`;
};

/** The Endpoints changes as the API's watch delivers them, each with when it came. */
function watchEndpoints() {
  const call = cluster().watchObjects({
    kind: 'Endpoints',
    namespace: 'default',
    name: '',
    labelSelector: '',
    resourceVersion: '',
  });
  const seen: { at: number; summary: string; ports: string }[] = [];
  call.on('data', (e: ObjectEvent) => {
    const ep = e.object?.endpoints;
    if (ep?.metadata?.name !== 'web') return;
    seen.push({
      at: Date.now(),
      summary: e.type === PodEvent_Type.DELETED ? 'none' : summary(ep),
      ports: ep.subsets.map((s) => s.ports.map((p) => `${p.name}:${p.port}`).join(',')).join(';'),
    });
  });
  call.on('error', (err: Error) =>
    seen.push({ at: Date.now(), summary: `error: ${err.message}`, ports: '' }),
  );
  return {
    seen,
    /** When the watch first showed want after since (ms since the epoch). */
    until: (want: string, since: number) =>
      waitFor(
        `Endpoints web to be "${want}" (seen: ${seen.map((s) => s.summary).join(' → ')})`,
        () => seen.find((s) => s.at >= since && s.summary === want)?.at,
        { timeoutMs: 15_000, intervalMs: 20 },
      ),
    stop: () => call.cancel(),
  };
}

t.test('Endpoints follow the pods of a service through readiness and deletion', async (t) => {
  const watch = watchEndpoints();
  t.teardown(() => watch.stop());
  await apply([
    {
      service: Service.fromJSON({
        metadata: { name: 'web', namespace: 'default' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      }),
    },
    pod('web-0', 'ep-0'),
    pod('web-1', 'ep-1'),
    pod('web-2', 'ep-0', 'unready'),
  ]);
  await watch.until('web-0,web-1 | web-2', 0);
  const listed = await unary(cluster().listObjects.bind(cluster()), {
    kind: 'ep',
    namespace: 'default',
    labelSelector: '',
    fieldSelector: '',
  });
  const stored = listed.items.find((o) => o.endpoints?.metadata?.name === 'web')?.endpoints;
  t.equal(
    summary(stored),
    'web-0,web-1 | web-2',
    'reported Ready by the nodes: ready addresses; not ready: not',
  );
  t.same(
    stored?.subsets.map((s) => s.ports.map((p) => `${p.name}:${p.port}/${p.protocol}`)),
    [['http:8080/TCP']],
    'the named target port resolved',
  );
  t.same(
    stored?.subsets[0]?.addresses.map((a) => [a.targetRef?.name, a.nodeName, a.ip]),
    [
      ['web-0', 'ep-0', '10.0.0.1'],
      ['web-1', 'ep-1', '10.0.0.1'],
    ],
  );
  const one = await get('Endpoints', 'web');
  t.equal(one.endpoints?.metadata?.resourceVersion !== '', true, 'GetObject serves them');

  // The CLI, as a user runs it.
  const cli = (...args: string[]) =>
    runCommand(process.execPath, [deployMain, ...args], {
      env: { ...process.env, FLOTILLA_CONFIG: plane.adminConfigPath },
      timeoutMs: 60_000,
    });
  const got = await cli('get', 'ep');
  t.equal(got.code, 0, got.stderr);
  t.match(
    got.stdout,
    /^NAME +ENDPOINTS +AGE\nweb +10\.0\.0\.1:8080,10\.0\.0\.1:8080 +\S+\n$/,
    'deploy get ep',
  );
  const described = await cli('describe', 'service', 'web');
  t.equal(described.code, 0, described.stderr);
  t.match(described.stdout, /\nEndpoints: +10\.0\.0\.1:8080,10\.0\.0\.1:8080\n/, 'deploy describe service');

  // A readiness probe failing on web-1: its agent reports Ready False (written here as the
  // status ingest writes it).
  const key = '/flotilla/v1/pods/default/web-1';
  const json = await readEtcdJson<{ status: { conditions: { type: string; status: string }[] } }>(
    plane.etcd.endpoint,
    key,
  );
  if (!json) throw new Error('web-1 is not stored');
  for (const c of json.status.conditions)
    if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = 'False';
  let start = Date.now();
  await putEtcd(plane.etcd.endpoint, key, JSON.stringify(json));
  let at = await watch.until('web-0 | web-1,web-2', start);
  t.ok(
    at - start < 1_000,
    `a pod turning not ready moves to notReadyAddresses (${at - start} ms, through the API's watch)`,
  );

  // Deleted gracefully: marked first (deletionTimestamp), removed once its node stopped it.
  start = Date.now();
  await remove('Pod', 'web-0');
  at = await watch.until(' | web-0,web-1,web-2', start);
  t.ok(at - start < 1_000, `a pod being deleted leaves the ready addresses at once (${at - start} ms)`);
  await watch.until(' | web-1,web-2', start);
  t.pass('and the Endpoints once its node stopped it');

  const refused = await apply([
    {
      endpoints: Endpoints.fromJSON({
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'web', namespace: 'default' },
        subsets: [{ addresses: [{ ip: '10.9.9.9' }], ports: [{ port: 80 }] }],
      }),
    },
  ]).then(
    () => undefined,
    (e: unknown) => e as Failure,
  );
  t.equal(refused?.code, 'InvalidArgument', 'Apply refuses Endpoints');
  t.match(
    refused?.message,
    /kind Endpoints cannot be applied: the controller keeps Endpoints from the Service's selector/,
  );
  t.equal(summary((await get('Endpoints', 'web')).endpoints), ' | web-1,web-2', 'nothing was written');

  // Deleted by hand: the loop writes them again.
  start = Date.now();
  await remove('Endpoints', 'web');
  await watch.until(' | web-1,web-2', start + 1);
  t.pass('Endpoints deleted through the API are written again');

  start = Date.now();
  await remove('Service', 'web');
  await watch.until('none', start);
  const gone = await get('Endpoints', 'web').then(
    () => undefined,
    (e: unknown) => e as Failure,
  );
  t.equal(gone?.code, 'NotFound', 'the service deleted: its Endpoints deleted');
});

t.test('a node that stops heartbeating takes its pods out of the ready addresses', async (t) => {
  const watch = watchEndpoints();
  t.teardown(() => watch.stop());
  await apply([
    {
      service: Service.fromJSON({
        metadata: { name: 'web', namespace: 'default' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: '8080' }] },
      }),
    },
    pod('lost-0', 'ep-0'),
    pod('lost-1', 'ep-1'),
  ]);
  await watch.until('lost-0,lost-1 | web-1,web-2', 0);
  const start = Date.now();
  await fleet?.node('ep-1').kill();
  const at = await watch.until('lost-0 | lost-1,web-1,web-2', start);
  t.ok(at - start < 10_000, `ep-1's pods are not ready once it is NotReady (${at - start} ms, grace 2 s)`);
});
