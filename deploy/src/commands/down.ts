// deploy down: stop the local cluster and leave nothing running, mounted or written
// outside its data directory.
import { readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { failedPrecondition } from '@flotilla/common';
import type { Command, CommandContext } from '../cli/types.js';
import { homeDir } from '../cli/run.js';
import { inspectLocalCluster, isRunning, stopLocalCluster } from '../local/control.js';
import { defaultDataDir, type Layout } from '../local/layout.js';
import { dataDirFlag, dataDirOf } from './shared.js';

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
  if (running) {
    ctx.io.stderr(`Stopping the local cluster in ${dataDir}…\n`);
  }
  const result = await stopLocalCluster(view, ctx.logger);
  if (result.survivors.length > 0) {
    ctx.io.stderr(`error: processes still running after stopping: pids ${result.survivors.join(', ')}\n`);
    return 1;
  }
  if (result.mountsLeft.length > 0) {
    ctx.io.stderr(`error: could not unmount ${result.mountsLeft.join(', ')}\n`);
    return 1;
  }
  const removed = await removeClientConfig(ctx, view.layout);
  const lines: string[] = [];
  if (running || result.stoppedSomething) lines.push(`Stopped the local cluster in ${dataDir}.`);
  else lines.push(`No local cluster is running in ${dataDir}: nothing to stop.`);
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
    'Stop the local cluster: signal its supervisor, which stops every component in reverse order, and\n' +
    'wait until every process is gone (if the supervisor is gone already, stop what it left). Removes the\n' +
    'client config when it is the one "deploy up" installed. Keeps the data directory unless --purge.',
  flags: [dataDirFlag, { name: 'purge', kind: 'boolean', description: 'also delete the data directory' }],
  examples: ['deploy down', 'deploy down --purge', 'deploy down --data-dir /tmp/flotilla'],
  run: runDown,
};
