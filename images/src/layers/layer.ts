// Layers from directories: the diff of an overlay upper dir (what a RUN step changed) and
// the plain tar of a directory (COPY sources, a base image's root file system).
import type { Writable } from 'node:stream';
import {
  type LayerEntry,
  type LinkTable,
  type PlanOptions,
  normalisePrefix,
  planEntries,
} from './entries.js';
import { readOverlayAttrs } from './overlay-fs.js';
import { LayerWriter, type LayerWriteOptions, type LayerWriteResult } from './tar-writer.js';
import { walkTree, type WalkOptions } from './tree.js';
import type { FsNodeKind } from './entries.js';

/**
 * Writes entries as one layer to out (which is ended) and returns its diffID, digest, size
 * and media type. Entries must come parents first.
 */
export async function writeLayer(
  entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>,
  out: Writable,
  options: LayerWriteOptions = {},
): Promise<LayerWriteResult> {
  const writer = new LayerWriter(out, options);
  try {
    for await (const entry of entries) await writer.add(entry);
    return await writer.finish();
  } catch (err) {
    writer.abort(err);
    throw err;
  }
}

async function* plannedEntries(
  dir: string,
  plan: PlanOptions,
  walk: WalkOptions,
): AsyncGenerator<LayerEntry> {
  const links: LinkTable = new Map();
  for await (const node of walkTree(dir, walk)) yield* planEntries(node, links, plan);
}

export interface DiffOptions extends LayerWriteOptions {
  /** Every entry gets this mtime (so an unchanged step gives an unchanged digest). */
  mtime?: Date;
}

/**
 * The OCI layer of an overlay upper dir: its files as they are, overlay whiteouts (0:0
 * character devices) as ".wh.<name>", opaque directories with a ".wh..wh..opq" entry, hard
 * links within the dir kept as links, entries sorted. Refuses device nodes, and upper dirs
 * written with redirect_dir or metacopy on (their diff is not in the upper dir alone).
 */
export async function diffLayer(
  upperDir: string,
  out: Writable,
  options: DiffOptions = {},
): Promise<LayerWriteResult> {
  const attrs = await readOverlayAttrs(upperDir);
  return writeLayer(
    plannedEntries(upperDir, { overlay: true, mtime: options.mtime }, { attrs }),
    out,
    options,
  );
}

export interface TarDirectoryOptions extends LayerWriteOptions {
  /** Where the directory lands in the image ("srv/app"); default: the image root. */
  prefix?: string;
  /** Every entry gets this owner (COPY --chown). */
  owner?: { uid: number; gid: number };
  /** Every entry gets this mtime. */
  mtime?: Date;
  /** Leaves out a path ("app/node_modules") and everything under it when false (.dockerignore). */
  filter?: (path: string, kind: FsNodeKind) => boolean;
}

/**
 * The layer holding dir's content (under prefix, which then is an entry of its own with
 * dir's mode). Symlinks are kept as links, hard links within dir preserved, devices refused.
 */
export async function tarDirectory(
  dir: string,
  out: Writable,
  options: TarDirectoryOptions = {},
): Promise<LayerWriteResult> {
  const plan: PlanOptions = {
    overlay: false,
    prefix: normalisePrefix(options.prefix),
    owner: options.owner,
    mtime: options.mtime,
  };
  return writeLayer(plannedEntries(dir, plan, { filter: options.filter }), out, options);
}
