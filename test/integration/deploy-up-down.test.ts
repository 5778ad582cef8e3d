// `deploy up` starts a whole local cluster as supervised processes and `deploy down`
// leaves nothing behind: no process, mount, netns, or file outside the data directory.
import t from 'tap';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deployMain, freePort, isPidAlive, makeRunDir, runCommand } from '../lib/index.js';

const home = makeRunDir('up');
const dataDir = join(home, 'cluster');
t.teardown(async () => {
  // Whatever happened above, stop what the cluster may still run.
  await runCommand(process.execPath, [deployMain, 'down', `--data-dir=${dataDir}`], { env: cliEnv }).catch(
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

  const down = await deploy('down', `--data-dir=${dataDir}`);
  t.equal(down.code, 0, `deploy down succeeds${down.code ? `:\n${down.stdout}\n${down.stderr}` : ''}`);
  t.same(pids.filter(isPidAlive), [], 'no component process is left');
  t.same(processesMentioning(dataDir), [], 'no process refers to the data directory');
  t.same(mountsMentioning(dataDir), [], 'nothing is mounted under the data directory');
  t.same(netnsList(), netnsBefore, 'no network namespace was left');
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
