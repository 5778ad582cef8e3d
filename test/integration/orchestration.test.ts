// Orchestration end to end over the real protocol: real etcd and NATS, a controller
// process, simulated nodes that join, stream their assignments and report over NATS, and
// the deploy CLI as users run it. Apply, scale, a rolling update sampled through a watch,
// history and undo, automatic rollback on a missed progress deadline (and its opt-out),
// and a pod pending with its reasons until a node big enough joins.
// Node death, leader loss and an etcd restart are in orchestration-failures.test.ts.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pod } from '@flotilla/proto';
import type { ClusterApi } from '@flotilla/deploy';
import { ControlPlane, SimNode, SimNodes, isReady, makeRunDir, waitFor } from '../lib/index.js';
import {
  PodSampler,
  deploy,
  deploymentOf,
  imageOf,
  livePodsOf,
  objectApi,
  output,
  replicaSetsOf,
  settled,
  writeManifest,
  type WebManifest,
} from '../lib/orchestration.js';

const neverReady = 'registry.test/never-ready:1';
const plane = new ControlPlane(makeRunDir('orchestration'), { nodeGrace: '2s', evictionTimeout: '2s' });
let fleet: SimNodes;
let big: SimNode | undefined;
let api: ClusterApi;
const wait = { timeoutMs: 60_000, intervalMs: 200 };

t.before(async () => {
  await plane.start();
  fleet = new SimNodes(3, {
    controllers: [plane.apiAddress],
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
  await plane.destroy();
});

const cli = (...args: string[]): ReturnType<typeof deploy> => deploy(plane.adminConfigPath, args);
const manifest = (file: string, m: WebManifest): string => writeManifest(plane.dir, file, m);
const web = (image: string): WebManifest => ({ name: 'web', image, replicas: 3, service: true });

t.test('apply a Deployment and a Service with --wait: 3 pods, one per node; again: unchanged', async (t) => {
  const file = manifest('web-v1.yaml', web('registry.test/web:1'));
  const applied = await cli('apply', '-f', file, '--wait', '--timeout', '60s');
  t.equal(applied.code, 0, `apply --wait exits 0\n${output(applied)}`);
  t.match(applied.stdout, /deployment\.apps\/web created/, 'the deployment was created');
  t.match(applied.stdout, /service\/web created/, 'the service was created');

  const pods = await waitFor('3 web pods bound and Ready', () => settled(api, 'web', 3), wait);
  const nodes = pods.map((p) => p.spec?.nodeName ?? '').sort();
  t.strictSame(nodes, ['sim-0', 'sim-1', 'sim-2'], 'spread one per node');

  const again = await cli('apply', '-f', file);
  t.equal(again.code, 0, `re-apply exits 0\n${output(again)}`);
  t.match(again.stdout, /deployment\.apps\/web unchanged/, 'the deployment is unchanged');
  t.match(again.stdout, /service\/web unchanged/, 'the service is unchanged');
  t.equal((await livePodsOf(api, 'web')).length, 3, 'still 3 pods');
});

t.test('scale to 5 and back to 2: the pods follow', async (t) => {
  for (const replicas of [5, 2]) {
    const scaled = await cli('scale', 'deployment/web', '--replicas', String(replicas));
    t.equal(scaled.code, 0, `scale to ${replicas} exits 0\n${output(scaled)}`);
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
  t.equal(applied1.code, 0, `back to 3 replicas of v1\n${output(applied1)}`);
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
  t.equal(applied2.code, 0, `the update rolls out\n${output(applied2)}`);
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
  t.equal(history.code, 0, `rollout history exits 0\n${output(history)}`);
  const revisions = history.stdout
    .split('\n')
    .map((line) => /^(\d+)\s/.exec(line.trim())?.[1])
    .filter((r) => r !== undefined);
  t.strictSame(revisions, ['1', '2'], `2 revisions listed\n${history.stdout}`);

  const undo = await cli('rollout', 'undo', 'deployment/web');
  t.equal(undo.code, 0, `rollout undo exits 0\n${output(undo)}`);
  const status = await cli('rollout', 'status', 'deployment/web', '--timeout', '60s');
  t.equal(status.code, 0, `rollout status exits 0 after the undo\n${output(status)}`);
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
      t.equal(first.code, 0, `${name}: the good revision rolls out\n${output(first)}`);

      const bad = await cli(
        'apply',
        '-f',
        manifest(`${name}-v2.yaml`, { ...base, image: neverReady }),
        '--wait',
        '--timeout',
        '60s',
      );
      t.not(bad.code, 0, `${name}: apply --wait fails\n${output(bad)}`);
      t.match(
        bad.stdout + bad.stderr,
        /ProgressDeadlineExceeded/,
        `${name}: and names ProgressDeadlineExceeded\n${output(bad)}`,
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
        t.equal(status.code, 0, `${name}: the rolled-back deployment is rolled out\n${output(status)}`);
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
      controllers: [plane.apiAddress],
      caPem: readFileSync(plane.caFile, 'utf8'),
      token: plane.joinToken(),
      heartbeatIntervalMs: 300,
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
