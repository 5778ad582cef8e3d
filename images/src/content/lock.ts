// A lock file shared between processes: created with O_EXCL, holding the owner's PID so
// a lock left by a process that died is recognised and taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LockOptions {
  signal?: AbortSignal;
  /** How often to look again while another live process holds the lock. */
  pollMs?: number;
  /** Checked while waiting: when it returns true the wait ends without the lock. */
  done?: () => Promise<boolean>;
}

export type Release = () => Promise<void>;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function holder(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock at path, waiting while a live process holds it. Returns the release
 * function, or undefined when options.done reported the work finished by someone else.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<Release | undefined> {
  const pollMs = options.pollMs ?? 50;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(String(process.pid));
      } finally {
        await handle.close();
      }
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (options.done !== undefined && (await options.done())) return undefined;
    const pid = await holder(path);
    // A lock file still empty is being written by its creator: give it a moment.
    if (pid !== undefined && !pidAlive(pid)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    await sleep(pollMs, undefined, options.signal ? { signal: options.signal } : {});
  }
}
