// Watches one Deployment until its rollout succeeds, fails or the time is up, printing
// each new progress line (`apply --wait`, `rollout status`). The decision is
// rolloutProgress's; this only feeds it the watched states.
import type { ObjectApi } from '../client/cluster-client.js';
import { formatDuration } from '../cli/values.js';
import { PodEvent_Type } from '@flotilla/proto';
import { rolloutProgress } from './rollout-progress.js';

export interface RolloutWaitOptions {
  /** Unset: wait as long as it takes. */
  timeoutMs?: number;
  /** How the message names the time allowed ("120s"), when it is not timeoutMs (a share of a total). */
  timeoutText?: string;
  signal?: AbortSignal;
  /** The generation waited for (apply's); unset: the first one watched. */
  generation?: number;
  progress: (line: string) => void;
}

export interface RolloutOutcome {
  ok: boolean;
  message: string;
}

export async function waitForRollout(
  api: Pick<ObjectApi, 'watchObjects'>,
  namespace: string,
  name: string,
  options: RolloutWaitOptions,
): Promise<RolloutOutcome> {
  const stream = api.watchObjects({
    kind: 'Deployment',
    namespace,
    name,
    labelSelector: '',
    resourceVersion: '',
  });
  let timedOut = false;
  const timer =
    options.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          stream.cancel();
        }, options.timeoutMs)
      : undefined;
  const onAbort = (): void => stream.cancel();
  options.signal?.addEventListener('abort', onAbort);
  let last = '';
  let waited = options.generation;
  try {
    for await (const event of stream) {
      const deployment = event.object?.deployment;
      if (!deployment || deployment.metadata?.name !== name) continue;
      if (event.type === PodEvent_Type.DELETED) {
        return { ok: false, message: `deployment "${name}" was deleted while its rollout was waited for` };
      }
      waited ??= deployment.metadata?.generation ?? 0;
      const progress = rolloutProgress(deployment, waited);
      if (progress.state !== 'waiting')
        return { ok: progress.state === 'succeeded', message: progress.message };
      if (progress.message !== last) options.progress(progress.message);
      last = progress.message;
    }
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    stream.cancel();
  }
  if (timedOut) {
    return {
      ok: false,
      message:
        `timed out after ${options.timeoutText ?? formatDuration(options.timeoutMs ?? 0)} waiting for deployment "${name}"` +
        (last
          ? ` (${last.replace(/^Waiting for deployment "[^"]*" rollout to finish: /, '').replace(/\.\.\.$/, '')})`
          : ''),
    };
  }
  if (options.signal?.aborted)
    return { ok: false, message: `interrupted while waiting for deployment "${name}"` };
  return {
    ok: false,
    message: `the controller ended the watch of deployment "${name}" before its rollout finished`,
  };
}
