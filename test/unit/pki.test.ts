import { X509Certificate, createPrivateKey } from 'node:crypto';
import t from 'tap';
import {
  adminOrganization,
  caCertHash,
  createCertificateAuthority,
  createCertificateRequest,
  issueCertificate,
  nodeCommonName,
  nodeOrganization,
  signCertificateRequest,
  verifyClientCertificate,
} from '@flotilla/common';

const der = (pem: string): Buffer => new X509Certificate(pem).raw;
const day = 24 * 60 * 60 * 1000;

// tap matches a thrown error against a pattern object, field by field.
const refusedAs = (message: RegExp): { code: string; message: RegExp } => ({
  code: 'Unauthenticated',
  message,
});

t.test('a client certificate issued by the CA is accepted with its identity', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const admin = await issueCertificate(ca, {
    subject: { commonName: 'admin', organization: adminOrganization },
    usage: 'client',
    validDays: 30,
  });
  const peer = verifyClientCertificate(ca.certPem, der(admin.certPem));
  t.equal(peer.commonName, 'admin');
  t.same(peer.organizations, [adminOrganization]);
  t.ok(peer.notAfter.getTime() > Date.now() + 29 * day, 'valid for the requested days');
});

t.test('a certificate from another CA is refused', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const other = await createCertificateAuthority('flotilla-test-ca');
  const stranger = await issueCertificate(other, {
    subject: { commonName: 'admin', organization: adminOrganization },
    usage: 'client',
    validDays: 30,
  });
  t.throws(() => verifyClientCertificate(ca.certPem, der(stranger.certPem)), refusedAs(/not signed by/));
});

t.test('a certificate outside its validity window is refused', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const cert = await issueCertificate(ca, {
    subject: { commonName: 'admin', organization: adminOrganization },
    usage: 'client',
    validDays: 1,
  });
  const raw = der(cert.certPem);
  t.throws(
    () => verifyClientCertificate(ca.certPem, raw, new Date(Date.now() + 2 * day)),
    refusedAs(/valid only from/),
    'expired',
  );
  t.throws(
    () => verifyClientCertificate(ca.certPem, raw, new Date(Date.now() - day)),
    refusedAs(/valid only from/),
    'not yet valid',
  );
  t.doesNotThrow(() => verifyClientCertificate(ca.certPem, raw, new Date(Date.now() + day / 2)), 'inside');
});

t.test('a server-only certificate is refused for client authentication', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const server = await issueCertificate(ca, {
    subject: { commonName: 'flotilla-controller' },
    usage: 'server',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validDays: 30,
  });
  t.throws(
    () => verifyClientCertificate(ca.certPem, der(server.certPem)),
    refusedAs(/client authentication/),
  );
  t.throws(() => verifyClientCertificate(ca.certPem, Buffer.from('not a certificate')), refusedAs(/parsed/));
});

t.test('signCertificateRequest takes the subject from the caller, not from the CSR', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const request = await createCertificateRequest({ commonName: 'admin', organization: adminOrganization });
  const certPem = await signCertificateRequest(ca, request.csrPem, {
    subject: { commonName: nodeCommonName('worker-1'), organization: nodeOrganization },
    usage: 'client',
    validDays: 365,
  });
  const peer = verifyClientCertificate(ca.certPem, der(certPem));
  t.equal(peer.commonName, 'node:worker-1');
  t.same(peer.organizations, [nodeOrganization]);
  const cert = new X509Certificate(certPem);
  t.ok(
    cert.checkPrivateKey(createPrivateKey(request.keyPem)),
    'the certificate carries the key of the request',
  );
  await t.rejects(
    signCertificateRequest(ca, 'garbage', { subject: { commonName: 'x' }, usage: 'client', validDays: 1 }),
    { code: 'InvalidArgument', context: { field: 'csrPem' } },
  );
});

t.test('caCertHash is stable and tells CAs apart', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const other = await createCertificateAuthority('flotilla-test-ca');
  const hash = caCertHash(ca.certPem);
  t.match(hash, /^sha256:[0-9a-f]{64}$/);
  t.equal(caCertHash(ca.certPem), hash, 'same CA, same hash');
  t.equal(caCertHash(`\n${ca.certPem}\n`), hash, 'surrounding whitespace does not matter');
  t.not(caCertHash(other.certPem), hash, 'another CA, another hash');
});
