// The Node this agent registers, built from probed host facts and the operator's
// options. Pure: the same facts always give the same object.
import type { Node, NodeAddress } from '@flotilla/proto';
import type { HostFacts } from '../host/types.js';
import { labelValueFromHostname } from './names.js';

/** Kubernetes' default pod limit per node; nothing enforces a different one yet. */
export const maxPodsPerNode = 110;

export const hostLabels = {
  hostname: 'flotilla.io/hostname',
  os: 'flotilla.io/os',
  arch: 'flotilla.io/arch',
} as const;

export interface NodeSettings {
  nodeName: string;
  /** The operator's labels; they win over the flotilla.io/* defaults. */
  labels: Record<string, string>;
  /** --address; otherwise the first non-loopback IPv4, else 127.0.0.1. */
  address?: string;
  /** The port the Agent service is bound to (status.daemonEndpoints.agentEndpoint). */
  agentPort?: number;
}

export function internalAddress(facts: HostFacts, override?: string): string {
  return override ?? facts.ipv4Addresses[0] ?? '127.0.0.1';
}

export function nodeLabels(facts: HostFacts, labels: Record<string, string>): Record<string, string> {
  return {
    [hostLabels.hostname]: labelValueFromHostname(facts.hostname),
    [hostLabels.os]: facts.operatingSystem,
    [hostLabels.arch]: facts.architecture,
    ...labels,
  };
}

/** Memory as Kubernetes writes it for nodes: whole KiB, "24563716Ki". */
export function memoryQuantity(bytes: number): string {
  return `${Math.floor(bytes / 1024)}Ki`;
}

/** The node as registered once the Agent service is bound: its port in daemonEndpoints. */
export function withAgentPort(node: Node, port: number): Node {
  if (!node.status) return node;
  return { ...node, status: { ...node.status, daemonEndpoints: { agentEndpoint: { port } } } };
}

export function buildNode(facts: HostFacts, settings: NodeSettings): Node {
  const resources = {
    cpu: String(facts.cpuCount),
    memory: memoryQuantity(facts.memoryTotalBytes),
    pods: String(maxPodsPerNode),
  };
  const addresses: NodeAddress[] = [
    { type: 'InternalIP', address: internalAddress(facts, settings.address) },
    { type: 'Hostname', address: facts.hostname },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: settings.nodeName,
      namespace: '',
      uid: '',
      resourceVersion: '',
      generation: 0,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: nodeLabels(facts, settings.labels),
      annotations: {},
      ownerReferences: [],
    },
    // spec (pod CIDR, cordon, taints) and conditions belong to the controller.
    spec: undefined,
    status: {
      capacity: { ...resources },
      // Nothing is reserved for the system yet, so all of it is allocatable.
      allocatable: { ...resources },
      conditions: [],
      addresses,
      nodeInfo: {
        machineID: facts.machineID,
        bootID: facts.bootID,
        kernelVersion: facts.kernelVersion,
        osImage: facts.osImage,
        operatingSystem: facts.operatingSystem,
        architecture: facts.architecture,
        containerRuntimeVersion: facts.runcVersion ? `runc://${facts.runcVersion}` : '',
        agentVersion: facts.agentVersion,
      },
      daemonEndpoints:
        settings.agentPort !== undefined ? { agentEndpoint: { port: settings.agentPort } } : undefined,
      images: [],
    },
  };
}
