// Leaving the service endpoints before SIGTERM. When the agent stops a running pod for
// good (deleted, no longer assigned, replaced by a new uid) it first asks the controller
// (NodeGateway.AwaitEndpointsDrained) to wait until no node sends the pod service traffic
// any more, so the pod's SIGTERM never lands while connections are still routed to it.
// The wait is part of the pod's grace, as a preStop hook is in Kubernetes: what it used
// is taken off the grace SIGTERM then gets. Stops for the pod's own reasons (a liveness
// restart, deploy stop) do not wait: the pod stays assigned, and its endpoints follow its
// readiness. The decision is pure; the call is behind EndpointsDrainer.

export const defaultEndpointDrainTimeoutMs = 10_000;
/** The controller caps its wait at 30 s (gateway.proto). */
export const maxEndpointDrainTimeoutMs = 30_000;
/** The call's deadline beyond the wait asked of the controller: its answer has to travel. */
export const drainCallSlackMs = 500;

export interface DrainRequest {
  namespace: string;
  name: string;
  uid: string;
  /** How long the controller may wait. */
  timeoutMs: number;
}

export interface DrainAnswer {
  drained: boolean;
  endpointsRevision: number;
  pendingNodes: string[];
  pendingServices: string[];
}

/** The controller side of the wait (the gateway session in the agent; a fake in tests). */
export interface EndpointsDrainer {
  /** Rejects on Unavailable and every other failure; the signal ends the call early. */
  awaitEndpointsDrained(request: DrainRequest, signal: AbortSignal): Promise<DrainAnswer>;
}

export interface DrainInput {
  /** The stop removes the pod from this node for good (a teardown), not a restart or a deploy stop. */
  leaving: boolean;
  /** The pod's IP on this node; "" or undefined when it has no network. */
  podIP?: string;
  /** Some container of the pod still runs (nothing to drain from a pod that ended). */
  running: boolean;
  graceSeconds: number;
  /** --endpoint-drain-timeout; 0 turns the wait off. */
  drainTimeoutMs: number;
  /** The agent can reach the controller's gateway at all (a drainer is wired). */
  drainer: boolean;
}

export type DrainDecision = { wait: true; timeoutMs: number } | { wait: false; why: string };

export function decideDrain(input: DrainInput): DrainDecision {
  if (!input.leaving) return { wait: false, why: 'the pod stays on this node' };
  if (!input.drainer) return { wait: false, why: 'no controller to ask' };
  if (input.podIP === undefined || input.podIP === '') return { wait: false, why: 'the pod has no IP' };
  if (!input.running) return { wait: false, why: 'no container of the pod runs' };
  const timeoutMs = Math.min(
    Math.max(0, input.graceSeconds) * 1000,
    Math.max(0, input.drainTimeoutMs),
    maxEndpointDrainTimeoutMs,
  );
  if (timeoutMs <= 0)
    return {
      wait: false,
      why: input.drainTimeoutMs <= 0 ? 'the drain wait is turned off' : 'no grace to wait in',
    };
  return { wait: true, timeoutMs: Math.round(timeoutMs) };
}

/** The grace SIGTERM still gets after a drain wait of waitedMs. */
export function graceAfterDrain(graceSeconds: number, waitedMs: number): number {
  return Math.max(0, graceSeconds - waitedMs / 1000);
}

export type DrainOutcome =
  | { kind: 'drained'; waitedMs: number; answer: DrainAnswer }
  /** The controller's wait ran out with the pod still routed to somewhere. */
  | { kind: 'not-drained'; waitedMs: number; answer: DrainAnswer }
  /** Unavailable, any other error, or no answer before the wait ran out (or was cut or cancelled). */
  | { kind: 'failed'; waitedMs: number; error: string };

/**
 * One drain wait before one teardown's SIGTERM: a single call to the drainer, ended by its
 * answer, its failure, or the wait's end (timeoutMs plus the call's slack), whichever is
 * first. A deletion with a shorter grace moves the end in (cut), and caps the grace left.
 */
export class EndpointsDrain {
  private readonly abort = new AbortController();
  private readonly startedAt: number;
  private endsAt: number;
  private timer: NodeJS.Timeout;
  private killBy: number | undefined;

  constructor(
    readonly uid: string,
    private readonly timeoutMs: number,
  ) {
    this.startedAt = Date.now();
    this.endsAt = this.startedAt + timeoutMs + drainCallSlackMs;
    this.timer = this.arm();
  }

  // Not unref'd: it bounds a stop under way, which holds the process anyway.
  private arm(): NodeJS.Timeout {
    return setTimeout(() => this.abort.abort(), Math.max(0, this.endsAt - Date.now()));
  }

  async run(drainer: EndpointsDrainer, pod: Omit<DrainRequest, 'timeoutMs'>): Promise<DrainOutcome> {
    const signal = this.abort.signal;
    const waited = (): number => Date.now() - this.startedAt;
    try {
      const answer = await new Promise<DrainAnswer>((resolve, reject) => {
        // Ends the wait even when the drainer does not heed the signal.
        const onAbort = (): void => reject(new Error(`no answer within ${waited()} ms`));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        drainer.awaitEndpointsDrained({ ...pod, timeoutMs: this.timeoutMs }, signal).then(
          (a) => {
            signal.removeEventListener('abort', onAbort);
            resolve(a);
          },
          (err: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      });
      return { kind: answer.drained ? 'drained' : 'not-drained', waitedMs: waited(), answer };
    } catch (err) {
      return { kind: 'failed', waitedMs: waited(), error: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(this.timer);
    }
  }

  /** A shorter grace asked for now: the wait ends by then, and so does the grace after it. */
  cut(graceSeconds: number): boolean {
    const at = Date.now() + Math.max(0, graceSeconds) * 1000;
    this.killBy = Math.min(this.killBy ?? at, at);
    if (at >= this.endsAt) return false;
    clearTimeout(this.timer);
    this.endsAt = at;
    this.timer = this.arm();
    return true;
  }

  /** Ends the wait now (the agent is stopping). */
  cancel(): void {
    clearTimeout(this.timer);
    this.abort.abort();
  }

  /** The grace SIGTERM gets after the wait: what it used is gone, and a cut caps it. */
  graceLeft(graceSeconds: number): number {
    const left = graceAfterDrain(graceSeconds, Date.now() - this.startedAt);
    return this.killBy === undefined ? left : Math.min(left, Math.max(0, (this.killBy - Date.now()) / 1000));
  }
}
