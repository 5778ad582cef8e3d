// The agent's local image store (the same layout as the CLI's, @flotilla/images'
// openLocalImages) and what one stored image is made of: its manifest, config and layer
// blobs, and the snapshots its layers unpack into.
import { FlotillaError, type Logger } from '@flotilla/common';
import {
  chainIds,
  openLocalImages,
  parseManifestDocument,
  type ContentStore,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageRecord,
  type LocalImages,
  type SnapshotInfo,
} from '@flotilla/images';
import type { ImagePart } from './gc-plan.js';

/** The parts of the local store the agent uses (it builds nothing: no build cache). */
export type AgentImageStores = Pick<LocalImages, 'root' | 'content' | 'images' | 'snapshots'>;

export function openAgentImageStores(root: string, logger: Logger): AgentImageStores {
  return openLocalImages(root, { logger });
}

/** One image as stored: everything needed to unpack it or to count what it keeps on disk. */
export interface LocalImage {
  record: ImageRecord;
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIds: Digest[];
  /** Chain ID per layer, bottom first. */
  chainIds: Digest[];
}

function broken(record: ImageRecord, problem: string): FlotillaError {
  return new FlotillaError('InvalidArgument', `local image ${record.name}: ${problem}`, {
    object: `image/${record.name}`,
  });
}

/**
 * Reads a stored image's manifest and config. Throws NotFound when its manifest or
 * config blob is missing (the content store's error).
 */
export async function readLocalImage(content: ContentStore, record: ImageRecord): Promise<LocalImage> {
  const document = parseManifestDocument(
    await content.read(record.target.digest),
    record.target.mediaType,
    record.name,
  );
  if (document.kind !== 'manifest') throw broken(record, 'its name points to an index, not one platform');
  const { config, layers } = document.manifest;
  const parsed = JSON.parse((await content.read(config.digest)).toString('utf8')) as Partial<ImageConfig>;
  const diffIds = parsed.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== layers.length) {
    throw broken(
      record,
      `its config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff IDs for ${layers.length} layers`,
    );
  }
  return { record, manifest: record.target, config, layers, diffIds, chainIds: chainIds(diffIds) };
}

/** Whether every blob of the image is in the content store (so no pull is needed). */
export async function hasAllBlobs(content: ContentStore, image: LocalImage): Promise<boolean> {
  for (const blob of [image.config, ...image.layers]) {
    if ((await content.info(blob.digest)) === undefined) return false;
  }
  return true;
}

/** Unpacks each layer not unpacked yet, bottom first; returns the chain, topmost last. */
export async function unpackLocalImage(stores: AgentImageStores, image: LocalImage): Promise<SnapshotInfo[]> {
  const chain: SnapshotInfo[] = [];
  let parent: Digest | undefined;
  for (const [i, layer] of image.layers.entries()) {
    const info = await stores.snapshots.unpack(parent, {
      blobPath: stores.content.path(layer.digest),
      mediaType: layer.mediaType,
      diffId: image.diffIds[i]!,
      digest: layer.digest,
    });
    chain.push(info);
    parent = info.chainId;
  }
  return chain;
}

/** The blob digests an image references (manifest, config, layers). */
export function imageBlobs(image: LocalImage): Digest[] {
  return [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)];
}

/** What an image keeps on disk, for the GC plan: its blobs and its unpacked snapshots. */
export function imageParts(image: LocalImage, snapshotSizes: ReadonlyMap<Digest, number>): ImagePart[] {
  const parts: ImagePart[] = [
    { key: `blob:${image.manifest.digest}`, size: image.manifest.size },
    { key: `blob:${image.config.digest}`, size: image.config.size },
    ...image.layers.map((l) => ({ key: `blob:${l.digest}`, size: l.size })),
  ];
  for (const id of image.chainIds) {
    const size = snapshotSizes.get(id);
    if (size !== undefined) parts.push({ key: `snapshot:${id}`, size });
  }
  return parts;
}
