// The CAs trusted for a registry without its own CA when the client reads a
// NODE_EXTRA_CA_CERTS file that Node did not load (images/src/registry/trust.ts).
import t from 'tap';
import { rootCertificates } from 'node:tls';
import { defaultTrustWith } from '@flotilla/images';

const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

t.test('Node roots plus the file, or Node default trust when the file adds nothing', async (t) => {
  const cases: Array<{ name: string; extra: string | undefined; want: string[] | undefined }> = [
    { name: 'no file read', extra: undefined, want: undefined },
    { name: 'an empty file', extra: '', want: undefined },
    { name: 'a file of blank lines', extra: '\n \n', want: undefined },
    { name: 'a bundle', extra: pem, want: ['root-a', 'root-b', pem] },
  ];
  for (const c of cases) t.same(defaultTrustWith(c.extra, ['root-a', 'root-b']), c.want, c.name);
  t.same(defaultTrustWith(pem)?.length, rootCertificates.length + 1, "Node's bundled roots by default");
});
