// Digests as the OCI image spec writes them ("sha256:<hex>"), and the hashes behind them.
import { createHash, type Hash } from 'node:crypto';
import { invalidArgument } from '@flotilla/common';
import type { Digest } from '../types.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const encodedLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Splits and validates a digest; the error names the value and what is valid. */
export function parseDigest(digest: string, what = 'digest'): ParsedDigest {
  const [algorithm, hex, extra] = digest.split(':');
  if (extra === undefined && (algorithm === 'sha256' || algorithm === 'sha512') && hex !== undefined) {
    if (hex.length === encodedLength[algorithm] && /^[a-f0-9]+$/.test(hex)) return { algorithm, hex };
  }
  throw invalidArgument(
    `${what} "${digest}" is not a valid digest: sha256:<64 lowercase hex> or sha512:<128 lowercase hex>`,
    { field: what, value: digest },
  );
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
