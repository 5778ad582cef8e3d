// Which CAs an HTTPS connection to a registry without a CA of its own trusts when the
// process's Node trusts none by default (the CLI's launcher starts it so, see
// deploy/bin/deploy.js) and the client names them itself. Pure.
import { rootCertificates } from 'node:tls';

/**
 * The trust a process gave the registry client explicitly, instead of Node's default:
 * Node's bundled roots plus the CAs of extraCaFile, a NODE_EXTRA_CA_CERTS file that this
 * process's Node did not load at its start.
 */
export interface ExplicitTrust {
  extraCaFile?: string;
}

/**
 * The `ca` that trusts what Node's default would have trusted had it loaded the file:
 * Node's bundled roots plus the file's PEM (none when it was unreadable or empty, as Node
 * then ignores it). A host's own CA is passed to Node as its `ca` alone, as before: it
 * replaces every other CA, NODE_EXTRA_CA_CERTS included.
 */
export function explicitDefaultCas(
  extraCaPem: string | undefined,
  roots: readonly string[] = rootCertificates,
): string[] {
  return extraCaPem === undefined || extraCaPem.trim() === '' ? [...roots] : [...roots, extraCaPem];
}
