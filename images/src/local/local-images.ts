// The images of one host (or one CLI user) under a single directory:
//
//   <root>/content/       blobs by digest (FileContentStore)
//   <root>/snapshots/     unpacked layers by chain ID (OverlaySnapshotter)
//   <root>/images.json    names → manifests (FileImageStore)
//   <root>/build-cache.json   build steps → layers (FileBuildCache)
//   <root>/build/         a running build's mounts and scratch files (removed after it)
//   <root>/runc/          runc's state for build containers
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '@flotilla/common';
import { FileContentStore } from '../content/file-store.js';
import { OverlaySnapshotter } from '../snapshots/overlay.js';
import { FileImageStore } from '../store/file-image-store.js';
import { FileBuildCache } from './build-cache.js';

export interface LocalImages {
  /** Absolute. */
  root: string;
  content: FileContentStore;
  images: FileImageStore;
  snapshots: OverlaySnapshotter;
  buildCache: FileBuildCache;
}

export interface OpenLocalImagesOptions {
  logger?: Logger;
}

/** Opens (creating the directory when missing) the local image store at root. Synchronous. */
export function openLocalImages(root: string, options: OpenLocalImagesOptions = {}): LocalImages {
  const dir = resolve(root);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const logger = options.logger ?? createLogger({ component: 'images' });
  return {
    root: dir,
    content: new FileContentStore(join(dir, 'content'), { logger: logger.child({ store: 'content' }) }),
    images: new FileImageStore(join(dir, 'images.json')),
    snapshots: new OverlaySnapshotter(join(dir, 'snapshots'), {
      logger: logger.child({ store: 'snapshots' }),
    }),
    buildCache: new FileBuildCache(join(dir, 'build-cache.json')),
  };
}
