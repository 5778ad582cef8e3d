// Node failure and leader election with real etcd, NATS, two controller processes and
// simulated nodes that speak the agent's protocol: a dead node's pods are evicted after
// the timeout and stopped when it returns; a short silence costs nothing; mass silence
// evicts nothing; killing the leader hands over without marking any node NotReady; an
// etcd restart loses nothing.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pod, type Node } from '@flotilla/proto';
import {
  type AdminClient,
  ControlPlane,
  SimNodes,
  isReady,
  makeRunDir,
  readyCondition,
  waitFor,
  type ControllerReplica,
} from '../lib/index.js';

const graceMs = 2_000;
const evictionTimeoutMs = 2_000;
const plane = new ControlPlane(makeRunDir('node-failure'), { nodeGrace: '2s', evictionTimeout: '2s' });
let replica: ControllerReplica;
let replicaAdmin: AdminClient;
let fleet: SimNodes;

t.before(async () => {
  await plane.start();
  replica = await plane.startReplica('controller-b');
  replicaAdmin = await plane.adminFor(replica.address);
  fleet = new SimNodes(4, {
    controllers: [plane.apiAddress, replica.address],
    caPem: readFileSync(plane.caFile, 'utf8'),
    token: plane.joinToken(),
    heartbeatIntervalMs: 300,
    prefix: 'sim',
  });
  await fleet.start();
  await waitFor('every simulated node to be Ready', async () => {
    const { items } = await plane.admin.listNodes();
    return items.length === 4 && items.every(isReady);
  });
});
t.teardown(async () => {
  await fleet?.stop();
  replicaAdmin?.close();
  await replica?.process.stop();
  await plane.destroy();
});

function podOn(name: string, nodeName: string): Pod {
  return Pod.fromJSON({
    metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'main', image: 'busybox:1.36' }] },
  });
}

async function createRunning(admin: AdminClient, name: string, node: string): Promise<Pod> {
  await admin.createPod(podOn(name, node));
  return waitFor(`${name} to run on ${node}`, async () => {
    const pod = await admin.getPod(name);
    return pod.status?.phase === 'Running' ? pod : undefined;
  });
}

const transitions = async (admin: AdminClient): Promise<Record<string, string>> =>
  Object.fromEntries(
    (await admin.listNodes()).items.map((n: Node) => [
      n.metadata?.name ?? '',
      `${readyCondition(n)?.status ?? ''} ${n.status?.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime ?? ''}`,
    ]),
  );

async function deleting(admin: AdminClient, name: string): Promise<boolean> {
  return ((await admin.getPod(name)).metadata?.deletionTimestamp ?? '') !== '';
}

async function gone(admin: AdminClient, name: string): Promise<boolean> {
  return admin.getPod(name).then(
    () => false,
    (err: { code?: string }) => err.code === 'NotFound',
  );
}

async function leaderOf(admin: AdminClient): Promise<string | undefined> {
  const status = await admin.clusterStatus();
  const leader = status.components.find((c) => c.name === 'leader');
  return leader?.healthy ? leader.endpoint : undefined;
}

t.test('a dead node’s pods are evicted after the timeout, and stopped when it returns', async (t) => {
  const admin = plane.admin;
  await createRunning(admin, 'victim', 'sim-0');
  await createRunning(admin, 'bystander', 'sim-1');
  await fleet.node('sim-0').kill();

  await waitFor('sim-0 to be NotReady', async () => !isReady(await admin.getNode('sim-0')), {
    timeoutMs: 15_000,
  });
  t.equal(await deleting(admin, 'victim'), false, 'NotReady alone evicts nothing yet');
  await waitFor('the pod on sim-0 to be evicted', () => deleting(admin, 'victim'), { timeoutMs: 15_000 });
  t.equal(await deleting(admin, 'bystander'), false, 'the pod on a live node is untouched');
  const evicted = await admin.getPod('victim');
  t.equal(evicted.spec?.nodeName, 'sim-0', 'an evicted pod stays bound until its node confirms it stopped');

  await fleet.node('sim-0').revive();
  await waitFor('the returned node to stop the evicted pod, completing its deletion', () =>
    gone(admin, 'victim'),
  );
  await waitFor('sim-0 to be Ready again', async () => isReady(await admin.getNode('sim-0')));
  t.strictSame(fleet.node('sim-0').runningPods(), [], 'the returned node runs nothing it lost');
  await admin.deletePod('bystander', 'default', true);
});

t.test('a node silent for less than the grace loses nothing', async (t) => {
  const admin = plane.admin;
  await createRunning(admin, 'steady', 'sim-1');
  const before = await transitions(admin);
  await fleet.node('sim-1').partition(graceMs / 4);
  // Long enough for a NotReady mark and an eviction, had the silence counted.
  await sleep(graceMs + evictionTimeoutMs + 1_500);
  t.strictSame(await transitions(admin), before, 'no node changed its Ready condition');
  t.equal(await deleting(admin, 'steady'), false, 'its pod was not evicted');
  await admin.deletePod('steady', 'default', true);
});

t.test('most nodes silent at once: nothing is evicted', async (t) => {
  const admin = plane.admin;
  await createRunning(admin, 'held-1', 'sim-1');
  await createRunning(admin, 'held-2', 'sim-2');
  const silent = ['sim-0', 'sim-1', 'sim-2'];
  await Promise.all(silent.map((n) => fleet.node(n).kill()));
  await waitFor(
    '3 of 4 nodes to be NotReady',
    async () => (await admin.listNodes()).items.filter((n) => !isReady(n)).length === 3,
    { timeoutMs: 15_000 },
  );
  await sleep(evictionTimeoutMs + 2_000);
  t.equal(await deleting(admin, 'held-1'), false, 'held-1 kept');
  t.equal(await deleting(admin, 'held-2'), false, 'held-2 kept');
  const logs = plane.controller.log() + replica.process.log();
  t.match(logs, /most nodes are silent at once/, 'the leader says why, loudly');

  await Promise.all(silent.map((n) => fleet.node(n).revive()));
  await waitFor('all nodes Ready again', async () => (await admin.listNodes()).items.every(isReady));
  await admin.deletePod('held-1', 'default', true);
  await admin.deletePod('held-2', 'default', true);
});

t.test('killing the leader hands over within seconds; no node is marked NotReady', async (t) => {
  const first = await waitFor('a leader', () => leaderOf(plane.admin));
  const leaderIsPrimary = first === plane.apiAddress;
  t.ok(leaderIsPrimary || first === replica.address, `the leader (${first}) is one of the two`);
  const survivor = leaderIsPrimary ? replicaAdmin : plane.admin;
  const survivorAddress = leaderIsPrimary ? replica.address : plane.apiAddress;
  await createRunning(survivor, 'across', 'sim-3');
  const before = await transitions(survivor);

  const leaderProcess = leaderIsPrimary ? plane.controller : replica.process;
  leaderProcess.kill('SIGKILL');
  await leaderProcess.exited;
  // The lease is 3 s: the survivor leads well within 10.
  const next = await waitFor(
    'the survivor to lead',
    async () => {
      const leader = await leaderOf(survivor);
      return leader === survivorAddress ? leader : undefined;
    },
    { timeoutMs: 10_000 },
  );
  t.equal(next, survivorAddress, 'the other controller leads');

  await sleep(graceMs + 1_000);
  t.strictSame(await transitions(survivor), before, 'no node was marked NotReady across the handover');
  t.equal(await deleting(survivor, 'across'), false, 'no pod was evicted');

  // The nodes moved their streams to the survivor: a new pod reaches its node and runs.
  await createRunning(survivor, 'after-handover', 'sim-2');
  // And the new leader runs the node lifecycle.
  await fleet.node('sim-3').kill();
  await waitFor(
    'the new leader to evict the pod of a node that died after the handover',
    () => deleting(survivor, 'across'),
    { timeoutMs: 20_000 },
  );
  await fleet.node('sim-3').revive();
  await waitFor('its deletion to complete', () => gone(survivor, 'across'));

  if (leaderIsPrimary) await plane.startController();
  else {
    replicaAdmin.close();
    await replica.process.stop();
    replica = await plane.startReplica('controller-b');
    replicaAdmin = await plane.adminFor(replica.address);
  }
  await survivor.deletePod('after-handover', 'default', true);
});

t.test(
  'etcd down past the lease, then back: the leader steps down, nothing is lost, no node marked NotReady',
  async (t) => {
    const admin = plane.admin;
    await createRunning(admin, 'durable', 'sim-1');
    const nodesBefore = await transitions(admin);
    const podBefore = await admin.getPod('durable');

    // Down for longer than the lease: the leader must notice and stop its loops.
    const stepDowns = (): number =>
      (plane.controller.log() + replica.process.log()).split('stepping down').length - 1;
    const before = stepDowns();
    await plane.etcd.process.stop();
    await waitFor('the leader to step down while etcd is unreachable', () => stepDowns() > before, {
      timeoutMs: 15_000,
    });
    await plane.etcd.restart();
    await waitFor('the API to answer again', () => admin.listNodes().then(() => true));
    await waitFor('a leader again', () => leaderOf(admin), { timeoutMs: 20_000 });
    await sleep(graceMs + 1_000);

    t.strictSame(await transitions(admin), nodesBefore, 'every node, and none marked NotReady');
    const podAfter = await admin.getPod('durable');
    t.equal(podAfter.metadata?.uid, podBefore.metadata?.uid, 'the pod is still there');
    t.equal(podAfter.metadata?.deletionTimestamp, '', 'and not evicted');
    await createRunning(admin, 'after-restart', 'sim-2');
  },
);
