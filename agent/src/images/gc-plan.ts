// Which images disk-threshold GC removes, as kubelet's image GC decides it: nothing until
// use reaches the high threshold; then the images no desired pod needs, least recently
// used first, until the bytes freed bring use down to the low threshold. Pure: the
// executor in ./image-gc.ts reads the inputs and applies the plan.
import type { DiskUsage, ImageGcThresholds } from './types.js';

/** Something an image keeps on disk: a blob or a snapshot, shared between images by key. */
export interface ImagePart {
  /** "blob:sha256:…" or "snapshot:sha256:…": parts with one key are one thing on disk. */
  key: string;
  size: number;
}

export interface GcCandidate {
  name: string;
  /** Milliseconds since the epoch the image was last wanted by a pod (or pulled). */
  lastUsedMs: number;
  parts: ImagePart[];
}

export interface ImageGcInput {
  usage: DiskUsage;
  thresholds: ImageGcThresholds;
  /** Every image in the store, in use or not: in-use ones keep their shared parts alive. */
  images: GcCandidate[];
  /** Names no GC may remove (wanted by a desired pod, or being pulled). */
  inUse: ReadonlySet<string>;
}

export interface ImageGcPlan {
  /** Whether use reached the high threshold. */
  triggered: boolean;
  usagePercent: number;
  /** Bytes to free to come down to the low threshold (0 when not triggered). */
  bytesToFree: number;
  /** Image names to remove, in order. */
  remove: string[];
  /** Bytes those removals free (parts no remaining image shares). */
  freedBytes: number;
}

function usagePercentOf(usage: DiskUsage): number {
  if (usage.capacityBytes <= 0) return 0;
  const used = Math.max(0, usage.capacityBytes - usage.availableBytes);
  return (used * 100) / usage.capacityBytes;
}

export function planImageGc(input: ImageGcInput): ImageGcPlan {
  const { usage, thresholds, images, inUse } = input;
  const usagePercent = usagePercentOf(usage);
  const none = { usagePercent, bytesToFree: 0, remove: [], freedBytes: 0 };
  // 100 turns GC off (kubelet's rule): a full disk is then the operator's call.
  if (thresholds.highPercent >= 100 || usagePercent < thresholds.highPercent) {
    return { triggered: false, ...none };
  }
  const used = Math.max(0, usage.capacityBytes - usage.availableBytes);
  const target = (usage.capacityBytes * thresholds.lowPercent) / 100;
  const bytesToFree = Math.max(0, Math.ceil(used - target));

  // How many images hold each part: a part is freed when its last holder goes.
  const holders = new Map<string, number>();
  const sizes = new Map<string, number>();
  for (const image of images) {
    for (const part of new Map(image.parts.map((p) => [p.key, p])).values()) {
      holders.set(part.key, (holders.get(part.key) ?? 0) + 1);
      sizes.set(part.key, part.size);
    }
  }
  const candidates = images
    .filter((image) => !inUse.has(image.name))
    .sort((a, b) => a.lastUsedMs - b.lastUsedMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const remove: string[] = [];
  let freedBytes = 0;
  for (const image of candidates) {
    if (freedBytes >= bytesToFree) break;
    remove.push(image.name);
    for (const key of new Set(image.parts.map((p) => p.key))) {
      const left = (holders.get(key) ?? 1) - 1;
      holders.set(key, left);
      if (left === 0) freedBytes += sizes.get(key) ?? 0;
    }
  }
  return { triggered: true, usagePercent, bytesToFree, remove, freedBytes };
}
