// Applies `deploy prune`'s plan to a local image store: names first, so nothing refers to
// what is removed next, then blobs, snapshots (children first) and build-cache entries.
import { familiarName, parseReference, type LocalImages } from '@flotilla/images';
import { blobsOf, listLocalImages, topChainIdOf } from './inventory.js';
import { planPrune, type PruneImage, type PrunePlan } from './prune-plan.js';

export async function planLocalPrune(local: LocalImages, all: boolean): Promise<PrunePlan> {
  const images: PruneImage[] = (await listLocalImages(local)).map((image) => {
    const entry: PruneImage = {
      name: image.record.name,
      tagged: image.ref.tag !== undefined,
      blobs: blobsOf(image),
    };
    const top = topChainIdOf(image);
    if (top !== undefined) entry.topChainId = top;
    return entry;
  });
  const snapshots = (await local.snapshots.list()).map((s) => ({
    chainId: s.chainId,
    size: s.size,
    ...(s.parent !== undefined ? { parent: s.parent } : {}),
  }));
  const cache = (await local.buildCache.list()).map((e) => ({
    key: e.cacheKey,
    blobs: e.layer === undefined ? [] : [e.layer.descriptor.digest],
  }));
  return planPrune({ all, images, blobs: await local.content.list(), snapshots, cache });
}

export async function applyPrune(
  local: LocalImages,
  plan: PrunePlan,
  say: (line: string) => void,
): Promise<void> {
  for (const name of plan.images) {
    if (await local.images.delete(name)) say(`Untagged: ${familiarName(parseReference(name))}`);
  }
  for (const blob of plan.blobs) await local.content.delete(blob.digest);
  for (const chainId of plan.snapshots) await local.snapshots.remove(chainId);
  if (plan.cache.length > 0) await local.buildCache.delete(plan.cache);
}
