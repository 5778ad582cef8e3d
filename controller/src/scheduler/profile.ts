// The pipeline, wired in one place: which filters decide feasibility, in which order, and
// which scorers rank the feasible nodes, with what weight.
import {
  hostPortsFree,
  nodeAffinity,
  nodeReady,
  nodeSchedulable,
  resourcesFit,
  taintToleration,
  type Filter,
} from './filters.js';
import {
  imageLocality,
  preferNoScheduleTaints,
  preferredNodeAffinity,
  resourceAllocation,
  spreadGroup,
  type ResourceStrategy,
  type Scorer,
} from './scorers.js';

export interface SchedulerProfile {
  filters: readonly Filter[];
  scorers: readonly Scorer[];
  /**
   * Stop looking once this share of the nodes (1–100) was found feasible; 0 adapts to the
   * cluster size as Kubernetes' percentageOfNodesToScore does. Small clusters are always
   * searched whole.
   */
  percentageOfNodesToScore: number;
}

export interface ProfileOptions {
  resources?: ResourceStrategy;
  percentageOfNodesToScore?: number;
}

export function schedulerProfile(options: ProfileOptions = {}): SchedulerProfile {
  return {
    filters: [
      // The node's own state first: cheap, and a node that is down or cordoned has no
      // other reason worth reporting.
      nodeReady,
      nodeSchedulable,
      // Then what the pod demands of the node's identity, then of its free capacity —
      // kube-scheduler's order, so the counted reasons read the same.
      taintToleration,
      nodeAffinity,
      hostPortsFree,
      resourcesFit,
    ],
    scorers: [
      // Weights as kube-scheduler's defaults: an untolerated soft taint outweighs the rest,
      // the user's own preference and the spread of a group come next.
      preferNoScheduleTaints(3),
      preferredNodeAffinity(2),
      spreadGroup(2),
      resourceAllocation(options.resources ?? 'LeastAllocated', 1),
      imageLocality(1),
    ],
    percentageOfNodesToScore: options.percentageOfNodesToScore ?? 0,
  };
}

const minFeasibleNodesToFind = 100;

/** How many feasible nodes to find before scoring (kube-scheduler's numFeasibleNodesToFind). */
export function feasibleNodesToFind(nodeCount: number, percentage: number): number {
  if (nodeCount < minFeasibleNodesToFind || percentage >= 100) return nodeCount;
  const share = percentage > 0 ? percentage : Math.max(5, 50 - nodeCount / 125);
  return Math.max(minFeasibleNodesToFind, Math.floor((nodeCount * share) / 100));
}
