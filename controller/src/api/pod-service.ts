// The pod half of the Cluster service (create, get, list, update, delete, watch).
// Placeholder until the pod API lands: every call answers Unimplemented.
import * as grpc from '@grpc/grpc-js';
import type { ClusterServer } from '@flotilla/proto';

export type PodMethods = 'createPod' | 'getPod' | 'listPods' | 'updatePod' | 'deletePod' | 'watchPods';

const unimplemented = { code: grpc.status.UNIMPLEMENTED, details: 'pods are not served yet' };

export function createPodService(): Pick<ClusterServer, PodMethods> {
  return {
    createPod: (_call, cb) => cb(unimplemented),
    getPod: (_call, cb) => cb(unimplemented),
    listPods: (_call, cb) => cb(unimplemented),
    updatePod: (_call, cb) => cb(unimplemented),
    deletePod: (_call, cb) => cb(unimplemented),
    watchPods: (call) => call.destroy(Object.assign(new Error(unimplemented.details), unimplemented)),
  };
}
