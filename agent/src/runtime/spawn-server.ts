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

/**
 * What the server does itself rather than run to completion (spawn-server.py says how):
 * start a daemonising command with a sync pipe (conmon), mount(2)/umount2(2), and a named
 * netns as `ip netns add|delete` makes and removes it. Answered as a command: code 0, or a
 * CommandError whose code is the errno name.
 */
export type ServerOp =
  | {
      op: 'detached';
      argv: string[];
      /** null inherits the server's environment (the agent's at its start). */
      env: Record<string, string> | null;
      cwd: string;
      /** The env var that gets the sync pipe's fd number. */
      syncPipeEnv: string;
    }
  | { op: 'mount'; source: string; target: string; fstype: string; flags: number; data: string | null }
  | { op: 'umount'; target: string; flags: number }
  | { op: 'netns-add' | 'netns-delete'; name: string };

interface Reply {
  id: number | null;
  code?: number | null;
  signal?: number | null;
  stdout?: string;
  stderr?: string;
  error?: string;
  message?: string;
}

const fromBase64 = (text: string | undefined): string => Buffer.from(text ?? '', 'base64').toString('utf8');

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
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CommandError(err.code ?? 'EIO', err.message));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new CommandError('ETIMEDOUT', `timed out after ${options.timeoutMs} ms`, stdout, stderr));
        return;
      }
      resolve({ code, signal: signal === null ? null : constants.signals[signal], stdout, stderr });
    });
    // A command that exits without reading its input is not an error of ours (EPIPE).
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export class SpawnServer {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (r: CommandResult) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private buffered = '';
  private broken = false;
  private readonly log: Logger;

  constructor(private readonly options: { python?: string; logger?: Logger } = {}) {
    this.log = options.logger ?? createLogger({ component: 'spawn-server' });
  }

  run(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    const child = this.broken ? undefined : this.ensureStarted();
    if (!child) return spawnDirect(file, args, options);
    return this.send(child, {
      argv: [file, ...args],
      env: options.env ?? null,
      stdin: options.input === undefined ? null : Buffer.from(options.input).toString('base64'),
      timeoutMs: options.timeoutMs ?? null,
    });
  }

  /** False once python3 could not start: ops then have no server (callers fall back). */
  get available(): boolean {
    return !this.broken;
  }

  /** Carries out op in the server; rejects with a CommandError (errno name) when it failed. */
  op(request: ServerOp): Promise<CommandResult> {
    const child = this.broken ? undefined : this.ensureStarted();
    if (!child) return Promise.reject(new CommandError('ENOSYS', 'the spawn server is not running'));
    return this.send(child, request);
  }

  private send(child: ChildProcessWithoutNullStreams, body: object): Promise<CommandResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.holdLoop(true);
      child.stdin.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  /** Ends the server; commands under way finish, their answers are not awaited. */
  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }

  private ensureStarted(): ChildProcessWithoutNullStreams | undefined {
    if (this.child) return this.child;
    // -I -S: no site module, user site or PYTHON* variables (the script needs the standard
    // library only): ~3 MB less RSS with a pyenv python, ~0.1 MB with Debian's.
    // MALLOC_ARENA_MAX=1: one glibc malloc arena instead of one per thread that ran a
    // command (the server runs each in a thread): ~0.6 MB less RSS with 30 containers, the
    // same pod start latency (the containers bench). Unless the agent has the variable
    // itself, the server unsets it at start (--unset-env), so that the commands it runs
    // inherit exactly the agent's environment, as when spawned directly.
    const own = process.env.MALLOC_ARENA_MAX === undefined;
    const args = ['-I', '-S', spawnServerScriptPath, ...(own ? ['--unset-env=MALLOC_ARENA_MAX'] : [])];
    const child = spawn(this.options.python ?? defaultPython(), args, {
      env: own ? { ...process.env, MALLOC_ARENA_MAX: '1' } : process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.onData(chunk));
    child.stderr.on('data', (d: Buffer) => this.log.warn('spawn server said', { text: d.toString().trim() }));
    child.stdin.on('error', () => undefined);
    child.once('error', (err) => {
      // python3 missing or not runnable: spawn directly from now on.
      this.broken = true;
      this.log.warn('spawn server could not start; spawning commands directly', { err: err.message });
      this.failPending(err.message);
    });
    this.holdLoop(false);
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.pending.size > 0) {
        this.log.warn('spawn server exited with commands under way', {
          code,
          signal,
          pending: this.pending.size,
        });
        this.failPending(`the spawn server exited (${signal ?? code})`);
      }
    });
    return child;
  }

  /**
   * The server's pipes keep the event loop alive only while commands are under way, so an
   * idle server never keeps a finished agent (or a test) from exiting.
   */
  private holdLoop(hold: boolean): void {
    const child = this.child;
    if (!child) return;
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

  private failPending(why: string): void {
    for (const { reject } of this.pending.values()) reject(new CommandError('EPIPE', why));
    this.pending.clear();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      if (line.trim() === '') continue;
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        this.log.warn('spawn server printed a line that is not JSON', { line: line.slice(0, 200) });
        continue;
      }
      const waiter = reply.id === null ? undefined : this.pending.get(reply.id);
      if (!waiter || reply.id === null) continue;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.holdLoop(false);
      if (reply.error !== undefined) {
        waiter.reject(
          new CommandError(
            reply.error,
            reply.message ?? reply.error,
            fromBase64(reply.stdout),
            fromBase64(reply.stderr),
          ),
        );
      } else {
        waiter.resolve({
          code: reply.code ?? null,
          signal: reply.signal ?? null,
          stdout: fromBase64(reply.stdout),
          stderr: fromBase64(reply.stderr),
        });
      }
    }
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
