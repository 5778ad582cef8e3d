// The local images with what their manifests and configs say, read once for `images`,
// `inspect`, `rmi` by ID and `prune`. A record whose blobs are missing or unreadable is
// still listed (with the problem), so it can be seen and removed.
import { errorMessage } from '@flotilla/common';
import {
  chainId,
  parseManifestDocument,
  parseReference,
  type ContentStore,
  type Digest,
  type ImageConfig,
  type ImageManifest,
  type ImageRecord,
  type ImageReference,
  type ImageStore,
} from '@flotilla/images';
import type { ImageSummary } from './format.js';

export interface LocalImage {
  record: ImageRecord;
  ref: ImageReference;
  manifest?: ImageManifest;
  config?: ImageConfig;
  /** Why the manifest or config could not be read. */
  problem?: string;
}

export async function readLocalImage(content: ContentStore, record: ImageRecord): Promise<LocalImage> {
  const image: LocalImage = { record, ref: parseReference(record.name) };
  try {
    const document = parseManifestDocument(
      await content.read(record.target.digest),
      record.target.mediaType,
      record.name,
    );
    if (document.kind !== 'manifest') {
      image.problem = 'the local image is an index, not a single-platform manifest';
      return image;
    }
    image.manifest = document.manifest;
    image.config = JSON.parse(
      (await content.read(document.manifest.config.digest)).toString('utf8'),
    ) as ImageConfig;
  } catch (err) {
    image.problem = errorMessage(err);
  }
  return image;
}

export async function listLocalImages(stores: {
  content: ContentStore;
  images: ImageStore;
}): Promise<LocalImage[]> {
  const records = await stores.images.list();
  return Promise.all(records.map((r) => readLocalImage(stores.content, r)));
}

/** Every blob an image needs: manifest, config, layers (as far as they are known). */
export function blobsOf(image: LocalImage): Digest[] {
  const blobs = [image.record.target.digest];
  if (image.manifest !== undefined) {
    blobs.push(image.manifest.config.digest, ...image.manifest.layers.map((l) => l.digest));
  }
  return blobs;
}

/** The chain ID of the image's topmost layer, from its config's diff IDs. */
export function topChainIdOf(image: LocalImage): Digest | undefined {
  const diffIds = image.config?.rootfs?.diff_ids;
  return Array.isArray(diffIds) ? chainId(diffIds) : undefined;
}

export function summaryOf(image: LocalImage): ImageSummary {
  const summary: ImageSummary = {
    ref: image.ref,
    manifestDigest: image.record.target.digest,
    size: image.manifest
      ? image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0)
      : 0,
  };
  if (image.manifest !== undefined) summary.configDigest = image.manifest.config.digest;
  if (image.config?.created !== undefined) summary.created = image.config.created;
  return summary;
}

/**
 * The images an argument of rmi/inspect names: an image ID (12 to 64 hex digits of the
 * config digest, or sha256:…) when one matches, else the reference.
 */
export function matchImages(images: readonly LocalImage[], text: string): LocalImage[] {
  const id = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(text)?.[1];
  if (id !== undefined) {
    const byId = images.filter((i) => i.manifest?.config.digest.startsWith(`sha256:${id}`));
    if (byId.length > 0 || text.startsWith('sha256:')) return byId;
  }
  let ref: ImageReference;
  try {
    ref = parseReference(text);
  } catch {
    return [];
  }
  return images.filter((i) => i.record.name === ref.canonical);
}
