// Looking into a rootfs from outside it: paths resolved the way a process chrooted into it
// would see them (symlinks followed inside the root, ".." stopping at the root), so an
// image's absolute symlink like /etc/passwd -> /etc/shadow never reads the host's file.
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '@flotilla/common';
import { maxSymlinks } from '../snapshots/paths.js';
import type { AccountFiles } from '../runc/oci-config.js';

export type RootPathKind = 'dir' | 'file' | 'symlink' | 'other' | 'missing';

export interface RootPath {
  /** The real path's components under the root ([] is the root). */
  parts: string[];
  kind: RootPathKind;
}

/**
 * Resolves path inside root. Every symlink on the way is followed (the last one too
 * unless followLast is false); from the first missing component on, the rest is taken
 * literally. A non-directory in the middle is refused.
 */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<RootPath> {
  let resolved: string[] = [];
  const queue = path.split('/').filter((p) => p !== '' && p !== '.');
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    let stat;
    try {
      stat = await lstat(join(root, ...candidate));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const rest: string[] = [...candidate];
      for (const p of queue) {
        if (p === '..') rest.pop();
        else if (p !== '' && p !== '.') rest.push(p);
      }
      return { parts: rest, kind: 'missing' };
    }
    const last = queue.length === 0;
    if (stat.isSymbolicLink() && (!last || followLast)) {
      if (++links > maxSymlinks) {
        throw failedPrecondition(`too many levels of symbolic links resolving ${path}`, { value: path });
      }
      const target = await readlink(join(root, ...candidate));
      if (target.startsWith('/')) resolved = [];
      queue.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    if (!last && !stat.isDirectory()) {
      throw failedPrecondition(
        `/${candidate.join('/')} is not a directory (resolving ${path} in the image)`,
        {
          value: path,
        },
      );
    }
    resolved = candidate;
    if (last) {
      const kind: RootPathKind = stat.isDirectory()
        ? 'dir'
        : stat.isFile()
          ? 'file'
          : stat.isSymbolicLink()
            ? 'symlink'
            : 'other';
      return { parts: resolved, kind };
    }
  }
  return { parts: resolved, kind: 'dir' };
}

/** A regular file of the rootfs, or undefined when it is missing (or not a file). */
export async function readFileInRoot(root: string | undefined, path: string): Promise<string | undefined> {
  if (root === undefined) return undefined;
  let found: RootPath;
  try {
    found = await resolveInRoot(root, path);
  } catch {
    return undefined;
  }
  if (found.kind !== 'file') return undefined;
  return readFile(join(root, ...found.parts), 'utf8');
}

/** /etc/passwd and /etc/group of a rootfs (undefined root: an empty image). */
export async function accountFiles(root: string | undefined): Promise<AccountFiles> {
  const [passwd, group] = await Promise.all([
    readFileInRoot(root, '/etc/passwd'),
    readFileInRoot(root, '/etc/group'),
  ]);
  return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
}
