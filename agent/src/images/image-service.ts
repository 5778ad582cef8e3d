// The agent's image service: keeps the images the desired pods need pulled and unpacked,
// so a container can start without waiting, and keeps the image root's disk use under
// the GC threshold.
//
// The reconcile shape of the agent: a desired-set change recomputes which images are
// wanted (./pull-policy.ts) and enqueues each image key; one worker per key at a time
// (so one pull per image, shared by every pod that uses it) reads desired and local state,
// acts, records the image's status and, on failure, schedules its own retry with
// jittered back-off. GC runs every minute and after each pull, never during a pull.
import { EventEmitter } from 'node:events';
import { createLogger, errorMessage, failedPrecondition, type Logger } from '@flotilla/common';
import {
  RegistryClient,
  parseReference,
  type CredentialLookup,
  type Platform,
  type RegistryHostOptions,
} from '@flotilla/images';
import type { Pod } from '@flotilla/proto';
import type { DesiredChange } from '../sync/assignment-state.js';
import type { DesiredSet } from '../sync/desired-set.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { readDiskUsage } from './disk-usage.js';
import { classifyPullError } from './failure.js';
import { PullGcGate } from './gate.js';
import { collectImageGarbage } from './image-gc.js';
import {
  hasAllBlobs,
  openAgentImageStores,
  readLocalImage,
  unpackLocalImage,
  type AgentImageStores,
  type LocalImage,
} from './local-image.js';
import {
  alwaysPulledImages,
  pullAction,
  wantedImages,
  type PullAction,
  type WantedImage,
} from './pull-policy.js';
import { registryAuthFileLookup } from './registry-auth.js';
import type {
  DiskUsage,
  ImageGcResult,
  ImageGcThresholds,
  ImageStatus,
  ImageStatusEvent,
  PullFailureReason,
} from './types.js';

export interface ImageServiceOptions {
  /** The image root: content store, image names and snapshots live under it. */
  root: string;
  desired: DesiredSet;
  logger?: Logger;
  /** Registry for names without one; Docker Hub by default. */
  defaultRegistry?: string;
  /** Registries reached over plain HTTP besides loopback ones. */
  insecureRegistries?: string[];
  /** Docker config.json-style credentials file. */
  registryAuthFile?: string;
  /** Credentials directly (instead of a file). */
  credentials?: CredentialLookup;
  /** Per-registry TLS settings (a private CA), merged with insecureRegistries. */
  registryHosts?: Record<string, RegistryHostOptions>;
  gc?: Partial<ImageGcThresholds> & {
    /** How often to check disk use (default 60 s). */
    intervalMs?: number;
  };
  /** Back-off between attempts at a failing image (default 1 s doubling to 5 min). */
  retryBackoff?: BackoffPolicy;
  /** Attempts per blob or manifest request inside one pull (default 5). */
  registryAttempts?: number;
  /** Which manifest of an index to take; the host's by default. */
  platform?: Platform;
  /** Disk use of the image root's filesystem (statfs by default; tests inject). */
  readUsage?: (path: string) => Promise<DiskUsage>;
}

export interface ImageServiceEvents {
  status: [ImageStatusEvent];
  gc: [ImageGcResult];
}

export const defaultImageRetryBackoff: BackoffPolicy = { initialMs: 1_000, maxMs: 300_000 };
export const defaultImageGcIntervalMs = 60_000;

interface Failure {
  attempts: number;
  retryAtMs?: number;
  timer?: NodeJS.Timeout;
}

const absent: ImageStatus = { state: 'absent' };

function podsOf(desired: DesiredSet): Map<string, Pod> {
  const pods = new Map<string, Pod>();
  for (const key of desired.keys()) {
    const pod = desired.get(key);
    if (pod !== undefined) pods.set(key, pod);
  }
  return pods;
}

export class ImageService {
  readonly stores: AgentImageStores;
  readonly events = new EventEmitter<ImageServiceEvents>();
  private readonly desired: DesiredSet;
  private readonly log: Logger;
  private readonly client: RegistryClient;
  private readonly defaultRegistry: string | undefined;
  private readonly thresholds: ImageGcThresholds;
  private readonly gcIntervalMs: number;
  private readonly retryBackoff: BackoffPolicy;
  private readonly platform: Platform | undefined;
  private readonly readUsage: (path: string) => Promise<DiskUsage>;
  private readonly gate = new PullGcGate();
  private readonly abort = new AbortController();

  private wanted = new Map<string, WantedImage>();
  private readonly statuses = new Map<string, ImageStatus>();
  /** Images pulled since the last pod change that asked for them with policy Always. */
  private readonly fresh = new Set<string>();
  /** Per pod: its uid and Always images, to tell a new pod version from a status update. */
  private readonly alwaysSignatures = new Map<string, string>();
  private readonly failures = new Map<string, Failure>();
  private readonly lastUsed = new Map<string, number>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private gcChain: Promise<unknown> = Promise.resolve();
  private gcQueued = false;
  private gcTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(options: ImageServiceOptions) {
    this.desired = options.desired;
    this.log = options.logger ?? createLogger({ component: 'images' });
    this.stores = openAgentImageStores(options.root, this.log);
    this.defaultRegistry = options.defaultRegistry;
    const hosts: Record<string, RegistryHostOptions> = { ...options.registryHosts };
    for (const host of options.insecureRegistries ?? []) hosts[host] = { ...hosts[host], insecure: true };
    const credentials =
      options.credentials ??
      (options.registryAuthFile !== undefined ? registryAuthFileLookup(options.registryAuthFile) : undefined);
    this.client = new RegistryClient({
      hosts,
      logger: this.log.child({ part: 'registry' }),
      ...(credentials !== undefined ? { credentials } : {}),
      ...(options.registryAttempts !== undefined ? { attempts: options.registryAttempts } : {}),
    });
    this.thresholds = {
      highPercent: options.gc?.highPercent ?? 85,
      lowPercent: options.gc?.lowPercent ?? 80,
    };
    this.gcIntervalMs = options.gc?.intervalMs ?? defaultImageGcIntervalMs;
    this.retryBackoff = options.retryBackoff ?? defaultImageRetryBackoff;
    this.platform = options.platform;
    this.readUsage = options.readUsage ?? readDiskUsage;
  }

  /** Follows the desired set from now on and starts the periodic GC. */
  start(): void {
    if (this.unsubscribe !== undefined || this.stopped) return;
    this.unsubscribe = this.desired.onChange((change) => this.onDesiredChange(change));
    this.onDesiredChange({
      kind: 'snapshot',
      revision: this.desired.revision,
      added: this.desired.keys(),
      modified: [],
      deleted: [],
    });
    this.gcTimer = setInterval(() => this.requestGc('periodic'), this.gcIntervalMs);
    this.gcTimer.unref();
    this.log.info('image service started', {
      root: this.stores.root,
      gcHighPercent: this.thresholds.highPercent,
      gcLowPercent: this.thresholds.lowPercent,
    });
  }

  /** Stops following, cancels pulls in flight and pending retries, waits for the workers. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.gcTimer !== undefined) clearInterval(this.gcTimer);
    for (const failure of this.failures.values()) clearTimeout(failure.timer);
    this.abort.abort();
    await Promise.allSettled([...this.inflight]);
    await this.gcChain.catch(() => undefined);
    this.client.close();
  }

  /** The status of an image as a pod names it ("busybox", "127.0.0.1:5000/web:v2"). */
  imageStatus(image: string): ImageStatus {
    return this.statuses.get(this.keyOf(image)) ?? absent;
  }

  /** Every image this service has a status for, by key. */
  imageStatuses(): Map<string, ImageStatus> {
    return new Map(this.statuses);
  }

  private keyOf(image: string): string {
    try {
      return parseReference(
        image,
        this.defaultRegistry !== undefined ? { defaultRegistry: this.defaultRegistry } : {},
      ).canonical;
    } catch {
      return image;
    }
  }

  private onDesiredChange(change: DesiredChange): void {
    if (this.stopped) return;
    const pods = podsOf(this.desired);
    const options = this.defaultRegistry !== undefined ? { defaultRegistry: this.defaultRegistry } : {};
    for (const key of change.deleted) this.alwaysSignatures.delete(key);
    for (const key of [...change.added, ...change.modified]) {
      const pod = pods.get(key);
      if (pod === undefined) continue;
      // A new pod (or a new uid, or other images) asks for a fresh pull of its Always
      // images; an update that changes neither (a status write) does not.
      const always = alwaysPulledImages(key, pod, options);
      const signature = `${pod.metadata?.uid ?? ''}|${always.join(',')}`;
      if (this.alwaysSignatures.get(key) === signature) continue;
      this.alwaysSignatures.set(key, signature);
      for (const image of always) this.fresh.delete(image);
    }
    this.wanted = wantedImages(pods, options);
    const now = Date.now();
    for (const key of this.wanted.keys()) this.lastUsed.set(key, now);
    for (const key of new Set([...this.wanted.keys(), ...this.statuses.keys(), ...this.failures.keys()])) {
      this.enqueue(key);
    }
  }

  private enqueue(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.running.add(key);
    const work = this.work(key).finally(() => {
      this.running.delete(key);
      this.inflight.delete(work);
    });
    this.inflight.add(work);
  }

  private async work(key: string): Promise<void> {
    do {
      this.dirty.delete(key);
      try {
        await this.reconcile(key);
      } catch (err) {
        // reconcile records expected failures itself; this is a bug, not a pull failure.
        this.log.error('image reconcile failed unexpectedly', { image: key, error: errorMessage(err) });
      }
    } while (this.dirty.has(key) && !this.stopped);
  }

  private async reconcile(key: string): Promise<void> {
    const want = this.wanted.get(key);
    if (want === undefined) {
      // No pod needs it any more: stop retrying; a present image stays until GC.
      this.clearFailure(key);
      const status = this.statuses.get(key);
      if (status !== undefined && status.state !== 'present') this.setStatus(key, absent);
      return;
    }
    if (want.invalid !== undefined || want.ref === undefined) {
      // Retrying cannot help: the pod spec must change, which enqueues the image again.
      this.clearFailure(key);
      this.setStatus(key, {
        state: 'failed',
        reason: 'invalid-spec',
        message: want.invalid ?? `image "${key}" is not a valid reference`,
        attempts: 1,
      });
      return;
    }
    const failure = this.failures.get(key);
    if (failure?.retryAtMs !== undefined && failure.retryAtMs > Date.now()) return;
    const ref = want.ref;
    let pulled = false;
    let action: PullAction | undefined;
    try {
      await this.gate.withShared(async () => {
        let local = await this.findLocal(key);
        action = pullAction(want.policy, local !== undefined, this.fresh.has(key));
        if (action === 'refuse') {
          throw failedPrecondition(
            `image ${key} is not present on this node and its pull policy is Never (used by ${want.pods.join(', ')})`,
            { object: `image/${key}`, field: 'imagePullPolicy', value: 'Never' },
          );
        }
        if (action === 'pull') {
          this.setStatus(key, {
            state: 'pulling',
            since: new Date().toISOString(),
            attempt: (failure?.attempts ?? 0) + 1,
          });
          const started = Date.now();
          const record = await this.client.pull(ref, {
            content: this.stores.content,
            images: this.stores.images,
            signal: this.abort.signal,
            ...(this.platform !== undefined ? { platform: this.platform } : {}),
          });
          local = await readLocalImage(this.stores.content, record);
          this.fresh.add(key);
          pulled = true;
          this.log.info('image pulled', {
            image: key,
            digest: record.target.digest,
            layers: local.layers.length,
            ms: Date.now() - started,
            pods: want.pods,
          });
        }
        if (local === undefined) throw new Error(`unreachable: no local image for ${key} after ${action}`);
        await unpackLocalImage(this.stores, local);
        this.clearFailure(key);
        this.setStatus(key, {
          state: 'present',
          digest: local.manifest.digest,
          configDigest: local.config.digest,
          chainIds: local.chainIds,
        });
      });
    } catch (err) {
      if (this.stopped) return;
      const { reason, message } =
        action === 'refuse'
          ? { reason: 'never-pull' as const, message: errorMessage(err) }
          : classifyPullError(err);
      this.fail(key, reason, message, want);
      return;
    }
    this.lastUsed.set(key, Date.now());
    if (pulled) this.requestGc('after pull');
  }

  /** The stored image for key when all its blobs are here, else undefined. */
  private async findLocal(key: string): Promise<LocalImage | undefined> {
    const record = await this.stores.images.get(key);
    if (record === undefined) return undefined;
    try {
      const image = await readLocalImage(this.stores.content, record);
      return (await hasAllBlobs(this.stores.content, image)) ? image : undefined;
    } catch (err) {
      this.log.warn('local image is incomplete; pulling it again', { image: key, error: errorMessage(err) });
      return undefined;
    }
  }

  private fail(key: string, reason: PullFailureReason, message: string, want: WantedImage): void {
    const previous = this.failures.get(key);
    clearTimeout(previous?.timer);
    const attempts = (previous?.attempts ?? 0) + 1;
    const delay = backoffDelay(attempts - 1, this.retryBackoff);
    const retryAtMs = Date.now() + delay;
    const timer = setTimeout(() => this.enqueue(key), delay);
    timer.unref();
    this.failures.set(key, { attempts, retryAtMs, timer });
    this.log.warn('image not available', {
      image: key,
      reason,
      error: message,
      attempts,
      retryInMs: delay,
      pods: want.pods,
    });
    this.setStatus(key, {
      state: 'failed',
      reason,
      message,
      attempts,
      retryAt: new Date(retryAtMs).toISOString(),
    });
  }

  private clearFailure(key: string): void {
    const failure = this.failures.get(key);
    if (failure === undefined) return;
    clearTimeout(failure.timer);
    this.failures.delete(key);
  }

  private setStatus(key: string, status: ImageStatus): void {
    const previous = this.statuses.get(key) ?? absent;
    if (JSON.stringify(previous) === JSON.stringify(status)) return;
    if (status.state === 'absent') this.statuses.delete(key);
    else this.statuses.set(key, status);
    this.events.emit('status', { image: key, status, previous });
  }

  private requestGc(why: string): void {
    if (this.stopped || this.gcQueued) return;
    this.gcQueued = true;
    this.collectGarbage().then(
      (result) => {
        if (result.skipped !== undefined) this.log.debug('image GC skipped', { why, reason: result.skipped });
      },
      (err: unknown) => this.log.warn('image GC failed', { why, error: errorMessage(err) }),
    );
  }

  /**
   * Runs disk-threshold GC now (thresholds override the configured ones, e.g. 0/0 to
   * remove every image no pod wants). Waits for pulls in flight; pulls wait for it.
   */
  collectGarbage(thresholds: ImageGcThresholds = this.thresholds): Promise<ImageGcResult> {
    const run = this.gcChain.then(async (): Promise<ImageGcResult> => {
      this.gcQueued = false;
      // Before the first snapshot "not in the set" means "not known yet": every image
      // might be wanted.
      if (!this.desired.synced) {
        return {
          skipped: 'the desired set is not synced yet',
          removedImages: [],
          removedBlobs: 0,
          removedSnapshots: 0,
          plannedBytes: 0,
        };
      }
      const result = await this.gate.withExclusive(() => {
        const now = Date.now();
        for (const key of this.wanted.keys()) this.lastUsed.set(key, now);
        return collectImageGarbage({
          stores: this.stores,
          thresholds,
          inUse: new Set(this.wanted.keys()),
          lastUsedMs: (name) => this.lastUsed.get(name),
          readUsage: this.readUsage,
          log: this.log.child({ part: 'gc' }),
        });
      });
      for (const name of result.removedImages) {
        this.fresh.delete(name);
        this.lastUsed.delete(name);
        if (this.statuses.get(name)?.state === 'present') this.setStatus(name, absent);
      }
      if (result.skipped === undefined) this.events.emit('gc', result);
      return result;
    });
    this.gcChain = run.catch(() => undefined);
    return run;
  }
}
