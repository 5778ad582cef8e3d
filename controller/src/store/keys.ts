// The etcd key layout (docs/CONTRACTS.md), relative to rootPrefix. One place, so the
// controller's readers and writers cannot disagree about where a kind lives.

export const rootPrefix = '/flotilla/v1/';

export const keys = {
  clusterCa: 'cluster/ca',
  clusterNats: 'cluster/nats',
  joinTokens: 'jointokens/',
  joinToken: (id: string): string => `jointokens/${id}`,
  nodes: 'nodes/',
  node: (name: string): string => `nodes/${name}`,
  pods: 'pods/',
  pod: (namespace: string, name: string): string => `pods/${namespace}/${name}`,
  namespaces: 'namespaces/',
  namespace: (name: string): string => `namespaces/${name}`,
  deployments: 'deployments/',
  deployment: (namespace: string, name: string): string => `deployments/${namespace}/${name}`,
  replicaSets: 'replicasets/',
  replicaSet: (namespace: string, name: string): string => `replicasets/${namespace}/${name}`,
  services: 'services/',
  service: (namespace: string, name: string): string => `services/${namespace}/${name}`,
  /** A Service's Endpoints, under the service's name; written only by the endpoints loop. */
  endpoints: 'endpoints/',
  endpointsOf: (namespace: string, name: string): string => `endpoints/${namespace}/${name}`,
  events: 'events/',
  event: (namespace: string, name: string): string => `events/${namespace}/${name}`,
  /** One key per Service cluster IP in use: created with the service, in its transaction. */
  serviceIps: 'allocations/serviceips/',
  serviceIp: (ip: string): string => `allocations/serviceips/${ip}`,
  /** One key per nodePort in use ("<port>"; TCP and UDP share the number, as in Kubernetes). */
  nodePorts: 'allocations/nodeports/',
  nodePort: (port: number): string => `allocations/nodeports/${port}`,
  /** One key per node pod CIDR in use ("10.244.1.0-24"), created with the node's registration. */
  podCidrs: 'allocations/podcidrs/',
  podCidr: (cidr: string): string => `allocations/podcidrs/${cidr.replace('/', '-')}`,
};
