// Waiting on a pod through the Cluster API: get it (or take the caller's), then follow WatchPods until a decision
// function says the wait is over. Ctrl-C (the io's signal) and a time limit end it early.
import { FlotillaError, isFlotillaError } from '@flotilla/common';
import { PodEvent_Type, type Pod } from '@flotilla/proto';
import type { ClusterApi } from '../client/cluster-client.js';
import { trace, tracing } from '../cli/trace.js';

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Give up after this long (undefined: wait as long as it takes, as docker run does). */
  timeoutMs?: number;
  /** What the pod is waited for, for the time-limit message: "to stop". */
  what?: string;
  /**
   * The pod as the caller already has it (as CreatePod returned it): no read before the
   * watch, which resumes from its resourceVersion, so no change after it is missed.
   */
  from?: Pod;
}

/** FLOTILLA_CLI_TRACE: where a pod is on its way (bound, phase, its containers' states). */
function podProgress(pod: Pod): string {
  const states = (pod.status?.containerStatuses ?? []).map((c) =>
    c.state?.running
      ? 'running'
      : c.state?.terminated
        ? 'terminated'
        : (c.state?.waiting?.reason ?? 'waiting'),
  );
  return `node=${pod.spec?.nodeName || '-'} phase=${pod.status?.phase ?? '-'} containers=${states.join(',') || '-'}`;
}

/** The pod now, or undefined when it does not exist. */
export async function findPod(api: ClusterApi, namespace: string, name: string): Promise<Pod | undefined> {
  try {
    return await api.getPod(namespace, name);
  } catch (err) {
    if (isFlotillaError(err, 'NotFound')) return undefined;
    throw err;
  }
}

/**
 * Calls decide with the pod as it is and after every change (undefined once it is gone)
 * until it returns something other than undefined, and returns that.
 */
export async function waitForPod<T>(
  api: ClusterApi,
  namespace: string,
  name: string,
  decide: (pod: Pod | undefined) => T | undefined,
  options: WaitOptions = {},
): Promise<T> {
  const { signal } = options;
  if (signal?.aborted) throw new Interrupted();
  let current = options.from ?? (await findPod(api, namespace, name));
  const first = decide(current);
  if (first !== undefined) return first;
  if (!current) throw new FlotillaError('NotFound', `pod ${namespace}/${name} is gone`);
  const uid = current.metadata?.uid ?? '';

  let stop: (reason: Error) => void = () => undefined;
  const stopped = new Promise<never>((_, reject) => {
    stop = reject;
  });
  stopped.catch(() => undefined);
  const onAbort = (): void => stop(new Interrupted());
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    options.timeoutMs !== undefined
      ? setTimeout(
          () =>
            stop(
              new FlotillaError(
                'DeadlineExceeded',
                `pod ${name} did not ${options.what ?? 'change'} within ${Math.round((options.timeoutMs ?? 0) / 1000)}s (see "deploy ps -a" and "deploy inspect ${name}")`,
              ),
            ),
          options.timeoutMs,
        )
      : undefined;
  try {
    let resourceVersion = current.metadata?.resourceVersion ?? '';
    for (;;) {
      const watch = api.watchPods({ namespace, name, labelSelector: '', resourceVersion });
      const events = watch[Symbol.asyncIterator]();
      try {
        for (;;) {
          const next = await Promise.race([events.next(), stopped]);
          if (next.done) break;
          const event = next.value;
          if (event.pod?.metadata?.name !== name) continue;
          resourceVersion = event.pod.metadata.resourceVersion || resourceVersion;
          if (tracing()) trace(`watch: ${PodEvent_Type[event.type]} ${podProgress(event.pod)}`);
          // Another pod of the same name means the one we waited on is gone.
          const replaced = uid !== '' && event.pod.metadata.uid !== '' && event.pod.metadata.uid !== uid;
          current = event.type === PodEvent_Type.DELETED || replaced ? undefined : event.pod;
          const decided = decide(current);
          if (decided !== undefined) return decided;
          if (!current) throw new FlotillaError('NotFound', `pod ${namespace}/${name} was deleted`);
        }
      } finally {
        watch.cancel();
      }
      // The server ended the watch (a controller restart): look again, then resume.
      current = await findPod(api, namespace, name);
      const again = decide(current);
      if (again !== undefined) return again;
      if (!current) throw new FlotillaError('NotFound', `pod ${namespace}/${name} was deleted`);
      resourceVersion = current.metadata?.resourceVersion ?? resourceVersion;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
  }
}

/** Deletes the pod (ignoring one already gone) and waits until it left the cluster. */
export async function removePod(
  api: ClusterApi,
  pod: Pod,
  options: { force: boolean; signal?: AbortSignal; timeoutMs?: number },
): Promise<void> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  const uid = pod.metadata?.uid ?? '';
  try {
    await api.deletePod({
      namespace,
      name,
      uid,
      force: options.force,
      ...(options.force ? { gracePeriodSeconds: 0 } : {}),
    });
  } catch (err) {
    if (!isFlotillaError(err, 'NotFound')) throw err;
  }
  await waitForPod(
    api,
    namespace,
    name,
    (p) => (p === undefined || (uid !== '' && p.metadata?.uid !== uid) ? true : undefined),
    { ...options, what: 'go away' },
  );
}
