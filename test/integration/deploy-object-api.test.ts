// The CLI's object API client (connectCluster) against a small in-process Cluster server
// over mTLS on loopback: each method reaches its RPC with the request as sent, a server
// stream arrives as an async iterable, and ResourceExhausted (EvictPod's "not yet")
// reaches drain as such, which retries it.
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import {
  createCertificateAuthority,
  issueCertificate,
  serverCredentials,
  toServiceError,
  resourceExhausted,
  type ClientConfig,
} from '@flotilla/common';
import { connectCluster, drainNode, type ClusterApi } from '@flotilla/deploy';
import {
  ClusterService,
  Deployment,
  Node,
  Pod,
  PodEvent_Type,
  type ApplyRequest,
  type ObjectEvent,
  type WatchObjectsRequest,
} from '@flotilla/proto';

const received: Array<[string, unknown]> = [];
let refusals = 1;
let evicted = false;
let cordoned = false;

const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<never>): void =>
  callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in this fake' });

const handlers: grpc.UntypedServiceImplementation = {
  apply: (call: grpc.ServerUnaryCall<ApplyRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    received.push(['apply', call.request]);
    callback(null, { results: call.request.objects.map((object) => ({ object, action: 'created' })) });
  },
  getObject: (
    call: grpc.ServerUnaryCall<{ kind: string; name: string }, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ) => {
    received.push(['getObject', call.request]);
    if (call.request.name === 'nope') {
      callback({ code: grpc.status.NOT_FOUND, details: `deployments.apps "nope" not found` });
      return;
    }
    callback(null, { deployment: Deployment.fromJSON({ metadata: { name: call.request.name } }) });
  },
  watchObjects: (call: grpc.ServerWritableStream<WatchObjectsRequest, ObjectEvent>) => {
    received.push(['watchObjects', call.request]);
    for (const replicas of [1, 3]) {
      call.write({
        type: PodEvent_Type.MODIFIED,
        object: {
          deployment: Deployment.fromJSON({ metadata: { name: call.request.name }, status: { replicas } }),
        },
      });
    }
    call.end();
  },
  scale: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    received.push(['scale', call.request]);
    callback(null, {});
  },
  getNode: (call: grpc.ServerUnaryCall<{ name: string }, Node>, callback: grpc.sendUnaryData<Node>) =>
    callback(
      null,
      Node.fromJSON({ metadata: { name: call.request.name }, spec: { unschedulable: cordoned } }),
    ),
  cordonNode: (
    call: grpc.ServerUnaryCall<{ name: string; unschedulable: boolean }, Node>,
    callback: grpc.sendUnaryData<Node>,
  ) => {
    cordoned = call.request.unschedulable;
    callback(
      null,
      Node.fromJSON({ metadata: { name: call.request.name }, spec: { unschedulable: cordoned } }),
    );
  },
  // The pod is on the node until its eviction is accepted (then its agent has stopped it).
  listPods: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
    callback(null, {
      items: evicted ? [] : [Pod.fromJSON({ metadata: { name: 'web-1', namespace: 'default', uid: 'u-1' } })],
    }),
  evictPod: (call: grpc.ServerUnaryCall<{ name: string }, Pod>, callback: grpc.sendUnaryData<Pod>) => {
    received.push(['evictPod', call.request]);
    if (refusals-- > 0) {
      callback(
        toServiceError(resourceExhausted('deployment "web" would have 1 of 3 available pods, needs 2')),
      );
      return;
    }
    evicted = true;
    callback(null, Pod.fromJSON({ metadata: { name: call.request.name } }));
  },
};

let server: grpc.Server;
let api: ClusterApi;

t.before(async () => {
  const ca = await createCertificateAuthority('test-ca');
  const serving = await issueCertificate(ca, {
    subject: { commonName: 'flotilla-controller' },
    usage: 'server',
    ipAddresses: ['127.0.0.1'],
    validDays: 1,
  });
  const admin = await issueCertificate(ca, {
    subject: { commonName: 'admin' },
    usage: 'client',
    validDays: 1,
  });
  server = new grpc.Server();
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(ClusterService)) implementation[name] = handlers[name] ?? unimplemented;
  server.addService(ClusterService, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      serverCredentials(ca.certPem, serving.certPem, serving.keyPem),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
  const config: ClientConfig = {
    apiVersion: 'flotilla/v1',
    kind: 'ClientConfig',
    server: `127.0.0.1:${port}`,
    caCertificate: ca.certPem,
    clientCertificate: admin.certPem,
    clientKey: admin.keyPem,
  };
  api = connectCluster(config, { timeoutMs: 5_000 });
});

t.teardown(async () => {
  api.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

t.test('unary object calls reach their RPC with the request as sent', async (t) => {
  received.length = 0;
  const applied = await api.apply([{ deployment: Deployment.fromJSON({ metadata: { name: 'web' } }) }], true);
  t.equal(applied.results[0]?.action, 'created');
  t.equal(applied.results[0]?.object?.deployment?.metadata?.name, 'web');
  const got = await api.getObject({ kind: 'Deployment', namespace: 'default', name: 'web' });
  t.equal(got.deployment?.metadata?.name, 'web');
  await api.scale({ kind: 'Deployment', namespace: 'default', name: 'web', replicas: 4 });
  t.same(
    received.map(([name]) => name),
    ['apply', 'getObject', 'scale'],
  );
  t.match(received[0]?.[1], { dryRun: true });
  t.match(received[2]?.[1], { kind: 'Deployment', name: 'web', replicas: 4 });
  await t.rejects(api.getObject({ kind: 'Deployment', namespace: 'default', name: 'nope' }), {
    code: 'NotFound',
    message: 'deployments.apps "nope" not found',
  });
  await t.rejects(api.rollout({ namespace: 'default', name: 'web', action: 1, toRevision: 0 }), {
    message: /not in this fake/,
  });
});

t.test('WatchObjects arrives as an async iterable of events', async (t) => {
  const seen: number[] = [];
  for await (const event of api.watchObjects({
    kind: 'Deployment',
    namespace: 'default',
    name: 'web',
    labelSelector: '',
    resourceVersion: '',
  })) {
    seen.push(event.object?.deployment?.status?.replicas ?? -1);
  }
  t.same(seen, [1, 3]);
});

t.test('drain over the wire: ResourceExhausted is retried, then the pod is evicted', async (t) => {
  received.length = 0;
  refusals = 1;
  cordoned = false;
  evicted = false;
  let out = '';
  let err = '';
  const code = await drainNode(
    api,
    'node-2',
    { timeoutMs: 60_000, retryMs: 10, sleep: async () => undefined },
    { stdout: (s) => (out += s), stderr: (s) => (err += s) },
  );
  t.equal(code, 0);
  t.ok(cordoned, 'cordoned');
  t.equal(received.filter(([name]) => name === 'evictPod').length, 2);
  t.match(
    err,
    /error when evicting pod default\/web-1 \(will retry after 10ms\): deployment "web" would have 1 of 3 available pods, needs 2/,
  );
  t.match(out, /pod\/web-1 evicted\nnode\/node-2 drained\n$/);
});
