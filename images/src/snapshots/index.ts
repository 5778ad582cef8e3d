// Snapshots: layers unpacked once each by chain ID, rootfs mounts over them, their GC.
export { chainIdOf, chainIds, chainId } from './chain-id.js';
export {
  entryParts,
  classifyEntryName,
  resolveWithin,
  maxSymlinks,
  type EntryName,
  type PathStep,
  type ResolvedPath,
} from './paths.js';
export { rootfsMount, maxMountData } from './mounts.js';
export { planSnapshotGc, type SnapshotLink } from './gc.js';
export { LayerApplier, type LowerLayer, type ApplyOptions, type ApplyResult } from './apply.js';
export { OverlaySnapshotter, type OverlaySnapshotterOptions, type UnpackLayer } from './overlay.js';
