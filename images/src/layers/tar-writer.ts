// Writes layer entries as a tar stream (ustar headers, PAX only when a field needs it, no
// user or group names, no atime/ctime) to any Writable, optionally gzip-compressed, and
// measures it as it goes: diffID over the tar, digest and size over the bytes written.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { PassThrough, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';
import { FlotillaError, invalidArgument } from '@flotilla/common';
import type { Digest } from '../types.js';
import { layerMediaType } from './compression.js';
import type { LayerEntry, LayerEntryType } from './entries.js';

export type LayerOutputCompression = 'gzip' | 'none';

export interface LayerWriteOptions {
  /** Default gzip, the format every registry and client reads. */
  compression?: LayerOutputCompression;
  /** zlib level 1-9; default 6. */
  gzipLevel?: number;
}

/** A written layer: what the image config (diffId) and the manifest (digest, size) need. */
export interface LayerWriteResult {
  diffId: Digest;
  digest: Digest;
  size: number;
  mediaType: string;
}

const block = 512;
const readChunk = 1024 * 1024;
const zeroBlock = Buffer.alloc(block);

const tarTypes: Record<LayerEntryType, HeaderData['type']> = {
  file: 'File',
  directory: 'Directory',
  symlink: 'SymbolicLink',
  hardlink: 'Link',
  fifo: 'FIFO',
};

function hashing(hash: Hash, count?: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      hash.update(chunk);
      if (count) count.bytes += chunk.length;
      done(null, chunk);
    },
  });
}

/** Encodes one header (with a PAX header before it when a path or number does not fit). */
export function encodeHeader(entry: LayerEntry): Buffer {
  const isDir = entry.type === 'directory';
  const path = isDir && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const size = entry.type === 'file' ? (entry.size ?? entry.data?.length ?? 0) : 0;
  const mtime = new Date(Math.floor(entry.mtime.getTime() / 1000) * 1000);
  const header = new Header({
    path,
    mode: entry.mode & 0o7777,
    uid: entry.uid,
    gid: entry.gid,
    size,
    mtime,
    type: tarTypes[entry.type],
    linkpath: entry.linkTarget,
    uname: '',
    gname: '',
  });
  const needPax = header.encode();
  if (header.block === undefined) throw new Error(`could not encode a tar header for ${entry.path}`);
  if (!needPax) return header.block;
  const pax = new Pax({ path, linkpath: entry.linkTarget, size, uid: entry.uid, gid: entry.gid });
  return Buffer.concat([pax.encode(), header.block]);
}

/**
 * A layer being written. add() entries in order (parents before children), then finish().
 * On an error, abort() ends the output stream with the error.
 */
export class LayerWriter {
  readonly #tar = new PassThrough({ highWaterMark: 256 * 1024 });
  readonly #diffHash = createHash('sha256');
  readonly #blobHash = createHash('sha256');
  readonly #count = { bytes: 0 };
  readonly #done: Promise<void>;
  readonly #compression: LayerOutputCompression;
  #failure: Error | undefined;

  constructor(out: Writable, options: LayerWriteOptions = {}) {
    this.#compression = options.compression ?? 'gzip';
    // Uncompressed, the blob is the tar: one hash serves as diffID and digest.
    const transforms: Transform[] =
      this.#compression === 'gzip'
        ? [
            hashing(this.#diffHash),
            createGzip({ level: options.gzipLevel ?? 6 }),
            hashing(this.#blobHash, this.#count),
          ]
        : [hashing(this.#diffHash, this.#count)];
    this.#done = pipeline([this.#tar, ...transforms, out]).catch((err: unknown) => {
      this.#failure ??= err instanceof Error ? err : new Error(String(err));
      throw this.#failure;
    });
    this.#done.catch(() => undefined);
  }

  async #write(chunk: Buffer): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (!this.#tar.write(chunk)) {
      await Promise.race([
        new Promise<void>((resolve) => this.#tar.once('drain', () => resolve())),
        this.#done,
      ]);
    }
  }

  async add(entry: LayerEntry): Promise<void> {
    await this.#write(encodeHeader(entry));
    if (entry.type !== 'file') return;
    const size = entry.size ?? entry.data?.length ?? 0;
    if (entry.data !== undefined) {
      if (entry.data.length !== size) {
        throw invalidArgument(
          `layer entry ${entry.path}: data is ${entry.data.length} bytes, size says ${size}`,
          {
            object: entry.path,
            field: 'size',
            value: size,
          },
        );
      }
      await this.#write(entry.data);
    } else if (size > 0) {
      if (entry.source === undefined) {
        throw invalidArgument(`layer entry ${entry.path} has ${size} bytes but neither source nor data`, {
          object: entry.path,
        });
      }
      await this.#copyFile(entry.path, entry.source, size);
    }
    const pad = (block - (size % block)) % block;
    if (pad > 0) await this.#write(zeroBlock.subarray(0, pad));
  }

  async #copyFile(path: string, source: string, size: number): Promise<void> {
    // Read synchronously into buffers of exactly the size still needed (at most 1 MiB):
    // a read stream per file would allocate its whole high-water mark for every small file.
    const fd = openSync(source, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      let copied = 0;
      while (copied < size) {
        const chunk = Buffer.allocUnsafe(Math.min(size - copied, readChunk));
        const n = readSync(fd, chunk, 0, chunk.length, copied);
        if (n === 0) break;
        await this.#write(n === chunk.length ? chunk : chunk.subarray(0, n));
        copied += n;
      }
      if (copied !== size || readSync(fd, Buffer.alloc(1), 0, 1, size) !== 0) {
        // The file changed between the walk and the copy: the header already promised a size.
        throw new FlotillaError('Conflict', `${source} changed while it was being archived as ${path}`, {
          object: source,
          field: 'size',
          value: size,
        });
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the end-of-archive blocks, waits for the output to finish and returns the digests. */
  async finish(): Promise<LayerWriteResult> {
    await this.#write(Buffer.concat([zeroBlock, zeroBlock]));
    this.#tar.end();
    await this.#done;
    const diffId: Digest = `sha256:${this.#diffHash.digest('hex')}`;
    return {
      diffId,
      digest: this.#compression === 'gzip' ? `sha256:${this.#blobHash.digest('hex')}` : diffId,
      size: this.#count.bytes,
      mediaType: layerMediaType(this.#compression),
    };
  }

  /** Stops writing: the output is destroyed with the error. */
  abort(err: unknown): void {
    this.#failure ??= err instanceof Error ? err : new Error(String(err));
    this.#tar.destroy(this.#failure);
  }
}
