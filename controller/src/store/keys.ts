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
  events: 'events/',
  event: (namespace: string, name: string): string => `events/${namespace}/${name}`,
};
