// The cluster network as the controller last described it to this node (the NodeGateway
// Network stream). The stream client keeps it; routes, the service proxy and the node's
// DNS read it. Consumers must cope with no state yet (before the first one arrives, and
// while the controller is unreachable at start): they keep what they programmed before.
import type { NetworkState } from '@flotilla/proto';

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
