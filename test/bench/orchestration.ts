// The control-plane benchmark (issue 5): real etcd, NATS and one controller process
// (ControlPlane), N simulated nodes in this process that speak the agent's protocol
// (SimNodes: join with a token over mTLS, heartbeats over NATS, the assignments stream,
// pods reported Running and Ready), and M pods created the realistic way, by Apply of
// Deployments (M / R deployments of R replicas).
//
//   1. baseline: the raw etcd write rate of M guarded single-key transactions (create if
//      absent) from this process, the floor any etcd-backed scheduler meets;
//   2. placements: every pod from its creation in etcd to its binding (spec.nodeName), both
//      seen by one etcd watch from this process; placements per second and latency;
//   3. API mutation latency at a steady, open-loop 200 requests/s (Apply of a Namespace
//      whose label changes every time, a real write) with the cluster at scale;
//   4. the controller's RSS (VmRSS, VmHWM of /proc/<pid>/status) and this process's
//      memory per simulated node.
// Not a test: it asserts nothing about times.
import { closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { Deployment, Namespace, type ApplyResponse, type Object as ProtoObject } from '@flotilla/proto';
import { ControlPlane, SimNodes, isReady, makeRunDir, unary, waitFor } from '../lib/index.js';
import { percentile } from './stats.js';

interface Options {
  nodes: number;
  pods: number;
  replicas: number;
  runs: number;
  rate: number;
  seconds: number;
  json?: string;
  cpuProf?: string;
  /** Where the controller writes heap snapshots (taken with the nodes only and at scale). */
  heapSnapshots?: string;
  /** More flags for the controller's node ("--max-semi-space-size=1"). */
  nodeArgs: string[];
  /** The controller runs with Node's defaults instead of controllerNodeFlags. */
  noNodeFlags: boolean;
  timeoutSeconds: number;
}

const usage = `Usage: node test/bench/run.mjs orchestration [--nodes N] [--pods M] [--replicas R]
       [--runs N] [--rate RPS] [--seconds S] [--timeout S] [--cpu-prof DIR] [--heap-snapshots DIR]
       [--node-arg FLAG]... [--no-node-flags] [--json FILE] [--no-build]

Scheduler and API of one controller against real etcd and NATS, with N simulated nodes (in
this process) and M pods applied as M/R Deployments of R replicas; next to the raw etcd
write rate of M guarded single-key transactions.

  --nodes N       simulated nodes (default 50)
  --pods M        pods in all (default 2000)
  --replicas R    replicas per Deployment (default 100; M must be a multiple of R)
  --runs N        rounds of the mutation-latency phase and of the baseline (default 1)
  --rate RPS      API mutations per second in that phase (default 200)
  --seconds S     length of one mutation round (default 10)
  --timeout S     give up on placement after S seconds (default 300)
  --cpu-prof DIR  the controller runs with node --cpu-prof, writing its profile to DIR
  --heap-snapshots DIR
                  the controller writes a heap snapshot to DIR with the nodes joined and
                  no pods, and another with every pod Running (each pauses it a while)
  --node-arg FLAG one more flag for the controller's node (repeatable)
  --no-node-flags the controller's node without its usual flags (controllerNodeFlags), to compare
  --json FILE     also write the figures as JSON to FILE
  --no-build      do not run "tsc -b" first (handled by run.mjs)`;

function fail(message: string): never {
  process.stderr.write(`bench:orchestration: ${message}\n\n${usage}\n`);
  process.exit(2);
}

function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    fail(`${flag} must be a whole number from ${min} to ${max}, got ${value}`);
  return n;
}

export function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    nodes: 50,
    pods: 2000,
    replicas: 100,
    runs: 1,
    rate: 200,
    seconds: 10,
    timeoutSeconds: 300,
    nodeArgs: [],
    noNodeFlags: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--nodes') options.nodes = wholeNumber(arg, argv[++i], 1, 5000);
    else if (arg === '--pods') options.pods = wholeNumber(arg, argv[++i], 1, 200_000);
    else if (arg === '--replicas') options.replicas = wholeNumber(arg, argv[++i], 1, 10_000);
    else if (arg === '--runs') options.runs = wholeNumber(arg, argv[++i], 1, 20);
    else if (arg === '--rate') options.rate = wholeNumber(arg, argv[++i], 1, 5000);
    else if (arg === '--seconds') options.seconds = wholeNumber(arg, argv[++i], 1, 600);
    else if (arg === '--timeout') options.timeoutSeconds = wholeNumber(arg, argv[++i], 10, 3600);
    else if (arg === '--cpu-prof') {
      const dir = argv[++i];
      if (dir === undefined) fail('--cpu-prof needs a directory');
      options.cpuProf = resolve(dir);
    } else if (arg === '--heap-snapshots') {
      const dir = argv[++i];
      if (dir === undefined) fail('--heap-snapshots needs a directory');
      options.heapSnapshots = resolve(dir);
    } else if (arg === '--node-arg') {
      const flag = argv[++i];
      if (flag === undefined || !flag.startsWith('--'))
        fail('--node-arg needs a flag (--name or --name=value)');
      options.nodeArgs.push(flag);
    } else if (arg === '--no-node-flags') options.noNodeFlags = true;
    else if (arg === '--json') {
      const file = argv[++i];
      if (file === undefined) fail('--json needs a file name');
      options.json = resolve(file);
    } else if (arg === '--no-build') continue;
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (options.pods % options.replicas !== 0)
    fail(`--pods ${options.pods} is not a multiple of --replicas ${options.replicas}`);
  return options;
}

const say = (line: string): void => void process.stderr.write(`bench:orchestration: ${line}\n`);

/**
 * VmRSS and VmHWM of a process and the anonymous part of its RSS (heaps, buffers), in MB,
 * and the CPU time it has used so far (user + system, from /proc/PID/stat).
 */
function memoryOf(pid: number | 'self'): {
  rssMb: number;
  hwmMb: number;
  anonMb: number;
  cpuSeconds: number;
} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  // Fields 14 and 15 (utime, stime) in clock ticks, counted after the ")" ending the name.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    rssMb: kb('VmRSS') / 1024,
    hwmMb: kb('VmHWM') / 1024,
    anonMb: kb('RssAnon') / 1024,
    cpuSeconds: ticks / 100,
  };
}

/** Whether the file's last byte closes a JSON object. */
function endsJson(file: string, size: number): boolean {
  const fd = openSync(file, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last.toString() === '}';
  } finally {
    closeSync(fd);
  }
}

/**
 * Has the controller (started with --heapsnapshot-signal=SIGUSR2) write a heap snapshot
 * into dir and waits until the file stops growing; returns its name.
 */
async function heapSnapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let name: string | undefined;
  let size = -1;
  let stableSince = Date.now();
  for (const deadline = Date.now() + 300_000; Date.now() < deadline;) {
    await sleep(500);
    name ??= readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (name === undefined) continue;
    const now = statSync(join(dir, name)).size;
    if (now !== size) [size, stableSince] = [now, Date.now()];
    // The file stays empty while the graph is built: done once it ends the JSON and stops growing.
    else if (size > 0 && Date.now() - stableSince >= 2_000 && endsJson(join(dir, name), size)) return name;
  }
  throw new Error(`the controller wrote no heap snapshot into ${dir} within 300 s`);
}

interface Latency {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function latency(samples: readonly number[]): Latency {
  if (samples.length === 0) return { count: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN };
  return {
    count: samples.length,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    maxMs: samples.reduce((a, b) => Math.max(a, b), 0),
  };
}

/** Runs task(i) for i < count with at most `concurrency` in flight. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

interface BaselineResult {
  writes: number;
  concurrency: number;
  perSecond: number;
  latency: Latency;
}

/** The same number of guarded single-key creates as there are pods, straight to etcd. */
async function etcdBaseline(
  endpoint: string,
  writes: number,
  value: string,
  round: number,
): Promise<BaselineResult> {
  const concurrency = 64;
  const client = new Etcd3({ hosts: endpoint });
  const prefix = `/bench/baseline/${round}/`;
  const samples: number[] = [];
  try {
    const start = performance.now();
    await pool(writes, concurrency, async (i) => {
      const key = `${prefix}${i}`;
      const t0 = performance.now();
      const res = await client.if(key, 'Mod', '==', 0).then(client.put(key).value(value)).commit();
      samples.push(performance.now() - t0);
      if (!res.succeeded) throw new Error(`baseline key ${key} existed`);
    });
    const seconds = (performance.now() - start) / 1000;
    return { writes, concurrency, perSecond: writes / seconds, latency: latency(samples) };
  } finally {
    await client.delete().prefix(prefix);
    client.close();
  }
}

/** Creation and binding times of every pod, from one etcd watch on the pods prefix. */
class PodClock {
  readonly created = new Map<string, number>();
  readonly bound = new Map<string, number>();
  readonly running = new Map<string, number>();
  sample = '';
  private constructor(private readonly watcher: { cancel(): Promise<void> }) {}

  static async start(client: Etcd3): Promise<PodClock> {
    const watcher = await client.watch().prefix('/flotilla/v1/pods/').create();
    const clock = new PodClock(watcher);
    watcher.on('put', (kv) => {
      const now = performance.now();
      const key = kv.key.toString();
      if (!clock.created.has(key)) clock.created.set(key, now);
      if (clock.bound.has(key) && clock.running.has(key)) return;
      const text = kv.value.toString();
      const pod = JSON.parse(text) as { spec?: { nodeName?: string }; status?: { phase?: string } };
      if ((pod.spec?.nodeName ?? '') !== '' && !clock.bound.has(key)) {
        clock.bound.set(key, now);
        if (clock.sample === '') clock.sample = text;
      }
      if (pod.status?.phase === 'Running' && !clock.running.has(key)) clock.running.set(key, now);
    });
    return clock;
  }

  stop(): Promise<void> {
    return this.watcher.cancel();
  }
}

function deployment(name: string, replicas: number): ProtoObject {
  return {
    deployment: Deployment.fromJSON({
      metadata: { name, namespace: 'default', labels: { app: name } },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'registry.local/web:1',
                resources: { requests: { cpu: '10m', memory: '16Mi' } },
              },
            ],
          },
        },
      },
    }),
  };
}

const namespaceObject = (name: string, seq: number): ProtoObject => ({
  namespace: Namespace.fromJSON({ metadata: { name, labels: { 'bench-seq': String(seq) } } }),
});

interface MutationResult {
  requested: number;
  rate: number;
  achievedPerSecond: number;
  errors: number;
  /** How many failed, by code and message (digits as N). */
  errorKinds: Record<string, number>;
  latency: Latency;
}

/** Open loop: request i is sent at start + i/rate, whether or not earlier ones answered. */
async function mutations(
  apply: (objects: ProtoObject[]) => Promise<ApplyResponse>,
  rate: number,
  seconds: number,
  round: number,
): Promise<MutationResult> {
  const count = rate * seconds;
  const names = Array.from({ length: 20 }, (_, i) => `bench-r${round}-${i}`);
  await apply(names.map((n) => namespaceObject(n, 0)));
  const samples: number[] = [];
  let errors = 0;
  const errorKinds = new Map<string, number>();
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const t0 = performance.now();
    inflight.push(
      apply([namespaceObject(names[i % names.length] ?? '', i + 1)]).then(
        () => void samples.push(performance.now() - t0),
        (err: unknown) => {
          errors++;
          // Counted by code and message, with the numbers taken out so alike ones add up.
          const e = err as { code?: string; message?: string };
          const why = `${e.code ?? 'error'}: ${(e.message ?? String(err)).replace(/[0-9]+/g, 'N').slice(0, 160)}`;
          errorKinds.set(why, (errorKinds.get(why) ?? 0) + 1);
        },
      ),
    );
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  return {
    requested: count,
    rate,
    achievedPerSecond: count / elapsed,
    errors,
    errorKinds: Object.fromEntries(errorKinds),
    latency: latency(samples),
  };
}

/** A 10.0.0.0 cluster CIDR with a /24 for each of nodes. */
function clusterCidrFor(nodes: number): string {
  return `10.0.0.0/${24 - Math.ceil(Math.log2(nodes))}`;
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export async function main(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  const deployments = options.pods / options.replicas;
  const dir = makeRunDir('bench-orchestration');
  if (options.cpuProf) mkdirSync(options.cpuProf, { recursive: true });
  if (options.heapSnapshots) mkdirSync(options.heapSnapshots, { recursive: true });
  const plane = new ControlPlane(dir, {
    nodeGrace: '40s',
    evictionTimeout: '60s',
    logLevel: 'info',
    nodeArgs: [
      ...(options.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`] : []),
      ...(options.heapSnapshots
        ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${options.heapSnapshots}`]
        : []),
      ...options.nodeArgs,
    ],
    noControllerNodeFlags: options.noNodeFlags,
    // The default cluster CIDR has 256 node blocks (/16 in /24s): more nodes need a wider one.
    controllerArgs: options.nodes > 256 ? [`--cluster-cidr=${clusterCidrFor(options.nodes)}`] : [],
  });
  let fleet: SimNodes | undefined;
  let etcd: Etcd3 | undefined;
  let clock: PodClock | undefined;
  try {
    say(`starting etcd, NATS and the controller in ${dir}`);
    await plane.start();
    const selfBefore = memoryOf('self');
    const capacityPods = String(Math.max(110, Math.ceil((2 * options.pods) / options.nodes)));
    fleet = new SimNodes(options.nodes, {
      controllers: [plane.apiAddress],
      caPem: readFileSync(plane.caFile, 'utf8'),
      token: plane.joinToken(),
      heartbeatIntervalMs: 1_000,
      prefix: 'sim',
      capacity: { cpu: '64', memory: '256Gi', pods: capacityPods },
    });
    const joinStart = performance.now();
    await fleet.start(20);
    await waitFor(
      `${options.nodes} simulated nodes to be Ready`,
      async () => (await plane.admin.listNodes()).items.filter(isReady).length === options.nodes,
      { timeoutMs: 600_000, intervalMs: 500 },
    );
    const joinSeconds = (performance.now() - joinStart) / 1000;
    const selfAfter = memoryOf('self');
    const perNodeKb = ((selfAfter.rssMb - selfBefore.rssMb) * 1024) / options.nodes;
    const controllerIdle = memoryOf(plane.controller.pid);
    say(
      `${options.nodes} nodes joined and Ready in ${fmt(joinSeconds, 1)} s; this process grew by ` +
        `${fmt(selfAfter.rssMb - selfBefore.rssMb)} MB (${fmt(perNodeKb)} kB per node); controller RSS ${fmt(controllerIdle.rssMb)} MB ` +
        `(${fmt(controllerIdle.anonMb)} MB anonymous)`,
    );
    if (options.heapSnapshots)
      say(
        `heap snapshot with the nodes only: ${await heapSnapshot(plane.controller.pid, options.heapSnapshots)}`,
      );

    etcd = new Etcd3({ hosts: plane.etcd.endpoint });
    clock = await PodClock.start(etcd);
    const cluster = plane.admin.client;
    const apply = (objects: ProtoObject[]): Promise<ApplyResponse> =>
      unary(cluster.apply.bind(cluster), { objects, dryRun: false }, 30_000);

    say(`applying ${deployments} Deployments of ${options.replicas} replicas (${options.pods} pods)`);
    const applyStart = performance.now();
    for (let d = 0; d < deployments; d += 10) {
      const batch = Array.from({ length: Math.min(10, deployments - d) }, (_, i) =>
        deployment(`bench-${d + i}`, options.replicas),
      );
      await apply(batch);
    }
    const appliedSeconds = (performance.now() - applyStart) / 1000;
    const deadline = Date.now() + options.timeoutSeconds * 1000;
    const c = clock;
    let lastReport = 0;
    while (c.bound.size < options.pods && Date.now() < deadline) {
      await sleep(200);
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        say(`  ${c.created.size} pods created, ${c.bound.size} bound, ${c.running.size} Running`);
      }
    }
    const placedAll = c.bound.size >= options.pods;
    const createdTimes = [...c.created.values()];
    const boundTimes = [...c.bound.values()];
    const firstCreated = Math.min(...createdTimes);
    const lastCreated = Math.max(...createdTimes);
    const firstBound = Math.min(...boundTimes);
    const lastBound = Math.max(...boundTimes);
    const placementLatencies = [...c.bound].map(([key, at]) => at - (c.created.get(key) ?? at));
    const placement = {
      pods: options.pods,
      deployments,
      replicas: options.replicas,
      created: c.created.size,
      bound: c.bound.size,
      placedAll,
      applySeconds: appliedSeconds,
      createSeconds: (lastCreated - firstCreated) / 1000,
      // Bindings committed per second between the first and the last one.
      perSecond: c.bound.size / Math.max(0.001, (lastBound - firstBound) / 1000),
      // From the first pod created to the last pod bound: the deployment loop's pod
      // creation and the scheduler together.
      endToEndPerSecond: c.bound.size / Math.max(0.001, (lastBound - firstCreated) / 1000),
      latency: latency(placementLatencies),
    };
    say(
      `placed ${placement.bound}/${options.pods}: ${fmt(placement.perSecond)} bindings/s, ` +
        `${fmt(placement.endToEndPerSecond)}/s from the first creation; p50 ${fmt(placement.latency.p50Ms)} ms, p99 ${fmt(placement.latency.p99Ms)} ms`,
    );
    await waitFor('every pod to be reported Running', () => c.running.size >= options.pods, {
      timeoutMs: Math.max(10_000, deadline - Date.now()),
      intervalMs: 500,
    }).catch(() => {
      // Whether the nodes were told about their pods (assignment streams) and reported them.
      const held = fleet?.nodes.map((n) => n.runningPods().length) ?? [];
      say(
        `only ${c.running.size} pods Running before the timeout; the simulated nodes reported ` +
          `${held.reduce((a, b) => a + b, 0)} Running (fewest on one node: ${Math.min(...held)})`,
      );
    });
    const runningSeconds = (Math.max(...c.running.values()) - firstCreated) / 1000;
    const controllerAtScale = memoryOf(plane.controller.pid);
    say(
      `controller RSS ${fmt(controllerAtScale.rssMb)} MB (${fmt(controllerAtScale.anonMb)} MB anonymous) with the pods Running`,
    );
    if (options.heapSnapshots)
      say(`heap snapshot at scale: ${await heapSnapshot(plane.controller.pid, options.heapSnapshots)}`);

    const mutationRounds: MutationResult[] = [];
    for (let r = 0; r < options.runs; r++) {
      say(`mutation round ${r + 1}/${options.runs}: ${options.rate} Apply/s for ${options.seconds} s`);
      mutationRounds.push(await mutations(apply, options.rate, options.seconds, r));
      const last = mutationRounds[mutationRounds.length - 1];
      if (last)
        say(
          `  p50 ${fmt(last.latency.p50Ms, 1)} ms, p99 ${fmt(last.latency.p99Ms, 1)} ms, ${last.errors} errors, ${fmt(last.achievedPerSecond)}/s`,
        );
      for (const [why, n] of Object.entries(last?.errorKinds ?? {})) say(`    ${n} × ${why}`);
    }
    const controllerEnd = memoryOf(plane.controller.pid);

    const baselines: BaselineResult[] = [];
    for (let r = 0; r < options.runs; r++) {
      say(`baseline round ${r + 1}/${options.runs}: ${options.pods} guarded creates straight to etcd`);
      baselines.push(await etcdBaseline(plane.etcd.endpoint, options.pods, c.sample || '{}', r));
    }
    const baseline = baselines.reduce((a, b) => (b.perSecond < a.perSecond ? a : b));
    // Over several rounds: the median p50 and the worst p99.
    const worstP99 = Math.max(...mutationRounds.map((m) => m.latency.p99Ms));
    const medianP50 = percentile(
      mutationRounds.map((m) => m.latency.p50Ms),
      50,
    );
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${fmt(totalmem() / 2 ** 30)} GiB, Linux ${release()}, node ${process.version}`;
    const met = (ok: boolean): string => (ok ? 'met' : 'not met');
    const rows = [
      ['metric', 'Flotilla', `raw etcd (${baseline.concurrency} in flight)`, 'target', ''],
      ['---', '---', '---', '---', '---'],
      [
        'placements/s committed',
        fmt(placement.perSecond),
        `${fmt(baseline.perSecond)} txn/s`,
        '≥ 2,000',
        met(placement.perSecond >= 2000 && placedAll),
      ],
      ['pods/s, first created → last bound', fmt(placement.endToEndPerSecond), '', '', ''],
      [
        'placement latency p50 / p99 ms',
        `${fmt(placement.latency.p50Ms)} / ${fmt(placement.latency.p99Ms)}`,
        `${fmt(baseline.latency.p50Ms, 1)} / ${fmt(baseline.latency.p99Ms, 1)} per txn`,
        '',
        '',
      ],
      [
        `API mutation p50 / p99 ms at ${options.rate}/s`,
        `${fmt(medianP50, 1)} / ${fmt(worstP99, 1)}`,
        '',
        '< 50 (p99)',
        met(worstP99 < 50),
      ],
      [
        'controller RSS / peak MB',
        `${fmt(controllerEnd.rssMb)} / ${fmt(controllerEnd.hwmMb)}`,
        '',
        '< 400',
        met(controllerEnd.hwmMb < 400),
      ],
    ];
    const table = rows.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
    const notes = [
      `Scale: ${options.nodes} simulated nodes, ${options.pods} pods as ${deployments} Deployments × ${options.replicas} replicas` +
        (placedAll ? '' : ` (only ${placement.bound} bound within ${options.timeoutSeconds} s)`),
      `Apply of the Deployments took ${fmt(appliedSeconds, 1)} s; their pods were created over ${fmt(placement.createSeconds, 1)} s; ` +
        `${c.running.size} of ${options.pods} reported Running, the last ${fmt(runningSeconds, 1)} s after the first was created`,
      `Nodes: joined and Ready in ${fmt(joinSeconds, 1)} s; this process holds them at ${fmt(perNodeKb)} kB RSS per node`,
      `Controller RSS: ${fmt(controllerIdle.rssMb)} MB with the nodes and no pods, ${fmt(controllerAtScale.rssMb)} MB after the wait for every pod Running, ` +
        `${fmt(controllerEnd.rssMb)} MB (peak ${fmt(controllerEnd.hwmMb)}) after the mutation rounds`,
      `Controller CPU time: ${fmt(controllerIdle.cpuSeconds, 1)} s when the nodes were Ready, ` +
        `${fmt(controllerAtScale.cpuSeconds - controllerIdle.cpuSeconds, 1)} s more until every pod was Running, ` +
        `${fmt(controllerEnd.cpuSeconds, 1)} s in all`,
      `Machine: ${machine}`,
    ];
    process.stdout.write(`${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
    if (options.json) {
      await writeFile(
        options.json,
        `${JSON.stringify(
          {
            options,
            machine,
            join: { seconds: joinSeconds, perNodeKb },
            placement,
            runningSeconds,
            mutations: mutationRounds,
            baselines,
            controller: { idle: controllerIdle, atScale: controllerAtScale, end: controllerEnd },
          },
          null,
          2,
        )}\n`,
      );
    }
    return placedAll ? 0 : 1;
  } catch (err) {
    // Said before the clean-up, which can take long (or hang) after a failure.
    say(`failed: ${err instanceof Error ? err.message : String(err)}; cleaning up`);
    throw err;
  } finally {
    await clock?.stop().catch(() => undefined);
    etcd?.close();
    await fleet?.stop();
    // SIGTERM with time to write a --cpu-prof profile.
    await plane.controller?.stop(30_000);
    await plane.destroy();
  }
}
