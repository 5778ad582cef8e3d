// The controller's one gRPC port: TLS always, client certificates checked per call.
import * as grpc from '@grpc/grpc-js';
import {
  ClusterService,
  NodeGatewayService,
  type ClusterServer,
  type NodeGatewayServer,
} from '@flotilla/proto';
import { bindServer, serverCredentials, stopServer } from '@flotilla/common';
import { formatHostPort, type HostPort } from '../options/parse.js';

export interface GrpcServerOptions {
  listen: HostPort;
  caPem: string;
  certChainPem: string;
  keyPem: string;
  cluster: ClusterServer;
  gateway: NodeGatewayServer;
}

export interface RunningGrpcServer {
  /** host:port actually bound (the port is chosen by the system when 0 was asked for). */
  address: string;
  /** Stops accepting calls, waits up to graceMs for running ones, then cuts the rest. */
  stop(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 5_000,
  });
  server.addService(ClusterService, options.cluster);
  server.addService(NodeGatewayService, options.gateway);
  const wanted = formatHostPort(options.listen);
  const creds = serverCredentials(options.caPem, options.certChainPem, options.keyPem);
  const port = await bindServer(server, wanted, creds, '--listen');
  const address = formatHostPort({ host: options.listen.host, port });
  return {
    address,
    stop: (graceMs = 2_000) => stopServer(server, graceMs),
  };
}
