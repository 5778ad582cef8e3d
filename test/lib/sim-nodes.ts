// Simulated nodes: the agent's protocol with no containers. Each joins with a token over
// the real NodeGateway (mTLS, its own key and certificate), registers, follows its
// assignments stream, heartbeats over NATS with its own credentials, and reports every
// assigned pod Running and Ready (PodStatusReport; Running, not Ready, for unreadyImages) — and `removed` once a pod is deleted
// or taken away. Tests control them: kill (heartbeats and streams stop), partition for a
// while, revive.
//
// Cost at scale: one NATS connection per node. The JWT a node gets allows only its own
// subjects (flotilla.v1.node.<token>.>), so nodes cannot share a connection without
// credentials no real agent has. Each connection is a socket, its buffers and a ping
// timer (the memory per connection is not measured yet); 1,000 nodes are 1,000 clients
// for nats-server, far below its default limit (64k). gRPC channels are per node as well
// (each carries its node's client certificate).
import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import {
  controllerChannel,
  createCertificateRequest,
  fromServiceError,
  isFlotillaError,
  newUserSeed,
  nodeCommonName,
  nodeOrganization,
  subjects,
} from '@flotilla/common';
import {
  AssignmentEvent_Type,
  Node,
  NodeGatewayClient,
  NodeHeartbeat,
  PodStatus,
  PodStatusReport,
  type AssignmentEvent,
  type Pod,
} from '@flotilla/proto';
import { connect, jwtAuthenticator, type NatsConnection } from 'nats';
import { unary } from './clients.js';

export interface SimNodeOptions {
  /** Controller API addresses; a node moves on to the next when one fails. */
  controllers: string[];
  caPem: string;
  token: string;
  heartbeatIntervalMs?: number;
  labels?: Record<string, string>;
  /** Capacity the node registers: cpu, memory, pods. */
  capacity?: Record<string, string>;
  /**
   * Images whose pods never become ready here: reported Running with Ready and
   * ContainersReady False, as a container failing its readiness probe would be.
   */
  unreadyImages?: readonly string[];
}

export type SimNodeState = 'stopped' | 'running' | 'killed';

interface Identity {
  keyPem: string;
  certPem: string;
  natsSeed: string;
  natsPublicKey: string;
  natsJwt: string;
  natsUrls: string[];
}

const encoder = new TextEncoder();
/** How long a node keeps trying to join a controller that times out or is unavailable. */
const joinPatienceMs = 180_000;
const podKeyOf = (pod: Pod): string => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;

export class SimNode {
  readonly name: string;
  private identity: Identity | undefined;
  private stateValue: SimNodeState = 'stopped';
  private session: AbortController | undefined;
  private running: Promise<void> | undefined;
  private nc: NatsConnection | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private controllerIndex = 0;
  private readonly agentInstance = randomUUID();
  private heartbeatSequence = 0;
  private reportSequence = 0;
  /** The pods assigned to this node as the stream last said, by namespace/name. */
  private readonly desired = new Map<string, Pod>();
  /** Pods reported Running, by key → uid; a deleted one is reported removed once. */
  private readonly reported = new Map<string, string>();
  private revision = 0;
  /** Heartbeats published, for tests that wait for one. */
  heartbeats = 0;

  constructor(
    name: string,
    private readonly options: SimNodeOptions,
  ) {
    this.name = name;
  }

  get state(): SimNodeState {
    return this.stateValue;
  }

  /** The pods this node runs (reported Running and not deleted), as namespace/name. */
  runningPods(): string[] {
    return [...this.reported.keys()].sort();
  }

  /** Joins (the first time), then registers, streams and heartbeats until killed or stopped. */
  async start(): Promise<void> {
    if (this.stateValue === 'running') return;
    this.identity ??= await this.join();
    this.stateValue = 'running';
    const session = new AbortController();
    this.session = session;
    await this.connectNats(session.signal);
    this.running = this.follow(session.signal);
  }

  /** Stops heartbeats and streams, as a dead host would; keeps what it knew. */
  async kill(): Promise<void> {
    if (this.stateValue !== 'running') return;
    this.stateValue = 'killed';
    this.session?.abort();
    clearInterval(this.heartbeatTimer);
    const nc = this.nc;
    this.nc = undefined;
    await nc?.close().catch(() => undefined);
    await this.running;
  }

  /** Back from the dead with the same identity: registers again and resumes the stream. */
  async revive(): Promise<void> {
    if (this.stateValue === 'running') return;
    await this.start();
  }

  /** Silent for ms (no heartbeats, no streams), then back. */
  async partition(ms: number): Promise<void> {
    await this.kill();
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.revive();
  }

  async stop(): Promise<void> {
    await this.kill();
    this.stateValue = 'stopped';
  }

  private controller(): string {
    const list = this.options.controllers;
    return list[this.controllerIndex % list.length] ?? '';
  }

  private client(identity?: Identity): NodeGatewayClient {
    const address = this.controller();
    const tls = identity
      ? { caPem: this.options.caPem, certPem: identity.certPem, keyPem: identity.keyPem }
      : { caPem: this.options.caPem };
    const channel = controllerChannel(address, tls);
    return new NodeGatewayClient(address, channel.credentials, channel.options);
  }

  private async join(): Promise<Identity> {
    const csr = await createCertificateRequest({
      commonName: nodeCommonName(this.name),
      organization: nodeOrganization,
    });
    const nats = newUserSeed();
    // A controller busy with hundreds of joins answers late: a timed-out, unavailable or
    // conflicting join is tried again (the next controller each time) for a few minutes, so
    // one slow answer does not fail a whole fleet's start. Refusals (a bad token) fail at once.
    const giveUpAt = Date.now() + joinPatienceMs;
    for (let attempt = 1; ; attempt++) {
      const client = this.client();
      try {
        const res = await unary(
          client.join.bind(client),
          {
            token: this.options.token,
            nodeName: this.name,
            csrPem: csr.csrPem,
            natsUserPublicKey: nats.publicKey,
          },
          30_000,
        );
        return {
          keyPem: csr.keyPem,
          certPem: res.certificatePem,
          natsSeed: nats.seed,
          natsPublicKey: nats.publicKey,
          natsJwt: res.natsUserJwt,
          natsUrls: res.natsUrls,
        };
      } catch (err) {
        // Conflict: many nodes joining with one token at once race for its use count, and
        // the controller gives up after 10 guarded attempts.
        const transient =
          isFlotillaError(err, 'Unavailable') ||
          isFlotillaError(err, 'DeadlineExceeded') ||
          isFlotillaError(err, 'Conflict');
        if (!transient || Date.now() >= giveUpAt) throw err;
        this.controllerIndex++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * attempt)));
      } finally {
        client.close();
      }
    }
  }

  private registration(): Node {
    const capacity = this.options.capacity ?? { cpu: '4', memory: '8Gi', pods: '110' };
    return Node.fromJSON({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: this.name, labels: { 'kubernetes.io/hostname': this.name, ...this.options.labels } },
      status: {
        capacity,
        allocatable: capacity,
        addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      },
    });
  }

  private async connectNats(signal: AbortSignal): Promise<void> {
    const identity = this.identity;
    if (!identity) return;
    const nc = await connect({
      servers: identity.natsUrls,
      name: `sim-node ${this.name}`,
      authenticator: jwtAuthenticator(
        () => identity.natsJwt,
        () => encoder.encode(identity.natsSeed),
      ),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // A nats-server checking a thousand nodes' JWTs at once answers late: keep trying
      // rather than fail the node's start (and the fleet's).
      waitOnFirstConnect: true,
      timeout: 30_000,
    });
    if (signal.aborted) {
      await nc.close();
      return;
    }
    this.nc = nc;
    // The controller asks after every (re)connect of its own: every status again.
    nc.subscribe(subjects.resync(this.name), {
      callback: (_err, msg) => {
        msg.respond(
          encoder.encode(
            JSON.stringify({
              nodeName: this.name,
              agentInstance: this.agentInstance,
              revision: this.revision,
              synced: true,
              desiredPods: [...this.desired.keys()].sort(),
              runningPods: this.reported.size,
              heartbeatSequence: this.heartbeatSequence,
            }),
          ),
        );
        for (const pod of this.desired.values()) this.report(pod, false);
      },
    });
    const beat = (): void => {
      if (!this.nc || this.nc.isClosed()) return;
      const heartbeat = NodeHeartbeat.fromJSON({
        nodeName: this.name,
        time: new Date().toISOString(),
        sequence: ++this.heartbeatSequence,
        agentInstance: this.agentInstance,
        usage: { runningPods: this.reported.size },
      });
      this.nc.publish(subjects.heartbeat(this.name), NodeHeartbeat.encode(heartbeat).finish());
      this.heartbeats++;
    };
    beat();
    this.heartbeatTimer = setInterval(beat, this.options.heartbeatIntervalMs ?? 1_000);
  }

  /** Register, then follow the stream; on failure, the next controller, until the session ends. */
  private async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const identity = this.identity;
      if (!identity) return;
      const client = this.client(identity);
      try {
        await unary(client.registerNode.bind(client), {
          node: this.registration(),
          natsUserPublicKey: identity.natsPublicKey,
        });
        await this.stream(client, signal);
      } catch {
        if (signal.aborted) break;
        this.controllerIndex++;
        await new Promise((resolve) => setTimeout(resolve, 200));
      } finally {
        client.close();
      }
    }
  }

  private stream(client: NodeGatewayClient, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      // Killed while registering: an abort listener added now would never fire, and the
      // stream would hold kill() (and the caller's clean-up) forever.
      if (signal.aborted) {
        resolve();
        return;
      }
      const call = client.assignments({ nodeName: this.name, resumeRevision: this.revision });
      const onAbort = (): void => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      call.on('data', (event: AssignmentEvent) => this.apply(event));
      call.on('error', (err: grpc.ServiceError) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve();
        else reject(fromServiceError(err, this.controller()));
      });
      call.on('end', () => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve();
        else reject(new Error('the controller ended the stream'));
      });
    });
  }

  private apply(event: AssignmentEvent): void {
    if (event.type === AssignmentEvent_Type.SNAPSHOT) {
      const keep = new Set(event.pods.map(podKeyOf));
      for (const [key, pod] of this.desired) {
        if (!keep.has(key)) this.forget(key, pod);
      }
    }
    if (event.type === AssignmentEvent_Type.DELETED) {
      for (const pod of event.pods) {
        const known = this.desired.get(podKeyOf(pod));
        if (known) this.forget(podKeyOf(pod), known);
      }
    } else {
      for (const pod of event.pods) {
        this.desired.set(podKeyOf(pod), pod);
        this.report(pod, true);
      }
    }
    this.revision = Math.max(this.revision, event.revision);
  }

  /** A pod no longer assigned here: stopped (nothing to stop) and reported removed. */
  private forget(key: string, pod: Pod): void {
    this.desired.delete(key);
    if (this.reported.has(key)) this.publish(pod, undefined, true);
    this.reported.delete(key);
  }

  /** Reports pod's state: removed once it is being deleted, else Running and Ready. */
  private report(pod: Pod, onlyChanges: boolean): void {
    const key = podKeyOf(pod);
    const uid = pod.metadata?.uid ?? '';
    if ((pod.metadata?.deletionTimestamp ?? '') !== '') {
      this.reported.delete(key);
      this.publish(pod, undefined, true);
      return;
    }
    if (onlyChanges && this.reported.get(key) === uid) return;
    this.reported.set(key, uid);
    const unready = new Set(this.options.unreadyImages ?? []);
    const ready = !(pod.spec?.containers ?? []).some((c) => unready.has(c.image));
    this.publish(pod, runningStatus(pod, ready), false);
  }

  private publish(pod: Pod, status: PodStatus | undefined, removed: boolean): void {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const report: PodStatusReport = {
      nodeName: this.name,
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      uid: pod.metadata?.uid ?? '',
      status,
      removed,
      agentInstance: this.agentInstance,
      sequence: ++this.reportSequence,
      time: new Date().toISOString(),
    };
    nc.publish(subjects.podStatus(this.name), PodStatusReport.encode(report).finish());
  }
}

function runningStatus(pod: Pod, ready: boolean): PodStatus {
  const now = new Date().toISOString();
  const readiness = new Set(['ContainersReady', 'Ready']);
  const condition = (type: string): unknown => ({
    type,
    status: ready || !readiness.has(type) ? 'True' : 'False',
    lastTransitionTime: now,
  });
  return PodStatus.fromJSON({
    phase: 'Running',
    hostIP: '127.0.0.1',
    podIP: '10.0.0.1',
    startTime: now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(condition),
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      state: { running: { startedAt: now } },
      ready,
      started: true,
      restartCount: 0,
      image: c.image,
      imageID: `sim://${c.image}`,
      containerID: `sim://${pod.metadata?.uid ?? ''}/${c.name}`,
    })),
  });
}

/** N simulated nodes named <prefix>-0 … <prefix>-(N-1). */
export class SimNodes {
  readonly nodes: SimNode[];

  constructor(count: number, options: SimNodeOptions & { prefix?: string }) {
    const prefix = options.prefix ?? 'sim';
    this.nodes = Array.from({ length: count }, (_, i) => new SimNode(`${prefix}-${i}`, options));
  }

  /** Starts them, a few at a time so a big fleet does not stampede the controller. */
  async start(concurrency = 20): Promise<void> {
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      // After a failure no more nodes start: the caller stops those that did.
      while (next < this.nodes.length && !failed) {
        const node = this.nodes[next++];
        try {
          if (node) await node.start();
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    // Every worker settles before this returns, so no node starts after a caller's stop().
    const outcomes = await Promise.allSettled(
      Array.from({ length: Math.min(concurrency, this.nodes.length) }, worker),
    );
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
  }

  node(name: string): SimNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no simulated node ${name}`);
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
