// Restart back-off for supervised components: 1 s, doubling, at most 30 s; a component
// that stayed up long enough starts again from 1 s.

export const backoff = { initialMs: 1_000, maxMs: 30_000, resetAfterMs: 60_000 } as const;

/** The delay before restart number `failures` (0 for the first restart in a row). */
export function restartDelay(failures: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures, 30));
}

/** Exits in a row, counting this one, after a run that lasted uptimeMs; the delay is restartDelay(count - 1). */
export function nextFailureCount(previous: number, uptimeMs: number): number {
  return uptimeMs >= backoff.resetAfterMs ? 1 : previous + 1;
}
