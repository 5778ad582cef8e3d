// Services on three hosts, end to end, with examples/web.yaml (a 3-replica Deployment of
// examples/web behind a NodePort Service; GET /cgi-bin/pod names the pod that answered):
// - one pod per host, and the nodePort of every host answered by all three pods;
// - a host killed: its pod runs again elsewhere, the service answers, and the returning
//   host's stale pod stays stopped;
// - a host cut off for 3 s: nothing evicted; cut off past the eviction timeout: its pod
//   replaced, and its stale container stopped (fenced) when it returns;
// - a rolling update under a bounded request loop: zero failed requests;
// - the controller leader killed during a rollout, etcd restarted, nats-server restarted:
//   the cluster converges and the service serves the new pods.
// Requests go only to the hosts' own addresses, from this machine.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../lib/cluster.js';
import { HostsCluster, hostsSkip } from '../lib/hosts-cluster.js';
import { waitFor } from '../lib/wait.js';

const skip = hostsSkip();
let cluster: HostsCluster | undefined;

/** The controllers' NotReady grace and eviction timeout: a 3 s cut stays well inside their sum. */
const nodeGrace = '2s';
const evictionTimeout = '8s';
const nodePort = 30080;

t.before(async () => {
  if (skip) return;
  cluster = await HostsCluster.start({ nodes: 3, controllers: 2, nodeGrace, evictionTimeout });
});
t.teardown(async () => {
  await cluster?.destroy();
});
// A timed-out file is killed with SIGALRM soon after, which no exit handler survives.
t.on('timeout', () => cluster?.cleanupSync());

function need(): HostsCluster {
  if (!cluster) throw new Error('no cluster');
  return cluster;
}

/** examples/web.yaml with the run's registry, and an env var that makes each revision its own. */
function webManifest(c: HostsCluster, revision: string): string {
  const text = readFileSync(join(repoRoot, 'examples', 'web.yaml'), 'utf8');
  const image = /^(\s*)image: 127\.0\.0\.1:5000\/examples\/web:latest$/m;
  if (!image.test(text))
    throw new Error('examples/web.yaml no longer names 127.0.0.1:5000/examples/web:latest');
  return text.replace(
    image,
    (_, indent: string) =>
      `${indent}image: ${c.images.web}\n${indent}env:\n${indent}  - name: REVISION\n${indent}    value: "${revision}"`,
  );
}

async function applyWeb(c: HostsCluster, revision: string, wait: boolean): Promise<void> {
  const args = ['apply', '-f', '-', ...(wait ? ['--wait', '--timeout', '180s'] : [])];
  await c.deployOk(args, { stdin: webManifest(c, revision), timeoutMs: 240_000 });
}

interface WebPod {
  name: string;
  uid: string;
  node: string;
  ready: boolean;
  terminating: boolean;
  containerID: string;
  revision: string;
  ip: string;
}

async function webPods(c: HostsCluster): Promise<WebPod[]> {
  const doc = JSON.parse(await c.deployOk(['get', 'pods', '-l', 'app=web', '-o', 'json'])) as {
    items?: {
      metadata?: { name?: string; uid?: string; deletionTimestamp?: string };
      spec?: { nodeName?: string; containers?: { env?: { name?: string; value?: string }[] }[] };
      status?: {
        podIP?: string;
        conditions?: { type?: string; status?: string }[];
        containerStatuses?: { containerID?: string }[];
      };
    }[];
  };
  return (doc.items ?? []).map((p) => ({
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    node: p.spec?.nodeName ?? '',
    ready: p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false,
    terminating: Boolean(p.metadata?.deletionTimestamp),
    containerID: p.status?.containerStatuses?.[0]?.containerID ?? '',
    revision: p.spec?.containers?.[0]?.env?.find((e) => e.name === 'REVISION')?.value ?? '',
    ip: p.status?.podIP ?? '',
  }));
}

/** Waits until exactly `replicas` ready, non-terminating web pods of the revision run, and returns them. */
async function readyWebPods(
  c: HostsCluster,
  revision: string,
  replicas = 3,
  timeoutMs = 120_000,
): Promise<WebPod[]> {
  return waitFor(
    `${replicas} ready web pods of revision ${revision}`,
    async () => {
      const pods = (await webPods(c)).filter((p) => !p.terminating);
      const ready = pods.filter((p) => p.ready && p.revision === revision);
      return ready.length === replicas && pods.length === replicas ? ready : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** GET http://ADDRESS:nodePort/cgi-bin/pod: the pod name that answered, or an error. */
async function whoAnswers(address: string): Promise<{ pod: string } | { error: string }> {
  const r = await HostsCluster.get(`http://${address}:${nodePort}/cgi-bin/pod`, 2_000);
  if ('error' in r) return { error: r.error };
  if (r.status !== 200) return { error: `HTTP ${r.status}` };
  return { pod: r.body.trim() };
}

/** Waits until the nodePort of address has been answered by every one of pods (and by no other). */
async function servedByAll(
  address: string,
  pods: readonly string[],
  timeoutMs = 60_000,
): Promise<Set<string>> {
  const seen = new Set<string>();
  const want = new Set(pods);
  return waitFor(
    `${address}:${nodePort} to be answered by ${pods.join(', ')}`,
    async () => {
      const r = await whoAnswers(address);
      if ('error' in r) throw new Error(r.error);
      if (!want.has(r.pod)) throw new Error(`answered by ${r.pod}, not one of ${pods.join(', ')}`);
      seen.add(r.pod);
      return seen.size === want.size ? seen : undefined;
    },
    { timeoutMs, intervalMs: 20 },
  );
}

/**
 * Requests, one after another round-robin over the hosts' nodePorts, until stop() is
 * called or `limit` requests went out (a bound, so a hung rollout cannot loop forever).
 */
function requestLoop(
  addresses: readonly string[],
  limit = 5_000,
): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  let stopping = false;
  const failed: string[] = [];
  let ok = 0;
  const done = (async () => {
    for (let i = 0; i < limit && !stopping; i++) {
      const address = addresses[i % addresses.length] ?? '';
      const r = await whoAnswers(address);
      if ('error' in r) failed.push(`${address}: ${r.error}`);
      else ok++;
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await done;
      return { ok, failed };
    },
  };
}

t.test('one web pod per host; every host nodePort is answered by all three', { skip }, async (t) => {
  const c = need();
  await c.heal();
  await applyWeb(c, '1', true);
  const pods = await readyWebPods(c, '1');
  t.same(pods.map((p) => p.node).sort(), c.plan.hosts.map((h) => h.name).sort(), 'one pod on each host');
  for (const h of c.plan.hosts) {
    const seen = await servedByAll(
      h.address,
      pods.map((p) => p.name),
    );
    t.equal(seen.size, 3, `${h.name} (${h.address}:${nodePort}) is answered by all three pods`);
  }
  const endpoints = await c.deployOk(['get', 'endpoints', 'web', '-o', 'json']);
  for (const p of pods) t.match(endpoints, p.name, `endpoints list ${p.name}`);
});

t.test('pods reach pods on other hosts by IP, and the service by its names', { skip }, async (t) => {
  const c = need();
  await c.heal();
  const pods = await readyWebPods(c, '1');
  // Inside a pod, through `deploy exec` (CLI → controller → that host's agent).
  const inPod = async (pod: WebPod, url: string): Promise<string> =>
    (await c.deployOk(['exec', pod.name, 'wget', '-qO-', url], { timeoutMs: 30_000 })).trim();
  for (const from of pods) {
    for (const to of pods.filter((p) => p.node !== from.node)) {
      t.equal(
        await inPod(from, `http://${to.ip}:8080/cgi-bin/pod`),
        to.name,
        `${from.name} on ${from.node} reaches ${to.name} on ${to.node} at ${to.ip}`,
      );
    }
  }
  const service = JSON.parse(await c.deployOk(['get', 'service', 'web', '-o', 'json'])) as {
    spec?: { clusterIP?: string };
  };
  const clusterIP = service.spec?.clusterIP ?? '';
  t.match(clusterIP, /^\d+\.\d+\.\d+\.\d+$/, `the service has a virtual IP (${clusterIP})`);
  const from = pods[0];
  if (!from) return;
  // busybox nslookup tries every search domain for a name without dots (and exits 1 when
  // any is NXDOMAIN, even after one answered: what counts is the answer it printed), but
  // asks for a dotted name as it is only; wget resolves through glibc, which applies the
  // search list and ndots:5 as every program in a pod does.
  const lookup = async (name: string): Promise<string> =>
    (await c.deploy(['exec', from.name, 'nslookup', name], { timeoutMs: 30_000 })).stdout;
  for (const name of ['web', 'web.default.svc.cluster.local']) {
    t.match(
      await lookup(name),
      new RegExp(
        `Name:\\s*web\\.default\\.svc\\.cluster\\.local\\s+Address:\\s*${clusterIP.replaceAll('.', '\\.')}\\b`,
      ),
      `nslookup ${name} gives ${clusterIP}`,
    );
  }
  for (const name of ['web', 'web.default', 'web.default.svc.cluster.local']) {
    const answered = await inPod(from, `http://${name}/cgi-bin/pod`);
    t.ok(
      pods.some((p) => p.name === answered),
      `http://${name}/ (port 80 of the virtual IP) is answered by a web pod (${answered})`,
    );
  }
  t.notMatch(await lookup('nothing-here'), /Name:/, 'a name that is no service does not resolve');
});

t.test(
  'a host killed: its pod runs elsewhere, the service answers, the stale pod stays stopped',
  { skip },
  async (t) => {
    const c = need();
    await c.heal();
    const before = await readyWebPods(c, '1');
    const victim = c.host(3);
    const stale = before.find((p) => p.node === victim.name);
    if (!stale) return t.fail(`no web pod on ${victim.name}`);
    await c.killHost(3);
    const after = await waitFor(
      'three ready web pods, none on the killed host',
      async () => {
        const pods = (await webPods(c)).filter((p) => p.ready && !p.terminating && p.node !== victim.name);
        return pods.length === 3 ? pods : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    t.notOk(
      after.some((p) => p.uid === stale.uid),
      'the dead host pod was replaced',
    );
    for (const h of [c.host(1), c.host(2)]) {
      const seen = await servedByAll(
        h.address,
        after.map((p) => p.name),
      );
      t.equal(seen.size, 3, `${h.name} serves the three pods`);
    }
    c.restartHost(3);
    await c.waitNodeReadyStatus(3, 'True', 60_000);
    // It comes back with its state dir: the pod it ran is no longer its, and stays stopped.
    await sleep(3_000);
    t.not(
      c.runcStatus(3, stale.containerID),
      'running',
      `the returning host does not run ${stale.name} again`,
    );
    const now = await webPods(c);
    t.notOk(
      now.some((p) => p.uid === stale.uid && !p.terminating),
      `${stale.name} is gone from the cluster`,
    );
  },
);

t.test('a host cut off for 3 s: nothing is evicted', { skip }, async (t) => {
  const c = need();
  await c.heal();
  // Back to one pod per host first (the returned host is empty): roll out revision 2.
  await applyWeb(c, '2', true);
  const before = await readyWebPods(c, '2');
  c.cutOff(2);
  await sleep(3_000);
  c.reconnect(2);
  await c.waitNodeReadyStatus(2, 'True', 30_000);
  // Past the grace plus eviction timeout the cut would have cost, nothing was replaced.
  await sleep(10_000);
  const after = await readyWebPods(c, '2');
  t.same(
    after.map((p) => p.uid).sort(),
    before.map((p) => p.uid).sort(),
    'the same three pods, none evicted',
  );
  for (const p of after) {
    t.equal(c.runcStatus(c.hostOf(p.node).index, p.containerID), 'running', `${p.name} kept running`);
  }
});

t.test(
  'a host cut off past the eviction timeout: replaced, and fenced when it returns',
  { skip },
  async (t) => {
    const c = need();
    await c.heal();
    const before = await readyWebPods(c, '2');
    const host = c.host(2);
    const stale = before.find((p) => p.node === host.name);
    if (!stale) return t.fail(`no web pod on ${host.name}`);
    c.cutOff(2);
    const replaced = await waitFor(
      `the pod of ${host.name} to be replaced elsewhere`,
      async () => {
        const pods = (await webPods(c)).filter((p) => p.ready && !p.terminating && p.node !== host.name);
        return pods.length === 3 ? pods : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    t.notOk(
      replaced.some((p) => p.uid === stale.uid),
      'replaced by a new pod',
    );
    t.equal(c.runcStatus(2, stale.containerID), 'running', 'the cut-off host still runs the stale container');
    for (const h of [c.host(1), c.host(3)]) {
      const seen = await servedByAll(
        h.address,
        replaced.map((p) => p.name),
      );
      t.equal(seen.size, 3, `${h.name} serves the replacement pods`);
    }
    c.reconnect(2);
    await c.waitNodeReadyStatus(2, 'True', 60_000);
    const status = await waitFor(
      `the stale container of ${stale.name} to be stopped on ${host.name}`,
      () => {
        const s = c.runcStatus(2, stale.containerID);
        return s !== 'running' ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    t.not(
      status,
      'running',
      `fenced: ${stale.name} stopped once ${host.name} heard it is no longer its (${status})`,
    );
  },
);

t.test('a rolling update under a request loop drops no request', { skip }, async (t) => {
  const c = need();
  await c.heal();
  await applyWeb(c, '3', true);
  const before = await readyWebPods(c, '3');
  for (const h of c.plan.hosts)
    await servedByAll(
      h.address,
      before.map((p) => p.name),
    );
  const loop = requestLoop(c.plan.hosts.map((h) => h.address));
  await applyWeb(c, '4', true);
  const after = await readyWebPods(c, '4');
  // A little past the rollout: the last old pod's drain must not cost a request either.
  await sleep(2_000);
  const { ok, failed } = await loop.stop();
  t.ok(ok > 0, `${ok} requests answered during the rollout`);
  t.same(failed, [], 'zero failed requests');
  t.notOk(
    after.some((p) => before.some((b) => b.uid === p.uid)),
    'every pod was replaced',
  );
});

t.test('the controller leader killed during a rollout: it converges', { skip }, async (t) => {
  const c = need();
  await c.heal();
  await applyWeb(c, '5', false);
  const killed = await c.killLeader();
  const next = await waitFor(
    'another controller to lead',
    async () => {
      const l = await c.leader();
      return l && l.name !== killed.name ? l : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  t.not(next.name, killed.name, `${next.name} leads after ${killed.name} was killed`);
  await c.restartController(killed);
  await c.deployOk(['rollout', 'status', 'deployment/web', '--timeout', '180s'], { timeoutMs: 200_000 });
  const pods = await readyWebPods(c, '5');
  for (const h of c.plan.hosts) {
    const seen = await servedByAll(
      h.address,
      pods.map((p) => p.name),
    );
    t.equal(seen.size, 3, `${h.name} serves revision 5`);
  }
});

t.test('etcd restarted: it converges', { skip }, async (t) => {
  const c = need();
  await c.heal();
  await c.restartEtcd();
  // The controllers' etcd clients may still refuse for a moment (their circuit breaker):
  // converging means an apply goes through soon after, not at once.
  await waitFor(
    'an apply to go through after the etcd restart',
    () => applyWeb(c, '6', false).then(() => true),
    {
      timeoutMs: 60_000,
      intervalMs: 1_000,
    },
  );
  await c.deployOk(['rollout', 'status', 'deployment/web', '--timeout', '180s'], { timeoutMs: 200_000 });
  const pods = await readyWebPods(c, '6');
  await c.waitNodesReady();
  for (const h of c.plan.hosts) {
    const seen = await servedByAll(
      h.address,
      pods.map((p) => p.name),
    );
    t.equal(seen.size, 3, `${h.name} serves revision 6 after the etcd restart`);
  }
});

t.test('nats-server restarted: it converges', { skip }, async (t) => {
  const c = need();
  await c.heal();
  await c.restartNats();
  await c.waitNodesReady();
  await applyWeb(c, '7', true);
  const pods = await readyWebPods(c, '7');
  for (const h of c.plan.hosts) {
    const seen = await servedByAll(
      h.address,
      pods.map((p) => p.name),
    );
    t.equal(seen.size, 3, `${h.name} serves revision 7 after the NATS restart`);
  }
});
