// One attempt of the graceful deletion of docs/CONTRACTS.md ("Delete"), for DeletePod and
// for the controllers that delete pods (ReplicaSets scaling down): mark the pod deleted
// and let its agent stop it, or delete it at once when no agent runs it. A guarded write
// that loses a race throws Conflict; the caller decides again on a fresh read.
import type { Pod } from '@flotilla/proto';
import type { Logger } from '@flotilla/common';
import { nodeCodec, podCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import { checkUidPrecondition, markDeleted } from './lifecycle.js';

export interface DeletePodRequest {
  namespace: string;
  name: string;
  /** When set, the pod must have this uid (else Conflict). */
  uid?: string;
  gracePeriodSeconds?: number;
  /** Delete the key right after writing the marks. */
  force?: boolean;
  now: Date;
}

/** The pod as marked (or as it was when deleted at once); undefined when there is no such pod. */
export async function deletePod(store: Store, req: DeletePodRequest, log: Logger): Promise<Pod | undefined> {
  const key = keys.pod(req.namespace, req.name);
  const what = `${req.namespace}/${req.name}`;
  const entry = await store.get(podCodec, key);
  if (!entry) return undefined;
  checkUidPrecondition(entry.value, req.uid ?? '');
  const marked = markDeleted(entry.value, req.now, req.gracePeriodSeconds);
  const pod = marked ?? entry.value;
  const node = pod.spec?.nodeName ?? '';
  // No agent runs it (unbound, or its node was removed from the cluster): nothing to wait for.
  if (node === '' || !(await store.get(nodeCodec, keys.node(node)))) {
    await store.delete(key, entry.modRevision);
    log.info('pod deleted at once: no node runs it', { pod: what, node });
    return pod;
  }
  const written = marked ? await store.update(podCodec, key, marked, entry.modRevision) : entry;
  if (req.force) {
    await store.delete(key, written.modRevision);
    log.info('pod deleted (forced)', { pod: what, node });
  } else {
    log.info('pod marked deleted', {
      pod: what,
      node,
      graceSeconds: written.value.metadata?.deletionGracePeriodSeconds,
    });
  }
  return written.value;
}
