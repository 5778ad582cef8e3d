// What a local cluster runs, in start order, as data: the supervisor executes this plan,
// and tests can read it without starting anything.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { agentNodeFlags } from '@flotilla/common';
import type { Layout, LocalPorts } from './layout.js';
import { componentLog } from './layout.js';

export interface Executables {
  node: string;
  etcd: string;
  natsServer: string;
  registry: string;
  controllerMain: string;
  agentMain: string;
}

/** An argument known only when the component starts: the trimmed contents of a file. */
export interface FileArg {
  fileContents: string;
}
export type Arg = string | FileArg;

export type Readiness =
  /** GET url answers 200. */
  | { kind: 'http'; url: string }
  /** A TCP connection to host:port succeeds. */
  | { kind: 'tcp'; host: string; port: number }
  /** A one-shot step: ready when it exits 0. */
  | { kind: 'exit' }
  /** Ready once it has stayed up this long. */
  | { kind: 'alive'; ms: number };

export interface ComponentSpec {
  name: string;
  command: string;
  args: Arg[];
  /** What it serves, as a client would dial it. */
  address: string;
  log: string;
  readiness: Readiness;
  readyTimeoutMs: number;
  /** One-shot steps run once and are never restarted. */
  oneShot: boolean;
}

const loopback = '127.0.0.1';

export function localClusterPlan(layout: Layout, ports: LocalPorts, exe: Executables): ComponentSpec[] {
  const etcdUrl = `http://${loopback}:${ports.etcd}`;
  const peerUrl = `http://${loopback}:${ports.etcdPeer}`;
  const api = `${loopback}:${ports.api}`;
  const natsListen = `${loopback}:${ports.nats}`;
  const natsUrl = `nats://${natsListen}`;
  const controllerFlags = [
    '--etcd-endpoints',
    etcdUrl,
    '--data-dir',
    layout.controllerDir,
    '--nats-listen',
    natsListen,
    '--listen',
    api,
    // Given to serve too: it writes whichever of these files is missing.
    '--admin-config',
    layout.adminConfig,
    '--token-file',
    layout.joinToken,
  ];
  return [
    {
      name: 'etcd',
      command: exe.etcd,
      args: [
        '--name',
        'flotilla-local',
        '--data-dir',
        layout.etcdDir,
        '--listen-client-urls',
        etcdUrl,
        '--advertise-client-urls',
        etcdUrl,
        '--listen-peer-urls',
        peerUrl,
        '--initial-advertise-peer-urls',
        peerUrl,
        '--initial-cluster',
        `flotilla-local=${peerUrl}`,
        '--initial-cluster-state',
        'new',
      ],
      address: etcdUrl,
      log: componentLog(layout, 'etcd'),
      readiness: { kind: 'http', url: `${etcdUrl}/health` },
      readyTimeoutMs: 30_000,
      oneShot: false,
    },
    {
      // Creates the CA, the controller's certificate, the NATS config, the admin
      // credential and a join token; does nothing that already exists.
      name: 'controller-init',
      command: exe.node,
      args: [exe.controllerMain, 'init', ...controllerFlags],
      address: '',
      log: componentLog(layout, 'controller-init'),
      readiness: { kind: 'exit' },
      readyTimeoutMs: 60_000,
      oneShot: true,
    },
    {
      name: 'nats-server',
      command: exe.natsServer,
      args: ['-c', layout.natsConfig],
      address: natsUrl,
      log: componentLog(layout, 'nats-server'),
      readiness: { kind: 'tcp', host: loopback, port: ports.nats },
      readyTimeoutMs: 15_000,
      oneShot: false,
    },
    {
      name: 'registry',
      command: exe.registry,
      args: ['serve', layout.registryConfig],
      address: `${loopback}:${ports.registry}`,
      log: componentLog(layout, 'registry'),
      readiness: { kind: 'http', url: `http://${loopback}:${ports.registry}/v2/` },
      readyTimeoutMs: 30_000,
      oneShot: false,
    },
    {
      name: 'controller',
      command: exe.node,
      args: [exe.controllerMain, 'serve', ...controllerFlags, '--nats-url', natsUrl],
      address: api,
      log: componentLog(layout, 'controller'),
      readiness: { kind: 'tcp', host: loopback, port: ports.api },
      readyTimeoutMs: 30_000,
      oneShot: false,
    },
    {
      name: 'agent',
      command: exe.node,
      args: [
        ...agentNodeFlags,
        exe.agentMain,
        '--join',
        api,
        '--token',
        { fileContents: layout.joinToken },
        '--ca-file',
        layout.caCert,
        '--state-dir',
        layout.agentDir,
        // The Agent service (logs, exec, attach) on the node's address, any free port: the
        // node reports it, and the controller dials what the node reports.
        '--agent-listen',
        ':0',
        ...localPodRuntimeFlags(layout),
      ],
      address: '',
      log: componentLog(layout, 'agent'),
      readiness: { kind: 'alive', ms: 1_000 },
      readyTimeoutMs: 30_000,
      oneShot: false,
    },
  ];
}

/**
 * The agent's pod runtime flags for a local cluster (pure). The host-wide names (bridge,
 * netns prefix) carry a tag of the data dir and runc's root lies in it, so two local
 * clusters (or a test's) on one host never share them; pod cgroups are keyed by pod uid
 * under the default parent.
 */
export function localPodRuntimeFlags(layout: Pick<Layout, 'dataDir' | 'agentDir'>): string[] {
  const tag = createHash('sha256').update(layout.dataDir).digest('hex').slice(0, 6);
  return [
    '--bridge-name',
    `flt${tag}`,
    '--netns-prefix',
    `flt${tag}`,
    '--runc-root',
    join(layout.agentDir, 'runc'),
  ];
}

/**
 * `flotilla-agent reset` for the agent of this plan (pure): the same state dir and pod
 * runtime flags, so it removes exactly what that agent made. deploy down runs it once the
 * agent is stopped.
 */
export function localAgentReset(
  layout: Pick<Layout, 'dataDir' | 'agentDir'>,
  exe: Pick<Executables, 'node' | 'agentMain'>,
): { command: string; args: string[] } {
  return {
    command: exe.node,
    args: [exe.agentMain, 'reset', '--state-dir', layout.agentDir, ...localPodRuntimeFlags(layout)],
  };
}

/** The registry's config: filesystem storage in the data dir, loopback only, no debug listener. */
export function registryConfig(layout: Layout, port: number, secret: string): string {
  return [
    '# Written by deploy up: the local cluster registry, on loopback only.',
    'version: 0.1',
    'log:',
    '  level: info',
    '  fields:',
    '    service: registry',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(layout.registryDir)}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${loopback}:${port}`,
    `  secret: ${JSON.stringify(secret)}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    '',
  ].join('\n');
}
