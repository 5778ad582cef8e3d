// deploy down: stop the local cluster and leave nothing running, mounted or written
// outside its data directory.
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  errorMessage,
  failedPrecondition,
  isFlotillaError,
  runProcess,
  type ProcessResult,
} from '@flotilla/common';
import type { Command, CommandContext } from '../cli/types.js';
import { homeDir } from '../cli/run.js';
import { withCluster } from '../client/cluster-client.js';
import { inspectLocalCluster, isRunning, stopLocalCluster } from '../local/control.js';
import { agentMainPath } from '../local/executables.js';
import { defaultDataDir, type Layout } from '../local/layout.js';
import { unmountUnder } from '../local/mounts.js';
import { hostAgentReset, localAgentReset } from '../local/plan.js';
import { hostsPlan } from '../local/hosts/plan.js';
import { teardownHosts } from '../local/hosts/apply.js';
import type { ClusterState } from '../local/state.js';
import { dataDirFlag, dataDirOf } from './shared.js';

/** How long down waits for the agent to remove the cluster's pods before it stops anyway. */
const podsGoneLimitMs = 60_000;

/**
 * Deletes every pod through the API (grace 0: the cluster is going away) and waits until
 * the controller dropped them, which it does once the agent reported each one removed
 * (force: at once, for a cluster whose agent is not running).
 * Returns the pods still there, or why it could not ask; the reset after catches those.
 */
async function deleteAllPods(layout: Layout, force: boolean): Promise<{ left: string[]; error?: string }> {
  try {
    return await withCluster(layout.adminConfig, async (api) => {
      // Their owners first, or the deployments would replace every pod deleted below.
      for (const kind of ['Deployment', 'ReplicaSet']) {
        const owners = await api.listObjects({ kind, namespace: '', labelSelector: '', fieldSelector: '' });
        for (const item of owners.items) {
          const meta = item.deployment?.metadata ?? item.replicaSet?.metadata;
          if (!meta) continue;
          await api
            .deleteObject({ kind, namespace: meta.namespace || 'default', name: meta.name, dryRun: false })
            .catch((err: unknown) => {
              if (!isFlotillaError(err, 'NotFound')) throw err;
            });
        }
      }
      const list = await api.listPods({ namespace: '', labelSelector: '', nodeName: '' });
      for (const pod of list.items) {
        const namespace = pod.metadata?.namespace || 'default';
        const name = pod.metadata?.name ?? '';
        try {
          await api.deletePod({
            namespace,
            name,
            uid: pod.metadata?.uid ?? '',
            gracePeriodSeconds: 0,
            force,
          });
        } catch (err) {
          if (!isFlotillaError(err, 'NotFound')) throw err;
        }
      }
      const deadline = Date.now() + podsGoneLimitMs;
      let left = list.items.map((p) => `${p.metadata?.namespace || 'default'}/${p.metadata?.name ?? ''}`);
      while (left.length > 0 && Date.now() < deadline) {
        await sleep(250);
        const now = await api.listPods({ namespace: '', labelSelector: '', nodeName: '' });
        left = now.items.map((p) => `${p.metadata?.namespace || 'default'}/${p.metadata?.name ?? ''}`);
      }
      return { left };
    });
  } catch (err) {
    return { left: [], error: errorMessage(err) };
  }
}

/** Runs `flotilla-agent reset` with the local agent's flags: what is left of its pods goes. */
function resetAgent(layout: Layout): Promise<ProcessResult> {
  const { command, args } = localAgentReset(layout, { node: process.execPath, agentMain: agentMainPath });
  return runProcess(command, args, { timeoutMs: 180_000, maxBufferBytes: 16 * 1024 * 1024 });
}

/**
 * The hosts of a `--nodes N` cluster: each agent's reset inside its host (its pods'
 * containers, mounts, netns, CNI leases), then everything carrying the prefix (the
 * hosts' netns, veths, bridge, cgroups, and whatever a crash left). Returns the problems.
 */
async function removeHosts(ctx: CommandContext, layout: Layout, state: ClusterState): Promise<string[]> {
  const record = state.hosts;
  if (!record) return [];
  const problems: string[] = [];
  try {
    const plan = hostsPlan(record.prefix, record.hosts.length, record.subnet);
    for (const host of plan.hosts) {
      if (!existsSync(host.netnsPath)) continue;
      const { command, args } = hostAgentReset(layout, plan, host, state.ports.registry, {
        node: process.execPath,
        agentMain: agentMainPath,
      });
      const reset = await runProcess(command, args, { timeoutMs: 180_000, maxBufferBytes: 16 * 1024 * 1024 });
      ctx.logger.info('host agent reset', { host: host.name, code: reset.code, stdout: reset.stdout });
      if (reset.code !== 0)
        ctx.logger.warn('host agent reset failed', { host: host.name, stderr: reset.stderr });
    }
  } catch (err) {
    // A record we cannot plan from still has its prefix: the teardown below needs nothing else.
    ctx.logger.warn('cannot reset the hosts agents', { err: errorMessage(err) });
  }
  const left = teardownHosts(record.prefix, []);
  if (left.length > 0) problems.push(...left);
  return problems;
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** Removes the client config only when it is the copy `up` installed. */
async function removeClientConfig(ctx: CommandContext, layout: Layout): Promise<string | undefined> {
  const ours = await readText(layout.adminConfig);
  const installed = await readText(ctx.global.configPath);
  if (ours === undefined || installed !== ours) return undefined;
  await rm(ctx.global.configPath, { force: true });
  // `up` created ~/.flotilla for it; leave that only if something else lives there.
  const dir = dirname(ctx.global.configPath);
  if (!ctx.global.configChosen && basename(dir) === '.flotilla') await rmdir(dir).catch(() => undefined);
  return ctx.global.configPath;
}

const markers = [
  'cluster.json',
  'admin.yaml',
  'etcd',
  'logs',
  'controller',
  'agent',
  'hosts',
  'registry',
  'registry.yaml',
  // The image root `up` builds and pushes the examples from (local/seed-images.ts).
  'images',
  'join-token',
  'supervisor.lock',
];

/** Deletes the data directory, but only one that holds nothing but a local cluster's files. */
async function purge(ctx: CommandContext, layout: Layout): Promise<boolean> {
  const dir = layout.dataDir;
  const entries = await readdir(dir).catch(() => undefined);
  if (entries === undefined) return false;
  const foreign = entries.filter((e) => !markers.includes(e) && !e.startsWith('cluster.json.tmp'));
  if (dir === '/' || dir === homeDir(ctx.io.env) || foreign.length > 0) {
    throw failedPrecondition(
      `not deleting ${dir}: it holds files a local cluster does not write (${foreign.slice(0, 5).join(', ') || dir}); delete it yourself if you mean to`,
    );
  }
  await rm(dir, { recursive: true, force: true });
  // The default DIR sits in ~/.flotilla, which `up` created; leave it only if it holds something else.
  if (dir === defaultDataDir(homeDir(ctx.io.env))) await rmdir(dirname(dir)).catch(() => undefined);
  return true;
}

async function runDown(ctx: CommandContext): Promise<number> {
  const dataDir = dataDirOf(ctx);
  const view = await inspectLocalCluster(dataDir);
  const running = isRunning(view);
  const lines: string[] = [];
  if (running) {
    ctx.io.stderr(`Stopping the local cluster in ${dataDir}…\n`);
    // Containers outlive the agent: the cluster removes its pods while it still can.
    // Without a live agent nobody would report them removed: drop them at once (force).
    const agentAlive = view.liveComponents.some((c) => c.name === 'agent' || c.name.startsWith('agent-h'));
    const pods = await deleteAllPods(view.layout, !agentAlive);
    if (pods.error !== undefined)
      ctx.io.stderr(
        `warning: could not delete the pods through the API (${pods.error}); removing them directly\n`,
      );
    else if (pods.left.length > 0)
      ctx.io.stderr(`warning: pods not removed in time: ${pods.left.join(', ')}; removing them directly\n`);
  }
  const result = await stopLocalCluster(view, ctx.logger);
  if (result.survivors.length > 0) {
    ctx.io.stderr(`error: processes still running after stopping: pids ${result.survivors.join(', ')}\n`);
    return 1;
  }
  // The safety net, even after a failure above: whatever the agent's pods left (containers,
  // conmon, mounts, netns, CNI leases and rules, cgroups, the bridge).
  if (view.state?.hosts) {
    const left = await removeHosts(ctx, view.layout, view.state);
    if (left.length > 0) {
      ctx.io.stderr(`error: the hosts could not all be removed:\n  ${left.join('\n  ')}\n`);
      return 1;
    }
    lines.push(`Removed the ${view.state.hosts.hosts.length} hosts (prefix ${view.state.hosts.prefix}).`);
  }
  if (existsSync(view.layout.agentDir)) {
    const reset = await resetAgent(view.layout);
    const removedLines = reset.stdout
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('nothing to remove'));
    if (removedLines.length > 0)
      lines.push(`Removed what the agent's pods left: ${removedLines.length} items.`);
    ctx.logger.info('agent reset', { removed: removedLines, code: reset.code });
    if (reset.code !== 0) {
      ctx.io.stderr(`error: the agent's pods could not all be removed:\n${reset.stderr.trim()}\n`);
      return 1;
    }
  }
  const mountsLeft =
    result.mountsLeft.length > 0 ? (await unmountUnder(view.layout.dataDir)).failed : result.mountsLeft;
  if (mountsLeft.length > 0) {
    ctx.io.stderr(`error: could not unmount ${mountsLeft.join(', ')}\n`);
    return 1;
  }
  const removed = await removeClientConfig(ctx, view.layout);
  if (running || result.stoppedSomething) lines.unshift(`Stopped the local cluster in ${dataDir}.`);
  else lines.unshift(`No local cluster is running in ${dataDir}: nothing to stop.`);
  if (result.unmounted.length > 0) lines.push(`Unmounted ${result.unmounted.length} leftover mounts.`);
  if (removed) lines.push(`Removed the client config ${removed}.`);
  ctx.io.stdout(lines.join('\n') + '\n');
  if (ctx.flags.boolean('purge') && (await purge(ctx, view.layout))) ctx.io.stdout(`Deleted ${dataDir}.\n`);
  return 0;
}

export const downCommand: Command = {
  name: 'down',
  summary: 'stop the local cluster and everything it started',
  description:
    'Stop the local cluster: delete every pod through the API and wait for the agent to remove them,\n' +
    'signal its supervisor, which stops every component in reverse order, and wait until every process is\n' +
    'gone (if the supervisor is gone already, stop what it left); then run "flotilla-agent reset" with the\n' +
    "agent's flags, so no container, conmon, mount, netns, CNI lease or rule, cgroup or bridge of its pods\n" +
    "is left even after a failure. With hosts (up --nodes N): each agent's reset inside its host, then\n" +
    'every netns, veth, bridge, cgroup, mount and process of the hosts, found by their prefix.\n' +
    'Removes the client config when it is the one "deploy up" installed.\n' +
    'Keeps the data directory unless --purge.',
  flags: [dataDirFlag, { name: 'purge', kind: 'boolean', description: 'also delete the data directory' }],
  examples: ['deploy down', 'deploy down --purge', 'deploy down --data-dir /tmp/flotilla'],
  run: runDown,
};
