// The garbage collector's decision: what no longer has an owner, and what a Terminating
// namespace still holds. Pure: a snapshot in, deletions out; garbage-collector.ts applies
// them. ReplicaSets whose controlling Deployment is gone and pods whose controlling
// ReplicaSet is gone are deleted (the background cascade of Kubernetes, which also
// catches what a reconciler created while its owner was being deleted); a Terminating
// namespace has every object in it deleted, and is itself deleted once no pod is left.
import type { Deployment, Event, Namespace, Node, Pod, ReplicaSet, Service } from '@flotilla/proto';
import type { Entry } from '../store/types.js';
import { kinds } from './kinds.js';
import { controllerOf } from '../deployments/revisions.js';

export interface GarbageSnapshot {
  namespaces: readonly Entry<Namespace>[];
  deployments: readonly Entry<Deployment>[];
  replicaSets: readonly Entry<ReplicaSet>[];
  pods: readonly Entry<Pod>[];
  services: readonly Entry<Service>[];
  events: readonly Entry<Event>[];
  nodes: readonly Entry<Node>[];
}

export type GarbageAction =
  /** A guarded delete of an object that needs nothing else (Deployment, ReplicaSet, Event, Namespace). */
  | { type: 'delete'; key: string; expect: number; why: string }
  /** A Service: deleted with its allocation keys. */
  | { type: 'deleteService'; entry: Entry<Service>; why: string }
  /** A pod: the graceful deletion (its agent stops it first). */
  | { type: 'deletePod'; namespace: string; name: string; uid: string; why: string }
  /**
   * A pod bound to a node that no longer exists: no agent will ever confirm it stopped, so
   * it leaves the store at once (Kubernetes' pod GC of orphaned pods). The caller waits for
   * a second pass that finds the same pod so before it acts.
   */
  | { type: 'forgetPod'; key: string; expect: number; uid: string; why: string };

const ns = (e: { value: { metadata?: { namespace: string } | undefined } }): string =>
  e.value.metadata?.namespace ?? '';
const nameOf = (e: { value: { metadata?: { name: string } | undefined } }): string =>
  e.value.metadata?.name ?? '';

export function findGarbage(s: GarbageSnapshot): GarbageAction[] {
  const actions: GarbageAction[] = [];
  const terminating = new Set(
    s.namespaces.filter((n) => n.value.status?.phase === 'Terminating').map((n) => nameOf(n)),
  );
  const deploymentUids = new Set(s.deployments.map((d) => d.value.metadata?.uid));
  const rsUids = new Set(s.replicaSets.map((r) => r.value.metadata?.uid));
  const removedRs = new Set<string | undefined>();

  for (const d of s.deployments) {
    if (terminating.has(ns(d))) {
      actions.push({
        type: 'delete',
        key: d.key,
        expect: d.modRevision,
        why: `namespace ${ns(d)} is terminating`,
      });
    }
  }
  for (const r of s.replicaSets) {
    const owner = controllerOf(r.value);
    const orphan = owner?.kind === 'Deployment' && !deploymentUids.has(owner.uid);
    if (orphan || terminating.has(ns(r))) {
      removedRs.add(r.value.metadata?.uid);
      actions.push({
        type: 'delete',
        key: r.key,
        expect: r.modRevision,
        why: orphan ? `its Deployment ${owner.name} is gone` : `namespace ${ns(r)} is terminating`,
      });
    }
  }
  const nodeNames = new Set(s.nodes.map((n) => nameOf(n)));
  const forgotten = new Set<string>();
  for (const p of s.pods) {
    const node = p.value.spec?.nodeName ?? '';
    if (node !== '' && !nodeNames.has(node)) {
      forgotten.add(p.key);
      actions.push({
        type: 'forgetPod',
        key: p.key,
        expect: p.modRevision,
        uid: p.value.metadata?.uid ?? '',
        why: `its node ${node} no longer exists`,
      });
    }
  }
  for (const p of s.pods) {
    if (p.value.metadata?.deletionTimestamp || forgotten.has(p.key)) continue;
    const owner = controllerOf(p.value);
    const orphan = owner?.kind === 'ReplicaSet' && (!rsUids.has(owner.uid) || removedRs.has(owner.uid));
    if (orphan || terminating.has(ns(p))) {
      actions.push({
        type: 'deletePod',
        namespace: ns(p),
        name: nameOf(p),
        uid: p.value.metadata?.uid ?? '',
        why: orphan ? `its ReplicaSet ${owner.name} is gone` : `namespace ${ns(p)} is terminating`,
      });
    }
  }
  for (const svc of s.services) {
    if (terminating.has(ns(svc))) {
      actions.push({ type: 'deleteService', entry: svc, why: `namespace ${ns(svc)} is terminating` });
    }
  }
  for (const e of s.events) {
    if (terminating.has(ns(e))) {
      actions.push({
        type: 'delete',
        key: e.key,
        expect: e.modRevision,
        why: `namespace ${ns(e)} is terminating`,
      });
    }
  }
  // A namespace goes once its pods are gone (the agents confirmed them stopped).
  for (const n of s.namespaces) {
    const name = nameOf(n);
    if (!terminating.has(name)) continue;
    const holds = [s.deployments, s.replicaSets, s.pods, s.services].some((list) =>
      list.some((e) => ns(e) === name),
    );
    if (!holds) {
      actions.push({
        type: 'delete',
        key: kinds.Namespace.key('', name),
        expect: n.modRevision,
        why: 'it is empty',
      });
    }
  }
  return actions;
}
