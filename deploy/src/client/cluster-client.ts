// The controller's Cluster API as promises with deadlines. Every failure comes back as a
// FlotillaError carrying the server's message (fromServiceError), so commands print it
// as is.
import * as grpc from '@grpc/grpc-js';
import {
  type ClientConfig,
  FlotillaError,
  controllerChannel,
  fromServiceError,
  isServiceError,
  readClientConfig,
} from '@flotilla/common';
import {
  ClusterClient,
  type ClusterStatus,
  type CreateJoinTokenRequest,
  type CreateJoinTokenResponse,
  type JoinToken,
  type ListJoinTokensResponse,
  type DeletePodRequest,
  type ListNodesRequest,
  type ListPodsRequest,
  type LogsRequest,
  type LogsResponse,
  type Node,
  type NodeList,
  type Pod,
  type PodEvent,
  type PodList,
  type StreamRequest,
  type StreamResponse,
  type WatchPodsRequest,
  type ApplyResponse,
  type CordonNodeRequest,
  type DeleteObjectRequest,
  type Deployment,
  type EvictPodRequest,
  type ListObjectsRequest,
  type Object as ApiObject,
  type ObjectEvent,
  type ObjectKey,
  type ObjectList,
  type RolloutRequest,
  type ScaleRequest,
  type WatchObjectsRequest,
} from '@flotilla/proto';
import { trace, tracing } from '../cli/trace.js';

/** A server stream: iterate it; cancel ends it from this side (the iteration then just ends). */
export interface ServerStream<T> extends AsyncIterable<T> {
  cancel(): void;
}

/** A bidirectional Exec or Attach call: frames out, responses in; errors as FlotillaError. */
export interface PodStream {
  send(request: StreamRequest): void;
  /** No more frames from this side. */
  end(): void;
  /** Ends the call from this side (detach). */
  cancel(): void;
  responses: AsyncIterable<StreamResponse>;
}

/** The declarative object API (apply, get, delete, scale, rollout, cordon, drain). */
export interface ObjectApi {
  /** Validated whole, then written in one transaction or not at all. */
  apply(objects: ApiObject[], dryRun: boolean): Promise<ApplyResponse>;
  getObject(key: ObjectKey): Promise<ApiObject>;
  listObjects(request: ListObjectsRequest): Promise<ObjectList>;
  /** The current objects as ADDED, then changes, until the caller stops iterating. */
  watchObjects(request: WatchObjectsRequest): ServerStream<ObjectEvent>;
  deleteObject(request: DeleteObjectRequest): Promise<ApiObject>;
  scale(request: ScaleRequest): Promise<ApiObject>;
  rollout(request: RolloutRequest): Promise<Deployment>;
  cordonNode(request: CordonNodeRequest): Promise<Node>;
  /** ResourceExhausted while the pod's Deployment cannot lose another available pod. */
  evictPod(request: EvictPodRequest): Promise<Pod>;
}

export interface ClusterApi extends ObjectApi {
  /** host:port of the controller. */
  readonly server: string;
  listNodes(request: ListNodesRequest): Promise<NodeList>;
  getNode(name: string): Promise<Node>;
  createJoinToken(request: CreateJoinTokenRequest): Promise<CreateJoinTokenResponse>;
  listJoinTokens(): Promise<ListJoinTokensResponse>;
  revokeJoinToken(id: string): Promise<JoinToken>;
  getClusterStatus(): Promise<ClusterStatus>;
  createPod(pod: Pod, dryRun?: boolean): Promise<Pod>;
  getPod(namespace: string, name: string): Promise<Pod>;
  listPods(request: ListPodsRequest): Promise<PodList>;
  /** Guarded by metadata.resourceVersion: Conflict when the pod changed since it was read. */
  updatePod(pod: Pod): Promise<Pod>;
  deletePod(request: DeletePodRequest): Promise<Pod>;
  /** The current pods as ADDED, then changes, until the caller stops iterating. */
  watchPods(request: WatchPodsRequest): ServerStream<PodEvent>;
  podLogs(request: LogsRequest): ServerStream<LogsResponse>;
  exec(): PodStream;
  attach(): PodStream;
  close(): void;
}

export interface ClusterApiOptions {
  /** Deadline of each call; default 15 s. */
  timeoutMs?: number;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** grpc-js's "No connection established. Last error: Error: connect ECONNREFUSED …" made readable. */
export function unavailableMessage(server: string, details: string): string {
  let why = details
    .replace(/^No connection established\.\s*/, '')
    .replace(/^Last error:\s*(Error:\s*)?/, '')
    .replace(/\.?\s*Resolution note:.*$/s, '')
    .trim();
  if (/ECONNREFUSED/.test(why)) why = 'connection refused';
  else if (/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/.test(why)) why = 'no route or no answer';
  return `cannot reach the controller at ${server}: ${why || 'unavailable'} (is it running? "deploy status" shows a local cluster)`;
}

export function connectCluster(config: ClientConfig, options: ClusterApiOptions = {}): ClusterApi {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const channel = controllerChannel(config.server, {
    caPem: config.caCertificate,
    certPem: config.clientCertificate,
    keyPem: config.clientKey,
  });
  const client = new ClusterClient(config.server, channel.credentials, channel.options);
  if (tracing()) traceConnectivity(client.getChannel());
  // Dial now rather than at the first call: the TCP and TLS handshakes then overlap
  // whatever the command does before that call (withClusterAfter).
  client.getChannel().getConnectivityState(true);
  const mapError = (error: grpc.ServiceError): FlotillaError => {
    const err = fromServiceError(error, config.server);
    if (err.code === 'Unavailable') {
      return new FlotillaError(
        'Unavailable',
        unavailableMessage(config.server, error.details),
        {},
        { cause: error },
      );
    }
    if (err.code === 'DeadlineExceeded') {
      return new FlotillaError(
        'DeadlineExceeded',
        `the controller at ${config.server} did not answer within ${timeoutMs / 1000}s`,
        {},
        { cause: error },
      );
    }
    return err;
  };
  const call = <Req, Res>(name: string, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> =>
    new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      trace(`${name}: sent`);
      method(request, new grpc.Metadata(), { deadline }, (error, response) => {
        trace(`${name}: answered`);
        if (!error) return resolve(response);
        reject(mapError(error));
      });
    });
  // A server stream as an async iterable; leaving the loop early or cancel() ends the call.
  const serverStream = <T>(
    stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<StreamRequest, T>,
  ): ServerStream<T> => {
    let cancelled = false;
    // The iterator reports errors; this keeps a late one (after cancel) from going unhandled.
    stream.on('error', () => undefined);
    async function* read(): AsyncGenerator<T> {
      try {
        for await (const item of stream) yield item as T;
      } catch (error) {
        if (cancelled) return;
        if (isServiceError(error)) throw mapError(error);
        throw error;
      } finally {
        stream.cancel();
      }
    }
    const iterable = read();
    return {
      [Symbol.asyncIterator]: () => iterable,
      cancel: () => {
        cancelled = true;
        stream.cancel();
      },
    };
  };
  const duplex = (stream: grpc.ClientDuplexStream<StreamRequest, StreamResponse>): PodStream => {
    // A write after the call ended (the container exited) is not an error worth reporting.
    const responses = serverStream<StreamResponse>(stream);
    let ended = false;
    return {
      send: (request) => {
        if (!ended && stream.writable) stream.write(request);
      },
      end: () => {
        if (!ended) stream.end();
        ended = true;
      },
      cancel: () => responses.cancel(),
      responses,
    };
  };
  return {
    server: config.server,
    listNodes: (request) => call('listNodes', client.listNodes.bind(client), request),
    getNode: (name) => call('getNode', client.getNode.bind(client), { name }),
    createJoinToken: (request) => call('createJoinToken', client.createJoinToken.bind(client), request),
    listJoinTokens: () => call('listJoinTokens', client.listJoinTokens.bind(client), {}),
    revokeJoinToken: (id) => call('revokeJoinToken', client.revokeJoinToken.bind(client), { id }),
    getClusterStatus: () => call('getClusterStatus', client.getClusterStatus.bind(client), {}),
    createPod: (pod, dryRun = false) => call('createPod', client.createPod.bind(client), { pod, dryRun }),
    getPod: (namespace, name) => call('getPod', client.getPod.bind(client), { namespace, name }),
    listPods: (request) => call('listPods', client.listPods.bind(client), request),
    updatePod: (pod) => call('updatePod', client.updatePod.bind(client), { pod }),
    deletePod: (request) => call('deletePod', client.deletePod.bind(client), request),
    watchPods: (request) => serverStream(client.watchPods(request)),
    podLogs: (request) => serverStream(client.podLogs(request)),
    exec: () => duplex(client.exec()),
    attach: () => duplex(client.attach()),
    apply: (objects, dryRun) => call('apply', client.apply.bind(client), { objects, dryRun }),
    getObject: (key) => call('getObject', client.getObject.bind(client), key),
    listObjects: (request) => call('listObjects', client.listObjects.bind(client), request),
    watchObjects: (request) => serverStream(client.watchObjects(request)),
    deleteObject: (request) => call('deleteObject', client.deleteObject.bind(client), request),
    scale: (request) => call('scale', client.scale.bind(client), request),
    rollout: (request) => call('rollout', client.rollout.bind(client), request),
    cordonNode: (request) => call('cordonNode', client.cordonNode.bind(client), request),
    evictPod: (request) => call('evictPod', client.evictPod.bind(client), request),
    close: () => client.close(),
  };
}

/** FLOTILLA_CLI_TRACE: each connectivity state of the channel as it changes. */
function traceConnectivity(channel: ReturnType<grpc.Client['getChannel']>): void {
  const watch = (): void => {
    const state = channel.getConnectivityState(false);
    trace(`channel ${grpc.connectivityState[state]}`);
    if (state === grpc.connectivityState.SHUTDOWN) return;
    channel.watchConnectivityState(state, Infinity, watch);
  };
  watch();
}

/** Reads the client config at path and connects; the caller closes. */
export async function openCluster(configPath: string, options: ClusterApiOptions = {}): Promise<ClusterApi> {
  return connectCluster(await readClientConfig(configPath), options);
}

/** Runs fn with a connection that is closed afterwards, whatever happens. */
export async function withCluster<T>(
  configPath: string,
  fn: (api: ClusterApi) => Promise<T>,
  options: ClusterApiOptions = {},
): Promise<T> {
  trace('config: reading');
  const api = await openCluster(configPath, options);
  trace('config read, channel made');
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}

/**
 * withCluster, but the connection is opened (config read, TLS handshake under way) while
 * prepare does the command's local work, such as reading and checking manifests, instead
 * of after it. A failure of prepare is reported rather than one of the connection (a bad
 * manifest before a missing config), as when prepare ran first.
 */
export async function withClusterAfter<P, T>(
  configPath: string,
  prepare: () => Promise<P>,
  fn: (api: ClusterApi, prepared: P) => Promise<T>,
  options: ClusterApiOptions = {},
): Promise<T> {
  const opening = openCluster(configPath, options);
  // Handled here so that a failure while prepare runs is not an unhandled rejection;
  // it is still thrown by the await below.
  opening.catch(() => undefined);
  let prepared: P;
  try {
    prepared = await prepare();
  } catch (err) {
    opening.then(
      (api) => api.close(),
      () => undefined,
    );
    throw err;
  }
  const api = await opening;
  try {
    return await fn(api, prepared);
  } finally {
    api.close();
  }
}
