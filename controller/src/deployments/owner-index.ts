// A secondary index over an informer's copy: its objects grouped by a key derived from
// each (the uid of the ReplicaSet controlling a pod, the deployment a ReplicaSet belongs
// to), kept current from the informer's changes. A deployment pass reads the pods of its
// own ReplicaSets here instead of scanning every pod of the namespace, which made the
// loop quadratic in the pods of a namespace (BENCHMARKS.md, "Control plane").
import type { InformerChange } from '../store/informer.js';

export class OwnerIndex<T> {
  private readonly groups = new Map<string, Map<string, T>>();

  /** groupOf: the group an object belongs to, undefined for none (it is not indexed). */
  constructor(private readonly groupOf: (value: T) => string | undefined) {}

  /** Follows one change of the informer's copy (listeners get them in order). */
  apply(change: InformerChange<T>): void {
    if (change.previous !== undefined) this.remove(change.key, change.previous);
    if (change.type === 'put') this.add(change.key, change.value);
  }

  /** Indexes what a copy held before this index listened to it (key, value pairs). */
  seed(entries: Iterable<readonly [string, T]>): void {
    for (const [key, value] of entries) this.add(key, value);
  }

  /** The objects of one group, by store key; empty when there are none. */
  get(group: string): ReadonlyMap<string, T> {
    return this.groups.get(group) ?? empty;
  }

  /** How many groups hold objects (tests, metrics). */
  get size(): number {
    return this.groups.size;
  }

  private add(key: string, value: T): void {
    const group = this.groupOf(value);
    if (group === undefined) return;
    let members = this.groups.get(group);
    if (!members) {
      members = new Map();
      this.groups.set(group, members);
    }
    members.set(key, value);
  }

  private remove(key: string, value: T): void {
    const group = this.groupOf(value);
    if (group === undefined) return;
    const members = this.groups.get(group);
    if (!members) return;
    members.delete(key);
    if (members.size === 0) this.groups.delete(group);
  }
}

const empty: ReadonlyMap<string, never> = new Map<string, never>();
