// deploy stop, start and rm: a pod's containers stopped and kept, run again, or removed.
import { errorMessage, FlotillaError, isFlotillaError } from '@flotilla/common';
import type { Pod } from '@flotilla/proto';
import type { Command, CommandContext } from '../cli/types.js';
import { withCluster, type ClusterApi } from '../client/cluster-client.js';
import { restartedAtAnnotation } from '../pods/run-spec.js';
import { allContainersStopped, containerStatusOf, hasRunningContainer, runProgress } from '../pods/state.js';
import { Interrupted, findPod, removePod, waitForPod } from '../pods/wait.js';
import { checkPodArg, namespaceFlag, namespaceOf, noSuchPod } from './pod-flags.js';

/** How long stop, start and rm wait for the agent before they give up on a pod. */
const waitLimitMs = 120_000;
const conflictRetries = 10;

/** Reads, changes and writes the pod, again on Conflict (someone else wrote it in between). */
export async function updateWithRetry(
  api: ClusterApi,
  namespace: string,
  name: string,
  change: (pod: Pod) => Pod | undefined,
): Promise<Pod> {
  for (let attempt = 0; ; attempt++) {
    const pod = await findPod(api, namespace, name);
    if (!pod) throw noSuchPod(name, namespace);
    const changed = change(pod);
    if (!changed) return pod;
    try {
      return await api.updatePod(changed);
    } catch (err) {
      if (!isFlotillaError(err, 'Conflict') || attempt >= conflictRetries) throw err;
    }
  }
}

/** The pod with spec.stopped set, or undefined when it already is. Pure. */
export function stoppedPod(pod: Pod, stopped: boolean): Pod | undefined {
  if (!pod.spec) return undefined;
  if (pod.spec.stopped === stopped) return undefined;
  return { ...pod, spec: { ...pod.spec, stopped } };
}

/** The pod to write for `deploy start`: running again, with a new restartedAt. Pure. */
export function startedPod(pod: Pod, now: Date): Pod | undefined {
  if (!pod.spec || !pod.metadata) return undefined;
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      annotations: { ...pod.metadata.annotations, [restartedAtAnnotation]: now.toISOString() },
    },
    spec: { ...pod.spec, stopped: false },
  };
}

type PerPod = (ctx: CommandContext, api: ClusterApi, namespace: string, name: string) => Promise<void>;

/** Runs fn for each POD like docker: the name on stdout when it worked, the error on stderr otherwise. */
async function eachPod(ctx: CommandContext, fn: PerPod): Promise<number> {
  const namespace = namespaceOf(ctx);
  for (const name of ctx.args) checkPodArg(ctx, name);
  return withCluster(ctx.global.configPath, async (api) => {
    let code = 0;
    for (const name of ctx.args) {
      try {
        await fn(ctx, api, namespace, name);
        ctx.io.stdout(`${name}\n`);
      } catch (err) {
        if (err instanceof Interrupted) {
          ctx.io.stderr('interrupted\n');
          return 130;
        }
        ctx.io.stderr(`error: ${errorMessage(err)}\n`);
        code = 1;
      }
    }
    return code;
  });
}

const waitOptions = (ctx: CommandContext, what: string) => ({
  ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
  timeoutMs: waitLimitMs,
  what,
});

const stopOne: PerPod = async (ctx, api, namespace, name) => {
  await updateWithRetry(api, namespace, name, (pod) => stoppedPod(pod, true));
  await waitForPod(
    api,
    namespace,
    name,
    (pod) => {
      if (!pod) throw noSuchPod(name, namespace);
      return pod.spec?.stopped && allContainersStopped(pod) ? true : undefined;
    },
    waitOptions(ctx, 'stop'),
  );
};

const startOne: PerPod = async (ctx, api, namespace, name) => {
  const before = await findPod(api, namespace, name);
  if (!before) throw noSuchPod(name, namespace);
  // docker start of a running container does nothing.
  if (hasRunningContainer(before) && !before.spec?.stopped) return;
  const restartsBefore = containerStatusOf(before)?.restartCount ?? 0;
  const ranBefore = containerStatusOf(before)?.state?.terminated !== undefined;
  await updateWithRetry(api, namespace, name, (pod) => startedPod(pod, new Date()));
  await waitForPod(
    api,
    namespace,
    name,
    (pod) => {
      if (!pod) throw noSuchPod(name, namespace);
      const progress = runProgress(pod, restartsBefore);
      if (progress.kind === 'failed') {
        throw new FlotillaError(
          'FailedPrecondition',
          `pod ${name} cannot start: ${progress.reason}${progress.message ? `: ${progress.message}` : ''}`,
        );
      }
      const status = containerStatusOf(pod);
      if ((status?.restartCount ?? 0) > restartsBefore) return true;
      if (!ranBefore && (status?.state?.running || status?.state?.terminated)) return true;
      return undefined;
    },
    waitOptions(ctx, 'start'),
  );
};

const rmOne: PerPod = async (ctx, api, namespace, name) => {
  const pod = await findPod(api, namespace, name);
  if (!pod) throw noSuchPod(name, namespace);
  const force = ctx.flags.boolean('force');
  if (!force && hasRunningContainer(pod)) {
    throw new FlotillaError(
      'FailedPrecondition',
      `You cannot remove a running container ${name}. Stop the container before attempting removal or force remove (deploy stop ${name}, or deploy rm -f ${name})`,
    );
  }
  await removePod(api, pod, { force, ...waitOptions(ctx, 'go away') });
};

export const stopCommand: Command = {
  name: 'stop',
  summary: 'stop pods, keeping their containers, logs and status',
  description:
    "Stop the containers of each POD (SIGTERM, then SIGKILL after the pod's terminationGracePeriodSeconds:\n" +
    '"deploy run --stop-timeout", default 10) and keep them, their logs and their status; "deploy start" runs\n' +
    "them again. Waits until they stopped and prints each name. (docker's -t is not offered: the grace\n" +
    "period is the pod's and cannot be changed once it was created.)",
  args: { usage: 'POD...', min: 1, max: Number.MAX_SAFE_INTEGER },
  flags: [namespaceFlag],
  examples: ['deploy stop web'],
  run: (ctx) => eachPod(ctx, stopOne),
};

export const startCommand: Command = {
  name: 'start',
  summary: 'run stopped or exited pods again',
  description:
    'Run the containers of each POD again (also ones that exited under restart policy no) and wait until\n' +
    'they started; prints each name.',
  args: { usage: 'POD...', min: 1, max: Number.MAX_SAFE_INTEGER },
  flags: [namespaceFlag],
  examples: ['deploy start web'],
  run: (ctx) => eachPod(ctx, startOne),
};

export const rmCommand: Command = {
  name: 'rm',
  summary: 'remove pods',
  description:
    'Remove each POD and wait until it is gone (its agent stopped its containers and removed their files);\n' +
    'prints each name. A pod with a running container is refused unless -f, which kills it at once.',
  args: { usage: 'POD...', min: 1, max: Number.MAX_SAFE_INTEGER },
  flags: [
    {
      name: 'force',
      short: 'f',
      kind: 'boolean',
      description: 'remove running pods too, killing them without grace',
    },
    namespaceFlag,
  ],
  examples: ['deploy rm hello', 'deploy rm -f web'],
  run: (ctx) => eachPod(ctx, rmOne),
};
