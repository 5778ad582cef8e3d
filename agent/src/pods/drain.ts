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
