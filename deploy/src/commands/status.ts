// deploy status: the local cluster's processes, and the controller's view of etcd, NATS
// and the nodes. Exit 1 when anything is unhealthy.
import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { errorMessage } from '@flotilla/common';
import type { Command, CommandContext } from '../cli/types.js';
import { withCluster } from '../client/cluster-client.js';
import { inspectLocalCluster } from '../local/control.js';
import { componentsTable } from '../format/local.js';
import { formatAge } from '../format/age.js';
import { clusterStatusTable, controllerProblems, localProblems } from '../format/status.js';
import { renderTable } from '../format/table.js';
import type { ClusterState } from '../local/state.js';
import { dataDirFlag, dataDirOf } from './shared.js';

/** The hosts of an `up --nodes N` cluster: each netns, its address and its agent (pure but for the netns check). */
function hostsTable(state: ClusterState, alive: ReadonlySet<string>): { text: string; problems: string[] } {
  const record = state.hosts;
  if (!record) return { text: '', problems: [] };
  const problems: string[] = [];
  const rows = record.hosts.map((h) => {
    const netns = existsSync(`/run/netns/${h.name}`);
    if (!netns) problems.push(`host ${h.name}: its network namespace is gone`);
    const agent = state.components.find((c) => c.name === h.component);
    return [
      h.name,
      h.address,
      netns ? 'yes' : 'no',
      h.component,
      alive.has(h.component) ? `pid ${agent?.pid ?? '?'}` : 'not running',
    ];
  });
  const text =
    `Hosts on bridge ${record.prefix}br (${record.gateway}, ${record.subnet}):\n` +
    renderTable(['HOST', 'ADDRESS', 'NETNS', 'AGENT', 'PROCESS'], rows);
  return { text, problems };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function runStatus(ctx: CommandContext): Promise<number> {
  const dataDir = dataDirOf(ctx);
  const view = await inspectLocalCluster(dataDir);
  const problems: string[] = [];
  const { state } = view;
  const localActive = state !== undefined && state.phase !== 'stopped';

  if (state) {
    const alive = new Set(view.liveComponents.map((c) => c.name));
    const supervisor = view.supervisorAlive
      ? `supervisor pid ${state.supervisorPid}, up ${formatAge(state.startedAt, new Date())}`
      : 'supervisor not running';
    ctx.io.stdout(`Local cluster in ${dataDir}: ${state.phase} (${supervisor})\n`);
    if (localActive) ctx.io.stdout('\n' + componentsTable(state, alive));
    problems.push(...localProblems(state, view.supervisorAlive, alive));
    if (localActive && state.hosts) {
      const hosts = hostsTable(state, alive);
      ctx.io.stdout('\n' + hosts.text);
      problems.push(...hosts.problems);
    }
  }

  const haveConfig = await exists(ctx.global.configPath);
  if (!haveConfig && !state) {
    ctx.io.stderr(
      `error: no local cluster in ${dataDir} and no client config at ${ctx.global.configPath}: ` +
        'start a local cluster with "deploy up", or pass --config / --data-dir\n',
    );
    return 1;
  }
  if (haveConfig && (localActive || !state)) {
    if (state) ctx.io.stdout('\n');
    try {
      const { status, server } = await withCluster(
        ctx.global.configPath,
        async (api) => ({ status: await api.getClusterStatus(), server: api.server }),
        { timeoutMs: 5_000 },
      );
      const version = status.controllerVersion ? ` (controller ${status.controllerVersion})` : '';
      ctx.io.stdout(`Controller at ${server}${version}:\n\n`);
      ctx.io.stdout(clusterStatusTable(status));
      ctx.io.stdout(`\nnodes: ${status.nodesReady}/${status.nodesTotal} Ready\n`);
      problems.push(...controllerProblems(status));
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  if (problems.length > 0) {
    ctx.io.stdout(`\nUnhealthy:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 1;
  }
  ctx.io.stdout('\nAll healthy.\n');
  return 0;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show the health of the local cluster and of the controller',
  description:
    "Show the local cluster's components (supervised processes: PID, alive, address, log) and the\n" +
    "controller's view (etcd, NATS, nodes Ready). Exits 1 when anything is unhealthy.",
  flags: [dataDirFlag],
  run: runStatus,
};
