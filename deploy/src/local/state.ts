// cluster.json: the supervisor's record of the local cluster, written atomically on
// every change, read by `deploy up|down|status`.
//
// Cluster phase transitions: starting -> running -> stopping -> stopped;
// starting -> failed (a component did not come up; everything started is stopped).
// Component states: pending -> starting -> running | completed (a one-shot step);
// running -> restarting -> starting (back-off after an unexpected exit);
// any -> stopping -> stopped; starting -> failed.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@flotilla/common';
import type { LocalPorts } from './layout.js';

export type ClusterPhase = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
export type ComponentState =
  'pending' | 'starting' | 'running' | 'completed' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface ComponentRecord {
  name: string;
  /** Null while the component has no process. */
  pid: number | null;
  /** What it serves, as a client would dial it; empty when it serves nothing. */
  address: string;
  log: string;
  state: ComponentState;
  restarts: number;
  /** The argv it runs with (executable first), so `down` can tell it from a reused PID. */
  command: string[];
  message: string;
}

/** The hosts of a `deploy up --nodes N` cluster, as the supervisor made its plan. */
export interface HostsRecord {
  prefix: string;
  subnet: string;
  /** The bridge's address, where the control plane listens. */
  gateway: string;
  hosts: { name: string; address: string; component: string }[];
}

export interface ClusterState {
  /** Null once the supervisor has exited. */
  supervisorPid: number | null;
  dataDir: string;
  startedAt: string;
  phase: ClusterPhase;
  message: string;
  /** The component that stopped a start, when phase is failed. */
  failedComponent: string;
  ports: LocalPorts;
  components: ComponentRecord[];
  /** Null when the one agent runs in the root netns. */
  hosts?: HostsRecord | null;
}

const phases: readonly ClusterPhase[] = ['starting', 'running', 'stopping', 'stopped', 'failed'];
const componentStates: readonly ComponentState[] = [
  'pending',
  'starting',
  'running',
  'completed',
  'restarting',
  'stopping',
  'stopped',
  'failed',
];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function parseHosts(value: unknown): HostsRecord | null {
  if (!isRecord(value) || typeof value.prefix !== 'string' || !Array.isArray(value.hosts)) return null;
  return {
    prefix: value.prefix,
    subnet: typeof value.subnet === 'string' ? value.subnet : '',
    gateway: typeof value.gateway === 'string' ? value.gateway : '',
    hosts: value.hosts.filter(isRecord).map((h) => ({
      name: typeof h.name === 'string' ? h.name : '',
      address: typeof h.address === 'string' ? h.address : '',
      component: typeof h.component === 'string' ? h.component : '',
    })),
  };
}

function hostsField(hosts: HostsRecord | null): { hosts?: HostsRecord } {
  return hosts ? { hosts } : {};
}

function parseComponent(value: unknown): ComponentRecord | undefined {
  if (!isRecord(value) || typeof value.name !== 'string') return undefined;
  return {
    name: value.name,
    pid: typeof value.pid === 'number' && value.pid > 0 ? value.pid : null,
    address: typeof value.address === 'string' ? value.address : '',
    log: typeof value.log === 'string' ? value.log : '',
    state: componentStates.find((s) => s === value.state) ?? 'pending',
    restarts: typeof value.restarts === 'number' ? value.restarts : 0,
    command: Array.isArray(value.command)
      ? value.command.filter((a): a is string => typeof a === 'string')
      : [],
    message: typeof value.message === 'string' ? value.message : '',
  };
}

export function parseClusterState(text: string, source: string): ClusterState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(doc) || !phases.includes(doc.phase as ClusterPhase) || !Array.isArray(doc.components)) {
    throw new Error(`${source} is not a Flotilla local cluster state file`);
  }
  const port = (key: keyof LocalPorts): number => {
    const value = isRecord(doc.ports) ? doc.ports[key] : undefined;
    return typeof value === 'number' ? value : 0;
  };
  return {
    supervisorPid: typeof doc.supervisorPid === 'number' && doc.supervisorPid > 0 ? doc.supervisorPid : null,
    dataDir: typeof doc.dataDir === 'string' ? doc.dataDir : '',
    startedAt: typeof doc.startedAt === 'string' ? doc.startedAt : '',
    phase: phases.find((p) => p === doc.phase) ?? 'failed',
    message: typeof doc.message === 'string' ? doc.message : '',
    failedComponent: typeof doc.failedComponent === 'string' ? doc.failedComponent : '',
    ports: {
      etcd: port('etcd'),
      etcdPeer: port('etcdPeer'),
      nats: port('nats'),
      registry: port('registry'),
      api: port('api'),
    },
    components: doc.components.map(parseComponent).filter((c): c is ComponentRecord => c !== undefined),
    ...hostsField(parseHosts(doc.hosts)),
  };
}

/** The state, or undefined when no local cluster was ever started in that directory. */
export async function readClusterState(path: string): Promise<ClusterState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseClusterState(text, path);
}

export async function writeClusterState(path: string, state: ClusterState): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(state, null, 2) + '\n', 0o644);
}
