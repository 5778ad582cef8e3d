// Walks a directory tree in a fixed order (parents first, siblings sorted by name) without
// following symlinks, so the same tree always yields the same tar. The calls are
// synchronous, as in the layer applier: per-entry metadata calls where the async API's
// thread-pool round trip would cost more than the call.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { FsNode, FsNodeKind } from './entries.js';
import type { OverlayAttrs } from './overlay-fs.js';

function kindOf(stat: Stats): FsNodeKind {
  if (stat.isDirectory()) return 'directory';
  if (stat.isFile()) return 'file';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isCharacterDevice()) return 'char';
  if (stat.isBlockDevice()) return 'block';
  return 'socket';
}

export interface WalkOptions {
  /** Overlay attributes by absolute path (from readOverlayAttrs), for upper dirs. */
  attrs?: Map<string, OverlayAttrs>;
  /** Leaves out a path (and, for a directory, everything under it) when it returns false. */
  filter?: (path: string, kind: FsNodeKind) => boolean;
}

function nodeAt(root: string, path: string, options: WalkOptions): FsNode {
  const abs = path === '' ? root : join(root, path);
  const stat = lstatSync(abs);
  const kind = kindOf(stat);
  const attrs = options.attrs?.get(abs);
  return {
    path,
    abs,
    kind,
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    // tar headers hold whole seconds; dropping the fraction here keeps digests stable.
    mtime: new Date(Math.floor(stat.mtimeMs / 1000) * 1000),
    size: kind === 'file' ? stat.size : 0,
    dev: stat.dev,
    ino: stat.ino,
    nlink: stat.nlink,
    rdev: stat.rdev,
    linkTarget: kind === 'symlink' ? readlinkSync(abs) : undefined,
    opaque: attrs?.opaque,
    redirect: attrs?.redirect,
    metacopy: attrs?.metacopy,
  };
}

/** Yields root itself (path "") and then everything under it, depth first. */
export async function* walkTree(root: string, options: WalkOptions = {}): AsyncGenerator<FsNode> {
  const top = nodeAt(root, '', options);
  yield top;
  if (top.kind === 'directory') yield* walkChildren(root, '', options);
}

async function* walkChildren(root: string, dir: string, options: WalkOptions): AsyncGenerator<FsNode> {
  const names = readdirSync(dir === '' ? root : join(root, dir)).sort(byBytes);
  for (const name of names) {
    const path = dir === '' ? name : `${dir}/${name}`;
    const node = nodeAt(root, path, options);
    if (options.filter !== undefined && !options.filter(path, node.kind)) continue;
    yield node;
    if (node.kind === 'directory') yield* walkChildren(root, path, options);
  }
}

/** Byte order of the UTF-8 names, as Go's archive walkers sort: independent of locale. */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
