// The agent's NATS side: heartbeats out, resync requests answered. It runs on its own,
// independent of the controller's gRPC: heartbeats keep flowing while the controller is
// down, and a NATS outage only pauses them.
import { type Logger, errorMessage, subjects } from '@flotilla/common';
import { NetworkApplied, NodeHeartbeat, PodStatusReport } from '@flotilla/proto';
import { type NatsConnection, type Status, Events, connect, jwtAuthenticator } from 'nats';
import { readCpuTimes, readMemoryInfo } from '../host/probe.js';
import type { CpuTimes } from '../host/types.js';
import { Backoff, sleep } from '../util/backoff.js';
import { buildHeartbeat } from './heartbeat.js';
import { type ResyncSummary, encodeResyncSummary } from './resync.js';

export interface NatsReporterParams {
  nodeName: string;
  agentInstance: string;
  servers: string[];
  jwt: string;
  seed: string;
  heartbeatIntervalMs: number;
  cpuCount: number;
  /** The agent's state for a resync answer, minus what the reporter adds itself. */
  state: () => Pick<ResyncSummary, 'revision' | 'synced' | 'desiredPods' | 'runningPods'>;
  /** Every pod's latest status, published again on a resync request. */
  podReports?: () => PodStatusInput[];
  /** The newest NetworkState the node programmed: published again with every heartbeat. */
  networkApplied?: () => NetworkApplied | undefined;
  log: Logger;
}

/** One pod's status as the pod manager hands it over; the reporter adds node, instance, sequence, time. */
export interface PodStatusInput {
  namespace: string;
  name: string;
  uid: string;
  status: PodStatusReport['status'];
  removed: boolean;
}

const encoder = new TextEncoder();

export class NatsReporter {
  private readonly abort = new AbortController();
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
  private servers: string[];
  private jwt: string;
  private nc: NatsConnection | undefined;
  private connected = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sequence = 0;
  private beating = false;
  private lastCpu: CpuTimes | undefined;
  private wakeLoop: (() => void) | undefined;
  private reportSequence = 0;
  /** The latest report per pod that could not be published yet (NATS down): never lost, never stale. */
  private readonly unsent = new Map<string, PodStatusInput>();

  constructor(private readonly params: NatsReporterParams) {
    this.servers = params.servers;
    this.jwt = params.jwt;
  }

  get heartbeatsSent(): number {
    return this.sequence;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Publishes a pod's status on subjects.podStatus(node). While NATS is down only the
   * latest report per pod is kept, and sent at the next (re)connect.
   */
  publishPodStatus(input: PodStatusInput): void {
    const key = `${input.namespace}/${input.name}`;
    const nc = this.nc;
    if (!nc || !this.connected || nc.isClosed()) {
      this.unsent.set(key, input);
      return;
    }
    this.unsent.delete(key);
    try {
      nc.publish(subjects.podStatus(this.params.nodeName), this.encodeReport(input));
    } catch (err) {
      this.unsent.set(key, input);
      this.params.log.warn('pod status not published', { pod: key, error: errorMessage(err) });
    }
  }

  /**
   * Publishes NetworkApplied on subjects.networkApplied(node). Not queued while NATS is
   * down: every heartbeat (and so the first after a reconnect) carries the newest again.
   */
  publishNetworkApplied(ack: NetworkApplied): void {
    const nc = this.nc;
    if (!nc || !this.connected || nc.isClosed()) return;
    try {
      nc.publish(subjects.networkApplied(this.params.nodeName), NetworkApplied.encode(ack).finish());
    } catch (err) {
      this.params.log.warn('network ack not published', { error: errorMessage(err) });
    }
  }

  private encodeReport(input: PodStatusInput): Uint8Array {
    const report: PodStatusReport = {
      nodeName: this.params.nodeName,
      namespace: input.namespace,
      name: input.name,
      uid: input.uid,
      status: input.status,
      removed: input.removed,
      agentInstance: this.params.agentInstance,
      sequence: ++this.reportSequence,
      time: new Date().toISOString(),
    };
    return PodStatusReport.encode(report).finish();
  }

  private flushUnsent(): void {
    for (const input of [...this.unsent.values()]) this.publishPodStatus(input);
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run().catch((err: unknown) => {
      this.params.log.error('NATS reporter stopped unexpectedly', { error: errorMessage(err) });
    });
    this.timer = setInterval(() => void this.beat(), this.params.heartbeatIntervalMs);
    this.timer.unref();
  }

  /** A fresh JWT is used from the next (re)connect on. */
  setJwt(jwt: string): void {
    this.jwt = jwt;
  }

  /** New server URLs: reconnect to them when they differ from the current ones. */
  setServers(servers: string[]): void {
    if (servers.length === 0 || sameList(servers, this.servers)) return;
    this.params.log.info('NATS servers changed; reconnecting', { from: this.servers, to: servers });
    this.servers = servers;
    if (this.nc) void this.nc.close().catch(() => undefined);
    this.wakeLoop?.();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.timer);
    this.wakeLoop?.();
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      // Drain flushes what was published; a server that is gone cannot be drained.
      if (this.connected) {
        await Promise.race([nc.drain().catch(() => undefined), sleep(2_000)]);
      }
      await nc.close().catch(() => undefined);
    }
    await this.loop;
  }

  private async run(): Promise<void> {
    const { log, nodeName } = this.params;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (this.servers.length === 0) {
        log.info('no NATS server known yet; waiting for the controller to name one');
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        continue;
      }
      try {
        const nc = await connect({
          servers: this.servers,
          name: `flotilla-agent ${nodeName}`,
          // Read at every (re)connect, so a JWT refreshed by registration is picked up.
          authenticator: jwtAuthenticator(
            () => this.jwt,
            () => encoder.encode(this.params.seed),
          ),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
          ignoreAuthErrorAbort: true,
          timeout: 5_000,
          pingInterval: 10_000,
          maxPingOut: 2,
        });
        if (signal.aborted) {
          await nc.close();
          break;
        }
        this.nc = nc;
        this.connected = true;
        this.backoff.reset();
        log.info('connected to NATS', { server: nc.getServer() });
        this.answerResync(nc);
        void this.watchStatus(nc);
        void this.beat();
        this.flushUnsent();
        const err = await nc.closed();
        this.connected = false;
        if (!signal.aborted)
          log.warn('NATS connection closed', { error: err ? errorMessage(err) : undefined });
      } catch (err) {
        if (signal.aborted) break;
        const delay = this.backoff.next();
        log.warn('cannot connect to NATS; retrying', {
          servers: this.servers,
          error: errorMessage(err),
          retryInMs: delay,
        });
        await sleep(delay, signal);
        continue;
      }
      await sleep(this.backoff.next(), signal);
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    const { log } = this.params;
    try {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) {
          this.connected = false;
          log.warn('disconnected from NATS; reconnecting', { server: statusData(s) });
        } else if (s.type === Events.Reconnect) {
          this.connected = true;
          log.info('reconnected to NATS', { server: statusData(s) });
          void this.beat();
          this.flushUnsent();
        } else if (s.type === Events.Error) {
          log.warn('NATS error', { error: statusData(s), permission: s.permissionContext });
        }
      }
    } catch (err) {
      log.debug('NATS status stream ended', { error: errorMessage(err) });
    }
  }

  private answerResync(nc: NatsConnection): void {
    const { log, nodeName, agentInstance } = this.params;
    nc.subscribe(subjects.resync(nodeName), {
      callback: (err, msg) => {
        if (err) {
          log.warn('resync subscription failed', { error: errorMessage(err) });
          return;
        }
        const summary: ResyncSummary = {
          nodeName,
          agentInstance,
          ...this.params.state(),
          heartbeatSequence: this.sequence,
          time: new Date().toISOString(),
        };
        if (!msg.respond(encodeResyncSummary(summary))) {
          log.warn('resync request without a reply subject', { subject: msg.subject });
          return;
        }
        const reports = this.params.podReports?.() ?? [];
        for (const report of reports) this.publishPodStatus(report);
        log.info('answered a resync request', {
          revision: summary.revision,
          pods: summary.desiredPods.length,
          statuses: reports.length,
        });
      },
    });
  }

  /** One heartbeat; skipped while disconnected, so no stale burst follows a reconnect. */
  private async beat(): Promise<void> {
    const nc = this.nc;
    if (this.beating || !nc || !this.connected || nc.isClosed()) return;
    this.beating = true;
    try {
      const [memory, cpu] = await Promise.all([readMemoryInfo(), readCpuTimes()]);
      const before = this.lastCpu;
      this.lastCpu = cpu;
      this.sequence++;
      const heartbeat = buildHeartbeat({
        nodeName: this.params.nodeName,
        sequence: this.sequence,
        agentInstance: this.params.agentInstance,
        now: new Date(),
        ...(memory ? { memory } : {}),
        ...(before && cpu ? { cpu: { before, after: cpu, cpuCount: this.params.cpuCount } } : {}),
        runningPods: this.params.state().runningPods,
      });
      nc.publish(subjects.heartbeat(this.params.nodeName), NodeHeartbeat.encode(heartbeat).finish());
      // A restarted controller learns how far this node has programmed the network.
      const ack = this.params.networkApplied?.();
      if (ack) this.publishNetworkApplied(ack);
      if (this.sequence === 1)
        this.params.log.info('first heartbeat published', {
          subject: subjects.heartbeat(this.params.nodeName),
        });
    } catch (err) {
      this.params.log.warn('heartbeat not published', { error: errorMessage(err) });
    } finally {
      this.beating = false;
    }
  }
}

function statusData(s: Status): string {
  return typeof s.data === 'object' ? JSON.stringify(s.data) : String(s.data);
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
