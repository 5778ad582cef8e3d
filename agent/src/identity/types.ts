/** What node.json holds: the non-secret half of the identity. */
export interface NodeRecord {
  nodeName: string;
  /** host:port of the controller this node joined through (a later --join replaces it). */
  controller: string;
  natsUrls: string[];
  /** RFC 3339 */
  joinedAt: string;
  /**
   * The pod CIDR the controller assigned at registration (its answer's node.spec.podCIDR);
   * used at the next start until the controller answers again. Absent before the first.
   */
  podCIDR?: string;
}

/** A node's complete identity, as kept in the state directory. */
export interface NodeIdentity extends NodeRecord {
  /** node.key: PKCS#8 PEM, never leaves the host. */
  keyPem: string;
  /** node.crt: CN=node:<name>, O=flotilla:nodes, signed by the cluster CA. */
  certPem: string;
  /** ca.crt: the cluster CA, the only root the agent trusts for the controller. */
  caPem: string;
  /** nats.seed: the agent's own NATS user nkey seed. */
  natsSeed: string;
  /** nats.jwt: the latest user JWT the controller signed for that key. */
  natsJwt: string;
}

export type StoredIdentity =
  | { state: 'complete'; identity: NodeIdentity }
  | { state: 'absent' }
  /** A join that stopped half-way (or files removed by hand): it is redone. */
  | { state: 'partial'; missing: string[] };
