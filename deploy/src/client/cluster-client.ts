// The controller's Cluster API as promises with deadlines. Every failure comes back as a
// FlotillaError carrying the server's message (fromServiceError), so commands print it
// as is.
import * as grpc from '@grpc/grpc-js';
import {
  type ClientConfig,
  FlotillaError,
  controllerChannel,
  fromServiceError,
  readClientConfig,
} from '@flotilla/common';
import {
  ClusterClient,
  type ClusterStatus,
  type CreateJoinTokenRequest,
  type CreateJoinTokenResponse,
  type JoinToken,
  type ListJoinTokensResponse,
  type ListNodesRequest,
  type Node,
  type NodeList,
} from '@flotilla/proto';

export interface ClusterApi {
  /** host:port of the controller. */
  readonly server: string;
  listNodes(request: ListNodesRequest): Promise<NodeList>;
  getNode(name: string): Promise<Node>;
  createJoinToken(request: CreateJoinTokenRequest): Promise<CreateJoinTokenResponse>;
  listJoinTokens(): Promise<ListJoinTokensResponse>;
  revokeJoinToken(id: string): Promise<JoinToken>;
  getClusterStatus(): Promise<ClusterStatus>;
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
  const call = <Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> =>
    new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + timeoutMs);
      method(request, new grpc.Metadata(), { deadline }, (error, response) => {
        if (!error) return resolve(response);
        const err = fromServiceError(error, config.server);
        if (err.code === 'Unavailable') {
          reject(
            new FlotillaError(
              'Unavailable',
              unavailableMessage(config.server, error.details),
              {},
              { cause: error },
            ),
          );
        } else if (err.code === 'DeadlineExceeded') {
          reject(
            new FlotillaError(
              'DeadlineExceeded',
              `the controller at ${config.server} did not answer within ${timeoutMs / 1000}s`,
              {},
              { cause: error },
            ),
          );
        } else reject(err);
      });
    });
  return {
    server: config.server,
    listNodes: (request) => call(client.listNodes.bind(client), request),
    getNode: (name) => call(client.getNode.bind(client), { name }),
    createJoinToken: (request) => call(client.createJoinToken.bind(client), request),
    listJoinTokens: () => call(client.listJoinTokens.bind(client), {}),
    revokeJoinToken: (id) => call(client.revokeJoinToken.bind(client), { id }),
    getClusterStatus: () => call(client.getClusterStatus.bind(client), {}),
    close: () => client.close(),
  };
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
  const api = await openCluster(configPath, options);
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}
