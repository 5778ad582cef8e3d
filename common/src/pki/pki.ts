// The cluster's certificate authority: ECDSA P-256 keys, X.509 certificates and PKCS#10
// requests. Keys are PKCS#8 PEM so grpc-js and node:tls take them as they are.
import { X509Certificate as NodeX509, createHash, randomBytes, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { invalidArgument, unauthenticated } from '../errors/errors.js';

// @peculiar/x509 takes ~160 ms to load; only issuing and signing need it (every CLI
// command loads this module), so it is imported on first use.
let x509Module: Promise<typeof X509> | undefined;
function loadX509(): Promise<typeof X509> {
  x509Module ??= import('@peculiar/x509').then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  });
  return x509Module;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const day = 24 * 60 * 60 * 1000;

export interface KeyAndCert {
  certPem: string;
  keyPem: string;
}

export type CertUsage = 'server' | 'client' | 'both';

export interface Subject {
  commonName: string;
  organization?: string;
}

export interface CertificateRequestOptions {
  subject: Subject;
  usage: CertUsage;
  dnsNames?: string[];
  ipAddresses?: string[];
  validDays: number;
}

function distinguishedName(subject: Subject): string {
  const escape = (v: string): string => v.replace(/([,+"\\<>;=])/g, '\\$1');
  let dn = `CN=${escape(subject.commonName)}`;
  if (subject.organization) dn += `, O=${escape(subject.organization)}`;
  return dn;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const x509 = await loadX509();
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const x509 = await loadX509();
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw invalidArgument('private key PEM holds no key');
  return webcrypto.subtle.importKey('pkcs8', der, algorithm, true, ['sign']);
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return bytes.toString('hex');
}

function usageExtensions(x509: typeof X509, usage: CertUsage): X509.Extension[] {
  const eku: string[] = [];
  if (usage === 'server' || usage === 'both') eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (usage === 'client' || usage === 'both') eku.push(x509.ExtendedKeyUsage.clientAuth);
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(eku, false),
  ];
}

function altNames(x509: typeof X509, dnsNames: string[] = [], ipAddresses: string[] = []): X509.Extension[] {
  const names = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  return names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : [];
}

export async function createCertificateAuthority(commonName: string, validDays = 3650): Promise<KeyAndCert> {
  const x509 = await loadX509();
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: distinguishedName({ commonName }),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validDays * day),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

async function signPublicKey(
  ca: KeyAndCert,
  publicKey: CryptoKey,
  options: CertificateRequestOptions,
): Promise<string> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.certPem);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: distinguishedName(options.subject),
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + options.validDays * day),
    signingAlgorithm: algorithm,
    publicKey,
    signingKey: await importPrivateKey(ca.keyPem),
    extensions: [
      ...usageExtensions(x509, options.usage),
      ...altNames(x509, options.dnsNames, options.ipAddresses),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return cert.toString('pem');
}

/** A fresh key and a certificate for it, signed by the CA (admin, controller serving cert). */
export async function issueCertificate(
  ca: KeyAndCert,
  options: CertificateRequestOptions,
): Promise<KeyAndCert> {
  const keys = await generateKeys();
  return {
    certPem: await signPublicKey(ca, keys.publicKey, options),
    keyPem: await privateKeyPem(keys.privateKey),
  };
}

/** A key that stays with its owner, and a request that carries only its public half. */
export async function createCertificateRequest(
  subject: Subject,
): Promise<{ csrPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: distinguishedName(subject),
    keys,
    signingAlgorithm: algorithm,
  });
  return { csrPem: csr.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * Signs the public key of a CSR. The subject comes from the caller (who authenticated the
 * requester), never from the CSR, so a request cannot name itself admin.
 */
export async function signCertificateRequest(
  ca: KeyAndCert,
  csrPem: string,
  options: CertificateRequestOptions,
): Promise<string> {
  const x509 = await loadX509();
  let csr: X509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw invalidArgument(`csrPem is not a PEM certificate signing request: ${(err as Error).message}`, {
      field: 'csrPem',
    });
  }
  if (!(await csr.verify())) {
    throw invalidArgument('csrPem is not signed by the key it carries', { field: 'csrPem' });
  }
  const publicKey = await webcrypto.subtle.importKey('spki', csr.publicKey.rawData, algorithm, true, [
    'verify',
  ]);
  return signPublicKey(ca, publicKey, options);
}

/** sha256:<hex> over the CA's SubjectPublicKeyInfo, the form kubeadm pins. */
export function caCertHash(certPem: string): string {
  const cert = new NodeX509(certPem);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(spki).digest('hex');
}

export interface PeerIdentity {
  commonName: string;
  organizations: string[];
  notAfter: Date;
}

function parseSubject(subject: string): { cn: string; o: string[] } {
  let cn = '';
  const o: string[] = [];
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'CN') cn = value;
    if (key === 'O') o.push(value);
  }
  return { cn, o };
}

/**
 * Checks a client certificate presented over TLS against the cluster CA: issued and
 * signed by it, inside its validity window, meant for client authentication.
 */
export function verifyClientCertificate(caPem: string, certDer: Buffer, now = new Date()): PeerIdentity {
  const ca = new NodeX509(caPem);
  let cert: NodeX509;
  try {
    cert = new NodeX509(certDer);
  } catch {
    throw unauthenticated('client certificate cannot be parsed');
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw unauthenticated("client certificate is not signed by this cluster's CA");
  }
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now < notBefore || now > notAfter) {
    throw unauthenticated(`client certificate is valid only from ${cert.validFrom} to ${cert.validTo}`);
  }
  const clientAuthOid = '1.3.6.1.5.5.7.3.2';
  if (cert.keyUsage && !cert.keyUsage.includes(clientAuthOid)) {
    throw unauthenticated('certificate is not for client authentication');
  }
  const { cn, o } = parseSubject(cert.subject);
  return { commonName: cn, organizations: o, notAfter };
}

export function certificateNotAfter(certPem: string): Date {
  return new Date(new NodeX509(certPem).validTo);
}
