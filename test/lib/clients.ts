// Clients the tests use to look at the cluster the way the CLI and the controller do.
import * as grpc from '@grpc/grpc-js';
import {
  controllerChannel,
  readClientConfig,
  fromServiceError,
  signUserJwt,
  newUserSeed,
  type NatsKeys,
} from '@flotilla/common';
import {
  ClusterClient,
  type Node,
  type NodeList,
  type CreateJoinTokenResponse,
  type JoinToken,
  type ListJoinTokensResponse,
  type ClusterStatus,
  type Pod,
  type PodList,
} from '@flotilla/proto';
import { Etcd3 } from 'etcd3';
import { connect, jwtAuthenticator, type NatsConnection } from 'nats';

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

export function unary<Req, Res>(method: Unary<Req, Res>, request: Req, timeoutMs = 10_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(fromServiceError(err)) : resolve(res),
    );
  });
}

export class AdminClient {
  constructor(readonly client: ClusterClient) {}

  static async fromConfigFile(path: string): Promise<AdminClient> {
    const config = await readClientConfig(path);
    return AdminClient.forTls(
      config.server,
      config.caCertificate,
      config.clientCertificate,
      config.clientKey,
    );
  }

  static forTls(server: string, caPem: string, certPem?: string, keyPem?: string): AdminClient {
    const tls = certPem && keyPem ? { caPem, certPem, keyPem } : { caPem };
    const channel = controllerChannel(server, tls);
    return new AdminClient(new ClusterClient(server, channel.credentials, channel.options));
  }

  listNodes(labelSelector = ''): Promise<NodeList> {
    return unary(this.client.listNodes.bind(this.client), { labelSelector });
  }
  getNode(name: string): Promise<Node> {
    return unary(this.client.getNode.bind(this.client), { name });
  }
  createJoinToken(ttlSeconds = 0, description = ''): Promise<CreateJoinTokenResponse> {
    return unary(this.client.createJoinToken.bind(this.client), { ttlSeconds, description });
  }
  listJoinTokens(): Promise<ListJoinTokensResponse> {
    return unary(this.client.listJoinTokens.bind(this.client), {});
  }
  revokeJoinToken(id: string): Promise<JoinToken> {
    return unary(this.client.revokeJoinToken.bind(this.client), { id });
  }
  clusterStatus(): Promise<ClusterStatus> {
    return unary(this.client.getClusterStatus.bind(this.client), {});
  }
  createPod(pod: Pod): Promise<Pod> {
    return unary(this.client.createPod.bind(this.client), { pod, dryRun: false });
  }
  getPod(name: string, namespace = 'default'): Promise<Pod> {
    return unary(this.client.getPod.bind(this.client), { namespace, name });
  }
  listPods(namespace = ''): Promise<PodList> {
    return unary(this.client.listPods.bind(this.client), { namespace, labelSelector: '', nodeName: '' });
  }
  deletePod(name: string, namespace = 'default', force = false): Promise<Pod> {
    return unary(this.client.deletePod.bind(this.client), { namespace, name, force, uid: '' });
  }
  close(): void {
    this.client.close();
  }
}

export function readyCondition(node: Node): { status: string; reason: string } | undefined {
  const c = node.status?.conditions.find((x) => x.type === 'Ready');
  return c ? { status: c.status, reason: c.reason } : undefined;
}

export function isReady(node: Node | undefined): boolean {
  return node !== undefined && readyCondition(node)?.status === 'True';
}

export async function readEtcdJson<T>(endpoint: string, key: string): Promise<T | undefined> {
  const etcd = new Etcd3({ hosts: endpoint });
  try {
    const value = await etcd.get(key).string();
    return value === null ? undefined : (JSON.parse(value) as T);
  } finally {
    etcd.close();
  }
}

export async function putEtcd(endpoint: string, key: string, value: string): Promise<void> {
  const etcd = new Etcd3({ hosts: endpoint });
  try {
    await etcd.put(key).value(value);
  } finally {
    etcd.close();
  }
}

/** A NATS connection with the controller's rights, signed with the account seed from etcd. */
export async function connectNatsAsController(
  etcdEndpoint: string,
  natsUrl: string,
): Promise<NatsConnection> {
  const keys = await readEtcdJson<NatsKeys>(etcdEndpoint, '/flotilla/v1/cluster/nats');
  if (!keys) throw new Error('no NATS keys in etcd');
  const user = newUserSeed();
  const jwt = signUserJwt(keys, user.publicKey, 'test-observer', {
    pub: { allow: ['>'] },
    sub: { allow: ['>'] },
  });
  return connect({
    servers: natsUrl,
    authenticator: jwtAuthenticator(jwt, new TextEncoder().encode(user.seed)),
  });
}
