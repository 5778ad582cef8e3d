import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { checkJoinResponse, pickPinnedCa } from '@flotilla/agent';
import {
  type KeyAndCert,
  caCertHash,
  createCertificateAuthority,
  createCertificateRequest,
  issueCertificate,
  nodeCommonName,
  nodeOrganization,
  signCertificateRequest,
} from '@flotilla/common';
import type { JoinResponse } from '@flotilla/proto';

const refused = (message: RegExp): { code: string; message: RegExp } => ({
  code: 'FailedPrecondition',
  message,
});

/** A cluster CA and the chain a controller at 127.0.0.1 presents, leaf first. */
async function controllerPki(): Promise<{ ca: KeyAndCert; server: KeyAndCert; chain: X509Certificate[] }> {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const server = await issueCertificate(ca, {
    subject: { commonName: 'flotilla-controller' },
    usage: 'server',
    dnsNames: ['controller.example'],
    ipAddresses: ['127.0.0.1'],
    validDays: 1,
  });
  return { ca, server, chain: [new X509Certificate(server.certPem), new X509Certificate(ca.certPem)] };
}

/** A node certificate for `nodeName`, signed by `ca`. */
async function nodeCertificate(ca: KeyAndCert, nodeName: string): Promise<string> {
  const csr = await createCertificateRequest({ commonName: nodeCommonName(nodeName) });
  return signCertificateRequest(ca, csr.csrPem, {
    subject: { commonName: nodeCommonName(nodeName), organization: nodeOrganization },
    usage: 'client',
    validDays: 1,
  });
}

function joinResponse(certificatePem: string, caCertificatePem: string): JoinResponse {
  return { certificatePem, caCertificatePem, natsUserJwt: 'jwt', natsUrls: ['nats://127.0.0.1:4222'] };
}

t.test('pickPinnedCa returns the presented CA whose key hash is the pin', async (t) => {
  const { ca, chain } = await controllerPki();
  for (const host of ['127.0.0.1', 'controller.example']) {
    const picked = pickPinnedCa(chain, caCertHash(ca.certPem), host, `${host}:7443`);
    t.equal(new X509Certificate(picked).fingerprint256, chain[1]?.fingerprint256, host);
  }
});

t.test('pickPinnedCa refuses a pin that matches no presented certificate', async (t) => {
  const { chain } = await controllerPki();
  const other = await createCertificateAuthority('flotilla-test-ca');
  const pin = caCertHash(other.certPem);
  t.throws(
    () => pickPinnedCa(chain, pin, '127.0.0.1', '127.0.0.1:7443'),
    refused(/no certificate presented by the controller at 127\.0\.0\.1:7443 matches --ca-cert-hash/),
  );
});

t.test('pickPinnedCa refuses a pin of a certificate that is not a CA', async (t) => {
  const { server, chain } = await controllerPki();
  t.throws(
    () => pickPinnedCa(chain, caCertHash(server.certPem), '127.0.0.1', '127.0.0.1:7443'),
    refused(/is not a CA certificate/),
  );
});

t.test('pickPinnedCa refuses a controller certificate that does not name the host dialled', async (t) => {
  const { ca, chain } = await controllerPki();
  for (const host of ['10.0.0.1', 'other.example']) {
    t.throws(
      () => pickPinnedCa(chain, caCertHash(ca.certPem), host, `${host}:7443`),
      refused(new RegExp(`does not name ${host.replaceAll('.', '\\.')}`)),
      host,
    );
  }
});

t.test('pickPinnedCa refuses a leaf not signed by the pinned CA', async (t) => {
  const { ca } = await controllerPki();
  const stranger = await controllerPki();
  const chain = [new X509Certificate(stranger.server.certPem), new X509Certificate(ca.certPem)];
  t.throws(
    () => pickPinnedCa(chain, caCertHash(ca.certPem), '127.0.0.1', '127.0.0.1:7443'),
    refused(/not signed by the trusted cluster CA/),
  );
});

t.test('checkJoinResponse accepts a certificate for this node from the trusted CA', async (t) => {
  const { ca } = await controllerPki();
  const certificate = await nodeCertificate(ca, 'n1');
  t.doesNotThrow(() => checkJoinResponse(joinResponse(certificate, ca.certPem), ca.certPem, 'n1'));
  t.doesNotThrow(
    () => checkJoinResponse(joinResponse(certificate, ''), ca.certPem, 'n1'),
    'without a CA in the response',
  );
});

t.test('checkJoinResponse refuses what this node cannot use', async (t) => {
  const { ca } = await controllerPki();
  const other = await createCertificateAuthority('flotilla-test-ca');
  const mine = await nodeCertificate(ca, 'n1');
  const cases: Array<[string, JoinResponse, RegExp]> = [
    [
      'a certificate for another node',
      joinResponse(await nodeCertificate(ca, 'n2'), ca.certPem),
      /issued a certificate for node:n2 \(flotilla:nodes\), not for node:n1/,
    ],
    [
      'a CA other than the trusted one',
      joinResponse(mine, other.certPem),
      /a CA certificate other than the one this agent trusts/,
    ],
    [
      'a certificate from another CA',
      joinResponse(await nodeCertificate(other, 'n1'), ''),
      /unusable node certificate/,
    ],
    ['no NATS credentials', { ...joinResponse(mine, ca.certPem), natsUserJwt: '' }, /no NATS credentials/],
  ];
  for (const [name, response, message] of cases) {
    t.throws(() => checkJoinResponse(response, ca.certPem, 'n1'), refused(message), name);
  }
});
