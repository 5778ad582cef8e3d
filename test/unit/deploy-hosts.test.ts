// The pure pieces of hosts made of network namespaces: the plan's names and addresses,
// the commands that make them, the choice of a free /24, the teardown decision over what
// the machine shows, and the local cluster plan with hosts (control plane on the bridge
// address, one agent per host inside its netns with names of its own).
import t from 'tap';
import { type Executables, hostAgentName, localClusterPlan, localHosts, localLayout } from '@flotilla/deploy';

const { hostsPlan, setupCommands, pickSubnet, prefixesInUse, teardownPlan, leftoverLines, linkCommand } =
  localHosts;

t.test('hostsPlan: names carry the prefix and fit in 15 bytes; addresses .2…; bridge .1', async (t) => {
  const plan = hostsPlan('flt0a1b2c', 20, '10.201.7.0/24');
  t.equal(plan.bridge, 'flt0a1b2cbr');
  t.equal(plan.gateway, '10.201.7.1');
  t.equal(plan.subnet, '10.201.7.0/24');
  t.equal(plan.hosts.length, 20);
  const h1 = plan.hosts[0];
  t.same(h1 && { name: h1.name, address: h1.address, rootVeth: h1.rootVeth, netnsPath: h1.netnsPath }, {
    name: 'flt0a1b2c-h1',
    address: '10.201.7.2',
    rootVeth: 'flt0a1b2cv1',
    netnsPath: '/run/netns/flt0a1b2c-h1',
  });
  t.same(h1?.agent, { bridgeName: 'flt0a1b2cp1', netnsPrefix: 'flt0a1b2ch1', cgroupParent: '/flt0a1b2c-h1' });
  t.equal(plan.hosts[19]?.address, '10.201.7.21');
  for (const h of plan.hosts) {
    for (const name of [h.rootVeth, h.agent.bridgeName, plan.bridge])
      t.ok(name.length <= 15 && name.startsWith('flt0a1b2c'), `${name}: an interface name with the prefix`);
    t.ok(h.agent.netnsPrefix.startsWith(plan.prefix) && h.agent.cgroupParent.startsWith(`/${plan.prefix}-`));
  }
  t.equal(new Set(plan.hosts.map((h) => h.address)).size, 20, 'distinct addresses');
});

t.test('hostsPlan rejects what cannot work, with the field', async (t) => {
  const cases: Array<[string, number, string, string]> = [
    ['flt1', 0, '10.200.0.0/24', 'nodes'],
    ['flt1', 21, '10.200.0.0/24', 'nodes'],
    ['flt1', 1.5, '10.200.0.0/24', 'nodes'],
    ['Flt-1', 1, '10.200.0.0/24', 'prefix'],
    ['flt0123456789', 1, '10.200.0.0/24', 'prefix'],
    ['flt1', 1, '10.200.0.0/16', 'subnet'],
  ];
  for (const [prefix, n, subnet, field] of cases) {
    t.throws(
      () => hostsPlan(prefix, n, subnet),
      { name: 'HostsPlanError', field },
      `${prefix} ${n} ${subnet}`,
    );
  }
});

t.test('setupCommands: bridge first, then per host netns, veth, addresses, route, forwarding', async (t) => {
  const plan = hostsPlan('fltab', 2, '10.210.3.0/24');
  const argv = setupCommands(plan).map((c) => c.argv.join(' '));
  t.same(argv.slice(0, 3), [
    'ip link add fltabbr type bridge',
    'ip addr add 10.210.3.1/24 dev fltabbr',
    'ip link set fltabbr up',
  ]);
  const ns = 'nsenter --net=/run/netns/fltab-h2';
  for (const want of [
    'ip netns add fltab-h2',
    'ip link add fltabv2 type veth peer name eth0 netns fltab-h2',
    'ip link set fltabv2 master fltabbr up',
    `${ns} ip link set lo up`,
    `${ns} ip addr add 10.210.3.3/24 dev eth0`,
    `${ns} ip link set eth0 up`,
    `${ns} ip route add default via 10.210.3.1`,
    `${ns} sysctl -q -w net.ipv4.ip_forward=1`,
  ])
    t.ok(argv.includes(want), want);
  t.notOk(
    argv.some((a) => a.includes('ip netns exec')),
    'never ip netns exec (it unshares the mount namespace)',
  );
  t.same(linkCommand(plan, 2, false).argv, ['ip', 'link', 'set', 'fltabv2', 'down']);
  t.same(linkCommand(plan, 1, true).argv, ['ip', 'link', 'set', 'fltabv1', 'up']);
  t.throws(() => linkCommand(plan, 3, true), { name: 'HostsPlanError', field: 'host' });
});

t.test(
  'pickSubnet: the first /24 from start that overlaps no route, address or reserved range',
  async (t) => {
    const routes = [
      'default via 192.0.2.1 dev eth0',
      '10.200.0.0/24 dev flt1br proto kernel scope link src 10.200.0.1',
      '10.200.2.0/23 dev other',
      'local 10.200.3.7 dev lo table local',
    ].join('\n');
    const addrs = '4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0';
    const inUse = prefixesInUse(routes, addrs);
    t.same(inUse.sort(), ['10.200.0.0/24', '10.200.2.0/23', '10.200.3.7/32', '192.0.2.2/24'].sort());
    t.equal(
      pickSubnet(inUse, 0),
      '10.200.1.0/24',
      'skips .0, .2-.3 (the /23, holding an address too); .1 is free',
    );
    t.equal(pickSubnet(inUse, 300), '10.201.44.0/24', 'walks from the start given');
    t.equal(pickSubnet(['10.0.0.0/8'].slice(1), 40 * 256 - 1), '10.239.255.0/24', 'the last candidate');
    t.throws(
      () => pickSubnet(['10.192.0.0/10'], 0),
      { name: 'HostsPlanError', field: 'subnet' },
      'nothing free',
    );
  },
);

const empty: localHosts.HostsObservation = {
  netns: [],
  processes: [],
  links: [],
  iptables: {},
  mountinfo: '',
  cgroupDirs: [],
  dirs: [],
  selfPid: 1000,
};

t.test('teardownPlan: by prefix alone, and only what carries it', async (t) => {
  const mountinfo = [
    '36 25 0:4 / /run/netns/fltab-h1 rw shared:1 - nsfs nsfs rw',
    '37 25 0:40 / /tmp/fltab/h1/pods/x/rootfs rw - overlay overlay rw',
    '38 25 0:41 / /tmp/fltab/h1/pods/x/rootfs/proc rw - proc proc rw',
    '39 25 0:42 / /tmp/other/rootfs rw - overlay overlay rw',
    '40 25 0:43 / /data/hosts/h1/shm rw - tmpfs tmpfs rw',
    '41 25 0:44 / /sys/fs/cgroup/fltab-h1 rw - cgroup2 cgroup2 rw',
  ].join('\n');
  const obs: localHosts.HostsObservation = {
    ...empty,
    netns: [
      { name: 'fltab-h1', inode: 11 },
      { name: 'fltabh1-pod1', inode: 12 },
      { name: 'cni-1234', inode: 13 },
    ],
    processes: [
      { pid: 10, netInode: 11, cgroups: ['/user.slice'] },
      { pid: 11, netInode: 12, cgroups: ['/'] },
      { pid: 12, netInode: 99, cgroups: ['/fltab-h1/pod1/c'] },
      { pid: 13, netInode: 13, cgroups: ['/'] },
      { pid: 14, netInode: 99, cgroups: ['/fltabx'] },
      { pid: 1000, netInode: 11, cgroups: ['/'] },
    ],
    links: ['lo', 'eth0', 'fltabbr', 'fltabv1', 'cni0'],
    iptables: {
      nat: [
        '*nat',
        ':PREROUTING ACCEPT [0:0]',
        ':fltab-SERVICES - [0:0]',
        ':OTHER - [0:0]',
        '-A PREROUTING -m comment --comment "fltab services" -j fltab-SERVICES',
        '-A fltab-SERVICES -j RETURN',
        '-A PREROUTING -j OTHER',
        'COMMIT',
      ].join('\n'),
    },
    mountinfo,
    cgroupDirs: ['/sys/fs/cgroup/fltab-h1'],
    dirs: ['/tmp/fltab'],
  };
  const plan = teardownPlan('fltab', obs, ['/tmp/fltab', '/data/hosts']);
  t.same(
    plan.kill,
    [10, 11, 12],
    'processes in its netns or cgroups; never ours, another netns or a look-alike cgroup',
  );
  t.same(
    plan.unmount,
    ['/tmp/fltab/h1/pods/x/rootfs/proc', '/tmp/fltab/h1/pods/x/rootfs', '/data/hosts/h1/shm'],
    'deepest first; netns files are left to ip netns delete, cgroupfs alone',
  );
  t.same(plan.netns, ['fltab-h1', 'fltabh1-pod1']);
  t.same(plan.links, ['fltabbr', 'fltabv1']);
  t.same(
    plan.iptables.map((c) => `${c.table} ${c.args.join(' ')}`),
    [
      'nat -D PREROUTING -m comment --comment fltab services -j fltab-SERVICES',
      'nat -F fltab-SERVICES',
      'nat -X fltab-SERVICES',
    ],
    'the jump to our chain, then our chain; nothing else',
  );
  t.same(plan.cgroupDirs, ['/sys/fs/cgroup/fltab-h1']);
  t.ok(leftoverLines(plan).length > 0);
  t.same(leftoverLines(teardownPlan('fltab', empty, [])), [], 'nothing there: nothing to do');
});

const exe: Executables = {
  node: '/usr/bin/node',
  etcd: 'etcd',
  natsServer: 'nats-server',
  registry: 'docker-registry',
  controllerMain: '/repo/controller/dist/main.js',
  agentMain: '/repo/agent/dist/main.js',
};
const ports = { etcd: 23790, etcdPeer: 23800, nats: 14222, registry: 5000, api: 7443 };

function flag(args: readonly unknown[], name: string): unknown {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

t.test('localClusterPlan without hosts: one agent in the root netns, loopback', async (t) => {
  const plan = localClusterPlan(localLayout('/d'), ports, exe);
  t.same(
    plan.map((c) => c.name),
    ['etcd', 'controller-init', 'nats-server', 'registry', 'controller', 'agent'],
  );
  t.notOk(
    plan.some((c) => c.netns),
    'nothing in a netns',
  );
  t.equal(plan.find((c) => c.name === 'controller')?.address, '127.0.0.1:7443');
});

t.test(
  'localClusterPlan with hosts: control plane on the bridge address, an agent inside each host',
  async (t) => {
    const hosts = hostsPlan('flt123456', 3, '10.220.5.0/24');
    const plan = localClusterPlan(localLayout('/d'), ports, exe, hosts);
    t.same(
      plan.map((c) => c.name),
      [
        'etcd',
        'controller-init',
        'nats-server',
        'registry',
        'controller',
        'agent-h1',
        'agent-h2',
        'agent-h3',
      ],
    );
    const controller = plan.find((c) => c.name === 'controller');
    t.equal(controller?.address, '10.220.5.1:7443');
    t.equal(
      flag(controller?.args ?? [], '--listen'),
      '10.220.5.1:7443',
      'the certificate and admin config name the bridge address',
    );
    t.equal(
      flag(controller?.args ?? [], '--nats-url'),
      'nats://10.220.5.1:14222',
      'agents are told that NATS URL',
    );
    t.equal(flag(controller?.args ?? [], '--nats-listen'), '10.220.5.1:14222');
    t.equal(plan.find((c) => c.name === 'etcd')?.address, 'http://10.220.5.1:23790');
    t.equal(plan.find((c) => c.name === 'registry')?.address, '10.220.5.1:5000');
    const seen = new Map<string, Set<unknown>>();
    for (const h of hosts.hosts) {
      const agent = plan.find((c) => c.name === hostAgentName(h));
      const args = agent?.args ?? [];
      t.equal(agent?.netns, `/run/netns/flt123456-h${h.index}`, `${h.name} runs in its netns`);
      t.equal(flag(args, '--join'), '10.220.5.1:7443');
      t.equal(flag(args, '--address'), h.address);
      t.equal(flag(args, '--agent-listen'), `${h.address}:10250`);
      t.equal(flag(args, '--node-name'), h.name);
      t.equal(flag(args, '--insecure-registry'), '10.220.5.1:5000', 'the plain-HTTP registry on the bridge');
      t.equal(flag(args, '--pod-cidr'), undefined, 'no pod CIDR asked for: the controller allocates one');
      t.match(String(flag(args, '--labels')), /(^|,)flotilla\.io\/web-facing=true(,|$)/);
      for (const name of [
        '--state-dir',
        '--runc-root',
        '--cgroup-parent',
        '--bridge-name',
        '--netns-prefix',
      ]) {
        const value = flag(args, name);
        const values = seen.get(name) ?? new Set();
        t.notOk(values.has(value), `${name} ${String(value)} is the host's own`);
        values.add(value);
        seen.set(name, values);
      }
    }
  },
);
