// `deploy build`: Dockerfile → plan (parser and planner, pure) → each step executed in
// order against the local store → the image committed under its tags.
//
//   FROM    the base's layers unpacked into snapshots (each once), or an empty chain
//   COPY    a layer written from the context files               ┐ layer stored gzip in the
//   RUN     runc over an overlay of the chain; the upper dir diffed ┘ content store, unpacked
//   others  config only (history empty_layer)                       as the next snapshot
//
// Every step's result is recorded under its cache key; a step whose key is recorded (and
// whose layer blob still exists) is reused without running anything, so an unchanged
// rebuild does no runc and no tar and commits the very same digests.
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { createLogger, errorMessage, invalidArgument, notFound, type Logger } from '@flotilla/common';
import { createContextHasher, loadDockerignore, walkContext, type ContextEntry } from '../build/context.js';
import { buildImageConfig } from '../build/image-config.js';
import { parseDockerfile } from '../build/parser.js';
import { planBuild } from '../build/plan.js';
import type { BaseStep, BuildPlan, CopyStep, Dockerfile, PlanStep, RunStep } from '../build/types.js';
import type { LayerWriteResult } from '../layers/tar-writer.js';
import type { BuildCacheEntry } from '../local/build-cache.js';
import type { LocalImages } from '../local/local-images.js';
import { familiarName, type ParseReferenceOptions } from '../reference/reference.js';
import { hostPlatform } from '../registry/platform.js';
import { readHostLimits, type RuncOptions } from '../runc/runner.js';
import type { HostLimits } from '../runc/types.js';
import { parseReference } from '../reference/reference.js';
import type { Descriptor, Digest, ImageRecord, SnapshotInfo } from '../types.js';
import { runCopyStep } from './copy-step.js';
import {
  canonicalTags,
  commitImage,
  localImageResolver,
  ociLayerMediaType,
  readLocalImage,
  unpackImage,
  type ImagePuller,
} from './image.js';
import { unpackStoredLayer } from './layer-store.js';
import { builtLines, resultLine, stepLine, usingCache } from './progress.js';
import { runRunStep } from './run-step.js';
import { BuildWorkspace } from './workspace.js';

export interface BuildImageOptions {
  /** The build context directory. */
  contextDir: string;
  /** Default <contextDir>/Dockerfile. */
  dockerfile?: string;
  /** Names for the image (NAME[:TAG], made canonical); the first is the main one. At least one. */
  tags: string[];
  /** --build-arg K=V. */
  buildArgs?: Record<string, string>;
  /** Stage name or index to build; default the last stage. */
  target?: string;
  /** Run every step even when the cache has it (the results are still recorded). */
  noCache?: boolean;
  local: LocalImages;
  /** Pulls a FROM or COPY --from image the local store lacks (a RegistryClient). */
  registry?: ImagePuller;
  log?: Logger;
  /** Step progress and RUN output, as text. */
  output?: (text: string) => void;
  signal?: AbortSignal;
  /** How names without a registry are read (a default registry); Docker Hub by default. */
  reference?: ParseReferenceOptions;
  /** The runc binary (default "runc") and its state directory (default <store>/runc). */
  runc?: string;
  runcRoot?: string;
  /** cgroupfs parent of build containers; default "flotilla-build". */
  cgroupParent?: string;
}

export interface BuildStepResult {
  /** The instruction as written in the Dockerfile. */
  instruction: string;
  line: number;
  cached: boolean;
}

export interface BuildResult {
  /** The record of the main (first) tag. */
  image: ImageRecord;
  /** Every name the image was stored under. */
  images: ImageRecord[];
  manifestDigest: Digest;
  configDigest: Digest;
  steps: BuildStepResult[];
  warnings: string[];
}

/** A stage's rootfs as the steps leave it. */
interface StageState {
  chain: SnapshotInfo[];
  /** The manifest's layers: the base's, then one per step that added a layer. */
  layers: Descriptor[];
  /** Per layer step from the chain's root (undefined: it changed nothing). */
  stepDiffIds: (Digest | undefined)[];
  /** When the last step's result was made: the image's "created", stable across cached rebuilds. */
  createdAt: string;
}

const epoch = new Date(0).toISOString();

/** The source text of each instruction by line, for the progress lines. */
function sourcesByLine(dockerfile: Dockerfile): Map<number, string> {
  const map = new Map<number, string>();
  for (const stage of dockerfile.stages) {
    map.set(stage.from.line, stage.from.source);
    for (const i of stage.instructions) map.set(i.line, i.source);
  }
  return map;
}

function dockerfileName(contextDir: string, path: string): string {
  const rel = relative(contextDir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

export async function buildImage(options: BuildImageOptions): Promise<BuildResult> {
  const log = options.log ?? createLogger({ component: 'build' });
  if (options.tags.length === 0) {
    throw invalidArgument('a build needs at least one tag (-t NAME[:TAG])', { field: 'tags' });
  }
  const names = canonicalTags(options.tags, options.reference);
  const contextDir = resolve(options.contextDir);
  const dockerfilePath = resolve(options.dockerfile ?? join(contextDir, 'Dockerfile'));
  let text: string;
  try {
    text = await readFile(dockerfilePath, 'utf8');
  } catch (err) {
    throw notFound(`cannot read the Dockerfile ${dockerfilePath}: ${errorMessage(err)}`, {
      object: `file/${dockerfilePath}`,
    });
  }
  const file = dockerfileName(contextDir, dockerfilePath);
  const dockerfile = parseDockerfile(text, { filename: file });
  const ignore = await loadDockerignore(contextDir);
  const platform = hostPlatform();
  const resolver = localImageResolver(options.local, {
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.reference ? { reference: options.reference } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    log,
  });
  const plan = await planBuild(dockerfile, {
    buildArgs: options.buildArgs ?? {},
    platform,
    ...(options.target !== undefined ? { target: options.target } : {}),
    resolveImage: resolver,
    hashContext: createContextHasher(contextDir, { ignore }),
  });
  const runc: RuncOptions = {
    root: options.runcRoot ?? join(options.local.root, 'runc'),
    ...(options.runc !== undefined ? { runc: options.runc } : {}),
    logger: log,
  };
  const ws = await BuildWorkspace.create(options.local.root, runc, log);
  const executor = new Executor(options, {
    plan,
    file,
    lines: sourcesByLine(dockerfile),
    contextDir,
    contextEntries: memo(() => walkContext(contextDir, ignore)),
    runc,
    ws,
    log,
  });
  try {
    return await executor.run(names);
  } finally {
    await executor.flushCache();
    await ws.dispose();
  }
}

function memo<T>(f: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= f());
}

interface ExecutorContext {
  plan: BuildPlan;
  file: string;
  lines: Map<number, string>;
  contextDir: string;
  contextEntries: () => Promise<ContextEntry[]>;
  runc: RuncOptions;
  ws: BuildWorkspace;
  log: Logger;
}

class Executor {
  private readonly output: (text: string) => void;
  private readonly pending: BuildCacheEntry[] = [];
  private readonly stages = new Map<number, StageState>();
  private readonly steps: BuildStepResult[] = [];
  private hostLimits: HostLimits | undefined;
  private runCount = 0;

  constructor(
    private readonly options: BuildImageOptions,
    private readonly ctx: ExecutorContext,
  ) {
    this.output = options.output ?? (() => undefined);
  }

  private get local(): LocalImages {
    return this.options.local;
  }

  async run(names: string[]): Promise<BuildResult> {
    const { plan } = this.ctx;
    for (const warning of plan.warnings) this.output(`[warning] ${warning}\n`);
    const total = plan.stages.reduce((n, s) => n + s.steps.length, 0);
    let n = 0;
    for (const stage of plan.stages) {
      let state: StageState | undefined;
      for (const step of stage.steps) {
        this.options.signal?.throwIfAborted();
        const instruction = this.ctx.lines.get(step.line) ?? step.instruction;
        this.output(stepLine(++n, total, instruction));
        let cached: boolean;
        if (step.kind === 'base') ({ state, cached } = await this.base(step));
        else if (state === undefined) throw new Error('unreachable: a stage without its base step');
        else cached = await this.step(step, state);
        this.steps.push({ instruction, line: step.line, cached });
      }
      if (state === undefined) throw new Error('unreachable: an empty stage');
      this.stages.set(stage.index, state);
    }
    const final = this.stages.get(plan.target);
    if (final === undefined) throw new Error('unreachable: the target stage was not built');
    const config = buildImageConfig({ plan, diffIds: final.stepDiffIds, created: final.createdAt });
    const committed = await commitImage(this.local, {
      config,
      layers: final.layers,
      names,
      platform: plan.platform,
    });
    this.output(
      builtLines(
        committed.configDigest,
        names.map((name) => familiarName(parseReference(name))),
      ),
    );
    this.ctx.log.info('image built', { image: names[0], digest: committed.manifestDigest });
    return {
      image: committed.records[0] as ImageRecord,
      images: committed.records,
      manifestDigest: committed.manifestDigest,
      configDigest: committed.configDigest,
      steps: this.steps,
      warnings: plan.warnings,
    };
  }

  async flushCache(): Promise<void> {
    try {
      await this.local.buildCache.put(...this.pending.splice(0));
    } catch (err) {
      this.ctx.log.warn('could not record the build cache', { err: errorMessage(err) });
    }
  }

  private async base(step: BaseStep): Promise<{ state: StageState; cached: boolean }> {
    const noCache = this.options.noCache === true;
    const base = step.base;
    if (base.kind === 'scratch') {
      this.output(resultLine(step.cacheKey));
      return { state: { chain: [], layers: [], stepDiffIds: [], createdAt: epoch }, cached: !noCache };
    }
    if (base.kind === 'stage') {
      const parent = this.stages.get(base.stage);
      if (parent === undefined) throw new Error(`unreachable: stage ${base.stage} not built before its use`);
      this.output(resultLine(step.cacheKey));
      return { state: structuredClone(parent), cached: !noCache };
    }
    const image = await readLocalImage(this.local, base.digest, base.ref);
    const { chain, unpacked } = await unpackImage(this.local, image, base.ref);
    this.output(resultLine(base.digest));
    return {
      state: {
        chain,
        layers: image.manifest.layers.map((l) => ({ ...l, mediaType: ociLayerMediaType(l.mediaType) })),
        stepDiffIds: [],
        createdAt: image.config.created ?? epoch,
      },
      cached: !noCache && unpacked === 0,
    };
  }

  /** Runs (or reuses) one non-base step, advancing state; returns whether it was cached. */
  private async step(step: Exclude<PlanStep, BaseStep>, state: StageState): Promise<boolean> {
    const entry = this.options.noCache === true ? undefined : await this.local.buildCache.get(step.cacheKey);
    if (entry !== undefined && (await this.reuse(step, entry, state))) {
      this.output(usingCache);
      this.output(resultLine(step.cacheKey));
      state.createdAt = entry.createdAt;
      return true;
    }
    const createdAt = new Date().toISOString();
    const record: BuildCacheEntry = { cacheKey: step.cacheKey, createdAt };
    if (step.kind !== 'config') {
      const layer = step.kind === 'copy' ? await this.copy(step, state) : await this.runStep(step, state);
      if (layer === undefined) state.stepDiffIds.push(undefined);
      else {
        const descriptor: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
        const snapshot = await unpackStoredLayer(this.local, state.chain.at(-1), {
          diffId: layer.diffId,
          descriptor,
        });
        state.chain.push(snapshot);
        state.layers.push(descriptor);
        state.stepDiffIds.push(layer.diffId);
        record.layer = { diffId: layer.diffId, descriptor, chainId: snapshot.chainId };
      }
    }
    this.pending.push(record);
    state.createdAt = createdAt;
    this.output(resultLine(step.cacheKey));
    return false;
  }

  /** Applies a cache entry; false when its layer blob is gone (the step then runs again). */
  private async reuse(step: PlanStep, entry: BuildCacheEntry, state: StageState): Promise<boolean> {
    if (step.kind === 'config') return true;
    if (entry.layer === undefined) {
      state.stepDiffIds.push(undefined);
      return true;
    }
    const layer = entry.layer;
    if ((await this.local.content.info(layer.descriptor.digest)) === undefined) {
      this.ctx.log.info('cached layer blob is gone: running the step again', { step: step.instruction });
      return false;
    }
    const snapshot = await unpackStoredLayer(this.local, state.chain.at(-1), layer);
    if (snapshot.chainId !== layer.chainId) return false;
    state.chain.push(snapshot);
    state.layers.push(layer.descriptor);
    state.stepDiffIds.push(layer.diffId);
    return true;
  }

  private copy(step: CopyStep, state: StageState): Promise<LayerWriteResult> {
    return runCopyStep({
      local: this.local,
      ws: this.ctx.ws,
      step,
      chain: state.chain,
      contextDir: this.ctx.contextDir,
      contextEntries: this.ctx.contextEntries,
      sourceChain: async () => {
        if (step.from.kind === 'stage') {
          const source = this.stages.get(step.from.stage);
          if (source === undefined)
            throw new Error(`unreachable: stage ${step.from.stage} not built before its use`);
          return source.chain;
        }
        if (step.from.kind === 'image') {
          const image = await readLocalImage(this.local, step.from.digest, step.from.ref);
          return (await unpackImage(this.local, image, step.from.ref)).chain;
        }
        return [];
      },
      file: this.ctx.file,
    });
  }

  private async runStep(step: RunStep, state: StageState): Promise<LayerWriteResult | undefined> {
    this.hostLimits ??= await readHostLimits();
    return runRunStep({
      local: this.local,
      ws: this.ctx.ws,
      step,
      chain: state.chain,
      runc: this.ctx.runc,
      cgroupParent: this.options.cgroupParent ?? 'flotilla-build',
      hostLimits: this.hostLimits,
      containerId: `build-${this.ctx.ws.id}-${++this.runCount}`,
      output: this.output,
      file: this.ctx.file,
      log: this.ctx.log,
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
  }
}
