// The DNS codec: round trips, name compression, truncation for UDP, malformed packets.
import t from 'tap';
import {
  classIN,
  encodeForUdp,
  encodeMessage,
  parseMessage,
  rcode,
  replyTo,
  rrType,
  type DnsMessage,
  type DnsRecord,
} from '@flotilla/agent';

function query(name: string, type: number = rrType.A, id = 0x1234): DnsMessage {
  return {
    header: { id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [{ name, type, class: classIN }],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

function a(name: string, address: string): DnsRecord {
  return { name, type: rrType.A, class: classIN, ttl: 5, data: { kind: 'a', address } };
}

function parsed(bytes: Uint8Array): DnsMessage {
  const r = parseMessage(bytes);
  if (!r.ok) throw new Error(r.reason);
  return r.message;
}

/** A query for name, written by hand (no compression), as a resolver sends it. */
function rawQuery(id: number, labels: string[], type = 1): Buffer {
  const parts = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0, 0, type, 0, 1]));
  return Buffer.concat(parts);
}

t.test('a query as a resolver writes it parses', async (t) => {
  const m = parsed(rawQuery(0xbeef, ['web', 'default', 'svc', 'cluster', 'local']));
  t.equal(m.header.id, 0xbeef);
  t.equal(m.header.qr, false);
  t.equal(m.header.rd, true);
  t.strictSame(m.questions, [{ name: 'web.default.svc.cluster.local', type: 1, class: 1 }]);
  t.equal(
    encodeMessage(m).toString('hex'),
    rawQuery(0xbeef, ['web', 'default', 'svc', 'cluster', 'local']).toString('hex'),
  );
});

t.test('round trip: header flags, every section, A, name, SOA and raw data', async (t) => {
  const m: DnsMessage = {
    header: { id: 7, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, rcode: rcode.nxDomain },
    questions: [{ name: 'web.default.svc.cluster.local', type: rrType.AAAA, class: classIN }],
    answers: [
      a('web.default.svc.cluster.local', '10.96.0.10'),
      {
        name: 'alias.cluster.local',
        type: rrType.CNAME,
        class: classIN,
        ttl: 30,
        data: { kind: 'name', name: 'web.default.svc.cluster.local' },
      },
    ],
    authorities: [
      {
        name: 'cluster.local',
        type: rrType.SOA,
        class: classIN,
        ttl: 5,
        data: {
          kind: 'soa',
          mname: 'ns.dns.cluster.local',
          rname: 'hostmaster.cluster.local',
          serial: 4294967295,
          refresh: 7200,
          retry: 1800,
          expire: 86400,
          minimum: 5,
        },
      },
    ],
    additionals: [
      {
        name: '',
        type: rrType.OPT,
        class: 1232,
        ttl: 0,
        data: { kind: 'raw', bytes: new Uint8Array([0, 10, 0, 2, 1, 2]) },
      },
    ],
  };
  const bytes = encodeMessage(m);
  t.strictSame(parsed(bytes), m);
  t.strictSame(parsed(encodeMessage(parsed(bytes))), m, 'stable over a second round');
  for (const opcode of [0, 2, 15]) {
    for (const code of [0, 2, 3, 5, 15]) {
      const h = { ...m.header, opcode, rcode: code, tc: true, aa: false };
      t.strictSame(parsed(encodeMessage({ ...m, header: h })).header, h);
    }
  }
});

t.test('answers point back at the question name (compression)', async (t) => {
  const name = 'web.default.svc.cluster.local';
  const bytes = encodeMessage(
    replyTo(query(name), 0, { answers: [a(name, '10.96.0.1'), a(name, '10.96.0.2')] }),
  );
  // Header 12, question name 31 + 4; each answer: pointer 2 + 10 + 4.
  t.equal(bytes.length, 12 + 31 + 4 + 2 * 16);
  const answerAt = 12 + 31 + 4;
  t.equal(bytes.readUInt16BE(answerAt), 0xc000 | 12, 'a pointer to offset 12');
  // A suffix is shared too: the SOA's names point into the question.
  const soa = encodeMessage(
    replyTo(query(name), 3, {
      authorities: [
        {
          name: 'cluster.local',
          type: rrType.SOA,
          class: classIN,
          ttl: 5,
          data: {
            kind: 'soa',
            mname: 'ns.dns.cluster.local',
            rname: 'hostmaster.cluster.local',
            serial: 1,
            refresh: 2,
            retry: 3,
            expire: 4,
            minimum: 5,
          },
        },
      ],
    }),
  );
  t.equal(
    soa.readUInt16BE(answerAt),
    0xc000 | (12 + 4 + 8 + 4),
    'cluster.local points inside the question name',
  );
  t.equal(parsed(soa).authorities[0]?.data.kind, 'soa');
  // Case does not defeat compression, and the question keeps its case.
  const mixed = encodeMessage(
    replyTo(query('WEB.default.svc.cluster.local'), 0, { answers: [a(name, '10.96.0.1')] }),
  );
  t.equal(mixed.length, 12 + 31 + 4 + 16);
  t.equal(parsed(mixed).questions[0]?.name, 'WEB.default.svc.cluster.local');
});

t.test('compression pointers written by others are followed', async (t) => {
  // A reply whose answer name is a pointer to the question, and a name that is labels + pointer.
  const q = rawQuery(1, ['a', 'example', 'org']);
  q.writeUInt16BE(0x8180, 2);
  q.writeUInt16BE(2, 6); // two answers
  const answer1 = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
  // "www" + pointer to "example.org" at 12 + 2.
  const answer2 = Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 14, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 2]);
  const m = parsed(Buffer.concat([q, answer1, answer2]));
  t.same(
    m.answers.map((r) => [r.name, r.data]),
    [
      ['a.example.org', { kind: 'a', address: '192.0.2.1' }],
      ['www.example.org', { kind: 'a', address: '192.0.2.2' }],
    ],
  );
});

t.test('malformed packets are values, never exceptions', async (t) => {
  const good = rawQuery(0x4242, ['web', 'default']);
  const cases: Array<[string, Buffer, boolean]> = [
    ['empty', Buffer.alloc(0), false],
    ['shorter than a header', Buffer.from([1, 2, 3]), false],
    ['a question count with no question', Buffer.from([0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), true],
    ['a label past the end', Buffer.concat([good.subarray(0, 14), Buffer.from([40])]), true],
    ['a name without its end', good.subarray(0, 20), true],
    ['the question type cut off', good.subarray(0, good.length - 3), true],
    ['bytes after the last record', Buffer.concat([good, Buffer.from([0])]), true],
    ['a pointer to itself', Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), true],
    [
      'a pointer forwards',
      Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 20, 0, 1, 0, 1, 0, 0, 0])]),
      true,
    ],
    ['a pointer cut off', Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0])]), true],
    [
      'a reserved label type',
      Buffer.concat([good.subarray(0, 12), Buffer.from([0x40, 0, 0, 1, 0, 1])]),
      true,
    ],
    ['a label with a dot', rawQuery(1, ['a.b', 'c']), true],
    [
      'a name over 255 bytes',
      rawQuery(
        1,
        Array.from({ length: 5 }, () => 'x'.repeat(63)),
      ),
      true,
    ],
    [
      'record data past the end',
      Buffer.concat([
        (() => {
          const b = rawQuery(9, ['a']);
          b.writeUInt16BE(1, 6);
          return b;
        })(),
        Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1]),
      ]),
      true,
    ],
  ];
  for (const [what, bytes, hasHeader] of cases) {
    const r = parseMessage(bytes);
    t.equal(r.ok, false, what);
    if (!r.ok) {
      t.type(r.reason, 'string', `${what}: ${r.reason}`);
      t.equal(r.id !== undefined, hasHeader, `${what}: id ${hasHeader ? 'kept' : 'absent'}`);
    }
  }
  // A pointer loop (a → b → a) ends in a refusal, not a hang.
  const loop = Buffer.concat([
    Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    Buffer.from([1, 0x61, 0xc0, 16]), // "a" then a pointer to 16 ...
    Buffer.from([1, 0x62, 0xc0, 12]), // ... "b" then a pointer back to 12
  ]);
  t.equal(parseMessage(loop).ok, false, 'pointer loop');
  // Random bytes never throw.
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(Array.from({ length: 12 + (i % 60) }, random));
    t.doesNotThrow(() => parseMessage(b));
  }
});

t.test('encodeForUdp: over 512 bytes drops records and sets TC', async (t) => {
  const name = 'web.default.svc.cluster.local';
  const small = replyTo(query(name), 0, { answers: [a(name, '10.96.0.1')] });
  t.equal(encodeForUdp(small).length, encodeMessage(small).length, 'fits: as is');
  t.equal(parsed(encodeForUdp(small)).header.tc, false);
  const many = replyTo(query(name), 0, {
    answers: Array.from({ length: 40 }, (_, i) => a(name, `10.96.0.${i + 1}`)),
  });
  t.ok(encodeMessage(many).length > 512);
  const udp = encodeForUdp(many);
  t.ok(udp.length <= 512, `${udp.length} bytes`);
  const back = parsed(udp);
  t.equal(back.header.tc, true);
  t.ok(back.answers.length > 0 && back.answers.length < 40, `${back.answers.length} answers kept`);
  t.strictSame(back.questions, many.questions);
  t.equal(encodeForUdp(many, 4096).length, encodeMessage(many).length, 'a larger limit keeps all');
});

t.test('encodeMessage refuses what cannot be written', async (t) => {
  t.throws(() => encodeMessage(replyTo(query('x'), 0, { answers: [a('x', '10.0.0.256')] })), RangeError);
  t.throws(() => encodeMessage(query(`${'a'.repeat(64)}.local`)), RangeError);
  t.throws(() => encodeMessage(query('a..b')), RangeError);
  t.equal(parsed(encodeMessage(query(''))).questions[0]?.name, '', 'the root name');
});
