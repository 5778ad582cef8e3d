// How a local cluster is described to the person who started it. Pure.
import type { ClusterState } from '../local/state.js';
import { startMarker } from '../local/layout.js';
import { formatAge } from './age.js';
import { orNone, renderTable } from './table.js';

export interface SummaryOptions {
  configPath: string;
  /** Flags to repeat in the suggested commands ("--data-dir /tmp/x"), when not the defaults. */
  dataDirFlag: string;
  configFlag: string;
  /** "node-1 (Ready)". */
  nodeLine?: string;
  /** The images `up` pushed to the local registry. */
  images?: readonly string[];
  now: Date;
}

function address(state: ClusterState, name: string): string {
  return state.components.find((c) => c.name === name)?.address || '<none>';
}

export function clusterSummary(state: ClusterState, options: SummaryOptions): string {
  const logs = `${state.dataDir}/logs/`;
  const registry = address(state, 'registry');
  const rows: [string, string][] = [
    ['data', state.dataDir],
    ['API (controller)', address(state, 'controller')],
    ['etcd', address(state, 'etcd')],
    ['NATS', address(state, 'nats-server')],
    ['registry', `${registry} (push images as ${registry}/NAME:TAG)`],
  ];
  if (options.nodeLine) rows.push(['node', options.nodeLine]);
  if (options.images && options.images.length > 0) rows.push(['images', options.images.join(', ')]);
  rows.push(['client config', options.configPath], ['logs', logs]);
  if (state.supervisorPid)
    rows.push(['supervisor', `pid ${state.supervisorPid}, up ${formatAge(state.startedAt, options.now)}`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const deploy = (cmd: string, local: boolean): string =>
    ['deploy', options.configFlag, cmd, local ? options.dataDirFlag : ''].filter((s) => s !== '').join(' ');
  const next: [string, string][] = [
    [deploy('nodes', false), 'the node that joined'],
    [deploy('status', true), 'the health of every component'],
    [deploy('token create', false), 'a join token for another host'],
    [deploy('down', true), `stop everything (add --purge to delete ${state.dataDir})`],
  ];
  const nextWidth = Math.max(...next.map(([c]) => c.length)) + 3;
  return [
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`),
    '',
    'Try next:',
    ...next.map(([c, what]) => `  ${c.padEnd(nextWidth)}${what}`),
    '',
  ].join('\n');
}

export const componentColumns = ['NAME', 'STATE', 'PID', 'ALIVE', 'ADDRESS', 'RESTARTS', 'LOG'] as const;

/** alive: the components whose recorded PID still runs their command. */
export function componentsTable(state: ClusterState, alive: ReadonlySet<string>): string {
  const rows = state.components.map((c) => [
    c.name,
    c.message && c.state !== 'running' ? `${c.state} (${c.message})` : c.state,
    c.pid ? String(c.pid) : '-',
    c.pid ? (alive.has(c.name) ? 'yes' : 'no') : '-',
    orNone(c.address),
    String(c.restarts),
    c.log,
  ]);
  return renderTable(componentColumns, rows);
}

/** The last lines of a log since the component's last start, for a failure message. Pure. */
export function tail(text: string, lines: number): string {
  const lastStart = text.lastIndexOf(`\n--- `, text.lastIndexOf(startMarker));
  const run = lastStart >= 0 && text.includes(startMarker) ? text.slice(lastStart + 1) : text;
  const all = run.replace(/\n+$/, '').split('\n');
  return all.slice(-lines).join('\n');
}
