// Wires the layers: identity → node → gateway session (desired set) and NATS reporter.
// Each part retries on its own; none of them ends the agent because a peer is down.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  type Logger,
  createLogger,
  defaultClusterDomain,
  errorMessage,
  publicKeyOfSeed,
  unavailable,
} from '@flotilla/common';
import type { ContainerImage, Node, RegisterNodeResponse } from '@flotilla/proto';
import { probeHost } from '../host/probe.js';
import { ensureIdentity } from '../identity/ensure.js';
import { NetworkProgrammer } from '../network/network-programmer.js';
import { NetworkSession } from '../network/network-session.js';
import { podCidrAtStart, podCidrFromRegistration } from '../network/pod-cidr.js';
import { chainPrefixFor } from '../network/proxy-rules.js';
import { NetworkStateHolder, type NetworkStateSource } from '../network/state-source.js';
import { writeNatsJwt, writeNodeRecord } from '../identity/state-store.js';
import { ImageService } from '../images/image-service.js';
import { presentImages } from '../images/node-images.js';
import { NodeDns } from '../dns/node-dns.js';
import { buildNode, internalAddress, withAgentPort } from '../node/build.js';
import type { AgentOptions } from '../options/types.js';
import { PodManager } from '../pods/manager.js';
import { podRuntimePaths } from '../pods/options.js';
import { NatsReporter } from '../report/nats-reporter.js';
import { startAgentServer } from '../server/agent-server.js';
import { SpawnServer, useSpawnServer } from '../runtime/spawn-server.js';
import { agentListenAddress } from '../server/listen.js';
import { ContainerRunner } from '../runtime/conmon/runner.js';
import { DesiredSet } from '../sync/desired-set.js';
import { GatewaySession } from '../sync/gateway-session.js';

export interface StartAgentOptions extends AgentOptions {
  logger?: Logger;
  /** Cancels a join still in progress (the only long wait before startAgent returns). */
  signal?: AbortSignal;
}

export interface RunningAgent {
  nodeName: string;
  /** Random per process; heartbeats carry it so the controller sees restarts. */
  agentInstance: string;
  /** The desired pods for this node, kept current from the assignments stream. */
  desired: DesiredSet;
  /** Pulls and unpacks the images the desired pods need; image GC. */
  images: ImageService;
  /** Runs the desired pods; the PodRuntimeView the agent's gRPC server reads. */
  pods: PodManager;
  /**
   * The cluster network as the controller last sent it (NodeGateway.Network); routes and
   * the service proxy follow it, and so may the node's DNS.
   */
  network: NetworkStateSource;
  /** The pod CIDR in use ('' while the controller has not assigned one). */
  podCidr(): string;
  /** host:port the Agent service is bound to. */
  agentAddress: string;
  /** Closes the stream, drains NATS. Idempotent. */
  stop(): Promise<void>;
}

export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const baseLog = options.logger ?? createLogger({ component: 'agent' }, { level: options.logLevel });
  const identity = await ensureIdentity(options, baseLog, options.signal);
  const log = baseLog.child({ node: identity.nodeName });
  const facts = await probeHost();
  let node = buildNode(facts, {
    nodeName: identity.nodeName,
    labels: options.labels,
    ...(options.address ? { address: options.address } : {}),
  });
  log.info('node', {
    address: internalAddress(facts, options.address),
    cpu: node.status?.capacity.cpu,
    memory: node.status?.capacity.memory,
    labels: node.metadata?.labels,
  });

  // Short commands (CNI plugins, ip, runc) forked from a small helper, not from this process.
  useSpawnServer(new SpawnServer({ logger: log.child({ layer: 'spawn-server' }) }));

  const desired = new DesiredSet();
  const network = new NetworkStateHolder();
  // Set once the programmer exists (it publishes through the reporter); heartbeats repeat its latest ack.
  const programmer: { current?: NetworkProgrammer } = {};
  // Created after the reporter, which only calls back into it once NATS is connected.
  const started: { pods?: PodManager; session?: GatewaySession } = {};
  const agentInstance = randomUUID();
  const reporter = new NatsReporter({
    nodeName: identity.nodeName,
    agentInstance,
    servers: options.natsUrls ?? identity.natsUrls,
    jwt: identity.natsJwt,
    seed: identity.natsSeed,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    cpuCount: facts.cpuCount,
    state: () => ({
      revision: desired.revision,
      synced: desired.synced,
      desiredPods: desired.keys(),
      runningPods: started.pods?.runningPods() ?? 0,
    }),
    podReports: () => started.pods?.reports() ?? [],
    networkApplied: () => programmer.current?.lastApplied(),
    log: log.child({ part: 'report' }),
  });
  // NATS first: heartbeats must not wait for the controller's gRPC.
  reporter.start();

  // Images follow the desired set from its first change on, so pulls start as soon as
  // pods are assigned, before anything runs them.
  const images = new ImageService({
    root: options.imageRoot ?? join(options.stateDir, 'images'),
    desired,
    logger: log.child({ part: 'images' }),
    insecureRegistries: options.insecureRegistries,
    gc: {
      highPercent: options.imageGcHighThresholdPercent,
      lowPercent: options.imageGcLowThresholdPercent,
    },
    ...(options.defaultRegistry !== undefined ? { defaultRegistry: options.defaultRegistry } : {}),
    ...(options.registryAuthFile !== undefined ? { registryAuthFile: options.registryAuthFile } : {}),
  });
  images.start();
  // The present images go into the node status at each registration, for the scheduler's
  // image locality. Re-read when an image arrives or leaves; the list changes rarely, so a
  // change is reported at the next registration rather than with every heartbeat.
  let nodeImages: ContainerImage[] = [];
  let imagesRead: Promise<void> = Promise.resolve();
  const readImages = (): void => {
    imagesRead = imagesRead
      .then(() => presentImages(images.stores, log))
      .then(
        (list) => void (nodeImages = list),
        () => undefined,
      );
  };
  readImages();
  images.events.on('status', (e) => {
    if ((e.status.state === 'present') !== (e.previous.state === 'present')) readImages();
  });
  images.events.on('gc', (r) => {
    if (r.removedImages.length > 0) readImages();
  });

  // Containers under conmon outlive the agent; the manager re-adopts them from its records.
  // The pod CIDR: the controller's last answer (node.json), else --pod-cidr as a request;
  // none yet means no pod network is made until the registration answer names one.
  const runtime = podRuntimePaths({
    ...options,
    nodeName: identity.nodeName,
    podCidr: podCidrAtStart(identity.podCIDR, options.podCidr),
  });
  if (runtime.network.podCidr === '')
    log.info('no pod CIDR yet: pods wait for the controller to assign one at registration');
  const runc = '/usr/sbin/runc';
  const runner = new ContainerRunner({
    runcRoot: runtime.runcRoot,
    stateDir: runtime.runnerStateDir,
    runc,
    logger: log.child({ part: 'conmon' }),
  });
  // The node answers DNS on its pod bridge's gateway, from the cluster network the
  // controller sends (the same holder routes and the proxy follow); it binds once the pod
  // CIDR is known and the first pod network has put the gateway on the bridge.
  const upstreams = options.dnsUpstreams;
  const dns = new NodeDns({
    network,
    podCidr: () => runtime.network.podCidr,
    logger: log.child({ part: 'dns' }),
    ...(upstreams?.kind === 'none' ? { outside: 'nxdomain' as const } : {}),
    ...(upstreams?.kind === 'list' ? { upstreams: () => upstreams.upstreams } : {}),
  });
  dns.start();

  const manager = new PodManager({
    nodeName: identity.nodeName,
    desired,
    images,
    runner,
    runnerStateDir: runtime.runnerStateDir,
    runc,
    runcRoot: runtime.runcRoot,
    network: runtime.network,
    podsDir: runtime.podsDir,
    cgroupParent: runtime.cgroupParent,
    hostIP: internalAddress(facts, options.address),
    logger: log.child({ part: 'pods' }),
    podNetworkCreated: () => dns.bindNow(),
    clusterDns: () => {
      const gateway = dns.gateway;
      return gateway
        ? { nameserver: gateway.address, domain: network.current()?.clusterDomain || defaultClusterDomain }
        : undefined;
    },
    // The session is made after the manager (it needs the Agent service's port): a stop
    // before it exists skips the drain, as one with the controller down does.
    endpointsDrainer: {
      awaitEndpointsDrained: (request, signal) =>
        started.session
          ? started.session.awaitEndpointsDrained(request, signal)
          : Promise.reject(unavailable('the controller session has not started yet')),
    },
    ...(options.endpointDrainTimeoutMs !== undefined
      ? { endpointDrainTimeoutMs: options.endpointDrainTimeoutMs }
      : {}),
  });
  manager.events.on('status', (update) => reporter.publishPodStatus(update));
  await manager.start();
  started.pods = manager;

  // The Agent service (logs, exec, attach) is bound before registering: the node names its port.
  const agentServer = await startAgentServer({
    ...agentListenAddress(options.agentListen, internalAddress(facts, options.address)),
    keyPem: identity.keyPem,
    certPem: identity.certPem,
    caPem: identity.caPem,
    pods: manager,
    roots: { runcRoot: runtime.runcRoot, stateDir: runtime.runnerStateDir },
    runc,
    log: log.child({ part: 'server' }),
  });
  node = withAgentPort(node, agentServer.port);
  log.info('agent service listening', { address: agentServer.address });

  const onRegistered = async (res: RegisterNodeResponse): Promise<void> => {
    const cidr = podCidrFromRegistration(runtime.network.podCidr, res.node?.spec?.podCIDR, identity.podCIDR);
    if (cidr.warning) log.warn(cidr.warning);
    if (cidr.cidr !== runtime.network.podCidr) log.info('pod CIDR assigned', { podCIDR: cidr.cidr });
    // The pod manager holds this same options object: its next network uses the CIDR.
    runtime.network.podCidr = cidr.cidr;
    if (cidr.persist) {
      identity.podCIDR = cidr.cidr;
      await writeNodeRecord(options.stateDir, identity);
    }
    if (res.natsUserJwt && res.natsUserJwt !== identity.natsJwt) {
      identity.natsJwt = res.natsUserJwt;
      reporter.setJwt(res.natsUserJwt);
      await writeNatsJwt(options.stateDir, res.natsUserJwt);
    }
    if (res.natsUrls.length > 0 && res.natsUrls.join(',') !== identity.natsUrls.join(',')) {
      identity.natsUrls = res.natsUrls;
      await writeNodeRecord(options.stateDir, identity);
      if (!options.natsUrls) reporter.setServers(res.natsUrls);
    }
  };
  await imagesRead;
  const session = new GatewaySession({
    endpoint: identity,
    nodeName: identity.nodeName,
    node: () => {
      // The CIDR in use goes with every registration: a request at the first, and the
      // controller keeps a stored node's own anyway.
      const cidr = runtime.network.podCidr;
      const withCidr: Node =
        cidr === '' ? node : { ...node, spec: { podCIDR: cidr, unschedulable: false, taints: [] } };
      return withCidr.status ? { ...withCidr, status: { ...withCidr.status, images: nodeImages } } : withCidr;
    },
    natsUserPublicKey: publicKeyOfSeed(identity.natsSeed),
    desired,
    log: log.child({ part: 'sync' }),
    onRegistered,
  });
  started.session = session;
  session.start();

  // The cluster network: the stream fills the holder; the programmer follows it with
  // routes and service rules and acks each state on NATS.
  const networkSession = new NetworkSession({
    client: session.gatewayClient,
    controller: identity.controller,
    nodeName: identity.nodeName,
    holder: network,
    log: log.child({ part: 'network' }),
  });
  const networkProgrammer = new NetworkProgrammer({
    nodeName: identity.nodeName,
    chainPrefix: chainPrefixFor(runtime.network.netnsPrefix),
    source: network,
    log: log.child({ part: 'network' }),
    onApplied: (ack) => reporter.publishNetworkApplied(ack),
  });
  programmer.current = networkProgrammer;
  networkProgrammer.start();
  networkSession.start();

  let stopping: Promise<void> | undefined;
  return {
    nodeName: identity.nodeName,
    agentInstance,
    desired,
    images,
    pods: manager,
    network,
    podCidr: () => runtime.network.podCidr,
    agentAddress: agentServer.address,
    stop: () =>
      (stopping ??= (async () => {
        log.info('stopping');
        // The pod manager's loop ends; its containers keep running (conmon holds them).
        await manager
          .stop()
          .catch((err: unknown) => log.warn('pod manager stop incomplete', { error: errorMessage(err) }));
        // The network session first: it shares the gateway session's client, which that closes.
        const results = await Promise.allSettled([
          networkSession.stop(),
          session.stop(),
          networkProgrammer.stop(),
          reporter.stop(),
          images.stop(),
          agentServer.stop(),
          dns.stop(),
        ]);
        for (const r of results)
          if (r.status === 'rejected') log.warn('stop incomplete', { error: errorMessage(r.reason) });
        useSpawnServer(undefined);
        log.info('stopped');
      })()),
  };
}
