// The restart decision for one terminated container (pure): Kubernetes' restartPolicy
// plus its crash-loop back-off. Time is passed in, so the executor owns the clock and
// tests need no timers.

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** Kubernetes' kubelet constants: 10 s first back-off, doubling, capped at 5 minutes. */
export const restartBackoffInitialMs = 10_000;
export const restartBackoffMaxMs = 300_000;
/** A container that ran this long without a problem gets its back-off reset (2 × the cap, as the kubelet). */
export const restartBackoffResetAfterMs = 600_000;

export interface LastTermination {
  exitCode: number;
  /** e.g. "Completed", "Error", "OOMKilled"; informational for the decision. */
  reason: string;
  /** epoch ms */
  startedAt: number;
  /** epoch ms */
  finishedAt: number;
}

export interface RestartInput {
  policy: RestartPolicy;
  last: LastTermination;
  /** The container's restart count as reported in its status (informational). */
  restartCount: number;
  /**
   * Back-off steps taken since the back-off was last reset: 0 means the next restart is
   * immediate, n ≥ 1 means a wait of 10 s × 2^(n−1), capped. The caller stores the
   * `backoffSteps` of the restart decision; restartCount cannot serve, because it never
   * resets while the back-off does.
   */
  backoffSteps: number;
  /** epoch ms */
  now: number;
}

export type RestartDecision =
  | { action: 'restart'; at: number; backoffSteps: number }
  | { action: 'wait-backoff'; until: number; reason: 'CrashLoopBackOff'; message: string }
  | { action: 'leave-terminated' };

/** The wait before the restart following `steps` back-off steps. */
export function restartBackoffDelay(steps: number): number {
  if (steps <= 0) return 0;
  return Math.min(restartBackoffMaxMs, restartBackoffInitialMs * 2 ** Math.min(steps - 1, 30));
}

export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  switch (policy) {
    case 'Always':
      return true;
    case 'OnFailure':
      return exitCode !== 0;
    case 'Never':
      return false;
  }
}

export function decideRestart(input: RestartInput): RestartDecision {
  const { policy, last, now } = input;
  if (!shouldRestart(policy, last.exitCode)) return { action: 'leave-terminated' };
  // A long healthy run means the crash loop (if any) is over: start counting afresh.
  const ranFor = last.finishedAt - last.startedAt;
  const steps = ranFor >= restartBackoffResetAfterMs ? 0 : Math.max(0, input.backoffSteps);
  const until = last.finishedAt + restartBackoffDelay(steps);
  if (now < until) {
    const seconds = Math.round(restartBackoffDelay(steps) / 1000);
    return {
      action: 'wait-backoff',
      until,
      reason: 'CrashLoopBackOff',
      message: `back-off ${seconds}s restarting failed container (exit code ${last.exitCode}, ${last.reason}, ${input.restartCount} restarts)`,
    };
  }
  return { action: 'restart', at: now, backoffSteps: steps + 1 };
}
