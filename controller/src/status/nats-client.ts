// The controller's NATS connection. It connects in the background and keeps retrying,
// so a controller starts (and serves the API) while NATS is still down; once connected,
// the client reconnects by itself forever.
import { connect, Events, jwtAuthenticator, type NatsConnection, type Subscription } from 'nats';
import { errorMessage, newUserSeed, signUserJwt, type Logger, type NatsKeys } from '@flotilla/common';
import { Backoff, sleep } from '../util/backoff.js';

export type NatsHandler = (subject: string, data: Uint8Array) => void;

export interface NatsState {
  connected: boolean;
  /** When the current connection came up (ms since the epoch); undefined while disconnected. */
  connectedSince: number | undefined;
  server: string;
  lastError: string;
}

export class ControllerNats {
  private connection: NatsConnection | undefined;
  private readonly subscriptions: { subject: string; handler: NatsHandler; sub?: Subscription }[] = [];
  private readonly connectListeners: (() => void)[] = [];
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  readonly state: NatsState = { connected: false, connectedSince: undefined, server: '', lastError: '' };

  constructor(
    private readonly urls: string[],
    private readonly keys: NatsKeys,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.running = this.connectLoop();
  }

  /** Subscribes now if connected, else as soon as the connection is up. */
  subscribe(subject: string, handler: NatsHandler): void {
    const entry: { subject: string; handler: NatsHandler; sub?: Subscription } = { subject, handler };
    this.subscriptions.push(entry);
    if (this.connection) entry.sub = this.attach(this.connection, subject, handler);
  }

  /** Calls listener each time the connection comes up: first connect and every reconnect. */
  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  /** A request/reply round trip; rejects when disconnected, on no responders or after timeoutMs. */
  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const nc = this.connection;
    if (!nc || !this.state.connected) throw new Error('not connected to NATS');
    const reply = await nc.request(subject, data, { timeout: timeoutMs });
    return reply.data;
  }

  private announceConnected(): void {
    for (const listener of this.connectListeners) {
      try {
        listener();
      } catch (err) {
        this.log.warn('a NATS connect listener failed', { err: errorMessage(err) });
      }
    }
  }

  /** Drains a healthy connection (bounded by drainMs) and closes any other at once. */
  async close(drainMs = 2_000): Promise<void> {
    this.abort.abort();
    const nc = this.connection;
    if (nc && !nc.isClosed()) {
      // Draining a connection that is reconnecting would wait for a server that may never come.
      if (this.state.connected) await drainWithin(nc, drainMs);
      // Always close as well: a drain that a disconnection interrupts resolves, yet leaves
      // the client reconnecting forever.
      await nc.close().catch(() => undefined);
    }
    await this.running;
  }

  private attach(nc: NatsConnection, subject: string, handler: NatsHandler): Subscription {
    return nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn('NATS subscription failed', { subject, err: errorMessage(err) });
          return;
        }
        handler(msg.subject, msg.data);
      },
    });
  }

  private async connectLoop(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff({ initialMs: 250, maxMs: 5_000 });
    let failures = 0;
    while (!signal.aborted) {
      // A fresh user key per connection attempt: the JWT is signed here with the account
      // seed, so the controller needs no credential file.
      const user = newUserSeed();
      const jwt = signUserJwt(this.keys, user.publicKey, 'flotilla-controller', {
        pub: { allow: ['>'] },
        sub: { allow: ['>'] },
      });
      try {
        const nc = await connect({
          servers: this.urls,
          name: 'flotilla-controller',
          authenticator: jwtAuthenticator(jwt, new TextEncoder().encode(user.seed)),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          pingInterval: 10_000,
        });
        if (signal.aborted) {
          await nc.close();
          return;
        }
        this.connection = nc;
        this.state.connected = true;
        this.state.connectedSince = Date.now();
        this.state.server = nc.getServer();
        this.state.lastError = '';
        failures = 0;
        backoff.reset();
        this.log.info('connected to NATS', { server: nc.getServer() });
        for (const entry of this.subscriptions) entry.sub = this.attach(nc, entry.subject, entry.handler);
        void this.watchStatus(nc);
        this.announceConnected();
        const closed = await nc.closed();
        this.connection = undefined;
        this.state.connected = false;
        this.state.connectedSince = undefined;
        if (signal.aborted) return;
        this.log.warn('NATS connection closed; connecting again', {
          err: closed ? errorMessage(closed) : undefined,
        });
      } catch (err) {
        if (signal.aborted) return;
        this.state.lastError = errorMessage(err);
        const delay = backoff.next();
        failures++;
        // The first failure and every tenth at warn: a long outage should not flood the log.
        const level = failures === 1 || failures % 10 === 0 ? 'warn' : 'debug';
        this.log[level]('cannot connect to NATS; retrying', {
          servers: this.urls,
          err: errorMessage(err),
          attempt: failures,
          retryInMs: delay,
        });
        await sleep(delay, signal);
      }
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      const data = typeof s.data === 'object' ? JSON.stringify(s.data) : String(s.data);
      if (s.type === Events.Disconnect) {
        this.state.connected = false;
        this.state.connectedSince = undefined;
        this.log.warn('NATS disconnected; reconnecting', { server: data });
      } else if (s.type === Events.Reconnect) {
        this.state.connected = true;
        this.state.connectedSince = Date.now();
        this.state.server = nc.getServer();
        this.log.info('NATS reconnected', { server: data });
        this.announceConnected();
      } else if (s.type === Events.Error) {
        this.state.lastError = data;
      }
    }
  }
}

async function drainWithin(nc: NatsConnection, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      nc.drain().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
