// The pods' /etc/resolv.conf under the node's cluster DNS (Kubernetes ClusterFirst), and
// the host's (filtered) when the node has none.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pod } from '@flotilla/proto';
import { clusterResolvConf, podResolvConf, preparePodFiles } from '@flotilla/agent';

t.test('clusterResolvConf: the node DNS, the namespace first in the search list, ndots:5', async (t) => {
  t.equal(
    clusterResolvConf('shop', { nameserver: '10.244.1.1', domain: 'cluster.local' }),
    [
      "# Written by the flotilla agent: the node's cluster DNS.",
      'nameserver 10.244.1.1',
      'search shop.svc.cluster.local svc.cluster.local cluster.local',
      'options ndots:5',
      '',
    ].join('\n'),
  );
  t.match(
    clusterResolvConf('', { nameserver: '10.0.0.1', domain: 'corp.example.' }),
    /^search default\.svc\.corp\.example svc\.corp\.example corp\.example$/m,
  );
});

t.test('podResolvConf (no cluster DNS): the host file without loopback nameservers', async (t) => {
  t.match(podResolvConf('nameserver 127.0.0.53\nnameserver 10.0.0.2\n'), /dropped.*\nnameserver 10\.0\.0\.2/);
});

t.test('preparePodFiles writes the cluster resolv.conf when the node has DNS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flt-resolv-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pod = Pod.fromJSON({
    metadata: { name: 'web', namespace: 'shop', uid: '7c9e6679-7425-40de-944b-e07fc1f90ae7' },
    spec: { containers: [{ name: 'main', image: 'busybox' }] },
  });
  const withDns = await preparePodFiles(join(dir, 'a'), pod, '10.244.1.7', join(dir, 'missing'), {
    nameserver: '10.244.1.1',
    domain: 'cluster.local',
  });
  const text = readFileSync(withDns.etc.resolvConf!, 'utf8');
  t.match(text, /^nameserver 10\.244\.1\.1$/m);
  t.match(text, /^search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
  t.match(text, /^options ndots:5$/m);
  const without = await preparePodFiles(join(dir, 'b'), pod, '10.244.1.7', join(dir, 'missing'));
  t.notMatch(readFileSync(without.etc.resolvConf!, 'utf8'), /nameserver/);
});
