// flotilla-agent reset's pure plan: from an agent's leftovers to the ordered steps that
// remove them, and nothing of anyone else's (other pods' cgroups under a shared parent,
// another network's portmap rules, portmap's shared chains).
import t from 'tap';
import { splitIptablesRule } from '@flotilla/common';
import {
  describeStep,
  parseIptablesSave,
  planNatCleanup,
  planReset,
  type ResetInventory,
  type ResetNames,
} from '@flotilla/agent';

const names: ResetNames = {
  stateDir: '/var/lib/a',
  podsDir: '/var/lib/a/pods',
  cgroupParent: '/flotilla',
  bridgeName: 'fltabc',
  networkName: 'flotilla-fltabc',
  netnsPrefix: 'fltabc',
  podCidr: '10.88.0.0/24',
  leasesDir: '/var/lib/a/cni/flotilla-fltabc',
};

const uid = '0b9a6a52-8e2f-4d0e-9a43-4f1c2b3d4e5f';
const token = '0b9a6a528e2f4d0e';
const other = '99999999-8e2f-4d0e-9a43-4f1c2b3d4e5f';

const nat = [
  '*nat',
  ':PREROUTING ACCEPT [0:0]',
  ':POSTROUTING ACCEPT [0:0]',
  ':CNI-HOSTPORT-DNAT - [0:0]',
  ':CNI-HOSTPORT-SETMARK - [0:0]',
  ':CNI-HOSTPORT-MASQ - [0:0]',
  ':CNI-DN-aaaa - [0:0]',
  ':CNI-DN-bbbb - [0:0]',
  '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
  '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
  '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"flotilla-fltabc\\" id: \\"fltabc-0b9a6a528e2f\\"" -m multiport --dports 18080 -j CNI-DN-aaaa',
  '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"podman\\" id: \\"abc\\"" -m multiport --dports 9000 -j CNI-DN-bbbb',
  '-A CNI-DN-aaaa -s 10.88.0.0/24 -p tcp -m tcp --dport 18080 -j CNI-HOSTPORT-SETMARK',
  '-A CNI-DN-aaaa -p tcp -m tcp --dport 18080 -j DNAT --to-destination 10.88.0.2:8080',
  '-A CNI-DN-bbbb -p tcp -m tcp --dport 9000 -j DNAT --to-destination 10.89.0.2:80',
  '-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
  'COMMIT',
].join('\n');

t.test('iptables-save lines split like the shell would', async (t) => {
  t.same(splitIptablesRule('-A X -m comment --comment "dnat name: \\"n\\" id: \\"i\\"" -j Y'), [
    '-A',
    'X',
    '-m',
    'comment',
    '--comment',
    'dnat name: "n" id: "i"',
    '-j',
    'Y',
  ]);
  const parsed = parseIptablesSave(nat);
  t.ok(parsed.chains.includes('CNI-DN-aaaa'));
  t.equal(parsed.rules.length, 8);
});

t.test("only this network's portmap rules and chains go; shared chains stay", async (t) => {
  const steps = planNatCleanup(nat, names);
  t.same(
    steps.map((s) =>
      s.type === 'delete-chain' ? `X ${s.chain}` : s.type === 'delete-rule' ? `D ${s.chain}` : '',
    ),
    ['D CNI-HOSTPORT-DNAT', 'X CNI-DN-aaaa'],
  );
  t.match(steps[0], {
    type: 'delete-rule',
    args: [
      '-p',
      'tcp',
      '-m',
      'comment',
      '--comment',
      'dnat name: "flotilla-fltabc" id: "fltabc-0b9a6a528e2f"',
    ],
  });
  t.same(planNatCleanup('', names), [], 'no iptables: nothing');
});

const inventory: ResetInventory = {
  runcIds: [`${token}-web-1`],
  runnerIds: [{ id: `${token}-web-1`, conmonPid: 4242 }, { id: `${token}-web-0` }],
  records: [{ uid, runIds: [`${token}-web-1`] }],
  podDirs: [token],
  networks: ['fltabc-0b9a6a528e2f'],
  mounts: [`/var/lib/a/pods/${token}/runs/${token}-web-1/rootfs`, `/var/lib/a/pods/${token}/volumes/tmp`],
  podCgroups: [
    { path: `/sys/fs/cgroup/memory/flotilla/${uid}`, pod: uid },
    { path: `/sys/fs/cgroup/memory/flotilla/${uid}/web`, pod: uid },
    { path: `/sys/fs/cgroup/memory/flotilla/${other}`, pod: other },
  ],
  bridge: true,
  natRules: nat,
};

t.test(
  'the whole plan: containers, conmon, networks, mounts, dirs, cgroups, rules, bridge, leases',
  async (t) => {
    const steps = planReset(inventory, names);
    t.same(
      steps.map((s) => s.type),
      [
        'kill-container',
        'kill-conmon',
        'delete-container',
        'delete-container',
        'delete-network',
        'unmount',
        'unmount',
        'remove-pod-dir',
        'kill-cgroup-procs',
        'kill-cgroup-procs',
        'remove-cgroup',
        'remove-cgroup',
        'delete-rule',
        'delete-chain',
        'delete-bridge',
        'remove-leases',
      ],
    );
    t.match(steps[1], { type: 'kill-conmon', pid: 4242, id: `${token}-web-1` });
    t.match(steps[5], { type: 'unmount', path: /rootfs$/ }, 'the deeper mount first');
    const cgroups = steps.filter((s) => s.type === 'remove-cgroup').map((s) => (s as { path: string }).path);
    t.same(cgroups, [`/sys/fs/cgroup/memory/flotilla/${uid}/web`, `/sys/fs/cgroup/memory/flotilla/${uid}`]);
    t.notOk(
      cgroups.some((c) => c.includes(other)),
      "another agent's pod under the shared parent is left alone",
    );
    for (const s of steps) t.type(describeStep(s), 'string');
  },
);

t.test(
  'a cgroup known only from a network ID (records gone) still goes; an empty host plans little',
  async (t) => {
    const onlyNet = planReset(
      {
        ...inventory,
        runcIds: [],
        runnerIds: [],
        records: [],
        podDirs: [],
        mounts: [],
        networks: ['fltabc-0b9a6a528e2f'],
        natRules: '',
        bridge: false,
      },
      names,
    );
    t.same(
      onlyNet.map((s) => s.type),
      [
        'delete-network',
        'kill-cgroup-procs',
        'kill-cgroup-procs',
        'remove-cgroup',
        'remove-cgroup',
        'remove-leases',
      ],
    );
    const empty = planReset(
      {
        runcIds: [],
        runnerIds: [],
        records: [],
        podDirs: [],
        networks: [],
        mounts: [],
        podCgroups: [{ path: `/sys/fs/cgroup/memory/flotilla/${other}`, pod: other }],
        bridge: false,
        natRules: nat
          .split('\n')
          .filter((l) => !/fltabc|aaaa/.test(l))
          .join('\n'),
      },
      names,
    );
    t.same(
      empty,
      [{ type: 'remove-leases', path: names.leasesDir }],
      'nothing of ours: only the (absent) leases',
    );
  },
);
