// A command run inside a running container, non-interactively (`runc exec`), its output
// captured: what exec probes use. Interactive exec (a terminal, stdin) lives elsewhere.
import { spawn } from 'node:child_process';
import { FlotillaError } from '@flotilla/common';
import { validateContainerId } from './paths.js';

export interface ExecCaptureOptions {
  /** Kill the command after this long (SIGTERM through runc, then SIGKILL 1 s later). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Keep at most this many bytes of each stream (default 64 KiB). */
  maxOutputBytes?: number;
  env?: string[];
}

export interface ExecCaptureResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs argv in container id (runc --root runcRoot exec). The exit code is the command's;
 * runc's own failures (no such container, executable not found) come back as a non-zero
 * exit with runc's message on stderr. Throws only when runc itself cannot be started.
 */
export function execCapture(
  runc: string,
  runcRoot: string,
  id: string,
  argv: readonly string[],
  options: ExecCaptureOptions,
): Promise<ExecCaptureResult> {
  validateContainerId(id);
  if (argv.length === 0 || argv[0] === '') {
    return Promise.reject(
      new FlotillaError('InvalidArgument', 'exec needs a command: argv[0] is empty', {
        object: `container/${id}`,
        field: 'argv',
      }),
    );
  }
  const max = options.maxOutputBytes ?? 64 * 1024;
  const envArgs = (options.env ?? []).flatMap((e) => ['--env', e]);
  return new Promise((resolve, reject) => {
    const child = spawn(runc, ['--root', runcRoot, 'exec', ...envArgs, '--', id, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      if (outBytes < max) out.push(d.subarray(0, max - outBytes));
      outBytes += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      if (errBytes < max) err.push(d.subarray(0, max - errBytes));
      errBytes += d.length;
    });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const terminate = (): void => {
      // runc exec forwards SIGTERM to the command; SIGKILL only ends runc itself.
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 1_000);
      killTimer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, options.timeoutMs);
    timer.unref();
    const onAbort = (): void => terminate();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      reject(
        new FlotillaError(
          'FailedPrecondition',
          `could not run ${runc}: ${e.message}`,
          { object: `container/${id}` },
          { cause: e },
        ),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
      resolve({
        exitCode,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}
