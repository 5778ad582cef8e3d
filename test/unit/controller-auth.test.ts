// The API's check of a caller's certificate: verified against the CA the first time, then
// remembered, while the end of its validity still counts on every call.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { adminOrganization, createCertificateAuthority, issueCertificate } from '@flotilla/common';
import { verifiedPeer } from '@flotilla/controller';

const day = 24 * 60 * 60 * 1000;
const callWith = (pem: string) => {
  const raw = new X509Certificate(pem).raw;
  return { getAuthContext: () => ({ sslPeerCertificate: { raw } as never }) };
};

t.test('a verified certificate is remembered; a refused one is not; expiry still counts', async (t) => {
  const ca = await createCertificateAuthority('flotilla-test-ca');
  const other = await createCertificateAuthority('flotilla-test-ca');
  const subject = { commonName: 'admin', organization: adminOrganization };
  const admin = await issueCertificate(ca, { subject, usage: 'client', validDays: 1 });
  const stranger = await issueCertificate(other, { subject, usage: 'client', validDays: 1 });

  const first = verifiedPeer(callWith(admin.certPem), ca.certPem);
  t.equal(first.commonName, 'admin');
  t.equal(verifiedPeer(callWith(admin.certPem), ca.certPem), first, 'the second call: remembered');
  for (let i = 0; i < 2; i++) {
    t.throws(() => verifiedPeer(callWith(stranger.certPem), ca.certPem), { code: 'Unauthenticated' });
  }
  t.throws(
    () => verifiedPeer(callWith(admin.certPem), other.certPem),
    { code: 'Unauthenticated' },
    'remembered for its own CA only',
  );
  t.throws(
    () => verifiedPeer(callWith(admin.certPem), ca.certPem, new Date(Date.now() + 2 * day)),
    { code: 'Unauthenticated', message: /expired/ },
    'expired since it was remembered: refused',
  );
  t.throws(() => verifiedPeer({ getAuthContext: () => null }, ca.certPem), { code: 'Unauthenticated' });
});
