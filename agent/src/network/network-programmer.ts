// Follows the NetworkStateSource and programs the host: routes to the peers, then the
// service proxy. One apply at a time, always of the newest state (states in between are
// skipped: each replaces the one before). A failed apply is logged with what the command
// said and retried with back-off; nothing here ends the agent.
//
// Most states differ from the one before only in their endpoints revision: every
// Endpoints write makes one, and a pod's not-ready address (which programs nothing)
// changes several times while it starts. Such a state is acked without touching the
// host. A state that does change something, shortly after a full apply, is one
// iptables-restore over the chains that apply left (routes only when the nodes changed);
// reading the tables and routes back (iptables-save, ip route/addr, the jump checks) is
// done on the first apply, after a failure, and when the last full one is older than
// fullApplyEveryMs, so a rule or route someone removed comes back as before.
import { type Logger, errorMessage } from '@flotilla/common';
import { type NetworkApplied, NetworkState } from '@flotilla/proto';
import { Backoff, sleep } from '../util/backoff.js';
import { type HostNet, agentHostNet } from './host-net.js';
import { applyProxy, applyProxyOver, applyRoutes } from './network-apply.js';
import type { ProxyTable } from './proxy-rules.js';
import type { NetworkStateSource } from './state-source.js';

/** How long a full apply's reading of the host is trusted (kube-proxy also resyncs in full now and then). */
export const fullApplyEveryMs = 30_000;

/** What the last successful apply programmed. */
interface Programmed {
  /** The state without its endpoints revision, encoded: equal bytes program the same. */
  content: Buffer;
  /** The state without its revision and services, encoded: what the routes are made of. */
  nodes: Buffer;
  /** Our chains as that apply left them. */
  chains: Record<ProxyTable, string[]>;
  /** When the host was last read back (epoch ms). */
  verifiedAt: number;
}

function contentOf(state: NetworkState): Buffer {
  return Buffer.from(NetworkState.encode({ ...state, endpointsRevision: 0 }).finish());
}

function routesInputOf(state: NetworkState): Buffer {
  return Buffer.from(NetworkState.encode({ ...state, endpointsRevision: 0, services: [] }).finish());
}

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
  private programmed: Programmed | undefined;
  private counts = { full: 0, rulesOnly: 0, unchanged: 0 };

  constructor(private readonly params: NetworkProgrammerParams) {
    this.net = params.net ?? agentHostNet;
  }

  /** The newest state programmed, as the ack says it; undefined before the first. */
  lastApplied(): NetworkApplied | undefined {
    return this.applied;
  }

  /** Applies so far: read back in full, rules only, acked as unchanged (tests, inspection). */
  applies(): { full: number; rulesOnly: number; unchanged: number } {
    return { ...this.counts };
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

  private now(): Date {
    return this.params.now?.() ?? new Date();
  }

  private ack(state: NetworkState): void {
    const ack: NetworkApplied = {
      nodeName: this.params.nodeName,
      endpointsRevision: state.endpointsRevision,
      appliedAt: this.now().toISOString(),
    };
    this.applied = ack;
    this.appliedState = state;
    try {
      this.params.onApplied?.(ack);
    } catch (err) {
      this.params.log.warn('network ack not published', { error: errorMessage(err) });
    }
  }

  private async apply(state: NetworkState): Promise<void> {
    const { log, nodeName, chainPrefix } = this.params;
    const started = Date.now();
    const at = this.now().getTime();
    const content = contentOf(state);
    const previous = this.programmed;
    const trusted = previous !== undefined && at - previous.verifiedAt < fullApplyEveryMs;
    if (trusted && content.equals(previous.content)) {
      this.counts.unchanged++;
      log.debug('network unchanged', { endpointsRevision: state.endpointsRevision });
      this.ack(state);
      return;
    }
    // Encoded only for a state that programs something: most states are acked above.
    const nodes = routesInputOf(state);
    // Whatever fails below, the next attempt reads the host back.
    this.programmed = undefined;
    // The service rules do not wait for the routes: a peer that cannot be routed must not
    // hold back endpoint changes (nor the ack a draining pod waits for). A route failure
    // still fails the apply, so it is retried.
    let routeError: Error | undefined;
    const routes =
      trusted && nodes.equals(previous.nodes)
        ? undefined
        : await applyRoutes(this.net, nodeName, state).catch((err: unknown) => {
            routeError = err instanceof Error ? err : new Error(String(err));
            return undefined;
          });
    const rules = trusted
      ? await applyProxyOver(this.net, chainPrefix, state, previous.chains)
      : await applyProxy(this.net, chainPrefix, state);
    if (trusted) this.counts.rulesOnly++;
    else this.counts.full++;
    const first = this.appliedState === undefined;
    const details = {
      endpointsRevision: state.endpointsRevision,
      full: !trusted,
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
    if (routeError === undefined)
      this.programmed = {
        content,
        nodes,
        chains: rules.chains,
        verifiedAt: trusted ? previous.verifiedAt : at,
      };
    this.ack(state);
    if (routeError !== undefined) throw routeError;
  }
}
