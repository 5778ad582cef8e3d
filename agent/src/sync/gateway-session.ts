// The agent's session with the controller: register the node, then follow the
// assignments stream. When the stream fails or ends: wait (jittered, 200 ms .. 5 s),
// register again and resume from the last revision seen, forever, until stopped.
import * as grpc from '@grpc/grpc-js';
import {
  type FlotillaError,
  type Logger,
  controllerChannel,
  errorMessage,
  fromServiceError,
} from '@flotilla/common';
import {
  type AssignmentEvent,
  AssignmentEvent_Type,
  type Node,
  NodeGatewayClient,
  type RegisterNodeResponse,
  assignmentEvent_TypeToJSON,
} from '@flotilla/proto';
import { Backoff, sleep } from '../util/backoff.js';
import { callUnary } from '../util/grpc-call.js';
import type { DrainAnswer, DrainRequest } from '../pods/drain.js';
import { drainCallSlackMs } from '../pods/drain.js';
import type { DesiredSet } from './desired-set.js';

/** The credentials and address the session dials with. */
export interface GatewayEndpoint {
  controller: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface GatewaySessionParams {
  endpoint: GatewayEndpoint;
  nodeName: string;
  /** The Node to register; called at each registration. */
  node: () => Node;
  /** The agent's NATS user public key, for a fresh JWT at each registration. */
  natsUserPublicKey: string;
  desired: DesiredSet;
  log: Logger;
  /** Takes the fresh NATS JWT and URLs. Errors are logged, never fatal. */
  onRegistered: (response: RegisterNodeResponse) => Promise<void>;
  /** A stream silent this long is presumed stuck (the server bookmarks every 30 s). */
  idleTimeoutMs?: number;
  registerTimeoutMs?: number;
}

/** How long a stream must have lasted to count as healthy. */
const healthyStreamMs = 5_000;

export type SessionPhase = 'registering' | 'streaming' | 'backing-off' | 'stopped';

interface StreamOutcome {
  events: number;
  error?: FlotillaError;
}

export class GatewaySession {
  private readonly abort = new AbortController();
  private readonly client: NodeGatewayClient;
  private readonly backoff = new Backoff();
  private loop: Promise<void> | undefined;
  private phaseValue: SessionPhase = 'registering';

  constructor(private readonly params: GatewaySessionParams) {
    const { controller, caPem, certPem, keyPem } = params.endpoint;
    const channel = controllerChannel(controller, { caPem, certPem, keyPem });
    this.client = new NodeGatewayClient(controller, channel.credentials, channel.options);
  }

  /**
   * The connection to the controller's NodeGateway, for the agent's other streams to it
   * (the Network stream) to share; the session closes it when it stops.
   */
  get gatewayClient(): NodeGatewayClient {
    return this.client;
  }

  get phase(): SessionPhase {
    return this.phaseValue;
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      // run() handles its own failures; reaching here is a bug, and still not a crash.
      this.params.log.error('gateway session stopped unexpectedly', { error: errorMessage(err) });
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.client.close();
    this.phaseValue = 'stopped';
  }

  /**
   * NodeGateway.AwaitEndpointsDrained on the session's channel: one call, no retries (the
   * caller goes on to SIGTERM whatever happens). Rejects with the call's FlotillaError.
   */
  async awaitEndpointsDrained(request: DrainRequest, signal: AbortSignal): Promise<DrainAnswer> {
    const response = await callUnary(
      this.client.awaitEndpointsDrained.bind(this.client),
      {
        nodeName: this.params.nodeName,
        namespace: request.namespace,
        podName: request.name,
        podUid: request.uid,
        timeoutMs: request.timeoutMs,
      },
      { timeoutMs: request.timeoutMs + drainCallSlackMs, target: this.params.endpoint.controller, signal },
    );
    return {
      drained: response.drained,
      endpointsRevision: response.endpointsRevision,
      pendingNodes: response.pendingNodes,
      pendingServices: response.pendingServices,
    };
  }

  private async run(): Promise<void> {
    const { log } = this.params;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let reason: string;
      try {
        this.phaseValue = 'registering';
        await this.register();
        this.phaseValue = 'streaming';
        const startedAt = Date.now();
        const outcome = await this.follow();
        // A stream that delivered for a while was a healthy one: quick retries again. One
        // that fails right after its snapshot keeps backing off, so it cannot spin.
        if (outcome.events > 0 && Date.now() - startedAt >= healthyStreamMs) this.backoff.reset();
        reason = outcome.error ? outcome.error.message : 'the controller ended the stream';
      } catch (err) {
        reason = errorMessage(err);
        const code = (err as Partial<FlotillaError>).code;
        if (code === 'Unauthenticated' || code === 'PermissionDenied') {
          log.error('the controller refuses this node', {
            error: reason,
            hint: 'if the cluster was re-created, remove the state directory and join again with a new token',
          });
        }
      }
      if (signal.aborted) break;
      this.phaseValue = 'backing-off';
      const delay = this.backoff.next();
      log.warn('controller session interrupted; reconnecting', {
        reason,
        retryInMs: delay,
        resumeRevision: this.params.desired.revision,
      });
      await sleep(delay, signal);
    }
    this.phaseValue = 'stopped';
  }

  private async register(): Promise<void> {
    const { endpoint, log } = this.params;
    const response = await callUnary(
      this.client.registerNode.bind(this.client),
      { node: this.params.node(), natsUserPublicKey: this.params.natsUserPublicKey },
      {
        timeoutMs: this.params.registerTimeoutMs ?? 10_000,
        target: endpoint.controller,
        signal: this.abort.signal,
      },
    );
    log.info('node registered', {
      controller: endpoint.controller,
      podCIDR: response.node?.spec?.podCIDR || undefined,
      natsUrls: response.natsUrls,
    });
    try {
      await this.params.onRegistered(response);
    } catch (err) {
      log.error('cannot keep the registration response', { error: errorMessage(err) });
    }
  }

  /** Follows one Assignments stream until it fails, ends or the session stops. */
  private follow(): Promise<StreamOutcome> {
    const { desired, log, nodeName } = this.params;
    const idleTimeoutMs = this.params.idleTimeoutMs ?? 90_000;
    const resumeRevision = desired.revision;
    return new Promise((resolve) => {
      let events = 0;
      let done = false;
      let idle: NodeJS.Timeout | undefined;
      const call = this.client.assignments({ nodeName, resumeRevision });
      log.info('following assignments', { resumeRevision });
      const finish = (error?: FlotillaError): void => {
        if (done) return;
        done = true;
        clearTimeout(idle);
        this.abort.signal.removeEventListener('abort', onAbort);
        call.cancel();
        resolve(error ? { events, error } : { events });
      };
      const armIdle = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          log.warn('assignments stream silent; reconnecting', { silentForMs: idleTimeoutMs });
          finish();
        }, idleTimeoutMs);
        idle.unref();
      };
      const onAbort = (): void => finish();
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
      armIdle();
      call.on('data', (event: AssignmentEvent) => {
        armIdle();
        events++;
        this.applyEvent(event);
      });
      call.on('error', (err: grpc.ServiceError) => {
        finish(
          err.code === grpc.status.CANCELLED && this.abort.signal.aborted
            ? undefined
            : fromServiceError(err, this.params.endpoint.controller),
        );
      });
      call.on('end', () => finish());
    });
  }

  private applyEvent(event: AssignmentEvent): void {
    const { desired, log } = this.params;
    const result = desired.apply(event);
    if (result.skipped)
      log.warn('assignment event partly skipped', { reason: result.skipped, revision: event.revision });
    const change = result.change;
    if (change) {
      log.info('desired pods changed', {
        event: change.kind,
        revision: change.revision,
        added: change.added,
        modified: change.modified,
        deleted: change.deleted,
        pods: desired.keys().length,
      });
    } else if (event.type === AssignmentEvent_Type.SNAPSHOT || event.type === AssignmentEvent_Type.BOOKMARK) {
      log.debug('assignments at revision', {
        event: assignmentEvent_TypeToJSON(event.type),
        revision: event.revision,
      });
    }
  }
}
