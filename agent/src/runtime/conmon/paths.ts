// The file layout of a runner and the conmon command line, as pure functions: the runner
// and a restarted agent must agree on every path, so both come from here.
import { invalidArgument } from '@flotilla/common';
import { join } from 'node:path';
import type { ContainerPaths, RunnerRoots } from './types.js';

// runc accepts more, but the ID also names files and an attach socket path (108 bytes
// for a unix socket), so keep it short and free of path separators.
const containerIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Throws unless id can name a runc container and this layer's files. */
export function validateContainerId(id: string): void {
  if (!containerIdPattern.test(id)) {
    throw invalidArgument(
      `container ID ${JSON.stringify(id)} must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit`,
      { object: `container/${id}`, field: 'id', value: id },
    );
  }
}

export function containerPaths(roots: RunnerRoots, id: string): ContainerPaths {
  validateContainerId(id);
  const exitDir = join(roots.stateDir, 'exits');
  const persistDir = join(roots.stateDir, 'containers', id);
  return {
    exitDir,
    exitFile: join(exitDir, id),
    persistDir,
    pidFile: join(persistDir, 'pid'),
    conmonPidFile: join(persistDir, 'conmon.pid'),
    defaultLogPath: join(persistDir, 'container.log'),
    socketDir: join(roots.stateDir, 'sockets'),
  };
}

export interface ConmonArgsInput {
  id: string;
  bundle: string;
  logPath: string;
  /** Rotate the CRI log file past this many bytes; none when undefined. */
  logSizeMax?: number;
  runc: string;
  roots: RunnerRoots;
  /** config.json has process.terminal: conmon takes the terminal's master side (-t). */
  terminal?: boolean;
  /** Keep a pipe (or the terminal) open to the container's stdin for attach (-i). */
  stdin?: boolean;
  /** Close that stdin when the first attached client goes away; otherwise it stays open. */
  stdinOnce?: boolean;
}

/** conmon's arguments to create a container with runc (the caller then runs `runc start`). */
export function conmonArgs(input: ConmonArgsInput): string[] {
  const paths = containerPaths(input.roots, input.id);
  const args = [
    '--api-version',
    '1',
    '-c',
    input.id,
    '-u',
    input.id,
    '-n',
    input.id,
    '-r',
    input.runc,
    '-b',
    input.bundle,
    '-p',
    paths.pidFile,
    '-P',
    paths.conmonPidFile,
    '-l',
    `k8s-file:${input.logPath}`,
    '--exit-dir',
    paths.exitDir,
    '-0',
    paths.persistDir,
    '--socket-dir-path',
    paths.socketDir,
    // Every runc call conmon makes must see this runner's root, or a restarted agent
    // (and runc list) would not find the container.
    '--runtime-arg',
    `--root=${input.roots.runcRoot}`,
  ];
  if (input.logSizeMax !== undefined) {
    if (!Number.isInteger(input.logSizeMax) || input.logSizeMax <= 0) {
      throw invalidArgument(`log size limit ${input.logSizeMax} must be a positive whole number of bytes`, {
        object: `container/${input.id}`,
        field: 'logSizeMax',
        value: input.logSizeMax,
      });
    }
    args.push('--log-size-max', String(input.logSizeMax));
  }
  if (input.terminal === true) args.push('--terminal');
  if (input.stdin === true) {
    args.push('--stdin');
    // conmon closes the container's stdin when an attached client disconnects, unless
    // told to leave it open: that is stdinOnce's behaviour, so only stdinOnce omits it.
    if (input.stdinOnce !== true) args.push('--leave-stdin-open');
  }
  return args;
}

/**
 * Where a client reaches a container's main process: conmon links <socket dir>/<id> to the
 * bundle and listens there on "attach" (SOCK_SEQPACKET; each packet from conmon starts
 * with a byte naming the stream, 2 stdout, 3 stderr; writes are stdin), and reads terminal
 * resizes ("1 <rows> <cols>\n") from the "ctl" fifo beside it.
 */
export function attachPaths(roots: RunnerRoots, id: string): { dir: string; socket: string; ctl: string } {
  let dir = join(containerPaths(roots, id).socketDir, id);
  // conmon shortens a link path of exactly 107 bytes by one, so the socket beside it fits.
  if (Buffer.byteLength(dir) === 107) dir = dir.slice(0, -1);
  return { dir, socket: join(dir, 'attach'), ctl: join(dir, 'ctl') };
}
