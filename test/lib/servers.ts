// Real etcd and nats-server, on loopback ports, with data in the test's directory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { spawnManaged, type ManagedProcess } from './processes.js';
import { waitFor } from './wait.js';

export interface EtcdServer {
  endpoint: string;
  process: ManagedProcess;
  /** Starts it again on the same ports and data (after a stop or a kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcd(dir: string): Promise<EtcdServer> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = join(dir, 'etcd');
  mkdirSync(dataDir, { recursive: true });
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const launch = async (): Promise<ManagedProcess> => {
    const proc = spawnManaged({
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
    });
    await waitFor(
      'etcd to report healthy',
      async () => {
        if (!proc.isRunning()) throw new Error(`etcd exited; log:\n${proc.log().slice(-2000)}`);
        const res = await fetch(`${endpoint}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      { timeoutMs: 20_000 },
    );
    return proc;
  };
  const server: EtcdServer = {
    endpoint,
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

export interface NatsServer {
  url: string;
  process: ManagedProcess;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** nats-server with a configuration file (the controller's init writes one in operator mode). */
export async function startNats(dir: string, configPath: string, port: number): Promise<NatsServer> {
  const url = `nats://127.0.0.1:${port}`;
  const launch = async (): Promise<ManagedProcess> => {
    const proc = spawnManaged({
      name: 'nats-server',
      command: 'nats-server',
      args: ['-c', configPath],
      logPath: join(dir, 'nats.log'),
    });
    await waitFor(
      'nats-server to listen',
      () => {
        if (!proc.isRunning()) throw new Error(`nats-server exited; log:\n${proc.log().slice(-2000)}`);
        return proc.log().includes('Server is ready');
      },
      { timeoutMs: 10_000 },
    );
    return proc;
  };
  const server: NatsServer = {
    url,
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
