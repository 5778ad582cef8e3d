// Runs a container's probes on their schedule: each one after initialDelaySeconds, then
// every periodSeconds, feeding results to the state machine and reporting transitions.
// Timers are unref'd so probing never keeps the agent alive; the AbortSignal stops it.

import { createLogger, type Logger } from '@flotilla/common';
import type { ProbeKind, ResolvedProbe } from './probe.js';
import { runProbeAction, type ProbeAttempt, type ProbeTarget } from './probe-exec.js';
import {
  applyContainerProbeResult,
  initialContainerProbeStatus,
  probeShouldRun,
  type ContainerProbeStatus,
  type ProbeResult,
  type ProbeSignal,
} from './prober-state.js';

export interface ProbeEvent {
  kind: ProbeKind;
  result: ProbeResult;
  status: ContainerProbeStatus;
  /** The probe's state changed with this result. */
  changed: boolean;
  signals: ProbeSignal[];
}

export interface StartProbingOptions {
  probes: readonly ResolvedProbe[];
  target: ProbeTarget;
  signal: AbortSignal;
  /** Called for every result that changed a state or raised a signal. */
  onChange: (event: ProbeEvent) => void;
  /** Called for every result, changed or not (tests, metrics). */
  onResult?: (event: ProbeEvent) => void;
  now?: () => number;
  logger?: Logger;
  /** Runs one attempt; replaceable in tests. */
  attempt?: (probe: ResolvedProbe, target: ProbeTarget, signal: AbortSignal) => Promise<ProbeAttempt>;
}

export interface Probing {
  /** The current status, for full-state reports. */
  status(): ContainerProbeStatus;
}

const defaultAttempt = (
  probe: ResolvedProbe,
  target: ProbeTarget,
  signal: AbortSignal,
): Promise<ProbeAttempt> => runProbeAction(probe.action, target, probe.timeoutSeconds * 1000, signal);

/** The first retry of a readiness probe that has not succeeded yet; ×1.5 each time, up to the period. */
export const firstReadinessRetryMs = 10;
/**
 * The same for an exec probe: each attempt is a `runc exec` (a process tree in the
 * container, tens of ms of CPU), not a refused connect, so it starts where all probes did.
 */
export const firstExecReadinessRetryMs = 100;
/**
 * Why 1.5 and not 2: a server that binds x ms after the first attempt is seen within about
 * x/2 after that (doubling: up to x, so 75 ms became 150), for ~11 attempts in the first
 * second of a container that never gets ready (a refused connect costs next to nothing).
 */
const readinessRetryGrowth = 1.5;

/**
 * How long after an attempt that began at `startedAt` the next one starts. Kubernetes'
 * ticker: every periodSeconds. One departure, for readiness only: until the probe first
 * succeeds in this container run, a failed attempt is retried after 10, 15, 23, 34 ms…
 * (never beyond the period), so a container that starts serving a moment after its first
 * probe (the usual case: the probe starts as the container does) is ready then, not a
 * period or a 100 ms step later. Failures count against the thresholds as usual; reaching
 * failureThreshold before the first success changes nothing a user sees (the container is
 * not ready until a success either way), so the quick retries go on until that success.
 * Once it succeeded, and for startup and liveness probes (whose failures restart the
 * container, so their timing must stay what the spec says), the period alone.
 */
export function nextProbeDelayMs(
  probe: Pick<ResolvedProbe, 'kind' | 'periodSeconds'> & { action?: Pick<ResolvedProbe['action'], 'type'> },
  succeeded: boolean,
  earlyRetries: number,
  elapsedMs: number,
): number {
  const periodMs = probe.periodSeconds * 1000;
  const period = Math.max(0, periodMs - elapsedMs);
  if (probe.kind !== 'readiness' || succeeded) return period;
  const first = probe.action?.type === 'exec' ? firstExecReadinessRetryMs : firstReadinessRetryMs;
  return Math.min(period, Math.round(first * readinessRetryGrowth ** earlyRetries));
}

export function startProbing(options: StartProbingOptions): Probing {
  const now = options.now ?? Date.now;
  const log = options.logger ?? createLogger({ component: 'probes' });
  const attempt = options.attempt ?? defaultAttempt;
  const { signal } = options;
  let status = initialContainerProbeStatus(options.probes.map((p) => p.kind));

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });

  const loop = async (probe: ResolvedProbe): Promise<void> => {
    await sleep(probe.initialDelaySeconds * 1000);
    let earlyRetries = 0;
    let succeeded = false;
    while (!signal.aborted) {
      const started = now();
      if (probeShouldRun(status, probe.kind)) {
        const a = await attempt(probe, options.target, signal);
        if (signal.aborted) return;
        const result: ProbeResult = {
          outcome: a.outcome,
          at: now(),
          ...(a.message ? { message: a.message } : {}),
        };
        const t = applyContainerProbeResult(status, probe.kind, probe, result);
        if (!t.ignored) {
          status = t.status;
          const event: ProbeEvent = {
            kind: probe.kind,
            result,
            status,
            changed: t.changed,
            signals: t.signals,
          };
          options.onResult?.(event);
          if (t.changed || t.signals.length > 0) {
            log.debug('probe state changed', { kind: probe.kind, outcome: a.outcome, message: a.message });
            try {
              options.onChange(event);
            } catch (err) {
              // A listener's bug must not stop the probing of a running container.
              log.error('probe listener failed', { kind: probe.kind, error: err });
            }
          }
        }
      } else if (probe.kind === 'startup' && status.started) {
        return; // the startup probe is done for this container run
      }
      // Period measured from the start of the attempt, as Kubernetes' ticker.
      if (status.probes[probe.kind]?.state === 'success') succeeded = true;
      await sleep(nextProbeDelayMs(probe, succeeded, earlyRetries, now() - started));
      if (probe.kind === 'readiness' && !succeeded) earlyRetries++;
    }
  };

  for (const probe of options.probes) {
    loop(probe).catch((err: unknown) => log.error('probe loop failed', { kind: probe.kind, error: err }));
  }
  return { status: () => status };
}
