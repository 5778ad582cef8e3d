// The streaming pod calls of the Cluster service (logs, exec, attach), proxied to the
// pod's agent. Placeholder until the proxy lands: every call answers Unimplemented.
import * as grpc from '@grpc/grpc-js';
import type { ClusterServer } from '@flotilla/proto';

export type PodStreamMethods = 'podLogs' | 'exec' | 'attach';

const unimplemented = (): Error =>
  Object.assign(new Error('pod streams are not served yet'), { code: grpc.status.UNIMPLEMENTED });

export function createPodStreamService(): Pick<ClusterServer, PodStreamMethods> {
  return {
    podLogs: (call) => call.destroy(unimplemented()),
    exec: (call) => call.destroy(unimplemented()),
    attach: (call) => call.destroy(unimplemented()),
  };
}
