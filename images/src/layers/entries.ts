// What goes into a layer tar, decided from what a directory walk saw: pure, so the overlay
// conversions (whiteouts, opaque directories), hard links and refusals are unit-tested
// without a file system.
import { invalidArgument } from '@flotilla/common';
import { opaqueMarker, whiteoutPrefix } from './overlay-fs.js';

export type LayerEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'fifo';

/** One tar entry of a layer. */
export interface LayerEntry {
  /** Relative, "/"-separated, no leading "/" or "./" ("etc/passwd"). */
  path: string;
  type: LayerEntryType;
  /** Permission bits including setuid, setgid and sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  /** file: bytes of content (read from source, or data). */
  size?: number;
  /** symlink: the target as stored; hardlink: the layer path of the first link. */
  linkTarget?: string;
  /** file: absolute path to read the content from. */
  source?: string;
  /** file: the content itself (for small generated files). */
  data?: Buffer;
}

export type FsNodeKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

/** What a directory walk saw at one path (lstat, readlink and overlay attributes). */
export interface FsNode {
  /** Relative to the walked directory, "/"-separated ("" is the directory itself). */
  path: string;
  /** Absolute path on disk. */
  abs: string;
  kind: FsNodeKind;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  dev: number;
  ino: number;
  nlink: number;
  rdev: number;
  linkTarget?: string;
  opaque?: boolean;
  redirect?: string;
  metacopy?: boolean;
}

export interface PlanOptions {
  /** Read the directory as an overlay upper dir: whiteouts and opaque dirs become OCI markers. */
  overlay: boolean;
  /** Prepended to every path ("srv/app"); the walked directory itself becomes this entry. */
  prefix?: string;
  /** Every entry gets this owner (COPY --chown). */
  owner?: { uid: number; gid: number };
  /** Every entry gets this mtime, so unchanged content gives an unchanged digest. */
  mtime?: Date;
}

/** Hard-link bookkeeping across one walk: inode → the layer path first written for it. */
export type LinkTable = Map<string, string>;

function joinPath(prefix: string | undefined, path: string): string {
  if (prefix === undefined || prefix === '') return path;
  return path === '' ? prefix : `${prefix}/${path}`;
}

function baseName(path: string): { dir: string; name: string } {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? { dir: '', name: path } : { dir: path.slice(0, slash), name: path.slice(slash + 1) };
}

/** Linux's dev_t as "major:minor". */
function deviceNumber(rdev: number): string {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  return `${major}:${minor}`;
}

/** Normalises a layer path prefix ("/srv/app/" → "srv/app"); refuses "..". */
export function normalisePrefix(prefix: string | undefined): string | undefined {
  if (prefix === undefined) return undefined;
  const parts = prefix.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw invalidArgument(`layer path prefix "${prefix}" must not contain ".."`, {
      field: 'prefix',
      value: prefix,
    });
  }
  return parts.join('/');
}

/**
 * The tar entries for one walked node, in order (a directory, then its opaque marker).
 * Returns [] for what a layer leaves out (the walked root unless prefixed, sockets).
 */
export function planEntries(node: FsNode, links: LinkTable, options: PlanOptions): LayerEntry[] {
  if (node.path === '' && !options.prefix) return [];
  const path = joinPath(options.prefix, node.path);
  const owner = options.owner ?? { uid: node.uid, gid: node.gid };
  const base = {
    path,
    mode: node.mode & 0o7777,
    uid: owner.uid,
    gid: owner.gid,
    mtime: options.mtime ?? node.mtime,
  };
  if (options.overlay && node.redirect !== undefined) {
    throw invalidArgument(
      `${node.abs} is a renamed directory (overlay redirect "${node.redirect}"): mount the rootfs with redirect_dir=off to diff it`,
      { object: node.abs, field: 'trusted.overlay.redirect', value: node.redirect },
    );
  }
  if (options.overlay && node.metacopy) {
    throw invalidArgument(
      `${node.abs} is a metadata-only copy-up (overlay metacopy): mount the rootfs with metacopy=off to diff it`,
      { object: node.abs, field: 'trusted.overlay.metacopy' },
    );
  }
  switch (node.kind) {
    case 'directory': {
      const dir: LayerEntry = { ...base, type: 'directory' };
      if (!options.overlay || !node.opaque) return [dir];
      return [dir, { ...base, path: `${path}/${opaqueMarker}`, type: 'file', mode: 0o600, size: 0 }];
    }
    case 'file': {
      if (node.nlink > 1) {
        const key = `${node.dev}:${node.ino}`;
        const first = links.get(key);
        if (first !== undefined) return [{ ...base, type: 'hardlink', linkTarget: first, size: 0 }];
        links.set(key, path);
      }
      return [{ ...base, type: 'file', size: node.size, source: node.abs }];
    }
    case 'symlink':
      return [{ ...base, type: 'symlink', linkTarget: node.linkTarget ?? '', size: 0 }];
    case 'fifo':
      return [{ ...base, type: 'fifo', size: 0 }];
    case 'socket':
      // A socket is only meaningful to the process that bound it; tar cannot hold one.
      return [];
    case 'char':
      if (options.overlay && node.rdev === 0) {
        const { dir, name } = baseName(path);
        const wh = dir === '' ? `${whiteoutPrefix}${name}` : `${dir}/${whiteoutPrefix}${name}`;
        return [{ ...base, path: wh, type: 'file', mode: 0o600, size: 0 }];
      }
      break;
    case 'block':
      break;
  }
  throw invalidArgument(
    `${node.abs} is a device node (${node.kind} ${deviceNumber(node.rdev)}); layers may not hold devices`,
    { object: node.abs, field: 'type', value: node.kind },
  );
}
