// What a change to a stored pod means to a WatchPods client with a filter. Pure. As in
// Kubernetes, a pod that starts matching the filter is ADDED, one that stops matching is
// DELETED, so the client's view stays the set of pods the filter selects.
import { PodEvent_Type, type Pod, type PodEvent } from '@flotilla/proto';
import { matchesLabels, type LabelSelector } from '../labels/labels.js';
import type { WatchEvent } from '../store/types.js';

export interface PodFilter {
  /** "" for every namespace. */
  namespace: string;
  /** "" for every pod. */
  name: string;
  selector: LabelSelector;
  /** "" for every node. */
  nodeName?: string;
}

export function podMatches(filter: PodFilter, pod: Pod | undefined): pod is Pod {
  if (!pod) return false;
  const meta = pod.metadata;
  if (filter.namespace !== '' && meta?.namespace !== filter.namespace) return false;
  if (filter.name !== '' && meta?.name !== filter.name) return false;
  if (filter.nodeName && pod.spec?.nodeName !== filter.nodeName) return false;
  return matchesLabels(filter.selector, meta?.labels);
}

/** The pod with resourceVersion set to the revision of the change. */
function atRevision(pod: Pod, revision: number): Pod {
  return pod.metadata ? { ...pod, metadata: { ...pod.metadata, resourceVersion: String(revision) } } : pod;
}

/** The event to send for a store change, or undefined when it does not concern the filter. */
export function podEventFor(filter: PodFilter, ev: WatchEvent<Pod>): PodEvent | undefined {
  const was = podMatches(filter, ev.previous);
  if (ev.type === 'delete') {
    // Without the previous value (a watch starting at the compaction revision) the key
    // still names the pod; the client may hold it, so it hears it is gone.
    const gone = ev.previous ?? podOfKey(ev.key);
    if (!gone || !(ev.previous ? was : podMatchesKey(filter, gone))) return undefined;
    return { type: PodEvent_Type.DELETED, pod: atRevision(gone, ev.revision) };
  }
  const is = podMatches(filter, ev.value);
  if (is) return { type: was ? PodEvent_Type.MODIFIED : PodEvent_Type.ADDED, pod: ev.value };
  if (was) return { type: PodEvent_Type.DELETED, pod: atRevision(ev.value, ev.revision) };
  return undefined;
}

function podOfKey(key: string): Pod | undefined {
  const m = /(?:^|\/)pods\/([^/]+)\/([^/]+)$/.exec(key);
  if (!m) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m[2] ?? '',
      namespace: m[1] ?? '',
      uid: '',
      resourceVersion: '',
      generation: 0,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: undefined,
    status: undefined,
  };
}

/** A pod known only by its key matches when its namespace and name do (labels unknown). */
function podMatchesKey(filter: PodFilter, pod: Pod): boolean {
  return (
    (filter.namespace === '' || pod.metadata?.namespace === filter.namespace) &&
    (filter.name === '' || pod.metadata?.name === filter.name)
  );
}
