// What `runc list` reports, read from runc's root directly. runc keeps each container's
// state in <root>/<id>/state.json and derives the status the same way every time: the init
// process (pid and kernel start time recorded at create) still alive means created while
// the exec fifo that `runc start` opens still exists, running after; anything else is
// stopped (paused, from the freezer cgroup, is not derived: the agent never pauses).
// Reading that costs a few file reads instead of a runc process (~15–80 ms of CPU
// each on this machine, and the agent's reconcile passes need one per pass).
// Written for runc 1.1 (Debian 12); test/integration/agent-conmon.test.ts checks it
// against `runc list` for created, running and stopped containers.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuncEntry } from './types.js';

/** The fields of /proc/<pid>/stat the status needs. */
export interface PidStat {
  /** R, S, D, Z, X… */
  state: string;
  /** Clock ticks after boot (field 22). */
  startTime: number;
}

/** /proc/<pid>/stat → state and start time; the command name may hold spaces and parens. */
export function parseProcPidStat(text: string): PidStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After "pid (comm) ": field 3 (state) is the first, field 22 (starttime) the twentieth.
  const fields = text.slice(close + 2).split(' ');
  const state = fields[0];
  const startTime = Number(fields[19]);
  if (!state || !Number.isFinite(startTime)) return undefined;
  return { state, startTime };
}

/** runc's status rule (libcontainer's currentStatus), pure. */
export function decideRuncStatus(
  recordedStart: number,
  proc: PidStat | undefined,
  execFifoExists: boolean,
): 'created' | 'running' | 'stopped' {
  if (proc === undefined || proc.startTime !== recordedStart || proc.state === 'Z' || proc.state === 'X') {
    return 'stopped';
  }
  return execFifoExists ? 'created' : 'running';
}

interface StateFile {
  id?: unknown;
  init_process_pid?: unknown;
  init_process_start?: unknown;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

interface InitProcess {
  pid: number;
  start: number;
}

/**
 * Reads runc's root as `runc list` would. state.json holds the whole OCI config (~33 KB
 * each), and the init process in it changes only when runc writes the file again, so it is
 * parsed once per write (by mtime and size) rather than on every reconcile pass.
 */
export class RuncStateReader {
  private readonly seen = new Map<string, { mtimeMs: number; size: number; init: InitProcess | undefined }>();

  constructor(private readonly root: string) {}

  /**
   * Every container under the root, sorted by id; with only, those whose id it accepts (a
   * pod's own runs: the others' files are not read).
   */
  async list(only?: (id: string) => boolean): Promise<RuncEntry[]> {
    let ids: string[];
    try {
      ids = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const present = new Set(ids);
    for (const id of this.seen.keys()) if (!present.has(id)) this.seen.delete(id);
    const wanted = only === undefined ? ids : ids.filter(only);
    const entries = await Promise.all(wanted.map((id) => this.entry(id)));
    return entries.filter((e): e is RuncEntry => e !== undefined).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** One container's entry; undefined while runc is still writing or already removed it. */
  private async entry(id: string): Promise<RuncEntry | undefined> {
    const init = await this.initProcess(id);
    if (init === undefined) return undefined;
    const procText = init.pid > 0 ? await readOptional(`/proc/${init.pid}/stat`) : undefined;
    const proc = procText === undefined ? undefined : parseProcPidStat(procText);
    const status = decideRuncStatus(init.start, proc, await exists(join(this.root, id, 'exec.fifo')));
    return { id, status, pid: status === 'stopped' ? 0 : init.pid };
  }

  private async initProcess(id: string): Promise<InitProcess | undefined> {
    const file = join(this.root, id, 'state.json');
    let info: { mtimeMs: number; size: number };
    try {
      info = await stat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const cached = this.seen.get(id);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.init;
    const text = await readOptional(file);
    const init = text === undefined ? undefined : parseInitProcess(text);
    if (init !== undefined) this.seen.set(id, { mtimeMs: info.mtimeMs, size: info.size, init });
    return init;
  }
}

/** state.json → the init process; undefined for a file that does not parse. */
export function parseInitProcess(text: string): InitProcess | undefined {
  let state: StateFile;
  try {
    state = JSON.parse(text) as StateFile;
  } catch {
    // runc writes state.json by rename, so a torn file is not expected; skip it this pass.
    return undefined;
  }
  return {
    pid: typeof state.init_process_pid === 'number' ? state.init_process_pid : 0,
    start: typeof state.init_process_start === 'number' ? state.init_process_start : -1,
  };
}

/** Every container under runc's root, as `runc list` would list them (no caching). */
export function readRuncStates(root: string): Promise<RuncEntry[]> {
  return new RuncStateReader(root).list();
}
