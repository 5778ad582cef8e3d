// Jittered exponential back-off for everything the agent retries: the join, the
// gateway session, the NATS connection. Jitter keeps a fleet of agents from dialling a
// restarted controller in lock-step.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** The gateway session's range: quick first retries, never slower than every 5 s. */
export const defaultBackoff: BackoffPolicy = { initialMs: 200, maxMs: 5_000 };

/**
 * The delay before retry number `attempt` (0-based): the exponential ceiling, then a
 * random point in its upper half, so delays still grow but never synchronise.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = defaultBackoff,
  random = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Counts consecutive failures; reset after a success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly policy: BackoffPolicy = defaultBackoff) {}

  next(): number {
    return backoffDelay(this.attempt++, this.policy);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Resolves after `ms`, or early (without throwing) when the signal aborts, so a retry
 * loop can check the signal and leave. The timer is unref'd: waiting never by itself
 * keeps the process alive.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
