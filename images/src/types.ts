// The contracts between the image layers: content (blobs by digest), registry
// (distribution API), snapshots (unpacked layers keyed by chain ID) and the image store
// (names → manifests). Implementations live in the folders beside this file.
import type { Readable } from 'node:stream';

/** "sha256:<64 hex>" (or "sha512:<128 hex>"). */
export type Digest = string;

export const mediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The OCI image configuration (only the fields Flotilla reads or writes). */
export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
}

/** A parsed image reference, normalised the way Docker reads it. */
export interface ImageReference {
  /** Registry host[:port] as dialled: "registry-1.docker.io" for Docker Hub. */
  registry: string;
  /** Repository path: "library/busybox", "team/web". */
  repository: string;
  tag?: string;
  digest?: Digest;
  /** The canonical string: "docker.io/library/busybox:latest", "127.0.0.1:5000/team/web:v2". */
  canonical: string;
}

// ---- content store --------------------------------------------------------------

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/**
 * Blobs stored once by digest, written atomically. Ingest verifies digest and size while
 * streaming; concurrent ingests of one digest share one download; an interrupted ingest
 * keeps its partial data so the next one resumes (source(offset) is asked for the rest).
 */
export interface ContentStore {
  readonly root: string;
  info(digest: Digest): Promise<BlobInfo | undefined>;
  /** Absolute path of a committed blob (for streaming reads and for tar extraction). */
  path(digest: Digest): string;
  read(digest: Digest): Promise<Buffer>;
  ingest(
    expected: { digest: Digest; size?: number },
    source: (offset: number) => Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<BlobInfo>;
  /** Stores bytes computed locally (configs, manifests, built layers). */
  put(data: Buffer | string): Promise<BlobInfo>;
  delete(digest: Digest): Promise<void>;
  list(): Promise<BlobInfo[]>;
}

// ---- image store ------------------------------------------------------------------

export interface ImageRecord {
  /** Canonical reference, e.g. "127.0.0.1:5000/team/web:v2". */
  name: string;
  /** The manifest (single platform) this name points to locally. */
  target: Descriptor;
  /** When the name was last set. */
  updatedAt: string;
}

export interface ImageStore {
  get(name: string): Promise<ImageRecord | undefined>;
  put(record: ImageRecord): Promise<void>;
  delete(name: string): Promise<boolean>;
  list(): Promise<ImageRecord[]>;
}

// ---- snapshots --------------------------------------------------------------------

/** A mount as data: the caller mounts it (mount(2) or the OCI runtime config). */
export interface MountSpec {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

export interface SnapshotInfo {
  chainId: Digest;
  parent?: Digest;
  /** Directory holding this layer's files in overlay form (whiteouts as 0:0 char devices). */
  path: string;
  size: number;
  createdAt: string;
}

/**
 * Layers unpacked once each, keyed by chain ID (the OCI image spec's ChainID: the digest
 * of the parent chain ID and this layer's diff ID). A rootfs is an overlay of a chain of
 * snapshots plus a writable directory.
 */
export interface Snapshotter {
  readonly root: string;
  stat(chainId: Digest): Promise<SnapshotInfo | undefined>;
  /**
   * Unpacks a (compressed) layer blob on top of parent, verifying the uncompressed
   * stream against diffId; returns the new chain ID. Idempotent and safe to run
   * concurrently for the same layer.
   */
  unpack(
    parent: Digest | undefined,
    layer: { blobPath: string; mediaType: string; diffId: Digest },
  ): Promise<SnapshotInfo>;
  /** The overlay mount for a rootfs over chain (topmost last) with upper/work dirs. */
  rootfsMount(chain: SnapshotInfo[], upperDir: string, workDir: string): MountSpec;
  remove(chainId: Digest): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
}
