// Image names → manifests, kept in one JSON file that is replaced atomically on every
// change. Names are canonical ("docker.io/library/busybox:latest"), so "busybox" and
// "docker.io/library/busybox:latest" are one image.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FlotillaError, invalidArgument } from '@flotilla/common';
import { acquireLock } from '../content/lock.js';
import { parseDigest } from '../content/digest.js';
import { parseReference } from '../reference/reference.js';
import type { ImageRecord, ImageStore } from '../types.js';

interface StoreFile {
  version: 1;
  images: Record<string, ImageRecord>;
}

function canonicalName(name: string): string {
  return parseReference(name).canonical;
}

function validateRecord(record: ImageRecord): void {
  const canonical = canonicalName(record.name);
  if (canonical !== record.name) {
    throw invalidArgument(`image name "${record.name}" must be canonical: "${canonical}"`, {
      object: `image/${record.name}`,
      field: 'name',
      value: record.name,
    });
  }
  parseDigest(record.target.digest, 'target.digest');
  if (!Number.isSafeInteger(record.target.size) || record.target.size < 0) {
    throw invalidArgument(`image ${record.name}: target.size must be a whole number of bytes`, {
      object: `image/${record.name}`,
      field: 'target.size',
      value: record.target.size,
    });
  }
}

export class FileImageStore implements ImageStore {
  readonly path: string;
  /** Changes in this process, one at a time; the lock file orders them across processes. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  private async load(): Promise<StoreFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, images: {} };
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as StoreFile;
      if (typeof parsed.images !== 'object' || parsed.images === null) throw new Error('no "images" object');
      return parsed;
    } catch (err) {
      throw new FlotillaError('Internal', `image store ${this.path} is not valid JSON: ${String(err)}`, {
        object: this.path,
      });
    }
  }

  private async save(data: StoreFile): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temp = join(dirname(this.path), `.images-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    const file = await open(temp, 'wx', 0o644);
    try {
      await file.writeFile(JSON.stringify(data, null, 2) + '\n');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, this.path);
  }

  private async update<T>(change: (data: StoreFile) => T): Promise<T> {
    const run = async (): Promise<T> => {
      await mkdir(dirname(this.path), { recursive: true });
      const release = await acquireLock(`${this.path}.lock`);
      try {
        const data = await this.load();
        const result = change(data);
        await this.save(data);
        return result;
      } finally {
        await release?.();
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    const data = await this.load();
    return data.images[name] ?? data.images[canonicalName(name)];
  }

  async put(record: ImageRecord): Promise<void> {
    validateRecord(record);
    const copy: ImageRecord = {
      name: record.name,
      target: { ...record.target },
      updatedAt: record.updatedAt,
    };
    await this.update((data) => {
      data.images[record.name] = copy;
    });
  }

  async delete(name: string): Promise<boolean> {
    return this.update((data) => {
      const key = name in data.images ? name : canonicalName(name);
      if (!(key in data.images)) return false;
      delete data.images[key];
      return true;
    });
  }

  async list(): Promise<ImageRecord[]> {
    const data = await this.load();
    return Object.values(data.images).sort((a, b) => a.name.localeCompare(b.name));
  }
}
