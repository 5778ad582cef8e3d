// `flotilla-agent reset` (kubeadm reset's job for one agent): removes every pod the agent's
// state knows or its runc root lists, and what the node's networking made for them, while
// the agent is not running. Gathers the inventory, asks the pure plan (reset-plan.ts) for
// the steps, runs each (a failure is noted and the rest still run), then looks again: what
// is still there is named in the result. Running it again finds nothing to do.
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { errorMessage, runProcess, silentLogger, type Logger, type ProcessResult } from '@flotilla/common';
import { mountsUnder, runcCommand, unmount } from '@flotilla/images';
import { agentHostNet } from '../network/host-net.js';
import { readOwnRoutes, removeProxy, removeRoutes } from '../network/network-apply.js';
import { deleteNodeBridge, deletePodNetworkById, listPodNetworks } from '../network/pod-network.js';
import { chainPrefixFor, isOwnChain, parseSavedChains } from '../network/proxy-rules.js';
import { nodeNameFromHostname } from '../node/names.js';
import type { AgentOptions } from '../options/types.js';
import { containerPaths } from '../runtime/conmon/paths.js';
import { isPodRecord } from './model.js';
import { podRuntimePaths, type PodRuntimePaths } from './options.js';
import {
  describeStep,
  planNatCleanup,
  planReset,
  type ResetInventory,
  type ResetNames,
  type ResetStep,
} from './reset-plan.js';

export interface ResetOptions {
  /** runc's path (default /usr/sbin/runc). */
  runc?: string;
  /** The cgroup filesystem (default /sys/fs/cgroup). */
  cgroupRoot?: string;
  logger?: Logger;
}

export interface ResetResult {
  /** What was removed, one line each. */
  removed: string[];
  /** What could not be removed, each naming it and why. */
  failed: string[];
}

function run(command: string, args: string[]): Promise<ProcessResult> {
  return runProcess(command, args, { timeoutMs: 60_000, maxBufferBytes: 64 * 1024 * 1024 });
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

async function dirEntries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/**
 * The node name the agent joined as (node.json), else the flag, else the host's; and the
 * pod CIDR the controller assigned it (node.json), else the flag's.
 */
async function nodeOf(options: AgentOptions): Promise<{ nodeName: string; podCidr?: string }> {
  const text = await readText(join(options.stateDir, 'node.json'));
  let nodeName = options.nodeName ?? nodeNameFromHostname(hostname());
  let podCidr = options.podCidr;
  if (text !== undefined) {
    try {
      const parsed = JSON.parse(text) as { nodeName?: unknown; podCIDR?: unknown };
      if (typeof parsed.nodeName === 'string' && parsed.nodeName !== '') nodeName = parsed.nodeName;
      if (typeof parsed.podCIDR === 'string' && parsed.podCIDR !== '') podCidr = parsed.podCIDR;
    } catch {
      // unreadable: fall back
    }
  }
  return { nodeName, ...(podCidr !== undefined ? { podCidr } : {}) };
}

/** Leftovers of the cluster network: our routes (proto 188) and our iptables chains. */
async function clusterNetworkLeft(chainPrefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const r of await readOwnRoutes(agentHostNet).catch(() => [])) out.push(`route ${r.dst} proto 188`);
  for (const table of ['nat', 'filter'] as const) {
    const saved = await run('iptables-save', ['-t', table]);
    if (saved.code !== 0) continue;
    for (const chain of parseSavedChains(saved.stdout))
      if (isOwnChain(chainPrefix, chain)) out.push(`iptables chain -t ${table} ${chain}`);
  }
  return out;
}

/** A PID whose command line is conmon's for this container ID (never another process). */
async function liveConmon(pidFile: string, id: string): Promise<number | undefined> {
  const text = await readText(pidFile);
  const pid = Number(text?.trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const cmdline = await readText(`/proc/${pid}/cmdline`);
  if (cmdline === undefined) return undefined;
  const args = cmdline.split('\0');
  const isConmon = (args[0] ?? '').endsWith('conmon');
  return isConmon && args.includes(id) ? pid : undefined;
}

/** Every directory below dir, with dir itself. */
async function tree(dir: string): Promise<string[]> {
  const out = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => []))
    if (entry.isDirectory()) out.push(...(await tree(join(dir, entry.name))));
  return out;
}

async function podCgroups(root: string, parent: string): Promise<{ path: string; pod: string }[]> {
  const out: { path: string; pod: string }[] = [];
  const hierarchies = ['', ...(await dirEntries(root))];
  const seen = new Set<string>();
  for (const h of hierarchies) {
    const base = join(root, h, parent);
    if (seen.has(base) || !existsSync(base)) continue;
    seen.add(base);
    for (const entry of await readdir(base, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      for (const path of await tree(join(base, entry.name))) out.push({ path, pod: entry.name });
    }
  }
  return out;
}

function resetNames(paths: PodRuntimePaths, stateDir: string): ResetNames {
  const n = paths.network;
  return {
    stateDir,
    podsDir: paths.podsDir,
    cgroupParent: paths.cgroupParent,
    bridgeName: n.bridgeName,
    networkName: n.networkName,
    netnsPrefix: n.netnsPrefix,
    podCidr: n.podCidr,
    leasesDir: join(n.ipamDataDir, n.networkName),
  };
}

/** What this agent left on the host. */
export async function resetInventory(
  paths: PodRuntimePaths,
  stateDir: string,
  cgroupRoot: string,
): Promise<ResetInventory> {
  const runcIds = (await readdir(paths.runcRoot, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  const roots = { runcRoot: paths.runcRoot, stateDir: paths.runnerStateDir };
  const runnerIds: ResetInventory['runnerIds'] = [];
  const runnerNames = new Set([
    ...(await dirEntries(join(paths.runnerStateDir, 'containers'))),
    ...(await dirEntries(join(paths.runnerStateDir, 'exits'))),
  ]);
  for (const id of [...runnerNames].sort()) {
    let pidFile: string;
    try {
      pidFile = containerPaths(roots, id).conmonPidFile;
    } catch {
      continue; // not a container ID this layer writes
    }
    const pid = await liveConmon(pidFile, id);
    runnerIds.push({ id, ...(pid !== undefined ? { conmonPid: pid } : {}) });
  }
  const podDirs = await dirEntries(paths.podsDir);
  const records: ResetInventory['records'] = [];
  for (const dir of podDirs) {
    const text = await readText(join(paths.podsDir, dir, 'pod.json'));
    if (text === undefined) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      continue;
    }
    if (!isPodRecord(parsed)) continue;
    const runIds: string[] = [];
    for (const c of Object.values(parsed.containers)) {
      if (c.current !== undefined) runIds.push(c.current.id);
      if (c.previous !== undefined) runIds.push(c.previous.id);
    }
    records.push({ uid: parsed.uid, runIds });
  }
  const nat = await run('iptables-save', ['-t', 'nat']);
  return {
    runcIds,
    runnerIds,
    records,
    podDirs,
    networks: listPodNetworks(paths.network),
    mounts: await mountsUnder(stateDir),
    podCgroups: await podCgroups(cgroupRoot, paths.cgroupParent),
    bridge: existsSync(`/sys/class/net/${paths.network.bridgeName}`),
    natRules: nat.code === 0 ? nat.stdout : '',
  };
}

async function execute(
  step: ResetStep,
  paths: PodRuntimePaths,
  runc: string,
  log: Logger,
): Promise<boolean | undefined> {
  const roots = { runcRoot: paths.runcRoot, stateDir: paths.runnerStateDir };
  switch (step.type) {
    case 'kill-container': {
      const r = await runcCommand({ runc, root: paths.runcRoot }, ['kill', step.id, 'KILL']);
      if (
        r.code !== 0 &&
        !/not running|does not exist|process already finished|container not/i.test(r.stderr)
      )
        throw new Error(`runc kill ${step.id} KILL: ${r.stderr.trim()}`);
      return;
    }
    case 'kill-conmon': {
      // Only the PID its pid file names, and only while it still runs conmon for this ID.
      const pid = await liveConmon(containerPaths(roots, step.id).conmonPidFile, step.id);
      if (pid !== step.pid) return;
      process.kill(pid, 'SIGKILL');
      for (
        let i = 0;
        i < 100 && (await liveConmon(containerPaths(roots, step.id).conmonPidFile, step.id));
        i++
      )
        await new Promise((resolve) => setTimeout(resolve, 20));
      return;
    }
    case 'delete-container': {
      if (existsSync(join(paths.runcRoot, step.id))) {
        const r = await runcCommand({ runc, root: paths.runcRoot }, ['delete', '--force', step.id]);
        if (r.code !== 0 && !/does not exist|not exist|container not found/i.test(r.stderr))
          throw new Error(`runc delete --force ${step.id}: ${r.stderr.trim()}`);
      }
      const p = containerPaths(roots, step.id);
      await rm(p.exitFile, { force: true });
      await rm(p.persistDir, { recursive: true, force: true });
      await rm(join(p.socketDir, step.id), { force: true, recursive: true });
      return;
    }
    case 'delete-network': {
      try {
        await deletePodNetworkById(step.id, paths.network, { logger: log });
      } catch (err) {
        // DEL refused (a plugin error): the netns and the record still go; the leases and
        // rules left behind are removed by the steps after (by network name).
        log.warn('CNI DEL failed; removing the netns and record anyway', {
          netns: step.id,
          error: errorMessage(err),
        });
        if (existsSync(`/run/netns/${step.id}`)) {
          const r = await run('ip', ['netns', 'delete', step.id]);
          if (r.code !== 0) throw new Error(`ip netns delete ${step.id}: ${r.stderr.trim()}`);
        }
        const results = paths.network.resultsDir ?? join(paths.network.ipamDataDir, 'flotilla-results');
        await rm(join(results, `${step.id}.json`), { force: true });
      }
      return;
    }
    case 'unmount':
      await unmount(step.path);
      return;
    case 'remove-pod-dir': {
      const left = await mountsUnder(step.path);
      if (left.length > 0) throw new Error(`still mounted: ${left.join(', ')}`);
      await rm(step.path, { recursive: true, force: true });
      return;
    }
    case 'kill-cgroup-procs': {
      const procs = async (): Promise<number[]> =>
        ((await readText(join(step.path, 'cgroup.procs'))) ?? '')
          .split('\n')
          .map(Number)
          .filter((pid) => Number.isInteger(pid) && pid > 1);
      let pids = await procs();
      if (pids.length === 0) return false; // nothing to say
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      for (let i = 0; i < 100 && pids.length > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        pids = await procs();
      }
      if (pids.length > 0) throw new Error(`still running: pids ${pids.join(', ')}`);
      return true;
    }
    case 'remove-cgroup':
      await rmdir(step.path).catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') throw err;
      });
      return;
    case 'delete-rule': {
      const r = await run('iptables', ['-w', '-t', step.table, '-D', step.chain, ...step.args]);
      if (
        r.code !== 0 &&
        !/does a matching rule exist|No chain\/target\/match|does not exist/i.test(r.stderr)
      )
        throw new Error(r.stderr.trim());
      return;
    }
    case 'delete-chain': {
      await run('iptables', ['-w', '-t', step.table, '-F', step.chain]);
      const r = await run('iptables', ['-w', '-t', step.table, '-X', step.chain]);
      if (r.code !== 0 && !/No chain\/target\/match|does not exist/i.test(r.stderr))
        throw new Error(r.stderr.trim());
      return;
    }
    case 'delete-bridge':
      await deleteNodeBridge({ bridgeName: step.name });
      return;
    case 'remove-leases':
      await rm(step.path, { recursive: true, force: true });
      return;
  }
}

/** What is still there after the steps, named (cgroups: those the plan meant to remove). */
function leftovers(inv: ResetInventory, names: ResetNames, planned: ResetStep[]): string[] {
  const out: string[] = [];
  for (const id of inv.runcIds) out.push(`runc container ${id}`);
  for (const r of inv.runnerIds) if (r.conmonPid !== undefined) out.push(`conmon ${r.conmonPid} of ${r.id}`);
  for (const id of inv.networks) out.push(`pod network ${id}`);
  for (const m of inv.mounts) out.push(`mount ${m}`);
  for (const d of inv.podDirs) out.push(`pod directory ${join(names.podsDir, d)}`);
  for (const step of planned)
    if (step.type === 'remove-cgroup' && existsSync(step.path)) out.push(`cgroup ${step.path}`);
  for (const step of planNatCleanup(inv.natRules, names)) {
    if (step.type === 'delete-rule') out.push(`iptables rule -t nat -A ${step.chain} ${step.args.join(' ')}`);
    if (step.type === 'delete-chain' && step.chain.startsWith('CNI-DN-'))
      out.push(`iptables chain -t nat ${step.chain}`);
  }
  if (inv.bridge) out.push(`bridge ${names.bridgeName}`);
  if (existsSync(names.leasesDir)) out.push(`host-local leases ${names.leasesDir}`);
  return out;
}

/**
 * Removes everything the agent of these options made for pods. The agent must not be
 * running (it would make them again). Safe to repeat.
 */
export async function resetAgent(options: AgentOptions, reset: ResetOptions = {}): Promise<ResetResult> {
  const log = reset.logger ?? silentLogger;
  const runc = reset.runc ?? '/usr/sbin/runc';
  const cgroupRoot = reset.cgroupRoot ?? '/sys/fs/cgroup';
  const node = await nodeOf(options);
  const paths = podRuntimePaths({ ...options, ...node });
  const names = resetNames(paths, options.stateDir);
  const inventory = await resetInventory(paths, options.stateDir, cgroupRoot);
  // The nat table is planned after the CNI DELs (portmap's DEL removes most of it).
  const steps = planReset({ ...inventory, natRules: '' }, names);
  const removed: string[] = [];
  const errors: string[] = [];
  const runAll = async (list: ResetStep[]): Promise<void> => {
    for (const step of list) {
      if (step.type === 'remove-leases' && !existsSync(step.path)) continue;
      try {
        if ((await execute(step, paths, runc, log)) !== false) removed.push(describeStep(step));
      } catch (err) {
        errors.push(`${describeStep(step).replace(/^\S+/, 'could not do:')}: ${errorMessage(err)}`);
      }
    }
  };
  await runAll(steps);
  const nat = await run('iptables-save', ['-t', 'nat']);
  await runAll(planNatCleanup(nat.code === 0 ? nat.stdout : '', names));
  // The cluster network: the routes to peers and the service proxy's chains (with the jumps to them).
  const chainPrefix = chainPrefixFor(paths.network.netnsPrefix);
  try {
    for (const dst of await removeRoutes(agentHostNet)) removed.push(`removed route ${dst} proto 188`);
  } catch (err) {
    errors.push(`could not remove the routes to peers: ${errorMessage(err)}`);
  }
  try {
    for (const chain of await removeProxy(agentHostNet, chainPrefix))
      removed.push(`removed iptables chain ${chain}`);
  } catch (err) {
    errors.push(`could not remove the service proxy's chains: ${errorMessage(err)}`);
  }
  // Look again: a step may have succeeded yet left something (a busy cgroup, a netns).
  const after = await resetInventory(paths, options.stateDir, cgroupRoot);
  const left = [...leftovers(after, names, steps), ...(await clusterNetworkLeft(chainPrefix))];
  const failed = [...errors, ...left.map((l) => `still there: ${l}`)];
  return { removed, failed };
}
