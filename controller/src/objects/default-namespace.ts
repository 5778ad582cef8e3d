// The "default" namespace exists in every cluster: created (once) when a controller
// starts, before the API serves, so an apply into it never finds it missing.
import { randomUUID } from 'node:crypto';
import type { Namespace } from '@flotilla/proto';
import { namespaceCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';

export function defaultNamespaceObject(now: Date): Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: 'default',
      namespace: '',
      uid: randomUUID(),
      resourceVersion: '',
      generation: 1,
      creationTimestamp: now.toISOString(),
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    status: { phase: 'Active' },
  };
}

/** Creates it unless it exists; concurrent controllers agree on one. */
export async function ensureDefaultNamespace(store: Store, now: Date): Promise<void> {
  await store.create(namespaceCodec, keys.namespace('default'), defaultNamespaceObject(now));
}
