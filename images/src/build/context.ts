// The build context on disk: read its .dockerignore, walk it (what COPY can see), select
// COPY/ADD sources in it and hash them for cache keys. This is the I/O behind the
// planner's ContextHasher seam; the executor uses the same walk and selection to copy
// exactly the files that were hashed.
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, open, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { compareText, FlotillaError } from '@flotilla/common';
import type { Digest } from '../types.js';
import { parseDockerignore, type DockerIgnore } from './dockerignore.js';
import { SyntaxProblem } from './errors.js';
import { globRegex, hasWildcards } from './match.js';
import type { ContextHasher, ContextMatch, ContextSelection } from './types.js';

export interface ContextEntry {
  /** Context-relative, "/"-separated; "." is the context directory itself. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (with setuid/setgid/sticky). */
  mode: number;
  size: number;
  /** Symlinks: the target as stored. */
  linkTarget?: string;
  mtimeMs: number;
  ino: number;
}

/** The context's .dockerignore (an empty one when there is none). */
export async function loadDockerignore(contextDir: string): Promise<DockerIgnore> {
  let text = '';
  try {
    text = await readFile(join(contextDir, '.dockerignore'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return parseDockerignore(text);
}

/**
 * Every file, directory and symlink COPY can see, depth first in byte order of names.
 * Ignored entries are left out; an ignored directory is still entered when an exception
 * may re-include something in it, and listed when something in it was. Sockets, FIFOs
 * and devices are skipped.
 */
export async function walkContext(root: string, ignore?: DockerIgnore): Promise<ContextEntry[]> {
  const entries: ContextEntry[] = [];
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory()) {
    throw new FlotillaError('InvalidArgument', `build context ${root} is not a directory`, {
      object: `context/${root}`,
    });
  }
  entries.push(toEntry('.', rootStat));

  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort(compareText)) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(dir, name);
      const stat = await lstat(full);
      const ignored = ignore?.ignores(path) ?? false;
      if (stat.isDirectory()) {
        if (ignored && ignore?.canSkipDirectory(path) !== false) continue;
        const at = entries.length;
        entries.push(toEntry(path, stat));
        await visit(full, path);
        // An ignored directory stays only as the parent of something re-included.
        if (ignored && entries.length === at + 1) entries.pop();
        continue;
      }
      if (ignored) continue;
      if (stat.isFile()) entries.push(toEntry(path, stat));
      else if (stat.isSymbolicLink())
        entries.push({ ...toEntry(path, stat), linkTarget: await readlink(full) });
    }
  };
  await visit(root, '');
  return entries;
}

function toEntry(path: string, stat: Stats): ContextEntry {
  const type = stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'symlink' : 'file';
  return {
    path,
    type,
    mode: stat.mode & 0o7777,
    size: type === 'file' ? stat.size : 0,
    mtimeMs: stat.mtimeMs,
    ino: stat.ino,
  };
}

/**
 * What each cleaned source matches among the entries: "." the whole context, a plain
 * path itself, a wildcard pattern every entry whose whole path it matches (Go's
 * filepath.Match, so `*` stays within one directory).
 */
export function selectSources(
  entries: readonly ContextEntry[],
  sources: readonly string[],
): ContextEntry[][] {
  return sources.map((source) => {
    if (!hasWildcards(source)) {
      const unescaped = source.replace(/\\(.)/g, '$1');
      return entries.filter((e) => e.path === unescaped);
    }
    let regex: RegExp;
    try {
      regex = globRegex(source);
    } catch (err) {
      throw new FlotillaError('InvalidArgument', err instanceof SyntaxProblem ? err.message : String(err), {
        field: 'source',
        value: source,
      });
    }
    return entries.filter((e) => e.path !== '.' && regex.test(e.path));
  });
}

/** The entry and everything below it, in walk order. */
export function entriesUnder(entries: readonly ContextEntry[], top: string): ContextEntry[] {
  if (top === '.') return [...entries];
  return entries.filter((e) => e.path === top || e.path.startsWith(`${top}/`));
}

/** Whether a file is a tar archive, plain or gzip-compressed (what ADD extracts). */
export async function isLocalArchive(file: string): Promise<boolean> {
  const head = await readHead(file, 512);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b)
    return isTarHeader(await gunzipHead(file, 512));
  return isTarHeader(head);
}

async function readHead(file: string, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function gunzipHead(file: string, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = createReadStream(file).pipe(createGunzip());
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= length) break;
    }
  } catch {
    // Not valid gzip after all: not an archive.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, length);
}

/** A 512-byte tar header: "ustar" magic, or a header checksum that adds up (v7 tar). */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  if (block.subarray(257, 262).toString('latin1') === 'ustar') return true;
  const stored = parseInt(block.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === stored && block[0] !== 0;
}

async function fileDigest(file: string): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

export interface ContextHasherOptions {
  /** The .dockerignore predicate; default: read <root>/.dockerignore. */
  ignore?: DockerIgnore;
}

/**
 * The real ContextHasher: walks the context once (honouring .dockerignore), then for each
 * request selects the sources and hashes path, type, mode, owner, size and content (or
 * link target) of everything selected. File contents are hashed once per build.
 */
export function createContextHasher(root: string, options: ContextHasherOptions = {}): ContextHasher {
  let walked: Promise<ContextEntry[]> | undefined;
  const contents = new Map<string, { key: string; digest: Promise<Digest> }>();

  const contentDigest = (entry: ContextEntry): Promise<Digest> => {
    const key = `${entry.ino}:${entry.size}:${entry.mtimeMs}`;
    const known = contents.get(entry.path);
    if (known?.key === key) return known.digest;
    const digest = fileDigest(join(root, entry.path));
    contents.set(entry.path, { key, digest });
    return digest;
  };

  return async (request): Promise<ContextSelection> => {
    walked ??= (async () => walkContext(root, options.ignore ?? (await loadDockerignore(root))))();
    const entries = await walked;
    const selected = selectSources(entries, request.sources);
    const hash = createHash('sha256');
    const matches: ContextMatch[][] = [];
    for (const [i, found] of selected.entries()) {
      const list: ContextMatch[] = [];
      for (const top of found) {
        const match: ContextMatch = { path: top.path, type: top.type };
        if (request.detectArchives && top.type === 'file' && (await isLocalArchive(join(root, top.path)))) {
          match.extract = true;
        }
        list.push(match);
        for (const entry of entriesUnder(entries, top.path)) {
          const data = entry.type === 'file' ? await contentDigest(entry) : (entry.linkTarget ?? '');
          const record = [i, entry.path, entry.type, entry.mode.toString(8), request.owner, entry.size, data];
          hash.update(`${JSON.stringify(record)}\n`);
        }
        if (match.extract) hash.update('extract\n');
      }
      matches.push(list);
    }
    return { matches, digest: `sha256:${hash.digest('hex')}` };
  };
}
