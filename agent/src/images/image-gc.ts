// Disk-threshold image GC, the executor: reads disk use and the stores, asks the pure plan
// (./gc-plan.ts) which images go, removes their names, then sweeps the blobs and
// snapshots no remaining image references. The caller makes sure no pull runs meanwhile.
import { errorMessage, type Logger } from '@flotilla/common';
import type { Digest } from '@flotilla/images';
import { planImageGc, type GcCandidate } from './gc-plan.js';
import {
  imageBlobs,
  imageParts,
  readLocalImage,
  type AgentImageStores,
  type LocalImage,
} from './local-image.js';
import type { DiskUsage, ImageGcResult, ImageGcThresholds } from './types.js';

export interface ImageGcRun {
  stores: AgentImageStores;
  thresholds: ImageGcThresholds;
  /** Names no GC may remove. */
  inUse: ReadonlySet<string>;
  /** When an image was last wanted (ms since the epoch); undefined: never seen in use. */
  lastUsedMs: (name: string) => number | undefined;
  readUsage: (path: string) => Promise<DiskUsage>;
  log: Logger;
}

export async function collectImageGarbage(run: ImageGcRun): Promise<ImageGcResult> {
  const { stores, thresholds, inUse, log } = run;
  const usageBefore = await run.readUsage(stores.root);
  const records = await stores.images.list();
  const loaded = new Map<string, LocalImage>();
  for (const record of records) {
    try {
      loaded.set(record.name, await readLocalImage(stores.content, record));
    } catch (err) {
      log.warn('image in the store is unreadable; GC may remove it but will not sweep blobs for it', {
        image: record.name,
        error: errorMessage(err),
      });
    }
  }
  const snapshotSizes = new Map((await stores.snapshots.list()).map((s) => [s.chainId, s.size]));
  const candidates: GcCandidate[] = records.map((record) => {
    const image = loaded.get(record.name);
    return {
      name: record.name,
      // Never seen in use by this agent: as old as its pull.
      lastUsedMs: run.lastUsedMs(record.name) ?? (Date.parse(record.updatedAt) || 0),
      parts: image !== undefined ? imageParts(image, snapshotSizes) : [],
    };
  });
  const plan = planImageGc({ usage: usageBefore, thresholds, images: candidates, inUse });
  const result: ImageGcResult = {
    usageBefore,
    removedImages: [],
    removedBlobs: 0,
    removedSnapshots: 0,
    plannedBytes: plan.freedBytes,
  };
  if (!plan.triggered) {
    result.skipped = `disk use ${plan.usagePercent.toFixed(1)}% is below the high threshold ${thresholds.highPercent}%`;
    return result;
  }
  log.info('disk use above the image GC threshold', {
    usagePercent: Number(plan.usagePercent.toFixed(1)),
    highPercent: thresholds.highPercent,
    lowPercent: thresholds.lowPercent,
    bytesToFree: plan.bytesToFree,
    remove: plan.remove,
    plannedBytes: plan.freedBytes,
  });

  for (const name of plan.remove) {
    if (await stores.images.delete(name)) result.removedImages.push(name);
  }
  const removed = new Set(plan.remove);
  const remaining = records.filter((r) => !removed.has(r.name));
  const unreadable = remaining.filter((r) => !loaded.has(r.name)).map((r) => r.name);
  if (unreadable.length > 0) {
    // Their blobs and snapshots are unknown: sweeping could take what they still need.
    log.warn('not sweeping blobs and snapshots while unreadable images remain', { images: unreadable });
  } else {
    const keepBlobs = new Set<Digest>();
    const keepSnapshots = new Set<Digest>();
    for (const record of remaining) {
      const image = loaded.get(record.name)!;
      for (const digest of imageBlobs(image)) keepBlobs.add(digest);
      const top = image.chainIds.at(-1);
      if (top !== undefined) keepSnapshots.add(top);
    }
    for (const blob of await stores.content.list()) {
      if (keepBlobs.has(blob.digest)) continue;
      await stores.content.delete(blob.digest);
      result.removedBlobs++;
    }
    result.removedSnapshots = (await stores.snapshots.garbageCollect(keepSnapshots)).length;
  }
  result.usageAfter = await run.readUsage(stores.root);
  log.info('image GC done', {
    removedImages: result.removedImages,
    removedBlobs: result.removedBlobs,
    removedSnapshots: result.removedSnapshots,
    availableBytes: result.usageAfter.availableBytes,
  });
  return result;
}
