// Where a local cluster keeps everything: one data directory, laid out as
// docs/CONTRACTS.md describes, so that `deploy down --purge` removes it all.
import { isAbsolute, join, resolve } from 'node:path';

export interface LocalPorts {
  etcd: number;
  etcdPeer: number;
  nats: number;
  registry: number;
  api: number;
}

export const defaultPorts: LocalPorts = {
  etcd: 23790,
  etcdPeer: 23800,
  nats: 14222,
  registry: 5000,
  api: 7443,
};

/** Which flag sets each port, for messages. */
export const portFlags: Record<keyof LocalPorts, string> = {
  etcd: '--etcd-port',
  etcdPeer: '--etcd-peer-port',
  nats: '--nats-port',
  registry: '--registry-port',
  api: '--api-port',
};

export const portLabels: Record<keyof LocalPorts, string> = {
  etcd: 'etcd client',
  etcdPeer: 'etcd peer',
  nats: 'NATS',
  registry: 'registry',
  api: 'controller API',
};

export interface Layout {
  dataDir: string;
  etcdDir: string;
  registryDir: string;
  registryConfig: string;
  controllerDir: string;
  /** Written by `controller init`. */
  natsConfig: string;
  caCert: string;
  agentDir: string;
  logsDir: string;
  adminConfig: string;
  joinToken: string;
  clusterState: string;
  /** Holds the PID of the one supervisor allowed to run this data directory. */
  supervisorLock: string;
  supervisorLog: string;
}

export function defaultDataDir(home: string): string {
  return join(home, '.flotilla', 'local');
}

export function resolveDataDir(value: string | undefined, cwd: string, home: string): string {
  if (value === undefined) return defaultDataDir(home);
  return isAbsolute(value) ? resolve(value) : resolve(cwd, value);
}

export function localLayout(dataDir: string): Layout {
  const controllerDir = join(dataDir, 'controller');
  const logsDir = join(dataDir, 'logs');
  return {
    dataDir,
    etcdDir: join(dataDir, 'etcd'),
    registryDir: join(dataDir, 'registry'),
    registryConfig: join(dataDir, 'registry.yaml'),
    controllerDir,
    natsConfig: join(controllerDir, 'nats-server.conf'),
    caCert: join(controllerDir, 'ca.crt'),
    agentDir: join(dataDir, 'agent'),
    logsDir,
    adminConfig: join(dataDir, 'admin.yaml'),
    joinToken: join(dataDir, 'join-token'),
    clusterState: join(dataDir, 'cluster.json'),
    supervisorLock: join(dataDir, 'supervisor.lock'),
    supervisorLog: join(logsDir, 'supervisor.log'),
  };
}

/** With `--nodes N`: where the hosts' agents keep their state, DIR/hosts/h<i>. */
export function hostsDirOf(layout: Pick<Layout, 'dataDir'>): string {
  return join(layout.dataDir, 'hosts');
}

/** Host i's agent state directory (its runc root lies in it). */
export function hostStateDir(layout: Pick<Layout, 'dataDir'>, index: number): string {
  return join(hostsDirOf(layout), `h${index}`);
}

export function componentLog(layout: Layout, name: string): string {
  return join(layout.logsDir, `${name}.log`);
}

/** Written to a component's log by the supervisor before each start, so a reader can find the last run. */
export const startMarker = 'flotilla supervisor: starting';
