// Image names → manifests, kept in one JSON file that is replaced atomically on every
// change. Names are canonical ("docker.io/library/busybox:latest"), so "busybox" and
// "docker.io/library/busybox:latest" are one image.
import { compareText, invalidArgument } from '@flotilla/common';
import { LockedJsonFile } from '../content/json-file.js';
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
  private readonly file: LockedJsonFile<StoreFile>;

  constructor(readonly path: string) {
    this.file = new LockedJsonFile(path, {
      what: 'image store',
      empty: () => ({ version: 1, images: {} }),
      parse: (value) => {
        const parsed = value as Partial<StoreFile> | null;
        if (typeof parsed?.images !== 'object' || parsed.images === null)
          throw new Error('no "images" object');
        return { version: 1, images: parsed.images };
      },
    });
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    const data = await this.file.read();
    return data.images[name] ?? data.images[canonicalName(name)];
  }

  async put(record: ImageRecord): Promise<void> {
    validateRecord(record);
    const copy: ImageRecord = {
      name: record.name,
      target: { ...record.target },
      updatedAt: record.updatedAt,
    };
    await this.file.update((data) => {
      data.images[record.name] = copy;
    });
  }

  async delete(name: string): Promise<boolean> {
    return this.file.update((data) => {
      const key = name in data.images ? name : canonicalName(name);
      if (!(key in data.images)) return false;
      delete data.images[key];
      return true;
    });
  }

  async list(): Promise<ImageRecord[]> {
    const data = await this.file.read();
    return Object.values(data.images).sort((a, b) => compareText(a.name, b.name));
  }
}
