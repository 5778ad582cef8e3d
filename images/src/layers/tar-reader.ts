// Reads a tar stream entry by entry, one at a time: the handler for an entry finishes
// (and has read its data, or it is drained) before the next handler starts, so a caller can
// do its own asynchronous writes in archive order. The sha256 of every byte that went in is
// the layer's diffID.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Parser, type ReadEntry } from 'tar';
import { FlotillaError } from '@flotilla/common';
import type { Digest } from '../types.js';

export interface TarReadResult {
  /** sha256 of the whole uncompressed stream. */
  diffId: Digest;
  /** Uncompressed bytes read. */
  size: number;
}

export type TarEntryHandler = (entry: ReadEntry) => Promise<void>;

/**
 * Parses the uncompressed tar bytes in chunks, calling onEntry for each file-system entry
 * (metadata entries such as PAX headers are folded in by the parser). The first error, from
 * the parser or a handler, stops the read and is thrown.
 */
export async function readTar(
  chunks: AsyncIterable<Buffer>,
  onEntry: TarEntryHandler,
  signal?: AbortSignal,
): Promise<TarReadResult> {
  // Every parser warning (bad checksum, truncated archive…) is an error here, except the
  // one for an archive of nothing but end-of-archive blocks: that is the empty layer Docker
  // and diffs of unchanged containers produce.
  // zstd: false: the bytes are already decompressed; never sniff them again.
  const parser = new Parser({ zstd: false });
  let entries = 0;
  let onlyZeros = true;
  const hash = createHash('sha256');
  let size = 0;
  let failure: Error | undefined;
  let fail!: (err: unknown) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = (err) => {
      if (failure === undefined) {
        failure = err instanceof Error ? err : new Error(String(err));
        reject(failure);
      }
    };
  });
  failed.catch(() => undefined);

  let chain: Promise<void> = Promise.resolve();
  parser.on('entry', (entry: ReadEntry) => {
    entries++;
    chain = chain.then(async () => {
      if (failure !== undefined) {
        entry.resume();
        return;
      }
      try {
        await onEntry(entry);
      } catch (err) {
        fail(err);
      } finally {
        // Whatever the handler did not read is drained, so the parser moves on.
        entry.resume();
      }
    });
  });
  parser.on('error', (err: Error) =>
    fail(new FlotillaError('InvalidArgument', `not a valid tar stream: ${err.message}`, {}, { cause: err })),
  );
  parser.on('warn', (code: string, message: string) => {
    if (
      code === 'TAR_BAD_ARCHIVE' &&
      entries === 0 &&
      onlyZeros &&
      /Unrecognized archive format/.test(message)
    ) {
      return;
    }
    fail(new FlotillaError('InvalidArgument', `not a valid tar stream: ${message} (${code})`));
  });

  const ended = once(parser, 'end');
  ended.catch(() => undefined);
  try {
    for await (const chunk of chunks) {
      if (failure !== undefined) break;
      signal?.throwIfAborted();
      hash.update(chunk);
      size += chunk.length;
      if (onlyZeros && chunk.some((b) => b !== 0)) onlyZeros = false;
      if (!parser.write(chunk)) await Promise.race([once(parser, 'drain'), failed]);
    }
  } catch (err) {
    fail(err);
  }
  if (failure === undefined) {
    parser.end();
    await Promise.race([ended, failed]).catch(() => undefined);
  }
  await chain;
  if (failure !== undefined) throw failure;
  return { diffId: `sha256:${hash.digest('hex')}`, size };
}
