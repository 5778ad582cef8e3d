// The controller's serving certificate: issued in memory at every start (never stored),
// for every name an agent or the CLI may dial. The chain ends with the CA so that an
// agent pinning the CA by hash can find it in the handshake.
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { controllerOrganization, issueCertificate, type KeyAndCert } from '@flotilla/common';

export interface ServingNames {
  dnsNames: string[];
  ipAddresses: string[];
}

export const controllerServerName = 'flotilla-controller';

/** Hosts that mean "every interface" name no one: leave them out of the certificate. */
const unspecified = new Set(['', '0.0.0.0', '::', '[::]']);

export function servingNames(hosts: readonly string[], machineHostname = hostname()): ServingNames {
  const dnsNames = new Set<string>();
  const ipAddresses = new Set<string>();
  // The certificate's own name too, so a client can dial an IP address and still check
  // the server by name (grpc.ssl_target_name_override = "flotilla-controller").
  for (const raw of [...hosts, controllerServerName, 'localhost', '127.0.0.1', '::1', machineHostname]) {
    const host = raw.replace(/^\[(.*)\]$/, '$1').trim();
    if (unspecified.has(host)) continue;
    if (isIP(host)) ipAddresses.add(host);
    else dnsNames.add(host.toLowerCase());
  }
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] };
}

export interface ServingCertificate {
  /** The controller's certificate followed by the CA's. */
  certChainPem: string;
  keyPem: string;
  names: ServingNames;
}

export async function issueServingCertificate(
  ca: KeyAndCert,
  names: ServingNames,
): Promise<ServingCertificate> {
  const issued = await issueCertificate(ca, {
    subject: { commonName: controllerServerName, organization: controllerOrganization },
    usage: 'both',
    dnsNames: names.dnsNames,
    ipAddresses: names.ipAddresses,
    validDays: 365,
  });
  return {
    certChainPem: issued.certPem.trimEnd() + '\n' + ca.certPem.trimEnd() + '\n',
    keyPem: issued.keyPem,
    names,
  };
}
