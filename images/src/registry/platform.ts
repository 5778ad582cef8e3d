// Which manifest of an image index runs here. Pure: the host's platform is an argument,
// hostPlatform() reads it from Node once.
import { endianness as osEndianness } from 'node:os';
import { FlotillaError } from '@flotilla/common';
import type { Descriptor, Platform } from '../types.js';

const goArchitectures: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips64el: 'mips64le',
};

/**
 * Node's process.arch in the GOARCH spelling image indexes and Kubernetes labels use.
 * Node says "ppc64" for both byte orders; Go tells them apart.
 */
export function goArch(nodeArch: string, endianness: 'BE' | 'LE' = osEndianness()): string {
  if (nodeArch === 'ppc64') return endianness === 'LE' ? 'ppc64le' : 'ppc64';
  return goArchitectures[nodeArch] ?? nodeArch;
}

export function hostPlatform(): Platform {
  const architecture = goArch(process.arch);
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const version = (process.config.variables as { arm_version?: string }).arm_version ?? '7';
    return { os: 'linux', architecture, variant: `v${version}` };
  }
  return { os: 'linux', architecture };
}

/** Variants a host of the given variant can run, best first (ARM is backwards compatible). */
function compatibleVariants(platform: Platform): (string | undefined)[] {
  const { architecture, variant } = platform;
  if (architecture === 'arm64') return ['v8', undefined];
  if (architecture === 'arm') {
    const order = ['v8', 'v7', 'v6', 'v5'];
    const from = variant === undefined ? 1 : Math.max(0, order.indexOf(variant));
    return [...order.slice(from), undefined];
  }
  return variant === undefined ? [undefined] : [variant, undefined];
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((p) => p !== undefined).join('/');
}

/**
 * The descriptor of the index entry for platform: same os and architecture, the best
 * compatible variant; entries without a platform (attestations, artefacts) never match.
 */
export function selectPlatform(manifests: Descriptor[], platform: Platform, image = 'image'): Descriptor {
  const candidates = manifests.filter(
    (m) => m.platform?.os === platform.os && m.platform.architecture === platform.architecture,
  );
  for (const variant of compatibleVariants(platform)) {
    const match = candidates.find((m) => m.platform?.variant === variant);
    if (match !== undefined) return match;
  }
  // Outside ARM a variant is a micro-architecture level (amd64 v2, v3): take the first.
  const [first] = candidates;
  if (first !== undefined && !platform.architecture.startsWith('arm')) return first;
  const available = manifests
    .flatMap((m) =>
      m.platform !== undefined && m.platform.os !== 'unknown' ? [formatPlatform(m.platform)] : [],
    )
    .join(', ');
  throw new FlotillaError(
    'NotFound',
    `${image} has no manifest for ${formatPlatform(platform)}; it is available for: ${available || 'no platform'}`,
    { object: `image/${image}`, field: 'platform', value: formatPlatform(platform) },
  );
}
