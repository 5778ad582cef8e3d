// Runs OCI bundles with runc under conmon. conmon daemonises and holds each container's
// stdio, log file and exit code, so containers outlive the agent; everything this class
// knows it reads back from disk (runc's root, conmon's exit files), which is how a new
// runner over the same roots re-adopts what an earlier one started.
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlotillaError, createLogger, errorMessage, type Logger } from '@flotilla/common';
import { conmonArgs, containerPaths } from './paths.js';
import { runAgentCommand, startDetached } from '../spawn-server.js';
import { RuncStateReader } from './runc-state.js';
import { decideState, joinStates, parseExitFile } from './state.js';
import type { ContainerState, ExitRecord, RunnerRoots } from './types.js';

export interface ContainerRunnerOptions extends RunnerRoots {
  /** Default "/usr/sbin/runc"; conmon needs an absolute path. */
  runc?: string;
  /** Default "conmon" from PATH. */
  conmon?: string;
  logger?: Logger;
  /** How often waits look for the exit file; 25 ms by default. */
  pollMs?: number;
}

export interface CreateContainerInput {
  id: string;
  /** A bundle directory holding config.json and the root file system. */
  bundle: string;
  /** The CRI log file; default container.log in the container's persist dir. */
  logPath?: string;
  /** Rotate the log file past this many bytes. */
  logSizeMax?: number;
  /** config.json has process.terminal: conmon holds the terminal's master side. */
  terminal?: boolean;
  /** Keep the container's stdin open for attach (conmon -i). */
  stdin?: boolean;
  /** Close stdin when the first attach that wrote to it ends. */
  stdinOnce?: boolean;
}

export interface CreatedContainer {
  id: string;
  /** The container's init process on the host. */
  pid: number;
  logPath: string;
}

/** conmon's sync pipe message: {"data": pid} or {"data": -1, "message": "..."}. */
function parseSyncMessage(text: string): { data: number; message?: string } | undefined {
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = JSON.parse(line) as { data?: unknown; message?: unknown };
    if (typeof parsed.data === 'number') {
      return {
        data: parsed.data,
        ...(typeof parsed.message === 'string' ? { message: parsed.message } : {}),
      };
    }
  }
  return undefined;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class ContainerRunner {
  private readonly roots: RunnerRoots;
  private readonly runc: string;
  private readonly conmon: string;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly runcStates: RuncStateReader;
  /** The runner's own directories made (ensureRoots); undefined: made by the next create. */
  private rootsReady: Promise<void> | undefined;
  /** Stops under way, by container ID: when their grace ends (epoch ms), which a later stop may move earlier. */
  private readonly stopping = new Map<string, { deadline: { at: number }; done: Promise<ExitRecord> }>();

  constructor(options: ContainerRunnerOptions) {
    this.roots = { runcRoot: options.runcRoot, stateDir: options.stateDir };
    this.runcStates = new RuncStateReader(options.runcRoot);
    this.runc = options.runc ?? '/usr/sbin/runc';
    this.conmon = options.conmon ?? 'conmon';
    this.log = options.logger ?? createLogger({ component: 'conmon-runner' });
    this.pollMs = options.pollMs ?? 25;
  }

  /**
   * The runner's own directories (exits, attach sockets, runc's root): made by the first
   * create, not by every one; a failed create forgets them, so the next one makes them.
   */
  private ensureRoots(paths: { exitDir: string; socketDir: string }): Promise<void> {
    if (this.rootsReady === undefined) {
      const ready = Promise.all([
        mkdir(paths.exitDir, { recursive: true }),
        mkdir(paths.socketDir, { recursive: true }),
        mkdir(this.roots.runcRoot, { recursive: true }),
      ]).then(() => undefined);
      this.rootsReady = ready;
      ready.catch(() => {
        if (this.rootsReady === ready) this.rootsReady = undefined;
      });
    }
    return this.rootsReady;
  }

  private runcArgs(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runAgentCommand(this.runc, ['--root', this.roots.runcRoot, ...args]);
  }

  /**
   * Creates the container under a new conmon (runc create) and returns once its init
   * process exists. conmon reports through the sync pipe: the pid, or runc's error.
   */
  async create(input: CreateContainerInput): Promise<CreatedContainer> {
    const paths = containerPaths(this.roots, input.id);
    const logPath = input.logPath ?? paths.defaultLogPath;
    await Promise.all([this.ensureRoots(paths), mkdir(paths.persistDir, { recursive: true })]);
    // A stale exit file from an earlier container of this ID would read as its exit.
    await rm(paths.exitFile, { force: true });
    const args = conmonArgs({
      id: input.id,
      bundle: input.bundle,
      logPath,
      runc: this.runc,
      roots: this.roots,
      ...(input.logSizeMax !== undefined ? { logSizeMax: input.logSizeMax } : {}),
      ...(input.terminal !== undefined ? { terminal: input.terminal } : {}),
      ...(input.stdin !== undefined ? { stdin: input.stdin } : {}),
      ...(input.stdinOnce !== undefined ? { stdinOnce: input.stdinOnce } : {}),
    });
    let syncText: string;
    try {
      // conmon also drops an "oom" file in its working directory; keep it in ours.
      ({ syncText } = await startDetached(this.conmon, args, {
        cwd: paths.persistDir,
        syncPipeEnv: '_OCI_SYNCPIPE',
      }));
    } catch (err) {
      this.rootsReady = undefined;
      throw new FlotillaError(
        'FailedPrecondition',
        `could not start conmon (${this.conmon}): ${errorMessage(err)}; install Debian's conmon`,
        { object: `container/${input.id}` },
        { cause: err },
      );
    }
    const message = parseSyncMessage(syncText);
    if (message === undefined || message.data < 0) {
      // Made again by the next create, in case they were removed under us.
      this.rootsReady = undefined;
      const why = message?.message?.trim() ?? 'conmon exited without reporting';
      throw new FlotillaError('FailedPrecondition', `container ${input.id} could not be created: ${why}`, {
        object: `container/${input.id}`,
        field: 'bundle',
        value: input.bundle,
      });
    }
    this.log.debug('container created', { container: input.id, pid: message.data });
    return { id: input.id, pid: message.data, logPath };
  }

  /** Starts a created container's process (runc start). */
  async start(id: string): Promise<void> {
    containerPaths(this.roots, id);
    const result = await this.runcArgs(['start', id]);
    if (result.code !== 0) {
      throw new FlotillaError('FailedPrecondition', `runc start ${id} failed: ${result.stderr.trim()}`, {
        object: `container/${id}`,
      });
    }
  }

  /** create + start. */
  async run(input: CreateContainerInput): Promise<CreatedContainer> {
    const created = await this.create(input);
    await this.start(input.id);
    return created;
  }

  private async readExit(id: string): Promise<ExitRecord | undefined> {
    const paths = containerPaths(this.roots, id);
    let text: string;
    let finishedAt: Date;
    try {
      const [content, info] = await Promise.all([readFile(paths.exitFile, 'utf8'), stat(paths.exitFile)]);
      text = content;
      finishedAt = info.mtime;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    // conmon creates the file and then writes it; an empty one is not finished yet.
    if (text.trim() === '') return undefined;
    // conmon watches the memory cgroup's OOM events and leaves an "oom" file when one hit.
    let oomKilled = true;
    try {
      await stat(join(paths.persistDir, 'oom'));
    } catch (err) {
      if (!isMissing(err)) throw err;
      oomKilled = false;
    }
    return { exitCode: parseExitFile(id, text), finishedAt, oomKilled };
  }

  /**
   * Every container of this runner: runc's state (read as runc list would) joined with
   * conmon's exit files; with only, just the containers whose id it accepts.
   */
  async list(only?: (id: string) => boolean): Promise<ContainerState[]> {
    const entries = await this.runcStates.list(only);
    let exitIds: string[] = [];
    try {
      exitIds = await readdir(join(this.roots.stateDir, 'exits'));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    if (only !== undefined) exitIds = exitIds.filter(only);
    const exits = new Map<string, ExitRecord>();
    for (const id of exitIds) {
      const exit = await this.readExit(id);
      if (exit !== undefined) exits.set(id, exit);
    }
    return joinStates(entries, exits);
  }

  /** One container's state. */
  async state(id: string): Promise<ContainerState> {
    const exit = await this.readExit(id);
    if (exit !== undefined) return decideState(id, undefined, exit);
    const all = await this.list((other) => other === id);
    return all.find((s) => s.id === id) ?? decideState(id, undefined, undefined);
  }

  /** Waits until conmon recorded the exit, or timeoutMs passed (then undefined). */
  async waitExit(id: string, timeoutMs: number): Promise<ExitRecord | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const exit = await this.readExit(id);
      if (exit !== undefined || Date.now() >= deadline) return exit;
      await sleep(this.pollMs);
    }
  }

  private async kill(id: string, signal: 'TERM' | 'KILL'): Promise<void> {
    const result = await this.runcArgs(['kill', id, signal]);
    // Already gone is what we wanted.
    if (result.code !== 0 && !/not running|does not exist|process already finished/i.test(result.stderr)) {
      throw new FlotillaError('Internal', `runc kill ${id} ${signal} failed: ${result.stderr.trim()}`, {
        object: `container/${id}`,
      });
    }
  }

  /**
   * SIGTERM, up to graceSeconds for the process to end, then SIGKILL; resolves with the
   * exit conmon recorded. A stop of a container whose stop is already under way does not
   * wait behind it: it joins it, and a shorter grace cuts it short (never longer), as a
   * kubelet deletion with a smaller grace does to a termination in progress.
   */
  async stop(id: string, graceSeconds: number): Promise<ExitRecord> {
    containerPaths(this.roots, id);
    const under = this.stopping.get(id);
    if (under !== undefined) {
      this.shortenStop(id, graceSeconds);
      return under.done;
    }
    const deadline = { at: Date.now() + Math.max(0, graceSeconds) * 1000 };
    const done = this.stopOnce(id, graceSeconds, deadline).finally(() => {
      if (this.stopping.get(id)?.deadline === deadline) this.stopping.delete(id);
    });
    this.stopping.set(id, { deadline, done });
    return done;
  }

  /**
   * Moves the end of the grace of a stop under way to at most graceSeconds from now; true
   * when that moved it earlier. Nothing starts a stop here.
   */
  shortenStop(id: string, graceSeconds: number): boolean {
    const under = this.stopping.get(id);
    const deadline = Date.now() + Math.max(0, graceSeconds) * 1000;
    if (under === undefined || deadline >= under.deadline.at) return false;
    this.log.info('a shorter grace cuts a stop under way short', { container: id, graceSeconds });
    under.deadline.at = deadline;
    return true;
  }

  private async stopOnce(id: string, graceSeconds: number, deadline: { at: number }): Promise<ExitRecord> {
    const already = await this.readExit(id);
    if (already !== undefined) return already;
    await this.kill(id, 'TERM');
    // The grace is read again on every poll: a later, shorter stop moves it earlier.
    let exit: ExitRecord | undefined;
    for (;;) {
      exit = await this.readExit(id);
      if (exit !== undefined || Date.now() >= deadline.at) break;
      await sleep(Math.min(this.pollMs, Math.max(1, deadline.at - Date.now())));
    }
    if (exit === undefined) {
      this.log.info('grace period over: killing the container', { container: id, graceSeconds });
      await this.kill(id, 'KILL');
      // SIGKILL cannot be ignored; this only waits for conmon to reap and write.
      exit = await this.waitExit(id, 10_000);
    }
    if (exit === undefined) {
      throw new FlotillaError('Internal', `container ${id} did not exit after SIGKILL`, {
        object: `container/${id}`,
      });
    }
    return exit;
  }

  /** Kills (if needed) and deletes the container and every file this layer keeps for it. */
  async remove(id: string): Promise<void> {
    const paths = containerPaths(this.roots, id);
    const result = await this.runcArgs(['delete', '--force', id]);
    if (result.code !== 0 && !/does not exist|not exist|container not found/i.test(result.stderr)) {
      throw new FlotillaError('Internal', `runc delete --force ${id} failed: ${result.stderr.trim()}`, {
        object: `container/${id}`,
      });
    }
    await rm(paths.exitFile, { force: true });
    await rm(paths.persistDir, { recursive: true, force: true });
    // conmon links <socket dir>/<id> to the bundle; the bundle itself is its owner's.
    await rm(join(paths.socketDir, id), { force: true }).catch((err: unknown) =>
      this.log.warn('could not remove the attach socket link', { container: id, err: errorMessage(err) }),
    );
  }
}
