// Connections from the controller to the agents' Agent service, one per node, kept open
// and reused. The agent's certificate is checked by the cluster CA (the TLS handshake)
// and by its name, CN=node:<nodeName> — not by the address dialled: a node's InternalIP
// may change, its name does not, and only the CA issues node names.
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { channelOptions, nodeCommonName } from '@flotilla/common';
import { AgentClient } from '@flotilla/proto';

export interface AgentDialTls {
  caPem: string;
  /** The controller's own certificate (clientAuth, O=flotilla:controllers) and key. */
  certPem: string;
  keyPem: string;
}

const serverAuthOid = '1.3.6.1.5.5.7.3.1';

/**
 * checkServerIdentity for an agent: the certificate must name the node we meant and be
 * meant for serving. Returns an Error to refuse, as node:tls wants.
 */
export function checkNodeIdentity(
  nodeName: string,
): (host: string, cert: PeerCertificate) => Error | undefined {
  const want = nodeCommonName(nodeName);
  return (_host, cert) => {
    const cn = cert.subject?.CN;
    const got = Array.isArray(cn) ? cn.join(',') : cn;
    if (got !== want) {
      return new Error(`the agent presented a certificate for CN=${got ?? '(none)'}, not ${want}`);
    }
    const usages = cert.ext_key_usage;
    if (usages !== undefined && !usages.includes(serverAuthOid)) {
      return new Error(
        `the certificate of node "${nodeName}" is for clients only (issued before agents served); re-join the node to get one for serving`,
      );
    }
    return undefined;
  };
}

/** Credentials and channel options for dialling one node's agent. */
export function agentChannel(
  nodeName: string,
  tls: AgentDialTls,
): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  return {
    credentials: grpc.credentials.createSsl(
      Buffer.from(tls.caPem),
      Buffer.from(tls.keyPem),
      Buffer.from(tls.certPem),
      {
        checkServerIdentity: checkNodeIdentity(nodeName),
      },
    ),
    // Dialling an IP, grpc-js would send it as the TLS server name (RFC 6066 forbids it);
    // the node's certificate name goes instead, and checkNodeIdentity checks it.
    options: {
      ...channelOptions,
      'grpc.ssl_target_name_override': nodeCommonName(nodeName).replace(':', '-'),
    },
  };
}

/** One AgentClient per node, replaced when the node's address changes. */
export class AgentClients {
  private readonly clients = new Map<string, { address: string; client: AgentClient }>();

  constructor(private readonly tls: AgentDialTls) {}

  get(nodeName: string, address: string): AgentClient {
    const known = this.clients.get(nodeName);
    if (known && known.address === address) return known.client;
    known?.client.close();
    const { credentials, options } = agentChannel(nodeName, this.tls);
    const client = new AgentClient(address, credentials, options);
    this.clients.set(nodeName, { address, client });
    return client;
  }

  close(): void {
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }
}
