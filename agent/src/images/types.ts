// The agent's image service: what it tells the rest of the agent about the images its pods
// need. An image is keyed by its canonical reference ("127.0.0.1:5000/team/web:v2"), or by
// the text the pod spec gave when that text is not a valid reference.
//
// Lifecycle of one image on this node (ImageState):
//   absent ──pod wants it──► pulling ──► present
//                               │  ▲        │ a new pod with pull policy Always: pulling again
//                               ▼  │retry   │ GC (no pod wants it, disk above the threshold)
//                             failed        ▼
//                                         absent
// "present" means pulled and unpacked: a container can start from its snapshots now.
import type { Digest } from '@flotilla/images';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/**
 * Why an image could not be made present. Each has a different remedy: fix the name or
 * tag, log in, bring the registry back, pull the image by hand (Never), or rebuild it.
 */
export type PullFailureReason =
  /** The registry has no such repository, tag or digest. */
  | 'not-found'
  /** The registry refused the credentials, or wants some and none are configured. */
  | 'unauthorized'
  /** The registry did not answer (connection refused, reset, timed out, 5xx). */
  | 'unreachable'
  /** The pod's image is not a valid reference, or its pull policy is not a known one. */
  | 'invalid-spec'
  /** Pull policy Never and the image is not in the local store. */
  | 'never-pull'
  /** The registry served something unusable: bad manifest, digest mismatch, bad layer. */
  | 'invalid-image'
  /** Anything else (the message says what). */
  | 'error';

export type ImageStatus =
  | { state: 'absent' }
  | { state: 'pulling'; since: string; attempt: number }
  | {
      state: 'present';
      /** The manifest this node has for the name. */
      digest: Digest;
      configDigest: Digest;
      /** Chain IDs of the image's snapshots, bottom layer first (empty for no layers). */
      chainIds: Digest[];
    }
  | {
      state: 'failed';
      reason: PullFailureReason;
      message: string;
      /** Failures in a row. */
      attempts: number;
      /** When the next attempt is due (absent: not retried until the pod changes). */
      retryAt?: string;
    };

export type ImageState = ImageStatus['state'];

export interface ImageStatusEvent {
  /** Canonical reference (or the pod's text when it is not a valid reference). */
  image: string;
  status: ImageStatus;
  previous: ImageStatus;
}

/** Disk use of the filesystem holding the image root. */
export interface DiskUsage {
  capacityBytes: number;
  availableBytes: number;
}

export interface ImageGcThresholds {
  /** Use (percent) at or above which GC runs; 100 disables GC. */
  highPercent: number;
  /** Use (percent) GC frees down to. */
  lowPercent: number;
}

export interface ImageGcResult {
  /** Why nothing was done, when nothing was. */
  skipped?: string;
  usageBefore?: DiskUsage;
  usageAfter?: DiskUsage;
  removedImages: string[];
  removedBlobs: number;
  removedSnapshots: number;
  /** What the plan expected to free (blobs and snapshots no remaining image shares). */
  plannedBytes: number;
}
