// The agent's gRPC port: the Agent service over TLS with the node's certificate. The
// handshake already demands a client certificate signed by the cluster CA; each call
// then checks that it is a controller's.
import * as grpc from '@grpc/grpc-js';
import { bindServer, joinHostPort, stopServer } from '@flotilla/common';
import { AgentService } from '@flotilla/proto';
import { createAgentService, type AgentServiceDeps } from './agent-service.js';

export { defaultAgentPort } from './listen.js';

export interface AgentServerOptions extends AgentServiceDeps {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The node's key and certificate (node.key, node.crt); the certificate must allow serverAuth. */
  keyPem: string;
  certPem: string;
}

export interface RunningAgentServer {
  /** The port bound (the system's choice when 0 was asked for). */
  port: number;
  /** "host:port" as bound. */
  address: string;
  /** Stops accepting calls, gives running ones graceMs, then cuts them. */
  stop(graceMs?: number): Promise<void>;
}

/** "host:port" or "[v6]:port": @flotilla/common's joinHostPort. */
export const formatAddress = joinHostPort;

export async function startAgentServer(options: AgentServerOptions): Promise<RunningAgentServer> {
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 5_000,
    // Controllers ping every 10 s (channelOptions), calls or not: do not count that as abuse.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  server.addService(AgentService, createAgentService(options));
  const credentials = grpc.ServerCredentials.createSsl(
    Buffer.from(options.caPem),
    [{ cert_chain: Buffer.from(options.certPem), private_key: Buffer.from(options.keyPem) }],
    true,
  );
  const wanted = formatAddress(options.host, options.port);
  const port = await bindServer(server, wanted, credentials, '--agent-listen');
  return {
    port,
    address: formatAddress(options.host, port),
    stop: (graceMs = 2_000) => stopServer(server, graceMs),
  };
}
