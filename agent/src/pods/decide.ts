// The per-pod decision, pure: the desired pod (or its absence), what the manager
// persisted, and what it observes now (runc and conmon's view of each run, the network,
// image statuses, probe signals, recent failures) in; the actions that move the host one
// step closer to the desired pod, the waiting reasons of containers that cannot run yet,
// and when to look again, out. The executor (manager.ts) runs the actions in order and
// calls this again, so every action is idempotent and one wrong guess is corrected by the
// next pass.
import type { Pod } from '@flotilla/proto';
import type { ImageStatus } from '../images/types.js';
import { decideRestart } from '../lifecycle/restart.js';
import type { ContainerState as RunState } from '../runtime/conmon/types.js';
import {
  graceSecondsOf,
  restartPolicyOf,
  restartedAtAnnotation,
  type PodRecord,
  type RunRecord,
  type TerminationRecord,
} from './model.js';

export interface PodFailure {
  /** The waiting reason to report (CreateContainerError, RunContainerError, …). */
  reason: string;
  message: string;
  attempts: number;
  /** Not retried before this (epoch ms). */
  retryAtMs: number;
}

export interface PodObservation {
  /** The pod as assigned now; undefined when it is not (DELETED, or left out of a snapshot). */
  desired?: Pod;
  record?: PodRecord;
  /** The runner's state of each run the record names, by runc ID; a missing ID is gone. */
  runs: ReadonlyMap<string, RunState>;
  /**
   * The pod's network record exists and so does its netns. False after deploy stop on a
   * host that lost /run/netns (a reboot, someone's `ip netns delete`): the next start
   * makes the network again (docker start too gives a stopped container its network
   * back, perhaps with another IP).
   */
  networkReady: boolean;
  /** Volumes and /etc files are in place. */
  filesReady: boolean;
  /** Image status by container name. */
  images: ReadonlyMap<string, ImageStatus>;
  /** A liveness/startup failure asked to restart this run (by runc ID → message). */
  restartRequests: ReadonlyMap<string, string>;
  /** Recent failures: of the pod network, and per container of starting it. */
  failures: { network?: PodFailure; containers: ReadonlyMap<string, PodFailure> };
  /**
   * The shortest grace a deletion of this record's pod asked for so far (stopGraceCut):
   * every stop and teardown is given at most this. A DELETED pod's object is gone from the
   * desired set; the grace its deletion asked for is not.
   */
  graceCutSeconds?: number;
  /** epoch ms */
  now: number;
}

export type PodAction =
  /** Stop every run (grace, then SIGKILL), remove containers, network, volumes, files and record; report removed. */
  | { type: 'teardown'; uid: string; graceSeconds: number; reason: string }
  /** Take the pod on: write its first record. */
  | { type: 'adopt' }
  /** Record how runs ended (folded in by observeRuns). */
  | { type: 'record-exits'; record: PodRecord }
  | { type: 'stop-container'; container: string; id: string; graceSeconds: number; reason: string }
  | { type: 'create-network' }
  | { type: 'prepare-files' }
  | { type: 'start-container'; container: string; run: number; backoffSteps: number; reason: string }
  /** Remember that this restartedAt value was acted on. */
  | { type: 'honour-restart'; value: string };

export interface Waiting {
  reason: string;
  message: string;
}

export interface PodDecision {
  actions: PodAction[];
  /** Why a container is not running, by name (shown as its waiting state). */
  waiting: Map<string, Waiting>;
  /** Decide again at this time (back-off over, retry due), epoch ms. */
  wakeAtMs?: number;
}

/** How long to look again when runc says a run stopped and conmon has not written its exit yet. */
export const exitSettleMs = 200;

/** The exit code 128 + n means signal n. */
export function signalOf(exitCode: number): number {
  return exitCode > 128 && exitCode < 128 + 65 ? exitCode - 128 : 0;
}

function termination(
  run: RunRecord,
  state: RunState | undefined,
  now: number,
): TerminationRecord | undefined {
  if (state?.status === 'exited') {
    return {
      exitCode: state.exitCode,
      signal: signalOf(state.exitCode),
      reason: state.reason,
      ...(run.stopReason !== undefined ? { message: run.stopReason } : {}),
      startedAt: run.startedAt,
      finishedAt: state.finishedAt.toISOString(),
      containerId: run.id,
    };
  }
  if (state === undefined) {
    // Neither runc nor conmon knows the run any more (the host rebooted, someone deleted
    // it): Kubernetes reports such a container as ended with 137.
    return {
      exitCode: 137,
      signal: 9,
      reason: 'ContainerStatusUnknown',
      message: 'the container could not be found on this node (did the host restart?)',
      startedAt: run.startedAt,
      finishedAt: new Date(now).toISOString(),
      containerId: run.id,
    };
  }
  return undefined;
}

/**
 * The record with every ended run's termination filled in; undefined when nothing new
 * ended. Runs still running, created, or stopped without an exit file yet are left.
 */
export function observeRuns(
  record: PodRecord,
  runs: ReadonlyMap<string, RunState>,
  now: number,
): PodRecord | undefined {
  let changed = false;
  const containers = { ...record.containers };
  for (const [name, c] of Object.entries(record.containers)) {
    const run = c.current;
    if (run === undefined || run.termination !== undefined) continue;
    const ended = termination(run, runs.get(run.id), now);
    if (ended === undefined) continue;
    containers[name] = { ...c, current: { ...run, termination: ended } };
    changed = true;
  }
  return changed ? { ...record, containers } : undefined;
}

function isLive(state: RunState | undefined): boolean {
  return state?.status === 'running' || state?.status === 'created';
}

function imageWaiting(image: string, status: ImageStatus | undefined): Waiting | undefined {
  if (status === undefined || status.state === 'absent')
    return { reason: 'ContainerCreating', message: `waiting for image ${image}` };
  if (status.state === 'pulling')
    return { reason: 'ContainerCreating', message: `pulling image ${image} (attempt ${status.attempt})` };
  if (status.state === 'failed') {
    const message = `image ${image}: ${status.message} (${status.reason})`;
    // The first failure is ErrImagePull; once a retry is scheduled it is a back-off.
    return status.attempts > 1 && status.retryAt !== undefined
      ? { reason: 'ImagePullBackOff', message: `back-off pulling ${message}` }
      : { reason: 'ErrImagePull', message };
  }
  return undefined;
}

function earliest(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}

/**
 * The grace a stop already under way (deploy stop, a liveness kill, a teardown) must now
 * end within, or undefined when the pod asks for no cut. The kubelet's rule: a deletion
 * with a grace (deletionGracePeriodSeconds; rm -f's 0), or the pod leaving the node
 * (DELETED, a snapshot without it, a new uid: the record's grace), cuts a termination in
 * progress short to that grace, never lengthens it; stopping alone cuts nothing.
 * previousCut is what an earlier event of the same record's pod asked.
 */
export function stopGraceCut(
  desired: Pod | undefined,
  record: PodRecord | undefined,
  previousCut?: number,
): number | undefined {
  const atMost = (grace: number): number =>
    previousCut === undefined ? grace : Math.min(grace, previousCut);
  if (record === undefined) return previousCut;
  if (desired === undefined || desired.metadata?.uid !== record.uid) return atMost(record.graceSeconds);
  if (desired.metadata?.deletionTimestamp) return atMost(graceSecondsOf(desired));
  return previousCut;
}

export function decidePod(obs: PodObservation): PodDecision {
  const { desired, now } = obs;
  const cut = (grace: number): number =>
    obs.graceCutSeconds === undefined ? grace : Math.min(grace, Math.max(0, obs.graceCutSeconds));
  const waiting = new Map<string, Waiting>();
  const decision = (actions: PodAction[], wakeAtMs?: number): PodDecision => ({
    actions,
    waiting,
    ...(wakeAtMs !== undefined ? { wakeAtMs } : {}),
  });
  let record = obs.record;

  // Not assigned any more, or another pod under the same name: remove what we hold.
  if (record !== undefined && (desired === undefined || desired.metadata?.uid !== record.uid)) {
    return decision([
      {
        type: 'teardown',
        uid: record.uid,
        graceSeconds: cut(
          desired === undefined ? record.graceSeconds : graceSecondsOf(undefined, record.graceSeconds),
        ),
        reason:
          desired === undefined
            ? 'the pod is no longer assigned to this node'
            : 'the pod was replaced (new uid)',
      },
    ]);
  }
  if (desired === undefined) return decision([]);
  const uid = desired.metadata?.uid ?? '';
  if (desired.metadata?.deletionTimestamp) {
    return decision([
      {
        type: 'teardown',
        uid,
        graceSeconds: cut(graceSecondsOf(desired)),
        reason: `the pod is being deleted (${desired.metadata.deletionTimestamp})`,
      },
    ]);
  }
  if (record === undefined) return decision([{ type: 'adopt' }]);

  const actions: PodAction[] = [];
  const observed = observeRuns(record, obs.runs, now);
  if (observed !== undefined) {
    record = observed;
    actions.push({ type: 'record-exits', record });
  }
  const grace = cut(graceSecondsOf(desired));
  const containers = desired.spec?.containers ?? [];

  if (desired.spec?.stopped === true) {
    for (const c of containers) {
      const run = record.containers[c.name]?.current;
      if (run !== undefined && run.termination === undefined && isLive(obs.runs.get(run.id))) {
        actions.push({
          type: 'stop-container',
          container: c.name,
          id: run.id,
          graceSeconds: grace,
          reason: 'Stopped',
        });
      }
    }
    return decision(actions);
  }

  const restartedAt = desired.metadata?.annotations[restartedAtAnnotation] ?? '';
  const restartAsked = restartedAt !== record.restartedAt;
  const policy = restartPolicyOf(desired);
  const starts: PodAction[] = [];
  // A restart is honoured only once every container it concerns started: a restart whose
  // start failed (or waits for its image) stays asked, so the failure is shown as a
  // waiting reason and retried, instead of the run going back to "stopped".
  let restartPending = false;
  let wakeAtMs: number | undefined;

  for (const c of containers) {
    const cr = record.containers[c.name] ?? { name: c.name, restartCount: 0, backoffSteps: 0 };
    const run = cr.current;
    const state = run !== undefined ? obs.runs.get(run.id) : undefined;
    if (run !== undefined && run.termination === undefined) {
      if (state?.status === 'running') {
        const request = obs.restartRequests.get(run.id);
        if (request !== undefined) {
          actions.push({
            type: 'stop-container',
            container: c.name,
            id: run.id,
            graceSeconds: grace,
            reason: request,
          });
        }
        continue;
      }
      if (state?.status === 'created') {
        // The agent stopped between runc create and runc start: make that run again.
        starts.push({
          type: 'start-container',
          container: c.name,
          run: run.run,
          backoffSteps: cr.backoffSteps,
          reason: 'created, never started',
        });
        continue;
      }
      // runc says stopped, conmon has not written the exit yet: look again shortly.
      wakeAtMs = earliest(wakeAtMs, now + exitSettleMs);
      continue;
    }
    let backoffSteps = 0;
    let reason = 'first run';
    let restarting = false;
    if (run?.termination !== undefined) {
      if (restartAsked) {
        reason = `restart asked (${restartedAtAnnotation} ${restartedAt})`;
        restarting = true;
      } else if (run.stopReason === 'Stopped') {
        continue; // deploy stop: stays stopped until deploy start
      } else {
        const t = run.termination;
        const restart = decideRestart({
          policy,
          last: {
            exitCode: t.exitCode,
            reason: t.reason,
            startedAt: Date.parse(t.startedAt),
            finishedAt: Date.parse(t.finishedAt),
          },
          restartCount: cr.restartCount,
          backoffSteps: cr.backoffSteps,
          now,
        });
        if (restart.action === 'leave-terminated') continue;
        if (restart.action === 'wait-backoff') {
          waiting.set(c.name, { reason: restart.reason, message: restart.message });
          wakeAtMs = earliest(wakeAtMs, restart.until);
          continue;
        }
        backoffSteps = restart.backoffSteps;
        reason = `restartPolicy ${policy}`;
      }
    }
    const image = imageWaiting(c.image, obs.images.get(c.name));
    if (image !== undefined) {
      waiting.set(c.name, image);
      if (restarting) restartPending = true;
      continue;
    }
    const failure = obs.failures.containers.get(c.name) ?? obs.failures.network;
    if (failure !== undefined && failure.retryAtMs > now) {
      waiting.set(c.name, { reason: failure.reason, message: failure.message });
      wakeAtMs = earliest(wakeAtMs, failure.retryAtMs);
      if (restarting) restartPending = true;
      continue;
    }
    waiting.set(c.name, { reason: 'ContainerCreating', message: '' });
    starts.push({
      type: 'start-container',
      container: c.name,
      run: (run?.run ?? 0) + 1,
      backoffSteps,
      reason,
    });
  }

  if (starts.length > 0) {
    if (!obs.networkReady) actions.push({ type: 'create-network' });
    if (!obs.filesReady) actions.push({ type: 'prepare-files' });
    actions.push(...starts);
  }
  // After the starts: the executor stops at a failed start, so a restart that did not
  // happen is not recorded as honoured.
  if (restartAsked && !restartPending) actions.push({ type: 'honour-restart', value: restartedAt });
  return decision(actions, wakeAtMs);
}
