// Pod CIDR allocation: the pure allocator, the registration plan (node and allocation key
// in one transaction), the release on delete, and the flags that configure it.
import t from 'tap';
import { Node } from '@flotilla/proto';
import {
  allocatePodCidr,
  allocationCodec,
  blockOfAllocationKey,
  formatBlock,
  keys,
  MemoryStore,
  nextFreeBlock,
  nodeCodec,
  nodeDeleteOps,
  parseBlock,
  parseCommandLine,
  parsePodCidrConfig,
  planRegistration,
  registerWithPodCidr,
  type AllocationOwner,
  type Entry,
  type HeldBlock,
} from '@flotilla/controller';

const config = parsePodCidrConfig('10.244.0.0/16', 24);
const held = (node: string, cidr: string): HeldBlock => ({ node, block: parseBlock(cidr, 'test') });
const now = new Date('2026-01-01T00:00:00.000Z');

function makeNode(name: string, podCIDR = ''): Node {
  return Node.fromJSON({
    metadata: { name, labels: {} },
    spec: podCIDR ? { podCIDR } : {},
    status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] },
  });
}

function allocation(cidr: string, node: string, modRevision = 5): Entry<AllocationOwner> {
  return {
    key: keys.podCidr(cidr),
    value: { namespace: '', name: node, uid: `uid-${node}` },
    modRevision,
    createRevision: modRevision,
  };
}

t.test('the next free block skips held blocks of any size, in address order', async (t) => {
  const cases: { name: string; held: string[]; want: string | undefined }[] = [
    { name: 'nothing held', held: [], want: '10.244.0.0/24' },
    { name: 'first held', held: ['10.244.0.0/24'], want: '10.244.1.0/24' },
    { name: 'a gap is reused', held: ['10.244.0.0/24', '10.244.2.0/24'], want: '10.244.1.0/24' },
    { name: 'unsorted input', held: ['10.244.1.0/24', '10.244.0.0/24'], want: '10.244.2.0/24' },
    { name: 'a bigger block covers several', held: ['10.244.0.0/22'], want: '10.244.4.0/24' },
    { name: 'a smaller block spoils one', held: ['10.244.0.128/25'], want: '10.244.1.0/24' },
    { name: 'blocks outside do not matter', held: ['10.10.0.0/24', '192.168.0.0/16'], want: '10.244.0.0/24' },
    { name: 'a supernet holds everything', held: ['10.0.0.0/8'], want: undefined },
  ];
  for (const c of cases) {
    const got = nextFreeBlock(
      config,
      c.held.map((x) => parseBlock(x, 'test')),
    );
    t.equal(got ? formatBlock(got) : undefined, c.want, c.name);
  }
  const from = (start: number, h: string[]): string | undefined => {
    const got = nextFreeBlock(
      config,
      h.map((x) => parseBlock(x, 'test')),
      start,
    );
    return got ? formatBlock(got) : undefined;
  };
  t.equal(from(7, []), '10.244.7.0/24', 'a search from block 7');
  t.equal(from(7, ['10.244.7.0/24']), '10.244.8.0/24', 'skips what is held after the start');
  t.equal(from(255, ['10.244.255.0/24']), '10.244.0.0/24', 'wraps around to the start of the range');
  t.equal(from(256 + 3, []), '10.244.3.0/24', 'a start beyond the range wraps too');
  const small = parsePodCidrConfig('10.1.0.0/23', 24);
  const full = nextFreeBlock(small, [parseBlock('10.1.0.0/24', 't'), parseBlock('10.1.1.0/24', 't')]);
  t.equal(full, undefined, 'a full range has no block');
});

t.test('a requested CIDR is honoured when free, inside or outside the cluster CIDR', async (t) => {
  const taken = [held('a', '10.244.0.0/24'), held('b', '10.244.1.0/24')];
  t.equal(formatBlock(allocatePodCidr(config, 'c', '10.244.7.0/24', taken)), '10.244.7.0/24', 'inside');
  t.equal(formatBlock(allocatePodCidr(config, 'c', '172.30.0.0/24', taken)), '172.30.0.0/24', 'outside');
  t.equal(formatBlock(allocatePodCidr(config, 'c', '', taken)), '10.244.2.0/24', 'none requested: next free');
  t.equal(
    formatBlock(allocatePodCidr(config, 'a', '10.244.0.0/24', taken)),
    '10.244.0.0/24',
    "a node's own block is not an overlap",
  );
  t.throws(
    () => allocatePodCidr(config, 'c', '10.244.1.0/25', taken),
    { code: 'FailedPrecondition', message: /spec\.podCIDR "10\.244\.1\.0\/25".*10\.244\.1\.0\/24.*node "b"/ },
    'an overlap names the field, the block and its node',
  );
  t.throws(
    () => allocatePodCidr(config, 'c', '10.244.1.5/24', taken),
    { code: 'InvalidArgument', message: /spec\.podCIDR "10\.244\.1\.5\/24" is not a network address/ },
    'not a network address',
  );
  t.throws(
    () => allocatePodCidr(config, 'c', 'ten/8', taken),
    { code: 'InvalidArgument', message: /spec\.podCIDR "ten\/8"/ },
    'not a CIDR',
  );
  const tiny = parsePodCidrConfig('10.9.0.0/24', 24);
  t.throws(
    () => allocatePodCidr(tiny, 'c', '', [held('a', '10.9.0.0/24')]),
    { code: 'ResourceExhausted', message: /cluster CIDR exhausted: 10\.9\.0\.0\/24 has no free \/24/ },
    'exhausted',
  );
});

t.test('allocation keys name their block', async (t) => {
  t.equal(keys.podCidr('10.244.3.0/24'), 'allocations/podcidrs/10.244.3.0-24');
  const b = blockOfAllocationKey('10.244.3.0-24');
  t.equal(b && formatBlock(b), '10.244.3.0/24');
  t.equal(blockOfAllocationKey('10.244.3.1-24'), undefined, 'not a network address');
  t.equal(blockOfAllocationKey('junk'), undefined);
});

t.test('the flags are validated with clear errors', async (t) => {
  const opts = parseCommandLine(['serve'], {}).options;
  t.equal(opts?.clusterCidr, '10.244.0.0/16', 'default cluster CIDR');
  t.equal(opts?.nodeCidrMaskSize, 24, 'default mask size');
  t.equal(opts?.webFacingSelector, 'flotilla.io/web-facing=true');
  t.equal(opts?.clusterDomain, 'cluster.local');
  const set = parseCommandLine(
    [
      'serve',
      '--cluster-cidr=10.200.0.0/14',
      '--node-cidr-mask-size=26',
      '--cluster-domain=example.internal',
    ],
    {},
  ).options;
  t.equal(set?.clusterCidr, '10.200.0.0/14');
  t.equal(set?.nodeCidrMaskSize, 26);
  t.equal(set?.clusterDomain, 'example.internal');
  const bad: [string[], RegExp][] = [
    [['--cluster-cidr=10.244.0.1/16'], /--cluster-cidr "10\.244\.0\.1\/16" is not a network address/],
    [['--cluster-cidr=nope'], /--cluster-cidr "nope" is not an IPv4 CIDR/],
    [['--node-cidr-mask-size=12'], /--node-cidr-mask-size "12" must be a prefix length from \/16/],
    [['--node-cidr-mask-size=31'], /--node-cidr-mask-size "31" must be a prefix length/],
    [['--node-cidr-mask-size=x'], /--node-cidr-mask-size "x"/],
    [['--cluster-cidr=10.96.0.0/12'], /--cluster-cidr "10\.96\.0\.0\/12" overlaps --service-cidr/],
    [['--web-facing-selector=a b=c'], /--web-facing-selector: label selector "a b=c" is invalid/],
    [['--cluster-domain=Bad_Domain'], /--cluster-domain "Bad_Domain"/],
  ];
  for (const [args, message] of bad) {
    t.throws(
      () => parseCommandLine(['serve', ...args], {}),
      { code: 'InvalidArgument', message },
      args.join(' '),
    );
  }
});

t.test('registration plans the node and its allocation key in one transaction', async (t) => {
  const first = planRegistration(undefined, makeNode('a'), [], config, now, 'uid-a');
  t.equal(first.node.spec?.podCIDR, '10.244.0.0/24', 'the first block');
  t.same(
    first.ops.map((o) => [o.type, o.key, 'expect' in o ? o.expect : undefined]),
    [
      ['put', 'nodes/a', 0],
      ['put', 'allocations/podcidrs/10.244.0.0-24', 0],
    ],
    'both created (expect 0)',
  );
  const owner = first.ops[1]?.type === 'put' ? allocationCodec.decode(first.ops[1].text, 1) : undefined;
  t.same(owner, { namespace: '', name: 'a', uid: 'uid-a' }, 'the key records its node');

  const second = planRegistration(
    undefined,
    makeNode('b'),
    [allocation('10.244.0.0/24', 'a')],
    config,
    now,
    'uid-b',
  );
  t.equal(second.node.spec?.podCIDR, '10.244.1.0/24', 'the next node gets the next block');

  const requested = planRegistration(
    undefined,
    makeNode('c', '10.50.0.0/24'),
    [allocation('10.244.0.0/24', 'a')],
    config,
    now,
    'uid-c',
  );
  t.equal(requested.node.spec?.podCIDR, '10.50.0.0/24', 'the requested block');

  const stored: Entry<Node> = {
    key: 'nodes/b',
    value: second.node,
    modRevision: 9,
    createRevision: 9,
  };
  const again = planRegistration(stored, makeNode('b', '10.99.0.0/24'), [], config, now, 'other');
  t.equal(again.node.spec?.podCIDR, '10.244.1.0/24', 'a stored node keeps its block, whatever it asks');
  t.same(
    again.ops.map((o) => [o.type, o.key, 'expect' in o ? o.expect : undefined]),
    [['put', 'nodes/b', 9]],
    're-registration writes only the node, guarded',
  );
  t.same(
    nodeDeleteOps(stored),
    [
      { type: 'delete', key: 'nodes/b', expect: 9 },
      { type: 'delete', key: 'allocations/podcidrs/10.244.1.0-24' },
    ],
    'deleting the node releases its block',
  );
});

t.test('two nodes racing for one block: the second commit conflicts', async (t) => {
  const store = new MemoryStore();
  const a = planRegistration(undefined, makeNode('a'), [], config, now, 'uid-a');
  const b = planRegistration(undefined, makeNode('b'), [], config, now, 'uid-b');
  t.equal(a.node.spec?.podCIDR, b.node.spec?.podCIDR, 'both planned the same block');
  await store.commit(a.ops);
  await t.rejects(store.commit(b.ops), { code: 'Conflict' }, 'the allocation key guards the block');
  const list = await store.list(allocationCodec, keys.podCidrs);
  const replanned = planRegistration(undefined, makeNode('b'), list.entries, config, now, 'uid-b');
  await store.commit(replanned.ops);
  const stored = await store.get(nodeCodec, keys.node('b'));
  t.equal(stored?.value.spec?.podCIDR, '10.244.1.0/24', 're-planned onto the next block');
});

t.test('many nodes registering at once all get distinct blocks', async (t) => {
  const store = new MemoryStore();
  const names = Array.from({ length: 60 }, (_, i) => `n${i}`);
  const nodes = await Promise.all(
    names.map((name) => registerWithPodCidr(store, config, name, makeNode(name), now)),
  );
  const cidrs = nodes.map((n) => n.spec?.podCIDR ?? '');
  t.equal(new Set(cidrs).size, names.length, 'no block given twice');
  t.ok(
    cidrs.every((c) => c.startsWith('10.244.') && c.endsWith('/24')),
    'all /24s of the cluster CIDR',
  );
  const keysHeld = await store.list(allocationCodec, keys.podCidrs);
  t.equal(keysHeld.entries.length, names.length, 'one allocation key per node');
  const again = await registerWithPodCidr(store, config, 'n0', makeNode('n0', '10.1.0.0/24'), now);
  t.equal(again.spec?.podCIDR, cidrs[0], 're-registration keeps the block');
});
