// The node DNS's decisions: cluster names from the NetworkState, NXDOMAIN inside the
// domain, forwarding outside it; the upstream list from resolv.conf; the pod gateway.
import t from 'tap';
import { NetworkState } from '@flotilla/proto';
import {
  classIN,
  decideQuery,
  dnsView,
  podGateway,
  rcode,
  rrType,
  upstreamsFromResolvConf,
  parseDnsUpstreams,
  withinDomain,
  type DnsMessage,
} from '@flotilla/agent';

function state(services: Array<[string, string, string]>, clusterDomain = 'cluster.local'): NetworkState {
  return NetworkState.fromJSON({
    endpointsRevision: 42,
    clusterDomain,
    services: services.map(([namespace, name, clusterIP]) => ({
      namespace,
      name,
      clusterIP,
      type: 'ClusterIP',
    })),
  });
}

function query(name: string, type: number = rrType.A, extra: Partial<DnsMessage['header']> = {}): DnsMessage {
  return {
    header: { id: 99, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0, ...extra },
    questions: [{ name, type, class: classIN }],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

const view = dnsView(
  state([
    ['default', 'web', '10.96.0.10'],
    ['shop', 'Cart', '10.96.3.4'],
    ['shop', 'headless', ''],
  ]),
);

function reply(name: string, type: number = rrType.A, v = view): DnsMessage {
  const d = decideQuery(query(name, type), v);
  if (d.kind !== 'reply') throw new Error(`${name}: forwarded`);
  return d.message;
}

t.test('SERVICE.NAMESPACE.svc.<domain> answers the cluster IP', async (t) => {
  const m = reply('web.default.svc.cluster.local');
  t.equal(m.header.rcode, rcode.noError);
  t.equal(m.header.aa, true);
  t.equal(m.header.qr, true);
  t.equal(m.header.id, 99);
  t.same(m.answers, [
    {
      name: 'web.default.svc.cluster.local',
      type: rrType.A,
      class: classIN,
      ttl: 5,
      data: { kind: 'a', address: '10.96.0.10' },
    },
  ]);
  t.same(m.authorities, []);
  // Names are case-insensitive; the answer carries the question's spelling; a final dot is the same name.
  t.same(reply('CART.Shop.SVC.Cluster.Local').answers[0]?.data, { kind: 'a', address: '10.96.3.4' });
  t.equal(reply('CART.Shop.SVC.Cluster.Local').answers[0]?.name, 'CART.Shop.SVC.Cluster.Local');
  t.same(reply('web.default.svc.cluster.local', rrType.ANY).answers.length, 1, 'ANY gets the A record');
});

t.test('a known service has no AAAA (or other) records: NOERROR, no answer', async (t) => {
  for (const type of [rrType.AAAA, rrType.TXT, rrType.MX, rrType.SRV]) {
    const m = reply('web.default.svc.cluster.local', type);
    t.equal(m.header.rcode, rcode.noError, `type ${type}`);
    t.same(m.answers, []);
    t.equal(m.authorities[0]?.type, rrType.SOA, 'SOA for negative caching');
  }
  const headless = reply('headless.shop.svc.cluster.local');
  t.equal(headless.header.rcode, rcode.noError, 'a service without a cluster IP exists, without an A record');
  t.same(headless.answers, []);
});

t.test('other names in the cluster domain: NXDOMAIN; the levels that exist: NOERROR', async (t) => {
  const cases: Array<[string, number]> = [
    ['nope.default.svc.cluster.local', rcode.nxDomain],
    ['web.other.svc.cluster.local', rcode.nxDomain],
    ['web.default.cluster.local', rcode.nxDomain],
    ['web.cluster.local', rcode.nxDomain],
    ['a.web.default.svc.cluster.local', rcode.nxDomain],
    // The search list's wrong guesses, as glibc tries them for "web.default":
    ['web.default.default.svc.cluster.local', rcode.nxDomain],
    ['example.com.default.svc.cluster.local', rcode.nxDomain],
    ['cluster.local', rcode.noError],
    ['svc.cluster.local', rcode.noError],
    ['default.svc.cluster.local', rcode.noError],
    ['empty.svc.cluster.local', rcode.nxDomain],
  ];
  for (const [name, code] of cases) {
    const m = reply(name);
    t.equal(m.header.rcode, code, name);
    t.same(m.answers, [], `${name}: no answer`);
    t.equal(m.authorities[0]?.type, rrType.SOA, `${name}: SOA`);
    t.equal(m.header.aa, true);
  }
  const soa = reply('cluster.local', rrType.SOA);
  t.equal(soa.answers[0]?.data.kind, 'soa');
  t.match(soa.answers[0]?.data, { serial: 42, mname: 'ns.dns.cluster.local' });
});

t.test('names outside the domain are forwarded', async (t) => {
  for (const name of [
    'example.com',
    'web',
    'web.default',
    'local',
    'notcluster.local',
    'svc.cluster.local.example.com',
  ]) {
    t.same(decideQuery(query(name), view), { kind: 'forward', name }, name);
  }
  // The state's own domain counts, not the default one.
  const other = dnsView(state([['default', 'web', '10.96.0.10']], 'corp.example.'));
  t.equal(other.domain, 'corp.example');
  t.equal(decideQuery(query('web.default.svc.cluster.local'), other).kind, 'forward');
  t.same(reply('web.default.svc.corp.example', rrType.A, other).answers[0]?.data, {
    kind: 'a',
    address: '10.96.0.10',
  });
});

t.test('before the first NetworkState: SERVFAIL in the domain, forwarding outside', async (t) => {
  const none = dnsView(undefined);
  t.equal(none.domain, 'cluster.local');
  t.equal(none.known, false);
  t.equal(reply('web.default.svc.cluster.local', rrType.A, none).header.rcode, rcode.servFail);
  t.equal(decideQuery(query('example.com'), none).kind, 'forward');
});

t.test('what is not a standard one-question query', async (t) => {
  const notify = decideQuery(query('web.default.svc.cluster.local', rrType.A, { opcode: 4 }), view);
  t.equal(notify.kind === 'reply' && notify.message.header.rcode, rcode.notImp);
  const response = decideQuery(query('x', rrType.A, { qr: true }), view);
  t.equal(response.kind === 'reply' && response.message.header.rcode, rcode.formErr);
  const two = query('a.cluster.local');
  two.questions.push({ name: 'b.cluster.local', type: 1, class: 1 });
  const d = decideQuery(two, view);
  t.equal(d.kind === 'reply' && d.message.header.rcode, rcode.formErr);
  const none = query('x');
  none.questions = [];
  const e = decideQuery(none, view);
  t.equal(e.kind === 'reply' && e.message.header.rcode, rcode.formErr);
  const chaos = query('web.default.svc.cluster.local');
  chaos.questions[0]!.class = 3;
  const c = decideQuery(chaos, view);
  t.equal(c.kind === 'reply' && c.message.header.rcode, rcode.refused);
});

t.test('a state change is a new view', async (t) => {
  const before = dnsView(state([['default', 'web', '10.96.0.10']]));
  const after = dnsView(state([['default', 'api', '10.96.0.11']]));
  t.equal(reply('web.default.svc.cluster.local', rrType.A, before).header.rcode, rcode.noError);
  t.equal(reply('web.default.svc.cluster.local', rrType.A, after).header.rcode, rcode.nxDomain);
  t.same(reply('api.default.svc.cluster.local', rrType.A, after).answers[0]?.data, {
    kind: 'a',
    address: '10.96.0.11',
  });
});

t.test('withinDomain', async (t) => {
  t.equal(withinDomain('a.b.cluster.local', 'cluster.local'), 'a.b');
  t.equal(withinDomain('Cluster.Local.', 'cluster.local'), '');
  t.equal(withinDomain('xcluster.local', 'cluster.local'), undefined);
  t.equal(withinDomain('cluster.local.com', 'cluster.local'), undefined);
});

t.test('upstreamsFromResolvConf: nameservers in order, not our own, at most three', async (t) => {
  const text = [
    '# comment',
    'search example.com',
    'nameserver 10.0.0.2',
    'nameserver 10.0.0.2',
    'nameserver   127.0.0.53   # systemd-resolved',
    'nameserver 10.88.0.1',
    ';nameserver 10.0.0.9',
    'nameserver not-an-address',
    'nameserver fe80::1%eth0',
    'nameserver 10.0.0.3',
    'options ndots:2',
  ].join('\n');
  t.same(upstreamsFromResolvConf(text, ['10.88.0.1']), [
    { address: '10.0.0.2', port: 53 },
    { address: '127.0.0.53', port: 53 },
    { address: 'fe80::1%eth0', port: 53 },
  ]);
  t.same(upstreamsFromResolvConf(''), []);
});

t.test('podGateway: the first address of the pod CIDR, with its prefix', async (t) => {
  t.same(podGateway('10.244.3.0/24'), { address: '10.244.3.1', cidr: '10.244.3.1/24' });
  t.same(podGateway('10.88.0.0/16'), { address: '10.88.0.1', cidr: '10.88.0.1/16' });
  t.same(podGateway('10.88.7.9/16'), { address: '10.88.0.1', cidr: '10.88.0.1/16' }, 'host bits ignored');
  t.same(podGateway('192.168.255.252/30'), { address: '192.168.255.253', cidr: '192.168.255.253/30' });
  t.throws(() => podGateway('10.0.0.0/31'));
  t.throws(() => podGateway('nope'));
});

t.test(
  'parseDnsUpstreams: host, none, or addresses with optional ports; anything else says what is valid',
  async (t) => {
    t.same(parseDnsUpstreams('host'), { kind: 'host' });
    t.same(parseDnsUpstreams('none'), { kind: 'none' });
    t.same(parseDnsUpstreams('10.0.0.2,10.0.0.3:5353,[fd00::2]:54,fd00::3'), {
      kind: 'list',
      upstreams: [
        { address: '10.0.0.2', port: 53 },
        { address: '10.0.0.3', port: 5353 },
        { address: 'fd00::2', port: 54 },
        { address: 'fd00::3', port: 53 },
      ],
    });
    for (const bad of ['', 'dns.example', '10.0.0.2:0', '10.0.0.2:70000', '10.0.0.2,', '[fd00::2]:x']) {
      const r = parseDnsUpstreams(bad);
      t.type(r, 'string', `${JSON.stringify(bad)} is refused`);
      t.match(r, /want host, none or a comma-separated list of addresses/);
    }
  },
);
