// The scheduler's picture of the cluster: per node, what it offers (allocatable parsed
// once), what the pods bound to it already take, and the facts the filters and scorers
// read. Kept current incrementally — a node or pod change touches one node's sums — so a
// placement never re-reads the cluster. The planner's tentative placements ("assumed")
// count like bound pods until the binding arrives from the store or is forgotten. Pure.
import type { Node, Pod, Taint } from '@flotilla/proto';
import { isNodeReady } from '../nodes/conditions.js';
import { resourceAmount, scaledQuantity } from '../pods/quantity.js';
import {
  canonicalImage,
  isPodFinished,
  podDemand,
  type HostPortClaim,
  type PodDemand,
} from './pod-demand.js';

export const zoneLabel = 'topology.kubernetes.io/zone';

export interface NodeInfo {
  readonly name: string;
  /** undefined for a node pods are bound to but that is not (or no longer) in the store. */
  node: Node | undefined;
  labels: Record<string, string>;
  /** The topology.kubernetes.io/zone label; "" when it has none. */
  zone: string;
  /** The zone as a small integer (SchedulingSnapshot.zoneNames), -1 without one. */
  zoneId: number;
  ready: boolean;
  unschedulable: boolean;
  /** NoSchedule and NoExecute taints: a pod must tolerate them to be placed. */
  hardTaints: Taint[];
  /** PreferNoSchedule taints: scored against, not filtered. */
  softTaints: Taint[];
  /** Allocatable millicores, bytes and pod count; Infinity when the node does not say. */
  allocCpu: number;
  allocMemory: number;
  allocPods: number;
  /** Sums over the unfinished pods bound or assumed here. */
  cpu: number;
  memory: number;
  scoreCpu: number;
  scoreMemory: number;
  pods: number;
  ports: HostPortClaim[];
  /** Image reference → size in bytes. */
  images: Map<string, number>;
  /** Spread group id (SchedulingSnapshot.groupId) → how many of its pods are here. */
  groups: Map<number, number>;
}

interface Placed {
  node: string;
  demand: PodDemand;
  assumed: boolean;
}

function parsed(text: string | undefined, parse: (text: string) => bigint | undefined): number {
  if (text === undefined) return Infinity;
  const value = parse(text);
  return value === undefined ? Infinity : Number(value);
}

function emptyInfo(name: string): NodeInfo {
  return {
    name,
    node: undefined,
    labels: {},
    zone: '',
    zoneId: -1,
    ready: false,
    unschedulable: false,
    hardTaints: [],
    softTaints: [],
    allocCpu: Infinity,
    allocMemory: Infinity,
    allocPods: Infinity,
    cpu: 0,
    memory: 0,
    scoreCpu: 0,
    scoreMemory: 0,
    pods: 0,
    ports: [],
    images: new Map(),
    groups: new Map(),
  };
}

export class SchedulingSnapshot {
  private readonly infos = new Map<string, NodeInfo>();
  private readonly placed = new Map<string, Placed>();
  /** Zone → spread group → pods of the group in the zone. */
  private readonly zoneGroups = new Map<string, Map<number, number>>();
  /** Spread groups as small integers: the scorer looks one up per node and pod. */
  private readonly groupIds = new Map<string, number>();
  private readonly zoneIds = new Map<string, number>();
  /** Zone names by zone id. */
  readonly zoneNames: string[] = [];
  /** The nodes known to the store, by name; rebuilt lazily after a node comes or goes. */
  private sorted: NodeInfo[] | undefined;

  /** Adds or replaces a node as the store has it. */
  setNode(node: Node): void {
    const name = node.metadata?.name ?? '';
    if (name === '') return;
    let info = this.infos.get(name);
    if (!info) {
      info = emptyInfo(name);
      this.infos.set(name, info);
    }
    if (!info.node) this.sorted = undefined;
    const labels = node.metadata?.labels ?? {};
    this.moveZone(info, labels[zoneLabel] ?? '');
    info.node = node;
    info.labels = labels;
    info.ready = isNodeReady(node);
    info.unschedulable = node.spec?.unschedulable ?? false;
    const taints = node.spec?.taints ?? [];
    info.hardTaints = taints.filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
    info.softTaints = taints.filter((t) => t.effect === 'PreferNoSchedule');
    const alloc = node.status?.allocatable ?? {};
    info.allocCpu = parsed(alloc.cpu, (t) => resourceAmount('cpu', t));
    info.allocMemory = parsed(alloc.memory, (t) => resourceAmount('memory', t));
    info.allocPods = parsed(alloc.pods, (t) => scaledQuantity(t, 1n));
    info.images = new Map();
    for (const image of node.status?.images ?? []) {
      for (const n of image.names) info.images.set(canonicalImage(n), image.sizeBytes);
    }
  }

  /** The node left the store; pods still bound to it keep counting there. */
  removeNode(name: string): void {
    const info = this.infos.get(name);
    if (!info?.node) return;
    this.moveZone(info, '');
    info.node = undefined;
    info.ready = false;
    this.sorted = undefined;
    if (info.pods === 0) this.infos.delete(name);
  }

  /** Records a pod as the store has it: it counts where it is bound until it finishes. */
  setPod(key: string, pod: Pod): void {
    const nodeName = pod.spec?.nodeName ?? '';
    const counts = nodeName !== '' && !isPodFinished(pod);
    const current = this.placed.get(key);
    if (current && counts && current.node === nodeName) {
      current.assumed = false;
      return;
    }
    if (current) this.unplace(key, current);
    if (counts) this.place(key, { node: nodeName, demand: podDemand(key, pod), assumed: false });
  }

  removePod(key: string): void {
    const current = this.placed.get(key);
    if (current) this.unplace(key, current);
  }

  /** A tentative placement: counts on the node until the store confirms or it is forgotten. */
  assume(demand: PodDemand, nodeName: string): void {
    const current = this.placed.get(demand.key);
    if (current) this.unplace(demand.key, current);
    this.place(demand.key, { node: nodeName, demand, assumed: true });
  }

  /** Undoes an assumption whose binding was not written; a confirmed placement stays. */
  forget(key: string): void {
    const current = this.placed.get(key);
    if (current?.assumed) this.unplace(key, current);
  }

  /** The nodes in the store, in name order (the planner's walk starts somewhere in it). */
  nodes(): readonly NodeInfo[] {
    this.sorted ??= [...this.infos.values()]
      .filter((i) => i.node !== undefined)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.sorted;
  }

  node(name: string): NodeInfo | undefined {
    const info = this.infos.get(name);
    return info?.node ? info : undefined;
  }

  /** Where the pod counts (bound or assumed), if anywhere. */
  nodeOf(key: string): string | undefined {
    return this.placed.get(key)?.node;
  }

  /** Pods of the spread group in the zone. */
  groupInZone(zone: string, group: number): number {
    return this.zoneGroups.get(zone)?.get(group) ?? 0;
  }

  /** The id of a spread group; undefined when no pod of it was ever placed. */
  groupId(group: string): number | undefined {
    return this.groupIds.get(group);
  }

  private place(key: string, p: Placed): void {
    let info = this.infos.get(p.node);
    if (!info) {
      info = emptyInfo(p.node);
      this.infos.set(p.node, info);
    }
    this.placed.set(key, p);
    this.add(info, p.demand, 1);
  }

  private unplace(key: string, p: Placed): void {
    this.placed.delete(key);
    const info = this.infos.get(p.node);
    if (!info) return;
    this.add(info, p.demand, -1);
    if (!info.node && info.pods === 0) this.infos.delete(p.node);
  }

  private add(info: NodeInfo, d: PodDemand, sign: 1 | -1): void {
    info.cpu += sign * d.cpu;
    info.memory += sign * d.memory;
    info.scoreCpu += sign * d.scoreCpu;
    info.scoreMemory += sign * d.scoreMemory;
    info.pods += sign;
    if (sign === 1) info.ports.push(...d.hostPorts);
    else {
      for (const claim of d.hostPorts) {
        const i = info.ports.findIndex(
          (p) => p.port === claim.port && p.ip === claim.ip && p.protocol === claim.protocol,
        );
        if (i >= 0) info.ports.splice(i, 1);
      }
    }
    if (d.spreadGroup !== '') {
      let id = this.groupIds.get(d.spreadGroup);
      if (id === undefined) {
        id = this.groupIds.size;
        this.groupIds.set(d.spreadGroup, id);
      }
      bump(info.groups, id, sign);
      if (info.zone !== '') bump(this.zoneMap(info.zone), id, sign);
    }
  }

  private zoneMap(zone: string): Map<number, number> {
    let m = this.zoneGroups.get(zone);
    if (!m) {
      m = new Map();
      this.zoneGroups.set(zone, m);
    }
    return m;
  }

  /** A node's zone changed: its pods' group counts move with it. */
  private moveZone(info: NodeInfo, zone: string): void {
    if (info.zone === zone) return;
    for (const [group, n] of info.groups) {
      if (info.zone !== '') bump(this.zoneMap(info.zone), group, -n);
      if (zone !== '') bump(this.zoneMap(zone), group, n);
    }
    info.zone = zone;
    let id = zone === '' ? -1 : this.zoneIds.get(zone);
    if (id === undefined) {
      id = this.zoneNames.length;
      this.zoneIds.set(zone, id);
      this.zoneNames.push(zone);
    }
    info.zoneId = id;
  }
}

function bump(m: Map<number, number>, key: number, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n === 0) m.delete(key);
  else m.set(key, n);
}
