// Runs short commands (CNI plugins, ip, runc start/kill/delete) to completion, through
// agent/libexec/spawn-server.py once the agent turned it on: a spawn from the agent's own
// process forks all of it, which stops the event loop ~3–10 ms per command on this
// machine (0.8 ms from a 49 MB process, 4 ms from a 130 MB one) and made up 3.9 of 9.0 s
// of the agent's busy time while 40 pods started and stopped. Without the server (tests,
// or python3 failing to start) commands are spawned directly, with the same results.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '@flotilla/common';
import { defaultPython } from './python.js';
import {
  decodeReply,
  encodeRequest,
  splitFrames,
  type ServerOp,
  type SpawnRequest,
} from './spawn-server-frames.js';

export const spawnServerScriptPath = fileURLToPath(new URL('../../libexec/spawn-server.py', import.meta.url));

export interface CommandOptions {
  /** The whole environment; undefined inherits the agent's. */
  env?: Record<string, string>;
  /** Written to the command's stdin; undefined gives it /dev/null. */
  input?: string;
  /** Killed (SIGKILL) after this long; the result is then an ETIMEDOUT error. */
  timeoutMs?: number;
}

export interface CommandResult {
  /** null when a signal ended it. */
  code: number | null;
  signal: number | null;
  stdout: string;
  stderr: string;
}

/** The command could not be run: code is the errno name (ENOENT, EACCES, ETIMEDOUT…). */
export class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly stdout = '',
    readonly stderr = '',
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export type { ServerOp } from './spawn-server-frames.js';

/** Spawns the command from this process: the fallback, and what runs without the server. */
export function spawnDirect(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    // Decoded once at the end: a character split across two chunks stays whole.
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8');
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.stdout?.on('data', (d: Buffer) => stdout.push(d));
    child.stderr?.on('data', (d: Buffer) => stderr.push(d));
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CommandError(err.code ?? 'EIO', err.message));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new CommandError(
            'ETIMEDOUT',
            `timed out after ${options.timeoutMs} ms`,
            text(stdout),
            text(stderr),
          ),
        );
        return;
      }
      resolve({
        code,
        signal: signal === null ? null : constants.signals[signal],
        stdout: text(stdout),
        stderr: text(stderr),
      });
    });
    // A command that exits without reading its input is not an error of ours (EPIPE).
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

interface Waiter {
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
}

/**
 * One server process and the answers it owes. Each has its own: after close() a new
 * process may start while the old one still answers what it had under way.
 */
class ServerProcess {
  readonly pending = new Map<number, Waiter>();
  /** What came on its stdout and is not a whole frame yet. */
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(
    readonly child: ChildProcessWithoutNullStreams,
    private readonly log: Logger,
  ) {
    child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.holdLoop(false);
  }

  send(id: number, frame: Buffer, waiter: Waiter): void {
    this.pending.set(id, waiter);
    this.holdLoop(true);
    this.child.stdin.write(frame);
  }

  failPending(why: string): void {
    for (const { reject } of this.pending.values()) reject(new CommandError('EPIPE', why));
    this.pending.clear();
    this.holdLoop(false);
  }

  /**
   * The server's pipes keep the event loop alive only while commands are under way, so an
   * idle server never keeps a finished agent (or a test) from exiting.
   */
  private holdLoop(hold: boolean): void {
    const child = this.child;
    for (const stream of [child.stdin, child.stdout, child.stderr] as unknown as {
      ref?(): void;
      unref?(): void;
    }[]) {
      if (hold) stream.ref?.();
      else stream.unref?.();
    }
    if (hold) child.ref();
    else child.unref();
  }

  private onData(chunk: Buffer): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    // Joined only once a whole frame is there: a big answer is copied once, not per chunk.
    if (this.bufferedBytes < 4) return;
    let head = this.buffered[0];
    if (head === undefined) return;
    if (head.length < 4) head = Buffer.concat(this.buffered);
    if (this.bufferedBytes < 4 + head.readUInt32LE(0)) return;
    const { bodies, rest } = splitFrames(
      this.buffered.length === 1 ? head : Buffer.concat(this.buffered, this.bufferedBytes),
    );
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    for (const body of bodies) this.onReply(body);
  }

  private onReply(body: Buffer): void {
    let reply;
    try {
      reply = decodeReply(body);
    } catch (err) {
      this.log.warn('spawn server sent a malformed frame', { err: (err as Error).message });
      return;
    }
    const waiter = reply.id === null ? undefined : this.pending.get(reply.id);
    if (waiter === undefined || reply.id === null) {
      if (reply.error !== null) this.log.warn('spawn server refused a request', { message: reply.message });
      return;
    }
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.holdLoop(false);
    if (reply.error !== null) {
      waiter.reject(new CommandError(reply.error, reply.message ?? reply.error, reply.stdout, reply.stderr));
    } else {
      waiter.resolve({ code: reply.code, signal: reply.signal, stdout: reply.stdout, stderr: reply.stderr });
    }
  }
}

export class SpawnServer {
  private server: ServerProcess | undefined;
  private nextId = 1;
  private broken = false;
  private readonly log: Logger;

  constructor(private readonly options: { python?: string; logger?: Logger } = {}) {
    this.log = options.logger ?? createLogger({ component: 'spawn-server' });
  }

  run(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    const server = this.broken ? undefined : this.ensureStarted();
    if (!server) return spawnDirect(file, args, options);
    return this.send(server, {
      op: 'run',
      argv: [file, ...args],
      env: options.env ?? null,
      stdin: options.input ?? null,
      timeoutMs: options.timeoutMs ?? null,
    });
  }

  /** False once python3 could not start: ops then have no server (callers fall back). */
  get available(): boolean {
    return !this.broken;
  }

  /** Carries out op in the server; rejects with a CommandError (errno name) when it failed. */
  op(request: ServerOp): Promise<CommandResult> {
    const server = this.broken ? undefined : this.ensureStarted();
    if (!server) return Promise.reject(new CommandError('ENOSYS', 'the spawn server is not running'));
    return this.send(server, request);
  }

  private send(server: ServerProcess, request: SpawnRequest): Promise<CommandResult> {
    const id = this.nextId++;
    let frame: Buffer;
    try {
      frame = encodeRequest(id, request);
    } catch (err) {
      // A NUL in argv or env: what the server said of it when it took JSON.
      return Promise.reject(new CommandError('EINVAL', (err as Error).message));
    }
    return new Promise((resolve, reject) => server.send(id, frame, { resolve, reject }));
  }

  /** Ends the server; commands under way finish, their answers are not awaited. */
  close(): void {
    this.server?.child.stdin.end();
    this.server = undefined;
  }

  private ensureStarted(): ServerProcess | undefined {
    if (this.server) return this.server;
    // -I -S: no site module, user site or PYTHON* variables (the script needs the standard
    // library only): ~3 MB less RSS with a pyenv python, ~0.1 MB with Debian's. The server
    // has one thread, so one malloc arena without MALLOC_ARENA_MAX, and the commands it
    // runs inherit exactly the agent's environment, as when spawned directly.
    const child = spawn(this.options.python ?? defaultPython(), ['-I', '-S', spawnServerScriptPath], {
      env: process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child, this.log);
    this.server = server;
    child.stderr.on('data', (d: Buffer) => this.log.warn('spawn server said', { text: d.toString().trim() }));
    child.stdin.on('error', () => undefined);
    child.once('error', (err) => {
      // python3 missing or not runnable: spawn directly from now on.
      this.broken = true;
      if (this.server === server) this.server = undefined;
      this.log.warn('spawn server could not start; spawning commands directly', { err: err.message });
      server.failPending(err.message);
    });
    child.once('exit', () => {
      if (this.server === server) this.server = undefined;
    });
    // After its exit and the end of its stdout: answers written just before it exited
    // (after close(), when what was under way finished) are still read.
    child.once('close', (code, signal) => {
      if (server.pending.size === 0) return;
      this.log.warn('spawn server exited with commands under way', {
        code,
        signal,
        pending: server.pending.size,
      });
      server.failPending(`the spawn server exited (${signal ?? code})`);
    });
    return server;
  }
}

let shared: SpawnServer | undefined;

/** The agent turns the server on at start (and off at stop); until then commands spawn directly. */
export function useSpawnServer(server: SpawnServer | undefined): void {
  shared?.close();
  shared = server;
}

/** Runs a command to completion: through the spawn server when on, else directly. */
export function runAgentCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return shared ? shared.run(file, args, options) : spawnDirect(file, args, options);
}

/** The server when it is on and able to carry out ops; undefined means "do it another way". */
export function agentSpawnServer(): SpawnServer | undefined {
  return shared?.available === true ? shared : undefined;
}

export interface DetachedOptions {
  /** The whole environment; undefined inherits the agent's. */
  env?: Record<string, string>;
  cwd: string;
  /** The env var that tells the command the sync pipe's fd number (conmon: _OCI_SYNCPIPE). */
  syncPipeEnv: string;
}

/**
 * Starts a command that daemonises (conmon) in a new session, stdio on /dev/null, with a
 * sync pipe; resolves with what it wrote to the pipe up to the first newline (or the pipe's
 * end: it died). Through the spawn server when on, so the agent's own process is not
 * forked (~10 ms of blocked event loop each, from an 80 MB process); else from here.
 */
export async function startDetached(
  file: string,
  args: readonly string[],
  options: DetachedOptions,
): Promise<{ syncText: string }> {
  const server = agentSpawnServer();
  if (server === undefined) return startDetachedDirect(file, args, options);
  const result = await server.op({
    op: 'detached',
    argv: [file, ...args],
    env: options.env ?? null,
    cwd: options.cwd,
    syncPipeEnv: options.syncPipeEnv,
  });
  return { syncText: result.stdout };
}

/** startDetached from this process: the fallback, and what runs without the server. */
export function startDetachedDirect(
  file: string,
  args: readonly string[],
  options: DetachedOptions,
): Promise<{ syncText: string }> {
  // fd 3 is the sync pipe. No pipe on stderr: the daemon would keep it and die of SIGPIPE
  // writing to it once we close our end; errors come through the sync pipe.
  const child = spawn(file, args, {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...(options.env ?? process.env), [options.syncPipeEnv]: '3' },
    cwd: options.cwd,
    detached: true,
  });
  const sync = child.stdio[3] as Readable;
  let syncText = '';
  return new Promise((resolve, reject) => {
    const finish = (err?: NodeJS.ErrnoException): void => {
      sync.destroy();
      child.unref();
      if (err !== undefined) reject(new CommandError(err.code ?? 'EIO', err.message));
      else resolve({ syncText });
    };
    child.once('error', (err: NodeJS.ErrnoException) => finish(err));
    // One newline-terminated message; the pipe's end (the command died) ends it too.
    sync.on('data', (d: Buffer) => {
      syncText += d.toString();
      if (syncText.includes('\n')) finish();
    });
    sync.once('end', () => finish());
    sync.once('close', () => finish());
  });
}
