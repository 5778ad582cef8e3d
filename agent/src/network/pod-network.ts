// The executor: applies the pure plan of config.ts to the host. A pod gets a named
// netns (/run/netns/<prefix>-<uid>), then loopback up while the list's plugins are ADDed
// in order with each result chained into the next. Deletion runs DEL in reverse and
// removes the netns; it is idempotent, and a failed ADD undoes what succeeded.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError, createLogger, errorMessage, type Logger } from '@flotilla/common';
import type { Pod } from '@flotilla/proto';
import { agentSpawnServer, runAgentCommand } from '../runtime/spawn-server.js';
import { invokeCniPlugin, type CniCommand } from './cni-exec.js';
import { canonicalCidr } from './routes.js';
import {
  cniConfigList,
  ipv4CidrProblem,
  defaultCniBinDir,
  loopbackStdin,
  pluginStdin,
  podAddressFromResult,
  podConfigList,
  podInterfaceName,
  podNetworkNames,
  portMappings,
  type CniConfigList,
  type CniRuntimeConfig,
  type NodeNetworkOptions,
  type PodNetworkAddress,
  type PodNetworkNames,
  type PortMapping,
} from './config.js';

export interface PodNetwork extends PodNetworkNames, PodNetworkAddress {
  portMappings: PortMapping[];
  /** The last plugin's result, as CNI returned it (cache it to pass as prevResult later). */
  result: unknown;
}

export interface PodNetworkDeps {
  logger?: Logger;
}

/** Everything the executor needs for one pod, decided without touching the host. */
export interface PodNetworkPlan extends PodNetworkNames {
  object: string;
  list: CniConfigList;
  runtimeConfig: CniRuntimeConfig;
  cniBinDir: string;
}

export function planPodNetwork(pod: Pod, options: NodeNetworkOptions): PodNetworkPlan {
  const mappings = portMappings(pod);
  return {
    ...podNetworkNames(pod, options),
    object: `pod/${pod.metadata?.namespace || 'default'}/${pod.metadata?.name ?? ''}`,
    list: cniConfigList(options),
    runtimeConfig: mappings.length > 0 ? { portMappings: mappings } : {},
    cniBinDir: options.cniBinDir ?? defaultCniBinDir,
  };
}

async function ip(args: string[], object: string): Promise<void> {
  let failure: string;
  try {
    const result = await runAgentCommand('ip', args, { timeoutMs: 30_000 });
    if (result.code === 0) return;
    failure = result.stderr.trim() || `exited with ${result.code ?? `signal ${result.signal}`}`;
  } catch (err) {
    failure = errorMessage(err);
  }
  throw new FlotillaError('Internal', `ip ${args.join(' ')} failed: ${failure}`, {
    object,
    field: 'netns',
    value: args[args.length - 1],
  });
}

/**
 * `ip netns add|delete NAME`; the spawn server, when on, makes the same calls itself
 * (iproute2's netns_add and on_netns_del) rather than running ip for them.
 */
async function netns(command: 'add' | 'delete', plan: PodNetworkPlan): Promise<void> {
  const server = agentSpawnServer();
  if (server === undefined) return ip(['netns', command, plan.netnsName], plan.object);
  try {
    await server.op({ op: command === 'add' ? 'netns-add' : 'netns-delete', name: plan.netnsName });
  } catch (err) {
    throw new FlotillaError(
      'Internal',
      `ip netns ${command} ${plan.netnsName} failed: ${errorMessage(err)}`,
      {
        object: plan.object,
        field: 'netns',
        value: plan.netnsName,
      },
    );
  }
}

async function removeNetns(plan: PodNetworkPlan): Promise<void> {
  // Gone already is the goal reached: deletion must be repeatable.
  if (!existsSync(plan.netnsPath)) return;
  await netns('delete', plan);
}

function run(plan: PodNetworkPlan, command: CniCommand, config: Record<string, unknown>): Promise<unknown> {
  return invokeCniPlugin({
    command,
    config,
    containerId: plan.containerId,
    netnsPath: plan.netnsPath,
    ifName: podInterfaceName,
    cniBinDir: plan.cniBinDir,
    object: plan.object,
  });
}

/**
 * What a later DEL needs and the pod no longer may provide (the agent restarted, the pod
 * was deleted): portmap's DEL removes nothing unless it gets the ADD's portMappings
 * again. Written before the first ADD, so a crash mid-ADD still leaves what undoes it.
 */
export interface PodNetworkRecord {
  version: 1;
  containerId: string;
  object: string;
  portMappings: PortMapping[];
  /** The final CNI result; null until ADD completed. */
  result: unknown;
}

export function podNetworkResultsDir(
  options: Pick<NodeNetworkOptions, 'ipamDataDir' | 'resultsDir'>,
): string {
  return options.resultsDir ?? join(options.ipamDataDir, 'flotilla-results');
}

function recordPath(options: NodeNetworkOptions, containerId: string): string {
  return join(podNetworkResultsDir(options), `${containerId}.json`);
}

async function writeRecord(options: NodeNetworkOptions, record: PodNetworkRecord): Promise<void> {
  const path = recordPath(options, record.containerId);
  const text = JSON.stringify(record);
  // Write then rename: a crash leaves the old record or the new one, never half of one.
  // The directory is made when the write finds it missing (the first pod), not every time.
  await writeFile(`${path}.tmp`, text).catch(async (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(podNetworkResultsDir(options), { recursive: true });
    await writeFile(`${path}.tmp`, text);
  });
  await rename(`${path}.tmp`, path);
}

function isPortMapping(v: unknown): v is PortMapping {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return (
    typeof m.hostPort === 'number' &&
    typeof m.containerPort === 'number' &&
    (m.protocol === 'tcp' || m.protocol === 'udp' || m.protocol === 'sctp') &&
    (m.hostIP === undefined || typeof m.hostIP === 'string')
  );
}

/** The record of a pod network, or undefined when there is none (or it is unreadable). */
export async function readPodNetworkRecord(
  options: NodeNetworkOptions,
  containerId: string,
): Promise<PodNetworkRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordPath(options, containerId), 'utf8');
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const r = parsed as Record<string, unknown>;
  if (r.version !== 1 || r.containerId !== containerId || typeof r.object !== 'string') return undefined;
  if (!Array.isArray(r.portMappings) || !r.portMappings.every(isPortMapping)) return undefined;
  return {
    version: 1,
    containerId,
    object: r.object,
    portMappings: r.portMappings,
    result: r.result ?? null,
  };
}

/**
 * The container IDs of the pod networks this node has: netns with the node's prefix and
 * records, so the agent can delete the ones no assigned pod owns (after a restart too).
 */
export function listPodNetworks(options: NodeNetworkOptions): string[] {
  const ids = new Set<string>();
  const mine = (name: string) => name.startsWith(`${options.netnsPrefix}-`);
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  for (const name of list('/run/netns')) if (mine(name)) ids.add(name);
  for (const file of list(podNetworkResultsDir(options)))
    if (file.endsWith('.json') && mine(file)) ids.add(file.slice(0, -'.json'.length));
  return [...ids].sort();
}

/**
 * The network of a pod created earlier, from its record, if its netns still exists:
 * what a restarted agent re-adopts instead of creating it again.
 */
export async function readPodNetwork(pod: Pod, options: NodeNetworkOptions): Promise<PodNetwork | undefined> {
  const names = podNetworkNames(pod, options);
  const record = await readPodNetworkRecord(options, names.containerId);
  if (!record || record.result === null || !existsSync(names.netnsPath)) return undefined;
  return {
    ...names,
    ...podAddressFromResult(record.result),
    portMappings: record.portMappings,
    result: record.result,
  };
}

/**
 * Options a DEL can run with. DEL needs a valid configuration but not the node's CIDR
 * (host-local releases by container ID): before the node knows its CIDR (a restart
 * without the controller), the network of the recorded address stands in.
 */
function forDelete(options: NodeNetworkOptions, record: PodNetworkRecord | undefined): NodeNetworkOptions {
  if (options.podCidr !== '') return options;
  let podCidr = '10.88.0.0/16';
  try {
    if (record?.result) {
      const recorded = canonicalCidr(podAddressFromResult(record.result).cidr);
      if (recorded !== undefined && ipv4CidrProblem(recorded) === undefined) podCidr = recorded;
    }
  } catch {
    // No usable address recorded: the stand-in does as well.
  }
  return { ...options, podCidr };
}

/**
 * DEL for plugins [0, count) in reverse, every one attempted even when one fails (each
 * releases something different: portmap its chains, bridge its veth and lease).
 * Returns the first failure.
 */
async function delPlugins(plan: PodNetworkPlan, count: number, logger: Logger): Promise<Error | undefined> {
  let first: Error | undefined;
  for (let i = count - 1; i >= 0; i--) {
    try {
      await run(plan, 'DEL', pluginStdin(plan.list, i, plan.runtimeConfig, undefined));
    } catch (err) {
      logger.warn('CNI DEL failed', { pod: plan.object, plugin: plan.list.plugins[i]?.type, err });
      first ??= err instanceof Error ? err : new Error(String(err));
    }
  }
  return first;
}

export async function createPodNetwork(
  pod: Pod,
  options: NodeNetworkOptions,
  deps: PodNetworkDeps = {},
): Promise<PodNetwork> {
  const plan = planPodNetwork(pod, options);
  const logger = (deps.logger ?? createLogger({ component: 'network' })).child({ pod: plan.object });
  // A netns left by an earlier attempt (agent killed mid-ADD) holds a half-made network:
  // clear it completely rather than ADD on top of it.
  // A record without its netns (the host rebooted: /run is a tmpfs) still holds a lease
  // and portmap rules: DEL them first, so the new ADD starts clean.
  const stale = await readPodNetworkRecord(options, plan.containerId);
  if (existsSync(plan.netnsPath) || stale !== undefined) {
    logger.warn('pod network exists already; deleting it before creating it again', {
      netns: plan.netnsName,
      netnsExists: existsSync(plan.netnsPath),
    });
    await teardown(plan, options, logger);
  }
  const record: PodNetworkRecord = {
    version: 1,
    containerId: plan.containerId,
    object: plan.object,
    portMappings: plan.runtimeConfig.portMappings ?? [],
    result: null,
  };
  await writeRecord(options, record);
  const chain = { ...plan, list: podConfigList(plan.list, plan.runtimeConfig) };
  await netns('add', plan).catch(async (err: unknown) => {
    await rm(recordPath(options, plan.containerId), { force: true });
    throw err;
  });
  let added = 0;
  // lo and the chain's eth0 are separate interfaces (loopback is its own configuration, not
  // a link of the chain): it comes up while the chain runs, one plugin execution less on
  // the pod's critical path. Its failure is held until the chain is done, and nothing is
  // undone while it still runs in the netns.
  const loopbackDone = run(plan, 'ADD', loopbackStdin(plan.list.name)).then(
    () => undefined,
    (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
  );
  try {
    let prevResult: unknown;
    for (let i = 0; i < chain.list.plugins.length; i++) {
      // Counted before the call: a plugin that failed halfway may have left state its DEL removes.
      added = i + 1;
      prevResult = await run(chain, 'ADD', pluginStdin(chain.list, i, chain.runtimeConfig, prevResult));
    }
    const loopbackFailure = await loopbackDone;
    if (loopbackFailure !== undefined) throw loopbackFailure;
    const address = podAddressFromResult(prevResult);
    await writeRecord(options, { ...record, result: prevResult });
    logger.info('pod network created', { netns: plan.netnsName, ip: address.ip });
    return {
      netnsName: plan.netnsName,
      netnsPath: plan.netnsPath,
      containerId: plan.containerId,
      ...address,
      portMappings: plan.runtimeConfig.portMappings ?? [],
      result: prevResult,
    };
  } catch (err) {
    await loopbackDone;
    logger.warn('pod network ADD failed; undoing it', { err });
    await delPlugins(chain, added, logger);
    try {
      await removeNetns(plan);
      await rm(recordPath(options, plan.containerId), { force: true });
    } catch (cleanupErr) {
      // The record stays with the netns, so deletePodNetworkById can finish the job.
      logger.error('could not remove the netns of a failed ADD', { netns: plan.netnsName, err: cleanupErr });
    }
    throw err;
  }
}

/**
 * DEL of every plugin with the recorded portMappings (the plan's when there is no
 * record), then the netns, then the record. Every step is a no-op when already done.
 */
async function teardown(plan: PodNetworkPlan, options: NodeNetworkOptions, logger: Logger): Promise<void> {
  const record = await readPodNetworkRecord(options, plan.containerId);
  const mappings = record?.portMappings ?? plan.runtimeConfig.portMappings ?? [];
  const runtimeConfig = mappings.length > 0 ? { portMappings: mappings } : {};
  const withRecorded = { ...plan, list: podConfigList(plan.list, runtimeConfig), runtimeConfig };
  const err = await delPlugins(withRecorded, withRecorded.list.plugins.length, logger);
  // Without a successful DEL the netns and the record stay, so a retry can finish it.
  if (err) throw err;
  await removeNetns(plan);
  await rm(recordPath(options, plan.containerId), { force: true });
}

/**
 * Deletes a pod's network: DEL of every plugin in reverse order, then the netns. Safe to
 * repeat and safe when nothing was ever created.
 */
export async function deletePodNetwork(
  pod: Pod,
  options: NodeNetworkOptions,
  deps: PodNetworkDeps = {},
): Promise<void> {
  const names = podNetworkNames(pod, options);
  const usable = forDelete(options, await readPodNetworkRecord(options, names.containerId));
  const plan = planPodNetwork(pod, usable);
  const logger = (deps.logger ?? createLogger({ component: 'network' })).child({ pod: plan.object });
  await teardown(plan, usable, logger);
  logger.info('pod network deleted', { netns: plan.netnsName });
}

/**
 * Deletes a pod network known only by its container ID (from listPodNetworks): an
 * orphan whose pod the agent no longer knows. Host ports come from its record.
 */
export async function deletePodNetworkById(
  containerId: string,
  options: NodeNetworkOptions,
  deps: PodNetworkDeps = {},
): Promise<void> {
  if (!containerId.startsWith(`${options.netnsPrefix}-`) || !/^[A-Za-z0-9_.-]+$/.test(containerId))
    throw new FlotillaError(
      'InvalidArgument',
      `${JSON.stringify(containerId)} is not a pod network of this node`,
      {
        field: 'containerId',
        value: containerId,
      },
    );
  const record = await readPodNetworkRecord(options, containerId);
  options = forDelete(options, record);
  const plan: PodNetworkPlan = {
    netnsName: containerId,
    netnsPath: `/run/netns/${containerId}`,
    containerId,
    object: record?.object ?? `podnetwork/${containerId}`,
    list: cniConfigList(options),
    runtimeConfig: {},
    cniBinDir: options.cniBinDir ?? defaultCniBinDir,
  };
  const logger = (deps.logger ?? createLogger({ component: 'network' })).child({ pod: plan.object });
  await teardown(plan, options, logger);
  logger.info('orphan pod network deleted', { netns: containerId });
}

/**
 * Removes the node's bridge (test hosts and node teardown; pods' networks first). The
 * bridge plugin creates it on the first ADD but never deletes it, since other pods may
 * still use it. A bridge already gone is fine.
 */
export async function deleteNodeBridge(options: Pick<NodeNetworkOptions, 'bridgeName'>): Promise<void> {
  if (!existsSync(`/sys/class/net/${options.bridgeName}`)) return;
  await ip(['link', 'delete', options.bridgeName], `bridge/${options.bridgeName}`);
}
