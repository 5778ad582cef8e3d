// A layer written to a scratch file, then taken into the content store by digest (which
// verifies it again) and the scratch file removed; and a stored layer unpacked on top of a
// chain, so the next step's rootfs has it.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerWriteResult } from '../layers/tar-writer.js';
import type { LocalImages } from '../local/local-images.js';
import type { Descriptor, Digest, SnapshotInfo } from '../types.js';

export async function storeLayerFile(
  local: LocalImages,
  scratchDir: string,
  write: (file: string) => Promise<LayerWriteResult>,
): Promise<LayerWriteResult> {
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const file = join(scratchDir, `layer-${process.pid}-${randomBytes(6).toString('hex')}.tar.gz`);
  try {
    const layer = await write(file);
    await local.content.ingest({ digest: layer.digest, size: layer.size }, async (offset) =>
      createReadStream(file, { start: offset }),
    );
    return layer;
  } finally {
    await rm(file, { force: true });
  }
}

/** Unpacks a stored layer on top of parent (a no-op when that snapshot exists). */
export async function unpackStoredLayer(
  local: LocalImages,
  parent: SnapshotInfo | undefined,
  layer: { diffId: Digest; descriptor: Descriptor },
): Promise<SnapshotInfo> {
  return local.snapshots.unpack(parent?.chainId, {
    blobPath: local.content.path(layer.descriptor.digest),
    mediaType: layer.descriptor.mediaType,
    diffId: layer.diffId,
    digest: layer.descriptor.digest,
  });
}
