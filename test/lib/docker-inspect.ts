// Reading `deploy inspect` and `deploy ps` the way a user of the Docker workflow would,
// for the end-to-end tests: inspect prints Docker's container JSON (an array of one
// document per pod) with the pod itself under "Pod".
import { Pod } from '@flotilla/proto';
import type { Test } from 'tap';
import type { RunResult } from './processes.js';
import type { DockerCluster } from './docker-cluster.js';
import { waitFor } from './wait.js';

export interface InspectState {
  Status?: string;
  Running?: boolean;
  OOMKilled?: boolean;
  ExitCode?: number;
  Error?: string;
  Health?: { Status?: string };
}

export interface InspectDocument {
  Id?: string;
  Path?: string;
  Args?: string[];
  State?: InspectState;
  Image?: string;
  Name?: string;
  RestartCount?: number;
  HostConfig?: {
    Binds?: string[] | null;
    PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[]>;
    Memory?: number;
  };
  Mounts?: { Type?: string; Source?: string; Destination?: string; RW?: boolean }[];
  Config?: {
    Hostname?: string;
    Env?: string[];
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    Image?: string;
  };
  Pod?: unknown;
}

export interface Inspected {
  doc: InspectDocument;
  pod: Pod;
  raw: RunResult;
}

export const show = (r: { code?: number; stdout: string; stderr: string }): string =>
  `\n--- exit ${r.code ?? '?'}; stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;

/** A command's output as tap diagnostics (shown when the assertion fails). */
export const output = (r: { code?: number; stdout: string; stderr: string }): Record<string, unknown> => ({
  exitCode: r.code,
  stdout: r.stdout,
  stderr: r.stderr,
});

/** `deploy inspect NAME`, parsed; throws with the output when it is not the JSON it should be. */
export async function inspect(cluster: DockerCluster, name: string): Promise<Inspected> {
  const raw = await cluster.deploy(['inspect', name]);
  if (raw.code !== 0) throw new Error(`deploy inspect ${name} failed${show(raw)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.stdout);
  } catch {
    throw new Error(`deploy inspect ${name} did not print JSON${show(raw)}`);
  }
  const doc = (Array.isArray(parsed) ? parsed[0] : parsed) as InspectDocument | undefined;
  if (doc === undefined || typeof doc !== 'object')
    throw new Error(`deploy inspect ${name}: no document${show(raw)}`);
  return { doc, pod: Pod.fromJSON(doc.Pod ?? {}), raw };
}

/** The status of the pod's container (named like the pod, else the first). */
export function mainStatus(pod: Pod): NonNullable<Pod['status']>['containerStatuses'][number] | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === pod.metadata?.name) ?? statuses[0];
}

/**
 * `deploy ps [-a]` rows keyed by the pod name: the NAME (or Docker's NAMES) column, found
 * by where its header starts in the aligned table.
 */
export async function psRows(
  cluster: DockerCluster,
  all = true,
): Promise<{ rows: Map<string, string>; raw: RunResult }> {
  const raw = await cluster.deploy(all ? ['ps', '-a'] : ['ps']);
  if (raw.code !== 0) throw new Error(`deploy ps failed${show(raw)}`);
  const [header = '', ...lines] = raw.stdout.split('\n');
  const columns = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], start: m.index }));
  const at = columns.findIndex((c) => c.name === 'NAME' || c.name === 'NAMES');
  if (at < 0) throw new Error(`deploy ps printed no NAME column${show(raw)}`);
  const start = columns[at]?.start ?? 0;
  const end = columns[at + 1]?.start;
  const rows = new Map<string, string>();
  for (const line of lines) {
    const name = line.slice(start, end).trim().split(/\s+/)[0];
    if (name) rows.set(name, line);
  }
  return { rows, raw };
}

/** Whether the admin API still has the pod. */
export async function podExists(cluster: DockerCluster, name: string): Promise<boolean> {
  try {
    await cluster.admin.getPod(name);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'NotFound' || /not found/i.test((err as Error).message))
      return false;
    throw err;
  }
}

/**
 * `deploy rm -f` of every pod, then waits until the agent has removed every container and
 * network namespace it made for them (the run's runc root and netns prefix are empty).
 */
export async function removeAllPods(t: Test, cluster: DockerCluster): Promise<void> {
  // Failures are reasons on pods, never an agent crash: the agent started last still runs.
  t.ok(cluster.agent?.isRunning(), 'the agent never exited on its own', {
    log: cluster.agent?.log().slice(-3000),
  });
  cluster.notePortmapChains();
  const pods = await cluster.admin.listPods('');
  for (const pod of pods.items) {
    const name = pod.metadata?.name ?? '';
    const rm = await cluster.deploy(['rm', '-f', name]);
    t.equal(rm.code, 0, `rm -f ${name}`, output(rm));
  }
  await waitFor('every pod to be gone', async () => {
    const left = (await cluster.admin.listPods('')).items.map((p) => p.metadata?.name);
    if (left.length > 0) throw new Error(`still listed: ${left.join(', ')}`);
    return true;
  });
  await waitFor('the agent to remove every container, netns and IP lease', () => {
    const rest = [
      ...cluster.runcContainers().map((c) => `runc ${c.id} (${c.status})`),
      ...cluster.netns(),
      ...cluster.ipamLeases().map((ip) => `IP lease ${ip}`),
    ];
    if (rest.length > 0) throw new Error(`still there: ${rest.join(', ')}`);
    return true;
  });
  t.pass('the agent removed every container, network namespace and IP lease of the deleted pods');
}
