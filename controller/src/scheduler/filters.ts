// Feasibility: can this node take this pod at all? Each filter answers for one concern and
// names why not, in kube-scheduler's words, so the reasons can be counted over the nodes
// ("2 insufficient memory"). Filters see only precomputed state — no parsing, no I/O.
import type { NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration } from '@flotilla/proto';
import { hostPortsCollide } from '../pods/validate-pod.js';
import type { PodDemand } from './pod-demand.js';
import type { NodeInfo } from './snapshot.js';

/** Why a node was rejected; the texts are what the pod's PodScheduled message counts. */
export const rejections = {
  notReady: 'node(s) were not ready',
  unschedulable: 'node(s) were unschedulable',
  nodeAffinity: "node(s) didn't match Pod's node affinity/selector",
  hostPorts: "node(s) didn't have free ports for the requested pod ports",
  insufficientCpu: 'insufficient cpu',
  insufficientMemory: 'insufficient memory',
  tooManyPods: 'too many pods',
  untoleratedTaint: (t: Taint): string => `node(s) had untolerated taint {${t.key}: ${t.value}}`,
} as const;

export interface Filter {
  readonly name: string;
  /**
   * A rejection by a terminal filter ends the node's evaluation (a node that is not Ready
   * has no other reason worth counting); the others all run, so the message says
   * everything that stands in the way.
   */
  readonly terminal: boolean;
  /** undefined when the node passes, else the reasons. */
  check(pod: PodDemand, node: NodeInfo): readonly string[] | undefined;
}

const notReady = [rejections.notReady];
const cordoned = [rejections.unschedulable];
const affinityMismatch = [rejections.nodeAffinity];
const portsTaken = [rejections.hostPorts];

export const nodeReady: Filter = {
  name: 'NodeReady',
  terminal: true,
  check: (_pod, node) => (node.ready ? undefined : notReady),
};

export const nodeSchedulable: Filter = {
  name: 'NodeUnschedulable',
  terminal: true,
  check: (_pod, node) => (node.unschedulable ? cordoned : undefined),
};

/** Kubernetes' ToleratesTaint: effect and key must match unless left empty; Exists ignores the value. */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== '' && toleration.effect !== taint.effect) return false;
  if (toleration.key !== '' && toleration.key !== taint.key) return false;
  const op = toleration.operator || 'Equal';
  if (op === 'Exists') return true;
  // An empty key only makes sense with Exists (validation refuses it otherwise).
  return op === 'Equal' && toleration.key !== '' && toleration.value === taint.value;
}

export function untolerated(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  return taints.find((taint) => !tolerations.some((tol) => tolerates(tol, taint)));
}

export const taintToleration: Filter = {
  name: 'TaintToleration',
  terminal: false,
  check(pod, node) {
    if (node.hardTaints.length === 0) return undefined;
    const taint = untolerated(node.hardTaints, pod.tolerations);
    return taint ? [rejections.untoleratedTaint(taint)] : undefined;
  },
};

function integer(text: string): number | undefined {
  return /^-?\d+$/.test(text) ? Number(text) : undefined;
}

/** One requirement against a value that is present (or not) on the node. */
export function requirementHolds(req: NodeSelectorRequirement, value: string | undefined): boolean {
  switch (req.operator) {
    case 'In':
      return value !== undefined && req.values.includes(value);
    case 'NotIn':
      return value === undefined || !req.values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const have = value === undefined ? undefined : integer(value);
      const bound = integer(req.values[0] ?? '');
      if (have === undefined || bound === undefined) return false;
      return req.operator === 'Gt' ? have > bound : have < bound;
    }
    default:
      return false;
  }
}

/** A term holds when all of its expressions (labels) and fields (metadata.name) hold; an empty term matches nothing, as Kubernetes. */
export function termMatches(term: NodeSelectorTerm, node: NodeInfo): boolean {
  if (term.matchExpressions.length === 0 && term.matchFields.length === 0) return false;
  const labels = node.labels;
  for (const req of term.matchExpressions) {
    if (!requirementHolds(req, Object.hasOwn(labels, req.key) ? labels[req.key] : undefined)) return false;
  }
  for (const req of term.matchFields) {
    if (!requirementHolds(req, req.key === 'metadata.name' ? node.name : undefined)) return false;
  }
  return true;
}

export const nodeAffinity: Filter = {
  name: 'NodeAffinity',
  terminal: false,
  check(pod, node) {
    for (const [k, v] of pod.nodeSelector) if (node.labels[k] !== v) return affinityMismatch;
    if (pod.requiredTerms.length > 0 && !pod.requiredTerms.some((t) => termMatches(t, node))) {
      return affinityMismatch;
    }
    return undefined;
  },
};

export const hostPortsFree: Filter = {
  name: 'NodePorts',
  terminal: false,
  check(pod, node) {
    if (pod.hostPorts.length === 0 || node.ports.length === 0) return undefined;
    for (const want of pod.hostPorts) {
      for (const taken of node.ports) if (hostPortsCollide(taken, want)) return portsTaken;
    }
    return undefined;
  },
};

export const resourcesFit: Filter = {
  name: 'NodeResourcesFit',
  terminal: false,
  check(pod, node) {
    const cpu = pod.cpu > 0 && node.cpu + pod.cpu > node.allocCpu;
    const memory = pod.memory > 0 && node.memory + pod.memory > node.allocMemory;
    const pods = node.pods + 1 > node.allocPods;
    if (!cpu && !memory && !pods) return undefined;
    const out: string[] = [];
    if (cpu) out.push(rejections.insufficientCpu);
    if (memory) out.push(rejections.insufficientMemory);
    if (pods) out.push(rejections.tooManyPods);
    return out;
  },
};
