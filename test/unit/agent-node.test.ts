import t from 'tap';
import {
  type HostFacts,
  type NodeSettings,
  buildNode,
  cpuMillicores,
  labelValueFromHostname,
  nodeNameFromHostname,
  parseMeminfo,
  parseOsRelease,
  parseProcStat,
  parseRuncVersion,
  validateLabelValue,
} from '@flotilla/agent';
import { validateDnsSubdomain } from '@flotilla/common';

const gib = 1024 ** 3;

function hostFacts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    hostname: 'Box',
    cpuCount: 4,
    memoryTotalBytes: 8 * gib + 100,
    kernelVersion: '6.1.0-13-amd64',
    osImage: 'Debian GNU/Linux 12 (bookworm)',
    operatingSystem: 'linux',
    architecture: 'amd64',
    machineID: 'machine-1',
    bootID: 'boot-1',
    runcVersion: '1.1.5',
    ipv4Addresses: ['10.1.2.3', '10.9.9.9'],
    agentVersion: '0.1.0',
    ...overrides,
  };
}

function settings(overrides: Partial<NodeSettings> = {}): NodeSettings {
  return { nodeName: 'box', labels: {}, ...overrides };
}

t.test('nodeNameFromHostname turns the host name into a valid node name', async (t) => {
  const cases: Array<[string, string]> = [
    ['worker-1', 'worker-1'],
    ['My_Host.LAN', 'my-host.lan'],
    ['-weird-.-.host-', 'weird.host'],
    ['nöde', 'n-de'],
    ['___', 'node'],
    ['', 'node'],
  ];
  for (const [hostname, name] of cases) {
    t.equal(nodeNameFromHostname(hostname), name, JSON.stringify(hostname));
    t.equal(validateDnsSubdomain(name), undefined, `${name} is a DNS-1123 subdomain`);
  }
  const long = nodeNameFromHostname(`${'a'.repeat(252)}.b`);
  t.equal(long, 'a'.repeat(252), 'cut to 253 characters without a trailing dot');
});

t.test('labelValueFromHostname gives a valid label value of at most 63 characters', async (t) => {
  const cases: Array<[string, string]> = [
    ['Box', 'box'],
    [`${'a'.repeat(70)}.b`, 'a'.repeat(63)],
    [`${'a'.repeat(62)}.bc`, 'a'.repeat(62)],
    ['___', 'unknown'],
  ];
  for (const [hostname, value] of cases) {
    t.equal(labelValueFromHostname(hostname), value, JSON.stringify(hostname));
    t.equal(validateLabelValue(value), undefined, `${value} is a label value`);
  }
});

t.test('buildNode reports capacity in whole KiB, all of it allocatable', async (t) => {
  const node = buildNode(hostFacts(), settings());
  t.strictSame(node.status?.capacity, { cpu: '4', memory: '8388608Ki', pods: '110' });
  t.strictSame(node.status?.allocatable, node.status?.capacity);
  t.not(node.status?.allocatable, node.status?.capacity, 'separate objects');
  t.equal(node.metadata?.name, 'box');
  t.equal(node.kind, 'Node');
});

t.test('buildNode addresses: the InternalIP first, then the host name', async (t) => {
  const cases: Array<[string, HostFacts, NodeSettings, string]> = [
    ['the first IPv4 address by default', hostFacts(), settings(), '10.1.2.3'],
    ['127.0.0.1 without one', hostFacts({ ipv4Addresses: [] }), settings(), '127.0.0.1'],
    ['--address wins', hostFacts(), settings({ address: '192.168.1.1' }), '192.168.1.1'],
  ];
  for (const [name, facts, nodeSettings, internalIp] of cases) {
    t.strictSame(
      buildNode(facts, nodeSettings).status?.addresses,
      [
        { type: 'InternalIP', address: internalIp },
        { type: 'Hostname', address: 'Box' },
      ],
      name,
    );
  }
});

t.test('buildNode labels: flotilla.io defaults, overridden by the operator', async (t) => {
  t.strictSame(buildNode(hostFacts(), settings()).metadata?.labels, {
    'flotilla.io/hostname': 'box',
    'flotilla.io/os': 'linux',
    'flotilla.io/arch': 'amd64',
  });
  const labels = { zone: 'a', 'flotilla.io/os': 'custom' };
  t.strictSame(buildNode(hostFacts(), settings({ labels })).metadata?.labels, {
    'flotilla.io/hostname': 'box',
    'flotilla.io/os': 'custom',
    'flotilla.io/arch': 'amd64',
    zone: 'a',
  });
});

t.test('buildNode names the container runtime as runc://<version>, or not at all', async (t) => {
  t.equal(buildNode(hostFacts(), settings()).status?.nodeInfo?.containerRuntimeVersion, 'runc://1.1.5');
  const { runcVersion: _, ...withoutRunc } = hostFacts();
  t.equal(buildNode(withoutRunc, settings()).status?.nodeInfo?.containerRuntimeVersion, '');
});

t.test('parseMeminfo reads MemTotal and MemAvailable in bytes', async (t) => {
  const cases: Array<[string, string, { totalBytes: number; availableBytes: number }]> = [
    [
      'MemAvailable when present',
      'MemTotal:       100 kB\nMemFree: 10 kB\nMemAvailable:   40 kB\n',
      { totalBytes: 102400, availableBytes: 40960 },
    ],
    [
      'MemFree without MemAvailable',
      'MemTotal: 100 kB\nMemFree: 10 kB\n',
      { totalBytes: 102400, availableBytes: 10240 },
    ],
    ['zero for nothing readable', 'garbage\n', { totalBytes: 0, availableBytes: 0 }],
  ];
  for (const [name, text, info] of cases) t.strictSame(parseMeminfo(text), info, name);
});

t.test('parseOsRelease prefers PRETTY_NAME, then NAME, then "Linux"', async (t) => {
  const cases: Array<[string, string]> = [
    ['NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', 'Debian GNU/Linux 12 (bookworm)'],
    ["NAME='Alpine Linux'\nID=alpine\n", 'Alpine Linux'],
    ['ID=unknown\n', 'Linux'],
  ];
  for (const [text, image] of cases) t.equal(parseOsRelease(text), image, JSON.stringify(text));
});

t.test('parseRuncVersion takes the version from "runc --version"', async (t) => {
  t.equal(parseRuncVersion('runc version 1.1.5+ds1\ncommit: x\nspec: 1.0.2\n'), '1.1.5+ds1');
  t.equal(parseRuncVersion('bash: runc: command not found\n'), undefined);
});

t.test('CPU use is busy ticks over total ticks between two /proc/stat samples', async (t) => {
  const before = parseProcStat('cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 1 1 1\n');
  const after = parseProcStat('cpu  200 0 200 1400 0 0 0 0 0 0\n');
  t.strictSame(before, { busy: 200, total: 1000 });
  t.strictSame(after, { busy: 400, total: 1800 });
  if (!before || !after) return;
  t.equal(cpuMillicores(before, after, 4), 1000, 'a quarter of 4 CPUs');
  t.equal(cpuMillicores(before, before, 4), 0, 'no ticks elapsed');
  t.strictSame(parseProcStat('cpu  10 0 0 5 5 0 0 0 0 0\n'), { busy: 10, total: 20 }, 'iowait is not busy');
  t.equal(parseProcStat('cpu0 1 1 1 1\n'), undefined, 'no aggregate line');
});
