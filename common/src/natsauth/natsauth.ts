// NATS decentralised auth: an operator signs an account, the account signs users. The
// server trusts the operator and has the account preloaded, so a user JWT the controller
// signs is honoured without touching the server: no per-node server configuration.
import { createAccount, createOperator, createUser, fromPublic, fromSeed } from 'nkeys.js';
import { createHash, createPrivateKey, sign as signEd25519, type KeyObject } from 'node:crypto';

export interface NatsKeys {
  operatorSeed: string;
  accountSeed: string;
  systemAccountSeed: string;
}

export interface UserPermissions {
  pub: { allow?: string[]; deny?: string[] };
  sub: { allow?: string[]; deny?: string[] };
  /** Lets the user answer requests sent to it on _INBOX subjects. */
  allowResponses?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function b64url(data: Uint8Array | string): string {
  return Buffer.from(typeof data === 'string' ? enc.encode(data) : data).toString('base64url');
}

const base32Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding, as nkeys encodes seeds and public keys. */
function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const digit = base32Alphabet.indexOf(ch);
    if (digit < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** PKCS #8 framing of a raw Ed25519 private key (RFC 8410): this prefix, then the 32-byte seed. */
const ed25519Pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

interface Issuer {
  publicKey: string;
  key: KeyObject;
}

/**
 * Issuers by seed, with the key as a native Ed25519 key: nkeys.js signs with tweetnacl in
 * JavaScript and derives the key pair from the seed again for the public key and for every
 * signature, ~15 ms of CPU per JWT — at 1,000 nodes joining (a JWT at join and another at
 * register) the largest item of the controller's profile (32 of 124 s). Ed25519 is
 * deterministic: the signature is the same bytes.
 */
const issuers = new Map<string, Issuer>();

function issuerOf(seed: string): Issuer {
  const known = issuers.get(seed);
  if (known) return known;
  const pair = fromSeed(enc.encode(seed)); // validates the seed (prefix, checksum)
  const publicKey = pair.getPublicKey();
  // A seed is 2 prefix bytes, the 32-byte Ed25519 seed and a CRC-16.
  const raw = base32Decode(seed).subarray(2, 34);
  const key = createPrivateKey({
    key: Buffer.concat([ed25519Pkcs8Prefix, raw]),
    format: 'der',
    type: 'pkcs8',
  });
  // A public key is 1 prefix byte, the 32-byte key and a CRC-16: it must be this key's.
  const expected = base32Decode(publicKey).subarray(1, 33).toString('base64url');
  const derived = key.export({ format: 'jwk' }).x;
  if (derived !== expected) throw new Error('the nkey seed does not decode to its own public key');
  const issuer = { publicKey, key };
  issuers.set(seed, issuer);
  return issuer;
}

function signJwt(
  issuerSeed: string,
  subject: string,
  name: string,
  nats: Record<string, unknown>,
  expiresAt?: Date,
): string {
  const issuer = issuerOf(issuerSeed);
  const header = { typ: 'JWT', alg: 'ed25519-nkey' };
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.publicKey,
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  if (expiresAt) claims.exp = Math.floor(expiresAt.getTime() / 1000);
  // jti is a hash of the claims without it, as the NATS tooling computes it.
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).digest('base64url');
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${signingInput}.${b64url(signEd25519(null, Buffer.from(signingInput), issuer.key))}`;
}

export function createNatsKeys(): NatsKeys {
  return {
    operatorSeed: dec.decode(createOperator().getSeed()),
    accountSeed: dec.decode(createAccount().getSeed()),
    systemAccountSeed: dec.decode(createAccount().getSeed()),
  };
}

export function publicKeyOfSeed(seed: string): string {
  return fromSeed(enc.encode(seed)).getPublicKey();
}

export function newUserSeed(): { seed: string; publicKey: string } {
  const kp = createUser();
  return { seed: dec.decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

export function isUserPublicKey(key: string): boolean {
  try {
    fromPublic(key);
  } catch {
    return false;
  }
  return key.startsWith('U');
}

export interface NatsServerAuth {
  operatorJwt: string;
  systemAccountPublicKey: string;
  accountPublicKey: string;
  accountJwt: string;
  systemAccountJwt: string;
}

export function natsServerAuth(keys: NatsKeys): NatsServerAuth {
  const operatorPub = publicKeyOfSeed(keys.operatorSeed);
  const accountPub = publicKeyOfSeed(keys.accountSeed);
  const systemPub = publicKeyOfSeed(keys.systemAccountSeed);
  const limits = {
    subs: -1,
    data: -1,
    payload: -1,
    imports: -1,
    exports: -1,
    wildcards: true,
    conn: -1,
    leaf: -1,
  };
  return {
    operatorJwt: signJwt(keys.operatorSeed, operatorPub, 'flotilla', {
      type: 'operator',
      system_account: systemPub,
    }),
    systemAccountPublicKey: systemPub,
    accountPublicKey: accountPub,
    accountJwt: signJwt(keys.operatorSeed, accountPub, 'FLOTILLA', { type: 'account', limits }),
    systemAccountJwt: signJwt(keys.operatorSeed, systemPub, 'SYS', { type: 'account', limits }),
  };
}

/** The nats-server configuration that trusts this cluster's operator. */
export function natsServerConfig(keys: NatsKeys, listen: { host: string; port: number }): string {
  const auth = natsServerAuth(keys);
  return [
    '# Written by flotilla: trusts the cluster operator; users are JWTs signed by the account.',
    `host: "${listen.host}"`,
    `port: ${listen.port}`,
    `operator: "${auth.operatorJwt}"`,
    `system_account: "${auth.systemAccountPublicKey}"`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${auth.accountPublicKey}: "${auth.accountJwt}"`,
    `  ${auth.systemAccountPublicKey}: "${auth.systemAccountJwt}"`,
    '}',
    '',
  ].join('\n');
}

export function signUserJwt(
  keys: NatsKeys,
  userPublicKey: string,
  name: string,
  permissions: UserPermissions,
  expiresAt?: Date,
): string {
  const nats: Record<string, unknown> = {
    type: 'user',
    pub: permissions.pub,
    sub: permissions.sub,
    subs: -1,
    data: -1,
    payload: -1,
  };
  if (permissions.allowResponses) nats.resp = { max: 1, ttl: 0 };
  return signJwt(keys.accountSeed, userPublicKey, name, nats, expiresAt);
}

/** A user JWT plus its seed, in the .creds format nats.js and the nats CLI read. */
export function credsFile(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}
