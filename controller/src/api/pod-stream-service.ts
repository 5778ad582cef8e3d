// The streaming pod calls of the Cluster service (logs, exec, attach), proxied to the
// Agent service of the pod's node: the pod is looked up in the store, its node's
// InternalIP and agent port dialled with the controller's own certificate, the pod's
// uid filled in, and frames piped both ways unchanged. Either side ending ends the other.
import * as grpc from '@grpc/grpc-js';
import {
  FlotillaError,
  fromServiceError,
  invalidArgument,
  isServiceError,
  notFound,
  firstFrame,
  streamHandler,
  unavailable,
  type Logger,
} from '@flotilla/common';
import type {
  ClusterServer,
  LogsRequest,
  LogsResponse,
  Node,
  StreamRequest,
  StreamResponse,
} from '@flotilla/proto';
import { formatHostPort } from '../options/parse.js';
import { nodeCodec, podCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/types.js';
import type { AgentClients } from './agent-clients.js';
import { requireAdmin } from './auth.js';

export type PodStreamMethods = 'podLogs' | 'exec' | 'attach';

export interface PodStreamDeps {
  store: Store;
  caPem: string;
  agents: AgentClients;
  log: Logger;
}

/** Where a pod's streams go: its uid, its node and that node's Agent service. */
export interface PodTarget {
  namespace: string;
  pod: string;
  uid: string;
  nodeName: string;
  address: string;
}

/** The Agent service address a node reports; an error naming what is missing otherwise. Pure. */
export function agentAddressOf(node: Node, pod: string): string {
  const name = node.metadata?.name ?? '';
  const ip = node.status?.addresses.find((a) => a.type === 'InternalIP')?.address ?? '';
  const port = node.status?.daemonEndpoints?.agentEndpoint?.port ?? 0;
  if (ip === '') {
    throw unavailable(`pod ${pod} runs on node "${name}", which reports no InternalIP address`, {
      object: `node/${name}`,
    });
  }
  if (port === 0) {
    throw unavailable(
      `pod ${pod} runs on node "${name}", whose agent reports no Agent service port (status.daemonEndpoints.agentEndpoint.port); upgrade or restart that agent`,
      { object: `node/${name}` },
    );
  }
  return formatHostPort({ host: ip, port });
}

type Duplex = grpc.ServerDuplexStream<StreamRequest, StreamResponse>;

/** An agent-side failure for the CLI: the agent's own refusals as they are, transport ones naming pod and node. */
function agentFailure(err: unknown, target: PodTarget): FlotillaError {
  const pod = `${target.namespace}/${target.pod}`;
  if (
    isServiceError(err) &&
    (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED)
  ) {
    return unavailable(
      `cannot reach the agent of node "${target.nodeName}" at ${target.address} for pod ${pod}: ${err.details || err.message}`,
      { object: `pod/${pod}` },
      err,
    );
  }
  return fromServiceError(err);
}

/** The agent's side of a proxied call: what relay reads from. */
interface Upstream<T> {
  on(event: 'data', listener: (message: T) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
  once(event: 'error', listener: (err: unknown) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * Copies the agent's messages to the client until the agent ends the call; a slow client
 * slows the agent down rather than filling the controller's memory. An agent failure
 * rejects (naming the pod and node) unless the client has cancelled.
 */
function relay<T>(
  upstream: Upstream<T>,
  call: {
    readonly cancelled: boolean;
    write(message: T): boolean;
    once(event: 'drain', listener: () => void): unknown;
  },
  target: PodTarget,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    upstream.on('data', (message: T) => {
      if (!call.write(message)) {
        upstream.pause();
        call.once('drain', () => upstream.resume());
      }
    });
    upstream.once('end', () => resolve());
    upstream.once('error', (err: unknown) => {
      if (call.cancelled) resolve();
      else reject(agentFailure(err, target));
    });
  });
}

export function createPodStreamService(deps: PodStreamDeps): Pick<ClusterServer, PodStreamMethods> {
  const { store, caPem, agents, log } = deps;

  const resolve = async (namespace: string, pod: string): Promise<PodTarget> => {
    const ns = namespace === '' ? 'default' : namespace;
    if (pod === '') throw invalidArgument('pod is required: the name of the pod', { field: 'pod' });
    const entry = await store.get(podCodec, keys.pod(ns, pod));
    if (!entry) throw notFound(`pod ${ns}/${pod} not found`, { object: `pod/${ns}/${pod}` });
    const nodeName = entry.value.spec?.nodeName ?? '';
    if (nodeName === '') {
      throw new FlotillaError(
        'FailedPrecondition',
        `pod ${ns}/${pod} is not on a node yet (not scheduled); wait until it is, e.g. with "deploy ps"`,
        { object: `pod/${ns}/${pod}`, field: 'spec.nodeName' },
      );
    }
    const node = await store.get(nodeCodec, keys.node(nodeName));
    if (!node) {
      throw unavailable(`pod ${ns}/${pod} is bound to node "${nodeName}", which is not registered`, {
        object: `node/${nodeName}`,
      });
    }
    return {
      namespace: ns,
      pod,
      uid: entry.value.metadata?.uid ?? '',
      nodeName,
      address: agentAddressOf(node.value, `${ns}/${pod}`),
    };
  };

  async function podLogs(call: grpc.ServerWritableStream<LogsRequest, LogsResponse>): Promise<void> {
    requireAdmin(call, caPem, 'Cluster.PodLogs');
    const target = await resolve(call.request.namespace, call.request.pod);
    const upstream = agents
      .get(target.nodeName, target.address)
      .logs({ ...call.request, namespace: target.namespace, uid: target.uid });
    const cancel = (): void => upstream.cancel();
    call.once('cancelled', cancel);
    call.once('close', cancel);
    await relay(upstream, call, target);
    call.off('cancelled', cancel);
    call.off('close', cancel);
    if (!call.cancelled && !call.writableEnded) call.end();
  }

  async function proxyDuplex(call: Duplex, method: 'Exec' | 'Attach'): Promise<void> {
    requireAdmin(call, caPem, `Cluster.${method}`);
    const first = await firstFrame<StreamRequest, StreamResponse>(call);
    if (first === undefined) return;
    const start = method === 'Exec' ? first.exec : first.attach;
    if (start === undefined) {
      throw invalidArgument(
        `the first frame of ${method} must carry ${method === 'Exec' ? 'exec (an ExecStart)' : 'attach (an AttachStart)'}`,
        { field: method === 'Exec' ? 'exec' : 'attach' },
      );
    }
    const target = await resolve(start.namespace, start.pod);
    const fill = { namespace: target.namespace, uid: target.uid };
    const client = agents.get(target.nodeName, target.address);
    const upstream = method === 'Exec' ? client.exec() : client.attach();
    upstream.write(
      first.exec !== undefined && method === 'Exec'
        ? { ...first, exec: { ...first.exec, ...fill } }
        : { ...first, attach: first.attach && { ...first.attach, ...fill } },
    );
    log.debug('proxying', { method, pod: `${target.namespace}/${target.pod}`, node: target.nodeName });

    const cancel = (): void => upstream.cancel();
    call.once('cancelled', cancel);
    call.once('close', () => {
      if (!call.writableEnded) cancel();
    });
    let upstreamDone = false;
    call.on('data', (frame: StreamRequest) => {
      if (!upstreamDone) upstream.write(frame);
    });
    call.once('end', () => {
      if (!upstreamDone) upstream.end();
    });
    call.resume();
    upstream.once('close', () => (upstreamDone = true));
    await relay(upstream, call, target);
    if (!call.cancelled && !call.writableEnded) call.end();
  }

  const serve = <C extends grpc.ServerWritableStream<LogsRequest, LogsResponse> | Duplex>(
    method: string,
    fn: (call: C) => Promise<void>,
  ): ((call: C) => void) => streamHandler(log, `Cluster.${method}`, fn);

  return {
    podLogs: serve('PodLogs', podLogs),
    exec: serve('Exec', (call: Duplex) => proxyDuplex(call, 'Exec')),
    attach: serve('Attach', (call: Duplex) => proxyDuplex(call, 'Attach')),
  };
}
