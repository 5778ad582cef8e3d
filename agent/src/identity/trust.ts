// How an agent without a certificate comes to trust the controller for its first join:
// a CA file handed over out of band, or a pin of the CA's public key (kubeadm's
// --discovery-token-ca-cert-hash) checked against the chain the controller presents.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { caCertHash, errorMessage, failedPrecondition, unavailable } from '@flotilla/common';
import { hostOf, portOf } from '../options/validate.js';
import { UsageError } from '../options/usage-error.js';

/** Reads --ca-file: one PEM certificate that is a CA. */
export async function loadCaFile(path: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--ca-file "${path}" cannot be read: ${errorMessage(err)}; want the cluster CA certificate (PEM)`,
      {
        field: '--ca-file',
        value: path,
      },
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new UsageError(`--ca-file "${path}" is not a PEM certificate: ${errorMessage(err)}`, {
      field: '--ca-file',
      value: path,
    });
  }
  if (!cert.ca) {
    throw new UsageError(
      `--ca-file "${path}" holds a certificate that is not a CA (${cert.subject.replaceAll('\n', ', ')})`,
      {
        field: '--ca-file',
        value: path,
      },
    );
  }
  return pem;
}

/** The certificates the server at `address` presents, leaf first. Unreachable → Unavailable. */
export function fetchPresentedChain(address: string, timeoutMs = 10_000): Promise<X509Certificate[]> {
  const host = hostOf(address);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port: portOf(address),
      // Trust is decided below, against the pin, not by the system's roots.
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(
        unavailable(
          `cannot reach the controller at ${address}: TLS handshake timed out after ${timeoutMs} ms`,
        ),
      );
    });
    socket.once('error', (err: Error) => {
      socket.destroy();
      reject(unavailable(`cannot reach the controller at ${address}: ${err.message}`, {}, err));
    });
    socket.once('secureConnect', () => {
      try {
        const chain: X509Certificate[] = [];
        const seen = new Set<string>();
        let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
        while (c?.raw && c.raw.length > 0 && !seen.has(c.fingerprint256)) {
          seen.add(c.fingerprint256);
          chain.push(new X509Certificate(c.raw));
          c = c.issuerCertificate;
        }
        resolve(chain);
      } catch (err) {
        reject(
          failedPrecondition(
            `the controller at ${address} presents a certificate that cannot be parsed: ${errorMessage(err)}`,
          ),
        );
      } finally {
        socket.destroy();
      }
    });
  });
}

/**
 * Checks that the server's leaf certificate is issued by `ca` and names `host`, so that
 * a wrong address fails now with a clear message instead of as endless TLS errors.
 */
export function checkServerChain(
  chain: X509Certificate[],
  ca: X509Certificate,
  host: string,
  address: string,
): void {
  const leaf = chain[0];
  if (!leaf) throw failedPrecondition(`the controller at ${address} presented no certificate`);
  if (leaf.fingerprint256 === ca.fingerprint256) return;
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
    throw failedPrecondition(
      `the controller at ${address} presents a certificate (${leaf.subject.replaceAll('\n', ', ')}) ` +
        'not signed by the trusted cluster CA',
    );
  }
  const names = isIP(host) === 0 ? leaf.checkHost(host) : leaf.checkIP(host);
  if (names === undefined) {
    throw failedPrecondition(
      `the controller's certificate does not name ${host} (it names ${leaf.subjectAltName ?? 'nothing'}); ` +
        'pass --join with one of those',
      { field: '--join', value: address },
    );
  }
}

/** The CA in `chain` whose public-key hash equals `pin`, once the chain checks out. Pure. */
export function pickPinnedCa(chain: X509Certificate[], pin: string, host: string, address: string): string {
  const ca = chain.find((c) => caCertHash(c.toString()) === pin);
  if (!ca) {
    const presented = chain.map((c) => `${c.subject.replaceAll('\n', ', ')} (${caCertHash(c.toString())})`);
    throw failedPrecondition(
      `no certificate presented by the controller at ${address} matches --ca-cert-hash ${pin}; ` +
        `it presented: ${presented.join('; ') || 'nothing'}. Check the hash "deploy token create" printed, or use --ca-file`,
      { field: '--ca-cert-hash', value: pin },
    );
  }
  if (!ca.ca) {
    throw failedPrecondition(`the certificate matching --ca-cert-hash ${pin} is not a CA certificate`, {
      field: '--ca-cert-hash',
      value: pin,
    });
  }
  checkServerChain(chain, ca, host, address);
  return ca.toString();
}
