// One directory holding a host's content store, image names, snapshots and build cache.
export { openLocalImages, type LocalImages, type OpenLocalImagesOptions } from './local-images.js';
export {
  FileBuildCache,
  type BuildCache,
  type BuildCacheEntry,
  type BuildCacheLayer,
} from './build-cache.js';
