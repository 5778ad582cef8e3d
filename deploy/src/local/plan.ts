// What a local cluster runs, in start order, as data: the supervisor executes this plan,
// and tests can read it without starting anything.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { agentNodeFlags, controllerNodeFlags, webFacingLabel } from '@flotilla/common';
import type { Layout, LocalPorts } from './layout.js';
import { componentLog, hostStateDir } from './layout.js';
import type { HostSpec, HostsPlan } from './hosts/plan.js';

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
  /**
   * Run inside this network namespace (/run/netns/NAME), through `nsenter --net=`, which
   * execs the command: the PID and command line are the command's own.
   */
  netns?: string;
}

const loopback = '127.0.0.1';

/**
 * Where the control plane listens: loopback for one agent in the root netns; with hosts,
 * the bridge's address, the one address of the root netns every host can reach.
 */
export function controlPlaneHost(hosts: HostsPlan | undefined): string {
  return hosts ? hosts.gateway : loopback;
}

/**
 * The components, in start order (pure). Without hosts: one agent in the root netns. With
 * hosts: one agent inside each host's netns, the control plane on the bridge address.
 */
export function localClusterPlan(
  layout: Layout,
  ports: LocalPorts,
  exe: Executables,
  hosts?: HostsPlan,
): ComponentSpec[] {
  const bind = controlPlaneHost(hosts);
  const etcdUrl = `http://${bind}:${ports.etcd}`;
  const peerUrl = `http://${bind}:${ports.etcdPeer}`;
  const api = `${bind}:${ports.api}`;
  const natsListen = `${bind}:${ports.nats}`;
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
      readiness: { kind: 'tcp', host: bind, port: ports.nats },
      readyTimeoutMs: 15_000,
      oneShot: false,
    },
    {
      name: 'registry',
      command: exe.registry,
      args: ['serve', layout.registryConfig],
      address: `${bind}:${ports.registry}`,
      log: componentLog(layout, 'registry'),
      readiness: { kind: 'http', url: `http://${bind}:${ports.registry}/v2/` },
      readyTimeoutMs: 30_000,
      oneShot: false,
    },
    {
      name: 'controller',
      command: exe.node,
      args: [...controllerNodeFlags, exe.controllerMain, 'serve', ...controllerFlags, '--nats-url', natsUrl],
      address: api,
      log: componentLog(layout, 'controller'),
      readiness: { kind: 'tcp', host: bind, port: ports.api },
      readyTimeoutMs: 30_000,
      oneShot: false,
    },
    ...(hosts
      ? hosts.hosts.map((h) => hostAgentSpec(layout, ports, exe, hosts, h))
      : [rootAgentSpec(layout, exe, api)]),
  ];
}

function rootAgentSpec(layout: Layout, exe: Executables, api: string): ComponentSpec {
  return {
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
      // The one node serves NodePort services (examples/web.yaml's 30080) as the hosts do.
      '--labels',
      `${webFacingLabel}=true`,
      ...localPodRuntimeFlags(layout),
    ],
    address: '',
    log: componentLog(layout, 'agent'),
    readiness: { kind: 'alive', ms: 1_000 },
    readyTimeoutMs: 30_000,
    oneShot: false,
  };
}

/** The component name of host i's agent. */
export function hostAgentName(host: Pick<HostSpec, 'index'>): string {
  return `agent-h${host.index}`;
}

/**
 * The flags of the agent of one host (pure): every name and directory of its own, its
 * host's address, the control plane and the registry on the bridge address.
 */
export function hostAgentFlags(
  stateDir: string,
  hosts: HostsPlan,
  host: HostSpec,
  registryPort: number,
  extraLabels: readonly string[] = [],
): string[] {
  return [
    '--state-dir',
    stateDir,
    '--node-name',
    host.name,
    '--address',
    host.address,
    // Each host has its own port space: the usual port, on its own address.
    '--agent-listen',
    `${host.address}:10250`,
    '--labels',
    [`${webFacingLabel}=true`, ...extraLabels].join(','),
    '--runc-root',
    join(stateDir, 'runc'),
    '--cgroup-parent',
    host.agent.cgroupParent,
    '--bridge-name',
    host.agent.bridgeName,
    '--netns-prefix',
    host.agent.netnsPrefix,
    // The registry is plain HTTP on the bridge address (loopback inside a host is its own).
    '--insecure-registry',
    `${hosts.gateway}:${registryPort}`,
  ];
}

function hostAgentSpec(
  layout: Layout,
  ports: LocalPorts,
  exe: Executables,
  hosts: HostsPlan,
  host: HostSpec,
): ComponentSpec {
  const name = hostAgentName(host);
  return {
    name,
    command: exe.node,
    args: [
      ...agentNodeFlags,
      exe.agentMain,
      '--join',
      `${hosts.gateway}:${ports.api}`,
      '--token',
      { fileContents: layout.joinToken },
      '--ca-file',
      layout.caCert,
      ...hostAgentFlags(hostStateDir(layout, host.index), hosts, host, ports.registry),
    ],
    address: host.address,
    log: componentLog(layout, name),
    readiness: { kind: 'alive', ms: 1_000 },
    readyTimeoutMs: 30_000,
    oneShot: false,
    netns: host.netnsPath,
  };
}

/**
 * The agent's pod runtime flags for a local cluster (pure). The host-wide names (bridge,
 * netns prefix) carry a tag of the data dir and runc's root lies in it, so two local
 * clusters (or a test's) on one host never share them; pod cgroups are keyed by pod uid
 * under the default parent.
 */
function dataDirTag(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 6);
}

/**
 * The prefix of everything the hosts of a local cluster make (pure): "flt" and a tag of
 * the data dir, as the one agent's names, so down removes either by it.
 */
export function localHostsPrefix(dataDir: string): string {
  return `flt${dataDirTag(dataDir)}`;
}

/** Where the search for a free hosts subnet starts: stable per data dir, so `up` again picks the same. */
export function localSubnetStart(dataDir: string): number {
  return parseInt(dataDirTag(dataDir).slice(0, 4), 16);
}

export function localPodRuntimeFlags(layout: Pick<Layout, 'dataDir' | 'agentDir'>): string[] {
  const tag = dataDirTag(layout.dataDir);
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

/**
 * The registry's config: filesystem storage in the data dir, no debug listener; on
 * loopback, or on the hosts' bridge address (host), which only this machine reaches.
 */
export function registryConfig(layout: Layout, port: number, secret: string, host = loopback): string {
  return [
    '# Written by deploy up: the local cluster registry, on this machine only.',
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
    `  addr: ${host}:${port}`,
    `  secret: ${JSON.stringify(secret)}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    '',
  ].join('\n');
}

/**
 * `flotilla-agent reset` for host i's agent (pure), run inside the host's netns with the
 * agent's own flags, so it removes exactly what that agent made.
 */
export function hostAgentReset(
  layout: Pick<Layout, 'dataDir'>,
  hosts: HostsPlan,
  host: HostSpec,
  registryPort: number,
  exe: Pick<Executables, 'node' | 'agentMain'>,
): { command: string; args: string[] } {
  return {
    command: 'nsenter',
    args: [
      `--net=${host.netnsPath}`,
      exe.node,
      exe.agentMain,
      'reset',
      ...hostAgentFlags(hostStateDir(layout, host.index), hosts, host, registryPort),
    ],
  };
}
