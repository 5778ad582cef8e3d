// The build cache: a step's cache key → what the step produced (its layer, or nothing for
// a step that adds none), in one JSON file replaced atomically. A key already identifies
// the whole chain up to its step, so an entry is reusable whenever its layer's blob is
// still in the content store; the executor checks that before trusting a hit.
import { LockedJsonFile } from '../content/json-file.js';
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
  private readonly file: LockedJsonFile<CacheFile>;

  constructor(readonly path: string) {
    this.file = new LockedJsonFile(path, {
      what: 'build cache',
      hint: 'remove it to start an empty cache',
      empty: () => ({ version: 1, entries: {} }),
      parse: (value) => {
        const parsed = value as Partial<CacheFile> | null;
        const entries = parsed?.entries;
        return { version: 1, entries: typeof entries === 'object' && entries !== null ? entries : {} };
      },
    });
  }

  async get(cacheKey: Digest): Promise<BuildCacheEntry | undefined> {
    return (await this.file.read()).entries[cacheKey];
  }

  async put(...entries: BuildCacheEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.file.update((file) => {
      for (const entry of entries) file.entries[entry.cacheKey] = entry;
    });
  }

  async delete(cacheKeys: readonly Digest[]): Promise<number> {
    return this.file.update((file) => {
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
    return Object.values((await this.file.read()).entries);
  }
}
