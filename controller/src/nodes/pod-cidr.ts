// Pod CIDRs: each node gets one block of the cluster CIDR (--cluster-cidr, split into
// /--node-cidr-mask-size blocks) when it first registers, or the block its agent asked
// for (--pod-cidr) when that overlaps no other node's. Pure: the caller reads the
// allocation keys and writes the chosen one in the node's own transaction.
import { failedPrecondition, invalidArgument, resourceExhausted } from '@flotilla/common';
import { ipv4ToNumber, numberToIpv4, parseCidr } from '../objects/service.js';

export const defaultNodeCidrMaskSize = 24;

/** An IPv4 block: base is its network address as a number. */
export interface CidrBlock {
  base: number;
  bits: number;
}

export interface PodCidrConfig {
  clusterCidr: CidrBlock;
  /** The prefix length of each node's block. */
  maskSize: number;
}

/** A block held by a node, as its allocation key says. */
export interface HeldBlock {
  block: CidrBlock;
  node: string;
}

export const blockSize = (b: CidrBlock): number => 2 ** (32 - b.bits);
export const formatBlock = (b: CidrBlock): string => `${numberToIpv4(b.base)}/${b.bits}`;

export function overlaps(a: CidrBlock, b: CidrBlock): boolean {
  return a.base < b.base + blockSize(b) && b.base < a.base + blockSize(a);
}

/** Parses a network CIDR (/8 to /30); InvalidArgument naming field. */
export function parseBlock(text: string, field: string): CidrBlock {
  const cidr = parseCidr(text, field);
  const bits = Number(cidr.text.split('/')[1]);
  return { base: cidr.first - 1, bits };
}

/** The block an allocation key names ("10.244.1.0-24"), or undefined when it names none. */
export function blockOfAllocationKey(suffix: string): CidrBlock | undefined {
  const m = /^([0-9.]+)-(\d{1,2})$/.exec(suffix);
  if (!m) return undefined;
  const base = ipv4ToNumber(m[1] ?? '');
  const bits = Number(m[2]);
  if (base === undefined || bits < 1 || bits > 32 || base % 2 ** (32 - bits) !== 0) return undefined;
  return { base, bits };
}

/** --cluster-cidr and --node-cidr-mask-size, checked together; InvalidArgument naming the flag. */
export function parsePodCidrConfig(
  clusterCidr: string,
  maskSize: string | number,
  flags = { cidr: '--cluster-cidr', mask: '--node-cidr-mask-size' },
): PodCidrConfig {
  const cluster = parseBlock(clusterCidr, flags.cidr);
  const text = String(maskSize).trim();
  const mask = /^\d{1,2}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(mask) || mask < cluster.bits || mask > 30) {
    throw invalidArgument(
      `${flags.mask} "${text}" must be a prefix length from /${cluster.bits} (the ${flags.cidr} ${formatBlock(cluster)}) to /30`,
      { field: flags.mask, value: text },
    );
  }
  return { clusterCidr: cluster, maskSize: mask };
}

/**
 * The first mask-sized block of the cluster CIDR that overlaps none held, searching from
 * block number start (wrapping around); undefined when full. Registrations racing for one
 * block retry from a random start, so they stop colliding.
 */
export function nextFreeBlock(
  config: PodCidrConfig,
  held: readonly CidrBlock[],
  start = 0,
): CidrBlock | undefined {
  const size = 2 ** (32 - config.maskSize);
  const base = config.clusterCidr.base;
  const end = base + blockSize(config.clusterCidr);
  const blocks = (end - base) / size;
  const from = base + (((start % blocks) + blocks) % blocks) * size;
  const sorted = [...held].sort((a, b) => a.base - b.base);
  const found = freeIn(sorted, size, from, end) ?? freeIn(sorted, size, base, from);
  return found === undefined ? undefined : { base: found, bits: config.maskSize };
}

/**
 * A sweep over the held blocks in address order: each one that overlaps the candidate
 * pushes it past its end (aligned up to the block size), so this is O(n) after the sort.
 */
function freeIn(sorted: readonly CidrBlock[], size: number, from: number, to: number): number | undefined {
  let candidate = from;
  for (const h of sorted) {
    if (candidate + size > to) return undefined;
    const hEnd = h.base + blockSize(h);
    if (hEnd <= candidate) continue;
    if (h.base >= candidate + size) break;
    candidate = Math.ceil(hEnd / size) * size;
  }
  return candidate + size <= to ? candidate : undefined;
}

/**
 * The block node gets: requested (spec.podCIDR of its first registration) when valid and
 * free, inside or outside the cluster CIDR; else the next free block. Errors name
 * spec.podCIDR, the holder of an overlapping block, or the exhausted range.
 */
export function allocatePodCidr(
  config: PodCidrConfig,
  node: string,
  requested: string,
  held: readonly HeldBlock[],
  start = 0,
): CidrBlock {
  const others = held.filter((h) => h.node !== node);
  if (requested.trim() !== '') {
    const block = parseBlock(requested, 'spec.podCIDR');
    const clash = others.find((h) => overlaps(h.block, block));
    if (clash) {
      throw failedPrecondition(
        `spec.podCIDR "${requested}" of node "${node}" overlaps ${formatBlock(clash.block)}, the pod CIDR of node "${clash.node}"; choose another --pod-cidr or leave it empty to have one assigned`,
        { field: 'spec.podCIDR', value: requested },
      );
    }
    return block;
  }
  // A key this node already holds (its node object lost its spec.podCIDR) is its to reuse.
  const own = held.find((h) => h.node === node && h.block.bits === config.maskSize);
  if (own) return own.block;
  const free = nextFreeBlock(
    config,
    others.map((h) => h.block),
    start,
  );
  if (!free) {
    throw resourceExhausted(
      `cluster CIDR exhausted: ${formatBlock(config.clusterCidr)} has no free /${config.maskSize} left for node "${node}" (--cluster-cidr, --node-cidr-mask-size)`,
      { field: 'spec.podCIDR', value: '' },
    );
  }
  return free;
}
