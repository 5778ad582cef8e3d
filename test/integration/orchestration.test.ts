// Orchestration end to end over the real protocol: real etcd and NATS, two controller
// processes (one leads), simulated nodes that join, stream their assignments and report
// over NATS, and the deploy CLI as users run it. Apply, scale, a rolling update sampled
// through a watch, history and undo, automatic rollback on a missed progress deadline
// (and its opt-out), a pod pending with its reasons until a node big enough joins; then
// failures: a node dies and returns, the leader is killed mid-rollout, etcd restarts
// mid-rollout.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pod, type Node } from '@flotilla/proto';
import type { ClusterApi } from '@flotilla/deploy';
import {
  ControlPlane,
  SimNode,
  SimNodes,
  isReady,
  makeRunDir,
  readyCondition,
  waitFor,
  type AdminClient,
  type ControllerReplica,
} from '../lib/index.js';
import {
  PodSampler,
  configFor,
  deploy,
  deploymentOf,
  imageOf,
  isPodReady,
  livePodsOf,
  objectApi,
  output,
  podsOf,
  replicaSetsOf,
  settled,
  writeManifest,
  type WebManifest,
} from '../lib/orchestration.js';

const neverReady = 'registry.test/never-ready:1';
const plane = new ControlPlane(makeRunDir('orchestration'), { nodeGrace: '2s', evictionTimeout: '2s' });
let replica: ControllerReplica;
let fleet: SimNodes;
let big: SimNode | undefined;
let api: ClusterApi;
const wait = { timeoutMs: 60_000, intervalMs: 200 };

t.before(async () => {
  await plane.start();
  replica = await plane.startReplica('controller-b');
  fleet = new SimNodes(3, {
    controllers: [plane.apiAddress, replica.address],
    caPem: readFileSync(plane.caFile, 'utf8'),
    token: plane.joinToken(),
    heartbeatIntervalMs: 300,
    prefix: 'sim',
    unreadyImages: [neverReady],
  });
  await fleet.start();
  api = await objectApi(plane.adminConfigPath);
  await waitFor('3 simulated nodes Ready', async () => {
    const { items } = await plane.admin.listNodes();
    return items.length === 3 && items.every(isReady);
  });
});
t.teardown(async () => {
  api?.close();
  await big?.stop();
  await fleet?.stop();
  await replica?.process.stop();
  await plane.destroy();
});

const cli = (...args: string[]): ReturnType<typeof deploy> => deploy(plane.adminConfigPath, args);
const manifest = (file: string, m: WebManifest): string => writeManifest(plane.dir, file, m);
const web = (image: string): WebManifest => ({ name: 'web', image, replicas: 3, service: true });

t.test('apply a Deployment and a Service with --wait: 3 pods, one per node; again: unchanged', async (t) => {
  const file = manifest('web-v1.yaml', web('registry.test/web:1'));
  const applied = await cli('apply', '-f', file, '--wait', '--timeout', '60s');
  t.equal(applied.code, 0, 'apply --wait exits 0', { output: output(applied) });
  t.match(applied.stdout, /deployment\.apps\/web created/, 'the deployment was created');
  t.match(applied.stdout, /service\/web created/, 'the service was created');

  const pods = await waitFor('3 web pods bound and Ready', () => settled(api, 'web', 3), wait);
  const nodes = pods.map((p) => p.spec?.nodeName ?? '').sort();
  t.strictSame(nodes, ['sim-0', 'sim-1', 'sim-2'], 'spread one per node');

  const again = await cli('apply', '-f', file);
  t.equal(again.code, 0, 're-apply exits 0', { output: output(again) });
  t.match(again.stdout, /deployment\.apps\/web unchanged/, 'the deployment is unchanged');
  t.match(again.stdout, /service\/web unchanged/, 'the service is unchanged');
  t.equal((await livePodsOf(api, 'web')).length, 3, 'still 3 pods');
});

t.test('scale to 5 and back to 2: the pods follow', async (t) => {
  for (const replicas of [5, 2]) {
    const scaled = await cli('scale', 'deployment/web', '--replicas', String(replicas));
    t.equal(scaled.code, 0, `scale to ${replicas} exits 0`, { output: output(scaled) });
    const pods = await waitFor(
      `${replicas} web pods Ready, none terminating`,
      () => settled(api, 'web', replicas),
      wait,
    );
    t.equal(pods.length, replicas, `${replicas} pods`);
    const d = await deploymentOf(api, 'web');
    t.equal(d.spec?.replicas, replicas, `the deployment asks for ${replicas}`);
  }
});

t.test('a rolling update stays within its bounds; history has 2 revisions; undo returns to 1', async (t) => {
  const replicas = 3;
  const maxSurge = 1;
  const maxUnavailable = 1;
  const v1: WebManifest = { ...web('registry.test/web:1'), maxSurge, maxUnavailable };
  const applied1 = await cli('apply', '-f', manifest('web-v1b.yaml', v1), '--wait', '--timeout', '60s');
  t.equal(applied1.code, 0, 'back to 3 replicas of v1', { output: output(applied1) });
  await waitFor('3 v1 pods Ready', () => settled(api, 'web', replicas, 'registry.test/web:1'), wait);

  const sampler = new PodSampler(api, 'web');
  await waitFor('the watch to report the 3 Ready pods', () => sampler.available() === replicas);
  let most = 0;
  let fewestAvailable = Infinity;
  const check = (): void => {
    most = Math.max(most, sampler.live().length);
    fewestAvailable = Math.min(fewestAvailable, sampler.available());
  };
  sampler.onChange = check;
  check();
  const v2 = manifest('web-v2.yaml', { ...v1, image: 'registry.test/web:2' });
  const applied2 = await cli('apply', '-f', v2, '--wait', '--timeout', '60s');
  t.equal(applied2.code, 0, 'the update rolls out', { output: output(applied2) });
  await waitFor('3 v2 pods Ready', () => settled(api, 'web', replicas, 'registry.test/web:2'), wait);
  await sampler.close();
  t.ok(sampler.samples > replicas * 2, `the watch saw the rollout (${sampler.samples} changes)`);
  t.ok(most <= replicas + maxSurge, `never more than ${replicas + maxSurge} pods (most: ${most})`);
  t.ok(
    fewestAvailable >= replicas - maxUnavailable,
    `never fewer than ${replicas - maxUnavailable} available (fewest: ${fewestAvailable})`,
  );

  const rss = await replicaSetsOf(api, 'web');
  t.equal(rss.length, 2, 'two ReplicaSets');
  const old = rss.find((rs) => imageOf(rs.spec?.template ?? {}) === 'registry.test/web:1');
  t.equal(old?.spec?.replicas, 0, 'the old ReplicaSet ends at 0');

  const history = await cli('rollout', 'history', 'deployment/web');
  t.equal(history.code, 0, 'rollout history exits 0', { output: output(history) });
  const revisions = history.stdout
    .split('\n')
    .map((line) => /^(\d+)\s/.exec(line.trim())?.[1])
    .filter((r) => r !== undefined);
  t.strictSame(revisions, ['1', '2'], '2 revisions listed', { stdout: history.stdout });

  const undo = await cli('rollout', 'undo', 'deployment/web');
  t.equal(undo.code, 0, 'rollout undo exits 0', { output: output(undo) });
  const status = await cli('rollout', 'status', 'deployment/web', '--timeout', '60s');
  t.equal(status.code, 0, 'rollout status exits 0 after the undo', { output: output(status) });
  t.equal(
    imageOf((await deploymentOf(api, 'web')).spec?.template ?? {}),
    'registry.test/web:1',
    'the template is revision 1’s',
  );
  await waitFor(
    '3 v1 pods Ready after the undo',
    () => settled(api, 'web', replicas, 'registry.test/web:1'),
    wait,
  );
});

t.test(
  'a missed progress deadline: apply --wait fails, the deployment rolls back by itself (unless opted out)',
  async (t) => {
    const good = 'registry.test/flaky:1';
    for (const optOut of [false, true]) {
      const name = optOut ? 'stubborn' : 'flaky';
      const base: WebManifest = {
        name,
        image: good,
        replicas: 2,
        progressDeadlineSeconds: 3,
        annotations: optOut ? { 'flotilla.io/auto-rollback': 'false' } : {},
      };
      const first = await cli('apply', '-f', manifest(`${name}-v1.yaml`, base), '--wait', '--timeout', '60s');
      t.equal(first.code, 0, `${name}: the good revision rolls out`, { output: output(first) });

      const bad = await cli(
        'apply',
        '-f',
        manifest(`${name}-v2.yaml`, { ...base, image: neverReady }),
        '--wait',
        '--timeout',
        '60s',
      );
      t.not(bad.code, 0, `${name}: apply --wait fails`, { output: output(bad) });
      t.match(
        bad.stdout + bad.stderr,
        /ProgressDeadlineExceeded/,
        `${name}: and names ProgressDeadlineExceeded`,
        { output: output(bad) },
      );

      if (!optOut) {
        await waitFor(
          `${name} to return to its good template`,
          async () => imageOf((await deploymentOf(api, name)).spec?.template ?? {}) === good,
          wait,
        );
        await waitFor(
          `${name}: 2 good pods Ready, the unready one gone`,
          () => settled(api, name, 2, good),
          wait,
        );
        const status = await cli('rollout', 'status', 'deployment/' + name, '--timeout', '30s');
        t.equal(status.code, 0, `${name}: the rolled-back deployment is rolled out`, {
          output: output(status),
        });
      } else {
        // The deadline has passed (apply said so); give a rollback time it would have had.
        await sleep(3_000);
        const d = await deploymentOf(api, name);
        t.equal(imageOf(d.spec?.template ?? {}), neverReady, `${name}: the failed template stays`);
        const progressing = d.status?.conditions.find((c) => c.type === 'Progressing');
        t.equal(progressing?.reason, 'ProgressDeadlineExceeded', `${name}: and is marked failed`);
        const live = await livePodsOf(api, name);
        t.equal(live.filter((p) => imageOf(p) === good).length, 2, `${name}: the good pods keep serving`);
      }
    }
  },
);

t.test(
  'a pod too big for every node is pending with the reasons, then scheduled when a big node joins',
  async (t) => {
    const pod = Pod.fromJSON({
      metadata: { name: 'huge', namespace: 'default' },
      spec: {
        containers: [
          { name: 'main', image: 'registry.test/huge:1', resources: { requests: { memory: '16Gi' } } },
        ],
      },
    });
    await plane.admin.createPod(pod);
    const expected = '0/3 nodes are available: 3 insufficient memory.';
    const pending = await waitFor(
      'huge to be unschedulable with the reasons',
      async () => {
        const p = await plane.admin.getPod('huge');
        const c = p.status?.conditions.find((x) => x.type === 'PodScheduled');
        return c?.status === 'False' && c.message === expected ? p : undefined;
      },
      wait,
    );
    t.equal(pending.status?.phase, 'Pending', 'the pod is Pending');
    t.equal(pending.spec?.nodeName, '', 'and bound nowhere');
    const events = await waitFor('a FailedScheduling event', async () => {
      const list = await api.listObjects({
        kind: 'Event',
        namespace: 'default',
        labelSelector: '',
        fieldSelector: 'involvedObject.kind=Pod,involvedObject.name=huge',
      });
      const found = list.items.flatMap((o) => (o.event?.reason === 'FailedScheduling' ? [o.event] : []));
      return found.length > 0 ? found : undefined;
    });
    t.match(events[0]?.message ?? '', /insufficient memory/, 'the event says why');

    big = new SimNode('big-0', {
      controllers: [plane.apiAddress, replica.address],
      caPem: readFileSync(plane.caFile, 'utf8'),
      token: plane.joinToken(),
      heartbeatIntervalMs: 300,
      unreadyImages: [neverReady],
      capacity: { cpu: '8', memory: '32Gi', pods: '110' },
    });
    await big.start();
    const running = await waitFor(
      'huge to be scheduled on big-0 and run',
      async () => {
        const p = await plane.admin.getPod('huge');
        return p.status?.phase === 'Running' ? p : undefined;
      },
      wait,
    );
    t.equal(running.spec?.nodeName, 'big-0', 'the pod went to the node with room');
    await plane.admin.deletePod('huge', 'default', true);
  },
);

async function leaderOf(admin: AdminClient): Promise<string | undefined> {
  const status = await admin.clusterStatus();
  const leader = status.components.find((c) => c.name === 'leader');
  return leader?.healthy ? leader.endpoint : undefined;
}

/** Each node's Ready status and when it last changed: equal before and after means no flap. */
async function readiness(admin: AdminClient): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await admin.listNodes()).items.map((n: Node) => [
      n.metadata?.name ?? '',
      `${readyCondition(n)?.status ?? ''} ${n.status?.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime ?? ''}`,
    ]),
  );
}

t.test('a node dies: its pod is replaced elsewhere; it returns: its stale pod goes', async (t) => {
  const replicas = 3;
  const m: WebManifest = { name: 'sturdy', image: 'registry.test/sturdy:1', replicas };
  const applied = await deploy(plane.adminConfigPath, [
    'apply',
    '-f',
    manifest('sturdy.yaml', m),
    '--wait',
    '--timeout',
    '60s',
  ]);
  t.equal(applied.code, 0, 'sturdy rolls out', { output: output(applied) });
  const before = await waitFor('3 sturdy pods Ready', () => settled(api, 'sturdy', replicas), wait);
  // A simulated node of the three (big-0 has joined too) that runs one of its pods.
  const victim = before.find((p) => (p.spec?.nodeName ?? '').startsWith('sim-'));
  const dead = victim?.spec?.nodeName ?? '';
  t.ok(victim, `a pod runs on a sim node (spread: ${before.map((p) => p.spec?.nodeName).join(', ')})`);
  const victimName = victim?.metadata?.name ?? '';

  const killedAt = Date.now();
  await fleet.node(dead).kill();
  const replacement = await waitFor(
    'a replacement pod Ready on another node',
    async () => {
      const live = await livePodsOf(api, 'sturdy');
      const fresh = live.filter((p) => !before.some((b) => b.metadata?.uid === p.metadata?.uid));
      return fresh.find((p) => isPodReady(p) && p.spec?.nodeName !== dead);
    },
    wait,
  );
  t.comment(
    `kill of ${dead} → replacement Ready: ${Date.now() - killedAt} ms (grace 2s, eviction timeout 2s)`,
  );
  t.not(replacement.spec?.nodeName, dead, `the replacement runs on ${replacement.spec?.nodeName}`);
  const evicted = await plane.admin.getPod(victimName);
  t.not(evicted.metadata?.deletionTimestamp ?? '', '', 'the dead node’s pod is being deleted (evicted)');
  const live = await livePodsOf(api, 'sturdy');
  t.equal(live.length, replicas, `${replicas} live pods while the node is dead`);

  await fleet.node(dead).revive();
  await waitFor(
    'the stale pod to be gone once its node returns',
    () =>
      plane.admin.getPod(victimName).then(
        () => false,
        (err: { code?: string }) => err.code === 'NotFound',
      ),
    wait,
  );
  await waitFor(`${dead} Ready again`, async () => isReady(await plane.admin.getNode(dead)), wait);
  const after = await waitFor(
    'exactly 3 sturdy pods, all Ready',
    () => settled(api, 'sturdy', replicas),
    wait,
  );
  t.equal(after.length, replicas, 'the deployment has exactly its replicas');
  t.notOk(
    fleet.node(dead).runningPods().includes(`default/${victimName}`),
    'the returned node no longer runs the replaced pod',
  );
});

t.test('the leader is killed mid-rollout: the rollout completes under the other controller', async (t) => {
  const replicas = 4;
  // minReadySeconds makes each step of the rollout last, so the kill lands inside it.
  const m: WebManifest = {
    name: 'relay',
    image: 'registry.test/relay:1',
    replicas,
    minReadySeconds: 2,
    maxSurge: 1,
    maxUnavailable: 0,
  };
  const first = await deploy(plane.adminConfigPath, [
    'apply',
    '-f',
    manifest('relay-v1.yaml', m),
    '--wait',
    '--timeout',
    '90s',
  ]);
  t.equal(first.code, 0, 'relay v1 rolls out', { output: output(first) });

  const leader = await waitFor('a leader', () => leaderOf(plane.admin));
  const primaryLeads = leader === plane.apiAddress;
  t.ok(primaryLeads || leader === replica.address, `the leader (${leader}) is one of the two`);
  const survivorAddress = primaryLeads ? replica.address : plane.apiAddress;
  const survivorConfig = await configFor(
    plane.adminConfigPath,
    survivorAddress,
    join(plane.dir, 'survivor.yaml'),
  );
  const survivorApi = await objectApi(survivorConfig);
  const survivorAdmin = await plane.adminFor(survivorAddress);
  t.teardown(() => {
    survivorApi.close();
    survivorAdmin.close();
  });
  const sampler = new PodSampler(survivorApi, 'relay');
  await waitFor('the watch to report the 4 pods', () => sampler.available() === replicas);
  let most = 0;
  sampler.onChange = () => (most = Math.max(most, sampler.live().length));
  const nodesBefore = await readiness(survivorAdmin);

  const update = await deploy(survivorConfig, [
    'apply',
    '-f',
    manifest('relay-v2.yaml', { ...m, image: 'registry.test/relay:2' }),
  ]);
  t.equal(update.code, 0, 'the update is applied', { output: output(update) });
  await waitFor(
    'the rollout to be under way (a v2 pod Ready, v1 pods left)',
    async () => {
      const live = await livePodsOf(survivorApi, 'relay');
      const v2 = live.filter((p) => p.spec?.containers[0]?.image === 'registry.test/relay:2');
      return v2.some(isPodReady) && v2.length < replicas;
    },
    wait,
  );
  const atKill = await deploymentOf(survivorApi, 'relay');
  t.ok(
    (atKill.status?.updatedReplicas ?? 0) < replicas || (atKill.status?.replicas ?? 0) > replicas,
    'the kill lands mid-rollout',
  );
  const leaderProcess = primaryLeads ? plane.controller : replica.process;
  // The killed controller comes back for the tests after this one, whatever this one finds.
  t.teardown(async () => {
    if (primaryLeads) await plane.startController();
    else replica = await plane.startReplica('controller-b');
  });
  leaderProcess.kill('SIGKILL');
  await leaderProcess.exited;
  const killedAt = Date.now();

  const status = await deploy(survivorConfig, ['rollout', 'status', 'deployment/relay', '--timeout', '90s']);
  t.equal(status.code, 0, 'the rollout completes under the new leader', { output: output(status) });
  t.comment(`leader SIGKILL → rollout complete: ${Date.now() - killedAt} ms`);
  t.equal(await leaderOf(survivorAdmin), survivorAddress, 'the survivor leads');
  const pods = await waitFor(
    '4 v2 pods Ready, none terminating',
    () => settled(survivorApi, 'relay', replicas, 'registry.test/relay:2'),
    wait,
  );
  t.equal(pods.length, replicas, 'exactly the replicas');
  await sampler.close();
  t.ok(sampler.boundTo.size > replicas, `the watch saw ${sampler.boundTo.size} pods bound`);
  t.ok(most <= replicas + 1, `never more than replicas + maxSurge pods across the handover (most: ${most})`);
  t.strictSame([...sampler.reboundUids], [], 'no pod was bound to a second node');
  const running = [...fleet.nodes, ...(big ? [big] : [])]
    .flatMap((n) => n.runningPods())
    .filter((k) => k.startsWith('default/relay-'));
  t.equal(new Set(running).size, running.length, 'no pod runs on two nodes');
  t.equal(running.length, replicas, 'the nodes run exactly the replicas');
  t.strictSame(await readiness(survivorAdmin), nodesBefore, 'no node was marked NotReady');
});

t.test('etcd restarted mid-rollout: nothing is lost and the rollout finishes', async (t) => {
  const replicas = 3;
  const m: WebManifest = {
    name: 'ledger',
    image: 'registry.test/ledger:1',
    replicas,
    minReadySeconds: 2,
    service: true,
  };
  const first = await deploy(plane.adminConfigPath, [
    'apply',
    '-f',
    manifest('ledger-v1.yaml', m),
    '--wait',
    '--timeout',
    '90s',
  ]);
  t.equal(first.code, 0, 'ledger v1 rolls out', { output: output(first) });
  await waitFor('a leader', () => leaderOf(plane.admin), wait);
  const names = async (kind: string): Promise<string[]> =>
    (await api.listObjects({ kind, namespace: 'default', labelSelector: '', fieldSelector: '' })).items
      .map((o) => {
        const object = o.deployment ?? o.replicaSet ?? o.service ?? o.pod;
        return object?.metadata?.name ?? '';
      })
      .sort();
  const update = await deploy(plane.adminConfigPath, [
    'apply',
    '-f',
    manifest('ledger-v2.yaml', { ...m, image: 'registry.test/ledger:2' }),
  ]);
  t.equal(update.code, 0, 'the update is applied', { output: output(update) });
  await waitFor(
    'the v2 ReplicaSet to exist',
    async () => (await replicaSetsOf(api, 'ledger')).length === 2,
    wait,
  );
  const deployments = await names('Deployment');
  const replicaSets = await names('ReplicaSet');
  const services = await names('Service');
  const otherPods = (await names('Pod')).filter((n) => !n.startsWith('ledger-'));
  t.ok(deployments.length >= 3, `deployments before: ${deployments.join(', ')}`);

  const v2Ready = (await livePodsOf(api, 'ledger')).filter(
    (p) => imageOf(p) === 'registry.test/ledger:2' && isPodReady(p),
  );
  t.ok(v2Ready.length < replicas, `etcd stops mid-rollout (${v2Ready.length} of ${replicas} v2 pods Ready)`);
  await plane.etcd.process.stop();
  // Down long enough for every controller's calls to fail, not only to be slow.
  await sleep(1_500);
  await plane.etcd.restart();
  await waitFor('the API to answer again', () => plane.admin.listNodes().then(() => true), wait);

  const status = await deploy(plane.adminConfigPath, [
    'rollout',
    'status',
    'deployment/ledger',
    '--timeout',
    '90s',
  ]);
  t.equal(status.code, 0, 'the rollout finishes after the restart', { output: output(status) });
  await waitFor(
    '3 v2 ledger pods Ready',
    () => settled(api, 'ledger', replicas, 'registry.test/ledger:2'),
    wait,
  );
  t.strictSame(await names('Deployment'), deployments, 'every deployment is still there');
  t.strictSame(await names('Service'), services, 'every service is still there');
  const rsAfter = await names('ReplicaSet');
  t.strictSame(
    replicaSets.filter((n) => !rsAfter.includes(n)),
    [],
    'every replica set is still there',
  );
  const podsAfter = await names('Pod');
  t.strictSame(
    otherPods.filter((n) => !podsAfter.includes(n)),
    [],
    'the other deployments’ pods are all still there',
  );
  for (const name of ['web', 'sturdy', 'relay']) {
    const d = await deploymentOf(api, name);
    const pods = await podsOf(api, name);
    t.equal(pods.length, d.spec?.replicas, `${name} still has its ${d.spec?.replicas} pods`);
  }
  t.ok(
    (await api.getObject({ kind: 'Service', namespace: 'default', name: 'ledger' })).service,
    'the service answers',
  );
});
