// COPY/ADD executed: the sources gathered (from the build context with the same walk and
// .dockerignore the planner hashed, from an ADD archive extracted to scratch space, or
// from another stage's or image's rootfs), the destination looked up in the current
// rootfs, and the layer written straight from the source files — no container needed.
import { createWriteStream } from 'node:fs';
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { list as listTar, x as extractTar } from 'tar';
import { type FlotillaError, errorMessage, isFlotillaError } from '@flotilla/common';
import { entriesUnder, selectSources, type ContextEntry } from '../build/context.js';
import { dockerfileError } from '../build/errors.js';
import { globRegex, hasWildcards } from '../build/match.js';
import type { CopyStep } from '../build/types.js';
import { writeLayer } from '../layers/layer.js';
import type { LayerWriteResult } from '../layers/tar-writer.js';
import { walkTree } from '../layers/tree.js';
import type { LocalImages } from '../local/local-images.js';
import { resolveChown } from '../runc/oci-config.js';
import type { SnapshotInfo } from '../types.js';
import { planCopyEntries, type CopySource, type ExistingDir, type SourceEntry } from './copy-plan.js';
import { storeLayerFile } from './layer-store.js';
import { accountFiles, resolveInRoot } from './rootfs-view.js';
import type { BuildWorkspace } from './workspace.js';

export interface CopyStepInput {
  local: LocalImages;
  ws: BuildWorkspace;
  step: CopyStep;
  /** The rootfs the files are copied onto. */
  chain: readonly SnapshotInfo[];
  contextDir: string;
  /** The context as the planner's hasher walked it (memoised by the caller). */
  contextEntries: () => Promise<ContextEntry[]>;
  /** COPY --from: the chain of a stage or an image. */
  sourceChain: () => Promise<readonly SnapshotInfo[]>;
  /** Dockerfile name for messages. */
  file: string;
}

const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

function fromContextEntry(contextDir: string, e: ContextEntry): SourceEntry {
  return {
    path: e.path,
    abs: join(contextDir, e.path),
    type: e.type,
    mode: e.mode,
    size: e.size,
    mtime: wholeSeconds(e.mtimeMs),
    ...(e.linkTarget !== undefined ? { linkTarget: e.linkTarget } : {}),
  };
}

/** Every file, directory and symlink under dir (itself as relPath), with owners. */
async function listTree(dir: string, relPath: string): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  for await (const node of walkTree(dir)) {
    if (node.kind !== 'file' && node.kind !== 'directory' && node.kind !== 'symlink') continue;
    const path = node.path === '' ? relPath : relPath === '.' ? node.path : `${relPath}/${node.path}`;
    out.push({
      path,
      abs: node.abs,
      type: node.kind === 'directory' ? 'dir' : node.kind,
      mode: node.mode & 0o7777,
      size: node.size,
      mtime: node.mtime,
      uid: node.uid,
      gid: node.gid,
      ...(node.linkTarget !== undefined ? { linkTarget: node.linkTarget } : {}),
    });
  }
  return out;
}

export async function runCopyStep(input: CopyStepInput): Promise<LayerWriteResult> {
  const { step, ws, local } = input;
  const kw = step.add ? 'ADD' : 'COPY';
  const fail = (message: string, value?: unknown, cause?: unknown): FlotillaError =>
    dockerfileError(input.file, step.line, `${kw} ${message}`, value, cause);
  const scratch = await ws.tempDir('copy');

  // What the destination rootfs holds: the owner names, dest and the directories above it.
  const target = await ws.withView(input.chain, async (view) => {
    let owner: { uid: number; gid: number } | undefined;
    if (step.chown !== undefined) {
      try {
        owner = resolveChown(step.chown, await accountFiles(view));
      } catch (err) {
        throw fail(`--chown=${step.chown}: ${errorMessage(err)}`, step.chown, err);
      }
    }
    let dest = { parts: step.dest.split('/').filter((p) => p !== ''), kind: 'missing' as string };
    const existing = new Map<string, ExistingDir>();
    if (view !== undefined) {
      try {
        dest = await resolveInRoot(view, step.dest);
      } catch (err) {
        throw fail(`${step.dest}: ${errorMessage(err)}`, step.dest, err);
      }
      for (let i = 1; i <= dest.parts.length; i++) {
        const path = dest.parts.slice(0, i).join('/');
        const stat = await lstat(join(view, path)).catch(() => undefined);
        if (stat?.isDirectory()) {
          existing.set(path, {
            mode: stat.mode & 0o7777,
            uid: stat.uid,
            gid: stat.gid,
            mtime: wholeSeconds(stat.mtimeMs),
          });
        }
      }
    }
    return { owner, dest, existing };
  });
  if (step.destIsDir && target.dest.kind !== 'dir' && target.dest.kind !== 'missing') {
    throw fail(`destination ${step.dest} exists in the image and is not a directory`, step.dest);
  }
  const intoDir = step.destIsDir || target.dest.kind === 'dir';

  const write = (sources: CopySource[]): Promise<LayerWriteResult> => {
    const count = sources.length;
    if (count > 1 && !intoDir) {
      throw fail(
        `with more than one source needs a directory destination ending in "/": ${step.dest}/`,
        step.dest,
      );
    }
    const entries = planCopyEntries({
      dest: target.dest.parts,
      intoDir,
      existing: target.existing,
      sources,
      ...(target.owner !== undefined ? { owner: target.owner } : {}),
      ...(step.chmod !== undefined ? { chmod: step.chmod } : {}),
      created: new Date(0),
    });
    return storeLayerFile(local, scratch, (file) => writeLayer(entries, createWriteStream(file)));
  };

  if (step.from.kind === 'context') {
    const all = await input.contextEntries();
    const sources: CopySource[] = [];
    for (const match of (step.matches ?? []).flat()) {
      const tree = entriesUnder(all, match.path);
      const top = tree[0];
      if (top === undefined || top.path !== match.path) {
        throw fail(`${match.path}: it vanished from the build context after planning`, match.path);
      }
      if (match.extract === true) {
        const dir = join(scratch, `extract-${sources.length}`);
        await mkdir(dir);
        try {
          await extractTar({ file: join(input.contextDir, match.path), cwd: dir, preservePaths: false });
        } catch (err) {
          throw fail(`${match.path}: extracting the archive failed: ${errorMessage(err)}`, match.path, err);
        }
        // Extracting touches directories after their own entry set their time: take the
        // times from the archive (or the epoch for implied ones) so the layer repeats.
        const dirTimes = await archiveDirectoryTimes(join(input.contextDir, match.path));
        const entries = (await listTree(dir, '.')).map((e) =>
          e.type === 'dir' ? { ...e, mtime: dirTimes.get(e.path) ?? new Date(0) } : e,
        );
        sources.push({ top: entries[0] as SourceEntry, entries, keepOwner: true, contentsOnly: true });
        continue;
      }
      const entries = tree.map((e) => fromContextEntry(input.contextDir, e));
      sources.push({ top: entries[0] as SourceEntry, entries });
    }
    return write(sources);
  }

  // --from a stage or an image: select in its rootfs, which stays mounted while writing.
  const chain = await input.sourceChain();
  return ws.withView(chain, async (view) => {
    if (view === undefined) throw fail(`--from: the source has no files (an empty image)`, step.sources);
    const sources: CopySource[] = [];
    for (const source of step.sources) {
      const found = await selectInRoot(view, source).catch((err: unknown) => {
        throw isFlotillaError(err) ? fail(`${source}: ${err.message}`, source, err) : err;
      });
      if (found.length === 0) throw fail(`${source}: not found in the --from source`, source);
      sources.push(...found.map((entries) => ({ top: entries[0] as SourceEntry, entries, keepOwner: true })));
    }
    return write(sources);
  });
}

/** The mtime of each directory entry of a tar archive, by normalised path. */
async function archiveDirectoryTimes(file: string): Promise<Map<string, Date>> {
  const times = new Map<string, Date>();
  await listTar({
    file,
    onReadEntry: (entry) => {
      if (entry.type !== 'Directory' || entry.mtime === undefined) return;
      const path = entry.path
        .split('/')
        .filter((p) => p !== '' && p !== '.')
        .join('/');
      times.set(path === '' ? '.' : path, wholeSeconds(entry.mtime.getTime()));
    },
  });
  return times;
}

/** A source path or pattern in another rootfs → one entry list (top first) per match. */
async function selectInRoot(root: string, source: string): Promise<SourceEntry[][]> {
  const parts = source === '.' ? [] : source.split('/');
  const firstWild = parts.findIndex((p) => hasWildcards(p));
  if (firstWild < 0) {
    const found = await resolveInRoot(root, source);
    if (found.kind === 'missing') return [];
    const name = parts.length === 0 ? '.' : source;
    return [await listTree(join(root, ...found.parts), name)];
  }
  const staticPart = parts.slice(0, firstWild).join('/');
  const base = await resolveInRoot(root, staticPart === '' ? '.' : staticPart);
  if (base.kind !== 'dir') return [];
  const listed = await listTree(join(root, ...base.parts), staticPart === '' ? '.' : staticPart);
  const asContext: ContextEntry[] = listed.map((e) => ({
    path: e.path,
    type: e.type,
    mode: e.mode,
    size: e.size,
    mtimeMs: e.mtime.getTime(),
    ino: 0,
  }));
  globRegex(source);
  const [matches = []] = selectSources(asContext, [source]);
  const byPath = new Map(listed.map((e) => [e.path, e]));
  return matches.map((m) => entriesUnder(asContext, m.path).map((e) => byPath.get(e.path) as SourceEntry));
}
