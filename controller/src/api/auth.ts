// Who may call what (docs/CONTRACTS.md): the caller's identity comes from its client
// certificate, verified against the cluster CA on every call. A certificate verified once
// is remembered (its validity window is still checked every call): parsing the CA and
// checking the signature again on each call was 2 % of a busy controller's CPU.
import {
  adminOrganization,
  authenticatePeer,
  nodeNameOfCommonName,
  nodeOrganization,
  permissionDenied,
  unauthenticated,
  type PeerIdentity,
} from '@flotilla/common';

type Call = Parameters<typeof authenticatePeer>[0];

/** How many verified certificates are remembered; the oldest is forgotten first. */
const verifiedLimit = 4096;
/** Verified identities by CA and certificate (DER, base64), in order of verification. */
const verified = new Map<string, PeerIdentity>();

/** The caller's identity, verified against caPem (remembered after the first time). */
export function verifiedPeer(call: Call, caPem: string, now = new Date()): PeerIdentity {
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!raw || raw.length === 0) return authenticatePeer(call, caPem);
  const key = `${caPem}\n${raw.toString('base64')}`;
  const known = verified.get(key);
  if (known) {
    // It was valid when first verified, so only its end can have passed since.
    if (now <= known.notAfter) return known;
    verified.delete(key);
    throw unauthenticated(`client certificate expired at ${known.notAfter.toISOString()}`);
  }
  const peer = authenticatePeer(call, caPem);
  verified.set(key, peer);
  while (verified.size > verifiedLimit) {
    const oldest = verified.keys().next().value;
    if (oldest === undefined) break;
    verified.delete(oldest);
  }
  return peer;
}

function describe(peer: PeerIdentity): string {
  return `CN=${peer.commonName}${peer.organizations.map((o) => `, O=${o}`).join('')}`;
}

/** Cluster.* : an admin certificate (organisation flotilla:admins). */
export function requireAdmin(call: Call, caPem: string, method: string): PeerIdentity {
  const peer = verifiedPeer(call, caPem);
  if (!peer.organizations.includes(adminOrganization)) {
    throw permissionDenied(
      `${method} needs an admin certificate (organisation ${adminOrganization}); the caller is ${describe(peer)}`,
    );
  }
  return peer;
}

/** NodeGateway calls about a node: that node's own certificate and nobody else's. */
export function requireNode(call: Call, caPem: string, method: string, nodeName: string): PeerIdentity {
  const peer = verifiedPeer(call, caPem);
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
