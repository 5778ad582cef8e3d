// Layer blobs by media type: which decompressor a blob needs, and the decompressed byte
// stream of a blob on disk. gzip is Node's zlib; zstd is Debian's `zstd` binary, because
// Node 20's zlib has no zstd and the native tool is several times faster than any pure-JS
// decoder (the pull benchmark unpacks through this path).
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { invalidArgument, FlotillaError } from '@flotilla/common';
import { mediaTypes } from '../types.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const readChunk = 256 * 1024;

/**
 * The compression a layer media type declares. OCI and Docker spell it differently
 * ("+gzip", ".tar.gzip"); foreign and non-distributable variants compress the same way.
 */
export function layerCompression(mediaType: string): LayerCompression {
  const type = mediaType.trim().toLowerCase();
  if (type.endsWith('+gzip') || type.endsWith('.tar.gzip')) return 'gzip';
  if (type.endsWith('+zstd') || type.endsWith('.tar.zstd')) return 'zstd';
  if (type.endsWith('.tar')) return 'none';
  throw invalidArgument(
    `layer media type "${mediaType}" is not a layer type: expected ${mediaTypes.ociLayer}, ` +
      `${mediaTypes.ociLayerGzip}, ${mediaTypes.ociLayerZstd} or ${mediaTypes.dockerLayerGzip}`,
    { field: 'mediaType', value: mediaType },
  );
}

/** The media type a layer written with this compression is published under. */
export function layerMediaType(compression: LayerCompression): string {
  switch (compression) {
    case 'gzip':
      return mediaTypes.ociLayerGzip;
    case 'zstd':
      return mediaTypes.ociLayerZstd;
    case 'none':
      return mediaTypes.ociLayer;
  }
}

/**
 * The uncompressed bytes of a layer blob. Iterate it to the end; breaking out early (or an
 * error) closes the file and stops the decompressor. A corrupt blob makes the iteration
 * throw, naming the blob.
 */
export async function* decompressedChunks(
  blobPath: string,
  compression: LayerCompression,
): AsyncGenerator<Buffer> {
  switch (compression) {
    case 'none':
      yield* createReadStream(blobPath, { highWaterMark: readChunk }) as AsyncIterable<Buffer>;
      return;
    case 'gzip': {
      const file = createReadStream(blobPath, { highWaterMark: readChunk });
      const gunzip = createGunzip({ chunkSize: readChunk });
      file.on('error', (err) => gunzip.destroy(err));
      file.pipe(gunzip);
      try {
        yield* gunzip as AsyncIterable<Buffer>;
      } catch (err) {
        // zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR…) mean bad data; others (reading the
        // file) pass through as they are.
        if (!/^Z_/.test((err as NodeJS.ErrnoException).code ?? '')) throw err;
        throw new FlotillaError(
          'InvalidArgument',
          `layer blob ${blobPath} is not valid gzip`,
          {
            object: blobPath,
          },
          { cause: err },
        );
      } finally {
        file.destroy();
        gunzip.destroy();
      }
      return;
    }
    case 'zstd':
      yield* zstdChunks(blobPath);
      return;
  }
}

async function* zstdChunks(blobPath: string): AsyncGenerator<Buffer> {
  const child = spawn('zstd', ['-d', '-c', '-q', '--', blobPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  let finished = false;
  try {
    yield* child.stdout as AsyncIterable<Buffer>;
    const { code, error } = await exited;
    if (error !== undefined || code !== 0) {
      throw new FlotillaError(
        'InvalidArgument',
        `layer blob ${blobPath} could not be decompressed with zstd: ${error?.message ?? stderr.trim()}`,
        { object: blobPath },
        { cause: error },
      );
    }
    finished = true;
  } finally {
    // The consumer stopped early (or failed): stop the one process we started.
    if (!finished && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
