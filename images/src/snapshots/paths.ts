// How a tar entry's name maps into a layer: normalised under the root (never above it), and
// the OCI whiteout names recognised. Pure, so every odd name is unit-tested.
import { opaqueMarker, whiteoutPrefix } from '../layers/overlay-fs.js';

/**
 * The path components of a tar entry name, relative to the layer root: leading "/" and
 * "./" dropped, "." and empty components removed, ".." applied lexically. Undefined when
 * ".." climbs above the root.
 */
export function entryParts(name: string): string[] | undefined {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts;
}

export type EntryName =
  /** A file-system entry at parts ([] is the root itself). */
  | { kind: 'path'; parts: string[] }
  /** ".wh.<name>": delete parent/<name> of the layers below. */
  | { kind: 'whiteout'; parent: string[]; name: string }
  /** ".wh..wh..opq": parent's content in the layers below is hidden. */
  | { kind: 'opaque'; parent: string[] }
  /** Another ".wh..wh." name (AUFS bookkeeping such as ".wh..wh.plnk"): ignored. */
  | { kind: 'meta' }
  /** Climbs out of the root. */
  | { kind: 'escape' };

export function classifyEntryName(name: string): EntryName {
  const parts = entryParts(name);
  if (parts === undefined) return { kind: 'escape' };
  const base = parts.at(-1);
  if (base === undefined || !base.startsWith(whiteoutPrefix)) return { kind: 'path', parts };
  const parent = parts.slice(0, -1);
  if (base === opaqueMarker) return { kind: 'opaque', parent };
  if (base.startsWith(`${whiteoutPrefix}${whiteoutPrefix}`)) return { kind: 'meta' };
  const target = base.slice(whiteoutPrefix.length);
  // ".wh." and ".wh.." name nothing real; ".wh.." was also folded away by entryParts.
  if (target === '' || target === '.' || target === '..') return { kind: 'meta' };
  return { kind: 'whiteout', parent, name: target };
}

/** What is at a path while resolving it (in the layer being written or the layers below). */
export type PathStep =
  { kind: 'dir' } | { kind: 'symlink'; target: string } | { kind: 'missing' } | { kind: 'other' };

export type ResolvedPath =
  | { kind: 'ok'; parts: string[] }
  /** parts does not exist (its parent does, as resolved). */
  | { kind: 'missing'; parts: string[] }
  /** The path climbs above the root through ".." (at: the symlink, or the name, that did). */
  | { kind: 'escape'; at: string[]; target?: string }
  | { kind: 'loop'; at: string[] }
  | { kind: 'notdir'; at: string[] };

/** Linux gives up after 40 symlinks in one lookup (ELOOP); so do we. */
export const maxSymlinks = 40;

/**
 * Resolves every component of parts to a real directory, the way a process chrooted into
 * the layer root would: symlinks are followed inside the root (absolute targets start at
 * the root), never outside it — a ".." that would climb above the root is refused rather
 * than clamped. step tells what is at a (resolved) path; it is the only I/O.
 */
export async function resolveWithin(
  parts: readonly string[],
  step: (parts: string[]) => PathStep | Promise<PathStep>,
): Promise<ResolvedPath> {
  let resolved: string[] = [];
  const queue = [...parts];
  let links = 0;
  let via: { at: string[]; target: string } | undefined;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length === 0) return { kind: 'escape', at: via?.at ?? [...parts], target: via?.target };
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    const found = await step(candidate);
    switch (found.kind) {
      case 'dir':
        resolved = candidate;
        break;
      case 'symlink':
        if (++links > maxSymlinks) return { kind: 'loop', at: candidate };
        via = { at: candidate, target: found.target };
        if (found.target.startsWith('/')) resolved = [];
        queue.unshift(...found.target.split('/'));
        break;
      case 'missing':
        return { kind: 'missing', parts: candidate };
      case 'other':
        return { kind: 'notdir', at: candidate };
    }
  }
  return { kind: 'ok', parts: resolved };
}
