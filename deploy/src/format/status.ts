// Health of a local cluster and of the controller's view, for `deploy status`. Pure.
import type { ClusterStatus } from '@flotilla/proto';
import type { ClusterState } from '../local/state.js';
import { orNone, renderTable } from './table.js';

/** What is wrong with a local cluster, from its state and which components are alive. Pure. */
export function localProblems(
  state: ClusterState,
  supervisorAlive: boolean,
  alive: ReadonlySet<string>,
): string[] {
  if (state.phase === 'stopped') return [];
  const problems: string[] = [];
  if (state.phase === 'failed') problems.push(`the local cluster failed to start: ${state.message}`);
  else if (!supervisorAlive)
    problems.push(`the supervisor (pid ${state.supervisorPid ?? '?'}) is not running`);
  else if (state.phase !== 'running') problems.push(`the local cluster is ${state.phase}`);
  for (const c of state.components) {
    if (c.state === 'completed' || state.phase === 'failed') continue;
    if (c.state !== 'running') problems.push(`${c.name} is ${c.state}${c.message ? `: ${c.message}` : ''}`);
    else if (!alive.has(c.name)) problems.push(`${c.name} (pid ${c.pid ?? '?'}) is not running`);
  }
  return problems;
}

/** What is wrong according to the controller. Pure. */
export function controllerProblems(status: ClusterStatus): string[] {
  const problems = status.components
    .filter((c) => !c.healthy)
    .map((c) => `${c.name} is unhealthy${c.message ? `: ${c.message}` : ''}`);
  if (status.nodesReady < status.nodesTotal) {
    problems.push(`${status.nodesTotal - status.nodesReady} of ${status.nodesTotal} nodes are not Ready`);
  }
  return problems;
}

export function clusterStatusTable(status: ClusterStatus): string {
  return renderTable(
    ['COMPONENT', 'HEALTHY', 'ENDPOINT', 'MESSAGE'],
    status.components.map((c) => [c.name, c.healthy ? 'yes' : 'no', orNone(c.endpoint), orNone(c.message)]),
  );
}
