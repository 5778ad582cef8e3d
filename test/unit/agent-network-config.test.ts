import t from 'tap';
import { Pod } from '@flotilla/proto';
import {
  cniConfigList,
  cniVersion,
  loopbackStdin,
  parseCniError,
  planPodNetwork,
  pluginStdin,
  podAddressFromResult,
  podConfigList,
  podNetworkNames,
  portMappings,
  type NodeNetworkOptions,
} from '@flotilla/agent';

const node: NodeNetworkOptions = {
  networkName: 'flt-test',
  bridgeName: 'flttest0',
  podCidr: '10.77.3.0/24',
  ipamDataDir: '/var/lib/flotilla/test/cni',
  netnsPrefix: 'flttest',
};

function pod(ports: Array<Record<string, unknown>>[], uid = '1b4e28ba-2fa1-11d2-883f-0016d3cca427'): Pod {
  return Pod.fromJSON({
    metadata: { name: 'web', namespace: 'default', uid },
    spec: { containers: ports.map((p, i) => ({ name: `c${i}`, image: 'busybox', ports: p })) },
  });
}

t.test('cniConfigList: bridge with host-local on the pod CIDR, then portmap', async (t) => {
  const list = cniConfigList(node);
  t.equal(list.cniVersion, '1.0.0');
  t.equal(list.name, 'flt-test');
  t.same(
    list.plugins.map((p) => p.type),
    ['bridge', 'portmap'],
  );
  t.same(list.plugins[0], {
    type: 'bridge',
    bridge: 'flttest0',
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.77.3.0/24' }]],
      routes: [{ dst: '0.0.0.0/0' }],
      dataDir: '/var/lib/flotilla/test/cni',
    },
  });
  t.same(list.plugins[1], { type: 'portmap', capabilities: { portMappings: true }, snat: true });
  t.equal(cniConfigList({ ...node, ipMasq: true }).plugins[0]?.ipMasq, true, 'ipMasq only when asked');
});

t.test('podConfigList: portmap only for a pod with host ports', async (t) => {
  const list = cniConfigList(node);
  const types = (l: typeof list) => l.plugins.map((p) => p.type);
  t.same(types(podConfigList(list, {})), ['bridge'], 'no runtime config');
  t.same(types(podConfigList(list, { portMappings: [] })), ['bridge'], 'no mappings');
  const mapped = podConfigList(list, {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  });
  t.same(types(mapped), ['bridge', 'portmap']);
  t.equal(
    podConfigList(list, {}).name,
    list.name,
    'the same network name (host-local keys its leases by it)',
  );
  t.same(types(list), ['bridge', 'portmap'], 'the node list is left as it was');
});

t.test('cniConfigList refuses bad node options, naming the field', async (t) => {
  const cases: Array<[Partial<NodeNetworkOptions>, string, RegExp]> = [
    [{ bridgeName: 'a-bridge-name-too-long' }, 'bridgeName', /1-15/],
    [{ bridgeName: 'br 0' }, 'bridgeName', /interface name/],
    [{ podCidr: '10.77.3.0' }, 'podCidr', /IPv4 CIDR/],
    [{ podCidr: '10.300.3.0/24' }, 'podCidr', /above 255/],
    [{ podCidr: '10.77.3.0/31' }, 'podCidr', /\/30 or larger/],
    [{ ipamDataDir: 'relative/dir' }, 'ipamDataDir', /absolute/],
    [{ networkName: 'bad name' }, 'networkName', /letters/],
  ];
  for (const [override, field, reason] of cases) {
    t.throws(
      () => cniConfigList({ ...node, ...override }),
      { code: 'InvalidArgument', context: { field }, message: reason },
      JSON.stringify(override),
    );
  }
});

t.test(
  'portMappings: container ports with a hostPort, lower-case protocol, hostIP only when given',
  async (t) => {
    const p = pod([
      [
        { containerPort: 8080, hostPort: 18080 },
        { containerPort: 9090 },
        { containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '127.0.0.1' },
      ],
      [{ containerPort: 80, hostPort: 18081, protocol: 'TCP', hostIP: '0.0.0.0' }],
    ]);
    t.same(portMappings(p), [
      { hostPort: 18080, containerPort: 8080, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
      { hostPort: 18081, containerPort: 80, protocol: 'tcp' },
    ]);
    t.same(portMappings(pod([[{ containerPort: 80 }]])), [], 'no hostPort, no mapping');
  },
);

t.test('portMappings refuses invalid and clashing host ports', async (t) => {
  const cases: Array<[Array<Record<string, unknown>>[], string, RegExp]> = [
    [[[{ containerPort: 80, hostPort: 70000 }]], 'spec.containers[0].ports[0].hostPort', /1-65535/],
    [[[{ containerPort: 0, hostPort: 8080 }]], 'spec.containers[0].ports[0].containerPort', /1-65535/],
    [
      [[{ containerPort: 80, hostPort: 8080, protocol: 'ICMP' }]],
      'spec.containers[0].ports[0].protocol',
      /TCP, UDP or SCTP/,
    ],
    [
      [[{ containerPort: 80, hostPort: 8080 }], [{ containerPort: 81, hostPort: 8080 }]],
      'spec.containers[1].ports[0].hostPort',
      /already mapped by spec.containers\[0\].ports\[0\]/,
    ],
    [
      [
        [
          { containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' },
          { containerPort: 81, hostPort: 8080 },
        ],
      ],
      'spec.containers[0].ports[1].hostPort',
      /already mapped/,
    ],
  ];
  for (const [ports, field, reason] of cases) {
    t.throws(
      () => portMappings(pod(ports)),
      { code: 'InvalidArgument', context: { field, object: 'pod/default/web' }, message: reason },
      field,
    );
  }
  // Different protocols, or two distinct specific addresses, share a port number fine.
  t.equal(
    portMappings(
      pod([
        [
          { containerPort: 80, hostPort: 8080 },
          { containerPort: 80, hostPort: 8080, protocol: 'UDP' },
        ],
        [
          { containerPort: 81, hostPort: 9090, hostIP: '127.0.0.1' },
          { containerPort: 82, hostPort: 9090, hostIP: '127.0.0.2' },
        ],
      ]),
    ).length,
    4,
  );
});

t.test('podNetworkNames: prefix and the UID, stable per pod', async (t) => {
  t.same(podNetworkNames(pod([]), node), {
    netnsName: 'flttest-1b4e28ba2fa1',
    netnsPath: '/run/netns/flttest-1b4e28ba2fa1',
    containerId: 'flttest-1b4e28ba2fa1',
  });
  t.throws(() => podNetworkNames(pod([], 'abc'), node), /too short/);
  t.throws(() => podNetworkNames(pod([]), { netnsPrefix: '../x' }), /netns prefix/);
});

t.test(
  'pluginStdin: list version and name, runtimeConfig only by capability, prevResult chained',
  async (t) => {
    const list = cniConfigList(node);
    const rc = { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' as const }] };
    const bridge = pluginStdin(list, 0, rc, undefined);
    t.equal(bridge.cniVersion, cniVersion);
    t.equal(bridge.name, 'flt-test');
    t.notOk('runtimeConfig' in bridge, 'bridge declares no capability');
    t.notOk('prevResult' in bridge);
    const prev = { cniVersion, ips: [] };
    const portmap = pluginStdin(list, 1, rc, prev);
    t.same(portmap.runtimeConfig, rc);
    t.same(portmap.prevResult, prev);
    t.notOk('capabilities' in portmap, 'capabilities are for the runtime, not the plugin');
    t.notOk('runtimeConfig' in pluginStdin(list, 1, {}, prev), 'no mappings, no runtimeConfig');
    t.throws(() => pluginStdin(list, 2, rc, prev), /no plugin 2/);
    t.same(loopbackStdin('flt-test'), { cniVersion, name: 'flt-test-lo', type: 'loopback' });
  },
);

t.test('planPodNetwork puts it together', async (t) => {
  const plan = planPodNetwork(pod([[{ containerPort: 8080, hostPort: 18080 }]]), node);
  t.equal(plan.object, 'pod/default/web');
  t.equal(plan.cniBinDir, '/usr/lib/cni');
  t.same(plan.runtimeConfig, { portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }] });
  t.same(planPodNetwork(pod([]), node).runtimeConfig, {});
});

t.test('podAddressFromResult takes the sandbox interface address', async (t) => {
  const result = {
    cniVersion,
    interfaces: [
      { name: 'flttest0', mac: 'aa' },
      { name: 'veth1', mac: 'bb' },
      { name: 'eth0', mac: 'cc', sandbox: '/run/netns/flttest-1' },
    ],
    ips: [
      { interface: 0, address: '10.77.3.1/24' },
      { interface: 2, address: 'fd00::2/64' },
      { interface: 2, address: '10.77.3.2/24', gateway: '10.77.3.1' },
    ],
  };
  t.same(podAddressFromResult(result), {
    ip: '10.77.3.2',
    cidr: '10.77.3.2/24',
    gateway: '10.77.3.1',
    interfaceName: 'eth0',
  });
  t.throws(
    () =>
      podAddressFromResult({
        ips: [{ interface: 0, address: '10.77.3.1/24' }],
        interfaces: [{ name: 'br' }],
      }),
    /no IPv4 address inside the pod/,
  );
  t.throws(() => podAddressFromResult('nope'), /no ips list/);
});

t.test('parseCniError reads the error result', async (t) => {
  t.same(parseCniError('{"cniVersion":"1.0.0","code":7,"msg":"bad","details":"why"}'), {
    code: 7,
    msg: 'bad',
    details: 'why',
  });
  t.same(parseCniError('{"code":11,"msg":"again"}'), { code: 11, msg: 'again' });
  t.equal(parseCniError('not json'), undefined);
  t.equal(parseCniError('{"ips":[]}'), undefined);
});
