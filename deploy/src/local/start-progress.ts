// What `deploy up` makes of the supervisor's state while it waits. Pure, so the
// decisions (failed? which component to blame? what are we waiting for?) are testable.
import type { ClusterState, ComponentRecord } from './state.js';

export type StartProgress =
  /** The start failed; component's log explains it. */
  | { kind: 'failed'; message: string; component: string }
  /** Every component runs: what is left is the node turning Ready. */
  | { kind: 'running'; state: ClusterState }
  | { kind: 'waiting'; waitingFor: string; component: string };

/** The state was written by our supervisor, or by it on its way out (when it clears its PID). */
export function isStateOf(state: ClusterState, supervisorPid: number, startedAtMs: number): boolean {
  if (state.supervisorPid === supervisorPid) return true;
  return state.supervisorPid === null && Date.parse(state.startedAt) >= startedAtMs - 1_000;
}

/**
 * state: cluster.json read after checking whether the supervisor is alive, so that a
 * supervisor that wrote "failed" and exited is seen as failed, not as vanished.
 */
export function startProgress(
  state: ClusterState | undefined,
  supervisorAlive: boolean,
  supervisorLog: string,
): StartProgress {
  if (state?.phase === 'failed') {
    return { kind: 'failed', message: state.message, component: state.failedComponent || 'supervisor' };
  }
  if (!supervisorAlive) {
    return {
      kind: 'failed',
      message: `the supervisor exited unexpectedly; see ${supervisorLog}`,
      component: 'supervisor',
    };
  }
  if (!state) return { kind: 'waiting', waitingFor: 'the supervisor to start', component: 'supervisor' };
  if (state.phase === 'running') return { kind: 'running', state };
  const starting = state.components.find((c) => c.state === 'starting' || c.state === 'pending');
  if (starting)
    return { kind: 'waiting', waitingFor: `${starting.name} to be ready`, component: starting.name };
  return {
    kind: 'waiting',
    waitingFor: `the cluster to be running (it is ${state.phase})`,
    component: 'supervisor',
  };
}

/** Components that came up since the last look, to report them once each. */
export function newlyUp(state: ClusterState | undefined, reported: ReadonlySet<string>): ComponentRecord[] {
  return (state?.components ?? []).filter(
    (c) => (c.state === 'running' || c.state === 'completed') && !reported.has(c.name),
  );
}
