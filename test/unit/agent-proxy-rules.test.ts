// The service proxy's iptables-restore text (pure): kube-proxy's layout, balancing
// probabilities, node ports only on web-facing nodes, REJECT for ports without
// endpoints, stale chains deleted and other agents' chains left alone.
import t from 'tap';
import type { EndpointTarget, NetworkState, ServiceRoute } from '@flotilla/proto';
import {
  chainPrefixFor,
  isOwnChain,
  maxChainNameLength,
  parseSavedChains,
  probability,
  proxyJumps,
  proxyRules,
} from '@flotilla/agent';
import { networkState } from '../lib/index.js';

function ep(ip: string, port = 8080): EndpointTarget {
  return { ip, port, nodeName: 'n1', podNamespace: 'default', podName: `web-${ip}` };
}

function svc(name: string, clusterIP: string, ports: Partial<ServiceRoute['ports'][number]>[]): ServiceRoute {
  return {
    namespace: 'default',
    name,
    clusterIP,
    type: ports.some((p) => (p.nodePort ?? 0) > 0) ? 'NodePort' : 'ClusterIP',
    ports: ports.map((p) => ({ name: '', protocol: 'TCP', port: 80, nodePort: 0, endpoints: [], ...p })),
  };
}

function state(services: ServiceRoute[], webFacing = false): NetworkState {
  return networkState({ endpointsRevision: 7, services, webFacing });
}

const lines = (text: string): string[] => text.split('\n');
const rulesOf = (text: string, chain: string): string[] =>
  lines(text).filter((l) => l.startsWith(`-A ${chain} `));
const declared = (text: string): string[] =>
  lines(text)
    .filter((l) => l.startsWith(':'))
    .map((l) => l.slice(1).split(' ')[0] ?? '');

t.test('a ClusterIP service: SERVICES → SVC → SEP with DNAT, masqueraded', async (t) => {
  const r = proxyRules({
    chainPrefix: 'flt',
    state: state([svc('web', '10.96.0.10', [{ port: 80, endpoints: [ep('10.244.1.5')] }])]),
  });
  t.match(r.text, /^\*nat\n/);
  t.ok(r.text.endsWith('COMMIT\n'));
  const services = rulesOf(r.text, 'flt-SERVICES');
  t.equal(services.length, 1, 'one portal, no node ports chain on a node that is not web-facing');
  const portal = services[0] ?? '';
  t.match(portal, /-d 10\.96\.0\.10\/32 -p tcp -m tcp --dport 80 /);
  const svcChain = /-j (flt-SVC-[A-Z2-7]{12})$/.exec(portal)?.[1] ?? '';
  t.ok(svcChain, 'jumps to a SVC chain');
  const svcRules = rulesOf(r.text, svcChain);
  t.match(svcRules[0], /-j flt-MARK-MASQ$/, 'every service connection is marked for masquerading');
  t.equal(svcRules.length, 2);
  t.notMatch(svcRules[1], /statistic/, 'a single endpoint needs no probability');
  const sepChain = /-j (flt-SEP-[A-Z2-7]{12})$/.exec(svcRules[1] ?? '')?.[1] ?? '';
  t.match(rulesOf(r.text, sepChain)[0], /-p tcp -m tcp -j DNAT --to-destination 10\.244\.1\.5:8080$/);
  t.same(rulesOf(r.text, 'flt-MARK-MASQ'), ['-A flt-MARK-MASQ -j MARK --or-mark 0x4000']);
  const post = rulesOf(r.text, 'flt-POSTROUTING');
  t.match(post[0], /-m mark ! --mark 0x4000\/0x4000 -j RETURN/);
  t.match(post[post.length - 1], /-j MASQUERADE$/);
  t.notOk(declared(r.text).includes('flt-NODEPORTS'));
  for (const chain of [...r.chains.nat, ...r.chains.filter]) t.ok(chain.length <= maxChainNameLength, chain);
});

t.test('three endpoints: probabilities 1/3, 1/2, then unconditional', async (t) => {
  const r = proxyRules({
    chainPrefix: 'flt',
    state: state([
      svc('web', '10.96.0.10', [
        { port: 80, endpoints: [ep('10.244.2.9'), ep('10.244.1.5'), ep('10.244.3.7')] },
      ]),
    ]),
  });
  const svcChain = r.chains.nat.find((c) => c.startsWith('flt-SVC-')) ?? '';
  const jumps = rulesOf(r.text, svcChain).slice(1);
  t.equal(jumps.length, 3);
  t.match(jumps[0], `--probability ${probability(3)} `);
  t.equal(probability(3), '0.3333333333');
  t.match(jumps[1], '--probability 0.5000000000 ');
  t.notMatch(jumps[2], /statistic/);
  // Each endpoint's SEP DNATs to it, once.
  const targets = r.chains.nat
    .filter((c) => c.startsWith('flt-SEP-'))
    .map((c) => /--to-destination (\S+)$/.exec(rulesOf(r.text, c)[0] ?? '')?.[1]);
  t.same(targets.sort(), ['10.244.1.5:8080', '10.244.2.9:8080', '10.244.3.7:8080']);
  t.equal(
    proxyRules({
      chainPrefix: 'flt',
      state: state([
        svc('web', '10.96.0.10', [{ endpoints: [ep('10.244.3.7'), ep('10.244.1.5'), ep('10.244.2.9')] }]),
      ]),
    }).text,
    r.text,
    'the order endpoints come in does not change the text',
  );
});

t.test('node ports only on web-facing nodes, last in SERVICES', async (t) => {
  const services = [
    svc('web', '10.96.0.10', [{ port: 80, nodePort: 30080, endpoints: [ep('10.244.1.5')] }]),
    svc('api', '10.96.0.11', [{ port: 81, endpoints: [ep('10.244.1.6')] }]),
  ];
  const on = proxyRules({ chainPrefix: 'flt', state: state(services, true) });
  const portals = rulesOf(on.text, 'flt-SERVICES');
  t.match(portals[portals.length - 1], /-m addrtype --dst-type LOCAL -j flt-NODEPORTS$/);
  const nodePorts = rulesOf(on.text, 'flt-NODEPORTS');
  t.equal(nodePorts.length, 1, 'the ClusterIP-only service has no node port');
  t.match(nodePorts[0], /-p tcp -m tcp --dport 30080 .*-j flt-SVC-/);
  const webSvc = /-j (flt-SVC-\S+)$/.exec(portals.find((l) => l.includes('10.96.0.10')) ?? '')?.[1];
  t.ok(nodePorts[0]?.endsWith(`-j ${webSvc}`), 'the node port goes to the same SVC chain as the cluster IP');

  const off = proxyRules({ chainPrefix: 'flt', state: state(services, false) });
  t.notMatch(off.text, /NODEPORTS|30080/, 'no node port, nor its chain, elsewhere');
  const stale = proxyRules({
    chainPrefix: 'flt',
    state: state(services, false),
    existing: { nat: on.chains.nat },
  });
  t.same(stale.deleted.nat, ['flt-NODEPORTS'], 'a node no longer web-facing deletes the chain');
});

t.test('a port without endpoints is rejected in filter, its node port too', async (t) => {
  const r = proxyRules({
    chainPrefix: 'flt',
    state: state([svc('web', '10.96.0.10', [{ port: 80, nodePort: 30080, endpoints: [] }])], true),
  });
  t.notOk(
    r.chains.nat.some((c) => c.includes('-SVC-')),
    'no SVC chain without endpoints',
  );
  const filter = r.text.slice(r.text.indexOf('*filter'));
  t.match(
    rulesOf(filter, 'flt-SERVICES')[0],
    /-d 10\.96\.0\.10\/32 -p tcp -m tcp --dport 80 .*-j REJECT --reject-with tcp-reset$/,
  );
  t.match(
    rulesOf(filter, 'flt-EXTERNAL')[0],
    /-m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 .*-j REJECT/,
  );
  t.match(rulesOf(filter, 'flt-FIREWALL')[0], /! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 .*-j DROP$/);
  const udp = proxyRules({
    chainPrefix: 'flt',
    state: state([svc('dns', '10.96.0.11', [{ protocol: 'UDP', port: 53, endpoints: [] }])]),
  });
  t.match(
    rulesOf(udp.text.slice(udp.text.indexOf('*filter')), 'flt-SERVICES')[0],
    /-p udp -m udp --dport 53 .*-j REJECT --reject-with icmp-port-unreachable$/,
    'UDP has no reset: ICMP port unreachable',
  );
});

t.test('stale chains are flushed and deleted; nobody else’s', async (t) => {
  const before = proxyRules({
    chainPrefix: 'flt',
    state: state([svc('web', '10.96.0.10', [{ endpoints: [ep('10.244.1.5'), ep('10.244.1.6')] }])]),
  });
  const existing = [
    ...before.chains.nat,
    'flt-b-SERVICES',
    'flt-SVC-short',
    'KUBE-SERVICES',
    'CNI-HOSTPORT-DNAT',
  ];
  const after = proxyRules({
    chainPrefix: 'flt',
    state: state([svc('web', '10.96.0.10', [{ endpoints: [ep('10.244.1.5')] }])]),
    existing: { nat: existing },
  });
  t.equal(after.deleted.nat.length, 1, 'the removed endpoint’s SEP chain only');
  const gone = after.deleted.nat[0] ?? '';
  t.ok(gone.startsWith('flt-SEP-'));
  t.ok(declared(after.text).includes(gone), 'declared (so flushed) before -X');
  t.ok(lines(after.text).includes(`-X ${gone}`));
  t.notMatch(after.text, /flt-b-SERVICES|KUBE-|CNI-/);
  t.ok(isOwnChain('flt', 'flt-SEP-ABCDEFGHIJKL'));
  t.notOk(isOwnChain('flt', 'flt-b-SERVICES'), 'another agent whose prefix starts like ours');
  t.notOk(isOwnChain('flt', 'flt-SVC-SVC-ABCDEFGH'));
  const empty = proxyRules({ chainPrefix: 'flt', state: state([]), existing: { nat: before.chains.nat } });
  t.equal(
    empty.deleted.nat.filter((c) => /-(SVC|SEP)-/.test(c)).length,
    3,
    'no services: all SVC and SEP go',
  );
  t.notOk(empty.deleted.nat.includes('flt-SERVICES'), 'the base chains stay');
});

t.test('skipped ports, headless services, UDP', async (t) => {
  const r = proxyRules({
    chainPrefix: 'flt',
    state: state([
      svc('dns', '10.96.0.53', [
        { name: 'dns', protocol: 'UDP', port: 53, endpoints: [ep('10.244.1.5', 53)] },
      ]),
      svc('headless', 'None', [{ endpoints: [ep('10.244.1.5')] }]),
      svc('odd', '10.96.0.99', [{ protocol: 'ICMP', endpoints: [ep('10.244.1.5')] }]),
    ]),
  });
  t.match(
    r.text,
    /-d 10\.96\.0\.53\/32 -p udp -m udp --dport 53 -m comment --comment "default\/dns:dns cluster IP"/,
  );
  t.notMatch(r.text, /None/);
  t.equal(r.skipped.length, 1);
  t.match(r.skipped[0], /ICMP/);
  t.equal(
    proxyRules({ chainPrefix: 'flt', state: undefined }).chains.nat.length,
    3,
    'no state: base chains only',
  );
  t.throws(() => proxyRules({ chainPrefix: 'much-too-long', state: undefined }));
});

t.test('chain prefixes, jumps and iptables-save parsing', async (t) => {
  t.equal(chainPrefixFor('flt'), 'flt');
  const long = chainPrefixFor('i6test-abcdef-h1');
  t.equal(long.length, 10);
  t.not(long, chainPrefixFor('i6test-abcdef-h2'), 'long prefixes stay distinct');
  const jumps = proxyJumps('flt');
  t.same(
    jumps.map((j) => `${j.table}/${j.chain}`),
    [
      'nat/PREROUTING',
      'nat/OUTPUT',
      'nat/POSTROUTING',
      'filter/OUTPUT',
      'filter/FORWARD',
      'filter/INPUT',
      'filter/FORWARD',
      'filter/INPUT',
    ],
  );
  t.same(
    parseSavedChains(
      '# Generated\n*nat\n:PREROUTING ACCEPT [0:0]\n:flt-SERVICES - [0:0]\n-A PREROUTING -j flt-SERVICES\nCOMMIT\n',
    ),
    ['PREROUTING', 'flt-SERVICES'],
  );
});
