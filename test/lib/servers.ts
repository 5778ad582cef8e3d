// Real etcd and nats-server, on loopback ports, with data in the test's directory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { spawnManaged, type ManagedProcess, type SpawnOptions } from './processes.js';
import { waitFor } from './wait.js';

/** A server process that a test can stop and start again on the same ports and data. */
export interface RestartableServer {
  process: ManagedProcess;
  /** Starts it again on the same ports and data (after a stop or a kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Adds process/restart/stop to fields; restart replaces `process` on that same object. */
async function restartable<F extends object>(
  fields: F,
  launch: () => Promise<ManagedProcess>,
): Promise<F & RestartableServer> {
  const server: F & RestartableServer = {
    ...fields,
    process: await launch(),
    restart: async () => {
      await server.process.stop();
      server.process = await launch();
    },
    stop: async () => {
      await server.process.stop();
    },
  };
  return server;
}

/** Spawns a server and waits until ready says so, failing early with its log if it exits. */
async function spawnUntilReady(
  options: SpawnOptions,
  ready: (proc: ManagedProcess) => Promise<boolean> | boolean,
  timeoutMs: number,
): Promise<ManagedProcess> {
  const proc = spawnManaged(options);
  await waitFor(
    `${options.name} to be ready`,
    () => {
      if (!proc.isRunning()) throw new Error(`${options.name} exited; log:\n${proc.log().slice(-2000)}`);
      return ready(proc);
    },
    { timeoutMs },
  );
  return proc;
}

export interface EtcdServer extends RestartableServer {
  endpoint: string;
}

export async function startEtcd(dir: string): Promise<EtcdServer> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = join(dir, 'etcd');
  mkdirSync(dataDir, { recursive: true });
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const launch = (): Promise<ManagedProcess> =>
    spawnUntilReady(
      {
        name: 'etcd',
        command: 'etcd',
        args: [
          '--name=test',
          `--data-dir=${dataDir}`,
          `--listen-client-urls=${endpoint}`,
          `--advertise-client-urls=${endpoint}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=test=${peer}`,
          '--log-level=warn',
        ],
        logPath: join(dir, 'etcd.log'),
      },
      async () => {
        const res = await fetch(`${endpoint}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      20_000,
    );
  return restartable({ endpoint }, launch);
}

export interface NatsServer extends RestartableServer {
  url: string;
}

/** nats-server with a configuration file (the controller's init writes one in operator mode). */
export async function startNats(dir: string, configPath: string, port: number): Promise<NatsServer> {
  const url = `nats://127.0.0.1:${port}`;
  const launch = (): Promise<ManagedProcess> =>
    spawnUntilReady(
      {
        name: 'nats-server',
        command: 'nats-server',
        args: ['-c', configPath],
        logPath: join(dir, 'nats.log'),
      },
      (proc) => proc.log().includes('Server is ready'),
      10_000,
    );
  return restartable({ url }, launch);
}
