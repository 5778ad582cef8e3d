#!/usr/bin/env node
// The local cluster's supervisor: a detached process that `deploy up` starts and
// `deploy down` signals. It runs the plan (local/plan.ts) until SIGTERM or SIGINT, then
// stops every child it started and exits. Its own log is DIR/logs/supervisor.log.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createLogger, errorMessage, type Logger, type LogLevel } from '@flotilla/common';
import type { Command } from '../cli/types.js';
import { flagReader, parseCommandLine } from '../cli/parse.js';
import { defaultPorts, hostsDirOf, type Layout, localLayout, type LocalPorts } from './layout.js';
import {
  controlPlaneHost,
  hostAgentName,
  localClusterPlan,
  localHostsPrefix,
  registryConfig,
} from './plan.js';
import { type HostsPlan, hostsPlan } from './hosts/plan.js';
import type { HostsRecord } from './state.js';
import { findExecutables } from './executables.js';
import { Supervisor } from './supervise.js';
import { isOurSupervisor } from './procs.js';

/**
 * Takes DIR/supervisor.lock, so that two `deploy up` racing on one data directory cannot
 * both run a cluster in it. A lock whose PID is not a live supervisor of DIR is stale.
 */
async function acquireLock(path: string, dataDir: string): Promise<number | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (holder > 0 && holder !== process.pid && (await isOurSupervisor(holder, dataDir))) return holder;
    await rm(path, { force: true });
  }
  throw new Error(`cannot take the lock ${path}`);
}

const supervisorCommand: Command = {
  name: 'supervisor',
  summary: 'runs a local cluster in the foreground (started by "deploy up")',
  flags: [
    { name: 'data-dir', kind: 'string', placeholder: 'DIR', description: 'the local cluster data directory' },
    { name: 'etcd-port', kind: 'port', description: 'etcd client port', default: defaultPorts.etcd },
    { name: 'etcd-peer-port', kind: 'port', description: 'etcd peer port', default: defaultPorts.etcdPeer },
    { name: 'nats-port', kind: 'port', description: 'NATS port', default: defaultPorts.nats },
    { name: 'registry-port', kind: 'port', description: 'registry port', default: defaultPorts.registry },
    { name: 'api-port', kind: 'port', description: 'controller API port', default: defaultPorts.api },
    {
      name: 'nodes',
      kind: 'int',
      min: 0,
      max: 20,
      description: 'hosts made by deploy up (0: one agent in the root netns)',
    },
    { name: 'hosts-subnet', kind: 'string', placeholder: 'CIDR', description: "the hosts' bridge /24" },
    {
      name: 'log-level',
      kind: 'enum',
      values: ['debug', 'info', 'warn', 'error'],
      description: 'log level',
      default: 'info',
    },
  ],
  run: async () => 0,
};

async function main(argv: string[]): Promise<number> {
  const inv = parseCommandLine(supervisorCommand, [], argv);
  const flags = flagReader(supervisorCommand.flags ?? [], inv.given);
  const dataDir = flags.string('data-dir');
  if (!dataDir || !dataDir.startsWith('/')) throw new Error('--data-dir must be an absolute path');
  const ports: LocalPorts = {
    etcd: flags.number('etcd-port') ?? defaultPorts.etcd,
    etcdPeer: flags.number('etcd-peer-port') ?? defaultPorts.etcdPeer,
    nats: flags.number('nats-port') ?? defaultPorts.nats,
    registry: flags.number('registry-port') ?? defaultPorts.registry,
    api: flags.number('api-port') ?? defaultPorts.api,
  };
  const logger = createLogger(
    { component: 'supervisor', dataDir },
    { level: (flags.string('log-level') ?? 'info') as LogLevel },
  );
  const layout = localLayout(dataDir);
  // `deploy up` made the hosts (bridge, netns) before starting us; we only run in them.
  const nodes = flags.number('nodes') ?? 0;
  const subnet = flags.string('hosts-subnet');
  const hosts = nodes > 0 && subnet ? hostsPlan(localHostsPrefix(dataDir), nodes, subnet) : undefined;

  await mkdir(dataDir, { recursive: true });
  const holder = await acquireLock(layout.supervisorLock, dataDir);
  if (holder !== undefined) {
    logger.error('another supervisor runs this data directory', { pid: holder });
    return 1;
  }
  try {
    return await supervise(layout, ports, logger, hosts);
  } finally {
    await rm(layout.supervisorLock, { force: true });
  }
}

function hostsRecord(plan: HostsPlan): HostsRecord {
  return {
    prefix: plan.prefix,
    subnet: plan.subnet,
    gateway: plan.gateway,
    hosts: plan.hosts.map((h) => ({ name: h.name, address: h.address, component: hostAgentName(h) })),
  };
}

async function supervise(
  layout: Layout,
  ports: LocalPorts,
  logger: Logger,
  hosts: HostsPlan | undefined,
): Promise<number> {
  const { exe, missing } = await findExecutables(process.env);
  if (missing.length > 0) {
    logger.error('missing programs', { missing });
    return 1;
  }
  await mkdir(layout.logsDir, { recursive: true });
  await mkdir(layout.etcdDir, { recursive: true, mode: 0o700 });
  await mkdir(layout.registryDir, { recursive: true });
  await mkdir(layout.controllerDir, { recursive: true, mode: 0o700 });
  if (hosts) await mkdir(hostsDirOf(layout), { recursive: true, mode: 0o700 });
  else await mkdir(layout.agentDir, { recursive: true, mode: 0o700 });
  await writeFile(
    layout.registryConfig,
    registryConfig(layout, ports.registry, randomBytes(16).toString('hex'), controlPlaneHost(hosts)),
    {
      mode: 0o600,
    },
  );

  const supervisor = new Supervisor({
    layout,
    ports,
    plan: localClusterPlan(layout, ports, exe, hosts),
    logger,
    env: process.env,
    ...(hosts ? { hosts: hostsRecord(hosts) } : {}),
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info('stopping on signal', { signal });
    void supervisor.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Detached from any terminal; a hang-up is not a reason to stop the cluster.
  process.on('SIGHUP', () => logger.info('ignoring SIGHUP'));

  logger.info('supervisor starting', { pid: process.pid, ports });
  const started = await supervisor.start();
  if (started) {
    logger.info('every component is running');
    await supervisor.stopped;
  } else {
    await supervisor.stop();
  }
  logger.info('supervisor exiting', { failed: supervisor.failed });
  return supervisor.failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`supervisor: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
