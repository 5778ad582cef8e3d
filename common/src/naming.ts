// Names shared by the controller and the agents: identities in certificates and
// NATS subjects. One definition, so the two sides cannot drift apart.

export const adminOrganization = 'flotilla:admins';
export const nodeOrganization = 'flotilla:nodes';
export const controllerOrganization = 'flotilla:controllers';

export const nodeCommonName = (node: string): string => `node:${node}`;

export function nodeNameOfCommonName(cn: string): string | undefined {
  return cn.startsWith('node:') ? cn.slice('node:'.length) : undefined;
}

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes' rule for object names such as nodes: a DNS-1123 subdomain. */
export function validateDnsSubdomain(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 253) return 'must be at most 253 characters';
  if (!dns1123Subdomain.test(value)) {
    return 'must consist of lower case letters, digits, "-" and ".", and start and end with a letter or digit';
  }
  return undefined;
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' rule for namespaces, container, volume and pod names: a DNS-1123 label. */
export function validateDnsLabel(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 63) return 'must be at most 63 characters';
  if (!dns1123Label.test(value)) {
    return 'must consist of lower case letters, digits and "-", and start and end with a letter or digit';
  }
  return undefined;
}

/**
 * A node's token in NATS subjects. Node names may hold dots, which NATS reads as token
 * separators; "_" never appears in a valid name, so the mapping is one-to-one and one
 * node's permissions can never cover another's subjects.
 */
export const nodeSubjectToken = (node: string): string => node.replaceAll('.', '_');

export const subjects = {
  heartbeat: (node: string): string => `flotilla.v1.node.${nodeSubjectToken(node)}.heartbeat`,
  podStatus: (node: string): string => `flotilla.v1.node.${nodeSubjectToken(node)}.status`,
  events: (node: string): string => `flotilla.v1.node.${nodeSubjectToken(node)}.events`,
  resync: (node: string): string => `flotilla.v1.node.${nodeSubjectToken(node)}.resync`,
  /** NetworkApplied: the agent programmed a NetworkState (see network.proto). */
  networkApplied: (node: string): string => `flotilla.v1.node.${nodeSubjectToken(node)}.network`,
  nodeAll: (node: string): string => `flotilla.v1.node.${nodeSubjectToken(node)}.>`,
  allHeartbeats: 'flotilla.v1.node.*.heartbeat',
  allPodStatus: 'flotilla.v1.node.*.status',
  allNetworkApplied: 'flotilla.v1.node.*.network',
};

/**
 * A service's name in a NetworkState delta's removedServices (and the key its entries are
 * replaced by): "namespace/name", the same on the controller and the agents.
 */
export const serviceRouteKey = (s: { namespace: string; name: string }): string => `${s.namespace}/${s.name}`;

/**
 * The node label that makes a node web-facing by default: it opens every NodePort
 * service's port (the controller's --web-facing-selector, default `${webFacingLabel}=true`).
 */
export const webFacingLabel = 'flotilla.io/web-facing';

/** The DNS domain of services: SERVICE.NAMESPACE.svc.cluster.local. */
export const defaultClusterDomain = 'cluster.local';

/** The range nodes' pod CIDRs are allocated from (the controller's --cluster-cidr). */
export const defaultClusterCidr = '10.244.0.0/16';
