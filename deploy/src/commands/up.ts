// deploy up: a whole cluster on this machine, under one data directory, run by a
// detached supervisor; returns once the node is Ready.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, failedPrecondition, readClientConfig, writeFileAtomic } from '@flotilla/common';
import type { Command, CommandContext, FlagSpec } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { formatDuration } from '../cli/values.js';
import { withCluster } from '../client/cluster-client.js';
import { clusterSummary, tail } from '../format/local.js';
import { isNodeReady } from '../format/nodes.js';
import { defaultPorts, type Layout, type LocalPorts, portFlags, portLabels } from '../local/layout.js';
import {
  type LocalClusterView,
  inspectLocalCluster,
  startSupervisor,
  stopLocalCluster,
} from '../local/control.js';
import { findExecutables } from '../local/executables.js';
import { seedImages, seededImages } from '../local/seed-images.js';
import { findPortHolder, isPortFree } from '../local/ports.js';
import { isAlive } from '../local/procs.js';
import { type ClusterState, readClusterState } from '../local/state.js';
import { localHostsPrefix, localSubnetStart } from '../local/plan.js';
import { type HostsPlan, HostsPlanError, hostsPlan, maxHosts } from '../local/hosts/plan.js';
import { createHosts, freeSubnet, teardownHosts } from '../local/hosts/apply.js';
import { isStateOf, newlyUp, startProgress } from '../local/start-progress.js';
import { configHint, dataDirFlag, dataDirHint, dataDirOf } from './shared.js';

const portFlag = (name: string, what: string, port: number | string): FlagSpec => ({
  name,
  kind: 'port',
  placeholder: 'PORT',
  description: `${what} port on 127.0.0.1`,
  ...(typeof port === 'number' ? { default: port } : { defaultText: port }),
});

function portsOf(ctx: CommandContext): LocalPorts {
  const etcd = ctx.flags.number('etcd-port') ?? defaultPorts.etcd;
  const ports: LocalPorts = {
    etcd,
    etcdPeer: ctx.flags.number('etcd-peer-port') ?? etcd + (defaultPorts.etcdPeer - defaultPorts.etcd),
    nats: ctx.flags.number('nats-port') ?? defaultPorts.nats,
    registry: ctx.flags.number('registry-port') ?? defaultPorts.registry,
    api: ctx.flags.number('api-port') ?? defaultPorts.api,
  };
  if (ports.etcdPeer > 65535) {
    throw new UsageError(
      `--etcd-port ${etcd} leaves no room for the etcd peer port (${ports.etcdPeer}); pass --etcd-peer-port PORT`,
      ctx.commandPath,
      { field: 'etcd-peer-port' },
    );
  }
  const seen = new Map<number, keyof LocalPorts>();
  for (const key of Object.keys(ports) as (keyof LocalPorts)[]) {
    const other = seen.get(ports[key]);
    if (other) {
      throw new UsageError(
        `${portFlags[key]} and ${portFlags[other]} are both ${ports[key]}: every component needs its own port`,
        ctx.commandPath,
        { field: portFlags[key].slice(2), value: ports[key] },
      );
    }
    seen.set(ports[key], key);
  }
  return ports;
}

async function checkPorts(ports: LocalPorts, host = '127.0.0.1'): Promise<void> {
  for (const key of Object.keys(ports) as (keyof LocalPorts)[]) {
    const port = ports[key];
    if (await isPortFree(port, host)) continue;
    const holder = await findPortHolder(port);
    const who = holder ? ` by pid ${holder.pid} (${holder.command.replace(/\s+/g, ' ').slice(0, 120)})` : '';
    throw failedPrecondition(
      `port ${port} (${portLabels[key]}) on ${host} is already in use${who}; stop it, or choose another port with ${portFlags[key]}`,
      { field: portFlags[key].slice(2), value: port },
    );
  }
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** Installs the local cluster's admin credential where the CLI looks for it. */
async function installClientConfig(ctx: CommandContext, layout: Layout): Promise<void> {
  const text = await readFile(layout.adminConfig, 'utf8');
  const existing = await readText(ctx.global.configPath);
  if (existing === text) return;
  if (existing !== undefined) {
    const previous = await readClientConfig(ctx.global.configPath).then(
      (c) => ` (it pointed at ${c.server})`,
      () => '',
    );
    ctx.io.stderr(`note: replacing the client config at ${ctx.global.configPath}${previous}\n`);
  }
  await writeFileAtomic(ctx.global.configPath, text);
}

function summary(
  ctx: CommandContext,
  state: ClusterState,
  nodeLine?: string,
  images?: readonly string[],
): string {
  return clusterSummary(state, {
    configPath: ctx.global.configPath,
    dataDirFlag: dataDirHint(ctx, state.dataDir),
    configFlag: configHint(ctx),
    now: new Date(),
    ...(nodeLine ? { nodeLine } : {}),
    ...(images ? { images } : {}),
  });
}

/** Builds the base image and the examples and pushes them to the cluster's registry. */
async function seed(
  ctx: CommandContext,
  dataDir: string,
  ports: LocalPorts,
  host = '127.0.0.1',
): Promise<string[]> {
  const started = Date.now();
  try {
    const images = await seedImages({
      dataDir,
      registryHost: `${host}:${ports.registry}`,
      logger: ctx.logger,
      progress: (line) => ctx.io.stderr(`  ${'image'.padEnd(16)}${line}\n`),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
    ctx.logger.info('images seeded', { images, ms: Date.now() - started });
    return images;
  } catch (err) {
    throw new StartFailure(
      `building and pushing the example images failed: ${errorMessage(err)}`,
      'registry',
    );
  }
}

class StartFailure extends Error {
  constructor(
    message: string,
    /** The component whose log explains it. */
    readonly component: string,
  ) {
    super(message);
  }
}

interface ReadyNode {
  /** One line for the summary: "NAME (Ready)", or "3 Ready: a, b, c". */
  line: string;
}

/** Ready once `want` nodes are (with hosts: one per host; else the one agent's). */
async function readyNode(layout: Layout, want = 1): Promise<{ node?: ReadyNode; problem: string }> {
  try {
    const list = await withCluster(layout.adminConfig, (api) => api.listNodes({ labelSelector: '' }), {
      timeoutMs: 3_000,
    });
    const ready = list.items.filter(isNodeReady).map((n) => n.metadata?.name ?? '?');
    if (ready.length >= want) {
      const line = want === 1 ? `${ready[0] ?? '?'} (Ready)` : `${ready.length} Ready: ${ready.join(', ')}`;
      return { node: { line }, problem: '' };
    }
    if (list.items.length === 0) return { problem: 'no node has registered yet' };
    const notReady = list.items.map((n) => n.metadata?.name ?? '?').filter((n) => !ready.includes(n));
    return {
      problem:
        want === 1
          ? `node ${notReady.join(', ')} is not Ready yet`
          : `${ready.length} of ${want} nodes Ready${notReady.length > 0 ? ` (${notReady.join(', ')} not yet)` : ''}`,
    };
  } catch (err) {
    return { problem: errorMessage(err) };
  }
}

/** Follows the supervisor until the node is Ready; reports each component as it comes up. */
async function waitUntilReady(
  ctx: CommandContext,
  layout: Layout,
  supervisorPid: number,
  startedAt: number,
  timeoutMs: number,
  wantNodes: number,
): Promise<{ state: ClusterState; node: ReadyNode }> {
  const deadline = startedAt + timeoutMs;
  const reported = new Set<string>();
  let waitingFor = 'the supervisor to start';
  let component = 'supervisor';
  for (;;) {
    if (ctx.io.signal?.aborted) throw new StartFailure('interrupted', component);
    const alive = await isAlive(supervisorPid);
    const read = await readClusterState(layout.clusterState).catch(() => undefined);
    const state = read && isStateOf(read, supervisorPid, startedAt) ? read : undefined;
    for (const c of newlyUp(state, reported)) {
      reported.add(c.name);
      const what = c.state === 'completed' ? 'done' : `running${c.address ? ` at ${c.address}` : ''}`;
      ctx.io.stderr(`  ${c.name.padEnd(16)}${what}\n`);
    }
    const progress = startProgress(state, alive, layout.supervisorLog);
    if (progress.kind === 'failed') throw new StartFailure(progress.message, progress.component);
    if (progress.kind === 'running') {
      const { node, problem } = await readyNode(layout, wantNodes);
      if (node) return { state: progress.state, node };
      waitingFor = `${wantNodes === 1 ? 'the node' : `${wantNodes} nodes`} to become Ready (${problem})`;
      component = 'agent';
    } else {
      waitingFor = progress.waitingFor;
      component = progress.component;
    }
    if (Date.now() >= deadline) {
      throw new StartFailure(
        `timed out after ${formatDuration(timeoutMs)} waiting for ${waitingFor}`,
        component,
      );
    }
    await sleep(300, undefined, ctx.io.signal ? { signal: ctx.io.signal } : {}).catch(() => undefined);
  }
}

async function showLog(ctx: CommandContext, layout: Layout, component: string): Promise<void> {
  const path = component === 'supervisor' ? layout.supervisorLog : `${layout.logsDir}/${component}.log`;
  const text = await readText(path);
  if (text === undefined || text.trim() === '') return;
  ctx.io.stderr(`\n--- last lines of ${path} ---\n${tail(text, 25)}\n---\n`);
}

async function teardown(
  ctx: CommandContext,
  dataDir: string,
  ourSupervisor: number,
  hosts: HostsPlan | undefined,
): Promise<void> {
  const view = await inspectLocalCluster(dataDir);
  const recorded = view.state?.supervisorPid;
  if (view.supervisorAlive && recorded && recorded !== ourSupervisor) {
    // Another `deploy up` won the race for this data directory; its cluster is not ours to stop.
    ctx.io.stderr(
      `A local cluster in ${dataDir} is run by another supervisor (pid ${recorded}); leaving it alone.\n`,
    );
    return;
  }
  ctx.io.stderr('Stopping everything that was started…\n');
  const result = await stopLocalCluster(view, ctx.logger);
  const hostsLeft = hosts ? teardownHosts(hosts.prefix, []) : [];
  if (result.survivors.length > 0) {
    ctx.io.stderr(`warning: processes still running: ${result.survivors.join(', ')}\n`);
  } else if (hostsLeft.length > 0) {
    ctx.io.stderr(`warning: the hosts could not all be removed: ${hostsLeft.slice(0, 10).join('; ')}\n`);
  } else {
    ctx.io.stderr('Stopped.\n');
  }
}

async function reportRunning(ctx: CommandContext, view: LocalClusterView): Promise<number> {
  const state = view.state;
  if (!state) return 1;
  if (state.phase === 'stopping') {
    throw failedPrecondition(
      `the local cluster in ${state.dataDir} is stopping; wait for it, then run "deploy up" again`,
    );
  }
  const { node } = await readyNode(view.layout, state.hosts ? state.hosts.hosts.length : 1);
  const registry = state.components.find((c) => c.name === 'registry')?.address;
  const images = registry ? await seededImages(state.dataDir, registry).catch(() => []) : [];
  // Puts the credential back should the client config have been removed or replaced since.
  if (state.phase === 'running') await installClientConfig(ctx, view.layout);
  ctx.io.stdout(
    `A local cluster is already ${state.phase} in ${state.dataDir}.\n\n` +
      summary(ctx, state, node?.line, images),
  );
  return 0;
}

/** --nodes, validated: 1..maxHosts, or undefined for one agent in the root netns. */
function nodesOf(ctx: CommandContext): number | undefined {
  const nodes = ctx.flags.number('nodes');
  if (nodes === undefined) return undefined;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > maxHosts) {
    throw new UsageError(
      `--nodes must be a whole number from 1 to ${maxHosts} (hosts made of network namespaces), not ${nodes}`,
      ctx.commandPath,
      { field: 'nodes', value: nodes },
    );
  }
  return nodes;
}

/**
 * Makes the hosts from nothing: whatever an earlier run left with this data dir's prefix
 * goes first (a crash, a reboot that kept the state), then a /24 nobody uses is picked.
 */
function makeHosts(ctx: CommandContext, layout: Layout, nodes: number): HostsPlan {
  const prefix = localHostsPrefix(layout.dataDir);
  const left = teardownHosts(prefix, []);
  if (left.length > 0) {
    throw failedPrecondition(
      `cannot remove what an earlier run left with the prefix ${prefix}: ${left.slice(0, 5).join('; ')}`,
      { field: 'prefix', value: prefix },
    );
  }
  try {
    const plan = hostsPlan(prefix, nodes, freeSubnet(localSubnetStart(layout.dataDir)));
    createHosts(plan, []);
    ctx.io.stderr(
      `  ${'hosts'.padEnd(16)}${nodes} network namespaces on bridge ${plan.bridge} (${plan.gateway}/24): ` +
        `${plan.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}\n`,
    );
    return plan;
  } catch (err) {
    if (err instanceof HostsPlanError)
      throw failedPrecondition(err.message, { field: err.field, value: err.value });
    throw failedPrecondition(`cannot make the hosts: ${errorMessage(err)}`, { field: 'nodes', value: nodes });
  }
}

async function runUp(ctx: CommandContext): Promise<number> {
  const dataDir = dataDirOf(ctx);
  const ports = portsOf(ctx);
  const nodes = nodesOf(ctx);
  const timeoutMs = ctx.flags.number('timeout') ?? (nodes ? 90_000 + nodes * 10_000 : 90_000);

  const view = await inspectLocalCluster(dataDir);
  if (view.supervisorAlive) {
    const running = view.state?.hosts?.hosts.length;
    if (nodes !== undefined && running !== nodes) {
      ctx.io.stderr(
        `note: --nodes ${nodes} is ignored: the running cluster has ${running ? `${running} hosts` : 'one agent in the root netns'}; "deploy down" first to change it\n`,
      );
    }
    return reportRunning(ctx, view);
  }
  if (view.liveComponents.length > 0) {
    ctx.io.stderr(`Stopping what is left of an earlier local cluster in ${dataDir}…\n`);
    await stopLocalCluster(view, ctx.logger);
  }
  if (process.getuid?.() !== 0 && nodes !== undefined) {
    throw failedPrecondition('deploy up --nodes makes network namespaces and a bridge: run it as root', {
      field: 'nodes',
      value: nodes,
    });
  }

  const { missing } = await findExecutables(ctx.io.env);
  if (missing.length > 0) {
    throw failedPrecondition(
      `cannot start a local cluster: ${missing.map((m) => `${m.name} is missing (${m.fix})`).join('; ')}`,
    );
  }
  if (nodes === undefined) await checkPorts(ports);

  ctx.io.stderr(`Starting a local cluster in ${dataDir}${nodes ? ` with ${nodes} hosts` : ''}…\n`);
  const hosts = nodes ? makeHosts(ctx, view.layout, nodes) : undefined;
  let pid: number | undefined;
  try {
    // The bridge address exists only now: check the ports there.
    if (hosts) await checkPorts(ports, hosts.gateway);
    const startedAt = Date.now();
    pid = await startSupervisor({
      layout: view.layout,
      ports,
      logLevel: 'info',
      env: ctx.io.env,
      ...(hosts ? { hosts: { nodes: hosts.hosts.length, subnet: hosts.subnet } } : {}),
    });
    ctx.logger.info('supervisor started', { pid });
    const { state, node } = await waitUntilReady(ctx, view.layout, pid, startedAt, timeoutMs, nodes ?? 1);
    const images = await seed(ctx, dataDir, ports, hosts?.gateway);
    await installClientConfig(ctx, view.layout);
    ctx.io.stdout(`\nLocal Flotilla cluster is running.\n\n${summary(ctx, state, node.line, images)}`);
    return 0;
  } catch (err) {
    if (pid === undefined && hosts) teardownHosts(hosts.prefix, []);
    if (pid === undefined) throw err;
    const component = err instanceof StartFailure ? err.component : 'supervisor';
    ctx.io.stderr(`error: the local cluster did not start: ${errorMessage(err)}\n`);
    if (!ctx.io.signal?.aborted) await showLog(ctx, view.layout, component);
    await teardown(ctx, dataDir, pid, hosts);
    return 1;
  }
}

export const upCommand: Command = {
  name: 'up',
  summary: 'start a local cluster: etcd, NATS, a registry, a controller and one agent, or N hosts',
  description:
    'Start a local cluster on this machine: etcd, nats-server, a registry (127.0.0.1 only), a controller\n' +
    'and one agent, run by a detached supervisor that restarts whatever dies. Everything lives under\n' +
    'the data directory. Returns once the node is Ready, and installs the admin credential as the client\n' +
    'config. Then builds the busybox base image and examples/hello and examples/web in DATA-DIR/images\n' +
    'and pushes them to the registry, so the examples need no internet. When a cluster already runs in\n' +
    'that data directory, shows it instead.\n\n' +
    'With --nodes N it makes N hosts, each a network namespace with its own address on one bridge\n' +
    '(names prefixed flt<tag of DATA-DIR>), runs one agent inside each (own state dir, runc root, cgroup\n' +
    'parent, labelled flotilla.io/web-facing=true), and the control plane on the bridge address (the\n' +
    'ports below are then on that address, not 127.0.0.1); it returns once all N nodes are Ready.\n' +
    '"deploy down" removes the hosts too.',
  flags: [
    dataDirFlag,
    portFlag('etcd-port', 'etcd client', defaultPorts.etcd),
    portFlag('etcd-peer-port', 'etcd peer', 'etcd port + 10'),
    portFlag('nats-port', 'NATS', defaultPorts.nats),
    portFlag('registry-port', 'registry', defaultPorts.registry),
    portFlag('api-port', 'controller API', defaultPorts.api),
    {
      name: 'nodes',
      kind: 'int',
      placeholder: 'N',
      description: `N hosts (1-${maxHosts}), each a network namespace on one bridge with its own agent`,
      defaultText: 'one agent on this host',
    },
    {
      name: 'timeout',
      kind: 'duration',
      placeholder: 'DURATION',
      description: 'how long to wait for the nodes to be Ready',
      defaultText: '90s, +10s per host',
    },
  ],
  examples: ['deploy up', 'deploy up --nodes 3', 'deploy up --data-dir /tmp/flotilla --api-port 17443'],
  run: runUp,
};
