// The content store on disk: blobs/<algorithm>/<hex>, each written once, verified before
// it gets its name, and renamed into place so a reader never sees half a blob.
//
//   ingest/<algorithm>-<hex>.partial   bytes received so far (a resumed ingest appends)
//   ingest/<algorithm>-<hex>.lock      held by the process downloading that blob
//   blobs/<algorithm>/<hex>            committed, read-only
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FlotillaError, createLogger, errorMessage, invalidArgument, type Logger } from '@flotilla/common';
import type { BlobInfo, ContentStore, Digest } from '../types.js';
import { createDigester, digestOf, parseDigest, type DigestAlgorithm, type ParsedDigest } from './digest.js';
import { abortReason } from './abort.js';
import { acquireLock } from './lock.js';

export interface FileContentStoreOptions {
  logger?: Logger;
}

interface Inflight {
  promise: Promise<BlobInfo>;
  controller: AbortController;
  waiters: number;
}

const algorithms: DigestAlgorithm[] = ['sha256', 'sha512'];

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export class FileContentStore implements ContentStore {
  readonly root: string;
  private readonly log: Logger;
  /** One download per digest in this process; other callers wait on it. */
  private readonly inflight = new Map<Digest, Inflight>();

  constructor(root: string, options: FileContentStoreOptions = {}) {
    this.root = root;
    this.log = options.logger ?? createLogger({ component: 'content' });
  }

  path(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    const size = await fileSize(this.path(digest));
    return size === undefined ? undefined : { digest, size };
  }

  async read(digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (err) {
      if (isNotFound(err)) {
        throw new FlotillaError('NotFound', `blob ${digest} is not in the content store`, {
          object: `blob/${digest}`,
        });
      }
      throw err;
    }
  }

  async ingest(
    expected: { digest: Digest; size?: number },
    source: (offset: number) => Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<BlobInfo> {
    const parsed = parseDigest(expected.digest);
    if (expected.size !== undefined && (!Number.isSafeInteger(expected.size) || expected.size < 0)) {
      throw invalidArgument(`size of blob ${expected.digest} must be a whole number of bytes`, {
        object: `blob/${expected.digest}`,
        field: 'size',
        value: expected.size,
      });
    }
    const existing = await this.info(expected.digest);
    if (existing !== undefined) {
      this.checkSize(expected, existing.size);
      return existing;
    }
    let entry = this.inflight.get(expected.digest);
    if (entry === undefined) {
      const controller = new AbortController();
      const promise = this.download(parsed, expected, source, controller.signal).finally(() => {
        if (this.inflight.get(expected.digest)?.promise === promise) this.inflight.delete(expected.digest);
      });
      const created: Inflight = { promise, controller, waiters: 0 };
      entry = created;
      this.inflight.set(expected.digest, entry);
    }
    const info = await this.wait(expected.digest, entry, signal);
    this.checkSize(expected, info.size);
    return info;
  }

  /** Waits for a shared download; it is cancelled only when every waiter has given up. */
  private async wait(digest: Digest, entry: Inflight, signal: AbortSignal | undefined): Promise<BlobInfo> {
    entry.waiters++;
    if (signal === undefined) return entry.promise;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        entry.waiters--;
        if (entry.waiters === 0) {
          // Nobody wants it any more; a later ingest starts afresh (after this one's lock).
          entry.controller.abort(abortReason(signal));
          if (this.inflight.get(digest) === entry) this.inflight.delete(digest);
        }
        reject(abortReason(signal));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([entry.promise, aborted]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    }
  }

  private checkSize(expected: { digest: Digest; size?: number }, size: number): void {
    if (expected.size !== undefined && expected.size !== size) {
      throw invalidArgument(
        `blob ${expected.digest} has ${size} bytes but its descriptor says ${expected.size}`,
        { object: `blob/${expected.digest}`, field: 'size', value: expected.size },
      );
    }
  }

  private async download(
    parsed: ParsedDigest,
    expected: { digest: Digest; size?: number },
    source: (offset: number) => Promise<Readable>,
    signal: AbortSignal,
  ): Promise<BlobInfo> {
    const digest = expected.digest;
    const ingestDir = join(this.root, 'ingest');
    await mkdir(ingestDir, { recursive: true });
    const base = join(ingestDir, `${parsed.algorithm}-${parsed.hex}`);
    // Another process may be downloading the same blob: wait for it, or take over its
    // partial data if it died.
    const release = await acquireLock(`${base}.lock`, {
      signal,
      done: async () => (await this.info(digest)) !== undefined,
    });
    if (release === undefined) return this.committed(digest);
    try {
      const done = await this.info(digest);
      if (done !== undefined) return done;
      const partial = `${base}.partial`;
      let offset = (await fileSize(partial)) ?? 0;
      if (expected.size !== undefined && offset > expected.size) {
        await unlink(partial);
        offset = 0;
      }
      const hash = createDigester(parsed.algorithm);
      if (offset > 0) {
        for await (const chunk of createReadStream(partial)) hash.update(chunk as Buffer);
        this.log.debug('resuming blob download', { digest, offset });
      }
      let size = offset;
      if (expected.size === undefined || offset < expected.size) {
        size = await this.receive(digest, expected.size, partial, offset, hash, source, signal);
      }
      if (expected.size !== undefined && size < expected.size) {
        throw new FlotillaError(
          'Unavailable',
          `download of blob ${digest} ended early, at ${size} of ${expected.size} bytes; the next pull resumes it`,
          { object: `blob/${digest}` },
        );
      }
      const actual = `${parsed.algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) {
        await unlink(partial).catch(() => undefined);
        throw invalidArgument(
          `blob ${digest} does not match its digest: the data received hashes to ${actual}`,
          {
            object: `blob/${digest}`,
            field: 'digest',
            value: actual,
          },
        );
      }
      await this.commit(partial, parsed);
      return { digest, size };
    } finally {
      await release();
    }
  }

  /** Appends the source's bytes from offset to the partial file; returns its new size. */
  private async receive(
    digest: Digest,
    expectedSize: number | undefined,
    partial: string,
    offset: number,
    hash: ReturnType<typeof createDigester>,
    source: (offset: number) => Promise<Readable>,
    signal: AbortSignal,
  ): Promise<number> {
    let size = offset;
    const file = await open(partial, 'a', 0o600);
    let stream: Readable | undefined;
    const onAbort = (): void => {
      stream?.destroy(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      signal.throwIfAborted();
      stream = await source(offset);
      for await (const data of stream) {
        const chunk = data as Buffer;
        if (expectedSize !== undefined && size + chunk.length > expectedSize) {
          stream.destroy();
          await file.close();
          await unlink(partial).catch(() => undefined);
          throw invalidArgument(
            `blob ${digest} is larger than its descriptor says (${expectedSize} bytes); nothing was stored`,
            { object: `blob/${digest}`, field: 'size', value: expectedSize },
          );
        }
        // Write before hashing: after an interruption the file, not this hash, is the truth.
        await file.write(chunk);
        hash.update(chunk);
        size += chunk.length;
      }
      await file.sync();
      return size;
    } catch (err) {
      if (err instanceof FlotillaError) throw err;
      if (signal.aborted) throw err;
      throw new FlotillaError(
        'Unavailable',
        `download of blob ${digest} was interrupted at ${size} bytes: ${errorMessage(err)}; the next pull resumes it`,
        { object: `blob/${digest}` },
        { cause: err },
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
      await file.close().catch(() => undefined);
    }
  }

  private async commit(tempPath: string, parsed: ParsedDigest): Promise<void> {
    const dir = join(this.root, 'blobs', parsed.algorithm);
    await mkdir(dir, { recursive: true });
    const file = await open(tempPath, 'r');
    try {
      await file.sync();
    } finally {
      await file.close();
    }
    await chmod(tempPath, 0o444);
    await rename(tempPath, join(dir, parsed.hex));
    await syncDirectory(dir);
  }

  private async committed(digest: Digest): Promise<BlobInfo> {
    const info = await this.info(digest);
    if (info === undefined) throw new FlotillaError('Internal', `blob ${digest} vanished after its download`);
    return info;
  }

  async put(data: Buffer | string): Promise<BlobInfo> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = digestOf(bytes);
    const existing = await this.info(digest);
    if (existing !== undefined) return existing;
    const ingestDir = join(this.root, 'ingest');
    await mkdir(ingestDir, { recursive: true });
    const temp = join(ingestDir, `put-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(bytes);
      } finally {
        await file.close();
      }
      await this.commit(temp, parseDigest(digest));
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    return { digest, size: bytes.length };
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.path(digest));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async list(): Promise<BlobInfo[]> {
    const blobs: BlobInfo[] = [];
    for (const algorithm of algorithms) {
      let names: string[];
      try {
        names = await readdir(join(this.root, 'blobs', algorithm));
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      for (const hex of names) {
        const size = await fileSize(join(this.root, 'blobs', algorithm, hex));
        if (size !== undefined) blobs.push({ digest: `${algorithm}:${hex}`, size });
      }
    }
    return blobs;
  }
}
