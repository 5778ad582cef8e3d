// The NodeGateway.Network stream client: follows the controller's NetworkState for this
// node and keeps the newest in a NetworkStateHolder. It asks for deltas: the first state
// of a stream is complete, later ones may carry only what changed, applied on top of the
// stream's previous state (a controller without deltas sends complete states anyway).
// When the stream fails or ends it waits (jittered, 200 ms .. 5 s) and opens it again,
// forever, until stopped. The holder keeps the last state meanwhile: routes and rules
// stay as they are while the controller is away.
import * as grpc from '@grpc/grpc-js';
import { FlotillaError, type Logger, errorMessage, fromServiceError } from '@flotilla/common';
import type { NetworkState, NodeGatewayClient } from '@flotilla/proto';
import { Backoff, sleep } from '../util/backoff.js';
import { applyNetworkDelta, type NetworkStateHolder } from './state-source.js';

export interface NetworkSessionParams {
  /**
   * The client of the controller's NodeGateway, shared with the gateway session (one
   * connection per agent); its owner closes it, after this session stopped.
   */
  client: NodeGatewayClient;
  /** The controller's address, as errors name it. */
  controller: string;
  nodeName: string;
  holder: NetworkStateHolder;
  log: Logger;
}

/** How long a stream must have lasted to count as healthy (back-off starts over). */
const healthyStreamMs = 5_000;

export class NetworkSession {
  private readonly abort = new AbortController();
  private readonly backoff = new Backoff();
  private loop: Promise<void> | undefined;
  private received = 0;
  private lastReason: string | undefined;

  constructor(private readonly params: NetworkSessionParams) {}

  /** States received since start. */
  get statesReceived(): number {
    return this.received;
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) =>
      this.params.log.error('network session stopped unexpectedly', { error: errorMessage(err) }),
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { log } = this.params;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const startedAt = Date.now();
      const outcome = await this.follow();
      if (signal.aborted) break;
      if (outcome.states > 0 && Date.now() - startedAt >= healthyStreamMs) this.backoff.reset();
      const delay = this.backoff.next();
      const reason = outcome.error ? outcome.error.message : 'the controller ended the stream';
      // The same failure again (a controller that does not serve the stream yet) is said once.
      if (reason !== this.lastReason)
        log.warn('network stream interrupted; reconnecting', { reason, retryInMs: delay });
      else log.debug('network stream interrupted; reconnecting', { reason, retryInMs: delay });
      this.lastReason = outcome.states > 0 ? undefined : reason;
      await sleep(delay, signal);
    }
  }

  private follow(): Promise<{ states: number; error?: FlotillaError }> {
    const { holder, log, nodeName, controller } = this.params;
    return new Promise((resolve) => {
      let states = 0;
      let done = false;
      /** This stream's last state, complete: what its next delta applies to. */
      let base: NetworkState | undefined;
      const call = this.params.client.network({ nodeName, acceptDeltas: true });
      const finish = (error?: FlotillaError): void => {
        if (done) return;
        done = true;
        this.abort.signal.removeEventListener('abort', onAbort);
        call.cancel();
        resolve(error ? { states, error } : { states });
      };
      const onAbort = (): void => finish();
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
      call.on('data', (received: NetworkState) => {
        if (received.delta && !base) {
          // Nothing to apply it to (not what a controller sends): a new stream starts complete.
          finish(
            new FlotillaError('Internal', 'the controller sent a network delta before any complete state', {
              field: 'delta',
            }),
          );
          return;
        }
        const state = base ? applyNetworkDelta(base, received) : received;
        base = state;
        states++;
        this.received++;
        if (this.received === 1)
          log.info('network state received', {
            endpointsRevision: state.endpointsRevision,
            nodes: state.nodes.length,
            services: state.services.length,
            webFacing: state.webFacing,
          });
        holder.set(state);
      });
      call.on('error', (err: grpc.ServiceError) =>
        finish(
          err.code === grpc.status.CANCELLED && this.abort.signal.aborted
            ? undefined
            : fromServiceError(err, controller),
        ),
      );
      call.on('end', () => finish());
    });
  }
}
