// What RegisterNode stores: the agent owns what it observes about its host (addresses,
// capacity, system info, labels); the cluster owns the spec (cordon, pod CIDR, taints)
// and the identity of the object (uid, creation time), which survive re-registration.
import { randomUUID } from 'node:crypto';
import { NodeSpec, type Node } from '@flotilla/proto';
import { invalidArgument, isFlotillaError, validateDnsSubdomain } from '@flotilla/common';
import { validateLabelKey, validateLabelValue } from '../labels/labels.js';
import { allocationCodec, type AllocationOwner } from '../objects/apply-plan.js';
import { nodeCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { putOp, type Entry, type Store, type TxnOp } from '../store/types.js';
import { reasons, withReadyCondition } from './conditions.js';
import {
  allocatePodCidr,
  blockOfAllocationKey,
  formatBlock,
  type HeldBlock,
  type PodCidrConfig,
} from './pod-cidr.js';

export const nodeApiVersion = 'v1';
export const nodeKind = 'Node';

/** Checks what an agent sends; every error names the field and the value. */
export function validateRegistration(node: Node | undefined): Node {
  if (!node) throw invalidArgument('node is required', { field: 'node' });
  const name = node.metadata?.name ?? '';
  const why = validateDnsSubdomain(name);
  if (why)
    throw invalidArgument(`node.metadata.name "${name}" ${why}`, {
      field: 'node.metadata.name',
      value: name,
    });
  for (const [key, value] of Object.entries(node.metadata?.labels ?? {})) {
    const keyWhy = validateLabelKey(key);
    if (keyWhy)
      throw invalidArgument(`label key "${key}": ${keyWhy}`, { field: 'node.metadata.labels', value: key });
    const valueWhy = validateLabelValue(value);
    if (valueWhy) {
      throw invalidArgument(`label ${key}="${value}": value ${valueWhy}`, {
        field: `node.metadata.labels.${key}`,
        value,
      });
    }
  }
  return node;
}

export function mergeRegistration(stored: Node | undefined, incoming: Node, now: Date, newUid: string): Node {
  const name = incoming.metadata?.name ?? '';
  const meta = stored?.metadata;
  const merged: Node = {
    apiVersion: nodeApiVersion,
    kind: nodeKind,
    metadata: {
      name,
      namespace: '',
      uid: meta?.uid || newUid,
      resourceVersion: meta?.resourceVersion ?? '',
      generation: meta?.generation ?? 0,
      creationTimestamp: meta?.creationTimestamp || now.toISOString(),
      deletionTimestamp: meta?.deletionTimestamp ?? '',
      labels: { ...(incoming.metadata?.labels ?? {}) },
      annotations: { ...(meta?.annotations ?? incoming.metadata?.annotations ?? {}) },
      ownerReferences: [],
    },
    // A first registration may bring a spec (taints to start with); after that it is the cluster's.
    spec: stored ? stored.spec : incoming.spec,
    status: {
      capacity: { ...(incoming.status?.capacity ?? {}) },
      allocatable: { ...allocatableOf(incoming) },
      addresses: [...(incoming.status?.addresses ?? [])],
      nodeInfo: incoming.status?.nodeInfo,
      daemonEndpoints: incoming.status?.daemonEndpoints,
      images: [...(incoming.status?.images ?? [])],
      conditions: [...(stored?.status?.conditions ?? [])],
    },
  };
  return withReadyCondition(
    merged,
    {
      status: 'True',
      reason: reasons.agentRegistered,
      message: 'the agent registered the node',
      heartbeat: true,
    },
    now,
  );
}

/** Without a separate allocatable, all of the capacity is allocatable. */
function allocatableOf(node: Node): Record<string, string> {
  const allocatable = node.status?.allocatable ?? {};
  return Object.keys(allocatable).length > 0 ? allocatable : (node.status?.capacity ?? {});
}

export interface RegistrationPlan {
  /** The node as it will be stored (spec.podCIDR set). */
  node: Node;
  /** The guarded writes: the node, and the pod CIDR's allocation key when it is new. */
  ops: TxnOp[];
}

/** The held blocks the allocation keys name (keys relative to keys.podCidrs). */
export function heldBlocks(allocations: readonly Entry<AllocationOwner>[]): HeldBlock[] {
  return allocations.flatMap((e) => {
    const block = blockOfAllocationKey(e.key.slice(e.key.lastIndexOf('/') + 1));
    return block ? [{ block, node: e.value.name }] : [];
  });
}

/** Whether registering over stored must allocate a pod CIDR (and so read the allocations). */
export function needsPodCidr(stored: Node | undefined): boolean {
  return (stored?.spec?.podCIDR ?? '') === '';
}

/**
 * What RegisterNode writes: the merged node, guarded on the stored revision (0: must not
 * exist), and, for a node without a pod CIDR yet, the block it gets with its allocation
 * key created in the same transaction, so two nodes racing for a block cannot both win.
 */
export function planRegistration(
  stored: Entry<Node> | undefined,
  incoming: Node,
  allocations: readonly Entry<AllocationOwner>[],
  podCidrs: PodCidrConfig,
  now: Date,
  newUid: string,
  /** Where the search for a free block starts (block number); 0: the first free. */
  start = 0,
): RegistrationPlan {
  const merged = mergeRegistration(stored?.value, incoming, now, newUid);
  const key = keys.node(merged.metadata?.name ?? '');
  const expect = stored?.modRevision ?? 0;
  if (!needsPodCidr(stored?.value)) return { node: merged, ops: [putOp(nodeCodec, key, merged, expect)] };
  const name = merged.metadata?.name ?? '';
  const block = allocatePodCidr(podCidrs, name, incoming.spec?.podCIDR ?? '', heldBlocks(allocations), start);
  const podCIDR = formatBlock(block);
  const node: Node = { ...merged, spec: { ...(merged.spec ?? NodeSpec.fromJSON({})), podCIDR } };
  const ops: TxnOp[] = [putOp(nodeCodec, key, node, expect)];
  const allocationKey = keys.podCidr(podCIDR);
  const existing = allocations.find((e) => e.key === allocationKey);
  const owner: AllocationOwner = { namespace: '', name, uid: node.metadata?.uid ?? '' };
  // Created (expect 0), or rewritten guarded when it is this node's own leftover key.
  ops.push(putOp(allocationCodec, allocationKey, owner, existing?.modRevision ?? 0));
  return { node, ops };
}

/**
 * Stores a registration: the merged node and, the first time, its pod CIDR's allocation
 * key, in one guarded transaction; re-planned when another writer got there first.
 */
export async function registerWithPodCidr(
  store: Store,
  podCidrs: PodCidrConfig,
  name: string,
  incoming: Node,
  at: Date,
): Promise<Node> {
  const key = keys.node(name);
  for (let attempt = 1; ; attempt++) {
    const current = await store.get(nodeCodec, key);
    const allocations: Entry<AllocationOwner>[] = needsPodCidr(current?.value)
      ? (await store.list(allocationCodec, keys.podCidrs)).entries
      : [];
    // The first free block first; after a conflict (another node took it) a random start,
    // so many nodes joining at once stop colliding.
    const start =
      attempt === 1 ? 0 : Math.floor(Math.random() * 2 ** (podCidrs.maskSize - podCidrs.clusterCidr.bits));
    const plan = planRegistration(current, incoming, allocations, podCidrs, at, randomUUID(), start);
    try {
      const { revision } = await store.commit(plan.ops);
      const node = plan.node;
      return node.metadata
        ? { ...node, metadata: { ...node.metadata, resourceVersion: String(revision) } }
        : node;
    } catch (err) {
      // A heartbeat's write, or another node taking the same block: plan again.
      if (!isFlotillaError(err, 'Conflict') || attempt >= 20) throw err;
    }
  }
}

/** What deleting a node writes: the node (guarded) and the allocation key of its pod CIDR. */
export function nodeDeleteOps(entry: Entry<Node>): TxnOp[] {
  const ops: TxnOp[] = [{ type: 'delete', key: entry.key, expect: entry.modRevision }];
  const podCIDR = entry.value.spec?.podCIDR ?? '';
  // Unguarded: while the node exists only it holds this key (registration refuses overlaps),
  // and the node's own guard makes a stale release fail whole.
  if (podCIDR !== '') ops.push({ type: 'delete', key: keys.podCidr(podCIDR) });
  return ops;
}
