// Who may call what (docs/CONTRACTS.md): the caller's identity comes from its client
// certificate, verified against the cluster CA on every call.
import {
  adminOrganization,
  authenticatePeer,
  nodeNameOfCommonName,
  nodeOrganization,
  permissionDenied,
  type PeerIdentity,
} from '@flotilla/common';

type Call = Parameters<typeof authenticatePeer>[0];

function describe(peer: PeerIdentity): string {
  return `CN=${peer.commonName}${peer.organizations.map((o) => `, O=${o}`).join('')}`;
}

/** Cluster.* : an admin certificate (organisation flotilla:admins). */
export function requireAdmin(call: Call, caPem: string, method: string): PeerIdentity {
  const peer = authenticatePeer(call, caPem);
  if (!peer.organizations.includes(adminOrganization)) {
    throw permissionDenied(
      `${method} needs an admin certificate (organisation ${adminOrganization}); the caller is ${describe(peer)}`,
    );
  }
  return peer;
}

/** NodeGateway calls about a node: that node's own certificate and nobody else's. */
export function requireNode(call: Call, caPem: string, method: string, nodeName: string): PeerIdentity {
  const peer = authenticatePeer(call, caPem);
  const certNode = nodeNameOfCommonName(peer.commonName);
  if (!peer.organizations.includes(nodeOrganization) || certNode === undefined) {
    throw permissionDenied(
      `${method} needs a node certificate (organisation ${nodeOrganization}); the caller is ${describe(peer)}`,
    );
  }
  if (certNode !== nodeName) {
    throw permissionDenied(
      `${method}: the certificate of node "${certNode}" cannot act for node "${nodeName}"`,
      {
        node: nodeName,
      },
    );
  }
  return peer;
}
