// The pod manager: the reconcile loop that turns the desired set into running containers.
//
// Kubernetes' controller shape: pod keys are enqueued on desired-set changes, on
// container exits (conmon's exit files, watched), on probe transitions, on image status
// changes, on back-off timers and on a periodic resync; one worker per key at a time
// reads the desired pod, the persisted record and the runner's view, asks the pure
// decision (decide.ts) what to do, runs those idempotent actions, computes the status
// (status.ts) and publishes it when it changed. A failed action is a reason on the pod
// and a retry with jittered back-off, never an exception out of here.
//
// Containers outlive the manager: stop() ends the loop and the probes only. A manager
// started over the same state directory re-adopts every run its records name (runc IDs
// are derived from pod uid, container name and run number) and collects exits that
// happened meanwhile from conmon's exit files.
import { EventEmitter } from 'node:events';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  FlotillaError,
  changedBeyondStatus as podChangedBeyondStatus,
  createLogger,
  errorMessage,
  failedPrecondition,
  invalidArgument,
  notFound,
  type Logger,
} from '@flotilla/common';
import {
  accountFiles,
  mountsUnder,
  readHostLimits,
  rootfsMount,
  type AccountFiles,
  type HostLimits,
  type ImageConfig,
  type SnapshotInfo,
} from '@flotilla/images';
import { Pod, type PodStatus } from '@flotilla/proto';
import type { ImageService } from '../images/image-service.js';
import { mountAt, unmount } from '../runtime/mounts.js';
import type { ImageStatus } from '../images/types.js';
import { resolveProbe, type ResolvedProbe } from '../lifecycle/probe.js';
import { startProbing } from '../lifecycle/probe-scheduler.js';
import { restartBackoffDelay } from '../lifecycle/restart.js';
import {
  podNetworkNames,
  portMappings,
  type NodeNetworkOptions,
  type PortMapping,
} from '../network/config.js';
import {
  createPodNetwork,
  deletePodNetwork,
  deletePodNetworkById,
  listPodNetworks,
  readPodNetwork,
} from '../network/pod-network.js';
import { execCapture } from '../runtime/conmon/exec.js';
import type { ContainerRunner } from '../runtime/conmon/runner.js';
import type { ContainerState as RunState } from '../runtime/conmon/types.js';
import { containerOciConfig } from '../runtime/spec/config.js';
import { loadDefaultSeccomp } from '../runtime/spec/load-seccomp.js';
import type { OciSeccomp } from '../runtime/spec/types.js';
import type { DesiredChange } from '../sync/assignment-state.js';
import type { DesiredSet } from '../sync/desired-set.js';
import { decidePod, stopGraceCut, type PodAction, type PodFailure } from './decide.js';
import {
  EndpointsDrain,
  decideDrain,
  defaultEndpointDrainTimeoutMs,
  type EndpointsDrainer,
} from './drain.js';
import { checkHostPortsFree, clashingMapping } from './host-ports.js';
import {
  containerProbes,
  containerRunId,
  graceSecondsOf,
  isPodRecord,
  newPodRecord,
  podKeyOf,
  podPaths,
  runDir,
  runLogPath,
  uidToken,
  type ContainerRecord,
  type PodRecord,
  type RunRecord,
} from './model.js';
import {
  containerVolumes,
  preparePodFiles,
  type ClusterDns,
  removePodCgroups,
  removePodDir,
  type PreparedPodFiles,
} from './pod-files.js';
import { buildPodStatus, type RunProbeView } from './status.js';
import type { ContainerHandle, PodRuntimeView } from './types.js';

/** What the manager needs of the image service. */
export type PodImages = Pick<ImageService, 'imageStatus' | 'stores' | 'events'>;

export interface PodManagerOptions {
  nodeName: string;
  desired: DesiredSet;
  images: PodImages;
  runner: ContainerRunner;
  /** The runner's state directory: conmon writes exit files to <it>/exits. */
  runnerStateDir: string;
  /** runc's path and root, for exec probes (the runner's). */
  runc: string;
  runcRoot: string;
  network: NodeNetworkOptions;
  /** Where each pod's directory (record, volumes, /etc files, bundles, logs) lives. */
  podsDir: string;
  /** The cgroupfs parent of every pod of this agent, e.g. /flotilla. */
  cgroupParent: string;
  /** The node's address (status.hostIP). */
  hostIP: string;
  logger?: Logger;
  /** The host's limits (default /proc/self/limits). */
  hostLimits?: HostLimits;
  /** The seccomp filter (default containers-common's profile; null: none). */
  seccomp?: OciSeccomp | null;
  /** Every pod is looked at this often besides its events (default 10 s). */
  resyncIntervalMs?: number;
  /** Status reports of one pod are coalesced over this long (default 5 ms). */
  reportDebounceMs?: number;
  /** Rotate container logs past this many bytes (default 10 MiB). */
  logSizeMax?: number;
  /** The host's resolv.conf (default /etc/resolv.conf). */
  hostResolvConf?: string;
  /**
   * The node's cluster DNS, when it has one: pods started from then on resolve through it
   * (their resolv.conf), else through the host's nameservers.
   */
  clusterDns?: () => ClusterDns | undefined;
  /**
   * Awaited after each pod network is made, before its containers start: the node DNS
   * binds to the bridge's gateway address, which the first pod network brings.
   */
  podNetworkCreated?: () => Promise<void>;
  /** Asks the controller to take a pod out of the service endpoints before SIGTERM (drain.ts). */
  endpointsDrainer?: EndpointsDrainer;
  /** --endpoint-drain-timeout (default 10 s; 0: no wait). */
  endpointDrainTimeoutMs?: number;
}

/** One pod's status for the reporter; removed once its deletion was cleaned up. */
export interface PodStatusUpdate {
  namespace: string;
  name: string;
  uid: string;
  status: PodStatus | undefined;
  removed: boolean;
}

export interface PodManagerEvents {
  status: [PodStatusUpdate];
}

interface Prober {
  abort: AbortController;
  view: RunProbeView;
  restart?: string;
}

interface Failures {
  network?: PodFailure;
  containers: Map<string, PodFailure>;
}

/** How long a run may be "stopped" without conmon's exit file before it counts as gone. */
const staleRunMs = 10_000;

/** The key's error back-off: 200 ms doubling to 30 s, jittered ±20 %. */
function errorDelay(attempt: number): number {
  const base = Math.min(30_000, 200 * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** A start failure's retry: the kubelet's container back-off (10 s doubling to 5 min), jittered. */
function startRetryDelay(attempts: number): number {
  return Math.round(restartBackoffDelay(attempts) * (0.9 + Math.random() * 0.2));
}

function podStub(record: { uid: string; name: string; namespace: string }): Pod {
  return Pod.fromJSON({ metadata: { uid: record.uid, name: record.name, namespace: record.namespace } });
}

/**
 * Whether the desired pod changed in more than its status: the agent's own status reports
 * come back as new objects, which leave the plan under way as valid as it was.
 */
function changedBeyondStatus(now: Pod | undefined, before: Pod | undefined): boolean {
  if (now === before) return false;
  if (now === undefined || before === undefined) return true;
  return podChangedBeyondStatus(before, now);
}

/** Images a node keeps at once are few; past this many entries the oldest is forgotten. */
const imageCacheEntries = 64;

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.set(key, value);
  if (cache.size > imageCacheEntries) cache.delete(cache.keys().next().value as string);
}

/** What the IDs of a pod's runs start with; undefined for a uid that makes no token. */
function runIdPrefix(uid: string): string | undefined {
  try {
    return `${uidToken(uid)}-`;
  } catch {
    return undefined;
  }
}

function elapsedMs(since: number): number {
  return Math.round((performance.now() - since) * 10) / 10;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(value, null, 1)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

function isLive(state: RunState | undefined): boolean {
  return state?.status === 'running' || state?.status === 'created';
}

class ContainerStartError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** The image is not (or no longer) present: the start waits for it, no back-off. */
    readonly waitsForImage = false,
  ) {
    super(message);
  }
}

export class PodManager implements PodRuntimeView {
  readonly events = new EventEmitter<PodManagerEvents>();
  private readonly o: PodManagerOptions;
  private readonly log: Logger;
  private readonly records = new Map<string, PodRecord>();
  private readonly networks = new Map<string, { uid: string; ip: string; mappings: PortMapping[] }>();
  private readonly prepared = new Map<string, { uid: string; files: PreparedPodFiles }>();
  private readonly failures = new Map<string, Failures>();
  private readonly probers = new Map<string, Prober>();
  private readonly idIndex = new Map<string, string>();
  private readonly liveRuns = new Set<string>();
  private readonly statuses = new Map<string, { uid: string; status: PodStatus; json: string }>();
  private readonly removedUids = new Set<string>();
  private readonly unknownSince = new Map<string, number>();
  /** The shortest grace a deletion asked of a pod (by key, for its record's uid): see stopGraceCut. */
  private readonly graceCuts = new Map<string, { uid: string; seconds: number }>();
  private readonly drains = new Map<string, EndpointsDrain>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly errorAttempts = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly pendingReports = new Map<string, PodStatusUpdate>();
  private reportTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private unsubscribe: (() => void) | undefined;
  private listing: { covers: number; promise: Promise<Map<string, RunState>> } | undefined;
  private listRequests = 0;
  private hostLimits: HostLimits | undefined;
  private seccomp: OciSeccomp | undefined;
  /** Image configs by digest and account files by top chain ID: immutable, read once each. */
  private readonly imageConfigs = new Map<string, ImageConfig>();
  private readonly imageAccountFiles = new Map<string, AccountFiles>();
  private stopped = false;
  private started: Promise<void> | undefined;

  constructor(options: PodManagerOptions) {
    this.o = options;
    this.log = options.logger ?? createLogger({ component: 'pods' });
  }

  /** Loads the records, re-adopts their networks and starts following the desired set. */
  start(): Promise<void> {
    this.started ??= this.init();
    return this.started;
  }

  private async init(): Promise<void> {
    await mkdir(this.o.podsDir, { recursive: true, mode: 0o700 });
    this.hostLimits = this.o.hostLimits ?? (await readHostLimits());
    this.seccomp = this.o.seccomp === null ? undefined : (this.o.seccomp ?? (await loadDefaultSeccomp()));
    for (const entry of await readdir(this.o.podsDir)) {
      const path = join(this.o.podsDir, entry, 'pod.json');
      let record: unknown;
      try {
        record = JSON.parse(await readFile(path, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          this.log.warn('unreadable pod record; its pod is collected as an orphan', {
            path,
            error: errorMessage(err),
          });
        continue;
      }
      if (!isPodRecord(record)) continue;
      const key = podKeyOf(record.namespace, record.name);
      this.records.set(key, record);
      for (const c of Object.values(record.containers)) {
        if (c.current !== undefined) this.idIndex.set(c.current.id, key);
      }
      const net = await readPodNetwork(podStub(record), this.o.network).catch(() => undefined);
      if (net !== undefined)
        this.networks.set(key, { uid: record.uid, ip: net.ip, mappings: net.portMappings });
    }
    if (this.records.size > 0) this.log.info('pod records loaded', { pods: [...this.records.keys()] });
    // What no record owns was left by a crash between creating and recording it.
    await this.collectOrphans().catch((err: unknown) =>
      this.log.warn('orphan collection failed', { error: errorMessage(err) }),
    );
    this.unsubscribe = this.o.desired.onChange((change) => this.onDesiredChange(change));
    this.o.images.events.on('status', this.onImageStatus);
    const exitDir = join(this.o.runnerStateDir, 'exits');
    await mkdir(exitDir, { recursive: true });
    this.watcher = watch(exitDir, (_event, file) => {
      const id = typeof file === 'string' ? file : undefined;
      const key = id !== undefined ? this.idIndex.get(id) : undefined;
      if (key !== undefined) this.enqueue(key);
    });
    this.watcher.on('error', (err) => this.log.warn('exit watcher failed', { error: errorMessage(err) }));
    this.resyncTimer = setInterval(() => this.enqueueAll(), this.o.resyncIntervalMs ?? 10_000);
    this.resyncTimer.unref();
    if (this.o.desired.synced) this.enqueueAll();
  }

  /** Ends the loop, probes and watchers; containers keep running. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.o.images.events.off('status', this.onImageStatus);
    this.watcher?.close();
    clearInterval(this.resyncTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const p of this.probers.values()) p.abort.abort();
    this.probers.clear();
    // A stopping agent does not wait out drains: those teardowns go on to SIGTERM at once.
    for (const d of this.drains.values()) d.cancel();
    await Promise.allSettled([...this.inflight]);
    this.flushReports();
  }

  // ---- the queue ----

  private onDesiredChange(change: DesiredChange): void {
    // First, and not through the queue: that pod's worker may be waiting out a long grace.
    for (const key of change.kind === 'snapshot'
      ? [...this.records.keys()]
      : [...change.added, ...change.modified, ...change.deleted])
      this.cutStops(key);
    if (change.kind === 'snapshot') {
      this.enqueueAll();
      return;
    }
    for (const key of [...change.added, ...change.modified, ...change.deleted]) this.enqueue(key);
  }

  /**
   * A deletion (or the pod leaving the node) with a shorter grace than a stop under way
   * cuts that stop short, as the kubelet does: rm -f ends a deploy stop of 600 s at once.
   */
  private cutStops(key: string): void {
    const record = this.records.get(key);
    if (record === undefined || !this.o.desired.synced) return;
    const before = this.graceCuts.get(key);
    const seconds = stopGraceCut(
      this.o.desired.get(key),
      record,
      before?.uid === record.uid ? before.seconds : undefined,
    );
    if (seconds === undefined) return;
    this.graceCuts.set(key, { uid: record.uid, seconds });
    const drain = this.drains.get(key);
    if (drain !== undefined && drain.uid === record.uid && drain.cut(seconds))
      this.log.info('a deletion cuts an endpoints drain short', { pod: key, graceSeconds: seconds });
    for (const c of Object.values(record.containers)) {
      for (const id of [c.current?.id, c.previous?.id]) {
        if (id !== undefined && this.o.runner.shortenStop(id, seconds))
          this.log.info('a deletion cuts a stop under way short', { pod: key, id, graceSeconds: seconds });
      }
    }
  }

  private readonly onImageStatus = (): void => {
    for (const key of this.o.desired.keys()) {
      const record = this.records.get(key);
      const pod = this.o.desired.get(key);
      const waiting = (pod?.spec?.containers ?? []).some((c) => {
        const run = record?.containers[c.name]?.current;
        return run === undefined || !this.liveRuns.has(run.id);
      });
      if (waiting) this.enqueue(key);
    }
  };

  private enqueueAll(): void {
    for (const key of new Set([...this.o.desired.keys(), ...this.records.keys()])) this.enqueue(key);
  }

  private enqueue(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.running.add(key);
    const work = this.work(key).finally(() => {
      this.running.delete(key);
      this.inflight.delete(work);
    });
    this.inflight.add(work);
  }

  private schedule(key: string, atMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timers.get(key));
    const timer = setTimeout(
      () => {
        this.timers.delete(key);
        this.enqueue(key);
      },
      Math.max(0, atMs - Date.now()),
    );
    timer.unref();
    this.timers.set(key, timer);
  }

  private async work(key: string): Promise<void> {
    do {
      this.dirty.delete(key);
      try {
        const wakeAt = await this.reconcile(key);
        this.errorAttempts.delete(key);
        if (wakeAt !== undefined) this.schedule(key, wakeAt);
      } catch (err) {
        const attempt = (this.errorAttempts.get(key) ?? 0) + 1;
        this.errorAttempts.set(key, attempt);
        const delay = errorDelay(attempt);
        this.log.warn('pod reconcile failed; retrying', {
          pod: key,
          error: errorMessage(err),
          attempt,
          retryInMs: delay,
        });
        this.schedule(key, Date.now() + delay);
      }
    } while (this.dirty.has(key) && !this.stopped);
  }

  /**
   * The runner's view of every run, fresh for the caller: a listing is shared only by the
   * callers that asked before it started, so a run created just before the call is never
   * missed (which would read as a run that vanished).
   */
  private async runStates(): Promise<Map<string, RunState>> {
    const want = ++this.listRequests;
    for (;;) {
      const current = this.listing;
      if (current !== undefined && current.covers >= want) return current.promise;
      if (current !== undefined) {
        await current.promise.catch(() => undefined);
        continue;
      }
      const listing = {
        covers: this.listRequests,
        promise: this.o.runner.list().then((states) => new Map(states.map((s) => [s.id, s]))),
      };
      this.listing = listing;
      void listing.promise
        .finally(() => {
          if (this.listing === listing) this.listing = undefined;
        })
        .catch(() => undefined);
      return listing.promise;
    }
  }

  /**
   * The runs of one pod (their IDs start with its uid token: recorded ones and any a
   * crashed agent started unrecorded), read afresh. A pass needs no other pod's runs, and
   * listing every run for every pass made a burst of N pods read N² runs' files (three
   * reads each). A uid that makes no token gets the whole listing.
   */
  private async podRunStates(uid: string): Promise<Map<string, RunState>> {
    const prefix = runIdPrefix(uid);
    if (prefix === undefined) return this.runStates();
    const mine = (id: string): boolean => id.startsWith(prefix);
    const states = await this.o.runner.list(mine);
    return new Map(states.filter((s) => mine(s.id)).map((s) => [s.id, s]));
  }

  // ---- one pass ----

  private failuresOf(key: string): Failures {
    let f = this.failures.get(key);
    if (f === undefined) {
      f = { containers: new Map() };
      this.failures.set(key, f);
    }
    return f;
  }

  private imageStatuses(pod: Pod | undefined): Map<string, ImageStatus> {
    const out = new Map<string, ImageStatus>();
    for (const c of pod?.spec?.containers ?? []) out.set(c.name, this.o.images.imageStatus(c.image));
    return out;
  }

  private async reconcile(key: string): Promise<number | undefined> {
    let wakeAt: number | undefined;
    // The listing taken at the end of a pass, after its actions: the next pass starts from
    // it instead of listing again (only this key's worker makes or removes this pod's runs).
    let carried: { uid: string; runs: Map<string, RunState> } | undefined;
    for (let pass = 0; pass < 6 && !this.stopped; pass++) {
      const desired = this.o.desired.get(key);
      if (!this.o.desired.synced && desired === undefined) return undefined;
      let record = this.records.get(key);
      if (desired !== undefined && record !== undefined && record.uid === desired.metadata?.uid) {
        const grace = graceSecondsOf(desired);
        if (grace !== record.graceSeconds)
          record = await this.saveRecord(key, { ...record, graceSeconds: grace });
      }
      const uid = record?.uid ?? desired?.metadata?.uid ?? '';
      const tPass = performance.now();
      const listed = carried?.uid === uid ? carried.runs : await this.podRunStates(uid);
      carried = undefined;
      const runs = this.withoutStaleRuns(listed, runIdPrefix(uid));
      const listMs = elapsedMs(tPass);
      if (record === undefined && desired?.metadata?.deletionTimestamp && this.removedUids.has(uid))
        return undefined;
      const failures = this.failuresOf(key);
      const restartRequests = new Map<string, string>();
      for (const [id, p] of this.probers) if (p.restart !== undefined) restartRequests.set(id, p.restart);
      let net = this.networks.get(key);
      if (net !== undefined && desired !== undefined && !this.netnsExists(desired)) {
        // The record outlived its netns (/run is a tmpfs: a reboot; or someone deleted
        // it): made again before any container joins it, and /etc/hosts with its IP.
        this.log.warn('the pod netns is gone; its network is made again', { pod: key });
        this.networks.delete(key);
        this.prepared.delete(key);
        net = undefined;
      }
      const prepared = this.prepared.get(key);
      const images = this.imageStatuses(desired);
      const now = Date.now();
      const graceCut = this.graceCuts.get(key);
      const decision = decidePod({
        ...(graceCut !== undefined && graceCut.uid === uid ? { graceCutSeconds: graceCut.seconds } : {}),
        ...(desired !== undefined ? { desired } : {}),
        ...(record !== undefined ? { record } : {}),
        runs,
        networkReady: net !== undefined && net.uid === uid,
        filesReady: prepared !== undefined && prepared.uid === uid,
        images,
        restartRequests,
        failures,
        now,
      });
      wakeAt = decision.wakeAtMs;
      let structural = false;
      // A pass that did nothing (a status echo, a timer) reports from the listing it began with.
      let acted = false;
      const tActions = performance.now();
      for (const action of decision.actions) {
        // The pass's listing still holds for its first action (nothing was done since).
        const fresh = acted ? undefined : { uid, runs: listed };
        acted = true;
        const outcome = await this.execute(key, action, desired, fresh);
        // A failure is decided again at once: it becomes a waiting reason and a retry time.
        if (outcome === 'failed') structural = true;
        if (outcome !== 'ok') break;
        if (action.type !== 'honour-restart' && action.type !== 'record-exits') structural = true;
        // The pod changed while this ran (a deletion during a long stop): decided again, not
        // the rest of a plan made for the pod as it was.
        if (changedBeyondStatus(this.o.desired.get(key), desired)) {
          structural = true;
          break;
        }
      }
      record = this.records.get(key);
      if (record !== undefined && desired !== undefined && record.uid === desired.metadata?.uid) {
        const tAfter = performance.now();
        const after = acted || record.uid !== uid ? await this.podRunStates(record.uid) : listed;
        this.log.debug('reconcile pass timing', {
          pod: key,
          pass,
          actions: decision.actions.map((a) => a.type),
          listMs,
          actionsMs: Math.round((tAfter - tActions) * 10) / 10,
          listAfterMs: elapsedMs(tAfter),
        });
        this.trackRuns(key, record, after);
        this.ensureProbing(key, desired, record, after);
        carried = { uid: record.uid, runs: after };
        const status = buildPodStatus({
          pod: desired,
          record,
          runs: after,
          images: this.imageStatuses(desired),
          waiting: decision.waiting,
          probes: this.probeViews(record),
          ...(this.networks.get(key) !== undefined ? { podIP: this.networks.get(key)!.ip } : {}),
          hostIP: this.o.hostIP,
          ...(this.statuses.get(key)?.uid === record.uid ? { previous: this.statuses.get(key)!.status } : {}),
          now: new Date(),
        });
        this.setStatus(key, record, status);
      }
      if (!structural) break;
    }
    return wakeAt;
  }

  /**
   * runc says "stopped" and conmon wrote no exit file: normally for a moment, until conmon
   * does. When that lasts (conmon was killed, or runc's root outlived a reboot) the run is
   * treated as gone, so it is reported ContainerStatusUnknown instead of waited for forever.
   */
  private withoutStaleRuns(runs: Map<string, RunState>, prefix: string | undefined): Map<string, RunState> {
    const now = Date.now();
    let out = runs;
    for (const [id, state] of runs) {
      if (state.status !== 'unknown') {
        this.unknownSince.delete(id);
        continue;
      }
      const since = this.unknownSince.get(id) ?? now;
      this.unknownSince.set(id, since);
      if (now - since < staleRunMs) continue;
      if (out === runs) out = new Map(runs);
      out.delete(id);
    }
    // Only this listing's own runs are forgotten: another pod's are not in it.
    for (const id of this.unknownSince.keys())
      if (!runs.has(id) && (prefix === undefined || id.startsWith(prefix))) this.unknownSince.delete(id);
    return out;
  }

  private trackRuns(key: string, record: PodRecord, runs: ReadonlyMap<string, RunState>): void {
    for (const c of Object.values(record.containers)) {
      const run = c.current;
      if (run === undefined) continue;
      this.idIndex.set(run.id, key);
      if (run.termination === undefined && runs.get(run.id)?.status === 'running') this.liveRuns.add(run.id);
      else this.liveRuns.delete(run.id);
    }
  }

  private probeViews(record: PodRecord): Map<string, RunProbeView> {
    const out = new Map<string, RunProbeView>();
    for (const c of Object.values(record.containers)) {
      const id = c.current?.id;
      const p = id !== undefined ? this.probers.get(id) : undefined;
      if (p !== undefined) out.set(c.name, p.view);
    }
    return out;
  }

  private setStatus(key: string, record: PodRecord, status: PodStatus): void {
    const json = JSON.stringify(status);
    const before = this.statuses.get(key);
    if (before !== undefined && before.uid === record.uid && before.json === json) return;
    this.statuses.set(key, { uid: record.uid, status, json });
    this.report({ namespace: record.namespace, name: record.name, uid: record.uid, status, removed: false });
  }

  private report(update: PodStatusUpdate): void {
    this.pendingReports.set(podKeyOf(update.namespace, update.name), update);
    this.reportTimer ??= setTimeout(() => this.flushReports(), this.o.reportDebounceMs ?? 5);
  }

  private flushReports(): void {
    clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    const reports = [...this.pendingReports.values()];
    this.pendingReports.clear();
    for (const r of reports) this.events.emit('status', r);
  }

  // ---- actions ----

  private async execute(
    key: string,
    action: PodAction,
    desired: Pod | undefined,
    /** The runs of the pod of uid, listed since this pod's last change, if there is a listing. */
    fresh?: { uid: string; runs: Map<string, RunState> },
  ): Promise<'ok' | 'stop-pass' | 'failed'> {
    switch (action.type) {
      case 'adopt': {
        if (desired === undefined) return 'stop-pass';
        const record = newPodRecord(desired, new Date());
        uidToken(record.uid);
        await this.saveRecord(key, record);
        this.removedUids.delete(record.uid);
        this.log.info('pod taken on', { pod: key, uid: record.uid });
        return 'ok';
      }
      case 'record-exits': {
        const before = this.records.get(key);
        await this.saveRecord(key, action.record);
        for (const c of Object.values(action.record.containers)) {
          const t = c.current?.termination;
          if (t !== undefined && before?.containers[c.name]?.current?.termination === undefined) {
            this.log.info('container ended', {
              pod: key,
              container: c.name,
              id: t.containerId,
              exitCode: t.exitCode,
              reason: t.reason,
            });
            this.stopProber(t.containerId);
          }
        }
        return 'ok';
      }
      case 'teardown':
        await this.teardown(key, action.uid, action.graceSeconds, action.reason, desired, fresh);
        return 'ok';
      case 'stop-container':
        await this.stopContainer(key, action.container, action.id, action.graceSeconds, action.reason);
        return 'ok';
      case 'create-network':
        if (desired === undefined) return 'stop-pass';
        try {
          await this.createNetwork(key, desired);
          this.failuresOf(key).network = undefined;
          return 'ok';
        } catch (err) {
          const f = this.failuresOf(key);
          const attempts = (f.network?.attempts ?? 0) + 1;
          f.network = {
            reason: 'CreateContainerError',
            message: errorMessage(err),
            attempts,
            retryAtMs: Date.now() + startRetryDelay(attempts),
          };
          this.log.warn('pod network not created', { pod: key, error: errorMessage(err), attempts });
          return 'failed';
        }
      case 'prepare-files':
        if (desired === undefined) return 'stop-pass';
        try {
          const files = await preparePodFiles(
            this.o.podsDir,
            desired,
            this.networks.get(key)?.ip,
            this.o.hostResolvConf,
            this.o.clusterDns?.(),
          );
          this.prepared.set(key, { uid: desired.metadata?.uid ?? '', files });
          return 'ok';
        } catch (err) {
          const f = this.failuresOf(key);
          for (const c of desired.spec?.containers ?? []) {
            const attempts = (f.containers.get(c.name)?.attempts ?? 0) + 1;
            f.containers.set(c.name, {
              reason: 'CreateContainerConfigError',
              message: errorMessage(err),
              attempts,
              retryAtMs: Date.now() + startRetryDelay(attempts),
            });
          }
          this.log.warn('pod volumes or files not prepared', { pod: key, error: errorMessage(err) });
          return 'failed';
        }
      case 'start-container': {
        if (desired === undefined) return 'stop-pass';
        const f = this.failuresOf(key);
        try {
          await this.startContainer(key, desired, action.container, action.run, action.backoffSteps);
          f.containers.delete(action.container);
        } catch (err) {
          if (err instanceof ContainerStartError && err.waitsForImage) {
            // The image was present when the pass decided and is being pulled again now
            // (pull policy Always re-checks a tag for each pod): not a failure of this
            // container, so no back-off; decided again, it waits for the image, and the
            // image's status event brings it back once the pull is done.
            this.log.debug('container start waits for its image', {
              pod: key,
              container: action.container,
              error: errorMessage(err),
            });
            return 'failed';
          }
          const reason = err instanceof ContainerStartError ? err.reason : 'CreateContainerError';
          const attempts = (f.containers.get(action.container)?.attempts ?? 0) + 1;
          f.containers.set(action.container, {
            reason,
            message: errorMessage(err),
            attempts,
            retryAtMs: Date.now() + startRetryDelay(attempts),
          });
          this.log.warn('container not started', {
            pod: key,
            container: action.container,
            reason,
            error: errorMessage(err),
            attempts,
          });
          // Decided again at once: the failure becomes the container's waiting reason
          // (and the status published), and what followed this start is not done.
          return 'failed';
        }
        return 'ok';
      }
      case 'honour-restart': {
        const record = this.records.get(key);
        if (record !== undefined && record.restartedAt !== action.value)
          await this.saveRecord(key, { ...record, restartedAt: action.value });
        return 'ok';
      }
    }
  }

  private netnsExists(pod: Pod): boolean {
    try {
      return existsSync(podNetworkNames(pod, this.o.network).netnsPath);
    } catch {
      return false;
    }
  }

  private async saveRecord(key: string, record: PodRecord): Promise<PodRecord> {
    await writeJsonAtomic(podPaths(this.o.podsDir, record.uid).record, record);
    this.records.set(key, record);
    return record;
  }

  private async createNetwork(key: string, pod: Pod): Promise<void> {
    const object = `pod/${key}`;
    const mappings = portMappings(pod);
    const others = new Map<string, PortMapping[]>();
    for (const [k, n] of this.networks) if (k !== key) others.set(k, n.mappings);
    const clash = clashingMapping(mappings, others);
    if (clash !== undefined) {
      throw failedPrecondition(
        `host port ${clash.mapping.hostPort}/${clash.mapping.protocol.toUpperCase()} is already used by pod ${clash.pod} on this node: choose another hostPort`,
        { object, field: 'ports.hostPort', value: clash.mapping.hostPort },
      );
    }
    const t0 = performance.now();
    await checkHostPortsFree(object, mappings);
    const net = await createPodNetwork(pod, this.o.network, { logger: this.log });
    this.log.debug('pod network timing', { pod: key, ms: elapsedMs(t0) });
    this.networks.set(key, { uid: pod.metadata?.uid ?? '', ip: net.ip, mappings: net.portMappings });
    // /etc/hosts names the pod IP: written again now that there is one.
    this.prepared.delete(key);
    await this.o
      .podNetworkCreated?.()
      .catch((err: unknown) =>
        this.log.warn('after the pod network: hook failed', { pod: key, error: errorMessage(err) }),
      );
  }

  private async imageParts(
    image: string,
  ): Promise<{ config: ImageConfig; chain: SnapshotInfo[]; chainKey: string }> {
    const status = this.o.images.imageStatus(image);
    if (status.state !== 'present') {
      throw new ContainerStartError(
        'ContainerCreating',
        `image ${image} is not present (${status.state})`,
        true,
      );
    }
    const stores = this.o.images.stores;
    // Content-addressed: the digest names these bytes forever, so they are read once.
    let config = this.imageConfigs.get(status.configDigest);
    if (config === undefined) {
      config = JSON.parse((await stores.content.read(status.configDigest)).toString('utf8')) as ImageConfig;
      remember(this.imageConfigs, status.configDigest, config);
    }
    const chain: SnapshotInfo[] = [];
    for (const id of status.chainIds) {
      const info = await stores.snapshots.stat(id);
      if (info === undefined) {
        throw new ContainerStartError(
          'CreateContainerError',
          `image ${image}: layer snapshot ${id} is not unpacked on this node`,
        );
      }
      chain.push(info);
    }
    return { config, chain, chainKey: status.chainIds[status.chainIds.length - 1] ?? '' };
  }

  /**
   * /etc/passwd and /etc/group of a fresh rootfs (its upper dir still empty) are those of
   * the image's top chain ID, which names the whole layer stack's content: read from the
   * first container's rootfs of each image, not from every one.
   */
  private async imageAccounts(chainKey: string, rootfs: string): Promise<AccountFiles> {
    const known = chainKey === '' ? undefined : this.imageAccountFiles.get(chainKey);
    if (known !== undefined) return known;
    const accounts = await accountFiles(rootfs);
    if (chainKey !== '') remember(this.imageAccountFiles, chainKey, accounts);
    return accounts;
  }

  /** Unmounts and removes a run's bundle; its runc container and conmon files too. */
  private async removeRun(uid: string, id: string): Promise<void> {
    await this.o.runner.remove(id);
    const dir = runDir(this.o.podsDir, uid, id);
    for (const point of await mountsUnder(dir)) await unmount(point);
    if ((await mountsUnder(dir)).length > 0) {
      throw new FlotillaError('Internal', `the rootfs of ${id} is still mounted; not removing ${dir}`, {
        object: `container/${id}`,
      });
    }
    await rm(dir, { recursive: true, force: true });
    this.stopProber(id);
    this.liveRuns.delete(id);
  }

  private async startContainer(
    key: string,
    pod: Pod,
    name: string,
    run: number,
    backoffSteps: number,
  ): Promise<void> {
    const container = pod.spec?.containers.find((c) => c.name === name);
    if (container === undefined)
      throw invalidArgument(`pod ${key} has no container ${name}`, { object: `pod/${key}` });
    const record = this.records.get(key);
    if (record === undefined)
      throw new FlotillaError('Internal', `pod ${key} has no record`, { object: `pod/${key}` });
    const uid = record.uid;
    const net = this.networks.get(key);
    if (net === undefined)
      throw new ContainerStartError('CreateContainerError', 'the pod network is not ready');
    const t0 = performance.now();
    const ms: Record<string, number> = {};
    let mark = t0;
    const lap = (step: string): void => {
      const now = performance.now();
      ms[step] = Math.round((now - mark) * 10) / 10;
      mark = now;
    };
    let prepared = this.prepared.get(key)?.files;
    if (prepared === undefined) {
      prepared = await preparePodFiles(
        this.o.podsDir,
        pod,
        net.ip,
        this.o.hostResolvConf,
        this.o.clusterDns?.(),
      );
      this.prepared.set(key, { uid, files: prepared });
    }
    const { config: imageConfig, chain, chainKey } = await this.imageParts(container.image);
    lap('image');
    const cr: ContainerRecord = record.containers[name] ?? { name, restartCount: 0, backoffSteps: 0 };
    const id = containerRunId(uid, name, run);
    const current = cr.current;
    const replacing = current !== undefined && current.run !== run ? current : undefined;
    // What an earlier attempt at this very run left, then the run being replaced (its
    // log stays, for logs --previous), then the one before it (log and all).
    if (existsSync(runDir(this.o.podsDir, uid, id)) || existsSync(join(this.o.runcRoot, id))) {
      await this.removeRun(uid, id);
    }
    if (replacing !== undefined) await this.removeRun(uid, replacing.id);
    if (replacing !== undefined && cr.previous !== undefined) {
      await this.removeRun(uid, cr.previous.id);
      await rm(cr.previous.logPath, { force: true });
    }
    const dir = runDir(this.o.podsDir, uid, id);
    const rootfs = join(dir, 'rootfs');
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    await Promise.all([rootfs, upper, work].map((d) => mkdir(d, { recursive: true, mode: 0o755 })));
    const logPath = runLogPath(this.o.podsDir, uid, name, run);
    await mkdir(dirname(logPath), { recursive: true, mode: 0o700 });
    lap('dirs');
    let created = false;
    try {
      await mountAt(rootfsMount(chain, upper, work), rootfs);
      lap('mount');
      const spec = containerOciConfig({
        pod,
        container,
        image: imageConfig,
        rootfs,
        netnsPath: podNetworkNames(pod, this.o.network).netnsPath,
        volumes: await containerVolumes(pod, container, prepared),
        etc: prepared.etc,
        hostLimits: this.hostLimits ?? (await readHostLimits()),
        cgroupParent: this.o.cgroupParent,
        accounts: await this.imageAccounts(chainKey, rootfs),
        ...(this.seccomp !== undefined ? { seccomp: this.seccomp } : {}),
        terminal: container.tty,
      });
      await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
      lap('config');
      try {
        await this.o.runner.create({
          id,
          bundle: dir,
          logPath,
          logSizeMax: this.o.logSizeMax ?? 10 * 1024 * 1024,
          terminal: container.tty,
          stdin: container.stdin,
          stdinOnce: container.stdinOnce,
        });
        created = true;
        lap('create');
      } catch (err) {
        throw new ContainerStartError('CreateContainerError', runcReason(errorMessage(err)));
      }
      try {
        await this.o.runner.start(id);
        lap('start');
      } catch (err) {
        throw new ContainerStartError('RunContainerError', runcReason(errorMessage(err)));
      }
    } catch (err) {
      await this.removeRun(uid, id).catch((cleanup: unknown) =>
        this.log.error('could not clean up a failed container start', {
          pod: key,
          id,
          error: errorMessage(cleanup),
        }),
      );
      if (!created) await rm(logPath, { force: true });
      throw err;
    }
    const runRecord: RunRecord = { run, id, logPath, startedAt: new Date().toISOString() };
    const next: ContainerRecord = {
      name,
      restartCount: Math.max(0, run - 1),
      backoffSteps,
      current: runRecord,
      ...(replacing !== undefined
        ? { previous: replacing }
        : cr.previous !== undefined
          ? { previous: cr.previous }
          : {}),
    };
    const latest = this.records.get(key) ?? record;
    await this.saveRecord(key, { ...latest, containers: { ...latest.containers, [name]: next } });
    lap('record');
    this.log.debug('container start timing', { pod: key, container: name, totalMs: elapsedMs(t0), ms });
    this.idIndex.set(id, key);
    this.log.info('container started', { pod: key, container: name, id, run });
  }

  private async stopContainer(
    key: string,
    name: string,
    id: string,
    graceSeconds: number,
    reason: string,
  ): Promise<void> {
    const record = this.records.get(key);
    const cr = record?.containers[name];
    if (record !== undefined && cr?.current?.id === id && cr.current.stopReason === undefined) {
      await this.saveRecord(key, {
        ...record,
        containers: {
          ...record.containers,
          [name]: { ...cr, current: { ...cr.current, stopReason: reason } },
        },
      });
    }
    this.log.info('stopping container', { pod: key, container: name, id, graceSeconds, reason });
    this.stopProber(id);
    await this.o.runner.stop(id, graceSeconds);
  }

  private async teardown(
    key: string,
    uid: string,
    graceSeconds: number,
    reason: string,
    desired: Pod | undefined,
    fresh?: { uid: string; runs: Map<string, RunState> },
  ): Promise<void> {
    const record = this.records.get(key);
    const ref = record ?? {
      uid,
      name: desired?.metadata?.name ?? key.split('/')[1] ?? '',
      namespace: desired?.metadata?.namespace ?? key.split('/')[0] ?? 'default',
    };
    this.log.info('removing pod', { pod: key, uid, reason, graceSeconds });
    const t0 = performance.now();
    const ms: Record<string, number> = {};
    let mark = t0;
    const lap = (step: string): void => {
      const now = performance.now();
      ms[step] = Math.round((now - mark) * 10) / 10;
      mark = now;
    };
    const runs = fresh?.uid === uid ? fresh.runs : await this.podRunStates(uid);
    lap('list');
    const ids = new Set<string>();
    for (const c of Object.values(record?.containers ?? {})) {
      if (c.current !== undefined) ids.add(c.current.id);
      if (c.previous !== undefined) ids.add(c.previous.id);
    }
    // Runs a crashed agent started but never recorded carry the uid in their IDs.
    const token = uidToken(uid);
    for (const id of runs.keys()) if (id.startsWith(`${token}-`)) ids.add(id);
    for (const id of ids) this.stopProber(id);
    const live = [...ids].filter((id) => isLive(runs.get(id)));
    const grace = await this.drainEndpoints(key, ref, graceSeconds, live.length > 0);
    lap('drain');
    await Promise.all(live.map((id) => this.o.runner.stop(id, grace)));
    lap('stop');
    // The stopped runs' bundles and the pod network are independent: removed side by side.
    const [runsRemoved, networkDeleted] = await Promise.allSettled([
      (async () => {
        for (const id of ids) await this.removeRun(uid, id);
      })(),
      deletePodNetwork(podStub(ref), this.o.network, { logger: this.log }),
    ]);
    if (runsRemoved.status === 'rejected') throw runsRemoved.reason;
    if (networkDeleted.status === 'rejected') throw networkDeleted.reason;
    lap('runsAndNetwork');
    await removePodDir(this.o.podsDir, uid);
    await removePodCgroups(this.o.cgroupParent, uid);
    lap('dirsCgroups');
    this.log.debug('pod teardown timing', { pod: key, totalMs: elapsedMs(t0), ms });
    for (const id of ids) this.idIndex.delete(id);
    const last = this.statuses.get(key);
    this.records.delete(key);
    this.networks.delete(key);
    this.prepared.delete(key);
    this.failures.delete(key);
    this.statuses.delete(key);
    if (this.graceCuts.get(key)?.uid === uid) this.graceCuts.delete(key);
    this.removedUids.add(uid);
    this.report({
      namespace: ref.namespace,
      name: ref.name,
      uid,
      status: last?.uid === uid ? last.status : undefined,
      removed: true,
    });
    this.log.info('pod removed', { pod: key, uid });
  }

  /**
   * Before a teardown's SIGTERM: waits (at most min(grace, --endpoint-drain-timeout)) for
   * the controller to say no node routes service traffic to the pod any more. Whatever the
   * answer (drained, not in time, Unavailable, an error) the stop goes on; one call, no
   * retries, so a controller without the answer costs one round trip. Returns the grace
   * left for SIGTERM.
   */
  private async drainEndpoints(
    key: string,
    ref: { uid: string; name: string; namespace: string },
    graceSeconds: number,
    running: boolean,
  ): Promise<number> {
    const drainer = this.o.endpointsDrainer;
    const decision = decideDrain({
      leaving: true,
      podIP: this.networks.get(key)?.ip,
      running,
      graceSeconds,
      drainTimeoutMs: this.o.endpointDrainTimeoutMs ?? defaultEndpointDrainTimeoutMs,
      drainer: drainer !== undefined,
    });
    if (!decision.wait || drainer === undefined) {
      this.log.debug('no endpoints drain before stopping', {
        pod: key,
        why: decision.wait ? '' : decision.why,
      });
      return graceSeconds;
    }
    const drain = new EndpointsDrain(ref.uid, decision.timeoutMs);
    this.drains.set(key, drain);
    const cut = this.graceCuts.get(key);
    if (cut !== undefined && cut.uid === ref.uid) drain.cut(cut.seconds);
    this.log.info('waiting for the pod to leave its service endpoints before SIGTERM', {
      pod: key,
      timeoutMs: decision.timeoutMs,
    });
    try {
      const outcome = await drain.run(drainer, { namespace: ref.namespace, name: ref.name, uid: ref.uid });
      if (outcome.kind === 'drained')
        this.log.info('pod left its service endpoints', {
          pod: key,
          waitedMs: outcome.waitedMs,
          endpointsRevision: outcome.answer.endpointsRevision,
        });
      else if (outcome.kind === 'not-drained')
        this.log.warn('endpoints not drained in time; stopping the pod anyway', {
          pod: key,
          waitedMs: outcome.waitedMs,
          pendingNodes: outcome.answer.pendingNodes,
          pendingServices: outcome.answer.pendingServices,
        });
      else
        this.log.warn('endpoints drain not confirmed; stopping the pod anyway', {
          pod: key,
          waitedMs: outcome.waitedMs,
          error: outcome.error,
        });
    } finally {
      if (this.drains.get(key) === drain) this.drains.delete(key);
    }
    return drain.graceLeft(graceSeconds);
  }

  /** Runs, networks and pod directories of this agent that no record owns. */
  private async collectOrphans(): Promise<void> {
    const owned = new Set<string>();
    const tokens = new Set<string>();
    for (const r of this.records.values()) {
      tokens.add(uidToken(r.uid));
      for (const c of Object.values(r.containers)) {
        if (c.current !== undefined) owned.add(c.current.id);
        if (c.previous !== undefined) owned.add(c.previous.id);
      }
    }
    for (const [id] of await this.runStates()) {
      if (owned.has(id) || tokens.has(id.split('-')[0] ?? '')) continue;
      this.log.warn('removing a container no pod record owns', { id });
      await this.o.runner.stop(id, 0).catch(() => undefined);
      await this.o.runner.remove(id);
    }
    for (const entry of await readdir(this.o.podsDir)) {
      if (tokens.has(entry)) continue;
      this.log.warn('removing a pod directory no record owns', { dir: entry });
      const dir = join(this.o.podsDir, entry);
      for (const point of await mountsUnder(dir)) await unmount(point);
      if ((await mountsUnder(dir)).length === 0) await rm(dir, { recursive: true, force: true });
    }
    const ownedNets = new Set(
      [...this.records.values()].map((r) => podNetworkNames(podStub(r), this.o.network).containerId),
    );
    for (const id of listPodNetworks(this.o.network)) {
      if (ownedNets.has(id)) continue;
      this.log.warn('removing a pod network no record owns', { netns: id });
      await deletePodNetworkById(id, this.o.network, { logger: this.log });
    }
  }

  // ---- probes ----

  private stopProber(id: string): void {
    const p = this.probers.get(id);
    if (p === undefined) return;
    p.abort.abort();
    this.probers.delete(id);
  }

  private ensureProbing(key: string, pod: Pod, record: PodRecord, runs: ReadonlyMap<string, RunState>): void {
    for (const container of pod.spec?.containers ?? []) {
      const run = record.containers[container.name]?.current;
      if (run === undefined || run.termination !== undefined || runs.get(run.id)?.status !== 'running')
        continue;
      if (this.probers.has(run.id)) continue;
      const specs = containerProbes(container);
      if (specs.length === 0) continue;
      const probes: ResolvedProbe[] = [];
      for (const { kind, probe } of specs) {
        try {
          probes.push(resolveProbe(probe, kind, container.ports));
        } catch (err) {
          this.log.warn('probe ignored: invalid', {
            pod: key,
            container: container.name,
            kind,
            error: errorMessage(err),
          });
        }
      }
      const abort = new AbortController();
      const kinds = probes.map((p) => p.kind);
      const prober: Prober = {
        abort,
        view: {
          runId: run.id,
          ready: !kinds.includes('readiness') && !kinds.includes('startup'),
          started: !kinds.includes('startup'),
        },
      };
      this.probers.set(run.id, prober);
      const id = run.id;
      const podIP = this.networks.get(key)?.ip ?? '127.0.0.1';
      startProbing({
        probes,
        signal: abort.signal,
        logger: this.log,
        target: {
          host: podIP,
          exec: async (command, options) => {
            const r = await execCapture(this.o.runc, this.o.runcRoot, id, command, {
              timeoutMs: options.timeoutMs,
              ...(options.signal !== undefined ? { signal: options.signal } : {}),
            });
            return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr}`, timedOut: r.timedOut };
          },
        },
        onChange: (event) => {
          prober.view = { runId: id, ready: event.status.ready, started: event.status.started };
          for (const s of event.signals) if (s.type === 'restart') prober.restart = s.message;
          this.enqueue(key);
        },
      });
    }
  }

  // ---- what others read ----

  /** Pods with at least one running container. */
  runningPods(): number {
    let n = 0;
    for (const [key, record] of this.records) {
      if (
        Object.values(record.containers).some(
          (c) => c.current !== undefined && this.liveRuns.has(c.current.id),
        )
      )
        n++;
      else void key;
    }
    return n;
  }

  /** The latest status of every pod this manager holds (for a resync). */
  reports(): PodStatusUpdate[] {
    const out: PodStatusUpdate[] = [];
    for (const [key, s] of this.statuses) {
      const record = this.records.get(key);
      if (record === undefined) continue;
      out.push({
        namespace: record.namespace,
        name: record.name,
        uid: s.uid,
        status: s.status,
        removed: false,
      });
    }
    return out;
  }

  /** The status of one pod as last computed. */
  status(namespace: string, name: string): PodStatus | undefined {
    return this.statuses.get(podKeyOf(namespace, name))?.status;
  }

  /** The record of one pod (tests, inspection). */
  record(namespace: string, name: string): PodRecord | undefined {
    return this.records.get(podKeyOf(namespace, name));
  }

  container(namespace: string, pod: string, container: string, uid?: string): ContainerHandle {
    const key = podKeyOf(namespace, pod);
    const record = this.records.get(key);
    const object = `pod/${key}`;
    if (record === undefined || (uid !== undefined && uid !== '' && uid !== record.uid)) {
      throw notFound(`pod ${key}${uid ? ` (uid ${uid})` : ''} does not run on this node`, { object });
    }
    const names = Object.keys(record.containers);
    let name = container;
    if (name === '') {
      if (names.length !== 1) {
        throw invalidArgument(`pod ${key} has ${names.length} containers (${names.join(', ')}): name one`, {
          object,
          field: 'container',
        });
      }
      name = names[0]!;
    }
    const cr = record.containers[name];
    if (cr === undefined) {
      throw notFound(`pod ${key} has no container ${JSON.stringify(name)} (it has ${names.join(', ')})`, {
        object,
        field: 'container',
        value: name,
      });
    }
    if (cr.current === undefined) {
      throw notFound(`container ${name} of pod ${key} has not started yet`, {
        object,
        field: 'container',
        value: name,
      });
    }
    const spec = this.o.desired.get(key)?.spec?.containers.find((c) => c.name === name);
    return {
      namespace: record.namespace,
      pod: record.name,
      uid: record.uid,
      container: name,
      containerId: cr.current.id,
      logPath: cr.current.logPath,
      ...(cr.previous !== undefined
        ? { previous: { containerId: cr.previous.id, logPath: cr.previous.logPath } }
        : {}),
      running: this.liveRuns.has(cr.current.id),
      tty: spec?.tty ?? false,
      stdin: spec?.stdin ?? false,
    };
  }

  async waitExit(containerId: string, signal?: AbortSignal): Promise<{ exitCode: number; reason: string }> {
    for (;;) {
      if (signal?.aborted) {
        throw new FlotillaError('Unavailable', `stopped waiting for container ${containerId} to exit`, {
          object: `container/${containerId}`,
        });
      }
      const exit = await this.o.runner.waitExit(containerId, 500);
      if (exit !== undefined) {
        return {
          exitCode: exit.exitCode,
          reason: exit.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error',
        };
      }
      const state = await this.o.runner.state(containerId);
      if (state.status === 'unknown' && !this.idIndex.has(containerId)) {
        throw notFound(`container ${containerId} does not exist on this node`, {
          object: `container/${containerId}`,
        });
      }
    }
  }
}

/** runc's own words from a runner error ("…: exec: \"nosuch\": executable file not found in $PATH"). */
export function runcReason(message: string): string {
  const m = /unable to start container process: (.*)$/s.exec(message);
  // conmon passes runc's message on with its JSON escapes (and a closing quote) left in.
  let text = (m?.[1] ?? message).trim().replace(/\\"/g, '"');
  if ((text.match(/"/g) ?? []).length % 2 === 1) text = text.replace(/"$/, '');
  return text.trim();
}
