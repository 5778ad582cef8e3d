// Which CAs an HTTPS connection to a registry without a CA of its own trusts, when this
// process's Node was not given NODE_EXTRA_CA_CERTS at its start (the CLI's launcher keeps
// it from Node, deploy/bin/deploy.js) and the client reads the file itself. Pure.
import { rootCertificates } from 'node:tls';

/**
 * The `ca` that makes a TLS context trust what Node's default would have trusted had it
 * loaded the file: Node's bundled roots plus the file's PEM. Undefined when the file adds
 * nothing (unreadable or empty, as Node ignores it then): Node's default trust as it is.
 * (A host's own CA is passed to Node as its `ca` alone, as before: it replaces every other
 * CA, NODE_EXTRA_CA_CERTS included.)
 */
export function defaultTrustWith(
  extraCaPem: string | undefined,
  roots: readonly string[] = rootCertificates,
): string[] | undefined {
  if (extraCaPem === undefined || extraCaPem.trim() === '') return undefined;
  return [...roots, extraCaPem];
}
