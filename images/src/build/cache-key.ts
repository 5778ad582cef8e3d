// Cache keys: sha256 over a fixed-order JSON of everything a step's result depends on.
// Because each key includes its parent's, a key identifies the whole chain up to it, so
// an executor may reuse the stored result of any step whose key it has seen before.
import { createHash } from 'node:crypto';
import type { Digest, Platform } from '../types.js';

/** Bumped when what goes into a key changes, so old cache entries stop matching. */
const keyVersion = 'flotilla-build-cache/v1';

const sha256 = (text: string): Digest => `sha256:${createHash('sha256').update(text).digest('hex')}`;

export const platformString = (p: Platform): string =>
  `${p.os}/${p.architecture}${p.variant !== undefined && p.variant !== '' ? `/${p.variant}` : ''}`;

/** A stage's starting point: "scratch" or a base image's manifest digest, for one platform. */
export function baseCacheKey(base: Digest, platform: Platform): Digest {
  return sha256(JSON.stringify({ v: keyVersion, base, platform: platformString(platform) }));
}

export interface StepKeyInput {
  /** The previous step's key. */
  parent: Digest;
  /** The normalised instruction, after substitution. */
  instruction: string;
  /** The build args the step uses, as "name=value"; order does not matter. */
  args?: readonly string[];
  /** COPY/ADD: the digest of the selected files (or of the stage/image they come from). */
  content?: string;
}

export function stepCacheKey(input: StepKeyInput): Digest {
  return sha256(
    JSON.stringify({
      v: keyVersion,
      parent: input.parent,
      instruction: input.instruction,
      args: [...(input.args ?? [])].sort(),
      content: input.content ?? null,
    }),
  );
}
