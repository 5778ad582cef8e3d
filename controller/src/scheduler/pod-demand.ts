// What a pod asks of a node, parsed once when the pod enters the scheduler's snapshot so
// that no filter or scorer parses a quantity again. Pure.
import type { NodeSelectorTerm, Pod, Toleration } from '@flotilla/proto';
import { parseReference } from '@flotilla/images';
import { compareText } from '@flotilla/common';
import { resourceAmount } from '../pods/quantity.js';

export interface HostPortClaim {
  ip: string;
  port: number;
  protocol: string;
}

export interface WeightedTerm {
  weight: number;
  term: NodeSelectorTerm;
}

export interface PodDemand {
  /** pods/<namespace>/<name>, the store key. */
  key: string;
  namespace: string;
  /** Millicores and bytes requested (a container's limit when it has no request). */
  cpu: number;
  memory: number;
  /**
   * The same, with Kubernetes' defaults for a container that requests nothing (100m,
   * 200Mi), for scoring only: otherwise best-effort pods would all pile on one node.
   */
  scoreCpu: number;
  scoreMemory: number;
  hostPorts: HostPortClaim[];
  images: string[];
  /** Pods with the same group are spread apart; "" for none. */
  spreadGroup: string;
  nodeSelector: [string, string][];
  /** Required node affinity terms (ORed); empty when there is none. */
  requiredTerms: NodeSelectorTerm[];
  preferredTerms: WeightedTerm[];
  tolerations: Toleration[];
}

const defaultScoreCpu = 100;
const defaultScoreMemory = 200 * 1024 * 1024;

/**
 * An image reference as nodes report theirs: "nginx" is docker.io/library/nginx:latest.
 * Text that is not a reference is kept as it is.
 */
export function canonicalImage(image: string): string {
  try {
    return parseReference(image).canonical;
  } catch {
    return image;
  }
}

/** A finished pod holds no resources and no ports. */
export function isPodFinished(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/**
 * The group a pod spreads with: its controller owner (a ReplicaSet's pods spread), else
 * its namespace and full label set (pods stamped from one template), else none.
 */
export function spreadGroupOf(pod: Pod): string {
  const meta = pod.metadata;
  if (!meta) return '';
  const owner = meta.ownerReferences.find((o) => o.controller);
  if (owner) return `owner:${meta.namespace}/${owner.kind}/${owner.uid || owner.name}`;
  const labels = Object.entries(meta.labels);
  if (labels.length === 0) return '';
  labels.sort(([a], [b]) => compareText(a, b));
  return `labels:${meta.namespace}/${labels.map(([k, v]) => `${k}=${v}`).join(',')}`;
}

function amount(name: 'cpu' | 'memory', text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = resourceAmount(name, text);
  return value === undefined ? undefined : Number(value);
}

export function podDemand(key: string, pod: Pod): PodDemand {
  const spec = pod.spec;
  let cpu = 0;
  let memory = 0;
  let scoreCpu = 0;
  let scoreMemory = 0;
  const hostPorts: HostPortClaim[] = [];
  const images: string[] = [];
  for (const c of spec?.containers ?? []) {
    const r = c.resources;
    const cpuWanted = amount('cpu', r?.requests.cpu ?? r?.limits.cpu);
    const memoryWanted = amount('memory', r?.requests.memory ?? r?.limits.memory);
    cpu += cpuWanted ?? 0;
    memory += memoryWanted ?? 0;
    scoreCpu += cpuWanted || defaultScoreCpu;
    scoreMemory += memoryWanted || defaultScoreMemory;
    if (c.image !== '') images.push(canonicalImage(c.image));
    for (const p of c.ports) {
      if (p.hostPort > 0) hostPorts.push({ ip: p.hostIP, port: p.hostPort, protocol: p.protocol || 'TCP' });
    }
  }
  const nodeAffinity = spec?.affinity?.nodeAffinity;
  return {
    key,
    namespace: pod.metadata?.namespace ?? '',
    cpu,
    memory,
    scoreCpu,
    scoreMemory,
    hostPorts,
    images,
    spreadGroup: spreadGroupOf(pod),
    nodeSelector: Object.entries(spec?.nodeSelector ?? {}),
    requiredTerms: nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [],
    preferredTerms: (nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).flatMap((p) =>
      p.preference && p.weight > 0 ? [{ weight: p.weight, term: p.preference }] : [],
    ),
    tolerations: spec?.tolerations ?? [],
  };
}
