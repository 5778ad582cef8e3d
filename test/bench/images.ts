// The image benchmark (issue 3): a cold pull of a 3-layer image from a local registry, and
// an unchanged rebuild of examples/web, each measured next to baselines in the same run —
// `skopeo copy` + `umoci unpack`, and podman (`podman pull`, `podman build`). Every pull
// goes into a fresh, empty destination; tools take turns within each round so that drift
// on the machine spreads evenly. Prints a table per part and optionally writes JSON.
// Not a test: it asserts nothing about times.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createWriteStream } from 'node:fs';
import { silentLogger } from '@flotilla/common';
import * as images from '@flotilla/images';
import {
  FileContentStore,
  FileImageStore,
  OverlaySnapshotter,
  RegistryClient,
  busyboxImageConfig,
  busyboxRootfs,
  mountsUnder,
  parseReference,
  tarDirectory,
  unmount,
  type ImageConfig,
  type ImageManifest,
} from '@flotilla/images';
import { runCommand, startRegistry, type RegistryServer } from '../lib/index.js';
import { pushBenchImage, type BenchImage } from './fixture.js';
import { podmanSandbox, type PodmanSandbox } from './podman.js';
import { formatTable, summarize, type Series, type Summary } from './stats.js';

const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const baseline = 'podman';

interface Options {
  runs: number;
  json?: string;
  rebuild: boolean;
}

const usage = `Usage: node test/bench/run.mjs images [--runs N] [--json FILE] [--no-rebuild] [--no-build]

Cold pull of a 3-layer image from a local docker-registry (Flotilla, skopeo copy + umoci
unpack, podman pull) and an unchanged rebuild of examples/web (Flotilla, podman build).
Needs root; installs podman and umoci with apt-get when missing.

  --runs N       measured runs of each tool (default 7)
  --json FILE    also write the figures as JSON to FILE
  --no-rebuild   only the pull part
  --no-build     do not run "tsc -b" first (handled by run.mjs)`;

function fail(message: string): never {
  process.stderr.write(`bench:images: ${message}\n\n${usage}\n`);
  process.exit(2);
}

export function parseOptions(argv: readonly string[]): Options {
  const options: Options = { runs: 7, rebuild: true };
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
    } else if (arg === '--no-rebuild') options.rebuild = false;
    else if (arg === '--no-build') continue;
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(arg)}`);
  }
  return options;
}

const say = (line: string): void => void process.stderr.write(`bench:images: ${line}\n`);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function must(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const out = await runCommand(command, args, { timeoutMs: 300_000, ...(env ? { env } : {}) });
  if (out.code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited with ${out.code}: ${out.stderr.trim()}`);
  return out.stdout;
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** apt-get install what is missing (podman, umoci); idempotent. */
function ensureTools(): void {
  const missing = ['podman', 'umoci'].filter((c) => !hasCommand(c));
  for (const c of ['skopeo', 'docker-registry', 'runc']) {
    if (!hasCommand(c)) throw new Error(`${c} is missing: run scripts/setup.sh (as root) first`);
  }
  if (missing.length === 0) return;
  say(`installing ${missing.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): number | null =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    if (install() !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

async function machine(): Promise<Record<string, string | number>> {
  const version = async (cmd: string, args: string[]): Promise<string> =>
    firstLine((await runCommand(cmd, args).catch(() => ({ stdout: '?' }))).stdout);
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    debian: existsSync('/etc/debian_version') ? readFileSync('/etc/debian_version', 'utf8').trim() : '?',
    kernel: release(),
    cgroups: existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : 'v1',
    node: process.version,
    podman: await version('podman', ['--version']),
    skopeo: await version('skopeo', ['--version']),
    umoci: await version('umoci', ['--version']),
    registry: await version('docker-registry', ['--version']),
  };
}

// ---- pull --------------------------------------------------------------------------

interface PullTimes {
  total: number;
  parts: Record<string, number>;
}

/** Flotilla: RegistryClient.pull into empty stores, then every layer into snapshots. */
async function flotillaPull(dir: string, image: BenchImage): Promise<PullTimes> {
  const content = new FileContentStore(join(dir, 'content'), { logger: silentLogger });
  const store = new FileImageStore(join(dir, 'images.json'));
  const snapshots = new OverlaySnapshotter(join(dir, 'snapshots'), { logger: silentLogger });
  const client = new RegistryClient({ logger: silentLogger });
  const start = performance.now();
  try {
    const record = await client.pull(parseReference(image.name), { content, images: store });
    const pulled = performance.now();
    const manifest = JSON.parse((await content.read(record.target.digest)).toString('utf8')) as ImageManifest;
    const config = JSON.parse((await content.read(manifest.config.digest)).toString('utf8')) as ImageConfig;
    let parent: string | undefined;
    for (const [i, layer] of manifest.layers.entries()) {
      const diffId = config.rootfs.diff_ids[i];
      if (diffId === undefined) throw new Error(`config of ${image.name} lacks the diff ID of layer ${i}`);
      const snapshot = await snapshots.unpack(parent, {
        blobPath: content.path(layer.digest),
        mediaType: layer.mediaType,
        diffId,
        digest: layer.digest,
      });
      parent = snapshot.chainId;
    }
    const end = performance.now();
    return { total: end - start, parts: { pull: pulled - start, unpack: end - pulled } };
  } finally {
    client.close();
  }
}

async function skopeoUmoci(dir: string, image: BenchImage): Promise<PullTimes> {
  const layout = join(dir, 'oci');
  await mkdir(dir, { recursive: true });
  const start = performance.now();
  await must('skopeo', [
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    `docker://${image.name}`,
    `oci:${layout}:v1`,
  ]);
  const copied = performance.now();
  await must('umoci', ['unpack', '--image', `${layout}:v1`, join(dir, 'bundle')]);
  const end = performance.now();
  return { total: end - start, parts: { copy: copied - start, unpack: end - copied } };
}

async function podmanPull(podman: PodmanSandbox, storage: string, image: BenchImage): Promise<PullTimes> {
  const total = await timed(() => podman.run(storage, ['pull', '--quiet', '--tls-verify=false', image.name]));
  // What any podman command costs (start, store and state database opened), as a reference
  // for how much of a pull is the transfer; in a store of its own so the pull stays cold.
  const startup = await timed(() => podman.run(`${storage}i`, ['images', '--quiet']));
  await podman.wipe(`${storage}i`);
  return { total, parts: { startup } };
}

interface PullResults {
  series: Series[];
  summaries: Record<string, Summary>;
}

async function benchPull(
  work: string,
  registry: RegistryServer,
  runs: number,
): Promise<{ image: BenchImage } & PullResults> {
  say('assembling and pushing the 3-layer image');
  const image = await pushBenchImage(join(work, 'fixture'), join(work, 'fixture-store'), registry.host);
  say(
    `${image.name}: ${image.layers.length} layers, ${(image.compressedBytes / 1e6).toFixed(1)} MB compressed (${image.layers
      .map((l) => `${(l.size / 1e6).toFixed(2)}`)
      .join(' + ')} MB)`,
  );
  const podman = await podmanSandbox(join(work, 'p'), registry.host);
  const runsOf: Record<string, number[]> = {};
  const record = (name: string, ms: number): void => void (runsOf[name] ??= []).push(ms);
  // One untimed round first: the registry's and the page cache's first touch, binaries paged in.
  for (let round = 0; round <= runs; round++) {
    const warm = round === 0;
    const dir = join(work, 'pulls', `round-${round}`);
    await mkdir(dir, { recursive: true });
    try {
      const f = await flotillaPull(join(dir, 'flotilla'), image);
      const s = await skopeoUmoci(join(dir, 'skopeo'), image);
      const storage = `p${round}`;
      let p: PullTimes;
      try {
        p = await podmanPull(podman, storage, image);
        await podman.run(storage, ['rmi', '--all', '--force']);
      } finally {
        await podman.wipe(storage);
      }
      if (!warm) {
        record('flotilla (pull + unpack)', f.total);
        record('flotilla: registry → content store only', f.parts.pull as number);
        record('flotilla: unpack into snapshots only', f.parts.unpack as number);
        record('skopeo copy + umoci unpack', s.total);
        record('skopeo copy only', s.parts.copy as number);
        record('umoci unpack only', s.parts.unpack as number);
        record('podman pull', p.total);
        record('podman start-up alone (podman images, empty store)', p.parts.startup as number);
      }
      say(
        `${warm ? 'warm-up' : `run ${round}/${runs}`}: flotilla ${f.total.toFixed(0)} ms, skopeo+umoci ${s.total.toFixed(0)} ms, podman ${p.total.toFixed(0)} ms`,
      );
    } finally {
      for (const point of await mountsUnder(dir)) await unmount(point);
      await rm(dir, { recursive: true, force: true });
    }
  }
  const series = Object.entries(runsOf).map(([name, runsMs]) => ({ name, runsMs }));
  return {
    image,
    series,
    summaries: Object.fromEntries(series.map((s) => [s.name.trim(), summarize(s.runsMs)])),
  };
}

// ---- unchanged rebuild ----------------------------------------------------------------

interface RebuildResults extends PullResults {
  coldMs: Record<string, number>;
  /** The last rebuild's cache use, as "N/M steps cached". */
  cached: Record<string, string>;
}

type BuildImage = (options: images.BuildImageOptions) => Promise<images.BuildResult>;

/** buildImage and openLocalImages, when this checkout's @flotilla/images exports them. */
function builder(): { buildImage: BuildImage; openLocalImages: typeof images.openLocalImages } | undefined {
  const mod = images as Partial<typeof images>;
  if (typeof mod.buildImage !== 'function' || typeof mod.openLocalImages !== 'function') return undefined;
  return { buildImage: mod.buildImage, openLocalImages: mod.openLocalImages };
}

async function benchRebuild(
  work: string,
  registry: RegistryServer,
  runs: number,
  cgroupParent: string,
): Promise<RebuildResults | undefined> {
  const tools = builder();
  if (tools === undefined) {
    say('skipped: buildImage not available (not exported by @flotilla/images)');
    return undefined;
  }
  const context = join(repoRoot, 'examples', 'web');
  const dir = join(work, 'rebuild');
  await mkdir(dir, { recursive: true });

  // The same busybox rootfs is the base on both sides: committed to our store, imported into podman's.
  const rootfs = join(dir, 'busybox-rootfs');
  await busyboxRootfs(rootfs);
  const local = tools.openLocalImages(join(dir, 'store'), { logger: silentLogger });
  await images.commitBaseImage(
    local,
    parseReference('busybox:latest').canonical,
    rootfs,
    busyboxImageConfig(),
    {
      scratchDir: join(dir, 'scratch'),
    },
  );
  const baseTar = join(dir, 'busybox.tar');
  await tarDirectory(rootfs, createWriteStream(baseTar), { compression: 'none' });
  const podman = await podmanSandbox(join(work, 'b'), registry.host);
  // Short paths: podman refuses a runroot longer than 50 characters.
  const storage = 's';
  await podman.run(storage, ['import', '--quiet', '--change', 'CMD ["sh"]', baseTar, 'busybox:latest']);

  // Whether each rebuild really came from the cache: every step cached, "Using cache" per podman step.
  let flotillaCached = '';
  let podmanCached = '';
  const flotillaBuild = (): Promise<number> =>
    timed(async () => {
      const result = await tools.buildImage({
        contextDir: context,
        tags: ['bench/web:latest'],
        local,
        log: silentLogger,
        output: () => undefined,
        cgroupParent,
        runcRoot: join(dir, 'runc'),
      });
      flotillaCached = `${result.steps.filter((s) => s.cached).length}/${result.steps.length} steps cached`;
    });
  const podmanBuild = (): Promise<number> =>
    timed(async () => {
      const out = await podman.run(storage, [
        'build',
        '--pull=never',
        '--layers',
        '-t',
        'bench/web:latest',
        context,
      ]);
      const steps = out.split('\n').filter((l) => l.startsWith('STEP ')).length;
      podmanCached = `${out.split('\n').filter((l) => l.includes('Using cache')).length}/${steps} steps cached`;
    });

  const coldMs = { flotilla: await flotillaBuild(), podman: await podmanBuild() };
  say(`cold builds: flotilla ${coldMs.flotilla.toFixed(0)} ms, podman ${coldMs.podman.toFixed(0)} ms`);
  const runsOf: Record<string, number[]> = {
    'flotilla build (unchanged)': [],
    [`${baseline} build (unchanged)`]: [],
  };
  for (let round = 1; round <= runs; round++) {
    const f = await flotillaBuild();
    const p = await podmanBuild();
    runsOf['flotilla build (unchanged)']?.push(f);
    runsOf[`${baseline} build (unchanged)`]?.push(p);
    say(
      `rebuild ${round}/${runs}: flotilla ${f.toFixed(0)} ms (${flotillaCached}), podman ${p.toFixed(0)} ms (${podmanCached})`,
    );
  }
  await podman.wipe(storage);
  const series = Object.entries(runsOf).map(([name, runsMs]) => ({ name, runsMs }));
  return {
    coldMs,
    cached: { flotilla: flotillaCached, podman: podmanCached },
    series,
    summaries: Object.fromEntries(series.map((s) => [s.name, summarize(s.runsMs)])),
  };
}

// ---- main -------------------------------------------------------------------------------

/** PIDs of this process's children (registry, podman, skopeo, umoci), from /proc. */
function childPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** SIGTERM to each child by PID, SIGKILL to those still there after 10 s. */
async function stopChildren(): Promise<void> {
  const signal = (pids: number[], sig: NodeJS.Signals): void => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal(childPids(), 'SIGTERM');
  for (let i = 0; i < 100 && childPids().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  signal(childPids(), 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
}

/** What a run may leave behind, removed even on failure or Ctrl-C. */
async function cleanUp(
  work: string,
  registry: RegistryServer | undefined,
  cgroupParent: string,
  createdRunDirs: readonly string[],
): Promise<void> {
  await registry?.stop().catch(() => undefined);
  // podman (as root) always makes its network state directory in /run; only ours go, if empty.
  for (const made of createdRunDirs) {
    try {
      rmdirSync(made);
    } catch {
      // Not empty (someone else's podman uses it now) or already gone: leave it.
    }
  }
  for (const point of await mountsUnder(work).catch(() => [])) await unmount(point).catch(() => undefined);
  // A build that ran RUN steps made cgroup directories: they go with rmdir, not rm -r.
  for (const controller of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    const cg = join('/sys/fs/cgroup', controller, cgroupParent);
    try {
      if (existsSync(cg)) rmdirSync(cg);
    } catch {
      // A controller mounted twice (cpu,cpuacct) lists the same directory twice.
    }
  }
  await rm(work, { recursive: true, force: true });
  const left = await mountsUnder(work).catch(() => []);
  if (left.length > 0) say(`warning: still mounted: ${left.join(', ')}`);
}

export async function main(argv: readonly string[]): Promise<number> {
  const options = parseOptions(argv);
  if (process.getuid?.() !== 0) fail('needs root (podman storage, overlay mounts, umoci unpack)');
  ensureTools();
  const work = await mkdtemp(join(tmpdir(), 'flt-bench-images-'));
  const runDirs = ['/run/containers/networks', '/run/containers'].filter((d) => !existsSync(d));
  const cgroupParent = `flotilla-bench-${basename(work)}`;
  let registry: RegistryServer | undefined;
  let interrupted = false;
  // test/lib's own handlers exit at once, before anything is unmounted: ours replace them.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    say('interrupted: stopping the tools started, then cleaning up');
    void stopChildren()
      .then(() => cleanUp(work, registry, cgroupParent, runDirs))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const host = await machine();
    registry = await startRegistry(work, { name: 'registry' });
    const date = new Date().toISOString();
    const pull = await benchPull(work, registry, options.runs);
    const rebuild = options.rebuild
      ? await benchRebuild(work, registry, options.runs, cgroupParent)
      : undefined;

    const out: string[] = [
      `# Images benchmark, ${date}`,
      `machine: ${host.cpus} × ${host.cpuModel}, Debian ${host.debian}, kernel ${host.kernel}, cgroups ${host.cgroups}, node ${host.node}`,
      `tools: ${host.podman}; ${host.skopeo}; ${host.umoci}; ${host.registry}`,
      `image: ${pull.image.name}, 3 layers, ${(pull.image.compressedBytes / 1e6).toFixed(2)} MB compressed; ${options.runs} runs each, every pull into an empty destination`,
      '',
      '## Cold pull',
      '',
      formatTable(pull.series, 'podman pull'),
    ];
    if (rebuild !== undefined) {
      out.push(
        '',
        '## Unchanged rebuild of examples/web',
        '',
        `cold first build: flotilla ${rebuild.coldMs.flotilla?.toFixed(0)} ms, podman ${rebuild.coldMs.podman?.toFixed(0)} ms; ` +
          `last rebuild: flotilla ${rebuild.cached.flotilla}, podman ${rebuild.cached.podman}`,
        '',
        formatTable(rebuild.series, `${baseline} build (unchanged)`),
      );
    } else if (options.rebuild) out.push('', 'Unchanged rebuild: skipped: buildImage not available');
    process.stdout.write(`${out.join('\n')}\n`);
    if (options.json !== undefined) {
      const json = {
        date,
        machine: host,
        runs: options.runs,
        image: pull.image,
        pull: { series: pull.series, summaries: pull.summaries },
        rebuild: rebuild ?? null,
      };
      await writeFile(options.json, `${JSON.stringify(json, null, 2)}\n`);
      say(`wrote ${options.json}`);
    }
    return 0;
  } finally {
    if (!interrupted) await cleanUp(work, registry, cgroupParent, runDirs);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
