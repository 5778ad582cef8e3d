// The deployment loop on MemoryStore, with the Scale and Rollout handlers called as grpc-js
// would call them (an admin client certificate in the auth context). The test plays the
// nodes: it sets pods Ready directly and removes the pods marked deleted.
import { X509Certificate } from 'node:crypto';
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import {
  RolloutRequest_Action,
  type Deployment,
  type Object as ClusterObject,
  type Pod,
  type ReplicaSet,
  type RolloutRequest,
  type ScaleRequest,
} from '@flotilla/proto';
import {
  adminOrganization,
  createCertificateAuthority,
  createLogger,
  issueCertificate,
  type KeyAndCert,
} from '@flotilla/common';
import {
  MemoryStore,
  createDeploymentService,
  deploymentCodec,
  discardEvents,
  getCondition,
  isPodReady,
  keys,
  podCodec,
  replicaSetCodec,
  revisionOf,
  scaleObject,
  startDeploymentLoop,
  type EventInput,
  type Store,
  type WatchEvent,
} from '@flotilla/controller';
import { waitFor } from '../lib/wait.js';
import { makeDeployment, playNodes, withImage, withReplicas } from '../lib/deployment-sim.js';

const log = createLogger({ test: 'deployment-loop' }, { level: 'warn' });
const dKey = keys.deployment('default', 'web');

function fakeCall<Req, Res>(request: Req, client: KeyAndCert): grpc.ServerUnaryCall<Req, Res> {
  const raw = new X509Certificate(client.certPem).raw;
  return {
    request,
    getAuthContext: () => ({ sslPeerCertificate: { raw } }),
  } as unknown as grpc.ServerUnaryCall<Req, unknown>;
}

function call<Req, Res>(
  handler: grpc.handleUnaryCall<Req, Res>,
  request: Req,
  client: KeyAndCert,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    handler(fakeCall<Req, Res>(request, client), (err, value) =>
      // The status the handler answers, as an Error with its code and details.
      err ? reject(Object.assign(new Error(err.details ?? ''), err)) : resolve(value as Res),
    );
  });
}

async function state(
  store: MemoryStore,
): Promise<{ d: Deployment | undefined; rss: ReplicaSet[]; pods: Pod[] }> {
  const [d, rss, pods] = await Promise.all([
    store.get(deploymentCodec, dKey),
    store.list(replicaSetCodec, keys.replicaSets),
    store.list(podCodec, keys.pods),
  ]);
  return { d: d?.value, rss: rss.entries.map((e) => e.value), pods: pods.entries.map((e) => e.value) };
}

/** Every pod of image, ready, replicas of them, the rollout complete. */
async function rolledOut(store: MemoryStore, image: string, replicas: number): Promise<boolean> {
  const { d, rss, pods } = await state(store);
  const live = pods.filter((p) => (p.metadata?.deletionTimestamp ?? '') === '');
  return (
    live.length === replicas &&
    live.every((p) => p.spec?.containers[0]?.image === image && isPodReady(p)) &&
    rss.every(
      (rs) =>
        (rs.spec?.replicas ?? 0) === (rs.spec?.template?.spec?.containers[0]?.image === image ? replicas : 0),
    ) &&
    d?.status?.availableReplicas === replicas &&
    d.status.updatedReplicas === replicas &&
    getCondition(d.status, 'Progressing')?.reason === 'NewReplicaSetAvailable'
  );
}

t.test('apply, scale, update the image, undo, delete: the loop converges each time', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const admin = await issueCertificate(ca, {
    subject: { commonName: 'admin', organization: adminOrganization },
    usage: 'client',
    validDays: 1,
  });
  const stranger = await issueCertificate(ca, {
    subject: { commonName: 'node:a', organization: 'flotilla:nodes' },
    usage: 'client',
    validDays: 1,
  });
  const store = new MemoryStore();
  const events: EventInput[] = [];
  const loop = startDeploymentLoop({ store, events: { record: (e) => events.push(e) }, log });
  const stopNodes = playNodes(store);
  t.teardown(async () => {
    await stopNodes();
    await loop.stop();
  });
  const service = createDeploymentService({ store, caPem: ca.certPem, log });
  const opts = { timeoutMs: 15_000, intervalMs: 20 };

  await store.create(
    deploymentCodec,
    dKey,
    makeDeployment({ replicas: 3, maxSurge: '1', maxUnavailable: '0' }),
  );
  await waitFor('3 pods of web:1 ready', () => rolledOut(store, 'registry.local/web:1', 3), opts);
  const first = await state(store);
  t.equal(first.rss.length, 1);
  t.equal(revisionOf(first.rss[0] ?? {}), 1);
  t.match(events, [{ reason: 'ScalingReplicaSet' }]);
  t.equal(events.filter((e) => e.reason === 'SuccessfulCreate').length, 3);

  const scaled = await call<ScaleRequest, ClusterObject>(
    service.scale,
    { kind: 'Deployment', namespace: '', name: 'web', replicas: 5 },
    admin,
  );
  t.equal(scaled.deployment?.spec?.replicas, 5);
  await waitFor('5 pods', () => rolledOut(store, 'registry.local/web:1', 5), opts);

  const current = await store.get(deploymentCodec, dKey);
  if (!current) throw new Error('the deployment is gone');
  await store.update(
    deploymentCodec,
    dKey,
    withImage(current.value, 'registry.local/web:2'),
    current.modRevision,
  );
  await waitFor('web:2 rolled out', () => rolledOut(store, 'registry.local/web:2', 5), opts);
  t.ok(
    events.some((e) => e.reason === 'SuccessfulDelete'),
    'old pods deleted',
  );

  const undone = await call<RolloutRequest, Deployment>(
    service.rollout,
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.UNDO, toRevision: 0 },
    admin,
  );
  t.equal(undone.spec?.template?.spec?.containers[0]?.image, 'registry.local/web:1');
  await waitFor('back on web:1', () => rolledOut(store, 'registry.local/web:1', 5), opts);
  const after = await state(store);
  const web1 = after.rss.find(
    (rs) => rs.spec?.template?.spec?.containers[0]?.image === 'registry.local/web:1',
  );
  t.equal(revisionOf(web1 ?? {}), 3, 'the first revision is current again as revision 3');
  t.equal(after.d?.status?.observedGeneration, after.d?.metadata?.generation);

  const paused = await call<RolloutRequest, Deployment>(
    service.rollout,
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.PAUSE, toRevision: 0 },
    admin,
  );
  t.equal(paused.spec?.paused, true);
  await t.rejects(
    call(
      service.rollout,
      { namespace: 'default', name: 'web', action: RolloutRequest_Action.UNDO, toRevision: 0 },
      admin,
    ),
    { code: grpc.status.FAILED_PRECONDITION, details: /is paused: resume it/ },
  );
  await call(
    service.rollout,
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.RESUME, toRevision: 0 },
    admin,
  );
  await t.rejects(
    call(
      service.rollout,
      { namespace: 'default', name: 'nope', action: RolloutRequest_Action.RESTART, toRevision: 0 },
      admin,
    ),
    {
      code: grpc.status.NOT_FOUND,
      details: /deployment "default\/nope" not found/,
    },
  );
  await t.rejects(
    call(
      service.rollout,
      { namespace: 'default', name: 'web', action: RolloutRequest_Action.UNDO, toRevision: 7 },
      admin,
    ),
    {
      code: grpc.status.NOT_FOUND,
      details: /toRevision: revision 7 of deployment "default\/web" not found/,
    },
  );
  await t.rejects(call(service.scale, { kind: 'Service', namespace: '', name: 'web', replicas: 1 }, admin), {
    code: grpc.status.INVALID_ARGUMENT,
    details: /kind: "Service" cannot be scaled; valid kinds are Deployment and ReplicaSet/,
  });
  await t.rejects(
    call(service.scale, { kind: 'Deployment', namespace: '', name: 'web', replicas: -2 }, admin),
    {
      code: grpc.status.INVALID_ARGUMENT,
      details: /replicas: -2 is not valid/,
    },
  );
  await t.rejects(
    call(service.scale, { kind: 'Deployment', namespace: '', name: 'web', replicas: 1 }, stranger),
    {
      code: grpc.status.PERMISSION_DENIED,
      details: /needs an admin certificate/,
    },
  );

  // Restart: a new revision, every pod replaced.
  const before = new Set((await state(store)).pods.map((p) => p.metadata?.name));
  await call(
    service.rollout,
    { namespace: 'default', name: 'web', action: RolloutRequest_Action.RESTART, toRevision: 0 },
    admin,
  );
  await waitFor(
    'every pod replaced',
    async () => {
      const { pods, rss } = await state(store);
      return (
        rss.length === 3 &&
        pods.length === 5 &&
        pods.every((p) => !before.has(p.metadata?.name) && isPodReady(p))
      );
    },
    opts,
  );

  // Deleting the deployment takes its ReplicaSets and pods with it.
  await store.delete(dKey);
  await waitFor(
    'nothing left',
    async () => {
      const { rss, pods } = await state(store);
      return rss.length === 0 && pods.length === 0;
    },
    opts,
  );
});

const neverReadyImage = 'registry.local/web:broken';

async function failingRollout(
  t: Test,
  annotations: Record<string, string>,
): Promise<{ store: MemoryStore; events: EventInput[] }> {
  const store = new MemoryStore();
  const events: EventInput[] = [];
  const loop = startDeploymentLoop({ store, events: { record: (e) => events.push(e) }, log });
  const stopNodes = playNodes(store, (p) => p.spec?.containers[0]?.image !== neverReadyImage);
  t.teardown(async () => {
    await stopNodes();
    await loop.stop();
  });
  const d = makeDeployment({
    replicas: 2,
    maxSurge: '1',
    maxUnavailable: '0',
    progressDeadlineSeconds: 1,
    annotations,
  });
  await store.create(deploymentCodec, dKey, d);
  await waitFor('web:1 rolled out', () => rolledOut(store, 'registry.local/web:1', 2), {
    timeoutMs: 15_000,
    intervalMs: 20,
  });
  const current = await store.get(deploymentCodec, dKey);
  if (!current) throw new Error('the deployment is gone');
  await store.update(deploymentCodec, dKey, withImage(current.value, neverReadyImage), current.modRevision);
  return { store, events };
}

t.test('a rollout whose pods never get ready misses its deadline and is rolled back', async (t) => {
  const { store, events } = await failingRollout(t, {});
  await waitFor('the rollback event', () => events.some((e) => e.reason === 'DeploymentRollback'), {
    timeoutMs: 15_000,
    intervalMs: 20,
  });
  await waitFor('back on web:1', () => rolledOut(store, 'registry.local/web:1', 2), {
    timeoutMs: 15_000,
    intervalMs: 20,
  });
  t.match(
    events.filter((e) => e.reason === 'ProgressDeadlineExceeded' || e.reason === 'DeploymentRollback'),
    [
      { type: 'Warning', reason: 'ProgressDeadlineExceeded', message: /has timed out progressing/ },
      { type: 'Normal', reason: 'DeploymentRollback', message: 'Rolled back deployment web to revision 1' },
    ],
  );
  const { pods } = await state(store);
  t.notOk(
    pods.some(
      (p) => p.spec?.containers[0]?.image === neverReadyImage && (p.metadata?.deletionTimestamp ?? '') === '',
    ),
  );
});

t.test('with auto-rollback "false" the failed rollout is marked and left alone', async (t) => {
  const { store, events } = await failingRollout(t, { 'flotilla.io/auto-rollback': 'false' });
  const d = await waitFor(
    'Progressing=False',
    async () => {
      const { d } = await state(store);
      return getCondition(d?.status, 'Progressing')?.reason === 'ProgressDeadlineExceeded' ? d : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 20 },
  );
  t.match(getCondition(d.status, 'Progressing'), { status: 'False', message: /has timed out progressing/ });
  t.equal(d.spec?.template?.spec?.containers[0]?.image, neverReadyImage);
  t.notOk(events.some((e) => e.reason === 'DeploymentRollback'));
  t.equal(d.status?.availableReplicas, 2, 'the old pods still serve');
});

t.test('a ReplicaSet without a deployment keeps its own pods', async (t) => {
  const store = new MemoryStore();
  const loop = startDeploymentLoop({ store, events: discardEvents, log });
  const stopNodes = playNodes(store);
  t.teardown(async () => {
    await stopNodes();
    await loop.stop();
  });
  const template = makeDeployment().spec?.template;
  const rs: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: 'solo',
      namespace: 'default',
      uid: 'solo-uid',
      resourceVersion: '',
      generation: 1,
      creationTimestamp: new Date().toISOString(),
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' }, matchExpressions: [] },
      template,
      minReadySeconds: 0,
    },
    status: undefined,
  };
  await store.create(replicaSetCodec, keys.replicaSet('default', 'solo'), rs);
  const ready = async (n: number): Promise<boolean> => {
    const { pods, rss } = await state(store);
    return pods.length === n && pods.every(isPodReady) && rss[0]?.status?.readyReplicas === n;
  };
  await waitFor('2 ready pods', () => ready(2), { timeoutMs: 15_000, intervalMs: 20 });
  const { pods } = await state(store);
  t.ok(
    pods.every(
      (p) => p.metadata?.name.startsWith('solo-') && p.metadata.ownerReferences[0]?.uid === 'solo-uid',
    ),
  );
  const entry = await store.get(replicaSetCodec, keys.replicaSet('default', 'solo'));
  if (!entry) throw new Error('the replica set is gone');
  await store.update(
    replicaSetCodec,
    entry.key,
    scaleObject('ReplicaSet', entry.value, 1),
    entry.modRevision,
  );
  await waitFor('1 ready pod', () => ready(1), { timeoutMs: 15_000, intervalMs: 20 });
  t.pass('scaled down to 1');
});

/** The store, but every pod event reaches watchers lagMs late (a busy or far etcd). */
function withLaggingPodWatch(store: MemoryStore, lagMs: number): Store {
  const watch: Store['watch'] = (codec, prefix, after, signal) => {
    const events = store.watch(codec, prefix, after, signal);
    if (!prefix.startsWith(keys.pods)) return events;
    return (async function* () {
      const due: { at: number; ev: WatchEvent<unknown> }[] = [];
      let wake: (() => void) | undefined;
      void (async () => {
        for await (const ev of events) {
          due.push({ at: Date.now() + lagMs, ev });
          wake?.();
        }
      })();
      while (!signal.aborted) {
        const next = due.shift();
        if (!next) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
          wake = undefined;
          continue;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, next.at - Date.now())));
        yield next.ev as never;
      }
    })();
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'watch') return watch;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

t.test('a pod copy that lags behind the store never makes the loop create pods twice', async (t) => {
  const memory = new MemoryStore();
  const store = withLaggingPodWatch(memory, 300);
  const events: EventInput[] = [];
  const loop = startDeploymentLoop({ store, events: { record: (e) => events.push(e) }, log });
  t.teardown(() => loop.stop());
  const created = (): number => events.filter((e) => e.reason === 'SuccessfulCreate').length;
  const podCount = async (): Promise<number> => (await memory.list(podCodec, keys.pods)).entries.length;

  await memory.create(deploymentCodec, dKey, makeDeployment({ replicas: 3 }));
  await waitFor('3 pods', async () => (await podCount()) === 3, { timeoutMs: 5_000, intervalMs: 10 });
  // The ReplicaSet's own event comes back at once and queues the deployment again, long
  // before the pod copy has the pods: the pass must wait for them.
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.equal(await podCount(), 3);
  t.equal(created(), 3);

  const current = await memory.get(deploymentCodec, dKey);
  if (!current) throw new Error('the deployment is gone');
  await memory.update(deploymentCodec, dKey, withReplicas(current.value, 5), current.modRevision);
  await waitFor('5 pods', async () => (await podCount()) === 5, { timeoutMs: 5_000, intervalMs: 10 });
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.equal(await podCount(), 5);
  t.equal(created(), 5);
});

t.test('a loop whose deployment copy loads last deletes nothing of that deployment', async (t) => {
  const memory = new MemoryStore();
  const first = startDeploymentLoop({ store: memory, events: discardEvents, log });
  const stopNodes = playNodes(memory);
  t.teardown(stopNodes);
  await memory.create(deploymentCodec, dKey, makeDeployment({ replicas: 3 }));
  await waitFor('3 pods of web:1 ready', () => rolledOut(memory, 'registry.local/web:1', 3), {
    timeoutMs: 15_000,
    intervalMs: 20,
  });
  await first.stop();
  const before = (await state(memory)).pods.map((p) => p.metadata?.name).sort();

  // A new leader's loop: the ReplicaSets and pods are listed at once, the deployments late.
  const slowList: Store['list'] = async (codec, prefix) => {
    if (prefix.startsWith(keys.deployments)) await new Promise((resolve) => setTimeout(resolve, 300));
    return memory.list(codec, prefix);
  };
  const store = new Proxy(memory, {
    get(target, prop, receiver) {
      if (prop === 'list') return slowList;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const events: EventInput[] = [];
  const second = startDeploymentLoop({ store, events: { record: (e) => events.push(e) }, log });
  t.teardown(() => second.stop());
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.same((await state(memory)).pods.map((p) => p.metadata?.name).sort(), before, 'the same pods');
  t.same(
    events.filter((e) => e.reason === 'SuccessfulCreate' || e.reason === 'SuccessfulDelete'),
    [],
    'nothing created or deleted',
  );
});

t.test('with a tiny status budget the deferred status writes still land', async (t) => {
  const store = new MemoryStore();
  // One status-only write a second: the four deployments' "1 of 2 ready" must queue for it.
  const loop = startDeploymentLoop({ store, events: discardEvents, log, statusWritesPerSecond: 1 });
  // One pod of each ReplicaSet gets ready, so the rollouts never complete: only status moves.
  const stopNodes = playNodes(store, (p) => (p.metadata?.name ?? '') === firstPodOf(p.metadata?.name ?? ''));
  const firsts = new Map<string, string>();
  function firstPodOf(name: string): string {
    const rs = name.slice(0, name.lastIndexOf('-'));
    const known = firsts.get(rs);
    if (known !== undefined) return known;
    firsts.set(rs, name);
    return name;
  }
  t.teardown(async () => {
    await stopNodes();
    await loop.stop();
  });
  const names = ['a', 'b', 'c', 'd'];
  for (const name of names)
    await store.create(
      deploymentCodec,
      keys.deployment('default', name),
      makeDeployment({ name, replicas: 2, maxSurge: '1', maxUnavailable: '0' }),
    );
  await waitFor(
    'every deployment showing 1 of 2 ready',
    async () => {
      const { entries } = await store.list(deploymentCodec, keys.deployments);
      return entries.length === names.length && entries.every((e) => e.value.status?.readyReplicas === 1);
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  );
  const pods = (await store.list(podCodec, keys.pods)).entries;
  t.equal(pods.length, 8, 'creates are never held back, nor made twice');
});
