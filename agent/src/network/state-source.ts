// The cluster network as the controller last described it to this node (the NodeGateway
// Network stream). The stream client keeps it; routes, the service proxy and the node's
// DNS read it. Consumers must cope with no state yet (before the first one arrives, and
// while the controller is unreachable at start): they keep what they programmed before.
import { serviceRouteKey } from '@flotilla/common';
import type { NetworkState } from '@flotilla/proto';

/**
 * The complete state a delta (NetworkState.delta) makes of the one before it: entries
 * replaced or added by name (a service's "namespace/name"), the removed ones dropped, the
 * scalar fields the delta's. Entries keep the previous state's order, new ones after it
 * (consumers sort for themselves). A complete state is returned as it is. Pure.
 */
export function applyNetworkDelta(base: NetworkState, next: NetworkState): NetworkState {
  if (!next.delta) return next;
  const replace = <T>(
    old: readonly T[],
    changed: readonly T[],
    removed: readonly string[],
    key: (t: T) => string,
  ): T[] => {
    const byKey = new Map(changed.map((t) => [key(t), t]));
    const gone = new Set(removed);
    const out: T[] = [];
    for (const t of old) {
      const k = key(t);
      if (gone.has(k)) continue;
      const newer = byKey.get(k);
      out.push(newer ?? t);
      byKey.delete(k);
    }
    for (const t of byKey.values()) out.push(t);
    return out;
  };
  return {
    ...next,
    nodes: replace(base.nodes, next.nodes, next.removedNodes, (n) => n.name),
    services: replace(base.services, next.services, next.removedServices, serviceRouteKey),
    delta: false,
    removedNodes: [],
    removedServices: [],
  };
}

export interface NetworkStateSource {
  /** The newest state received, or undefined before the first. */
  current(): NetworkState | undefined;
  /** Calls listener with every new state (not with the current one); returns unsubscribe. */
  onChange(listener: (state: NetworkState) => void): () => void;
}

/** A source whose state is set by hand: the stream client's store, and tests' fake. */
export class NetworkStateHolder implements NetworkStateSource {
  private state: NetworkState | undefined;
  private readonly listeners = new Set<(state: NetworkState) => void>();

  current(): NetworkState | undefined {
    return this.state;
  }

  onChange(listener: (state: NetworkState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(state: NetworkState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }
}
