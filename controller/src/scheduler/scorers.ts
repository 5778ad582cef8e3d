// Ranking: among the feasible nodes, which is best? Each scorer gives every feasible node
// 0–100 (normalised over the candidates, as kube-scheduler's NormalizeScore), and the
// planner adds them up with the profile's weights. Pure.
import type { PodDemand } from './pod-demand.js';
import { termMatches, untolerated } from './filters.js';
import type { NodeInfo, SchedulingSnapshot } from './snapshot.js';

export const maxScore = 100;

export interface Scorer {
  readonly name: string;
  readonly weight: number;
  /** Writes each candidate's score (0–100) to out[i]. */
  scoreAll(pod: PodDemand, nodes: readonly NodeInfo[], out: Float64Array, snapshot: SchedulingSnapshot): void;
}

/** Scales raw values so the largest is 100 (or, reversed, the largest is 0); all zero stays zero (or 100). */
function normalize(out: Float64Array, n: number, reverse: boolean): void {
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, out[i] ?? 0);
  for (let i = 0; i < n; i++) {
    const v = max === 0 ? 0 : ((out[i] ?? 0) * maxScore) / max;
    out[i] = reverse ? maxScore - v : v;
  }
}

function freeFraction(used: number, allocatable: number): number {
  if (allocatable === Infinity) return 1;
  if (allocatable <= 0 || used >= allocatable) return 0;
  return (allocatable - used) / allocatable;
}

export type ResourceStrategy = 'LeastAllocated' | 'MostAllocated';

/**
 * LeastAllocated spreads load (the default: a node's failure hurts fewer pods);
 * MostAllocated packs nodes full so that others stay empty (fewer machines). cpu and
 * memory weigh the same; pods that request nothing count Kubernetes' defaults.
 */
export function resourceAllocation(strategy: ResourceStrategy, weight = 1): Scorer {
  const most = strategy === 'MostAllocated';
  return {
    name: strategy,
    weight,
    scoreAll(pod, nodes, out) {
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i] as NodeInfo;
        const cpu = freeFraction(node.scoreCpu + pod.scoreCpu, node.allocCpu);
        const memory = freeFraction(node.scoreMemory + pod.scoreMemory, node.allocMemory);
        const free = (cpu + memory) / 2;
        out[i] = (most ? 1 - free : free) * maxScore;
      }
    },
  };
}

/**
 * Fewer pods of the same group (a ReplicaSet's, or same-labelled pods) on the node and in
 * its zone score higher: one node or zone lost takes fewer of them. As Kubernetes'
 * SelectorSpread, the zone counts for two thirds when the nodes have zones.
 */
export function spreadGroup(weight = 2): Scorer {
  const zoneWeight = 2 / 3;
  let zoneCounts = new Float64Array(0);
  return {
    name: 'SelectorSpread',
    weight,
    scoreAll(pod, nodes, out, snapshot) {
      if (pod.spreadGroup === '') {
        out.fill(0, 0, nodes.length);
        return;
      }
      // A group never placed has no counts to look up.
      const group = snapshot.groupId(pod.spreadGroup) ?? -1;
      let maxNode = 0;
      let maxZone = 0;
      let zoned = false;
      if (zoneCounts.length < nodes.length) zoneCounts = new Float64Array(nodes.length * 2);
      // Zones are few: each one's count is looked up once per pod, not once per node.
      const perZone = new Float64Array(snapshot.zoneNames.length).fill(-1);
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i] as NodeInfo;
        const here = group < 0 ? 0 : (node.groups.get(group) ?? 0);
        out[i] = here;
        if (here > maxNode) maxNode = here;
        if (node.zoneId >= 0) {
          zoned = true;
          let inZone = perZone[node.zoneId] ?? -1;
          if (inZone < 0) {
            inZone = group < 0 ? 0 : snapshot.groupInZone(node.zone, group);
            perZone[node.zoneId] = inZone;
          }
          zoneCounts[i] = inZone;
          if (inZone > maxZone) maxZone = inZone;
        }
      }
      for (let i = 0; i < nodes.length; i++) {
        const nodeScore = maxNode === 0 ? maxScore : (maxScore * (maxNode - (out[i] ?? 0))) / maxNode;
        if (!zoned) {
          out[i] = nodeScore;
          continue;
        }
        const zoneScore =
          (nodes[i] as NodeInfo).zoneId < 0
            ? 0
            : maxZone === 0
              ? maxScore
              : (maxScore * (maxZone - (zoneCounts[i] ?? 0))) / maxZone;
        out[i] = nodeScore * (1 - zoneWeight) + zoneScore * zoneWeight;
      }
    },
  };
}

const mb = 1024 * 1024;
/** Below this an image pulls fast enough not to matter; above the cap more is not better. */
const minImageBytes = 23 * mb;
const maxImageBytesPerContainer = 1000 * mb;

/**
 * Nodes that already hold the pod's images start it sooner. Kubernetes' ImageLocality
 * thresholds; unlike it, an image's score is not discounted by how few nodes have it.
 */
export function imageLocality(weight = 1): Scorer {
  return {
    name: 'ImageLocality',
    weight,
    scoreAll(pod, nodes, out) {
      const cap = maxImageBytesPerContainer * Math.max(1, pod.images.length);
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i] as NodeInfo;
        let sum = 0;
        if (node.images.size > 0) for (const image of pod.images) sum += node.images.get(image) ?? 0;
        const clamped = Math.min(Math.max(sum, minImageBytes), cap);
        out[i] = (maxScore * (clamped - minImageBytes)) / (cap - minImageBytes);
      }
    },
  };
}

/** PreferNoSchedule taints the pod does not tolerate: the more, the lower. */
export function preferNoScheduleTaints(weight = 3): Scorer {
  return {
    name: 'TaintToleration',
    weight,
    scoreAll(pod, nodes, out) {
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i] as NodeInfo;
        let count = 0;
        if (node.softTaints.length > 0) {
          for (const taint of node.softTaints) if (untolerated([taint], pod.tolerations)) count++;
        }
        out[i] = count;
      }
      normalize(out, nodes.length, true);
    },
  };
}

/** The weights of the pod's preferred node affinity terms the node matches. */
export function preferredNodeAffinity(weight = 2): Scorer {
  return {
    name: 'NodeAffinity',
    weight,
    scoreAll(pod, nodes, out) {
      for (let i = 0; i < nodes.length; i++) {
        let sum = 0;
        for (const p of pod.preferredTerms) if (termMatches(p.term, nodes[i] as NodeInfo)) sum += p.weight;
        out[i] = sum;
      }
      normalize(out, nodes.length, false);
    },
  };
}
