// Follows the NetworkStateSource and programs the host: routes to the peers, then the
// service proxy. One apply at a time, always of the newest state (states in between are
// skipped: each replaces the one before). A failed apply is logged with what the command
// said and retried with back-off; nothing here ends the agent.
import { type Logger, errorMessage } from '@flotilla/common';
import type { NetworkApplied, NetworkState } from '@flotilla/proto';
import { Backoff, sleep } from '../util/backoff.js';
import { type HostNet, agentHostNet } from './host-net.js';
import { applyProxy, applyRoutes } from './network-apply.js';
import type { NetworkStateSource } from './state-source.js';

export interface NetworkProgrammerParams {
  nodeName: string;
  /** This agent's iptables chain prefix (proxy-rules.ts chainPrefixFor). */
  chainPrefix: string;
  source: NetworkStateSource;
  log: Logger;
  /** Called after each successful apply; the agent publishes it on NATS. */
  onApplied?: (ack: NetworkApplied) => void;
  net?: HostNet;
  now?: () => Date;
}

export class NetworkProgrammer {
  private readonly abort = new AbortController();
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  private readonly net: HostNet;
  private unsubscribe: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private dirty = false;
  private loop: Promise<void> | undefined;
  private applied: NetworkApplied | undefined;
  private appliedState: NetworkState | undefined;

  constructor(private readonly params: NetworkProgrammerParams) {
    this.net = params.net ?? agentHostNet;
  }

  /** The newest state programmed, as the ack says it; undefined before the first. */
  lastApplied(): NetworkApplied | undefined {
    return this.applied;
  }

  start(): void {
    if (this.loop) return;
    this.unsubscribe = this.params.source.onChange(() => this.poke());
    // No state yet: whatever an earlier run programmed stays until the controller speaks.
    if (this.params.source.current() !== undefined) this.dirty = true;
    this.loop = this.run().catch((err: unknown) =>
      this.params.log.error('network programmer stopped unexpectedly', { error: errorMessage(err) }),
    );
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }

  private poke(): void {
    this.dirty = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (!this.dirty) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      this.dirty = false;
      const state = this.params.source.current();
      if (state === undefined) continue;
      try {
        await this.apply(state);
        this.backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        const delay = this.backoff.next();
        this.params.log.warn('network not programmed; retrying', {
          error: errorMessage(err),
          endpointsRevision: state.endpointsRevision,
          retryInMs: delay,
        });
        this.dirty = true;
        // A newer state cuts the wait short: it is the one to program anyway.
        await Promise.race([sleep(delay, signal), new Promise<void>((resolve) => (this.wake = resolve))]);
        this.wake = undefined;
      }
    }
  }

  private async apply(state: NetworkState): Promise<void> {
    const { log, nodeName, chainPrefix } = this.params;
    const started = Date.now();
    // The service rules do not wait for the routes: a peer that cannot be routed must not
    // hold back endpoint changes (nor the ack a draining pod waits for). A route failure
    // still fails the apply, so it is retried.
    let routeError: Error | undefined;
    const routes = await applyRoutes(this.net, nodeName, state).catch((err: unknown) => {
      routeError = err instanceof Error ? err : new Error(String(err));
      return undefined;
    });
    const rules = await applyProxy(this.net, chainPrefix, state);
    const ack: NetworkApplied = {
      nodeName,
      endpointsRevision: state.endpointsRevision,
      appliedAt: (this.params.now?.() ?? new Date()).toISOString(),
    };
    this.applied = ack;
    const first = this.appliedState === undefined;
    this.appliedState = state;
    const details = {
      endpointsRevision: state.endpointsRevision,
      routesReplaced: routes?.replace.map((r) => `${r.dst} via ${r.via}`) ?? [],
      routesDeleted: routes?.delete ?? [],
      chains: rules.chains.nat.length + rules.chains.filter.length,
      chainsDeleted: [...rules.deleted.nat, ...rules.deleted.filter],
      ms: Date.now() - started,
    };
    if (first || details.routesReplaced.length > 0 || details.routesDeleted.length > 0)
      log.info('network programmed', details);
    else log.debug('network programmed', details);
    for (const why of [...(routes?.skipped ?? []), ...rules.skipped]) log.debug('network: left out', { why });
    try {
      this.params.onApplied?.(ack);
    } catch (err) {
      log.warn('network ack not published', { error: errorMessage(err) });
    }
    if (routeError !== undefined) throw routeError;
  }
}
