// Wires the layers: identity → node → gateway session (desired set) and NATS reporter.
// Each part retries on its own; none of them ends the agent because a peer is down.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type Logger, createLogger, errorMessage, publicKeyOfSeed } from '@flotilla/common';
import type { RegisterNodeResponse } from '@flotilla/proto';
import { probeHost } from '../host/probe.js';
import { ensureIdentity } from '../identity/ensure.js';
import { writeNatsJwt, writeNodeRecord } from '../identity/state-store.js';
import { ImageService } from '../images/image-service.js';
import { buildNode, internalAddress } from '../node/build.js';
import type { AgentOptions } from '../options/types.js';
import { NatsReporter } from '../report/nats-reporter.js';
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
  /** Closes the stream, drains NATS. Idempotent. */
  stop(): Promise<void>;
}

export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const baseLog = options.logger ?? createLogger({ component: 'agent' }, { level: options.logLevel });
  const identity = await ensureIdentity(options, baseLog, options.signal);
  const log = baseLog.child({ node: identity.nodeName });
  const facts = await probeHost();
  const node = buildNode(facts, {
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

  const desired = new DesiredSet();
  const agentInstance = randomUUID();
  const reporter = new NatsReporter({
    nodeName: identity.nodeName,
    agentInstance,
    servers: options.natsUrls ?? identity.natsUrls,
    jwt: identity.natsJwt,
    seed: identity.natsSeed,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    cpuCount: facts.cpuCount,
    // Nothing runs containers yet (issue 4).
    state: () => ({
      revision: desired.revision,
      synced: desired.synced,
      desiredPods: desired.keys(),
      runningPods: 0,
    }),
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

  const onRegistered = async (res: RegisterNodeResponse): Promise<void> => {
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
  const session = new GatewaySession({
    endpoint: identity,
    nodeName: identity.nodeName,
    node: () => node,
    natsUserPublicKey: publicKeyOfSeed(identity.natsSeed),
    desired,
    log: log.child({ part: 'sync' }),
    onRegistered,
  });
  session.start();

  let stopping: Promise<void> | undefined;
  return {
    nodeName: identity.nodeName,
    agentInstance,
    desired,
    images,
    stop: () =>
      (stopping ??= (async () => {
        log.info('stopping');
        const results = await Promise.allSettled([session.stop(), reporter.stop(), images.stop()]);
        for (const r of results)
          if (r.status === 'rejected') log.warn('stop incomplete', { error: errorMessage(r.reason) });
        log.info('stopped');
      })()),
  };
}
