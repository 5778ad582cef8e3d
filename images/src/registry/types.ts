// The registry client's options and results (the contracts shared by all layers are in
// ../types.ts).
import type { Logger } from '@flotilla/common';
import type { ContentStore, Descriptor, Digest, ImageStore, Platform } from '../types.js';
import type { ExplicitTrust } from './trust.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Credentials for a registry host as dialled ("127.0.0.1:5000", "registry-1.docker.io"). */
export type CredentialLookup = (registry: string) => Promise<Credentials | undefined>;

export interface RegistryHostOptions {
  /** Plain HTTP instead of HTTPS. Default: true for localhost, 127.0.0.0/8 and ::1. */
  insecure?: boolean;
  /** PEM of the CA to trust for this registry (implies HTTPS). */
  ca?: string;
  /** File holding that PEM. */
  caFile?: string;
}

export interface RegistryClientOptions {
  /** Per registry host ("127.0.0.1:5000"): TLS or plain HTTP, custom CA. */
  hosts?: Record<string, RegistryHostOptions>;
  credentials?: CredentialLookup;
  /**
   * For a process whose Node trusts no CA by default (the CLI's launcher starts it so):
   * registries without a CA of their own are trusted through Node's bundled roots plus
   * explicitTrust.extraCaFile (the NODE_EXTRA_CA_CERTS file Node did not load), as Node's
   * default would have. Unset: Node's default trust.
   */
  explicitTrust?: ExplicitTrust;
  logger?: Logger;
  /** Blobs transferred at once per image (default 3). */
  concurrency?: number;
  /** Attempts per blob before a dropped connection fails the pull (default 5). */
  attempts?: number;
  /** First retry delay in ms, doubled each time (default 200). */
  retryDelayMs?: number;
}

export interface PullOptions {
  content: ContentStore;
  images: ImageStore;
  /** Which manifest of an index to take; the host's by default. */
  platform?: Platform;
  signal?: AbortSignal;
}

export interface PushOptions {
  content: ContentStore;
  images: ImageStore;
  /** The local image to push, when it is stored under another name (default: the reference). */
  source?: string;
  signal?: AbortSignal;
}

export type BlobPushAction = 'exists' | 'mounted' | 'uploaded';

export interface PushResult {
  /** Canonical reference pushed. */
  name: string;
  /** The manifest as the registry now has it. */
  target: Descriptor;
  blobs: { digest: Digest; size: number; action: BlobPushAction; from?: string }[];
}
