// Images in the local store as a build sees them: a name resolved to its manifest and
// config (pulled when the store lacks it), its layers unpacked into snapshots, and the
// commit of a new image — config and manifest into the content store, names into the
// image store. Manifests are OCI; a Docker base's layers keep their bytes and digests and
// are relabelled with the OCI media type of the same compression.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { FlotillaError, invalidArgument, notFound, type Logger } from '@flotilla/common';
import { tarDirectory } from '../layers/layer.js';
import { chainIdOf } from '../snapshots/chain-id.js';
import { parseReference, type ParseReferenceOptions } from '../reference/reference.js';
import type { PullOptions } from '../registry/types.js';
import { mediaTypes } from '../types.js';
import type {
  Descriptor,
  Digest,
  ImageConfig,
  ImageManifest,
  ImageRecord,
  ImageReference,
  Platform,
  SnapshotInfo,
} from '../types.js';
import type { ImageResolver, ResolvedImage } from '../build/types.js';
import type { LocalImages } from '../local/local-images.js';
import { storeLayerFile } from './layer-store.js';

/** What fetches an image the local store lacks: a RegistryClient (with its credentials). */
export interface ImagePuller {
  pull(ref: ImageReference, options: PullOptions): Promise<ImageRecord>;
}

export interface LocalImage {
  manifestDigest: Digest;
  manifest: ImageManifest;
  config: ImageConfig;
}

async function readJson(local: LocalImages, digest: Digest, what: string): Promise<unknown> {
  try {
    return JSON.parse((await local.content.read(digest)).toString('utf8')) as unknown;
  } catch (err) {
    if (err instanceof FlotillaError) throw err;
    throw new FlotillaError('Internal', `${what} ${digest} in the content store is not valid JSON`, {
      object: `blob/${digest}`,
    });
  }
}

/** The manifest and config of a locally stored image. */
export async function readLocalImage(
  local: LocalImages,
  manifestDigest: Digest,
  name = manifestDigest,
): Promise<LocalImage> {
  const manifest = (await readJson(local, manifestDigest, 'manifest')) as Partial<ImageManifest>;
  if (manifest.config === undefined || !Array.isArray(manifest.layers)) {
    throw invalidArgument(`${name}: blob ${manifestDigest} is not a single-platform image manifest`, {
      object: `image/${name}`,
      value: manifest.mediaType,
    });
  }
  const config = (await readJson(local, manifest.config.digest, 'image config')) as ImageConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw invalidArgument(
      `${name}: its config lists ${diffIds?.length ?? 'no'} diff IDs for ${manifest.layers.length} layers`,
      {
        object: `image/${name}`,
        field: 'rootfs.diff_ids',
      },
    );
  }
  return { manifestDigest, manifest: manifest as ImageManifest, config };
}

/** The OCI media type for a layer of any known spelling (same bytes, same digest). */
export function ociLayerMediaType(mediaType: string): string {
  switch (mediaType) {
    case mediaTypes.dockerLayerGzip:
      return mediaTypes.ociLayerGzip;
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return mediaTypes.ociLayer;
    default:
      return mediaType;
  }
}

export interface ResolverOptions {
  registry?: ImagePuller;
  reference?: ParseReferenceOptions;
  signal?: AbortSignal;
  log: Logger;
}

/** FROM and COPY --from images: the local store by canonical name first, else a pull. */
export function localImageResolver(local: LocalImages, options: ResolverOptions): ImageResolver {
  return async (text: string, platform: Platform): Promise<ResolvedImage> => {
    const ref = parseReference(text, options.reference);
    let record = await local.images.get(ref.canonical);
    if (record === undefined && ref.digest !== undefined) {
      record = (await local.images.list()).find((r) => r.target.digest === ref.digest);
    }
    if (record === undefined) {
      if (options.registry === undefined) {
        throw notFound(`image ${ref.canonical} is not in the local store (build or pull it first)`, {
          object: `image/${ref.canonical}`,
        });
      }
      options.log.info('base image not in the local store: pulling it', { image: ref.canonical });
      record = await options.registry.pull(ref, {
        content: local.content,
        images: local.images,
        platform,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    const image = await readLocalImage(local, record.target.digest, ref.canonical);
    return { ref: ref.canonical, digest: record.target.digest, config: image.config };
  };
}

/**
 * Unpacks an image's layers into snapshots (each once: existing snapshots are reused) and
 * returns the chain, bottom first, and how many layers had to be unpacked.
 */
export async function unpackImage(
  local: LocalImages,
  image: LocalImage,
  name: string,
): Promise<{ chain: SnapshotInfo[]; unpacked: number }> {
  const chain: SnapshotInfo[] = [];
  let unpacked = 0;
  for (const [i, layer] of image.manifest.layers.entries()) {
    const diffId = image.config.rootfs.diff_ids[i] as Digest;
    if ((await local.content.info(layer.digest)) === undefined) {
      throw notFound(`layer ${layer.digest} of ${name} is not in the content store: pull the image again`, {
        object: `image/${name}`,
        value: layer.digest,
      });
    }
    const before = chain.length;
    const parent = chain[before - 1]?.chainId;
    const existing = await local.snapshots.stat(chainIdOf(parent, diffId));
    if (existing !== undefined) {
      chain.push(existing);
      continue;
    }
    chain.push(
      await local.snapshots.unpack(parent, {
        blobPath: local.content.path(layer.digest),
        mediaType: layer.mediaType,
        diffId,
        digest: layer.digest,
      }),
    );
    unpacked++;
  }
  return { chain, unpacked };
}

/** An OCI image manifest (fields in a fixed order, so equal inputs give equal digests). */
export function imageManifest(config: Descriptor, layers: readonly Descriptor[]): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({
      mediaType: ociLayerMediaType(l.mediaType),
      digest: l.digest,
      size: l.size,
    })),
  };
}

export interface CommitResult {
  manifestDigest: Digest;
  configDigest: Digest;
  /** One record per name, the first being the main one. */
  records: ImageRecord[];
}

/** Canonical names for tags; a digest is refused (a build makes a new digest). */
export function canonicalTags(tags: readonly string[], options?: ParseReferenceOptions): string[] {
  return tags.map((tag) => {
    const ref = parseReference(tag, options);
    if (ref.digest !== undefined) {
      throw invalidArgument(`tag "${tag}" names a digest: tag a build with NAME[:TAG]`, {
        field: 'tag',
        value: tag,
      });
    }
    return ref.canonical;
  });
}

/** Stores config and manifest and points every name at the manifest. */
export async function commitImage(
  local: LocalImages,
  input: {
    config: ImageConfig;
    layers: readonly Descriptor[];
    names: readonly string[];
    platform?: Platform;
  },
): Promise<CommitResult> {
  const configBlob = await local.content.put(JSON.stringify(input.config));
  const manifest = imageManifest(
    { mediaType: mediaTypes.ociConfig, digest: configBlob.digest, size: configBlob.size },
    input.layers,
  );
  const manifestBlob = await local.content.put(JSON.stringify(manifest));
  const target: Descriptor = {
    mediaType: mediaTypes.ociManifest,
    digest: manifestBlob.digest,
    size: manifestBlob.size,
  };
  target.platform = input.platform ?? { architecture: input.config.architecture, os: input.config.os };
  const updatedAt = new Date().toISOString();
  const records: ImageRecord[] = [];
  for (const name of input.names) {
    const record: ImageRecord = { name, target: { ...target }, updatedAt };
    await local.images.put(record);
    records.push(record);
  }
  return { manifestDigest: manifestBlob.digest, configDigest: configBlob.digest, records };
}

/**
 * Commits a root file system directory as a one-layer image named name (for the busybox
 * base: busyboxRootfs, then busyboxImageConfig). The config's diff_ids are set here.
 */
export async function commitBaseImage(
  local: LocalImages,
  name: string,
  rootfsDir: string,
  config: ImageConfig,
  options: { scratchDir?: string } = {},
): Promise<CommitResult & { layer: Descriptor; diffId: Digest }> {
  const [canonical] = canonicalTags([name]);
  const scratch = options.scratchDir ?? join(local.root, 'build');
  const layer = await storeLayerFile(local, scratch, (file) =>
    tarDirectory(rootfsDir, createWriteStream(file)),
  );
  const withLayer: ImageConfig = { ...config, rootfs: { type: 'layers', diff_ids: [layer.diffId] } };
  const descriptor: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
  const result = await commitImage(local, {
    config: withLayer,
    layers: [descriptor],
    names: [canonical as string],
  });
  return { ...result, layer: descriptor, diffId: layer.diffId };
}
