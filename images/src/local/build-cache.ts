// The build cache: a step's cache key → what the step produced (its layer, or nothing for
// a step that adds none), in one JSON file replaced atomically. A key already identifies
// the whole chain up to its step, so an entry is reusable whenever its layer's blob is
// still in the content store; the executor checks that before trusting a hit.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FlotillaError, writeFileAtomic } from '@flotilla/common';
import { acquireLock } from '../content/lock.js';
import type { Descriptor, Digest } from '../types.js';

export interface BuildCacheLayer {
  /** sha256 of the uncompressed tar (the image config's diff_id). */
  diffId: Digest;
  /** The stored blob (gzip-compressed). */
  descriptor: Descriptor;
  /** The snapshot of the chain up to and including this layer. */
  chainId: Digest;
}

export interface BuildCacheEntry {
  cacheKey: Digest;
  /** Absent: the step added no layer (a config step, or a RUN that changed nothing). */
  layer?: BuildCacheLayer;
  /** When the step ran (RFC 3339): a cached rebuild reuses it so its digests repeat. */
  createdAt: string;
}

export interface BuildCache {
  get(cacheKey: Digest): Promise<BuildCacheEntry | undefined>;
  /** Records the entries (a later one for the same key replaces the earlier). */
  put(...entries: BuildCacheEntry[]): Promise<void>;
  delete(cacheKeys: readonly Digest[]): Promise<number>;
  list(): Promise<BuildCacheEntry[]>;
}

interface CacheFile {
  version: 1;
  entries: Record<Digest, BuildCacheEntry>;
}

export class FileBuildCache implements BuildCache {
  readonly path: string;
  /** One change at a time in this process; the lock file orders processes. */
  private queue: Promise<unknown> = Promise.resolve();
  private snapshot: { text: string; file: CacheFile } | undefined;

  constructor(path: string) {
    this.path = path;
  }

  private async load(): Promise<CacheFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, entries: {} };
      throw err;
    }
    if (this.snapshot?.text === text) return this.snapshot.file;
    let parsed: Partial<CacheFile>;
    try {
      parsed = JSON.parse(text) as Partial<CacheFile>;
    } catch (err) {
      throw new FlotillaError(
        'Internal',
        `build cache ${this.path} is not valid JSON (remove it to start an empty cache)`,
        { object: this.path },
        { cause: err },
      );
    }
    const file: CacheFile = {
      version: 1,
      entries: typeof parsed.entries === 'object' && parsed.entries !== null ? parsed.entries : {},
    };
    this.snapshot = { text, file };
    return file;
  }

  private update<T>(change: (file: CacheFile) => T): Promise<T> {
    const run = async (): Promise<T> => {
      await mkdir(dirname(this.path), { recursive: true });
      const release = await acquireLock(`${this.path}.lock`);
      try {
        const file = structuredClone(await this.load());
        const result = change(file);
        await writeFileAtomic(this.path, `${JSON.stringify(file)}\n`, 0o644);
        return result;
      } finally {
        await release?.();
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async get(cacheKey: Digest): Promise<BuildCacheEntry | undefined> {
    const entry = (await this.load()).entries[cacheKey];
    return entry === undefined ? undefined : structuredClone(entry);
  }

  async put(...entries: BuildCacheEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.update((file) => {
      for (const entry of entries) file.entries[entry.cacheKey] = structuredClone(entry);
    });
  }

  async delete(cacheKeys: readonly Digest[]): Promise<number> {
    return this.update((file) => {
      let removed = 0;
      for (const key of cacheKeys) {
        if (key in file.entries) {
          delete file.entries[key];
          removed++;
        }
      }
      return removed;
    });
  }

  async list(): Promise<BuildCacheEntry[]> {
    return Object.values((await this.load()).entries).map((e) => structuredClone(e));
  }
}
