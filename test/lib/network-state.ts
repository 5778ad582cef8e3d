// A NetworkState for tests: a complete state with the test clusters' defaults (services in
// 10.96.0.0/16, pods in 10.244.0.0/16, cluster.local) and nothing in it, with what a test
// sets on top. One place for the fields, so that a field the proto gains is added once.
import type { NetworkState } from '@flotilla/proto';

export function networkState(fields: Partial<NetworkState> = {}): NetworkState {
  return {
    endpointsRevision: 0,
    nodes: [],
    services: [],
    webFacing: false,
    clusterDomain: 'cluster.local',
    serviceCidr: '10.96.0.0/16',
    clusterCidr: '10.244.0.0/16',
    delta: false,
    removedNodes: [],
    removedServices: [],
    ...fields,
  };
}
