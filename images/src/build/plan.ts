// Parsed Dockerfile + build args → the build plan: for each stage the target needs, the
// steps an executor runs, with every variable substituted, the image config after each
// step and each step's cache key. Base images and the build context are reached only
// through the injected resolver and hasher, so planning is testable without I/O.
import { errorMessage, FlotillaError, isFlotillaError } from '@flotilla/common';
import { posix } from 'node:path';
import type { Digest, Platform } from '../types.js';
import { baseCacheKey, platformString, stepCacheKey } from './cache-key.js';
import { dockerfileError, SyntaxProblem } from './errors.js';
import { expandWord, expandWords, type Lookup } from './expand.js';
import { cleanPath, globRegex, hasWildcards } from './match.js';
import type {
  ArgInstruction,
  BaseSource,
  BuildPlan,
  CommandForm,
  ContainerConfig,
  ContextHasher,
  ContextMatch,
  ContextSelection,
  CopyFrom,
  CopyInstruction,
  Dockerfile,
  ImageResolver,
  Instruction,
  PlanStep,
  ResolvedImage,
  Stage,
  StagePlan,
} from './types.js';

export interface BuildPlanOptions {
  /** --build-arg values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** The platform to build for (normally hostPlatform()). */
  platform: Platform;
  /** Stage name or index to build; default the last stage. */
  target?: string;
  resolveImage: ImageResolver;
  hashContext: ContextHasher;
}

export const defaultPathEnv = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const defaultShell = ['/bin/sh', '-c'];

/** Build args Docker accepts without an ARG; they reach RUN but never a cache key. */
const proxyArgs = new Set(
  ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((n) => [n, n.toLowerCase()]),
);

const signalNames = new Set(
  'ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ'.split(
    ' ',
  ),
);

/** The automatic platform ARGs (BuildKit's), in the global scope of every build. */
function platformArgs(platform: Platform): Map<string, string> {
  const value = platformString(platform);
  const variant = platform.variant ?? '';
  const args = new Map<string, string>();
  for (const prefix of ['TARGET', 'BUILD']) {
    args.set(`${prefix}PLATFORM`, value);
    args.set(`${prefix}OS`, platform.os);
    args.set(`${prefix}ARCH`, platform.architecture);
    args.set(`${prefix}VARIANT`, variant);
  }
  return args;
}

export async function planBuild(dockerfile: Dockerfile, options: BuildPlanOptions): Promise<BuildPlan> {
  return new Planner(dockerfile, options).plan();
}

/** One stage's evolving state while its instructions are planned. */
interface StageState {
  config: ContainerConfig;
  /** ARGs declared in this stage (value undefined: declared, no value). */
  args: Map<string, string | undefined>;
  shell: string[];
  /** Whether this stage set CMD (ENTRYPOINT then keeps it; otherwise it clears the base's). */
  cmdSet: boolean;
  parent: Digest;
}

class Planner {
  private readonly buildArgs: Map<string, string>;
  private readonly platformArgs: Map<string, string>;
  private readonly globals = new Map<string, string | undefined>();
  private readonly consumed = new Set<string>();
  private readonly planned = new Map<number, Promise<StagePlan>>();
  private readonly file: string;

  constructor(
    private readonly dockerfile: Dockerfile,
    private readonly options: BuildPlanOptions,
  ) {
    this.file = dockerfile.filename;
    this.buildArgs = new Map(Object.entries(options.buildArgs ?? {}));
    this.platformArgs = platformArgs(options.platform);
  }

  async plan(): Promise<BuildPlan> {
    this.planGlobalArgs(this.dockerfile.globalArgs);
    const target = this.targetStage();
    await this.stage(target.index);
    const stages = await Promise.all(
      [...this.planned.keys()].sort((a, b) => a - b).map((i) => this.planned.get(i) as Promise<StagePlan>),
    );
    const unused = [...this.buildArgs.keys()]
      .filter((n) => !this.consumed.has(n) && !proxyArgs.has(n))
      .sort();
    const warnings =
      unused.length > 0
        ? [`build args not consumed by any ARG of the stages built: ${unused.join(', ')} (they are ignored)`]
        : [];
    return { platform: this.options.platform, stages, target: target.index, warnings };
  }

  private error(line: number, message: string, value?: unknown, cause?: unknown): FlotillaError {
    return dockerfileError(this.file, line, message, value, cause);
  }

  /** Runs f, turning a substitution or pattern problem into an error naming the line. */
  private at<T>(line: number, what: string, f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof SyntaxProblem) throw this.error(line, `${what}: ${err.message}`, what, err);
      throw err;
    }
  }

  private targetStage(): Stage {
    const { stages } = this.dockerfile;
    const wanted = this.options.target;
    if (wanted === undefined) return stages[stages.length - 1] as Stage;
    const stage = /^\d+$/.test(wanted)
      ? stages[Number(wanted)]
      : stages.find((s) => s.name === wanted.toLowerCase());
    if (!stage) {
      const names = stages.map((s) => s.name ?? String(s.index));
      throw new FlotillaError(
        'InvalidArgument',
        `target stage "${wanted}" is not in ${this.file}: valid are ${names.join(', ')}`,
        {
          object: `dockerfile/${this.file}`,
          field: 'target',
          value: wanted,
        },
      );
    }
    return stage;
  }

  private planGlobalArgs(instructions: ArgInstruction[]): void {
    for (const instruction of instructions) {
      for (const arg of instruction.args) {
        const lookup: Lookup = (n) => this.globals.get(n) ?? this.platformArgs.get(n);
        const value =
          this.buildArgs.get(arg.name) ??
          (arg.default !== undefined
            ? this.at(instruction.line, `ARG ${arg.name}`, () =>
                expandWord(arg.default ?? '', lookup, this.dockerfile.escape),
              )
            : this.platformArgs.get(arg.name));
        this.globals.set(arg.name, value);
        this.consumed.add(arg.name);
      }
    }
  }

  private stage(index: number): Promise<StagePlan> {
    let planned = this.planned.get(index);
    if (!planned) {
      planned = this.planStage(this.dockerfile.stages[index] as Stage);
      this.planned.set(index, planned);
    }
    return planned;
  }

  /** An earlier stage by name or index, as FROM and COPY --from refer to them. */
  private stageRef(ref: string, current: Stage, line: number): Stage | undefined {
    const { stages } = this.dockerfile;
    if (/^\d+$/.test(ref)) {
      const index = Number(ref);
      if (index >= current.index) {
        const valid = current.index === 0 ? 'this is the first stage' : `valid are 0 to ${current.index - 1}`;
        throw this.error(line, `stage ${index} is not an earlier stage: ${valid}`, ref);
      }
      return stages[index];
    }
    const name = ref.toLowerCase();
    const found = stages.find((s) => s.name === name);
    if (found && found.index >= current.index) {
      throw this.error(
        line,
        `stage "${name}" is defined on line ${found.from.line}, not before this one: a stage can only use earlier stages`,
        ref,
      );
    }
    return found;
  }

  private async resolve(ref: string, line: number, what: string): Promise<ResolvedImage> {
    try {
      return await this.options.resolveImage(ref, this.options.platform);
    } catch (err) {
      // The resolver's own code (NotFound, Unauthenticated...) tells the caller what to do.
      throw new FlotillaError(
        isFlotillaError(err) ? err.code : 'Internal',
        `${this.file}:${line}: ${what}: ${errorMessage(err)}`,
        {
          object: `dockerfile/${this.file}`,
          field: `line ${line}`,
          value: ref,
        },
        { cause: err },
      );
    }
  }

  private async planStage(stage: Stage): Promise<StagePlan> {
    const steps: PlanStep[] = [];
    const state = await this.planBase(stage, steps);
    for (const instruction of stage.instructions) {
      steps.push(await this.planInstruction(stage, instruction, state));
    }
    const last = steps[steps.length - 1] as PlanStep;
    return {
      index: stage.index,
      ...(stage.name !== undefined ? { name: stage.name } : {}),
      steps,
      cacheKey: last.cacheKey,
      config: last.config,
    };
  }

  private async planBase(stage: Stage, steps: PlanStep[]): Promise<StageState> {
    const from = stage.from;
    const globalLookup: Lookup = (n) => this.globals.get(n) ?? this.platformArgs.get(n);
    const image = this.at(from.line, 'FROM', () =>
      expandWord(from.image, globalLookup, this.dockerfile.escape),
    );
    if (image === '')
      throw this.error(
        from.line,
        `FROM ${from.image} is empty after substitution: set the ARG or give a default`,
        from.image,
      );
    if (from.platform !== undefined) {
      const wanted = this.at(from.line, 'FROM --platform', () =>
        expandWord(from.platform ?? '', globalLookup, this.dockerfile.escape),
      );
      const host = platformString(this.options.platform);
      const plain = `${this.options.platform.os}/${this.options.platform.architecture}`;
      if (wanted !== host && wanted !== plain) {
        throw this.error(
          from.line,
          `FROM --platform=${wanted} is not supported: builds run on this host, so the only valid platform is ${host}`,
          wanted,
        );
      }
    }

    let base: BaseSource;
    let config: ContainerConfig;
    let cacheKey: Digest;
    const earlier = image.toLowerCase() === 'scratch' ? undefined : this.stageRef(image, stage, from.line);
    if (image.toLowerCase() === 'scratch') {
      base = { kind: 'scratch' };
      config = { Env: [`PATH=${defaultPathEnv}`] };
      cacheKey = baseCacheKey('scratch', this.options.platform);
    } else if (earlier) {
      const parent = await this.stage(earlier.index);
      base = { kind: 'stage', stage: earlier.index };
      config = structuredClone(parent.config);
      cacheKey = parent.cacheKey;
    } else {
      const resolved = await this.resolve(image, from.line, `FROM ${image}`);
      base = { kind: 'image', ref: resolved.ref, digest: resolved.digest, config: resolved.config };
      config = structuredClone(resolved.config.config ?? {});
      cacheKey = baseCacheKey(resolved.digest, this.options.platform);
    }
    steps.push({
      kind: 'base',
      line: from.line,
      instruction: `FROM ${image}${stage.name !== undefined ? ` AS ${stage.name}` : ''}`,
      cacheKey,
      config: structuredClone(config),
      emptyLayer: true,
      base,
    });
    return { config, args: new Map(), shell: [...defaultShell], cmdSet: false, parent: cacheKey };
  }

  /** Variables for substitution inside a stage: ENV wins over ARG. */
  private stageLookup(state: StageState): Lookup {
    const env = envMap(state.config.Env ?? []);
    return (name) => env.get(name) ?? state.args.get(name);
  }

  private async planInstruction(
    stage: Stage,
    instruction: Instruction,
    state: StageState,
  ): Promise<PlanStep> {
    const escape = this.dockerfile.escape;
    const lookup = this.stageLookup(state);
    const line = instruction.line;
    const word = (what: string, text: string): string =>
      this.at(line, what, () => expandWord(text, lookup, escape));
    const config = state.config;
    let text: string;

    switch (instruction.kind) {
      case 'RUN': {
        const argv = this.argv(instruction.command, state);
        const env = envMap(config.Env ?? []);
        const args: string[] = [];
        const runEnv = [...(config.Env ?? [])];
        for (const [name, value] of state.args) {
          if (value === undefined || env.has(name)) continue;
          runEnv.push(`${name}=${value}`);
          args.push(`${name}=${value}`);
        }
        for (const [name, value] of this.buildArgs) {
          if (proxyArgs.has(name) && !env.has(name) && !state.args.has(name)) runEnv.push(`${name}=${value}`);
        }
        if (!runEnv.some((e) => e.startsWith('PATH='))) runEnv.push(`PATH=${defaultPathEnv}`);
        text = `RUN ${args.length > 0 ? `|${args.length} ${args.join(' ')} ` : ''}${
          instruction.command.form === 'exec' ? JSON.stringify(argv) : argv.join(' ')
        }`;
        return this.step(state, line, 'run', text, {
          args,
          extra: { argv, env: runEnv, user: config.User ?? '', workdir: config.WorkingDir || '/' },
        });
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = this.argv(instruction.command, state);
        if (instruction.kind === 'CMD') {
          config.Cmd = argv;
          state.cmdSet = true;
        } else {
          config.Entrypoint = argv;
          // Docker: an ENTRYPOINT resets the CMD inherited from the base image.
          if (!state.cmdSet) delete config.Cmd;
        }
        return this.step(state, line, 'config', `${instruction.kind} ${JSON.stringify(argv)}`);
      }
      case 'SHELL':
        state.shell = [...instruction.shell];
        return this.step(state, line, 'config', `SHELL ${JSON.stringify(instruction.shell)}`);
      case 'ENV':
      case 'LABEL': {
        // All values are substituted with the variables as they were before this line.
        const pairs = instruction.pairs.map(({ key, value }) => {
          const k = word(`${instruction.kind} ${key}`, key);
          if (k === '')
            throw this.error(line, `${instruction.kind} key ${key} is empty after substitution`, key);
          if (instruction.kind === 'ENV' && k.includes('=')) {
            throw this.error(line, `ENV name ${JSON.stringify(k)} must not contain "="`, k);
          }
          return [k, word(`${instruction.kind} ${k}`, value)] as const;
        });
        for (const [k, v] of pairs) {
          if (instruction.kind === 'ENV') config.Env = setEnv(config.Env ?? [], k, v);
          else config.Labels = { ...config.Labels, [k]: v };
        }
        text = `${instruction.kind} ${pairs.map(([k, v]) => `${k}=${quote(v)}`).join(' ')}`;
        return this.step(state, line, 'config', text);
      }
      case 'ARG': {
        for (const arg of instruction.args) {
          this.consumed.add(arg.name);
          const value =
            this.buildArgs.get(arg.name) ??
            (arg.default !== undefined
              ? word(`ARG ${arg.name}`, arg.default)
              : this.globals.has(arg.name)
                ? this.globals.get(arg.name)
                : this.platformArgs.get(arg.name));
          state.args.set(arg.name, value);
        }
        // The values stay out of the text: a changed value alters only the steps that use it.
        text = `ARG ${instruction.args.map((a) => (a.default !== undefined ? `${a.name}=${a.default}` : a.name)).join(' ')}`;
        return this.step(state, line, 'config', text);
      }
      case 'WORKDIR': {
        const dir = word('WORKDIR', instruction.value);
        if (dir === '')
          throw this.error(
            line,
            `WORKDIR ${instruction.value} is empty after substitution`,
            instruction.value,
          );
        config.WorkingDir = posix.resolve(config.WorkingDir || '/', dir);
        return this.step(state, line, 'config', `WORKDIR ${config.WorkingDir}`);
      }
      case 'USER': {
        const user = word('USER', instruction.value);
        if (
          user === '' ||
          /\s/.test(user) ||
          user.split(':').length > 2 ||
          user.startsWith(':') ||
          user.endsWith(':')
        ) {
          throw this.error(
            line,
            `USER ${JSON.stringify(user)} is not valid: USER user[:group] (names or numeric ids)`,
            user,
          );
        }
        config.User = user;
        return this.step(state, line, 'config', `USER ${user}`);
      }
      case 'STOPSIGNAL': {
        const signal = word('STOPSIGNAL', instruction.value);
        if (!validSignal(signal)) {
          throw this.error(
            line,
            `STOPSIGNAL ${signal} is not a signal: use a name like SIGTERM or SIGQUIT, or a number from 1 to 64`,
            signal,
          );
        }
        config.StopSignal = signal;
        return this.step(state, line, 'config', `STOPSIGNAL ${signal}`);
      }
      case 'EXPOSE': {
        const words = instruction.ports.flatMap((p) =>
          this.at(line, 'EXPOSE', () => expandWords(p, lookup, escape)),
        );
        const ports = words.flatMap((w) => {
          const ports = parsePorts(w);
          if (typeof ports === 'string') throw this.error(line, `EXPOSE ${w}: ${ports}`, w);
          return ports;
        });
        config.ExposedPorts = { ...config.ExposedPorts };
        for (const port of ports) config.ExposedPorts[port] = {};
        return this.step(state, line, 'config', `EXPOSE ${ports.join(' ')}`);
      }
      case 'COPY':
      case 'ADD':
        return this.planCopy(stage, instruction, state, word);
      case 'FROM':
        throw this.error(line, 'FROM inside a stage', instruction.source);
    }
  }

  private argv(command: CommandForm, state: StageState): string[] {
    return command.form === 'exec' ? [...command.argv] : [...state.shell, command.command];
  }

  private step(
    state: StageState,
    line: number,
    kind: 'run' | 'config',
    instruction: string,
    more: { args?: string[]; extra?: { argv: string[]; env: string[]; user: string; workdir: string } } = {},
  ): PlanStep {
    const cacheKey = stepCacheKey({
      parent: state.parent,
      instruction,
      ...(more.args ? { args: more.args } : {}),
    });
    state.parent = cacheKey;
    const common = { line, instruction, cacheKey, config: structuredClone(state.config) };
    if (kind === 'run' && more.extra) return { kind: 'run', ...common, emptyLayer: false, ...more.extra };
    return { kind: 'config', ...common, emptyLayer: true };
  }

  private async planCopy(
    stage: Stage,
    instruction: CopyInstruction,
    state: StageState,
    word: (what: string, text: string) => string,
  ): Promise<PlanStep> {
    const kw = instruction.kind;
    const line = instruction.line;
    const flags: string[] = [];

    let from: CopyFrom = { kind: 'context' };
    let content: string | undefined;
    if (instruction.from !== undefined) {
      const ref = word('COPY --from', instruction.from);
      if (ref === '')
        throw this.error(
          line,
          `COPY --from=${instruction.from} is empty after substitution`,
          instruction.from,
        );
      const earlier = this.stageRef(ref, stage, line);
      if (earlier) {
        const source = await this.stage(earlier.index);
        from = { kind: 'stage', stage: earlier.index };
        content = source.cacheKey;
      } else {
        const resolved = await this.resolve(ref, line, `COPY --from=${ref}`);
        from = { kind: 'image', ref: resolved.ref, digest: resolved.digest };
        content = resolved.digest;
      }
      flags.push(`--from=${ref}`);
    }
    let chown: string | undefined;
    if (instruction.chown !== undefined) {
      chown = word(`${kw} --chown`, instruction.chown);
      if (!/^[^:\s]+(:[^:\s]+)?$/.test(chown)) {
        throw this.error(
          line,
          `${kw} --chown=${chown} is not valid: --chown=user[:group] (names or numeric ids)`,
          chown,
        );
      }
      flags.push(`--chown=${chown}`);
    }
    let chmod: number | undefined;
    if (instruction.chmod !== undefined) {
      const mode = word(`${kw} --chmod`, instruction.chmod);
      if (!/^[0-7]{3,4}$/.test(mode)) {
        throw this.error(line, `${kw} --chmod=${mode} is not valid: an octal mode such as 644 or 0755`, mode);
      }
      chmod = parseInt(mode, 8);
      flags.push(`--chmod=${mode}`);
    }

    const sources = instruction.sources.map((raw) => {
      const source = word(kw, raw);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) || /^git@/.test(source)) {
        throw this.error(
          line,
          kw === 'ADD'
            ? `ADD ${source}: URLs are not supported (no network during builds): put the file in the build context and COPY it`
            : `COPY ${source}: a source cannot be a URL; COPY takes paths in the build context`,
          source,
        );
      }
      if (source === '') throw this.error(line, `${kw} ${raw}: a source is empty after substitution`, raw);
      let clean = cleanPath(source.replace(/^\/+/, ''));
      if (clean === '..' || clean.startsWith('../')) {
        if (from.kind === 'context') {
          throw this.error(line, `${kw} ${source}: the path is outside the build context`, source);
        }
        // In a stage's or image's filesystem, ".." stops at its root, as in a path lookup.
        clean = posix.resolve('/', clean).slice(1) || '.';
      }
      if (hasWildcards(clean)) this.at(line, `${kw} ${source}`, () => globRegex(clean));
      return clean;
    });
    const rawDest = word(kw, instruction.dest);
    if (rawDest === '')
      throw this.error(
        line,
        `${kw}: the destination ${instruction.dest} is empty after substitution`,
        instruction.dest,
      );
    const destIsDir =
      rawDest.endsWith('/') ||
      rawDest === '.' ||
      rawDest.endsWith('/.') ||
      rawDest === '..' ||
      rawDest.endsWith('/..');
    const dest = posix.resolve(state.config.WorkingDir || '/', rawDest);

    let matches: ContextMatch[][] | undefined;
    if (from.kind === 'context') {
      let selection: ContextSelection;
      try {
        selection = await this.options.hashContext({
          sources,
          owner: chown ?? '0:0',
          detectArchives: kw === 'ADD',
        });
      } catch (err) {
        throw new FlotillaError(
          isFlotillaError(err) ? err.code : 'Internal',
          `${this.file}:${line}: ${kw}: reading the build context failed: ${errorMessage(err)}`,
          { object: `dockerfile/${this.file}`, field: `line ${line}`, value: sources },
          { cause: err },
        );
      }
      matches = selection.matches;
      sources.forEach((source, i) => {
        if ((matches?.[i] ?? []).length === 0) {
          throw this.error(
            line,
            hasWildcards(source)
              ? `${kw} ${source}: no file in the build context matches (or every match is excluded by .dockerignore)`
              : `${kw} ${source}: not found in the build context (or excluded by .dockerignore)`,
            source,
          );
        }
      });
      content = selection.digest;
    }
    const count = matches ? matches.reduce((n, m) => n + m.length, 0) : sources.length;
    // For a stage or image source the matches are known only when the executor looks, so
    // it applies the same rule then.
    if (count > 1 && !destIsDir) {
      throw this.error(
        line,
        `${kw} with more than one source file needs a directory destination ending in "/": ${rawDest}/`,
        rawDest,
      );
    }

    const destText = destIsDir && dest !== '/' ? `${dest}/` : dest;
    const text = [kw, ...flags, ...sources, destText].join(' ');
    const cacheKey = stepCacheKey({
      parent: state.parent,
      instruction: text,
      ...(content !== undefined ? { content } : {}),
    });
    state.parent = cacheKey;
    return {
      kind: 'copy',
      line,
      instruction: text,
      cacheKey,
      config: structuredClone(state.config),
      emptyLayer: false,
      add: kw === 'ADD',
      from,
      sources,
      ...(matches ? { matches } : {}),
      dest,
      destIsDir,
      ...(chown !== undefined ? { chown } : {}),
      ...(chmod !== undefined ? { chmod } : {}),
    };
  }
}

/** "K=V" list → map (a later entry wins). */
export function envMap(env: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq < 0) map.set(entry, '');
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

/** Sets K in a "K=V" list, in place of an existing K or appended. */
function setEnv(env: readonly string[], key: string, value: string): string[] {
  const entry = `${key}=${value}`;
  const index = env.findIndex((e) => e === key || e.startsWith(`${key}=`));
  if (index < 0) return [...env, entry];
  const next = [...env];
  next[index] = entry;
  return next;
}

/** A value as it can be written back in a Dockerfile (for history). */
function quote(value: string): string {
  return value === '' || /[\s"'\\$]/.test(value) ? JSON.stringify(value) : value;
}

function validSignal(signal: string): boolean {
  if (/^\d+$/.test(signal)) return Number(signal) >= 1 && Number(signal) <= 64;
  const name = signal.toUpperCase().replace(/^SIG/, '');
  return (
    signalNames.has(name) || /^RTMIN(\+([1-9]|1[0-5]))?$/.test(name) || /^RTMAX(-([1-9]|1[0-4]))?$/.test(name)
  );
}

/** "8080", "8080/tcp", "53/udp", "8000-8002" → ["8080/tcp"...], or why not. */
export function parsePorts(spec: string): string[] | string {
  const match = /^(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(spec);
  if (!match) return 'not a port: use PORT, PORT/tcp, PORT/udp or PORT/sctp (or a range START-END)';
  const protocol = (match[3] ?? 'tcp').toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(protocol))
    return `unknown protocol ${match[3]}: valid are tcp, udp and sctp`;
  const start = Number(match[1]);
  const end = match[2] !== undefined ? Number(match[2]) : start;
  if (start < 1 || end > 65535 || end < start)
    return 'ports are 1 to 65535, and a range goes from low to high';
  const ports: string[] = [];
  for (let p = start; p <= end; p++) ports.push(`${p}/${protocol}`);
  return ports;
}
