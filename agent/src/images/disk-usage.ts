// Disk use of the filesystem holding a directory, as `df` shows it to an unprivileged
// user: capacity, and what is available to it (the reserved blocks count as used).
import { statfs } from 'node:fs/promises';
import type { DiskUsage } from './types.js';

export async function readDiskUsage(path: string): Promise<DiskUsage> {
  const s = await statfs(path);
  return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize };
}
