// What `deploy prune` removes, decided from lists alone so the rules are unit-tested and
// the executor just removes what the plan names:
//   1. images: dangling ones (named by digest only, no tag), or with --all every one;
//   2. blobs no remaining image references (manifest, config, layers);
//   3. snapshots no remaining image's chain uses (a parent of a kept one is kept);
//   4. build-cache entries that need a blob which is gone.
import { planSnapshotGc, type BlobInfo, type Digest, type SnapshotLink } from '@flotilla/images';

export interface PruneImage {
  /** Canonical name. */
  name: string;
  /** Whether the name carries a tag (else it is a digest-only name: dangling). */
  tagged: boolean;
  /** The manifest, config and layer digests it needs (undefined parts when unreadable). */
  blobs: Digest[];
  /** The chain ID of its topmost layer; undefined for an image without layers. */
  topChainId?: Digest;
}

export interface PruneSnapshot extends SnapshotLink {
  size: number;
}

export interface PruneCacheEntry {
  key: string;
  /** The blobs a cache hit would reuse. */
  blobs: Digest[];
}

export interface PruneInput {
  all: boolean;
  images: readonly PruneImage[];
  blobs: readonly BlobInfo[];
  snapshots: readonly PruneSnapshot[];
  cache: readonly PruneCacheEntry[];
}

export interface PrunePlan {
  images: string[];
  blobs: BlobInfo[];
  /** Children before parents, so each removal leaves the set consistent. */
  snapshots: Digest[];
  cache: string[];
  /** Bytes of the blobs and snapshots removed. */
  reclaimed: number;
}

export function planPrune(input: PruneInput): PrunePlan {
  const removedImages = input.images.filter((i) => input.all || !i.tagged);
  const removedNames = new Set(removedImages.map((i) => i.name));
  const kept = input.images.filter((i) => !removedNames.has(i.name));

  const neededBlobs = new Set(kept.flatMap((i) => i.blobs));
  const blobs = input.blobs.filter((b) => !neededBlobs.has(b.digest));
  const remainingBlobs = new Set(input.blobs.filter((b) => neededBlobs.has(b.digest)).map((b) => b.digest));

  const inUse = new Set(kept.flatMap((i) => (i.topChainId === undefined ? [] : [i.topChainId])));
  const snapshots = planSnapshotGc(input.snapshots, inUse);
  const sizeOf = new Map(input.snapshots.map((s) => [s.chainId, s.size]));

  const cache = input.cache.filter((e) => e.blobs.some((d) => !remainingBlobs.has(d))).map((e) => e.key);

  const reclaimed =
    blobs.reduce((n, b) => n + b.size, 0) + snapshots.reduce((n, id) => n + (sizeOf.get(id) ?? 0), 0);
  return { images: removedImages.map((i) => i.name), blobs, snapshots, cache, reclaimed };
}
