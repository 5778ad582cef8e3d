// Mounts left under the data directory (container root filesystems, once the agent runs
// containers): `deploy down` must leave none behind.
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** mountinfo escapes blanks and backslashes as octal. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below dir, deepest first. Pure, over /proc/self/mountinfo text. */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const root = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMount)
    .filter((p) => p === root || p.startsWith(root + '/'));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export async function listMountsUnder(dir: string): Promise<string[]> {
  return mountsUnder(await readFile('/proc/self/mountinfo', 'utf8'), dir);
}

/** Unmounts everything below dir; returns what could not be unmounted. */
export async function unmountUnder(dir: string): Promise<{ unmounted: string[]; failed: string[] }> {
  const unmounted: string[] = [];
  const failed: string[] = [];
  for (const point of await listMountsUnder(dir)) {
    try {
      await run('umount', [point]);
      unmounted.push(point);
    } catch {
      try {
        // Busy: detach it now; the kernel frees it when its last user goes.
        await run('umount', ['-l', point]);
        unmounted.push(point);
      } catch {
        failed.push(point);
      }
    }
  }
  return { unmounted, failed };
}
