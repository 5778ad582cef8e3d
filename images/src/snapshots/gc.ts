// Which snapshots garbage collection removes: decided from the snapshot list alone, so the
// rule is unit-tested and the executor just removes what the plan names, in order.
import { compareText } from '@flotilla/common';
import type { Digest } from '../types.js';

export interface SnapshotLink {
  chainId: Digest;
  parent?: Digest;
}

/**
 * The snapshots neither in use nor below one in use (a parent of a kept snapshot is part of
 * its rootfs), ordered children before parents so each removal leaves the set consistent.
 */
export function planSnapshotGc(snapshots: readonly SnapshotLink[], inUse: ReadonlySet<Digest>): Digest[] {
  const byId = new Map(snapshots.map((s) => [s.chainId, s]));
  const keep = new Set<Digest>();
  for (const id of inUse) {
    let current = byId.get(id);
    while (current !== undefined && !keep.has(current.chainId)) {
      keep.add(current.chainId);
      current = current.parent === undefined ? undefined : byId.get(current.parent);
    }
  }
  const depth = new Map<Digest, number>();
  const depthOf = (id: Digest): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    // A broken or cyclic parent link ends the count rather than looping.
    depth.set(id, 0);
    const parent = byId.get(id)?.parent;
    const d = parent !== undefined && byId.has(parent) ? depthOf(parent) + 1 : 0;
    depth.set(id, d);
    return d;
  };
  return snapshots
    .map((s) => s.chainId)
    .filter((id) => !keep.has(id))
    .sort((a, b) => depthOf(b) - depthOf(a) || compareText(a, b));
}
