// The rootfs of a container as mount data: overlayfs over a chain of snapshots plus a
// writable upper dir. The caller (mount(8) or the OCI runtime) does the mounting.
import { invalidArgument } from '@flotilla/common';
import type { MountSpec, SnapshotInfo } from '../types.js';

/** mount(2) copies at most one page of option data. */
export const maxMountData = 4095;

function checkPath(path: string, field: string): void {
  // overlayfs splits its options on "," and lowerdir on ":"; neither can be escaped through
  // mount(2) data in every kernel.
  if (path.includes(',') || path.includes(':') || !path.startsWith('/')) {
    throw invalidArgument(
      `${field} "${path}" must be an absolute path without "," or ":" to be used by overlayfs`,
      {
        field,
        value: path,
      },
    );
  }
}

/**
 * The mount for a rootfs over chain (bottom first, topmost last). With upperDir (and
 * workDir) it is writable; without, read-only. overlayfs lists lowerdir topmost first.
 * Cases overlayfs cannot express are bind mounts: one snapshot and no upper dir (a
 * read-only overlay needs two lower dirs) and no snapshot at all (FROM scratch).
 *
 * redirect_dir=off: a renamed lower directory is copied up whole instead of recorded as a
 * redirect, so the upper dir alone is the container's diff (diffLayer relies on it).
 */
export function rootfsMount(
  chain: readonly Pick<SnapshotInfo, 'path'>[],
  upperDir?: string,
  workDir?: string,
): MountSpec {
  const lowers = chain.map((s) => s.path).reverse();
  lowers.forEach((p, i) => checkPath(p, `chain[${chain.length - 1 - i}].path`));
  if (upperDir !== undefined) {
    checkPath(upperDir, 'upperDir');
    if (lowers.length === 0) return { type: 'bind', source: upperDir, options: ['rbind', 'rw'] };
    if (workDir === undefined) {
      throw invalidArgument('a writable overlay needs workDir beside upperDir (same file system, empty)', {
        field: 'workDir',
      });
    }
    checkPath(workDir, 'workDir');
    return overlay([
      `lowerdir=${lowers.join(':')}`,
      `upperdir=${upperDir}`,
      `workdir=${workDir}`,
      'redirect_dir=off',
    ]);
  }
  if (lowers.length === 0) {
    throw invalidArgument(
      'a read-only rootfs needs at least one snapshot (an image with no layers needs an upperDir)',
      {
        field: 'chain',
        value: 0,
      },
    );
  }
  if (lowers.length === 1) return { type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] };
  return overlay([`lowerdir=${lowers.join(':')}`]);
}

function overlay(options: string[]): MountSpec {
  const data = options.join(',');
  if (Buffer.byteLength(data) > maxMountData) {
    throw invalidArgument(
      `the overlay options for this rootfs are ${Buffer.byteLength(data)} bytes, over the kernel's ${maxMountData}: ` +
        'the image has too many layers for this snapshot root (use a shorter root path or squash layers)',
      { field: 'lowerdir', value: Buffer.byteLength(data) },
    );
  }
  return { type: 'overlay', source: 'overlay', options };
}
