// The pod's status, pure: Kubernetes' PodStatus from the record, the runner's view of each
// run, the decision's waiting reasons and the probes. Phase follows the kubelet's rules;
// condition transition times are kept from the previous status while a condition holds.
import type {
  ContainerState,
  ContainerStateTerminated,
  ContainerStatus,
  Pod,
  PodCondition,
  PodStatus,
} from '@flotilla/proto';
import type { ImageStatus } from '../images/types.js';
import type { ContainerState as RunState } from '../runtime/conmon/types.js';
import type { Waiting } from './decide.js';
import { restartPolicyOf, type PodRecord, type TerminationRecord } from './model.js';

/** What the probes of a container's current run say. */
export interface RunProbeView {
  runId: string;
  ready: boolean;
  started: boolean;
}

export interface PodStatusInput {
  pod: Pod;
  record?: PodRecord;
  runs: ReadonlyMap<string, RunState>;
  images: ReadonlyMap<string, ImageStatus>;
  waiting: ReadonlyMap<string, Waiting>;
  probes: ReadonlyMap<string, RunProbeView>;
  podIP?: string;
  hostIP: string;
  previous?: PodStatus;
  now: Date;
}

function terminatedState(t: TerminationRecord): ContainerState {
  const terminated: ContainerStateTerminated = {
    exitCode: t.exitCode,
    signal: t.signal,
    reason: t.reason,
    message: t.message ?? '',
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    containerID: `runc://${t.containerId}`,
  };
  return { waiting: undefined, running: undefined, terminated };
}

function waitingState(w: Waiting): ContainerState {
  return { waiting: { reason: w.reason, message: w.message }, running: undefined, terminated: undefined };
}

const noState: ContainerState = { waiting: undefined, running: undefined, terminated: undefined };

export function buildContainerStatus(input: PodStatusInput, index: number): ContainerStatus {
  const container = input.pod.spec?.containers[index];
  const name = container?.name ?? '';
  const record = input.record?.containers[name];
  const run = record?.current;
  const live = run !== undefined && run.termination === undefined;
  const runState = run !== undefined ? input.runs.get(run.id) : undefined;
  const waiting = input.waiting.get(name);
  let state: ContainerState;
  let lastState: ContainerState = noState;
  const previous = record?.previous?.termination;
  let running = false;
  if (live && (runState?.status === 'running' || runState?.status === 'created')) {
    state = { waiting: undefined, running: { startedAt: run.startedAt }, terminated: undefined };
    running = runState.status === 'running';
    if (previous !== undefined) lastState = terminatedState(previous);
  } else if (run?.termination !== undefined) {
    if (waiting !== undefined) {
      state = waitingState(waiting);
      lastState = terminatedState(run.termination);
    } else {
      state = terminatedState(run.termination);
      if (previous !== undefined) lastState = terminatedState(previous);
    }
  } else {
    state = waitingState(waiting ?? { reason: 'ContainerCreating', message: '' });
    if (previous !== undefined) lastState = terminatedState(previous);
  }
  const probe = run !== undefined ? input.probes.get(name) : undefined;
  const probeFresh = probe !== undefined && probe.runId === run?.id;
  const hasReadiness = container?.readinessProbe !== undefined;
  const hasStartup = container?.startupProbe !== undefined;
  const started = running && (probeFresh ? probe.started : !hasStartup);
  const ready = running && (probeFresh ? probe.ready : !hasReadiness && !hasStartup);
  const image = input.images.get(name);
  return {
    name,
    state,
    lastState,
    ready,
    restartCount: record?.restartCount ?? 0,
    image: container?.image ?? '',
    imageID: image?.state === 'present' ? image.digest : '',
    containerID: run !== undefined ? `runc://${run.id}` : '',
    started,
  };
}

/** The kubelet's phase: Pending while a container has not run, then Running, then Succeeded/Failed. */
export function podPhase(pod: Pod, statuses: readonly ContainerStatus[]): string {
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state?.running !== undefined) running++;
    else if (s.state?.terminated !== undefined) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState?.terminated !== undefined) stopped++;
    else waiting++;
  }
  if (statuses.length === 0 || waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  // A stopped pod (deploy stop) is not restarted whatever its policy: it ended.
  const policy = pod.spec?.stopped === true ? 'Never' : restartPolicyOf(pod);
  // A waiting container that ran before is about to restart (back-off).
  const restarting = statuses.some((s) => s.state?.waiting !== undefined);
  if (policy === 'Always' || restarting) return 'Running';
  if (stopped === succeeded) return 'Succeeded';
  if (policy === 'Never') return 'Failed';
  return 'Running';
}

function condition(
  type: string,
  ok: boolean,
  previous: PodStatus | undefined,
  now: string,
  reason = '',
  message = '',
): PodCondition {
  const status = ok ? 'True' : 'False';
  const before = previous?.conditions.find((c) => c.type === type);
  return {
    type,
    status,
    lastProbeTime: '',
    lastTransitionTime: before !== undefined && before.status === status ? before.lastTransitionTime : now,
    reason: ok ? '' : reason,
    message: ok ? '' : message,
  };
}

export function buildPodStatus(input: PodStatusInput): PodStatus {
  const containers = input.pod.spec?.containers ?? [];
  const containerStatuses = containers.map((_, i) => buildContainerStatus(input, i));
  const phase = podPhase(input.pod, containerStatuses);
  const now = input.now.toISOString();
  const notReady = containerStatuses.filter((s) => !s.ready).map((s) => s.name);
  const allReady = notReady.length === 0 && containerStatuses.length > 0;
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const readyMessage = `containers with unready status: [${notReady.join(' ')}]`;
  const readyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const conditions = [
    condition('PodScheduled', true, input.previous, now),
    condition('Initialized', true, input.previous, now),
    condition('ContainersReady', allReady, input.previous, now, readyReason, terminal ? '' : readyMessage),
    condition('Ready', allReady, input.previous, now, readyReason, terminal ? '' : readyMessage),
  ];
  return {
    phase,
    reason: '',
    message: '',
    hostIP: input.hostIP,
    podIP: input.podIP ?? '',
    startTime: input.record?.startTime ?? '',
    conditions,
    containerStatuses,
  };
}
