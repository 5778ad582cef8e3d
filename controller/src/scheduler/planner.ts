// Placement: for each pending pod, the feasible nodes (filters), the best of them
// (weighted scorers), and the placement assumed on the snapshot before the next pod, so
// a batch never overcommits a node. The walk over the nodes starts at a seeded random
// offset and ties go to the first in the walk: the same snapshot, pods and seed give the
// same plan. Pure apart from the snapshot it updates.
import type { Pod } from '@flotilla/proto';
import { podDemand, type PodDemand } from './pod-demand.js';
import { feasibleNodesToFind, type SchedulerProfile } from './profile.js';
import { unschedulableMessage } from './message.js';
import type { NodeInfo, SchedulingSnapshot } from './snapshot.js';

export type Placement = { nodeName: string } | { nodeName: undefined; message: string };

export interface PendingPod {
  key: string;
  pod: Pod;
}

export interface Binding {
  key: string;
  pod: Pod;
  nodeName: string;
}

export interface Unschedulable {
  key: string;
  pod: Pod;
  message: string;
}

export interface Plan {
  bindings: Binding[];
  unschedulable: Unschedulable[];
}

/** mulberry32: a small seeded generator, enough for choosing where a walk starts. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Planner {
  private feasible: NodeInfo[] = [];
  private scores = new Float64Array(0);
  private total = new Float64Array(0);

  constructor(
    private readonly profile: SchedulerProfile,
    private readonly random: () => number,
  ) {}

  /** Where the pod goes, without assuming it. */
  place(snapshot: SchedulingSnapshot, pod: PodDemand): Placement {
    const nodes = snapshot.nodes();
    const n = nodes.length;
    if (n === 0) return { nodeName: undefined, message: unschedulableMessage(0, new Map()) };
    const want = feasibleNodesToFind(n, this.profile.percentageOfNodesToScore);
    const start = Math.floor(this.random() * n);
    const feasible = this.feasible;
    feasible.length = 0;
    let counts: Map<string, number> | undefined;
    for (let i = 0; i < n && feasible.length < want; i++) {
      const node = nodes[(start + i) % n] as NodeInfo;
      let rejected = false;
      for (const filter of this.profile.filters) {
        const reasons = filter.check(pod, node);
        if (!reasons) continue;
        rejected = true;
        counts ??= new Map();
        for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
        if (filter.terminal) break;
      }
      if (!rejected) feasible.push(node);
    }
    if (feasible.length === 0) {
      return { nodeName: undefined, message: unschedulableMessage(n, counts ?? new Map()) };
    }
    if (feasible.length === 1) return { nodeName: (feasible[0] as NodeInfo).name };
    if (this.scores.length < feasible.length) {
      this.scores = new Float64Array(feasible.length * 2);
      this.total = new Float64Array(feasible.length * 2);
    }
    const total = this.total;
    total.fill(0, 0, feasible.length);
    for (const scorer of this.profile.scorers) {
      scorer.scoreAll(pod, feasible, this.scores, snapshot);
      for (let i = 0; i < feasible.length; i++)
        total[i] = (total[i] ?? 0) + scorer.weight * (this.scores[i] ?? 0);
    }
    let best = 0;
    for (let i = 1; i < feasible.length; i++) if ((total[i] ?? 0) > (total[best] ?? 0)) best = i;
    return { nodeName: (feasible[best] as NodeInfo).name };
  }

  /**
   * Places the pods in order, each assumed on the snapshot before the next. The caller
   * forgets the assumptions of bindings it could not write.
   */
  plan(snapshot: SchedulingSnapshot, pods: readonly PendingPod[]): Plan {
    const plan: Plan = { bindings: [], unschedulable: [] };
    for (const { key, pod } of pods) {
      const demand = podDemand(key, pod);
      const placement = this.place(snapshot, demand);
      if (placement.nodeName === undefined) {
        plan.unschedulable.push({ key, pod, message: placement.message });
        continue;
      }
      snapshot.assume(demand, placement.nodeName);
      plan.bindings.push({ key, pod, nodeName: placement.nodeName });
    }
    return plan;
  }
}

/** One batch with a fresh seeded planner: the reproducible entry point. */
export function planBatch(
  snapshot: SchedulingSnapshot,
  pods: readonly PendingPod[],
  profile: SchedulerProfile,
  seed: number,
): Plan {
  return new Planner(profile, seededRandom(seed)).plan(snapshot, pods);
}
