// Wires the controller together: store, secrets, API, heartbeat ingest and the node
// lifecycle loop; and takes them apart again in the reverse order.
import type { Node } from '@flotilla/proto';
import { createLogger, errorMessage, isFlotillaError, subjects, type Logger } from '@flotilla/common';
import { createClusterService } from './api/cluster-service.js';
import { AgentClients } from './api/agent-clients.js';
import { StreamRegistry } from './api/handlers.js';
import { createPodService } from './api/pod-service.js';
import { createObjectService } from './api/object-service.js';
import { createDeploymentService } from './api/deployment-service.js';
import { createPodStreamService } from './api/pod-stream-service.js';
import { createNodeGatewayService } from './api/node-gateway-service.js';
import { startGrpcServer } from './api/server.js';
import { startDeploymentLoop } from './deployments/deployment-loop.js';
import { discardEvents, type EventRecorder } from './events/recorder.js';
import { dataDirLayout, initFiles, type InitResult } from './bootstrap/init.js';
import { issueServingCertificate, servingNames } from './bootstrap/serving-cert.js';
import { formatHostPort, hostPortOfUrl, type HostPort } from './options/parse.js';
import { LastSeen } from './reconcile/node-liveness.js';
import { NodeLifecycleLoop } from './reconcile/node-lifecycle.js';
import { HeartbeatIngest } from './status/heartbeat-ingest.js';
import { PodStatusIngest } from './status/pod-status-ingest.js';
import { ControllerNats } from './status/nats-client.js';
import { nodeCodec } from './store/codecs.js';
import { EtcdStore } from './store/etcd-store.js';
import { Informer } from './store/informer.js';
import { keys } from './store/keys.js';
import type { Store } from './store/types.js';
import { defaultTokenTtlMs } from './tokens/join-token.js';
import { JoinTokenStore } from './tokens/token-store.js';
import { retryUntil } from './util/backoff.js';
import { controllerVersion } from './version.js';

export interface ControllerOptions {
  etcdEndpoints: string[];
  /** Where the controller connects to NATS. */
  natsUrls: string[];
  /** What agents are told to use for NATS; defaults to natsUrls. */
  natsAdvertiseUrls?: string[];
  listen: HostPort;
  /** host:port clients should dial (admin config, certificate SANs); defaults to listen. */
  advertiseAddress?: HostPort;
  tlsSans?: string[];
  dataDir: string;
  nodeGraceMs?: number;
  /** For the nats-server configuration written on first start; defaults to the first NATS URL. */
  natsListen?: HostPort;
  natsConfigPath?: string;
  adminConfigPath?: string;
  tokenFile?: string;
  tokenTtlMs?: number;
  logger?: Logger;
  /** A store to use instead of connecting to etcdEndpoints (tests). */
  store?: Store;
  bookmarkIntervalMs?: number;
  /** Aborting it gives up waiting for etcd during start. */
  signal?: AbortSignal;
  /** Where the loops record Events; discarded when not given. */
  events?: EventRecorder;
}

export interface RunningController {
  /** host:port the API listens on. */
  address: string;
  caCertPem: string;
  stop(): Promise<void>;
}

export const defaultNodeGraceMs = 5_000;

/** The admin config's server: the advertised address, else the listen address made dialable. */
export function clientAddress(listen: HostPort, advertise?: HostPort): string {
  if (advertise) return formatHostPort(advertise);
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return formatHostPort({ host, port: listen.port });
}

export async function startController(options: ControllerOptions): Promise<RunningController> {
  const log = options.logger ?? createLogger({ component: 'controller' });
  const controllerStart = Date.now();
  const signal = options.signal ?? new AbortController().signal;
  const store =
    options.store ??
    new EtcdStore({ endpoints: options.etcdEndpoints, logger: log.child({ layer: 'store' }) });
  // Undone in reverse order: what started last (the API) stops first.
  const cleanups: { name: string; fn: () => Promise<void> }[] = [
    { name: 'etcd client', fn: async () => store.close() },
  ];
  const onStop = (name: string, fn: () => Promise<void>): void => {
    cleanups.push({ name, fn });
  };
  const cleanup = async (): Promise<void> => {
    for (const { name, fn } of cleanups.reverse()) {
      log.debug('stopping', { part: name });
      await fn().catch((err: unknown) =>
        log.warn('error while stopping', { part: name, err: errorMessage(err) }),
      );
    }
  };

  try {
    const layout = dataDirLayout(options.dataDir, options);
    const natsListen = options.natsListen ?? hostPortOfUrl(options.natsUrls[0] ?? 'nats://127.0.0.1:4222');
    // etcd may still be starting (or down): wait for it rather than fail.
    const init: InitResult = await retryUntil(
      () =>
        initFiles({
          store,
          layout,
          natsListen,
          server: clientAddress(options.listen, options.advertiseAddress),
          tokenTtlMs: options.tokenTtlMs ?? defaultTokenTtlMs,
          onlyMissing: true,
          logger: log,
        }),
      signal,
      (err, attempt, delayMs) => {
        // The first failure and every tenth at warn: a long outage should not flood the log.
        const level = attempt === 1 || attempt % 10 === 0 ? 'warn' : 'debug';
        log[level]('waiting for etcd', {
          endpoints: options.etcdEndpoints,
          attempt,
          retryInMs: delayMs,
          err: errorMessage(err),
        });
      },
      // Only an unreachable etcd is worth waiting for; a data directory we cannot write is not.
      { initialMs: 250, maxMs: 5_000, retryIf: (err) => isFlotillaError(err, 'Unavailable') },
    );
    if (init.written.length > 0) log.info('first start: wrote cluster files', { files: init.written });
    const { ca, nats: natsKeys } = init.secrets;

    const hosts = [
      options.listen.host,
      ...(options.advertiseAddress ? [options.advertiseAddress.host] : []),
      ...(options.tlsSans ?? []),
    ];
    const serving = await issueServingCertificate(ca, servingNames(hosts));

    const abort = new AbortController();
    const nodes = new Informer<Node>(store, nodeCodec, keys.nodes, log.child({ layer: 'informer' }));
    const informerRun = nodes.run(abort.signal);
    onStop('node informer', async () => {
      abort.abort();
      await informerRun;
    });

    const lastSeen = new LastSeen();
    const nats = new ControllerNats(options.natsUrls, natsKeys, log.child({ layer: 'nats' }));
    const ingest = new HeartbeatIngest({ store, nodes, lastSeen, log: log.child({ layer: 'ingest' }) });
    nats.subscribe(subjects.allHeartbeats, (subject, data) => ingest.handle(subject, data));
    const podStatus = new PodStatusIngest({ store, nodes, log: log.child({ layer: 'pod-status' }) });
    nats.subscribe(subjects.allPodStatus, (subject, data) => podStatus.handle(subject, data));
    // Statuses published while this controller was not listening: ask every node again.
    nats.onConnect(() => void podStatus.resyncAll(nats));
    nats.start();
    onStop('heartbeat ingest', () => ingest.settle());
    onStop('pod status ingest', () => podStatus.settle());
    onStop('NATS connection', () => nats.close());

    const lifecycle = new NodeLifecycleLoop({
      store,
      nodes,
      lastSeen,
      graceMs: options.nodeGraceMs ?? defaultNodeGraceMs,
      controllerStart,
      listeningSince: () => nats.state.connectedSince,
      log: log.child({ layer: 'lifecycle' }),
    });
    lifecycle.start();
    onStop('node lifecycle loop', () => lifecycle.stop());

    // Deployments → ReplicaSets → pods. Leader-only: runs at once until leader election
    // lands, which starts it on winning and stops it (the handle) on losing.
    const deploymentLoop = startDeploymentLoop({
      store,
      events: options.events ?? discardEvents,
      log: log.child({ layer: 'deployments' }),
    });
    onStop('deployment loop', () => deploymentLoop.stop());

    const tokens = new JoinTokenStore(store);
    const streams = new StreamRegistry();
    // Logs, exec and attach go on to the agents, dialled with the controller's own certificate.
    const agents = new AgentClients({
      caPem: ca.certPem,
      certPem: serving.certChainPem,
      keyPem: serving.keyPem,
    });
    onStop('agent connections', async () => agents.close());
    const apiLog = log.child({ layer: 'api' });
    const server = await startGrpcServer({
      listen: options.listen,
      caPem: ca.certPem,
      certChainPem: serving.certChainPem,
      keyPem: serving.keyPem,
      cluster: {
        ...createPodService({ store, caPem: ca.certPem, streams, log: apiLog }),
        ...createPodStreamService({ store, caPem: ca.certPem, agents, log: apiLog }),
        ...createObjectService(),
        // Scale and Rollout (issue 5, deployments): replaces the object service's placeholders.
        ...createDeploymentService({ store, caPem: ca.certPem, log: apiLog }),
        ...createClusterService({
          store,
          tokens,
          caPem: ca.certPem,
          log: apiLog,
          probes: {
            etcd: { endpoint: options.etcdEndpoints.join(','), ping: () => store.ping() },
            nats: { endpoint: options.natsUrls.join(','), state: () => nats.state },
            controller: { endpoint: formatHostPort(options.listen), version: controllerVersion },
          },
        }),
      },
      gateway: createNodeGatewayService({
        store,
        tokens,
        ca,
        natsKeys,
        natsUrls: options.natsAdvertiseUrls ?? options.natsUrls,
        lastSeen,
        streams,
        log: apiLog,
        bookmarkIntervalMs: options.bookmarkIntervalMs,
      }),
    });
    // Stop accepting first, and end the open streams so the shutdown need not wait them out.
    onStop('API server', async () => {
      streams.abortAll();
      await server.stop();
    });
    log.info('controller serving', {
      address: server.address,
      version: controllerVersion,
      etcd: options.etcdEndpoints,
      nats: options.natsUrls,
      nodeGraceMs: options.nodeGraceMs ?? defaultNodeGraceMs,
      sans: [...serving.names.dnsNames, ...serving.names.ipAddresses],
    });

    let stopping: Promise<void> | undefined;
    return {
      address: server.address,
      caCertPem: ca.certPem,
      stop: () => (stopping ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
