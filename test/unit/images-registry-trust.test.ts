// The CAs trusted for a registry without its own CA when the process's Node trusts none
// by default and the client names them (images/src/registry/trust.ts).
import t from 'tap';
import { rootCertificates } from 'node:tls';
import { explicitDefaultCas } from '@flotilla/images';

const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

t.test("Node's roots, plus the extra file when it holds anything", async (t) => {
  const roots = ['root-a', 'root-b'];
  const cases: Array<{ name: string; extra: string | undefined; want: string[] }> = [
    { name: 'no file, or none read', extra: undefined, want: roots },
    { name: 'an empty file', extra: '', want: roots },
    { name: 'a file of blank lines', extra: '\n \n', want: roots },
    { name: 'a bundle', extra: pem, want: [...roots, pem] },
  ];
  for (const c of cases) t.same(explicitDefaultCas(c.extra, roots), c.want, c.name);
  t.same(explicitDefaultCas(undefined), rootCertificates, "Node's bundled roots by default");
  t.not(explicitDefaultCas(undefined), rootCertificates, 'as a copy');
});
