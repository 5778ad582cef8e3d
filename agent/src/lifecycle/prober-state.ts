// The probe state machine (pure): results in, state and signals out. Kubernetes'
// semantics: a state flips only after successThreshold / failureThreshold consecutive
// results; liveness and readiness wait for the startup probe to succeed; a liveness or
// startup failure means "restart"; readiness decides ready.

import type { ProbeKind } from './probe.js';

export type ProbeOutcome = 'success' | 'failure' | 'timeout';

export interface ProbeResult {
  outcome: ProbeOutcome;
  /** epoch ms */
  at: number;
  /** Why it failed, for events and status messages. */
  message?: string;
}

export type ProbeStateValue = 'unknown' | 'success' | 'failure';

export interface ProbeState {
  state: ProbeStateValue;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  lastResult?: ProbeResult;
}

export interface ProbeThresholds {
  successThreshold: number;
  failureThreshold: number;
}

export const initialProbeState: ProbeState = {
  state: 'unknown',
  consecutiveSuccesses: 0,
  consecutiveFailures: 0,
};

/** One result applied to one probe's state. A timeout counts as a failure. */
export function applyProbeResult(
  prev: ProbeState,
  thresholds: ProbeThresholds,
  result: ProbeResult,
): ProbeState {
  const ok = result.outcome === 'success';
  const consecutiveSuccesses = ok ? prev.consecutiveSuccesses + 1 : 0;
  const consecutiveFailures = ok ? 0 : prev.consecutiveFailures + 1;
  let state = prev.state;
  if (ok && consecutiveSuccesses >= thresholds.successThreshold) state = 'success';
  if (!ok && consecutiveFailures >= thresholds.failureThreshold) state = 'failure';
  return { state, consecutiveSuccesses, consecutiveFailures, lastResult: result };
}

/** The probes of one container run of a container (reset on every restart). */
export interface ContainerProbeStatus {
  /** Per configured probe; a kind absent here has no probe. */
  probes: Partial<Record<ProbeKind, ProbeState>>;
  /** The startup probe succeeded, or there is none. */
  started: boolean;
  /** What the container's status reports as ready. */
  ready: boolean;
}

export type ProbeSignal =
  | { type: 'restart'; kind: 'liveness' | 'startup'; message: string }
  | { type: 'ready'; ready: boolean }
  | { type: 'started' };

export interface ProbeTransition {
  status: ContainerProbeStatus;
  /** The state of the probe fed changed (unknown → success, success → failure …). */
  changed: boolean;
  signals: ProbeSignal[];
  /** The result was dropped: a liveness/readiness result before startup succeeded, or a kind not configured. */
  ignored: boolean;
}

export function initialContainerProbeStatus(kinds: readonly ProbeKind[]): ContainerProbeStatus {
  const probes: Partial<Record<ProbeKind, ProbeState>> = {};
  for (const kind of kinds) probes[kind] = initialProbeState;
  const started = !kinds.includes('startup');
  // Without a readiness probe a running (started) container is ready, as in Kubernetes.
  const ready = started && !kinds.includes('readiness');
  return { probes, started, ready };
}

/** Whether a probe of this kind should run now (liveness and readiness wait for startup; startup stops once it succeeded). */
export function probeShouldRun(status: ContainerProbeStatus, kind: ProbeKind): boolean {
  if (status.probes[kind] === undefined) return false;
  return kind === 'startup' ? !status.started : status.started;
}

function describe(kind: ProbeKind, result: ProbeResult, failures: number): string {
  const why = result.message ?? (result.outcome === 'timeout' ? 'timed out' : 'failed');
  return `${kind} probe failed ${failures} times in a row: ${why}`;
}

export function applyContainerProbeResult(
  prev: ContainerProbeStatus,
  kind: ProbeKind,
  thresholds: ProbeThresholds,
  result: ProbeResult,
): ProbeTransition {
  const current = prev.probes[kind];
  if (current === undefined || !probeShouldRun(prev, kind)) {
    return { status: prev, changed: false, signals: [], ignored: true };
  }
  const next = applyProbeResult(current, thresholds, result);
  const changed = next.state !== current.state;
  const status: ContainerProbeStatus = { ...prev, probes: { ...prev.probes, [kind]: next } };
  const signals: ProbeSignal[] = [];
  if (kind === 'startup') {
    if (next.state === 'success') {
      status.started = true;
      signals.push({ type: 'started' });
      if (status.probes.readiness === undefined && !prev.ready) {
        status.ready = true;
        signals.push({ type: 'ready', ready: true });
      }
    } else if (changed && next.state === 'failure') {
      signals.push({ type: 'restart', kind, message: describe(kind, result, next.consecutiveFailures) });
    }
  } else if (kind === 'liveness') {
    if (changed && next.state === 'failure') {
      signals.push({ type: 'restart', kind, message: describe(kind, result, next.consecutiveFailures) });
    }
  } else {
    const ready = next.state === 'success';
    if (ready !== prev.ready) {
      status.ready = ready;
      signals.push({ type: 'ready', ready });
    }
  }
  return { status, changed, signals, ignored: false };
}
