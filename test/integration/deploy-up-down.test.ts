// `deploy up` starts a whole local cluster as supervised processes and `deploy down`
// leaves nothing behind: no process, mount, netns, or file outside the data directory, and
// nothing of the pods it ran (runc containers, conmon, overlay mounts, netns, the bridge,
// portmap's rules, cgroups). `flotilla-agent reset` removes all of that after the agent
// was SIGKILLed with its pods running.
import t, { type Test } from 'tap';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { localAgentReset, localLayout, localPodRuntimeFlags } from '@flotilla/deploy';
import {
  agentMain,
  deployMain,
  freePort,
  isPidAlive,
  makeRunDir,
  runCommand,
  waitFor,
} from '../lib/index.js';

const home = makeRunDir('up');
const dataDir = join(home, 'cluster');
const dataDir2 = join(home, 'cluster2');
t.teardown(async () => {
  // Whatever happened above, stop what the clusters may still run.
  for (const dir of [dataDir, dataDir2])
    await runCommand(process.execPath, [deployMain, 'down', `--data-dir=${dir}`], { env: cliEnv }).catch(
      () => {},
    );
  if (!process.env.FLOTILLA_KEEP_TEST_DIRS) rmSync(home, { recursive: true, force: true });
});

const cliEnv: NodeJS.ProcessEnv = { HOME: home, FLOTILLA_CONFIG: '' };

function deploy(...args: string[]): ReturnType<typeof runCommand> {
  return runCommand(process.execPath, [deployMain, ...args], { env: cliEnv, timeoutMs: 180_000 });
}

interface ClusterState {
  supervisorPid: number;
  components: { name: string; pid: number }[];
}

function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

const mountsMentioning = (text: string): string[] =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(text));

const netnsList = (): string[] => {
  try {
    return readdirSync('/run/netns').sort();
  } catch {
    return [];
  }
};

/** The agent's host-wide names for a data dir, from the same flags deploy up passes. */
function agentNames(dir: string): { bridge: string; prefix: string; runcRoot: string; network: string } {
  const flags = localPodRuntimeFlags(localLayout(dir));
  const flag = (name: string): string => flags[flags.indexOf(name) + 1] ?? '';
  const bridge = flag('--bridge-name');
  return {
    bridge,
    prefix: flag('--netns-prefix'),
    runcRoot: flag('--runc-root'),
    network: `flotilla-${bridge}`,
  };
}

interface RunPod {
  uid: string;
  ip: string;
}

async function inspectPod(dir: string, name: string): Promise<{ running: boolean; uid: string; ip: string }> {
  const r = await runCommand(process.execPath, [deployMain, 'inspect', name], {
    env: { ...cliEnv, FLOTILLA_CONFIG: localLayout(dir).adminConfig },
    timeoutMs: 60_000,
  });
  if (r.code !== 0) return { running: false, uid: '', ip: '' };
  const [doc] = JSON.parse(r.stdout) as {
    Id?: string;
    State?: { Running?: boolean };
    NetworkSettings?: { IPAddress?: string };
  }[];
  return {
    running: doc?.State?.Running === true,
    uid: doc?.Id ?? '',
    ip: doc?.NetworkSettings?.IPAddress ?? '',
  };
}

/** A sleeper and a web server with a host port, from the image up seeded; running, with their uids and IPs. */
async function runPods(t: Test, dir: string, registryPort: number): Promise<RunPod[]> {
  const image = `127.0.0.1:${registryPort}/library/busybox:latest`;
  const env = { ...cliEnv, FLOTILLA_CONFIG: localLayout(dir).adminConfig };
  const hostPort = await freePort();
  const runs = [
    ['run', '-d', '--name', 'sleeper', image, 'sleep', '3600'],
    ['run', '-d', '--name', 'web', '-p', `${hostPort}:8080`, image, 'httpd', '-f', '-p', '8080'],
  ];
  for (const args of runs) {
    const r = await runCommand(process.execPath, [deployMain, ...args], { env, timeoutMs: 180_000 });
    t.equal(r.code, 0, `deploy ${args.join(' ')}${r.code ? `:\n${r.stdout}\n${r.stderr}` : ''}`);
  }
  const pods: RunPod[] = [];
  for (const name of ['sleeper', 'web']) {
    const p = await waitFor(
      `${name} to run`,
      async () => {
        const i = await inspectPod(dir, name);
        return i.running && i.ip !== '' ? i : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    pods.push({ uid: p.uid, ip: p.ip });
  }
  return pods;
}

function cgroupsOf(uids: string[]): string[] {
  const out: string[] = [];
  const root = '/sys/fs/cgroup';
  for (const h of ['', ...readdirSync(root)])
    for (const uid of uids)
      if (existsSync(join(root, h, 'flotilla', uid))) out.push(join(root, h, 'flotilla', uid));
  return out;
}

/** Everything of the data dir's agent and its pods still on the host, named. */
async function podLeftovers(dir: string, pods: RunPod[]): Promise<string[]> {
  const n = agentNames(dir);
  const out: string[] = [];
  const runc = existsSync(n.runcRoot) ? readdirSync(n.runcRoot) : [];
  for (const id of runc) out.push(`runc container ${id}`);
  for (const pid of processesMentioning(dir)) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if ((cmd[0] ?? '').endsWith('conmon')) out.push(`conmon ${pid}`);
  }
  for (const m of mountsMentioning(dir)) out.push(`mount ${m}`);
  for (const ns of netnsList()) if (ns.startsWith(`${n.prefix}-`)) out.push(`netns ${ns}`);
  if (existsSync(`/sys/class/net/${n.bridge}`)) out.push(`bridge ${n.bridge}`);
  for (const table of ['nat', 'filter']) {
    const saved = (await runCommand('iptables-save', ['-t', table])).stdout;
    for (const line of saved.split('\n')) {
      const mentions =
        line.includes(n.network) ||
        line.includes(`${n.prefix}-`) ||
        line.includes(n.bridge) ||
        pods.some((p) => p.ip !== '' && line.includes(`${p.ip}:`));
      if (line.startsWith('-A') && mentions) out.push(`iptables -t ${table} ${line}`);
    }
  }
  for (const c of cgroupsOf(pods.map((p) => p.uid))) out.push(`cgroup ${c}`);
  return out;
}

t.test('deploy up starts a local cluster with a Ready node; deploy down removes it all', async (t) => {
  const netnsBefore = netnsList();
  const ports = ['etcd', 'nats', 'registry', 'api'];
  const portArgs: string[] = [];
  const portOf: Record<string, number> = {};
  for (const p of ports) {
    portOf[p] = await freePort();
    portArgs.push(`--${p}-port=${portOf[p]}`);
  }

  const up = await deploy('up', `--data-dir=${dataDir}`, ...portArgs);
  t.equal(up.code, 0, `deploy up succeeds${up.code ? `:\n${up.stdout}\n${up.stderr}` : ''}`);

  const state = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as ClusterState;
  const names = state.components.map((c) => c.name).sort();
  for (const expected of ['agent', 'controller', 'etcd', 'nats', 'registry']) {
    t.ok(
      names.some((n) => n.startsWith(expected)),
      `${expected} is supervised`,
    );
  }
  const pids = [state.supervisorPid, ...state.components.map((c) => c.pid)].filter((p) => p > 0);
  t.ok(pids.every(isPidAlive), 'every component is running');

  // up seeded its registry with the base image and the examples, built in the data dir.
  for (const repository of ['library/busybox', 'examples/hello', 'examples/web']) {
    const res = await fetch(`http://127.0.0.1:${portOf.registry}/v2/${repository}/tags/list`);
    t.equal(res.status, 200, `the registry has ${repository}`);
    const body = (await res.json()) as { tags?: string[] };
    t.ok(body.tags?.includes('latest'), `${repository} is tagged latest`);
  }
  t.match(up.stdout, /images\s+127\.0\.0\.1:\d+\/library\/busybox:latest, .*examples\/web:latest/);

  const nodes = await deploy('nodes');
  t.equal(nodes.code, 0, 'deploy nodes succeeds with the config up wrote');
  t.match(
    nodes.stdout,
    /^NAME\s+STATUS\s+AGE\s+CPU\s+MEMORY\s+ADDRESS/m,
    'a table with the documented columns',
  );
  t.match(nodes.stdout, /\n\S+\s+Ready\s/, 'one node is Ready');

  const asJson = await deploy('get', 'nodes', '-o', 'json');
  t.equal(asJson.code, 0, 'get nodes -o json succeeds');
  const list = JSON.parse(asJson.stdout) as { items: unknown[] };
  t.equal(list.items.length, 1, 'one node in the JSON list');

  const again = await deploy('up', `--data-dir=${dataDir}`, ...portArgs);
  t.equal(again.code, 0, 'a second up succeeds');
  t.match(again.stdout, /already running|is running/i, 'and reports the running cluster');
  const stateAgain = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as ClusterState;
  t.equal(stateAgain.supervisorPid, state.supervisorPid, 'no second supervisor was started');

  const status = await deploy('status', `--data-dir=${dataDir}`);
  t.equal(
    status.code,
    0,
    `deploy status reports a healthy cluster${status.code ? `:\n${status.stdout}${status.stderr}` : ''}`,
  );

  // Pods whose containers outlive the agent: down must remove them too.
  const pods = await runPods(t, dataDir, portOf.registry!);
  const before = await podLeftovers(dataDir, pods);
  for (const kind of ['runc container', 'conmon', 'mount', 'netns', 'bridge', 'iptables -t nat', 'cgroup'])
    t.ok(
      before.some((l) => l.startsWith(kind)),
      `before down there is a ${kind} of the pods`,
      { found: before },
    );

  const down = await deploy('down', `--data-dir=${dataDir}`);
  t.equal(down.code, 0, `deploy down succeeds${down.code ? `:\n${down.stdout}\n${down.stderr}` : ''}`);
  t.same(
    await podLeftovers(dataDir, pods),
    [],
    'nothing of the pods is left (containers, conmon, mounts, netns, bridge, rules, cgroups)',
  );
  t.same(pids.filter(isPidAlive), [], 'no component process is left');
  t.same(processesMentioning(dataDir), [], 'no process refers to the data directory');
  t.same(mountsMentioning(dataDir), [], 'nothing is mounted under the data directory');
  // Only this cluster's count: other tests on this host make and remove their own meanwhile.
  t.same(
    netnsList().filter((n) => !netnsBefore.includes(n) && n.startsWith(`${agentNames(dataDir).prefix}-`)),
    [],
    'no network namespace was left',
  );
  t.same(
    readdirSync(home).filter((f) => f !== 'cluster'),
    [],
    'no file outside the data directory (the client config is removed)',
  );

  const downAgain = await deploy('down', `--data-dir=${dataDir}`);
  t.equal(downAgain.code, 0, 'a second down succeeds');
  t.match(
    downAgain.stdout + downAgain.stderr,
    /not running|nothing|no local cluster/i,
    'and says nothing is running',
  );
});

t.test('flotilla-agent reset removes the pods of an agent that was SIGKILLed', async (t) => {
  const portArgs: string[] = [];
  let registryPort = 0;
  for (const p of ['etcd', 'nats', 'registry', 'api']) {
    const port = await freePort();
    if (p === 'registry') registryPort = port;
    portArgs.push(`--${p}-port=${port}`);
  }
  const up = await deploy('up', `--data-dir=${dataDir2}`, ...portArgs);
  t.equal(up.code, 0, `deploy up succeeds${up.code ? `:\n${up.stdout}\n${up.stderr}` : ''}`);
  const pods = await runPods(t, dataDir2, registryPort);
  const state = JSON.parse(readFileSync(join(dataDir2, 'cluster.json'), 'utf8')) as ClusterState;
  const agentPid = state.components.find((c) => c.name === 'agent')?.pid ?? 0;
  t.ok(agentPid > 0 && isPidAlive(agentPid), 'the agent runs');
  // The supervisor first (it would start the agent again), then the agent: no cleanup ran.
  process.kill(state.supervisorPid, 'SIGKILL');
  process.kill(agentPid, 'SIGKILL');
  await waitFor('the agent to be gone', () => !isPidAlive(agentPid));
  const before = await podLeftovers(dataDir2, pods);
  t.ok(
    before.some((l) => l.startsWith('runc container')),
    'its containers still run',
    { found: before },
  );

  const { args } = localAgentReset(localLayout(dataDir2), { node: process.execPath, agentMain });
  const reset = await runCommand(process.execPath, args, { timeoutMs: 180_000 });
  t.equal(reset.code, 0, `reset succeeds${reset.code ? `:\n${reset.stdout}\n${reset.stderr}` : ''}`);
  t.match(reset.stdout, /killed container .*sleeper/, 'it names what it removed');
  t.match(reset.stdout, /deleted pod network/);
  t.match(reset.stdout, /deleted bridge/);
  t.same(await podLeftovers(dataDir2, pods), [], 'nothing of the pods is left');

  const again = await runCommand(process.execPath, args, { timeoutMs: 180_000 });
  t.equal(again.code, 0, `a second reset succeeds${again.code ? `:\n${again.stderr}` : ''}`);
  t.match(again.stdout, /^nothing to remove/m, 'and finds nothing');

  const down = await deploy('down', `--data-dir=${dataDir2}`);
  t.equal(down.code, 0, `deploy down stops the rest${down.code ? `:\n${down.stdout}\n${down.stderr}` : ''}`);
  t.same(processesMentioning(dataDir2), [], 'no process refers to the data directory');
});
