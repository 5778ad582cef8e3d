// The graceful deletion of one pod (docs/CONTRACTS.md, "Deletion"), shared by DeletePod,
// DeleteObject, EvictPod and the garbage collector: mark it deleted with its grace, or
// remove it at once when no agent runs it.
import type { Pod } from '@flotilla/proto';
import { isFlotillaError, notFound, type Logger } from '@flotilla/common';
import { nodeCodec, podCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import { checkUidPrecondition, markDeleted } from './lifecycle.js';

export interface PodDeletionOptions {
  /** Overrides the pod's terminationGracePeriodSeconds. */
  gracePeriodSeconds?: number | undefined;
  /** Remove it from etcd now, without waiting for the agent (the agent still kills it). */
  force?: boolean;
  /** Delete only if the pod still has this uid ("" for any). */
  uid?: string;
  /** Decide, but write nothing. */
  dryRun?: boolean;
}

const attempts = 10;

/** Resolves with the pod as the deletion left it (marked, or as it was when removed). */
export async function deletePod(
  store: Store,
  namespace: string,
  name: string,
  options: PodDeletionOptions,
  now: () => Date,
  log: Logger,
): Promise<Pod> {
  const key = keys.pod(namespace, name);
  for (let attempt = 1; ; attempt++) {
    try {
      const entry = await store.get(podCodec, key);
      if (!entry)
        throw notFound(`pod "${namespace}/${name}" not found`, { object: `pod/${namespace}/${name}` });
      checkUidPrecondition(entry.value, options.uid ?? '');
      const marked = markDeleted(entry.value, now(), options.gracePeriodSeconds);
      const pod = marked ?? entry.value;
      if (options.dryRun) return pod;
      const node = pod.spec?.nodeName ?? '';
      // No agent runs it (unbound, or its node was removed from the cluster): nothing to wait for.
      if (node === '' || !(await store.get(nodeCodec, keys.node(node)))) {
        await store.delete(key, entry.modRevision);
        log.info('pod deleted at once: no node runs it', { pod: `${namespace}/${name}`, node });
        return pod;
      }
      const written = marked ? await store.update(podCodec, key, marked, entry.modRevision) : entry;
      if (options.force) {
        await store.delete(key, written.modRevision);
        log.info('pod deleted (forced)', { pod: `${namespace}/${name}`, node });
      } else {
        log.info('pod marked deleted', {
          pod: `${namespace}/${name}`,
          node,
          graceSeconds: written.value.metadata?.deletionGracePeriodSeconds,
        });
      }
      return written.value;
    } catch (err) {
      if (!isFlotillaError(err, 'Conflict') || attempt >= attempts) throw err;
    }
  }
}
