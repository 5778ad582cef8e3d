// The desired pods for this node, held in memory and offered to whoever converges the
// host to them (the runtime, from issue 4 on). Two ways to follow it: a listener, or an
// async iterator that starts with the current set.
import type { AssignmentEvent, Pod } from '@flotilla/proto';
import {
  type ApplyResult,
  type AssignmentState,
  type DesiredChange,
  applyAssignmentEvent,
  emptyAssignmentState,
} from './assignment-state.js';

export type DesiredListener = (change: DesiredChange, set: DesiredSet) => void;

export class DesiredSet {
  private state: AssignmentState = emptyAssignmentState;
  private readonly listeners = new Set<DesiredListener>();

  get revision(): number {
    return this.state.revision;
  }

  /** False until the first SNAPSHOT: before that, "not in the set" means "not known yet". */
  get synced(): boolean {
    return this.state.synced;
  }

  keys(): string[] {
    return [...this.state.pods.keys()].sort();
  }

  pods(): Pod[] {
    return this.keys().map((k) => this.state.pods.get(k) as Pod);
  }

  get(key: string): Pod | undefined {
    return this.state.pods.get(key);
  }

  /** Applies one stream event and tells the listeners what changed. */
  apply(event: AssignmentEvent): ApplyResult {
    const result = applyAssignmentEvent(this.state, event);
    this.state = result.state;
    if (result.change) for (const l of this.listeners) l(result.change, this);
    return result;
  }

  onChange(listener: DesiredListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Every change from now on, starting with the current set as a snapshot (when synced),
   * until the signal aborts.
   */
  async *changes(signal?: AbortSignal): AsyncGenerator<DesiredChange> {
    const queue: DesiredChange[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.onChange((change) => {
      queue.push(change);
      wake?.();
    });
    const onAbort = (): void => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      if (this.synced) {
        yield { kind: 'snapshot', revision: this.revision, added: this.keys(), modified: [], deleted: [] };
      }
      while (!signal?.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
