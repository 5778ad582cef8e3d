// Three hosts made of network namespaces, end to end: each its own address on one bridge
// and its own agent (state dir, runc root, cgroup parent), the control plane on the
// bridge address. Three nodes join Ready with distinct addresses; a pod pinned to each
// host (`deploy run -d --node`) runs there with an address of that node's pod CIDR; a
// host killed is marked NotReady; and teardown leaves nothing with the run's prefix
// (netns, links, mounts, cgroups, processes, iptables chains, the run directory).
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { localHosts } from '@flotilla/deploy';
import { repoRoot } from '../lib/cluster.js';
import {
  HostsCluster,
  hostsRunDir,
  hostsRunLeftovers,
  hostsSkip,
  teardownHostsRun,
} from '../lib/hosts-cluster.js';
import { waitFor } from '../lib/wait.js';

const skip = hostsSkip();
let cluster: HostsCluster | undefined;

t.before(async () => {
  if (skip) return;
  cluster = await HostsCluster.start({ nodes: 3, nodeGrace: '2s' });
});
t.teardown(async () => {
  await cluster?.destroy();
});
// A timed-out file is killed with SIGALRM soon after, which no exit handler survives.
t.on('timeout', () => cluster?.cleanupSync());

interface PodView {
  name: string;
  node: string;
  podIP: string;
  phase: string;
}

async function podView(c: HostsCluster, name: string): Promise<PodView> {
  const doc = JSON.parse(await c.deployOk(['get', 'pod', name, '-o', 'json'])) as {
    metadata?: { name?: string };
    spec?: { nodeName?: string };
    status?: { podIP?: string; phase?: string };
  };
  return {
    name: doc.metadata?.name ?? '',
    node: doc.spec?.nodeName ?? '',
    podIP: doc.status?.podIP ?? '',
    phase: doc.status?.phase ?? '',
  };
}

t.test('three hosts join Ready, each with its own address', { skip }, async (t) => {
  const c = cluster;
  if (!c) return t.fail('no cluster');
  const nodes = await c.waitNodesReady();
  t.equal(nodes.length, 3, 'three nodes Ready');
  const names = nodes.map((n) => n.metadata?.name ?? '').sort();
  t.same(names, c.plan.hosts.map((h) => h.name).sort(), 'one node per host, named after it');
  const addresses = nodes.map((n) => n.status?.addresses.find((a) => a.type === 'InternalIP')?.address ?? '');
  t.equal(new Set(addresses).size, 3, `distinct addresses: ${addresses.join(', ')}`);
  const cidrs = nodes.map((n) => n.spec?.podCIDR ?? '');
  t.ok(
    cidrs.every((cidr) => localHosts.cidrsOverlap(cidr, '10.244.0.0/16')),
    `each node was given a pod CIDR from the cluster CIDR when it joined: ${cidrs.join(', ')}`,
  );
  t.equal(new Set(cidrs).size, 3, 'distinct pod CIDRs');
  for (const n of nodes) {
    const host = c.hostOf(n.metadata?.name ?? '');
    const address = n.status?.addresses.find((a) => a.type === 'InternalIP')?.address;
    t.equal(address, host.address, `${host.name} reports its host's address`);
    t.equal(n.metadata?.labels['flotilla.io/web-facing'], 'true', `${host.name} is web-facing`);
  }
  const out = await c.deployOk(['nodes']);
  for (const h of c.plan.hosts)
    t.match(out, new RegExp(`${h.name}\\s+Ready`), `deploy nodes shows ${h.name} Ready`);
});

t.test('a pod pinned to each host runs there, with an address of its pod CIDR', { skip }, async (t) => {
  const c = cluster;
  if (!c) return t.fail('no cluster');
  for (const h of c.plan.hosts) {
    await c.deployOk(['run', '-d', '--name', `pin-h${h.index}`, '--node', h.name, c.images.web]);
  }
  const nodes = await c.nodes();
  for (const h of c.plan.hosts) {
    const pod = await waitFor(
      `pin-h${h.index} to be Running`,
      async () => {
        const p = await podView(c, `pin-h${h.index}`);
        return p.phase === 'Running' && p.podIP !== '' ? p : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    t.equal(pod.node, h.name, `pin-h${h.index} is on ${h.name}`);
    // The block the controller allocated to the node when it joined.
    const node = nodes.find((n) => n.metadata?.name === h.name);
    const cidr = node?.spec?.podCIDR ?? '';
    t.ok(
      localHosts.cidrsOverlap(`${pod.podIP}/32`, cidr),
      `pin-h${h.index}'s IP ${pod.podIP} is in ${h.name}'s pod CIDR ${cidr}`,
    );
  }
});

t.test('a host killed is marked NotReady; the others stay Ready', { skip }, async (t) => {
  const c = cluster;
  if (!c) return t.fail('no cluster');
  await c.killHost(3);
  const node = await c.waitNodeReadyStatus(3, 'NotTrue', 30_000);
  t.not(node.status?.conditions.find((x) => x.type === 'Ready')?.status, 'True', 'host 3 is not Ready');
  const ready = (await c.nodes()).filter((n) =>
    n.status?.conditions.some((x) => x.type === 'Ready' && x.status === 'True'),
  );
  t.same(
    ready.map((n) => n.metadata?.name).sort(),
    [c.host(1).name, c.host(2).name].sort(),
    'hosts 1 and 2 are still Ready',
  );
  // Its processes are gone, found by the netns and cgroups the host made.
  t.same(localHosts.hostPids(c.host(3)), [], 'nothing runs on host 3');
  const out = await c.deployOk(['nodes']);
  t.match(out, new RegExp(`${c.host(3).name}\\s+NotReady`), 'deploy nodes shows host 3 NotReady');
});

t.test('teardown leaves nothing with the prefix', { skip }, async (t) => {
  const c = cluster;
  if (!c) return t.fail('no cluster');
  const prefix = c.prefix;
  await c.destroy();
  cluster = undefined;
  t.same(hostsRunLeftovers(prefix), [], 'no netns, link, mount, cgroup, process, chain or directory left');
  // And from nothing but the prefix, a second time (as after a crash): nothing to do, nothing left.
  t.same(teardownHostsRun(prefix), [], 'teardown by prefix alone is idempotent');
});

// A run that crashed (SIGKILL: no exit handler, no teardown) with two hosts, a process
// inside one, a pod-like netns, a cgroup, a mount and its directory: teardown from the
// prefix alone removes all of it.
const crashedRun = `
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { localHosts } from '@flotilla/deploy';
const [prefix, dir] = process.argv.slice(1);
const plan = localHosts.hostsPlan(prefix, 2, localHosts.freeSubnet(${Math.floor(Math.random() * 10_000)}));
localHosts.createHosts(plan);
const h1 = plan.hosts[0];
execFileSync('ip', ['netns', 'add', h1.agent.netnsPrefix + '-pod1']);
mkdirSync(dir + '/h1/rootfs', { recursive: true });
execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', dir + '/h1/rootfs']);
const cg = '/sys/fs/cgroup/' + h1.agent.cgroupParent.slice(1);
const sleeper = spawn('nsenter', ['--net=' + h1.netnsPath, 'sleep', '600'], { detached: true, stdio: 'ignore' });
sleeper.unref();
try { mkdirSync(cg, { recursive: true }); } catch {}
writeFileSync(dir + '/ready', String(sleeper.pid));
setInterval(() => {}, 1000);
`;

t.test('teardown by prefix alone cleans up after a crashed run', { skip }, async (t) => {
  const prefix = `flt${randomBytes(3).toString('hex')}`;
  const dir = hostsRunDir(prefix);
  const child = spawn(process.execPath, ['--input-type=module', '-e', crashedRun, prefix, dir], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitFor(`the crashed run to set up (${stderr})`, () => existsSync(`${dir}/ready`), {
      timeoutMs: 30_000,
    });
    const before = hostsRunLeftovers(prefix);
    for (const what of ['netns', 'link', 'mount', 'process', 'directory'])
      t.ok(
        before.some((l) => l.startsWith(what)),
        `the run left a ${what}`,
      );
  } finally {
    child.kill('SIGKILL');
  }
  const left = teardownHostsRun(prefix);
  t.same(left, [], 'nothing is left after teardown by prefix');
  t.same(hostsRunLeftovers(prefix), [], 'and nothing shows up afterwards');
});
