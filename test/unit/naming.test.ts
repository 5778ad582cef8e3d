import t from 'tap';
import {
  nodeCommonName,
  nodeNameOfCommonName,
  nodeSubjectToken,
  subjects,
  validateDnsSubdomain,
} from '@flotilla/common';

t.test('validateDnsSubdomain accepts DNS-1123 subdomains', async (t) => {
  const valid = [
    'a',
    'node-1',
    'worker.example.com',
    '0',
    'a'.repeat(63),
    `${'a'.repeat(63)}.${'b'.repeat(63)}`,
  ];
  for (const name of valid) t.equal(validateDnsSubdomain(name), undefined, name);
  t.equal(validateDnsSubdomain('a'.repeat(253)), undefined, '253 characters is the limit');
});

t.test('validateDnsSubdomain refuses anything else, saying why', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['a'.repeat(254), /at most 253 characters/],
    ['Node1', /lower case/],
    ['-node', /start and end with a letter or digit/],
    ['node-', /start and end/],
    ['node_1', /lower case letters, digits, "-" and "."/],
    ['a..b', /lower case/],
    ['.a', /lower case/],
    ['a.', /lower case/],
    ['node 1', /lower case/],
    ['nöde', /lower case/],
    ['a.*', /lower case/],
    ['a>', /lower case/],
  ];
  for (const [name, reason] of cases) t.match(validateDnsSubdomain(name), reason, JSON.stringify(name));
});

t.test('nodeSubjectToken is a single NATS token and one-to-one on valid names', async (t) => {
  const names = [
    'a',
    'a.b',
    'a-b',
    'ab',
    'a.b.c',
    'a-b.c',
    'a.b-c',
    'a.bc',
    'ab.c',
    'a-b-c',
    'node-1',
    'node.1',
  ];
  const tokens = new Map<string, string>();
  for (const name of names) {
    t.equal(validateDnsSubdomain(name), undefined, `${name} is a valid node name`);
    const token = nodeSubjectToken(name);
    t.notMatch(token, /[.*> ]/, `${name} maps to one token without wildcards: ${token}`);
    const other = tokens.get(token);
    t.equal(other, undefined, `${name} and ${other ?? '-'} must not share the token ${token}`);
    tokens.set(token, name);
  }
  t.equal(nodeSubjectToken('worker.example.com'), 'worker_example_com');
  t.equal(nodeSubjectToken('plain'), 'plain');
});

t.test('subjects put the node token in the fourth place', async (t) => {
  const node = 'worker.example.com';
  t.equal(subjects.heartbeat(node), 'flotilla.v1.node.worker_example_com.heartbeat');
  t.equal(subjects.resync(node), 'flotilla.v1.node.worker_example_com.resync');
  t.equal(subjects.podStatus(node), 'flotilla.v1.node.worker_example_com.status');
  t.equal(subjects.events(node), 'flotilla.v1.node.worker_example_com.events');
  t.equal(subjects.nodeAll(node), 'flotilla.v1.node.worker_example_com.>');
  t.equal(subjects.allHeartbeats, 'flotilla.v1.node.*.heartbeat');
  for (const subject of [subjects.heartbeat(node), subjects.resync(node), subjects.podStatus(node)]) {
    t.ok(subject.startsWith(subjects.nodeAll(node).slice(0, -1)), `${subject} is covered by nodeAll`);
    t.notOk(
      subject.startsWith(subjects.nodeAll('worker').slice(0, -1)),
      `${subject} is not covered by another node`,
    );
  }
});

t.test('node identities round-trip through the certificate common name', async (t) => {
  t.equal(nodeCommonName('worker-1'), 'node:worker-1');
  t.equal(nodeNameOfCommonName(nodeCommonName('worker.example.com')), 'worker.example.com');
  t.equal(nodeNameOfCommonName('admin'), undefined);
  t.equal(nodeNameOfCommonName('flotilla-controller'), undefined);
});
