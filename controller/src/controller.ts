// Wires the controller together: store, secrets, API, heartbeat ingest and the node
// lifecycle loop; and takes them apart again in the reverse order.
import type { Node } from '@flotilla/proto';
import {
  createLogger,
  defaultClusterCidr,
  defaultClusterDomain,
  errorMessage,
  isFlotillaError,
  subjects,
  webFacingLabel,
  type Logger,
} from '@flotilla/common';
import { parseLabelSelector } from './labels/labels.js';
import { startClusterNetwork } from './network/cluster-network.js';
import { defaultNodeCidrMaskSize, formatBlock, parsePodCidrConfig } from './nodes/pod-cidr.js';
import { createClusterService } from './api/cluster-service.js';
import { AgentClients } from './api/agent-clients.js';
import { StreamRegistry } from './api/handlers.js';
import { createPodService } from './api/pod-service.js';
import { createObjectService } from './api/object-service.js';
import { StoreEventRecorder } from './events/store-recorder.js';
import { GarbageCollector } from './objects/garbage-collector.js';
import { defaultServiceCidr } from './objects/service.js';
import { createDeploymentService } from './api/deployment-service.js';
import { createPodStreamService } from './api/pod-stream-service.js';
import { createNodeGatewayService } from './api/node-gateway-service.js';
import { startGrpcServer } from './api/server.js';
import { startDeploymentLoop } from './deployments/deployment-loop.js';
import { startEndpointsLoop } from './endpoints/loop.js';
import type { EventRecorder } from './events/recorder.js';
import { dataDirLayout, initFiles, type InitResult } from './bootstrap/init.js';
import { issueServingCertificate, servingNames } from './bootstrap/serving-cert.js';
import { formatHostPort, hostPortOfUrl, type HostPort } from './options/parse.js';
import { soleCandidate, type Candidate } from './leader/candidate.js';
import { EtcdCandidate } from './leader/etcd-candidate.js';
import { LeaderElector, untilAborted } from './leader/leader-elector.js';
import { LastSeen } from './reconcile/node-liveness.js';
import { NodeLifecycleLoop } from './reconcile/node-lifecycle.js';
import { HeartbeatIngest } from './status/heartbeat-ingest.js';
import { PodStatusIngest } from './status/pod-status-ingest.js';
import { ControllerNats } from './status/nats-client.js';
import { startScheduler } from './scheduler/loop.js';
import { schedulerProfile } from './scheduler/profile.js';
import type { ResourceStrategy } from './scheduler/scorers.js';
import { nodeCodec } from './store/codecs.js';
import { EtcdStore } from './store/etcd-store.js';
import { Informer } from './store/informer.js';
import { keys } from './store/keys.js';
import type { Store } from './store/types.js';
import { defaultTokenTtlMs } from './tokens/join-token.js';
import { JoinTokenStore } from './tokens/token-store.js';
import { retryUntil } from './util/backoff.js';
import { controllerVersion } from './version.js';
import type { LoopName } from './options/loops.js';
import { PodWatchHub } from './api/pod-watch-hub.js';
import { sharedPodStore } from './store/shared-pods.js';

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
  /** NotReady this long before a node's pods are evicted (default 3 s). */
  evictionTimeoutMs?: number;
  /** The leader's lease TTL (default 3 s; see defaultLeaseTtlMs). */
  leaseTtlMs?: number;
  /** Where the loops record Events; default: nowhere. */
  events?: EventRecorder;
  /** The scheduler's resource scorer: spread load (default) or bin-pack. */
  schedulerScoring?: ResourceStrategy;
  /** The leader-only loops to run (--controllers); default all. */
  controllers?: ReadonlySet<LoopName>;
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
  /** Where Service cluster IPs are allocated from; 10.96.0.0/16. */
  serviceCidr?: string;
  /** Where nodes' pod CIDRs are allocated from (default 10.244.0.0/16), in blocks of nodeCidrMaskSize (24). */
  clusterCidr?: string;
  nodeCidrMaskSize?: number;
  /** Label selector of the nodes that open node ports (default flotilla.io/web-facing=true). */
  webFacingSelector?: string;
  /** Services' DNS domain (default cluster.local). */
  clusterDomain?: string;
}

export interface RunningController {
  /** host:port the API listens on. */
  address: string;
  caCertPem: string;
  stop(): Promise<void>;
}

export const defaultNodeGraceMs = 5_000;

/**
 * The leader's lease: killed, a leader is replaced within this (plus a watch round trip),
 * well inside the node grace, and the lease is renewed every third of it, so two missed
 * keep-alives (a GC pause, a slow etcd fsync) do not depose a healthy leader. etcd's own
 * floor is about 2 s (1.5 × its election timeout).
 */
export const defaultLeaseTtlMs = 3_000;

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

    // What the loops record (Kubernetes Events), stored and aggregated; swept after an hour.
    const storeEvents = new StoreEventRecorder({ store, log: log.child({ layer: 'events' }) });
    storeEvents.start();
    onStop('event recorder', () => storeEvents.stop());
    const events: EventRecorder = options.events ?? storeEvents;

    const lastSeen = new LastSeen();
    const nats = new ControllerNats(options.natsUrls, natsKeys, log.child({ layer: 'nats' }));
    const ingest = new HeartbeatIngest({
      store,
      nodes,
      lastSeen,
      log: log.child({ layer: 'ingest' }),
      events, // NodeReady events
    });
    nats.subscribe(subjects.allHeartbeats, (subject, data) => ingest.handle(subject, data));
    const podStatus = new PodStatusIngest({ store, nodes, log: log.child({ layer: 'pod-status' }) });
    nats.subscribe(subjects.allPodStatus, (subject, data) => podStatus.handle(subject, data));
    // Statuses published while this controller was not listening: ask every node again.
    nats.onConnect(() => void podStatus.resyncAll(nats));

    // The cluster network (pod CIDRs, services, endpoints) every replica serves to agents;
    // NetworkApplied tells each replica how far each node has programmed it.
    const podCidrs = parsePodCidrConfig(
      options.clusterCidr ?? defaultClusterCidr,
      options.nodeCidrMaskSize ?? defaultNodeCidrMaskSize,
    );
    const {
      network,
      informers: networkInformers,
      stop: stopNetwork,
    } = startClusterNetwork({
      store,
      nodes,
      config: {
        clusterDomain: options.clusterDomain ?? defaultClusterDomain,
        serviceCidr: options.serviceCidr ?? defaultServiceCidr,
        clusterCidr: formatBlock(podCidrs.clusterCidr),
        webFacing: parseLabelSelector(options.webFacingSelector ?? `${webFacingLabel}=true`),
      },
      log: log.child({ layer: 'network' }),
    });
    onStop('cluster network', stopNetwork);
    nats.subscribe(subjects.allNetworkApplied, (subject, data) => network.handleApplied(subject, data));
    nats.start();
    onStop('heartbeat ingest', () => ingest.settle());
    onStop('pod status ingest', () => podStatus.settle());
    onStop('NATS connection', () => nats.close());

    // Leader election: every replica serves; the loops registered with the elector run
    // only on the leader, and their writes are fenced by its election key.
    const leaseTtlMs = options.leaseTtlMs ?? defaultLeaseTtlMs;
    const candidate: Candidate =
      store instanceof EtcdStore
        ? new EtcdCandidate({
            store,
            election: store.election('controller', Math.max(1, Math.round(leaseTtlMs / 1000))),
            keyPrefix: 'election/controller/',
            ttlMs: leaseTtlMs,
            log: log.child({ layer: 'leader' }),
          })
        : soleCandidate;
    const runs = (loop: LoopName): boolean => options.controllers?.has(loop) ?? true;
    const elector = new LeaderElector({
      candidate,
      identity: clientAddress(options.listen, options.advertiseAddress),
      log: log.child({ layer: 'leader' }),
    });
    onStop('leader election', () => elector.stop());

    // One copy of the pods per replica: the assignments streams follow it, and the loops'
    // pod informers list and watch it (podStore) instead of etcd, sharing its decoded pods:
    // each pod event is decoded once.
    const podWatch = new PodWatchHub(store, log.child({ layer: 'pod-watch' }));
    const podWatchAbort = new AbortController();
    const podWatchRun = podWatch.run(podWatchAbort.signal);
    onStop('pod watch', async () => {
      podWatchAbort.abort();
      await podWatchRun;
    });
    const podStore = sharedPodStore(store, podWatch);

    // Its list of every pod when a node is due for eviction (when nodes stop answering: at
    // scale, when the controller is busiest) comes from the shared copy too.
    const lifecycle = new NodeLifecycleLoop({
      store: podStore,
      nodes,
      lastSeen,
      graceMs: options.nodeGraceMs ?? defaultNodeGraceMs,
      evictionTimeoutMs: options.evictionTimeoutMs,
      controllerStart,
      listeningSince: () => nats.state.connectedSince,
      log: log.child({ layer: 'lifecycle' }),
      events,
    });
    if (runs('node-lifecycle'))
      elector.runWhileLeader('node lifecycle', (signal, leadership) => lifecycle.run(signal, leadership)); // i5-lifecycle: leader only

    // Cascades and Terminating namespaces: the leader's periodic pass; any replica's API
    // also runs one right after a cascading delete (every write is guarded). Its list of
    // every pod comes from the shared copy (podStore): reading and decoding 50,000 pods
    // from etcd each pass was a 75 MB response on the client's one channel and seconds of
    // decoding on the event loop.
    const garbage = new GarbageCollector({ store: podStore, log: log.child({ layer: 'garbage' }) });
    if (runs('garbage-collector'))
      elector.runWhileLeader('garbage collector', async (signal) => {
        garbage.start();
        await untilAborted(signal);
        await garbage.stop();
      });

    // The scheduler binds pods created without spec.nodeName; on the leader only, its
    // bindings fenced by the leadership.
    if (runs('scheduler'))
      elector.runWhileLeader('scheduler', async (signal, leadership) => {
        const scheduler = startScheduler({
          store: podStore,
          events,
          leadership,
          profile: schedulerProfile({ resources: options.schedulerScoring ?? 'LeastAllocated' }),
          log: log.child({ layer: 'scheduler' }),
        });
        await untilAborted(signal);
        await scheduler.stop();
      });

    // Services' Endpoints from their selectors and their pods' readiness, on the leader only.
    if (runs('endpoints'))
      elector.runWhileLeader('endpoints', async (signal, leadership) => {
        const endpointsLoop = startEndpointsLoop({
          store: podStore,
          leadership,
          nodes, // pods on a node that is not Ready are not ready addresses
          // The cluster network's copies of services and endpoints, not a second watch of each.
          informers: networkInformers,
          log: log.child({ layer: 'endpoints' }),
        });
        await untilAborted(signal);
        await endpointsLoop.stop();
      });

    // Deployments → ReplicaSets → pods, on the leader only.
    if (runs('deployments'))
      elector.runWhileLeader('deployments', async (signal, leadership) => {
        const deploymentLoop = startDeploymentLoop({
          store: podStore,
          events,
          leadership,
          log: log.child({ layer: 'deployments' }),
        });
        await untilAborted(signal);
        await deploymentLoop.stop();
      });

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
        ...createObjectService({
          store,
          caPem: ca.certPem,
          streams,
          log: apiLog,
          events,
          garbage,
          serviceCidr: options.serviceCidr ?? defaultServiceCidr,
        }),
        // Scale and Rollout (deployments).
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
            leader: { self: elector.identity, current: () => elector.leader() },
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
        podWatch,
        podCidrs,
        network,
      }),
    });
    // Stop accepting first, and end the open streams so the shutdown need not wait them out.
    onStop('API server', async () => {
      streams.abortAll();
      await server.stop();
    });
    // Campaign only once this replica serves: a leader that cannot serve would still lead.
    elector.start();
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
