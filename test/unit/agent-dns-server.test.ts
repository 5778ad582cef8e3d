// DnsServer.answer, the bytes-in bytes-out core of the server, without sockets: what a
// malformed packet, a response, a cluster name and an outside name with no upstream get.
import t from 'tap';
import { silentLogger } from '@flotilla/common';
import { NetworkState } from '@flotilla/proto';
import {
  DnsServer,
  classIN,
  encodeMessage,
  parseMessage,
  rcode,
  rrType,
  type DnsMessage,
} from '@flotilla/agent';

const state = NetworkState.fromJSON({
  clusterDomain: 'cluster.local',
  services: [{ namespace: 'default', name: 'web', clusterIP: '10.96.0.10' }],
});
let current: NetworkState | undefined = state;
const server = new DnsServer({
  network: { current: () => current, onChange: () => () => undefined },
  address: '127.0.0.1',
  upstreams: () => [],
  logger: silentLogger,
});

function query(name: string, extra: Partial<DnsMessage['header']> = {}): Buffer {
  return encodeMessage({
    header: {
      id: 0x0102,
      qr: false,
      opcode: 0,
      aa: false,
      tc: false,
      rd: true,
      ra: false,
      rcode: 0,
      ...extra,
    },
    questions: [{ name, type: rrType.A, class: classIN }],
    answers: [],
    authorities: [],
    additionals: [],
  });
}

async function reply(bytes: Buffer, transport: 'udp' | 'tcp' = 'udp'): Promise<DnsMessage | undefined> {
  const out = await server.answer(bytes, transport);
  if (out === undefined) return undefined;
  const parsed = parseMessage(out);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.message;
}

t.test('answers from the state it was built with', async (t) => {
  const m = await reply(query('web.default.svc.cluster.local'));
  t.equal(m?.header.rcode, rcode.noError);
  t.same(
    m?.answers.map((r) => r.data),
    [{ kind: 'a', address: '10.96.0.10' }],
  );
  t.equal((await reply(query('web.default.svc.cluster.local'), 'tcp'))?.answers.length, 1, 'over TCP too');
  t.equal((await reply(query('nope.default.svc.cluster.local')))?.header.rcode, rcode.nxDomain);
});

t.test('outside names with no upstream: SERVFAIL', async (t) => {
  const m = await reply(query('example.com'));
  t.equal(m?.header.rcode, rcode.servFail);
  t.equal(m?.header.id, 0x0102);
  t.same(m?.questions, [{ name: 'example.com', type: rrType.A, class: classIN }]);
});

t.test('outside names on a node that forwards nowhere (--dns-upstreams none): NXDOMAIN', async (t) => {
  const closed = new DnsServer({
    network: { current: () => state, onChange: () => () => undefined },
    address: '127.0.0.1',
    outside: 'nxdomain',
    upstreams: () => {
      throw new Error('must not be asked for upstreams');
    },
    logger: silentLogger,
  });
  const answer = async (name: string): Promise<DnsMessage | undefined> => {
    const out = await closed.answer(query(name), 'udp');
    const parsed = out && parseMessage(out);
    return parsed && parsed.ok ? parsed.message : undefined;
  };
  const outside = await answer('web.default');
  t.equal(outside?.header.rcode, rcode.nxDomain, 'a dotted short name as-is is no name');
  t.equal(outside?.header.id, 0x0102);
  t.same(
    (await answer('web.default.svc.cluster.local'))?.answers.map((r) => r.data),
    [{ kind: 'a', address: '10.96.0.10' }],
    'cluster names still answer',
  );
});

t.test('malformed: FORMERR with the ID when the header was readable, else nothing', async (t) => {
  const broken = Buffer.concat([query('x').subarray(0, 12), Buffer.from([9, 0x61])]);
  const m = await reply(broken);
  t.equal(m?.header.rcode, rcode.formErr);
  t.equal(m?.header.id, 0x0102);
  t.same(m?.questions, []);
  t.equal(await reply(Buffer.from([0, 1, 2])), undefined);
  t.equal(
    await reply(query('web.default.svc.cluster.local', { qr: true })),
    undefined,
    'a response: no answer',
  );
  const brokenResponse = Buffer.from(broken);
  brokenResponse[2] = 0x81;
  t.equal(await reply(brokenResponse), undefined, 'a broken response: no answer either');
});

t.test('no NetworkState: names in the domain are SERVFAIL until one comes', async (t) => {
  const fresh = new DnsServer({
    network: { current: () => undefined, onChange: () => () => undefined },
    address: '127.0.0.1',
    upstreams: () => [],
    logger: silentLogger,
  });
  const out = await fresh.answer(query('web.default.svc.cluster.local'), 'udp');
  const parsed = out && parseMessage(out);
  t.equal(parsed && parsed.ok && parsed.message.header.rcode, rcode.servFail);
  current = undefined;
});
