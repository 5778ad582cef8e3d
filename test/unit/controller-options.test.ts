import t from 'tap';
import {
  loopNames,
  parseControllers,
  defaultNodeGraceMs,
  parseCommandLine,
  parseDuration,
  parseHostPort,
  servingNames,
} from '@flotilla/controller';

t.test('parseDuration reads a number with a unit, or several', async (t) => {
  const cases: Array<[string, number]> = [
    ['500ms', 500],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1h30m', 5_400_000],
    [' 2s ', 2_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration('--x', text), ms, text);
});

t.test('parseDuration refuses what is not a duration or out of range, naming the flag', async (t) => {
  for (const text of ['5', '', 's', '5 s', '-1s', '1d', '1s2']) {
    t.throws(
      () => parseDuration('--node-grace', text),
      { code: 'InvalidArgument', message: `--node-grace "${text}" is not a duration` },
      JSON.stringify(text),
    );
  }
  t.throws(() => parseDuration('--x', '50ms', { minMs: 100, maxMs: 1_000 }), {
    message: '--x "50ms" is out of range: it must be between 100ms and 1s',
  });
});

t.test('parseHostPort reads host:port and [IPv6]:port', async (t) => {
  t.strictSame(parseHostPort('--l', '127.0.0.1:7443'), { host: '127.0.0.1', port: 7443 });
  t.strictSame(parseHostPort('--l', '[::1]:80'), { host: '::1', port: 80 });
  t.strictSame(parseHostPort('--l', 'ctl.example:1'), { host: 'ctl.example', port: 1 });
  t.strictSame(parseHostPort('--l', '0.0.0.0:0', { allowPortZero: true }), { host: '0.0.0.0', port: 0 });
});

t.test('parseHostPort says what is wrong with an address', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['7443', /must be host:port/],
    [':80', /has no host/],
    ['1.2.3.4:70000', /has port 70000; a port is 1\.\.65535/],
    ['1.2.3.4:0', /has port 0/],
    ['[1.2.3.4]:80', /in brackets, which is not an IPv6 address/],
    ['bad_host:80', /neither an IP address nor a host name/],
  ];
  for (const [text, why] of cases) {
    t.throws(() => parseHostPort('--listen', text), { code: 'InvalidArgument', message: why }, text);
    t.throws(() => parseHostPort('--listen', text), { message: `--listen "${text}"` }, `${text}: names it`);
  }
});

t.test('parseCommandLine: flags win over the environment, lists combine', async (t) => {
  const parsed = parseCommandLine(
    ['serve', '--tls-san', 'a.example', '--tls-san=b,10.0.0.1', '--node-grace=2s'],
    { FLOTILLA_LISTEN: '0.0.0.0:9000', FLOTILLA_NODE_GRACE: '9s', FLOTILLA_DATA_DIR: '/tmp/x' },
  );
  t.equal(parsed.command, 'serve');
  t.strictSame(parsed.options?.tlsSans, ['a.example', 'b', '10.0.0.1']);
  t.equal(parsed.options?.nodeGraceMs, 2_000, 'the flag, not FLOTILLA_NODE_GRACE');
  t.equal(parsed.options?.schedulerScoring, 'LeastAllocated', 'the scheduler spreads load by default');
  t.strictSame(parsed.options?.listen, { host: '0.0.0.0', port: 9000 }, 'FLOTILLA_LISTEN');
  t.equal(parsed.options?.dataDir, '/tmp/x');
  const packing = parseCommandLine(['serve', '--scheduler-scoring=MostAllocated'], {
    FLOTILLA_DATA_DIR: '/tmp/x',
  });
  t.equal(packing.options?.schedulerScoring, 'MostAllocated', 'bin-packing by flag');
});

t.test('parseCommandLine defaults: serve, 5 s grace, loopback listen', async (t) => {
  const parsed = parseCommandLine([], { FLOTILLA_DATA_DIR: '/tmp/x' });
  t.equal(parsed.command, 'serve');
  t.equal(parsed.options?.nodeGraceMs, defaultNodeGraceMs);
  t.equal(defaultNodeGraceMs, 5_000);
  t.strictSame(parsed.options?.listen, { host: '127.0.0.1', port: 7443 });
  t.strictSame(parsed.options?.etcdEndpoints, ['http://127.0.0.1:2379']);
});

t.test('parseCommandLine refuses usage mistakes with InvalidArgument', async (t) => {
  const env = { FLOTILLA_DATA_DIR: '/tmp/x' };
  const cases: Array<[string[], RegExp]> = [
    [['init', '--node-grace=1s'], /Unknown option/],
    [['serve', '--node-grace=10ms'], /--node-grace "10ms" is out of range/],
    [
      ['serve', '--scheduler-scoring=Packed'],
      /--scheduler-scoring "Packed" is not one of LeastAllocated, MostAllocated/,
    ],
    [['serve', '--etcd-endpoints=localhost:2379'], /--etcd-endpoints has "localhost:2379"/],
    [['serve', '--tls-san=a b'], /--tls-san "a b" is neither a DNS name nor an IP address/],
    [['serve', '--log-level=loud'], /--log-level "loud" is not one of debug, info, warn, error/],
    [['start'], /unknown command "start"/],
  ];
  for (const [argv, why] of cases) {
    t.throws(() => parseCommandLine(argv, env), { code: 'InvalidArgument', message: why }, argv.join(' '));
  }
});

t.test(
  'servingNames: given hosts plus the controller name and loopback, no wildcard addresses',
  async (t) => {
    t.strictSame(servingNames(['0.0.0.0', 'CTL.example', '[::1]', '10.1.2.3', '::'], 'host1'), {
      dnsNames: ['ctl.example', 'flotilla-controller', 'localhost', 'host1'],
      ipAddresses: ['::1', '10.1.2.3', '127.0.0.1'],
    });
  },
);

t.test('--service-cidr: 10.96.0.0/16 by default, an IPv4 network otherwise', async (t) => {
  t.equal(parseCommandLine([], { FLOTILLA_DATA_DIR: '/tmp/x' }).options?.serviceCidr, '10.96.0.0/16');
  t.equal(
    parseCommandLine(['--service-cidr', '10.100.0.0/24'], { FLOTILLA_DATA_DIR: '/tmp/x' }).options
      ?.serviceCidr,
    '10.100.0.0/24',
  );
  t.throws(
    () => parseCommandLine(['--service-cidr', '10.100.0.1/24'], { FLOTILLA_DATA_DIR: '/tmp/x' }),
    /--service-cidr "10.100.0.1\/24" is not a network address/,
  );
  t.throws(() => parseCommandLine(['--service-cidr', 'x'], { FLOTILLA_DATA_DIR: '/tmp/x' }), /IPv4 CIDR/);
});

t.test('--controllers picks the leader-only loops as kube-controller-manager does', async (t) => {
  t.same([...parseControllers('*')].sort(), [...loopNames].sort(), '* is all');
  t.same([...parseControllers('*,-scheduler')].sort(), [
    'deployments',
    'endpoints',
    'garbage-collector',
    'node-lifecycle',
  ]);
  t.same([...parseControllers('scheduler')], ['scheduler']);
  t.same([...parseControllers('scheduler,deployments,-scheduler')], ['deployments']);
  t.throws(() => parseControllers('*,schedular'), {
    message: /--controllers "\*,schedular": "schedular" is not one of \*, scheduler, deployments/,
  });
  t.throws(() => parseControllers('-*'), { message: /"-\*" is not one of/ });
});
