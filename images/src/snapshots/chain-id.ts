// The OCI image spec's ChainID: the identity of a stack of layers, so a snapshot is shared
// by every image whose layers below it are the same.
//   ChainID(L0) = DiffID(L0);  ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))
import { createHash } from 'node:crypto';
import { parseDigest } from '../content/digest.js';
import type { Digest } from '../types.js';

/** The chain ID of diffId stacked on parent (undefined: the bottom layer). */
export function chainIdOf(parent: Digest | undefined, diffId: Digest): Digest {
  parseDigest(diffId, 'diffId');
  if (parent === undefined) return diffId;
  parseDigest(parent, 'parent');
  return `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
}

/** The chain ID of each layer of an image, bottom first (one per diff ID). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) out.push(chainIdOf(out.at(-1), diffId));
  return out;
}

/** The chain ID of a whole image's layers; undefined for an image with no layers. */
export function chainId(diffIds: readonly Digest[]): Digest | undefined {
  return chainIds(diffIds).at(-1);
}
