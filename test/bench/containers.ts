// The container benchmark (issue 4): how fast Flotilla turns "run this image" into a
// running container, measured in one run next to the floor (raw `runc run` of a prepared
// bundle) and podman. Everything runs against one real cluster made by the e2e harness
// (etcd, NATS, registry, controller, one agent; images built by `deploy build`).
//
//   1. `deploy run --rm BUSYBOX /bin/true`, end to end (CLI process start to exit), vs
//      `podman run --rm` and raw `runc run` of a bundle with the same rootfs;
//   2. the agent's own share: from the agent taking the pod on ("pod taken on" in its log)
//      to conmon reporting the container started ("container started");
//   3. `deploy run -d -p` of examples/web to the first HTTP 200 on 127.0.0.1, vs podman;
//   4. 20 pods created at once through the API until all are Running, vs 20 concurrent
//      `podman run -d`;
//   5. the agent's RSS with 30 running containers, and conmon's RSS per container.
// Not a test: it asserts nothing about times.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pod, PodEvent_Type, type PodEvent } from '@flotilla/proto';
import { busyboxRootfs } from '@flotilla/images';
import { DockerCluster, freePort, runCommand, waitFor } from '../lib/index.js';
import { podmanSandbox, type PodmanSandbox } from './podman.js';
import { formatTable, summarize, type Series } from './stats.js';

interface Options {
  runs: number;
  json?: string;
  podman: boolean;
}

const usage = `Usage: node test/bench/run.mjs containers [--runs N] [--json FILE] [--no-podman] [--no-build]

Container start-up on a real one-node cluster: deploy run --rm, the agent's share, run -d -p
to the first HTTP 200, 20 pods at once, agent and conmon memory; next to raw runc and podman.
Needs root; installs podman with apt-get when missing (unless --no-podman).

  --runs N       measured runs of each sequential case (default 7)
  --json FILE    also write the figures as JSON to FILE
  --no-podman    skip the podman baseline
  --no-build     do not run "tsc -b" first (handled by run.mjs)`;

function fail(message: string): never {
  process.stderr.write(`bench:containers: ${message}\n\n${usage}\n`);
  process.exit(2);
}

export function parseOptions(argv: readonly string[]): Options {
  const options: Options = { runs: 7, podman: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 100)
        fail(`--runs must be a whole number from 1 to 100, got ${argv[i]}`);
      options.runs = n;
    } else if (arg === '--json') {
      const file = argv[++i];
      if (file === undefined) fail('--json needs a file name');
      options.json = resolve(file);
    } else if (arg === '--no-podman') options.podman = false;
    else if (arg === '--no-build') continue;
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(arg)}`);
  }
  return options;
}

const say = (line: string): void => void process.stderr.write(`bench:containers: ${line}\n`);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function must(command: string, args: string[]): Promise<string> {
  const out = await runCommand(command, args, { timeoutMs: 300_000 });
  if (out.code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited with ${out.code}: ${out.stderr.trim()}`);
  return out.stdout;
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function ensurePodman(): void {
  if (hasCommand('podman')) return;
  say('installing podman (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): number | null =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'podman'], {
      stdio: 'inherit',
      env,
    }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    if (install() !== 0) throw new Error('apt-get install podman failed');
  }
}

/** One GET; true on a 200. Only ever 127.0.0.1. */
async function http200(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Polls every 5 ms until the port answers 200; the time from start includes the poll gap. */
async function untilHttp200(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await http200(port))) {
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port} never answered 200`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : 0;
}

/** RSS split: anonymous (heap, stacks) and file-backed (the node binary's and libraries' code). */
function rssSplitKb(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { anon: field('RssAnon'), file: field('RssFile') };
}

/** The agent's spawn server (agent/libexec/spawn-server.py): its child running that script. */
function spawnServerPid(agentPid: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== agentPid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('spawn-server.py'))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** conmon processes of this run: their command line names the run's runc root. */
function conmonPids(runcRoot: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('conmon') && argv.some((a) => a.includes(runcRoot))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

interface LogLine {
  time?: string;
  msg?: string;
  pod?: string;
}

/** Per pod: "pod taken on" → first "container started", from the agent's JSON log. */
export function agentStartTimes(logText: string): Map<string, number> {
  const takenOn = new Map<string, number>();
  const result = new Map<string, number>();
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: LogLine;
    try {
      rec = JSON.parse(line) as LogLine;
    } catch {
      continue;
    }
    if (!rec.pod || !rec.time) continue;
    const t = Date.parse(rec.time);
    if (rec.msg === 'pod taken on') takenOn.set(rec.pod, t);
    else if (rec.msg === 'container started' && !result.has(rec.pod)) {
      const start = takenOn.get(rec.pod);
      if (start !== undefined) result.set(rec.pod, t - start);
    }
  }
  return result;
}

function podSpec(cluster: DockerCluster, name: string, image: string, command: string[]): Pod {
  return Pod.fromJSON({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: cluster.nodeName,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [{ name, image, command, imagePullPolicy: 'IfNotPresent' }],
    },
  });
}

function isRunning(pod: Pod | undefined): boolean {
  return pod?.status?.containerStatuses.some((c) => c.state?.running !== undefined) ?? false;
}

/**
 * Resolves once every pod named reports a running container, seen on a watch of the
 * namespace from `resourceVersion` (as `deploy get pods -w` sees it) rather than by listing:
 * the bench's lists every 10 ms were a good part of the controller's CPU during a burst.
 */
async function untilRunning(cluster: DockerCluster, names: string[], resourceVersion: string): Promise<void> {
  const waiting = new Set(names);
  const stream = cluster.admin.client.watchPods({
    namespace: 'default',
    name: '',
    labelSelector: '',
    resourceVersion,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not all of ${names.length} pods ran within 120 s`)),
        120_000,
      );
      stream.on('data', (event: PodEvent) => {
        if (event.type !== PodEvent_Type.DELETED && isRunning(event.pod))
          waiting.delete(event.pod?.metadata?.name ?? '');
        if (waiting.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.on('end', () => {
        clearTimeout(timer);
        reject(new Error('the pod watch ended before every pod ran'));
      });
    });
  } finally {
    stream.removeAllListeners('error');
    stream.on('error', () => undefined);
    stream.cancel();
  }
}

async function deleteAll(cluster: DockerCluster, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => cluster.admin.deletePod(n, 'default', true).catch(() => undefined)));
  await waitFor(
    'benchmark pods to be gone',
    async () => {
      const list = await cluster.admin.listPods('default');
      return list.items.every((p) => !names.includes(p.metadata?.name ?? ''));
    },
    { timeoutMs: 120_000 },
  );
  await waitFor('their runc containers to be gone', () => cluster.runcContainers().length === 0, {
    timeoutMs: 120_000,
  });
}

/** A bundle with the busybox rootfs and `runc spec`'s config running /bin/true. */
async function prepareRuncBundle(dir: string): Promise<string> {
  const bundle = join(dir, 'runc-bundle');
  await mkdir(bundle, { recursive: true });
  await busyboxRootfs(join(bundle, 'rootfs'));
  await must('runc', ['spec', '--bundle', bundle]);
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
    process: { args: string[]; terminal: boolean; rlimits?: unknown };
  };
  config.process.args = ['/bin/true'];
  config.process.terminal = false;
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
  return bundle;
}

export async function main(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  if (process.getuid?.() !== 0) fail('needs root (runc, CNI, cgroups)');
  if (options.podman) ensurePodman();
  // Short: podman refuses a runroot longer than 50 characters.
  const scratch = await mkdtemp(join(tmpdir(), 'fltbc-'));
  const runs = options.runs;
  const rows: Series[] = [];
  const notes: string[] = [];
  let cluster: DockerCluster | undefined;
  let podman: PodmanSandbox | undefined;
  try {
    say('starting a one-node cluster (etcd, NATS, registry, controller, agent) and building images');
    cluster = await DockerCluster.start({ label: 'bench', logLevel: 'info', heartbeatInterval: '1s' });
    const busybox = cluster.images.busybox;
    const web = cluster.images.web;

    // Warm the node: the images are pulled and unpacked once, as they would be on a node
    // that ran them before; every measured run below starts from a present image.
    const warm = await cluster.deploy(['run', '--rm', busybox, '/bin/true']);
    if (warm.code !== 0) throw new Error(`warm-up deploy run failed: ${warm.stderr}`);

    if (options.podman) {
      podman = await podmanSandbox(join(scratch, 'p'), cluster.registry.host);
      await podman.run('s', ['pull', '-q', busybox]);
      await podman.run('s', ['pull', '-q', web]);
      await podman.run('s', ['run', '--rm', busybox, '/bin/true']);
    }
    const bundle = await prepareRuncBundle(scratch);
    const runcRoot = join(scratch, 'runc-root');

    // 1. run --rm /bin/true; tools take turns within each round.
    say(`run --rm /bin/true: ${runs} rounds`);
    const flotillaRun: number[] = [];
    const podmanRun: number[] = [];
    const runcRun: number[] = [];
    for (let i = 0; i < runs; i++) {
      flotillaRun.push(
        await timed(async () => {
          const out = await cluster!.deploy(['run', '--rm', busybox, '/bin/true']);
          if (out.code !== 0) throw new Error(`deploy run --rm failed (${out.code}): ${out.stderr}`);
        }),
      );
      if (podman) podmanRun.push(await timed(() => podman!.run('s', ['run', '--rm', busybox, '/bin/true'])));
      runcRun.push(
        await timed(() => must('runc', ['--root', runcRoot, 'run', '--bundle', bundle, `fltbench${i}`])),
      );
    }
    rows.push({ name: 'flotilla: deploy run --rm busybox /bin/true', runsMs: flotillaRun });
    if (podman) rows.push({ name: 'podman run --rm busybox /bin/true', runsMs: podmanRun });
    rows.push({ name: 'runc run (prepared bundle, the floor)', runsMs: runcRun });

    // Every `deploy` above is a Node process started with this environment. When it sets
    // NODE_EXTRA_CA_CERTS, Node parses that bundle at every start, before any of our code
    // runs (podman pays nothing for it); the same empty program with and without it says
    // how much of each flotilla figure that is.
    const nodeStart = (env: NodeJS.ProcessEnv) =>
      timed(async () => {
        const out = await runCommand(process.execPath, ['-e', '0'], { env });
        if (out.code !== 0) throw new Error(`node -e 0 failed: ${out.stderr}`);
      });
    const nodeAsIs: number[] = [];
    const nodeBare: number[] = [];
    for (let i = 0; i < runs; i++) {
      nodeAsIs.push(await nodeStart({}));
      if (process.env.NODE_EXTRA_CA_CERTS) nodeBare.push(await nodeStart({ NODE_EXTRA_CA_CERTS: '' }));
    }
    if (process.env.NODE_EXTRA_CA_CERTS) {
      rows.push({ name: 'reference: node -e 0 (NODE_EXTRA_CA_CERTS as set here)', runsMs: nodeAsIs });
      rows.push({ name: 'reference: node -e 0 (NODE_EXTRA_CA_CERTS unset)', runsMs: nodeBare });
      notes.push(
        `this environment sets NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS}: the deploy launcher (deploy/bin/deploy.js) keeps it from Node's start, so the deploy processes above did not pay its parse; the node processes of the cluster did`,
      );
    } else rows.push({ name: 'reference: node -e 0', runsMs: nodeAsIs });

    // 2. The agent's share, from its log, for pods that ran above.
    const agentLog = readFileSync(cluster.agent!.logPath, 'utf8');
    const agentTimes = [...agentStartTimes(agentLog).values()].slice(1); // the first is the warm-up
    if (agentTimes.length > 0) {
      rows.push({ name: 'flotilla agent: pod taken on → container started', runsMs: agentTimes });
    } else notes.push('the agent log had no "pod taken on"/"container started" pairs');

    // 3. run -d -p to the first HTTP 200.
    say(`run -d -p to the first HTTP 200: ${runs} rounds`);
    const flotillaHttp: number[] = [];
    const podmanHttp: number[] = [];
    for (let i = 0; i < runs; i++) {
      const port = await freePort();
      const name = `benchweb${i}`;
      flotillaHttp.push(
        await timed(async () => {
          const out = await cluster!.deploy([
            'run',
            '-d',
            '--name',
            name,
            '-p',
            `127.0.0.1:${port}:8080`,
            web,
          ]);
          if (out.code !== 0) throw new Error(`deploy run -d -p failed: ${out.stderr}`);
          await untilHttp200(port);
        }),
      );
      await deleteAll(cluster, [name]);
      if (podman) {
        const pport = await freePort();
        podmanHttp.push(
          await timed(async () => {
            await podman!.run('s', ['run', '-d', '--name', name, '-p', `127.0.0.1:${pport}:8080`, web]);
            await untilHttp200(pport);
          }),
        );
        await podman.run('s', ['rm', '-f', '-t', '0', name]);
      }
    }
    rows.push({ name: 'flotilla: deploy run -d -p web → first HTTP 200', runsMs: flotillaHttp });
    if (podman) rows.push({ name: 'podman run -d -p web → first HTTP 200', runsMs: podmanHttp });

    // 4. 20 at once.
    say('20 pods at once: 3 rounds');
    const flotilla20: number[] = [];
    const podman20: number[] = [];
    for (let round = 0; round < 3; round++) {
      const names = Array.from({ length: 20 }, (_, i) => `bench${round}x${i}`);
      const from = (await cluster.admin.listPods('default')).resourceVersion;
      const netnsBefore = new Set(cluster.netns());
      flotilla20.push(
        await timed(async () => {
          const running = untilRunning(cluster!, names, from);
          await Promise.all(
            names.map((n) => cluster!.admin.createPod(podSpec(cluster!, n, busybox, ['sleep', '3600']))),
          );
          await running;
        }),
      );
      await deleteAll(cluster, names);
      // The agent's teardown goes on after runc's containers are gone (CNI DEL, netns,
      // mounts): let it finish, so that it does not run into the next tool's round (podman's
      // or the next of ours) on these 2 cores.
      await waitFor('the agent to finish tearing the pods down', () =>
        cluster!.netns().every((n) => netnsBefore.has(n)),
      );
      if (podman) {
        podman20.push(
          await timed(() =>
            Promise.all(
              names.map((n) => podman!.run('s', ['run', '-d', '--name', n, busybox, 'sleep', '3600'])),
            ),
          ),
        );
        await podman.run('s', ['rm', '-f', '-t', '0', ...names]);
      }
    }
    rows.push({ name: 'flotilla: 20 pods created at once → all Running', runsMs: flotilla20 });
    if (podman) rows.push({ name: 'podman: 20 × run -d at once → all returned', runsMs: podman20 });

    // 5. Memory with 30 running containers.
    say('memory with 30 running containers');
    const agentPid = cluster.agent!.pid;
    const idleRss = rssKb(agentPid);
    const idleSplit = rssSplitKb(agentPid);
    // The agent's helper for short commands: part of what the agent costs a host.
    const spawnPid = spawnServerPid(agentPid);
    const idleSpawnRss = spawnPid === undefined ? 0 : rssKb(spawnPid);
    const thirty = Array.from({ length: 30 }, (_, i) => `benchmem${i}`);
    await Promise.all(
      thirty.map((n) => cluster!.admin.createPod(podSpec(cluster!, n, busybox, ['sleep', '3600']))),
    );
    await waitFor(
      '30 pods running',
      async () => {
        const list = await cluster!.admin.listPods('default');
        return (
          list.items.filter((p) => thirty.includes(p.metadata?.name ?? '') && isRunning(p)).length === 30
        );
      },
      { timeoutMs: 180_000 },
    );
    await new Promise((r) => setTimeout(r, 3000));
    const busyRss = rssKb(agentPid);
    const busySplit = rssSplitKb(agentPid);
    const busySpawnRss = spawnPid === undefined ? 0 : rssKb(spawnPid);
    const conmons = conmonPids(cluster.settings.runcRoot);
    const conmonRss = conmons.map(rssKb);
    const conmonMeanKb = conmonRss.reduce((a, b) => a + b, 0) / Math.max(1, conmonRss.length);
    await deleteAll(cluster, thirty);

    const lines: string[] = [];
    lines.push(
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, kernel ${release()}, Node ${process.version}; ${new Date().toISOString()}`,
    );
    lines.push('');
    lines.push(
      formatTable(
        rows,
        options.podman ? 'podman run --rm busybox /bin/true' : 'runc run (prepared bundle, the floor)',
      ),
    );
    lines.push('');
    lines.push(
      `agent RSS: ${(idleRss / 1024).toFixed(1)} MB idle, ${(busyRss / 1024).toFixed(1)} MB with 30 running containers`,
    );
    const mb = (kb: number): string => (kb / 1024).toFixed(1);
    lines.push(
      `  of which anonymous ${mb(idleSplit.anon)} / ${mb(busySplit.anon)} MB, file-backed (node binary, libraries) ${mb(idleSplit.file)} / ${mb(busySplit.file)} MB`,
    );
    lines.push(
      spawnPid === undefined
        ? 'agent spawn server: not running (the agent spawns commands itself)'
        : `agent spawn server (python3, pid ${spawnPid}) RSS: ${mb(idleSpawnRss)} MB idle, ${mb(busySpawnRss)} MB with 30; agent + spawn server ${mb(idleRss + idleSpawnRss)} / ${mb(busyRss + busySpawnRss)} MB`,
    );
    lines.push(
      `conmon per container: ${(conmonMeanKb / 1024).toFixed(2)} MB RSS mean over ${conmons.length} conmon processes (RSS counts shared pages once per process)`,
    );
    for (const n of notes) lines.push(`note: ${n}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (options.json) {
      await writeFile(
        options.json,
        JSON.stringify(
          {
            rows: rows.map((r) => ({ ...r, summary: summarize(r.runsMs) })),
            agentRssKb: { idle: idleRss, with30: busyRss },
            agentRssSplitKb: { idle: idleSplit, with30: busySplit },
            spawnServerRssKb: { idle: idleSpawnRss, with30: busySpawnRss },
            conmonRssKb: conmonRss,
          },
          null,
          2,
        ),
      );
    }
    return 0;
  } finally {
    if (podman) await podman.wipe('s').catch((err: unknown) => say(`podman wipe: ${String(err)}`));
    if (existsSync(join(scratch, 'runc-root'))) {
      for (const id of readdirSync(join(scratch, 'runc-root'))) {
        spawnSync('runc', ['--root', join(scratch, 'runc-root'), 'delete', '--force', id], {
          stdio: 'ignore',
        });
      }
    }
    await cluster?.destroy();
    await rm(scratch, { recursive: true, force: true });
  }
}
