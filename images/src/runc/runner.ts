// Runs one container to completion with runc: writes the bundle's config.json, starts
// `runc run` in the foreground with the container's stdout and stderr piped to the caller,
// and always deletes the container afterwards — on failure and on abort too (the abort
// kills it first). Also reads the host limits the config generator clamps to.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError, createLogger, errorMessage, type Logger } from '@flotilla/common';
import { parseProcLimits } from './oci-config.js';
import type { HostLimits, OciSpec } from './types.js';

export interface RuncOptions {
  /** The runc binary; default "runc" from PATH. */
  runc?: string;
  /** runc's state directory (--root): one per agent or build store. */
  root: string;
  logger?: Logger;
}

export interface RunContainerOptions extends RuncOptions {
  /** The bundle directory: config.json is written here. */
  bundle: string;
  /** Container ID, unique within root. */
  id: string;
  spec: OciSpec;
  /** The container's stdout and stderr, as they arrive. */
  output: (chunk: Buffer) => void;
  signal?: AbortSignal;
}

export interface ContainerExit {
  /** The process's exit code (128 + signal number when a signal ended it). */
  exitCode: number;
}

/** The limits of this process, from /proc/self/limits. */
export async function readHostLimits(): Promise<HostLimits> {
  return parseProcLimits(await readFile('/proc/self/limits', 'utf8'));
}

interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a runc subcommand that returns quickly (kill, delete, list). */
export function runcCommand(options: RuncOptions, args: string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.runc ?? 'runc', ['--root', options.root, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The IDs of the containers runc knows under root. */
export async function listContainers(options: RuncOptions): Promise<{ id: string; status: string }[]> {
  const result = await runcCommand(options, ['list', '--format', 'json']);
  if (result.code !== 0) {
    throw new FlotillaError('Internal', `runc list failed: ${result.stderr.trim()}`, {
      object: options.root,
    });
  }
  const parsed: unknown = JSON.parse(result.stdout.trim() || 'null');
  if (!Array.isArray(parsed)) return [];
  return parsed
    .filter((c): c is { id: string; status: string } => typeof (c as { id?: unknown }).id === 'string')
    .map((c) => ({ id: c.id, status: String(c.status) }));
}

/** Kills and removes a container; a container that does not exist is not an error. */
export async function deleteContainer(options: RuncOptions, id: string): Promise<void> {
  const result = await runcCommand(options, ['delete', '--force', id]);
  if (result.code !== 0 && !/does not exist|not exist|container not found/i.test(result.stderr)) {
    throw new FlotillaError('Internal', `runc delete --force ${id} failed: ${result.stderr.trim()}`, {
      object: `container/${id}`,
    });
  }
}

/** Runs the container and waits for it; throws only when runc itself could not run it. */
export async function runContainer(options: RunContainerOptions): Promise<ContainerExit> {
  const log = (options.logger ?? createLogger({ component: 'runc' })).child({ container: options.id });
  options.signal?.throwIfAborted();
  await writeFile(join(options.bundle, 'config.json'), `${JSON.stringify(options.spec, null, 2)}\n`, {
    mode: 0o600,
  });
  const child = spawn(
    options.runc ?? 'runc',
    ['--root', options.root, 'run', '--bundle', options.bundle, options.id],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (d: Buffer) => options.output(d));
  child.stderr.on('data', (d: Buffer) => options.output(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  );
  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    log.info('aborting: killing the container');
    // runc kill reaches the container's init; killing runc itself would orphan it.
    void runcCommand(options, ['kill', options.id, 'KILL']).catch((err: unknown) =>
      log.warn('runc kill failed', { err }),
    );
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const { code, signal, error } = await exited;
    if (aborted) options.signal?.throwIfAborted();
    if (error !== undefined) {
      throw new FlotillaError(
        'FailedPrecondition',
        `could not start runc (${options.runc ?? 'runc'}): ${error.message}; install Debian's runc`,
        { object: `container/${options.id}` },
        { cause: error },
      );
    }
    if (code === null) {
      throw new FlotillaError('Internal', `runc run ${options.id} was killed by ${signal ?? 'a signal'}`, {
        object: `container/${options.id}`,
      });
    }
    return { exitCode: code };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) {
      // Only reached when awaiting failed oddly; never leave runc running.
      child.kill('SIGKILL');
      await exited;
    }
    await deleteContainer(options, options.id).catch((err: unknown) =>
      log.warn('could not delete the container', { err: errorMessage(err) }),
    );
  }
}
