// Routes to the peers' pod CIDRs (pure): what to replace, what to delete, who is left
// out; parsing of `ip -j route` / `ip -j addr`; the pod CIDR decision at start and after
// a registration.
import t from 'tap';
import type { NetworkNode, NetworkState } from '@flotilla/proto';
import {
  canonicalCidr,
  cniConfigList,
  parseNodeRecord,
  parseIpAddresses,
  parseIpRoutes,
  planRoutes,
  podCidrAtStart,
  podCidrFromRegistration,
} from '@flotilla/agent';
import { networkState } from '../lib/index.js';

function node(name: string, internalIP: string, podCIDR: string): NetworkNode {
  return { name, internalIP, podCIDR, ready: true };
}

function state(nodes: NetworkNode[]): NetworkState {
  return networkState({ endpointsRevision: 1, nodes });
}

const cluster = state([
  node('n1', '192.0.2.1', '10.244.1.0/24'),
  node('n2', '192.0.2.2', '10.244.2.0/24'),
  node('n3', '192.0.2.3', '10.244.3.0/24'),
]);

t.test('every other node, via its InternalIP', async (t) => {
  const plan = planRoutes({ nodeName: 'n1', state: cluster, current: [] });
  t.same(plan.replace, [
    { dst: '10.244.2.0/24', via: '192.0.2.2' },
    { dst: '10.244.3.0/24', via: '192.0.2.3' },
  ]);
  t.same(plan.delete, []);
});

t.test('only what differs; stale ones deleted', async (t) => {
  const plan = planRoutes({
    nodeName: 'n1',
    state: cluster,
    current: [
      { dst: '10.244.2.0/24', via: '192.0.2.2' },
      { dst: '10.244.3.0/24', via: '192.0.2.99' },
      { dst: '10.244.9.0/24', via: '192.0.2.9' },
    ],
  });
  t.same(plan.replace, [{ dst: '10.244.3.0/24', via: '192.0.2.3' }], 'the moved one only');
  t.same(plan.delete, ['10.244.9.0/24'], 'a node gone');
  const gone = planRoutes({
    nodeName: 'n1',
    state: state([]),
    current: [{ dst: '10.244.2.0/24', via: '192.0.2.2' }],
  });
  t.same(gone.delete, ['10.244.2.0/24']);
  t.same(planRoutes({ nodeName: 'n1', state: undefined, current: [] }), {
    replace: [],
    delete: [],
    skipped: [],
  });
});

t.test('nodes without address or CIDR, bad values, peers on this host, duplicates', async (t) => {
  const plan = planRoutes({
    nodeName: 'n1',
    state: state([
      node('a', '', '10.244.4.0/24'),
      node('b', '192.0.2.5', ''),
      node('c', '192.0.2.6', 'nonsense'),
      node('d', '192.0.2.300', '10.244.7.0/24'),
      node('e', '127.0.0.1', '10.244.8.0/24'),
      node('f', '192.0.2.10', '10.244.10.7/24'),
      node('g', '192.0.2.11', '10.244.10.0/24'),
    ]),
    current: [],
    localAddresses: ['127.0.0.1', '192.0.2.1'],
  });
  t.same(
    plan.replace,
    [{ dst: '10.244.10.0/24', via: '192.0.2.10' }],
    'host bits cleared; a second claim left out',
  );
  t.equal(plan.skipped.length, 6);
  t.match(plan.skipped.join('\n'), /a: no InternalIP/);
  t.match(plan.skipped.join('\n'), /b: no pod CIDR/);
  t.match(plan.skipped.join('\n'), /e: shares this host/);
});

t.test('ip -j output', async (t) => {
  t.same(
    parseIpRoutes(
      '[{"dst":"10.244.2.0/24","gateway":"192.0.2.2","dev":"eth0","protocol":"188","flags":[]},{"dst":"10.9.9.9","dev":"eth0"},{"dst":"default","gateway":"192.0.2.254"}]',
    ),
    [
      { dst: '10.244.2.0/24', via: '192.0.2.2' },
      { dst: '10.9.9.9/32', via: '' },
    ],
  );
  t.same(parseIpRoutes(''), []);
  t.same(parseIpRoutes('not json'), []);
  t.same(
    parseIpAddresses(
      '[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1"}]},{"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.1"},{"family":"inet6","local":"fe80::1"}]}]',
    ),
    ['127.0.0.1', '192.0.2.1'],
  );
  t.equal(canonicalCidr('10.244.1.77/24'), '10.244.1.0/24');
  t.equal(canonicalCidr('10.0.0.0/33'), undefined);
});

t.test('pod CIDR: persisted, requested, the controller’s answer', async (t) => {
  t.equal(
    podCidrAtStart('10.244.1.0/24', '10.88.0.0/16'),
    '10.244.1.0/24',
    'the controller’s last answer wins',
  );
  t.equal(podCidrAtStart(undefined, '10.88.0.0/16'), '10.88.0.0/16');
  t.equal(podCidrAtStart(undefined, undefined), '', 'unknown: wait');
  t.same(
    podCidrFromRegistration('10.88.0.0/16', '', undefined),
    { cidr: '10.88.0.0/16', persist: false },
    'no answer keeps the request',
  );
  t.same(podCidrFromRegistration('', '10.244.3.0/24', undefined), { cidr: '10.244.3.0/24', persist: true });
  t.same(podCidrFromRegistration('10.244.3.0/24', '10.244.3.0/24', '10.244.3.0/24'), {
    cidr: '10.244.3.0/24',
    persist: false,
  });
  const moved = podCidrFromRegistration('10.244.3.0/24', '10.244.4.0/24', '10.244.3.0/24');
  t.equal(moved.cidr, '10.244.4.0/24');
  t.ok(moved.persist);
  t.match(moved.warning, /running pods keep theirs/);
  const bad = podCidrFromRegistration('10.244.3.0/24', '10.244.3.0/31', '10.244.3.0/24');
  t.equal(bad.cidr, '10.244.3.0/24');
  t.match(bad.warning, /keeping 10\.244\.3\.0\/24/);
});

t.test('node.json keeps the assigned pod CIDR; no CNI config without one', async (t) => {
  const base = {
    nodeName: 'n1',
    controller: '127.0.0.1:7443',
    natsUrls: [],
    joinedAt: '2026-01-01T00:00:00Z',
  };
  t.same(parseNodeRecord(JSON.stringify({ ...base, podCIDR: '10.244.1.0/24' }), 'node.json'), {
    ...base,
    podCIDR: '10.244.1.0/24',
  });
  t.same(parseNodeRecord(JSON.stringify(base), 'node.json'), base, 'absent before the first assignment');
  t.throws(() => parseNodeRecord(JSON.stringify({ ...base, podCIDR: 24 }), 'node.json'), /podCIDR/);
  t.throws(
    () =>
      cniConfigList({
        networkName: 'flotilla-flt0',
        bridgeName: 'flt0',
        podCidr: '',
        ipamDataDir: '/var/lib/flotilla/agent/cni',
        netnsPrefix: 'flt',
      }),
    { code: 'FailedPrecondition', message: /no pod CIDR yet/ },
    'pods wait with a reason that says why',
  );
});
