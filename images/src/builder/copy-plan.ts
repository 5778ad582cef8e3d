// COPY/ADD as a list of layer entries: where each selected source lands under the
// destination, with which owner and mode, and which parent directories the layer must
// carry (existing ones as they are in the rootfs, missing ones created). Pure: the
// executor gathers the sources and what exists in the rootfs, then writes the entries.
import { posix } from 'node:path';
import type { LayerEntry } from '../layers/entries.js';

/** A file, directory or symlink to copy, relative to its source root. */
export interface SourceEntry {
  /** "/"-separated, relative to the source root ("app/main.js"). */
  path: string;
  /** Absolute path to read a file's content from. */
  abs: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  mtime: Date;
  linkTarget?: string;
  /** The owner the entry has at the source; used only without --chown when keepOwner. */
  uid?: number;
  gid?: number;
}

/** One matched source: the top entry, then everything under it (walk order, top first). */
export interface CopySource {
  top: SourceEntry;
  entries: SourceEntry[];
  /** The source's own owners are kept without --chown (ADD of an archive); otherwise 0:0. */
  keepOwner?: boolean;
  /** A directory whose content lands in dest even when it is a file path (ADD archives). */
  contentsOnly?: boolean;
}

/** A directory that exists in the rootfs, as the layer must repeat it. */
export interface ExistingDir {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

export interface CopyPlanInput {
  /** The destination's real path components in the rootfs ([] is "/"). */
  dest: string[];
  /** Sources go inside dest: it ends in "/" or is an existing directory (Docker's rule). */
  intoDir: boolean;
  /** Directories on the way to dest (and dest itself) that exist, by "a/b" path. */
  existing: ReadonlyMap<string, ExistingDir>;
  sources: CopySource[];
  /** --chown, resolved. */
  owner?: { uid: number; gid: number };
  /** --chmod, for files and directories copied. */
  chmod?: number;
  /** mtime of the directories the copy creates. */
  created: Date;
}

const defaultDirMode = 0o755;

/** The layer entries of a COPY/ADD, parents first; a later source wins a path. */
export function planCopyEntries(input: CopyPlanInput): LayerEntry[] {
  const out = new Map<string, LayerEntry>();
  const rootOwner = input.owner ?? { uid: 0, gid: 0 };

  const put = (entry: LayerEntry): void => {
    const previous = out.get(entry.path);
    if (previous?.type === 'directory' && entry.type !== 'directory') {
      // A file replacing a directory replaces what was copied under it too.
      for (const key of [...out.keys()]) if (key.startsWith(`${entry.path}/`)) out.delete(key);
    }
    // Replaced in place: the first insertion came after its parents, so order stays valid.
    out.set(entry.path, entry);
  };

  /** Adds the directories leading to parts (all components), existing or created. */
  const ensureDirs = (parts: string[]): void => {
    for (let i = 1; i <= parts.length; i++) {
      const path = parts.slice(0, i).join('/');
      if (out.get(path)?.type === 'directory') continue;
      const existing = input.existing.get(path);
      put(
        existing !== undefined
          ? { path, type: 'directory', ...existing }
          : { path, type: 'directory', mode: defaultDirMode, ...rootOwner, mtime: input.created },
      );
    }
  };

  for (const source of input.sources) {
    const owner = (e: SourceEntry): { uid: number; gid: number } =>
      input.owner ?? (source.keepOwner ? { uid: e.uid ?? 0, gid: e.gid ?? 0 } : { uid: 0, gid: 0 });
    const mode = (e: SourceEntry): number =>
      e.type !== 'symlink' && input.chmod !== undefined ? input.chmod : e.mode & 0o7777;
    const { top } = source;
    const topIsDir = top.type === 'dir' || source.contentsOnly === true;
    // A directory's content goes into dest; a file goes to dest, or inside it.
    const base = topIsDir || !input.intoDir ? input.dest : [...input.dest, posix.basename(top.path)];
    ensureDirs(base.slice(0, -1));
    if (topIsDir) ensureDirs(input.dest);
    const prefix = top.path === '.' ? '' : `${top.path}/`;
    for (const entry of source.entries) {
      let rel: string;
      if (entry === top || entry.path === top.path) {
        // An extracted archive's root is scratch space, not something it holds.
        if (source.contentsOnly === true) continue;
        rel = '';
      } else if (prefix === '' || entry.path.startsWith(prefix)) rel = entry.path.slice(prefix.length);
      else continue;
      const parts = rel === '' ? base : [...base, ...rel.split('/')];
      if (parts.length === 0) continue;
      const path = parts.join('/');
      const common = { path, mode: mode(entry), ...owner(entry), mtime: entry.mtime };
      if (entry.type === 'dir') {
        // dest itself, when it already exists, keeps its metadata (Docker copies content into it).
        if (rel === '' && input.existing.has(path)) continue;
        put({ ...common, type: 'directory' });
      } else if (entry.type === 'symlink')
        put({ ...common, type: 'symlink', linkTarget: entry.linkTarget ?? '', size: 0 });
      else put({ ...common, type: 'file', size: entry.size, source: entry.abs });
    }
  }
  return [...out.values()];
}
