// Interactive processes in a running container: `runc exec` with pipes, or with a real
// pseudo-terminal (runc -t hands the terminal's master over a console socket, which the
// python3 relay receives and resizes), and attach to the main process through conmon's
// attach socket. Each is a StdioSession: output events, stdin, resize, and how it ended.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { FlotillaError } from '@flotilla/common';
import { attachPaths, validateContainerId } from './paths.js';
import { RelayProcess } from './stdio-relay.js';
import type { RunnerRoots } from './types.js';

export interface SessionEnd {
  /** The process's exit code (128 + n when signal n ended it); -1 when it never ran. */
  exitCode: number;
  /** Completed, Error, or why the process could not run. */
  reason: string;
}

export interface SessionEvents {
  stdout: [Buffer];
  stderr: [Buffer];
}

/** One interactive process: what it writes, what it is given, how it ends. */
export interface StdioSession extends EventEmitter<SessionEvents> {
  write(data: Uint8Array): void;
  /** End of stdin (a pipe is closed; a terminal gets its EOF character). */
  closeStdin(): void;
  resize(rows: number, cols: number): void;
  /** Resolves once the process (exec) or the connection (attach) ended. */
  readonly done: Promise<SessionEnd>;
  /** Ends the session early: an exec'd process is killed, an attach disconnects. */
  cancel(): Promise<void>;
}

export interface ExecOptions {
  /** runc's path and --root: the runner's. */
  runc: string;
  runcRoot: string;
  containerId: string;
  command: string[];
  tty: boolean;
  /** Give the process a stdin (otherwise /dev/null). */
  stdin: boolean;
  size?: { rows: number; cols: number };
  /** Default "python3". */
  python?: string;
}

function reasonOf(exitCode: number): string {
  return exitCode === 0 ? 'Completed' : 'Error';
}

function signalCode(signal: NodeJS.Signals | null): number {
  const n = signal === null ? undefined : osConstants.signals[signal];
  return n === undefined ? -1 : 128 + n;
}

async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

class ExecSession extends EventEmitter<SessionEvents> implements StdioSession {
  readonly done: Promise<SessionEnd>;
  private finished = false;
  private stdinPipe: Writable | undefined;
  private relay: RelayProcess | undefined;
  private killRunner: () => void = () => undefined;

  constructor(
    private readonly options: ExecOptions,
    private readonly dir: string,
  ) {
    super();
    this.done = (options.tty ? this.startTty() : this.startPipes()).finally(() => {
      this.finished = true;
      return rm(this.dir, { recursive: true, force: true });
    });
  }

  private get pidFile(): string {
    return join(this.dir, 'pid');
  }

  private runcArgs(tty: boolean): string[] {
    return [
      '--root',
      this.options.runcRoot,
      'exec',
      // runc passes a terminal's master on only when it detaches; the relay reaps the process.
      ...(tty ? ['--detach', '--tty', '--console-socket', join(this.dir, 'console.sock')] : []),
      '--pid-file',
      this.pidFile,
      this.options.containerId,
      ...this.options.command,
    ];
  }

  /** How a run that never wrote its pid file failed: runc's last words. */
  private async endOf(exitCode: number, runcStderr: string): Promise<SessionEnd> {
    if ((await readPid(this.pidFile)) !== undefined) return { exitCode, reason: reasonOf(exitCode) };
    const why = runcStderr.trim().split('\n').pop() ?? '';
    return {
      exitCode: exitCode === 0 ? -1 : exitCode,
      reason: `could not run the command: ${why || 'runc failed'}`,
    };
  }

  private startPipes(): Promise<SessionEnd> {
    const child = spawn(this.options.runc, this.runcArgs(false), {
      stdio: [this.options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.killRunner = () => child.kill('SIGKILL');
    if (this.options.stdin && child.stdin) {
      this.stdinPipe = child.stdin;
      // The process may exit without reading all of it.
      child.stdin.on('error', () => undefined);
    }
    let stderrTail = '';
    (child.stdout as Readable).on('data', (d: Buffer) => this.emit('stdout', d));
    (child.stderr as Readable).on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-2048);
      this.emit('stderr', d);
    });
    return new Promise<SessionEnd>((resolve) => {
      child.once('error', (err) =>
        resolve({ exitCode: -1, reason: `could not start runc (${this.options.runc}): ${err.message}` }),
      );
      child.once('close', (code, signal) => {
        resolve(this.endOf(code ?? signalCode(signal), stderrTail));
      });
    });
  }

  private startTty(): Promise<SessionEnd> {
    const size = this.options.size;
    const relay = new RelayProcess(
      [
        'exec-tty',
        this.dir,
        String(size?.rows ?? 0),
        String(size?.cols ?? 0),
        this.pidFile,
        '--',
        this.options.runc,
        ...this.runcArgs(true),
      ],
      this.options.python !== undefined ? { python: this.options.python } : {},
    );
    this.relay = relay;
    this.killRunner = () => relay.stop();
    let stderrTail = '';
    let failure = '';
    let exitCode: number | undefined;
    relay.on('stdout', (d) => this.emit('stdout', d));
    relay.on('stderr', (d) => {
      stderrTail = (stderrTail + d.toString()).slice(-2048);
      this.emit('stderr', d);
    });
    relay.on('failure', (why) => (failure ||= why));
    relay.on('exit', (code) => (exitCode = code));
    return new Promise<SessionEnd>((resolve) => {
      relay.once('close', () => {
        if (exitCode === undefined) {
          resolve({ exitCode: -1, reason: `the terminal relay failed: ${failure || 'it exited early'}` });
        } else resolve(this.endOf(exitCode, stderrTail));
      });
    });
  }

  write(data: Uint8Array): void {
    if (this.finished) return;
    if (this.relay) this.relay.write(data);
    else this.stdinPipe?.write(data);
  }

  closeStdin(): void {
    if (this.finished) return;
    if (this.relay) this.relay.closeStdin();
    else this.stdinPipe?.end();
  }

  resize(rows: number, cols: number): void {
    if (!this.finished) this.relay?.resize(rows, cols);
  }

  async cancel(): Promise<void> {
    if (this.finished) return;
    // The process itself, by the pid runc wrote: killing runc would orphan it.
    const pid = await readPid(this.pidFile);
    if (pid !== undefined) killPid(pid);
    else {
      this.killRunner();
      // runc may have started it just before it died.
      const late = await readPid(this.pidFile);
      if (late !== undefined) killPid(late);
    }
    await this.done;
  }
}

/** Runs command in the container; resolves once runc was started. */
export async function startExec(options: ExecOptions): Promise<StdioSession> {
  validateContainerId(options.containerId);
  if (options.command.length === 0) {
    throw new FlotillaError('InvalidArgument', 'exec needs a command: command is empty', {
      object: `container/${options.containerId}`,
      field: 'command',
    });
  }
  // A short directory of its own: the console socket's path must fit in 108 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'flt-exec-'));
  return new ExecSession(options, dir);
}

export interface AttachOptions {
  roots: RunnerRoots;
  containerId: string;
  python?: string;
}

class AttachSession extends EventEmitter<SessionEvents> implements StdioSession {
  readonly done: Promise<SessionEnd>;

  constructor(private readonly relay: RelayProcess) {
    super();
    let failure = '';
    relay.on('stdout', (d) => this.emit('stdout', d));
    relay.on('stderr', (d) => this.emit('stderr', d));
    relay.on('failure', (why) => (failure ||= why));
    this.done = new Promise<SessionEnd>((resolve) =>
      relay.once('close', () =>
        resolve(failure ? { exitCode: -1, reason: failure } : { exitCode: 0, reason: 'Completed' }),
      ),
    );
  }

  write(data: Uint8Array): void {
    this.relay.write(data);
  }

  closeStdin(): void {
    this.relay.closeStdin();
  }

  resize(rows: number, cols: number): void {
    this.relay.resize(rows, cols);
  }

  async cancel(): Promise<void> {
    this.relay.stop();
    await this.done;
  }
}

/**
 * Connects to the main process of a container conmon runs. done resolves when conmon
 * closes the connection (the container ended) or the session was cancelled; its exit
 * code is the connection's, not the container's (PodRuntimeView.waitExit has that).
 */
export async function attachContainer(options: AttachOptions): Promise<StdioSession> {
  const paths = attachPaths(options.roots, options.containerId);
  const relay = new RelayProcess(
    ['attach', paths.dir],
    options.python !== undefined ? { python: options.python } : {},
  );
  let failure = '';
  relay.on('failure', (why) => (failure ||= why));
  const session = new AttachSession(relay);
  await relay.connected;
  if (failure !== '') {
    await session.done;
    throw new FlotillaError(
      'FailedPrecondition',
      `cannot attach to container ${options.containerId} at ${paths.socket}: ${failure}`,
      { object: `container/${options.containerId}` },
    );
  }
  return session;
}
