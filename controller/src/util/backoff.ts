// Retrying with jittered exponential back-off, for dependencies (etcd, NATS) that may be
// down for a while: the controller waits for them instead of crashing.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

export interface RetryOptions extends BackoffOptions {
  /** Which failures are worth waiting out; the others are thrown at once. Default: all. */
  retryIf?: (err: unknown) => boolean;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 200;
    this.maxMs = options.maxMs ?? 5_000;
  }

  /** The next delay: doubles each time up to the maximum, with ±25% jitter so peers spread out. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Resolves after ms, or early (without throwing) when the signal aborts. The timer does
 * not keep the process alive unless ref is set: background loops must not, but a caller
 * that is waiting in the foreground (start-up waiting for etcd) must.
 */
export function sleep(ms: number, signal?: AbortSignal, ref = false): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (!ref) timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs fn until it succeeds or the signal aborts, sleeping with back-off between
 * attempts and telling onError about each failure. Throws the signal's reason on abort,
 * and a failure retryIf rejects as it is.
 */
export async function retryUntil<T>(
  fn: () => Promise<T>,
  signal: AbortSignal,
  onError: (err: unknown, attempt: number, delayMs: number) => void,
  options: RetryOptions = {},
): Promise<T> {
  const backoff = new Backoff(options);
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    try {
      return await fn();
    } catch (err) {
      signal.throwIfAborted();
      if (options.retryIf && !options.retryIf(err)) throw err;
      const delay = backoff.next();
      onError(err, attempt, delay);
      await sleep(delay, signal, true);
    }
  }
}
