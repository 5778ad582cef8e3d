// Where else on the same registry a blob already is, so a push can mount it from there
// instead of uploading it again (images built FROM a base pulled from that registry).
// Pure: the local images and their blobs in, candidate source repositories out.
import type { Digest, ImageReference } from '../types.js';

export interface LocalImageBlobs {
  reference: ImageReference;
  blobs: Digest[];
}

/** For each blob, the other repositories of target's registry that hold it, first seen first. */
export function mountSources(target: ImageReference, images: LocalImageBlobs[]): Map<Digest, string[]> {
  const sources = new Map<Digest, string[]>();
  for (const image of images) {
    if (image.reference.registry !== target.registry) continue;
    if (image.reference.repository === target.repository) continue;
    for (const digest of image.blobs) {
      const repos = sources.get(digest) ?? [];
      if (!repos.includes(image.reference.repository)) repos.push(image.reference.repository);
      sources.set(digest, repos);
    }
  }
  return sources;
}
