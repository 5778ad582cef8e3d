// The services benchmark (issue 6): on three hosts (test/lib/hosts-cluster.ts: a network
// namespace per host on one bridge, a real agent in each, etcd, NATS, a registry and one
// controller beside them), with the images already on every host:
//
//   1. apply → serving: `deploy apply -f -` (no --wait) of a fresh Deployment of 3
//      replicas + its NodePort Service (examples/web.yaml under a new name and nodePort
//      each round, deleted after it) until every one of the 3 pods has answered
//      GET /cgi-bin/pod through the nodePort of a host (an open-loop request every 10 ms
//      to each host, 1 s timeout); broken down into apply returned,
//      all created, bound, Running and Ready (from the API). Then scale 3 → 6 until all 6
//      answer. Measured with the manifest as shipped and with a variant without
//      minReadySeconds and with a 1 s readiness probe period.
//   2. host death → service fully served: the web Deployment with one pod per host, one
//      host SIGKILLed (agent, conmons and containers; link down); an open-loop request
//      every 20 ms to the surviving hosts' nodePort records failures; measured until the
//      first moment no request fails any more, and until the replacement pod answers
//      through the nodePort with 3 pods Ready. The controller runs with its default
//      --node-grace and --eviction-timeout.
//   3. baseline in the same run: one pod of the same image created through the API on one
//      host → Running; and, for failover, published figures of other orchestrators (not
//      measured here).
// Requests go only to the hosts' own addresses, from this machine. Not a test: it asserts
// nothing about times.
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pod } from '@flotilla/proto';
import { repoRoot } from '../lib/cluster.js';
import { type AdminClient, unary } from '../lib/clients.js';
import { HostsCluster, hostsSkip } from '../lib/hosts-cluster.js';
import { waitFor } from '../lib/wait.js';
import { formatTable, summarize, type Series } from './stats.js';

/** The controller's own defaults (controller/src/options/flags.ts), so the figure is what a user gets. */
const nodeGrace = '5s';
const evictionTimeout = '3s';
const webNodePort = 30080;
const requestGapMs = 20;
const requestTimeoutMs = 1_000;
const pollGapMs = 10;

interface Options {
  runs: number;
  failoverRuns: number;
  scale: boolean;
  json?: string;
  /** The controller's and agents' --log-level (default info, a user's). */
  logLevel: string;
  /** Copy the controller's and agents' logs here before the cluster is removed. */
  logs?: string;
}

const usage = `Usage: node test/bench/run.mjs services [--runs N] [--failover-runs N] [--no-scale] [--json FILE]
                                       [--log-level LEVEL] [--logs DIR] [--no-build]

Services on a real three-host cluster (network namespaces, one agent each, one controller):
apply of a fresh 3-replica Deployment + NodePort Service until every pod answers through
the nodePort (and scale 3 → 6), and a host SIGKILLed until the service is fully served
again; next to a single pod's start on the same cluster. Needs root.

  --runs N            rounds of apply → serving, for each manifest variant (default 5)
  --failover-runs N   rounds of host death → served again (default 3; ~20 s each)
  --no-scale          skip the scale 3 → 6 step of each apply round
  --json FILE         also write the figures as JSON to FILE
  --log-level LEVEL   the controller's and agents' --log-level (default info, a user's;
                      debug logs every step of a pod, for a breakdown, at some CPU cost)
  --logs DIR          copy the controller's and agents' logs into DIR before the cluster
                      is removed (each apply round's start is in --json as startedAt)
  --no-build          do not run "tsc -b" first (handled by run.mjs)`;

function fail(message: string): never {
  process.stderr.write(`bench:services: ${message}\n\n${usage}\n`);
  process.exit(2);
}

function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    fail(`${flag} must be a whole number from ${min} to ${max}, got ${value}`);
  return n;
}

export function parseOptions(argv: readonly string[]): Options {
  const options: Options = { runs: 5, failoverRuns: 3, scale: true, logLevel: 'info' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs') options.runs = wholeNumber(arg, argv[++i], 1, 50);
    else if (arg === '--failover-runs') options.failoverRuns = wholeNumber(arg, argv[++i], 0, 20);
    else if (arg === '--no-scale') options.scale = false;
    else if (arg === '--json') {
      const file = argv[++i];
      if (file === undefined) fail('--json needs a file name');
      options.json = resolve(file);
    } else if (arg === '--log-level') {
      const level = argv[++i];
      if (level === undefined || !['debug', 'info', 'warn', 'error'].includes(level))
        fail('--log-level needs one of debug, info, warn, error');
      options.logLevel = level;
    } else if (arg === '--logs') {
      const dir = argv[++i];
      if (dir === undefined) fail('--logs needs a directory');
      options.logs = resolve(dir);
    } else if (arg === '--no-build') continue;
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(arg)}`);
  }
  return options;
}

const say = (line: string): void => void process.stderr.write(`bench:services: ${line}\n`);
const fmt = (ms: number | undefined): string => (ms === undefined ? '—' : ms.toFixed(0));

type Variant = 'shipped' | 'fast';

/**
 * examples/web.yaml for one round: the run's registry, the Deployment, its label and the
 * Service renamed, its own nodePort, a REVISION env var; "fast" also drops minReadySeconds
 * and probes readiness every second instead of every two.
 */
export function webManifest(
  image: string,
  name: string,
  nodePort: number,
  revision: string,
  variant: Variant,
): string {
  let text = readFileSync(join(repoRoot, 'examples', 'web.yaml'), 'utf8');
  const replace = (pattern: RegExp, to: string | ((...m: string[]) => string), count: number): void => {
    const found = text.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`))?.length ?? 0;
    if (found !== count)
      throw new Error(`examples/web.yaml: expected ${count} × ${String(pattern)}, found ${found}`);
    text = typeof to === 'string' ? text.replace(pattern, to) : text.replace(pattern, to);
  };
  replace(
    /^(\s*)image: 127\.0\.0\.1:5000\/examples\/web:latest$/m,
    (_m, indent = '') => {
      return `${indent}image: ${image}\n${indent}env:\n${indent}  - name: REVISION\n${indent}    value: "${revision}"`;
    },
    1,
  );
  replace(/^ {2}name: web$/gm, `  name: ${name}`, 2);
  replace(/\bapp: web$/gm, `app: ${name}`, 5);
  replace(/nodePort: 30080$/m, `nodePort: ${nodePort}`, 1);
  if (variant === 'fast') {
    replace(/^ {2}minReadySeconds: 2$/m, '  minReadySeconds: 0', 1);
    replace(/^(\s*)periodSeconds: 2$/m, (_m, indent = '') => `${indent}periodSeconds: 1`, 1);
  }
  return text;
}

interface PodView {
  name: string;
  uid: string;
  node: string;
  running: boolean;
  ready: boolean;
  terminating: boolean;
}

function view(p: Pod): PodView {
  return {
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    node: p.spec?.nodeName ?? '',
    running: p.status?.containerStatuses.some((c) => c.state?.running !== undefined) ?? false,
    ready: p.status?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    terminating: Boolean(p.metadata?.deletionTimestamp),
  };
}

/** The pods labelled app=APP in default (the label checked here as well). */
async function podsOf(admin: AdminClient, app: string): Promise<PodView[]> {
  const list = await unary(admin.client.listPods.bind(admin.client), {
    namespace: 'default',
    labelSelector: `app=${app}`,
    nodeName: '',
  });
  return list.items.filter((p) => p.metadata?.labels['app'] === app).map(view);
}

/** GET http://ADDRESS:PORT/cgi-bin/pod: the pod name that answered, or why not. */
async function whoAnswers(address: string, port: number): Promise<{ pod: string } | { error: string }> {
  const r = await HostsCluster.get(`http://${address}:${port}/cgi-bin/pod`, requestTimeoutMs);
  if ('error' in r) return { error: r.error };
  if (r.status !== 200) return { error: `HTTP ${r.status}` };
  return { pod: r.body.trim() };
}

/** Failed nodePort polls of one kind: how many, first and last sent (ms from t0), the longest. */
interface PollError {
  count: number;
  firstMs: number;
  lastMs: number;
  longestMs: number;
}

/** Milestones of one apply (ms from the start of `deploy apply`). */
interface ApplyRound {
  variant: Variant;
  name: string;
  /** Wall clock (ISO) of the start of the apply, to line the round up with the logs. */
  startedAt: string;
  applyReturnedMs: number;
  createdMs?: number;
  boundMs?: number;
  runningMs?: number;
  readyMs?: number;
  firstAnswerMs?: number;
  servingMs?: number;
  scaleServingMs?: number;
  scaleReadyMs?: number;
  /** Per pod: its container Running → its Ready condition (API), and Ready → first answer via nodePort. */
  podRunningToReadyMs: number[];
  podReadyToServingMs: number[];
  pollErrors: Record<string, PollError>;
}

/**
 * Watches one app from both sides until `want` pods answered through the nodePort and the
 * API shows `want` Ready: an API poll (every 20 ms) for created/bound/Running/Ready, and a
 * poll of each host's nodePort (every 10 ms) recording the first answer of each pod.
 */
function observe(
  c: HostsCluster,
  admin: AdminClient,
  app: string,
  nodePort: number,
  want: number,
  t0: number,
): {
  done: Promise<void>;
  marks: {
    created?: number;
    bound?: number;
    running?: number;
    ready?: number;
    first?: number;
    serving?: number;
  };
  seen: Map<string, number>;
  runningAt: Map<string, number>;
  readyAt: Map<string, number>;
  pollErrors: Record<string, PollError>;
  stop: () => void;
} {
  const marks: {
    created?: number;
    bound?: number;
    running?: number;
    ready?: number;
    first?: number;
    serving?: number;
  } = {};
  const seen = new Map<string, number>();
  const runningAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const pollErrors: Record<string, PollError> = {};
  let stopped = false;
  const since = (): number => performance.now() - t0;
  const api = (async () => {
    while (!stopped && marks.ready === undefined) {
      const pods = (await podsOf(admin, app).catch(() => [])).filter((p) => !p.terminating);
      const t = since();
      if (pods.length >= want) marks.created ??= t;
      if (pods.filter((p) => p.node).length >= want) marks.bound ??= t;
      if (pods.filter((p) => p.running).length >= want) marks.running ??= t;
      if (pods.filter((p) => p.ready).length >= want) marks.ready ??= t;
      for (const p of pods) {
        if (p.running && !runningAt.has(p.name)) runningAt.set(p.name, t);
        if (p.ready && !readyAt.has(p.name)) readyAt.set(p.name, t);
      }
      await sleep(20);
    }
  })();
  // Open loop per host: a request every 10 ms whether or not the earlier ones answered, so
  // one that hangs (a SYN dropped while the service has no endpoints) does not blind the poll.
  const poll = async (address: string): Promise<void> => {
    const sent = since();
    const r = await whoAnswers(address, nodePort);
    if ('error' in r) {
      // One kind per error, whichever host: "connect ECONNREFUSED ADDRESS".
      const kind = r.error.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDRESS');
      const e = pollErrors[kind] ?? { count: 0, firstMs: sent, lastMs: sent, longestMs: 0 };
      e.count++;
      e.lastMs = sent;
      e.longestMs = Math.max(e.longestMs, since() - sent);
      pollErrors[kind] = e;
    } else if (!seen.has(r.pod)) {
      const t = since();
      seen.set(r.pod, t);
      marks.first ??= t;
      if (seen.size >= want) marks.serving ??= t;
    }
  };
  const http = c.plan.hosts.map(async (h) => {
    const inFlight = new Set<Promise<void>>();
    while (!stopped && marks.serving === undefined) {
      if (inFlight.size < 100) {
        const p = poll(h.address);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      await sleep(pollGapMs);
    }
    await Promise.all([...inFlight]);
  });
  const done = Promise.all([api, ...http]).then(() => undefined);
  return {
    done,
    marks,
    seen,
    runningAt,
    readyAt,
    pollErrors,
    stop: () => {
      stopped = true;
    },
  };
}

async function untilObserved(o: ReturnType<typeof observe>, what: string, timeoutMs = 90_000): Promise<void> {
  const timer = setTimeout(() => o.stop(), timeoutMs);
  await o.done;
  clearTimeout(timer);
  if (o.marks.serving === undefined || o.marks.ready === undefined)
    throw new Error(
      `${what}: not served and Ready within ${timeoutMs / 1000} s (${o.seen.size} pods answered)`,
    );
}

/** to − from for every pod in both maps. */
function lags(from: Map<string, number>, to: Map<string, number>): number[] {
  const out: number[] = [];
  for (const [name, t] of to) {
    const f = from.get(name);
    if (f !== undefined) out.push(Math.max(0, t - f));
  }
  return out;
}

async function deleteApp(c: HostsCluster, admin: AdminClient, name: string): Promise<void> {
  await c.deployOk(['delete', `deployment/${name}`, `service/${name}`, '--ignore-not-found']);
  // busybox httpd is PID 1 and ignores SIGTERM, so each pod would take its full 30 s
  // grace (`--grace-period` applies to pods deleted by name only): force them out.
  for (const p of await podsOf(admin, name))
    await admin.deletePod(p.name, 'default', true).catch(() => undefined);
  await waitFor(`the pods of ${name} to be gone`, async () => (await podsOf(admin, name)).length === 0, {
    timeoutMs: 120_000,
    intervalMs: 250,
  });
}

async function applyRound(
  c: HostsCluster,
  admin: AdminClient,
  variant: Variant,
  round: number,
  scale: boolean,
): Promise<ApplyRound> {
  const name = `bench-${variant}-${round}`;
  const nodePort = 30100 + (variant === 'fast' ? 50 : 0) + round;
  const manifest = webManifest(c.images.web, name, nodePort, String(round), variant);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const o = observe(c, admin, name, nodePort, 3, t0);
  let applyReturnedMs: number;
  try {
    await c.deployOk(['apply', '-f', '-'], { stdin: manifest });
    applyReturnedMs = performance.now() - t0;
    await untilObserved(o, name);
  } finally {
    o.stop();
  }
  const result: ApplyRound = {
    variant,
    name,
    startedAt,
    applyReturnedMs,
    createdMs: o.marks.created,
    boundMs: o.marks.bound,
    runningMs: o.marks.running,
    readyMs: o.marks.ready,
    firstAnswerMs: o.marks.first,
    servingMs: o.marks.serving,
    podRunningToReadyMs: lags(o.runningAt, o.readyAt),
    podReadyToServingMs: lags(o.readyAt, o.seen),
    pollErrors: o.pollErrors,
  };
  if (scale) {
    const t1 = performance.now();
    const s = observe(c, admin, name, nodePort, 6, t1);
    for (const [pod, t] of o.seen) s.seen.set(pod, t);
    try {
      await c.deployOk(['scale', `deployment/${name}`, '--replicas', '6']);
      await untilObserved(s, `${name} scaled to 6`);
    } finally {
      s.stop();
    }
    result.scaleServingMs = s.marks.serving;
    result.scaleReadyMs = s.marks.ready;
  }
  await deleteApp(c, admin, name);
  return result;
}

/** One pod of the web image, created through the API on host 1's node → a running container. */
async function podStartRound(c: HostsCluster, admin: AdminClient, round: number): Promise<number> {
  const name = `bench-pod-${round}`;
  const pod = Pod.fromJSON({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      nodeName: c.host(1).name,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'web', image: c.images.web, imagePullPolicy: 'IfNotPresent' }],
    },
  });
  const t0 = performance.now();
  await admin.createPod(pod);
  for (;;) {
    const p = await admin.getPod(name).catch(() => undefined);
    if (p && view(p).running) break;
    if (performance.now() - t0 > 60_000) throw new Error(`${name} not Running within 60 s`);
    await sleep(pollGapMs);
  }
  const ms = performance.now() - t0;
  await admin.deletePod(name, 'default', true).catch(() => undefined);
  await waitFor(`${name} to be gone`, async () => (await podsOf(admin, name)).length === 0, {
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  return ms;
}

/** One `deploy get deployments -o json`: the CLI's own start-up plus one API call. */
async function cliRound(c: HostsCluster): Promise<number> {
  const t0 = performance.now();
  await c.deployOk(['get', 'deployments', '-o', 'json']);
  return performance.now() - t0;
}

interface Send {
  at: number;
  host: string;
  ok: boolean;
  pod?: string;
}

/** Failures grouped into bursts (a gap of more than 500 ms between sends starts a new one). */
export function bursts(
  sends: readonly Send[],
): { fromMs: number; toMs: number; failed: number; hosts: string[] }[] {
  const out: { fromMs: number; toMs: number; failed: number; hosts: string[] }[] = [];
  for (const s of sends) {
    if (s.ok) continue;
    const last = out[out.length - 1];
    if (last && s.at - last.toMs <= 500) {
      last.toMs = s.at;
      last.failed++;
      if (!last.hosts.includes(s.host)) last.hosts.push(s.host);
    } else out.push({ fromMs: s.at, toMs: s.at, failed: 1, hosts: [s.host] });
  }
  return out;
}

interface FailoverRound {
  host: string;
  podsBefore: string;
  requests: number;
  failed: number;
  firstFailureMs?: number;
  lastFailureMs?: number;
  /** The send time of the first successful request after the last failed one (0: none failed). */
  allSucceedMs: number;
  nodeNotReadyMs?: number;
  replacementCreatedMs?: number;
  replacementReadyMs?: number;
  replacementServedMs?: number;
  /** 3 ready pods (API) and the replacement answered through a surviving nodePort. */
  servedAgainMs?: number;
  errors: string[];
  failureBursts: { fromMs: number; toMs: number; failed: number; hosts: string[] }[];
  /** Answers from pods that were neither the three before nor a replacement (old revisions, terminating). */
  otherAnswers: number;
  otherPods: string[];
}

/** Brings the web Deployment to 3 Ready pods of a new revision; returns them. */
async function freshWeb(c: HostsCluster, admin: AdminClient, revision: string): Promise<PodView[]> {
  const manifest = webManifest(c.images.web, 'web', webNodePort, revision, 'shipped');
  await c.deployOk(['apply', '-f', '-', '--wait', '--timeout', '180s'], {
    stdin: manifest,
    timeoutMs: 240_000,
  });
  return waitFor(
    'three ready web pods',
    async () => {
      const pods = (await podsOf(admin, 'web')).filter((p) => !p.terminating);
      return pods.length === 3 && pods.every((p) => p.ready) ? pods : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

async function failoverRound(c: HostsCluster, admin: AdminClient, round: number): Promise<FailoverRound> {
  const before = await freshWeb(c, admin, `f${round}`);
  const byNode = new Map<string, number>();
  for (const p of before) byNode.set(p.node, (byNode.get(p.node) ?? 0) + 1);
  // Rotate the victim over the hosts that run exactly one web pod (all of them when spread).
  const candidates = c.plan.hosts.filter((h) => byNode.get(h.name) === 1);
  const victim = candidates[round % Math.max(1, candidates.length)] ?? c.host(1 + (round % 3));
  const survivors = c.plan.hosts.filter((h) => h.index !== victim.index);
  const beforeNames = new Set(before.map((p) => p.name));
  // Every surviving nodePort answers before the kill.
  for (const h of survivors)
    await waitFor(
      `${h.address}:${webNodePort} to answer`,
      async () => 'pod' in (await whoAnswers(h.address, webNodePort)),
      {
        timeoutMs: 30_000,
        intervalMs: 50,
      },
    );

  const result: FailoverRound = {
    host: victim.name,
    podsBefore: [...byNode.entries()].map(([n, k]) => `${n}:${k}`).join(' '),
    requests: 0,
    failed: 0,
    allSucceedMs: 0,
    errors: [],
    failureBursts: [],
    otherAnswers: 0,
    otherPods: [],
  };
  const sends: Send[] = [];
  // The replacement: a pod the API shows, not terminating, that was not one of the three.
  const freshNames = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  const t0 = performance.now();
  const since = (): number => performance.now() - t0;
  // Open loop: a request every 20 ms, round-robin over the survivors, answered or not.
  const loop = (async () => {
    for (let i = 0; !stopped && i < 20_000; i++) {
      const h = survivors[i % survivors.length];
      if (!h) break;
      const entry: Send = { at: since(), host: h.name, ok: false };
      sends.push(entry);
      const p = whoAnswers(h.address, webNodePort).then((r) => {
        if ('pod' in r) {
          entry.ok = true;
          entry.pod = r.pod;
          if (freshNames.has(r.pod)) result.replacementServedMs ??= since();
          else if (!beforeNames.has(r.pod)) {
            result.otherAnswers++;
            if (result.otherPods.length < 5 && !result.otherPods.includes(r.pod))
              result.otherPods.push(r.pod);
          }
        } else if (result.errors.length < 5 && !result.errors.includes(r.error)) result.errors.push(r.error);
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      await sleep(requestGapMs);
    }
  })();
  const api = (async () => {
    while (!stopped) {
      const t = since();
      const node = (await admin.getNode(victim.name).catch(() => undefined))?.status?.conditions.find(
        (x) => x.type === 'Ready',
      );
      if (node && node.status !== 'True') result.nodeNotReadyMs ??= t;
      const pods = (await podsOf(admin, 'web').catch(() => [])).filter((p) => !p.terminating);
      const fresh = pods.filter((p) => !beforeNames.has(p.name));
      for (const p of fresh) freshNames.add(p.name);
      if (fresh.length > 0) result.replacementCreatedMs ??= t;
      if (fresh.some((p) => p.ready)) result.replacementReadyMs ??= t;
      const readyElsewhere = pods.filter((p) => p.ready && p.node !== victim.name).length;
      if (
        readyElsewhere >= 3 &&
        result.replacementServedMs !== undefined &&
        result.servedAgainMs === undefined
      )
        result.servedAgainMs = Math.max(t, result.replacementServedMs);
      await sleep(100);
    }
  })();
  try {
    await c.killHost(victim.index);
    await waitFor('the service to be served by 3 pods again', () => result.servedAgainMs !== undefined, {
      timeoutMs: 180_000,
      intervalMs: 50,
    });
    // A tail with no failure shows the recovery held; failures in it count.
    await sleep(3_000);
  } finally {
    stopped = true;
    await Promise.all([loop, api]);
    await Promise.all([...inFlight]);
  }
  result.requests = sends.length;
  const failures = sends.filter((s) => !s.ok);
  result.failed = failures.length;
  result.failureBursts = bursts(sends);
  result.firstFailureMs = failures[0]?.at;
  const last = failures[failures.length - 1];
  result.lastFailureMs = last?.at;
  if (last) result.allSucceedMs = sends.find((s) => s.at > last.at && s.ok)?.at ?? since();
  c.restartHost(victim.index);
  await c.heal();
  return result;
}

/** The run's *.log files (controller, agents, etcd, NATS, registry) into dir. */
async function copyLogs(from: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(from)) if (f.endsWith('.log')) await copyFile(join(from, f), join(dir, f));
  say(`logs copied to ${dir}`);
}

function markdown(rows: string[][]): string {
  const [header, ...body] = rows;
  if (!header) return '';
  return [header, header.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  const skip = hostsSkip();
  if (skip) fail(skip);
  const load0 = loadavg();
  const started = new Date().toISOString();
  let cluster: HostsCluster | undefined;
  let admin: AdminClient | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    say(`${signal}: tearing the cluster down`);
    cluster?.cleanupSync();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(
      `starting 3 hosts (1 controller, --node-grace ${nodeGrace}, --eviction-timeout ${evictionTimeout}) and building images`,
    );
    // The log level and heartbeat a user's agents and controller run with (tests use debug
    // and 300 ms beats), since both cost CPU on every pod.
    const c = await HostsCluster.start({
      nodes: 3,
      controllers: 1,
      nodeGrace,
      evictionTimeout,
      logLevel: options.logLevel,
      heartbeatInterval: '1s',
    });
    cluster = c;
    admin = await c.admin();
    const a = admin;

    // Warm every host: the web Deployment puts one pod on each (the image is pulled and
    // unpacked there), then one round of each measured case, not counted.
    say('warming the hosts (web Deployment on every host, one untimed round of each case)');
    const warm = await freshWeb(c, a, 'warm');
    const warmHosts = new Set(warm.map((p) => p.node));
    if (warmHosts.size !== 3) say(`note: the warm-up web pods ran on ${[...warmHosts].join(', ')} only`);
    await podStartRound(c, a, 0);
    await applyRound(c, a, 'shipped', 0, false);

    say(`baseline: single pod created → Running on ${c.host(1).name}, ${options.runs} rounds`);
    const podStart: number[] = [];
    for (let i = 1; i <= options.runs; i++) podStart.push(await podStartRound(c, a, i));
    const cli: number[] = [];
    for (let i = 1; i <= options.runs; i++) cli.push(await cliRound(c));

    const applies: ApplyRound[] = [];
    for (const variant of ['shipped', 'fast'] as const) {
      for (let i = 1; i <= options.runs; i++) {
        const r = await applyRound(c, a, variant, i, options.scale);
        say(
          `apply ${variant} ${i}/${options.runs}: returned ${fmt(r.applyReturnedMs)}, ready ${fmt(r.readyMs)}, ` +
            `serving ${fmt(r.servingMs)} ms` +
            (r.scaleServingMs !== undefined ? `; 3 → 6 serving ${fmt(r.scaleServingMs)} ms` : ''),
        );
        applies.push(r);
      }
    }

    const failovers: FailoverRound[] = [];
    for (let i = 0; i < options.failoverRuns; i++) {
      const r = await failoverRound(c, a, i);
      say(
        `failover ${i + 1}/${options.failoverRuns} (${r.host}): ${r.failed}/${r.requests} failed, ` +
          `all succeed again at ${fmt(r.allSucceedMs)} ms, served by 3 again at ${fmt(r.servedAgainMs)} ms`,
      );
      failovers.push(r);
    }

    const baselineName = 'baseline: one pod created via API → Running (web image, host 1)';
    const series: Series[] = [
      { name: baselineName, runsMs: podStart },
      { name: 'baseline: `deploy get deployments` (CLI start-up + one API call)', runsMs: cli },
    ];
    for (const variant of ['shipped', 'fast'] as const) {
      const rounds = applies.filter((r) => r.variant === variant);
      const label =
        variant === 'shipped'
          ? 'web.yaml as shipped (minReadySeconds 2, probe every 2 s)'
          : 'web.yaml, minReadySeconds 0, probe every 1 s';
      const pick = (f: (r: ApplyRound) => number | undefined): number[] =>
        rounds.map(f).filter((x): x is number => x !== undefined);
      series.push(
        { name: `${label}: apply returned`, runsMs: pick((r) => r.applyReturnedMs) },
        { name: `${label}: 3 pods created`, runsMs: pick((r) => r.createdMs) },
        { name: `${label}: 3 bound`, runsMs: pick((r) => r.boundMs) },
        { name: `${label}: 3 Running`, runsMs: pick((r) => r.runningMs) },
        { name: `${label}: 3 Ready (API)`, runsMs: pick((r) => r.readyMs) },
        { name: `${label}: first answer via nodePort`, runsMs: pick((r) => r.firstAnswerMs) },
        { name: `${label}: **apply → all 3 serving via nodePort**`, runsMs: pick((r) => r.servingMs) },
        { name: `${label}: scale 3 → 6, 6 Ready (API)`, runsMs: pick((r) => r.scaleReadyMs) },
        { name: `${label}: scale 3 → 6, all 6 serving`, runsMs: pick((r) => r.scaleServingMs) },
        {
          name: `${label}: per pod, Running → Ready (API)`,
          runsMs: rounds.flatMap((r) => r.podRunningToReadyMs),
        },
        {
          name: `${label}: per pod, Ready (API) → first answer via nodePort`,
          runsMs: rounds.flatMap((r) => r.podReadyToServingMs),
        },
      );
    }

    const failRows = [
      [
        'round',
        'host killed',
        'failed / sent',
        'first … last failure ms',
        'node NotReady ms',
        '**all requests succeed again ms**',
        'replacement created ms',
        'replacement Ready ms',
        'replacement served ms',
        '**3 pods serve again ms**',
      ],
      ...failovers.map((r, i) => [
        String(i + 1),
        r.host,
        `${r.failed} / ${r.requests}`,
        r.failed > 0 ? `${fmt(r.firstFailureMs)} … ${fmt(r.lastFailureMs)}` : '—',
        fmt(r.nodeNotReadyMs),
        fmt(r.allSucceedMs),
        fmt(r.replacementCreatedMs),
        fmt(r.replacementReadyMs),
        fmt(r.replacementServedMs),
        fmt(r.servedAgainMs),
      ]),
    ];
    const worst = (f: (r: FailoverRound) => number | undefined): number | undefined => {
      const xs = failovers.map(f).filter((x): x is number => x !== undefined);
      return xs.length > 0 ? Math.max(...xs) : undefined;
    };
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, node ${process.version}`;
    const load1 = loadavg();
    const lines = [
      `Machine: ${machine}; ${started}; load average ${load0.map((x) => x.toFixed(2)).join(' ')} at the start, ${load1.map((x) => x.toFixed(2)).join(' ')} at the end`,
      `Cluster: 3 hosts (network namespaces on one bridge), 1 controller with --node-grace ${nodeGrace} --eviction-timeout ${evictionTimeout} (its defaults), controller and agents at --log-level=${options.logLevel}, agents heartbeat every 1 s (the defaults); images present on every host`,
      '',
      `### apply → serving (a fresh Deployment + NodePort Service each round, ${options.runs} rounds per variant; ms from the start of \`deploy apply -f -\`)`,
      '',
      formatTable(series, baselineName),
      '',
      `### host death → served again (${failovers.length} rounds; ms from SIGKILL of the host; requests every ${requestGapMs} ms, ${requestTimeoutMs} ms timeout, to the surviving hosts' nodePort)`,
      '',
      markdown(failRows),
      '',
      `p99 over ${failovers.length} rounds (= the max, with this few): all requests succeed again ${fmt(worst((r) => r.allSucceedMs))} ms; 3 pods serve again ${fmt(worst((r) => r.servedAgainMs))} ms. Target: p99 < 15 s.`,
      'References, published figures, not measured here: Kubernetes ~6 min with defaults (node-monitor-grace-period 40 s + pod-eviction-timeout 5 min; taint-based eviction: 40 s + 300 s tolerationSeconds), Nomad ~20–30 s (heartbeat grace), Docker Swarm ~15 s.',
    ];
    for (const variant of ['shipped', 'fast'] as const) {
      const kinds = new Map<string, number>();
      for (const r of applies.filter((x) => x.variant === variant))
        for (const [k, e] of Object.entries(r.pollErrors)) kinds.set(k, (kinds.get(k) ?? 0) + e.count);
      lines.push(
        `- apply ${variant}: failed nodePort polls before serving: ${[...kinds].map(([k, n]) => `${k} ×${n}`).join('; ') || 'none'}`,
      );
    }
    for (const r of failovers)
      lines.push(
        `- round on ${r.host}: failure bursts ${r.failureBursts.map((b) => `${fmt(b.fromMs)}…${fmt(b.toMs)} ms (${b.failed}, via ${b.hosts.join(' ')})`).join(', ') || 'none'}` +
          (r.errors.length > 0 ? `; errors: ${r.errors.join('; ')}` : '') +
          (r.otherAnswers > 0
            ? `; ${r.otherAnswers} answers from other pods (${r.otherPods.join(', ')})`
            : ''),
      );
    process.stdout.write(`${lines.join('\n')}\n`);
    if (options.json) {
      await writeFile(
        options.json,
        `${JSON.stringify(
          {
            options,
            machine,
            started,
            loadavg: { start: load0, end: load1 },
            controller: { nodeGrace, evictionTimeout },
            podStartMs: podStart,
            cliMs: cli,
            applies,
            applySummary: series
              .filter((s) => s.runsMs.length > 0)
              .map((s) => ({ name: s.name, ...summarize(s.runsMs) })),
            failovers,
          },
          null,
          2,
        )}\n`,
      );
    }
    return 0;
  } finally {
    admin?.close();
    if (options.logs && cluster)
      await copyLogs(cluster.dir, options.logs).catch((err: unknown) =>
        say(`logs not copied: ${String(err)}`),
      );
    await cluster?.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
