// What RegisterNode stores: the agent owns what it observes about its host (addresses,
// capacity, system info, labels); the cluster owns the spec (cordon, pod CIDR, taints)
// and the identity of the object (uid, creation time), which survive re-registration.
import type { Node } from '@flotilla/proto';
import { invalidArgument, validateDnsSubdomain } from '@flotilla/common';
import { validateLabelKey, validateLabelValue } from '../labels/labels.js';
import { reasons, withReadyCondition } from './conditions.js';

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
