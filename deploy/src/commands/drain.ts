// deploy cordon|uncordon NODE, deploy drain NODE [--timeout]
import { errorMessage, isFlotillaError } from '@flotilla/common';
import type { Pod } from '@flotilla/proto';
import type { CommandContext, CliIo } from '../cli/types.js';
import { withCluster, type ClusterApi } from '../client/cluster-client.js';
import { formatDuration } from '../cli/values.js';

export type DrainApi = Pick<ClusterApi, 'cordonNode' | 'evictPod' | 'listPods' | 'getNode'>;

export async function setCordoned(
  api: Pick<ClusterApi, 'cordonNode' | 'getNode'>,
  name: string,
  cordoned: boolean,
): Promise<string> {
  const node = await api.getNode(name);
  const word = cordoned ? 'cordoned' : 'uncordoned';
  if ((node.spec?.unschedulable ?? false) === cordoned) return `node/${name} already ${word}`;
  await api.cordonNode({ name, unschedulable: cordoned });
  return `node/${name} ${word}`;
}

export interface DrainOptions {
  timeoutMs: number;
  /** Between tries of a pod its Deployment cannot lose yet. */
  retryMs: number;
  gracePeriodSeconds?: number;
  signal?: AbortSignal;
  /** Injected by tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const podName = (pod: Pod): string => `${pod.metadata?.namespace || 'default'}/${pod.metadata?.name ?? ''}`;

/**
 * Cordons the node, then evicts its pods, each again after retryMs while the controller
 * answers ResourceExhausted (the pod's Deployment is at maxUnavailable), until the time
 * is up. Exit 0 when every pod was evicted, 1 otherwise.
 */
export async function drainNode(
  api: DrainApi,
  name: string,
  options: DrainOptions,
  io: Pick<CliIo, 'stdout' | 'stderr'>,
): Promise<number> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  io.stdout((await setCordoned(api, name, true)) + '\n');
  const pods = (await api.listPods({ namespace: '', labelSelector: '', nodeName: name })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
  const deadline = now() + options.timeoutMs;
  let pending = pods;
  const failed: string[] = [];
  const evicted: Pod[] = [];
  while (pending.length > 0) {
    const retry: Pod[] = [];
    for (const pod of pending) {
      io.stdout(`evicting pod ${podName(pod)}\n`);
      try {
        await api.evictPod({
          namespace: pod.metadata?.namespace || 'default',
          name: pod.metadata?.name ?? '',
          ...(options.gracePeriodSeconds !== undefined
            ? { gracePeriodSeconds: options.gracePeriodSeconds }
            : {}),
        });
        evicted.push(pod);
      } catch (err) {
        if (isFlotillaError(err, 'NotFound')) continue; // gone already
        if (isFlotillaError(err, 'ResourceExhausted')) {
          io.stderr(
            `error when evicting pod ${podName(pod)} (will retry after ${formatDuration(options.retryMs)}): ${errorMessage(err)}\n`,
          );
          retry.push(pod);
        } else {
          io.stderr(`error when evicting pod ${podName(pod)}: ${errorMessage(err)}\n`);
          failed.push(podName(pod));
        }
      }
    }
    pending = retry;
    if (pending.length === 0) break;
    if (options.signal?.aborted || now() + options.retryMs > deadline) {
      const why = options.signal?.aborted
        ? 'interrupted'
        : `not done within ${formatDuration(options.timeoutMs)}`;
      io.stderr(
        `error: drain of node/${name} ${why}; pods not evicted: ${pending.map(podName).join(', ')}\n`,
      );
      return 1;
    }
    await sleep(options.retryMs);
  }
  // As kubectl: an eviction is done when the pod is gone (its containers stopped), not
  // when the controller accepted it.
  const gone = await waitForPodsGone(api, name, evicted, deadline, options, io);
  if (failed.length > 0) {
    io.stderr(`error: drain of node/${name} incomplete; pods not evicted: ${failed.join(', ')}\n`);
    return 1;
  }
  if (!gone) return 1;
  io.stdout(`node/${name} drained\n`);
  return 0;
}

async function waitForPodsGone(
  api: DrainApi,
  node: string,
  evicted: readonly Pod[],
  deadline: number,
  options: DrainOptions,
  io: Pick<CliIo, 'stdout' | 'stderr'>,
): Promise<boolean> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  let waiting = [...evicted];
  for (;;) {
    const present = new Set(
      (await api.listPods({ namespace: '', labelSelector: '', nodeName: node })).items.map(
        (p) => p.metadata?.uid ?? '',
      ),
    );
    const still: Pod[] = [];
    for (const pod of waiting) {
      if (present.has(pod.metadata?.uid ?? '')) still.push(pod);
      else io.stdout(`pod/${pod.metadata?.name ?? ''} evicted\n`);
    }
    waiting = still;
    if (waiting.length === 0) return true;
    if (options.signal?.aborted || now() + goneCheckMs > deadline) {
      const why = options.signal?.aborted
        ? 'interrupted'
        : `not done within ${formatDuration(options.timeoutMs)}`;
      io.stderr(
        `error: drain of node/${node} ${why}; pods evicted but still stopping: ${waiting.map(podName).join(', ')}\n`,
      );
      return false;
    }
    await sleep(goneCheckMs);
  }
}

const goneCheckMs = 500;

export async function runCordon(ctx: CommandContext, cordoned: boolean): Promise<number> {
  const line = await withCluster(ctx.global.configPath, (api) =>
    setCordoned(api, ctx.args[0] ?? '', cordoned),
  );
  ctx.io.stdout(line + '\n');
  return 0;
}

export async function runDrain(ctx: CommandContext): Promise<number> {
  const grace = ctx.flags.number('grace-period');
  return withCluster(ctx.global.configPath, (api) =>
    drainNode(
      api,
      ctx.args[0] ?? '',
      {
        timeoutMs: ctx.flags.number('timeout') ?? 300_000,
        retryMs: 5_000,
        ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
        ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
      },
      ctx.io,
    ),
  );
}
