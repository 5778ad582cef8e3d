// What the NodeGateway's Network and AwaitEndpointsDrained calls are served by: the
// cluster network as one controller sees it (nodes' pod CIDRs and addresses, services,
// endpoints, and which endpoints revision each node has programmed).
import type {
  AwaitEndpointsDrainedRequest,
  AwaitEndpointsDrainedResponse,
  NetworkState,
} from '@flotilla/proto';

export interface FollowOptions {
  /** The follower applies deltas (NetworkRequest.acceptDeltas): states after the first may be. */
  deltas?: boolean;
}

export interface ClusterNetwork {
  /**
   * Sends nodeName's NetworkState now and a new one after every change (complete, or a
   * delta when options.deltas), until signal aborts (resolves) or sending fails (rejects).
   */
  follow(
    nodeName: string,
    send: (state: NetworkState) => Promise<void>,
    signal: AbortSignal,
    options?: FollowOptions,
  ): Promise<void>;
  /** See AwaitEndpointsDrained in gateway.proto; the caller has checked the node's identity. */
  awaitEndpointsDrained(
    request: AwaitEndpointsDrainedRequest,
    signal: AbortSignal,
  ): Promise<AwaitEndpointsDrainedResponse>;
}
