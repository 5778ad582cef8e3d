// TLS for every gRPC connection. The server asks every client for a certificate but lets
// the handshake finish without one, so that Join can run before an agent has one; every
// other method rejects a caller whose certificate the cluster CA did not sign
// (see authenticatePeer).
import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { type PeerIdentity, verifyClientCertificate } from '../pki/pki.js';
import { unauthenticated } from '../errors/errors.js';

class OptionalClientCertCredentials extends grpc.ServerCredentials {
  constructor(caPem: string, certChainPem: string, keyPem: string) {
    super(
      { requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      { ca: [Buffer.from(caPem)], cert: [Buffer.from(certChainPem)], key: [Buffer.from(keyPem)] },
    );
  }
  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export function serverCredentials(
  caPem: string,
  certChainPem: string,
  keyPem: string,
): grpc.ServerCredentials {
  return new OptionalClientCertCredentials(caPem, certChainPem, keyPem);
}

export interface ClientTls {
  caPem: string;
  /** Absent only for the agent's Join. */
  certPem?: string;
  keyPem?: string;
  /** The name the server certificate must carry; defaults to the host dialled. */
  serverName?: string;
}

export function clientCredentials(tls: ClientTls): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(tls.caPem),
    tls.keyPem ? Buffer.from(tls.keyPem) : null,
    tls.certPem ? Buffer.from(tls.certPem) : null,
  );
}

/** "host:port", or "[v6]:port" for an IPv6 address (the inverse of hostOfAddress). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The host of "host:port" or "[v6]:port". */
export function hostOfAddress(address: string): string {
  return address.slice(0, address.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
}

/**
 * Credentials and options for dialling a controller at "host:port". Dialling an IP,
 * grpc-js would send the IP as the TLS server name, which RFC 6066 forbids (Node warns
 * on every call); so a fixed name goes out instead and the certificate is still checked
 * against the IP dialled.
 */
export function controllerChannel(
  address: string,
  tls: ClientTls,
): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  const host = hostOfAddress(address);
  if (isIP(host) === 0) return { credentials: clientCredentials(tls), options: channelOptions };
  return {
    credentials: grpc.credentials.createSsl(
      Buffer.from(tls.caPem),
      tls.keyPem ? Buffer.from(tls.keyPem) : null,
      tls.certPem ? Buffer.from(tls.certPem) : null,
      { checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert) },
    ),
    options: { ...channelOptions, 'grpc.ssl_target_name_override': 'flotilla-controller' },
  };
}

interface CallWithAuth {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

/** The verified identity of the caller, from the certificate it presented. */
export function authenticatePeer(call: CallWithAuth, caPem: string): PeerIdentity {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert || !cert.raw || cert.raw.length === 0) {
    throw unauthenticated('this call needs a client certificate signed by the cluster CA');
  }
  return verifyClientCertificate(caPem, cert.raw);
}

export const channelOptions: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2_000,
};
