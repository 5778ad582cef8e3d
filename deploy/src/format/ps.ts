// `deploy ps`: one row per pod in Docker's words. Pure.
import type { ContainerPort, Pod } from '@flotilla/proto';
import { containerStatusOf, dockerState, exitCodeOf, mainContainer } from '../pods/state.js';
import { effectiveCommand, type ImageDefaults } from './inspect.js';
import { dockerDuration } from './age.js';
import { renderTable } from './table.js';

export { dockerDuration };

function since(timestamp: string | undefined, now: Date): string | undefined {
  if (!timestamp) return undefined;
  const at = Date.parse(timestamp);
  if (Number.isNaN(at)) return undefined;
  return dockerDuration(now.getTime() - at);
}

/** "5 seconds ago", as docker's CREATED column. */
export function createdAgo(pod: Pod, now: Date): string {
  const d = since(pod.metadata?.creationTimestamp, now);
  return d === undefined ? '' : `${d} ago`;
}

/** Docker's STATUS column. */
export function psStatus(pod: Pod, now: Date): string {
  const state = dockerState(pod);
  const status = containerStatusOf(pod);
  if (state === 'removing') return 'Removal In Progress';
  if (state === 'running') {
    const up = since(status?.state?.running?.startedAt, now) ?? 'Less than a second';
    const container = mainContainer(pod);
    let health = '';
    if (container?.readinessProbe) {
      if (status?.started === false) health = ' (health: starting)';
      else health = status?.ready ? ' (healthy)' : ' (unhealthy)';
    }
    return `Up ${up}${health}`;
  }
  if (state === 'exited') {
    const t = status?.state?.terminated ?? status?.lastState?.terminated;
    if (!t) return `Exited (${pod.status?.phase === 'Succeeded' ? 0 : 1})`;
    const ago = since(t.finishedAt, now);
    return `Exited (${exitCodeOf(t)})${ago !== undefined ? ` ${ago} ago` : ''}`;
  }
  if (state === 'restarting') {
    const t = status?.lastState?.terminated;
    if (!t) return 'Restarting';
    const ago = since(t.finishedAt, now);
    return `Restarting (${exitCodeOf(t)})${ago !== undefined ? ` ${ago} ago` : ''}`;
  }
  const waiting = status?.state?.waiting?.reason;
  if (waiting && waiting !== 'ContainerCreating') return `Pending: ${waiting}`;
  const scheduled = pod.status?.conditions.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') return `Pending: ${scheduled.reason || 'Unschedulable'}`;
  return 'Created';
}

/** Docker's COMMAND column: the command quoted, cut to 20 characters with "…". */
export function psCommand(pod: Pod, truncate = true, image?: ImageDefaults): string {
  const c = mainContainer(pod);
  const effective = effectiveCommand(c?.command ?? [], c?.args ?? [], image);
  let text = [...(effective.entrypoint ?? []), ...(effective.cmd ?? [])].join(' ');
  if (truncate && [...text].length > 20) text = `${[...text].slice(0, 19).join('')}…`;
  return JSON.stringify(text);
}

export function formatPort(port: ContainerPort): string {
  const proto = (port.protocol || 'TCP').toLowerCase();
  if (!port.hostPort) return `${port.containerPort}/${proto}`;
  const ip = port.hostIP || '0.0.0.0';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return `${host}:${port.hostPort}->${port.containerPort}/${proto}`;
}

/** Docker's PORTS column: "127.0.0.1:18080->8080/tcp, 9090/udp". */
export function psPorts(pod: Pod): string {
  return (pod.spec?.containers ?? [])
    .flatMap((c) => c.ports)
    .map(formatPort)
    .join(', ');
}

export const psColumns = ['NAME', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NODE'] as const;

export function psRow(pod: Pod, now: Date, truncate = true, image?: ImageDefaults): string[] {
  return [
    pod.metadata?.name ?? '',
    mainContainer(pod)?.image ?? '',
    psCommand(pod, truncate, image),
    createdAgo(pod, now),
    psStatus(pod, now),
    psPorts(pod),
    pod.spec?.nodeName ?? '',
  ];
}

/** Newest first, as docker lists them. */
export function sortPods(pods: readonly Pod[]): Pod[] {
  const created = (p: Pod): number => Date.parse(p.metadata?.creationTimestamp ?? '') || 0;
  return [...pods].sort(
    (a, b) => created(b) - created(a) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
}

export interface PsOptions {
  all: boolean;
  now: Date;
  truncate?: boolean;
  /** Show the NAMESPACE too (ps -A). */
  namespaces?: boolean;
  /** The image configs the CLI knows, by image name: COMMAND then shows the image's. */
  images?: ReadonlyMap<string, ImageDefaults | undefined>;
}

/** Which pods a ps shows: without -a only those with a running (or restarting) container. */
export function psVisible(pod: Pod, all: boolean): boolean {
  if (all) return true;
  const state = dockerState(pod);
  return state === 'running' || state === 'restarting';
}

export function psTable(pods: readonly Pod[], options: PsOptions): string {
  const shown = sortPods(pods).filter((p) => psVisible(p, options.all));
  const rows = shown.map((p) => {
    const row = psRow(
      p,
      options.now,
      options.truncate ?? true,
      options.images?.get(mainContainer(p)?.image ?? ''),
    );
    return options.namespaces ? [p.metadata?.namespace ?? '', ...row] : row;
  });
  const headers = options.namespaces ? ['NAMESPACE', ...psColumns] : [...psColumns];
  return renderTable(headers, rows);
}

export function psNames(pods: readonly Pod[], all: boolean): string {
  return sortPods(pods)
    .filter((p) => psVisible(p, all))
    .map((p) => `${p.metadata?.name ?? ''}\n`)
    .join('');
}

export type PsFilter = { key: 'name' | 'status' | 'node' | 'label' | 'ancestor'; value: string };

export const psFilterKeys = ['name', 'status', 'node', 'label', 'ancestor'] as const;
const statusValues = ['created', 'running', 'restarting', 'exited', 'removing', 'dead'] as const;

/** --filter KEY=VALUE; the reason completes "must be …". */
export function parsePsFilter(text: string): { ok: true; value: PsFilter } | { ok: false; reason: string } {
  const eq = text.indexOf('=');
  const key = eq >= 0 ? text.slice(0, eq) : text;
  const value = eq >= 0 ? text.slice(eq + 1) : '';
  if (!(psFilterKeys as readonly string[]).includes(key) || eq < 0 || value === '') {
    return {
      ok: false,
      reason: `KEY=VALUE with KEY one of ${psFilterKeys.join(', ')}, such as status=exited or label=app=web`,
    };
  }
  if (key === 'status' && !(statusValues as readonly string[]).includes(value)) {
    return { ok: false, reason: `status=STATE with STATE one of ${statusValues.join(', ')}` };
  }
  return { ok: true, value: { key: key as PsFilter['key'], value } };
}

/** Docker's rule: filters of one key are ORed, different keys ANDed. A status filter implies -a. */
export function matchesPsFilters(pod: Pod, filters: readonly PsFilter[]): boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f.value]);
  for (const [key, values] of byKey) {
    const ok = values.some((v) => {
      switch (key) {
        case 'name':
          return (pod.metadata?.name ?? '').includes(v);
        case 'status':
          return dockerState(pod) === v;
        case 'node':
          return pod.spec?.nodeName === v;
        case 'ancestor':
          return (pod.spec?.containers ?? []).some((c) => c.image === v || c.image.startsWith(`${v}:`));
        case 'label': {
          const eq = v.indexOf('=');
          const labels = pod.metadata?.labels ?? {};
          return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}
