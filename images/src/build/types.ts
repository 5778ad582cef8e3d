// The contracts of the Dockerfile front end: what the parser returns (instructions as
// written, before variable substitution), what the planner returns (the steps a build
// executor runs, fully substituted, each with its cache key), and the two seams through
// which the planner reaches the outside world (base images and the build context).
import type { Digest, ImageConfig, Platform } from '../types.js';

// ---- parsed Dockerfile --------------------------------------------------------------

/** The character that escapes and continues lines: `\` by default, `` ` `` by directive. */
export type EscapeChar = '\\' | '`';

/** RUN, CMD and ENTRYPOINT: a JSON array (exec form) or a string for the shell. */
export type CommandForm = { form: 'exec'; argv: string[] } | { form: 'shell'; command: string };

/** One `key=value` (or legacy `key value`) of ENV or LABEL, quotes and `$` not yet processed. */
export interface KeyValue {
  key: string;
  value: string;
}

interface InstructionBase {
  /** 1-based line where the instruction starts. */
  line: number;
  /** 1-based line where it ends (after continuation lines). */
  endLine: number;
  /** The logical line as written (continuations joined), for messages. */
  source: string;
}

export interface FromInstruction extends InstructionBase {
  kind: 'FROM';
  /** Image reference, stage name or `scratch`, before substitution. */
  image: string;
  /** `AS name`, lower-cased as Docker does. */
  name?: string;
  platform?: string;
}

export interface RunInstruction extends InstructionBase {
  kind: 'RUN';
  command: CommandForm;
}

export interface CmdInstruction extends InstructionBase {
  kind: 'CMD' | 'ENTRYPOINT';
  command: CommandForm;
}

export interface ShellInstruction extends InstructionBase {
  kind: 'SHELL';
  shell: string[];
}

export interface CopyInstruction extends InstructionBase {
  kind: 'COPY' | 'ADD';
  /** Sources as written (one word each), before substitution. */
  sources: string[];
  dest: string;
  chown?: string;
  chmod?: string;
  /** `--from=stage|index|image` (COPY only). */
  from?: string;
}

export interface EnvInstruction extends InstructionBase {
  kind: 'ENV' | 'LABEL';
  pairs: KeyValue[];
}

export interface ArgInstruction extends InstructionBase {
  kind: 'ARG';
  args: { name: string; default?: string }[];
}

export interface ValueInstruction extends InstructionBase {
  kind: 'WORKDIR' | 'USER' | 'STOPSIGNAL';
  value: string;
}

export interface ExposeInstruction extends InstructionBase {
  kind: 'EXPOSE';
  /** Port words as written: `8080`, `8080/tcp`, `53/udp`, `$PORT`. */
  ports: string[];
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | ShellInstruction
  | CopyInstruction
  | EnvInstruction
  | ArgInstruction
  | ValueInstruction
  | ExposeInstruction;

export type InstructionKind = Instruction['kind'];

export interface Stage {
  /** 0-based position among the FROMs. */
  index: number;
  name?: string;
  from: FromInstruction;
  /** Everything after the FROM up to the next one. */
  instructions: Instruction[];
}

export interface Dockerfile {
  /** File name used in messages ("Dockerfile", "web/Dockerfile.dev"). */
  filename: string;
  escape: EscapeChar;
  /** ARGs before the first FROM: usable in FROM lines, and in a stage that re-declares them. */
  globalArgs: ArgInstruction[];
  stages: Stage[];
}

// ---- build plan ---------------------------------------------------------------------

/** The runtime part of an image config as it stands after a step. */
export type ContainerConfig = NonNullable<ImageConfig['config']>;

/** What a stage starts from. */
export type BaseSource =
  | { kind: 'scratch' }
  | { kind: 'image'; ref: string; digest: Digest; config: ImageConfig }
  | { kind: 'stage'; stage: number };

/** Where COPY/ADD reads from. */
export type CopyFrom =
  { kind: 'context' } | { kind: 'stage'; stage: number } | { kind: 'image'; ref: string; digest: Digest };

/** A top-level path a COPY source matched in the build context. */
export interface ContextMatch {
  /** Context-relative, "/"-separated, no leading "./" ("app/main.js"); "." for the root. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** ADD only: a local tar archive (plain or gzip) that the executor extracts at dest. */
  extract?: boolean;
}

export interface PlanStepBase {
  /** Dockerfile line of the instruction. */
  line: number;
  /**
   * The instruction after substitution, normalised ("COPY --chown=1:1 app /srv/"); it is
   * the history's created_by and part of the cache key.
   */
  instruction: string;
  /** sha256 over the parent's key, the instruction, the build args it uses and its inputs. */
  cacheKey: Digest;
  /** The image's runtime config after this step. */
  config: ContainerConfig;
  /** True when the step adds no layer (history empty_layer). */
  emptyLayer: boolean;
}

/** FROM: start from scratch, an image (resolved to its manifest digest) or a stage. */
export interface BaseStep extends PlanStepBase {
  kind: 'base';
  base: BaseSource;
}

/**
 * COPY/ADD. Files land at `dest` (absolute). When destIsDir, each source goes inside dest
 * (a directory source's contents, a file under its base name); otherwise there is one
 * source and it becomes dest itself — unless dest already exists as a directory in the
 * rootfs, in which case it goes inside (Docker's rule). Owners are 0:0 unless chown.
 * For a stage or image source the matches are found by the executor (selectSources over
 * that rootfs), which then applies the same rule: several matches need destIsDir.
 */
export interface CopyStep extends PlanStepBase {
  kind: 'copy';
  add: boolean;
  from: CopyFrom;
  /** Sources after substitution, cleaned, relative to the context (or stage/image root). */
  sources: string[];
  /** For a context copy, what each source matched (same order); absent for stage/image. */
  matches?: ContextMatch[][];
  dest: string;
  destIsDir: boolean;
  /** `user[:group]` as given to --chown: names resolve against the rootfs /etc/passwd. */
  chown?: string;
  /** --chmod as a number. */
  chmod?: number;
}

/** RUN: argv executed in a container over the current rootfs; its changes become a layer. */
export interface RunStep extends PlanStepBase {
  kind: 'run';
  argv: string[];
  /** The process environment: the config's Env plus the ARGs in scope (ENV wins). */
  env: string[];
  /** The user to run as ("" = root). */
  user: string;
  /** Working directory ("/" when none was set); runc creates it when missing. */
  workdir: string;
}

/** ENV, ARG, LABEL, WORKDIR, USER, EXPOSE, CMD, ENTRYPOINT, SHELL, STOPSIGNAL: config only. */
export interface ConfigStep extends PlanStepBase {
  kind: 'config';
}

export type PlanStep = BaseStep | CopyStep | RunStep | ConfigStep;
export type StepKind = PlanStep['kind'];

export interface StagePlan {
  /** The stage's index in the Dockerfile (COPY --from and FROM refer to it by this). */
  index: number;
  name?: string;
  /** The base step first, then one step per instruction. */
  steps: PlanStep[];
  /** The last step's cache key: the identity of the stage's result. */
  cacheKey: Digest;
  /** The config after the last step. */
  config: ContainerConfig;
}

export interface BuildPlan {
  platform: Platform;
  /** Only the stages the target needs, in Dockerfile order (dependencies first). */
  stages: StagePlan[];
  /** Index (Dockerfile order) of the stage whose result is the image. */
  target: number;
  /** Non-fatal findings, e.g. build args no ARG consumed. */
  warnings: string[];
}

// ---- seams ----------------------------------------------------------------------------

export interface ResolvedImage {
  /** The reference as resolved (canonical form). */
  ref: string;
  /** The manifest digest: the cache identity of the base. */
  digest: Digest;
  config: ImageConfig;
}

/** Looks up a base image (FROM or COPY --from) for the build platform. */
export type ImageResolver = (ref: string, platform: Platform) => Promise<ResolvedImage>;

export interface ContextHashRequest {
  /** Cleaned context-relative sources (wildcards allowed: `*`, `?`, `[...]`). */
  sources: string[];
  /** The owner the files will have: the --chown value, or "0:0". */
  owner: string;
  /** ADD: detect local archives (ContextMatch.extract). */
  detectArchives: boolean;
}

export interface ContextSelection {
  /** What each source matched (empty when nothing did). */
  matches: ContextMatch[][];
  /**
   * sha256 over every selected file and directory, in a fixed order: path, type, mode,
   * owner, size, content digest or link target.
   */
  digest: Digest;
}

/** Selects and hashes COPY/ADD sources in the build context (honouring .dockerignore). */
export type ContextHasher = (request: ContextHashRequest) => Promise<ContextSelection>;
