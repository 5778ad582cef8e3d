// Pod networking with the real CNI plugins, as root: two pods on one bridge with
// host-local IPAM reach each other; a hostPort answers on 127.0.0.1 and on the bridge
// gateway; deletion leaves no netns, veth, iptables rule or IP lease behind; a failing
// plugin is reported with its code and message and its ADD is undone. Every name carries
// this run's prefix, and teardown removes them even after a failure.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { silentLogger } from '@flotilla/common';
import {
  createPodNetwork,
  deleteNodeBridge,
  deletePodNetwork,
  deletePodNetworkById,
  listPodNetworks,
  podNetworkResultsDir,
  readPodNetwork,
  type NodeNetworkOptions,
  type PodNetwork,
} from '@flotilla/agent';
import { Pod } from '@flotilla/proto';
import { freePort, makeRunDir, runCommand, spawnManaged, waitFor } from './../lib/index.js';

const cniBin = '/usr/lib/cni';
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync(join(cniBin, 'bridge'))
      ? 'needs containernetworking-plugins'
      : false;

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipv4ToInt(base) / size) * size;
  const n = ipv4ToInt(ip);
  return n >= start && n < start + size;
}

/** A random 10.x.y.0/24 that no route on the host overlaps. */
async function unusedPodCidr(): Promise<string> {
  const routes = (await runCommand('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout
    .split('\n')
    .map((line) => line.split(' ').find((w) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(w)))
    .filter((w): w is string => w !== undefined)
    .map((w) => (w.includes('/') ? w : `${w}/32`));
  for (;;) {
    const [a = 0, b = 0] = randomBytes(2);
    const cidr = `10.${a}.${b}.0/24`;
    const overlaps = routes.some((r) => {
      const [rbase = '', rbits = '32'] = r.split('/');
      return Number(rbits) <= 24 ? inCidr(`10.${a}.${b}.0`, r) : inCidr(rbase, cidr);
    });
    if (!overlaps) return cidr;
  }
}

function podWith(name: string, ports: Array<Record<string, unknown>>): Pod {
  return Pod.fromJSON({
    metadata: { name, namespace: 'default', uid: randomUUID() },
    spec: { containers: [{ name: 'main', image: 'busybox', ports }] },
  });
}

/** Connects, reads until the peer closes, returns what it sent. */
function fetchBanner(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    socket.setTimeout(3_000, () => socket.destroy(new Error(`timeout talking to ${host}:${port}`)));
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.once('error', reject);
    socket.once('close', () => resolve(data));
  });
}

async function natRules(): Promise<string> {
  return (await runCommand('iptables-save', ['-t', 'nat'])).stdout;
}

/** The IP leases host-local holds for the network (its lock and cursor files are not leases). */
function leases(dataDir: string, network: string): string[] {
  const dir = join(dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
}

t.test('pod networks on one bridge, host ports, clean deletion', { skip }, async (t) => {
  const prefix = `flt${randomBytes(3).toString('hex')}`;
  const dir = makeRunDir('network');
  const node: NodeNetworkOptions = {
    networkName: `${prefix}-net`,
    bridgeName: `${prefix}br`,
    podCidr: await unusedPodCidr(),
    ipamDataDir: join(dir, 'ipam'),
    netnsPrefix: prefix,
    cniBinDir: cniBin,
  };
  const deps = { logger: silentLogger };
  const hostPort = await freePort();
  const podA = podWith('a', [{ containerPort: 8080, hostPort }]);
  const podB = podWith('b', []);

  t.teardown(async () => {
    // Idempotent deletes first (they remove portmap's chains and the leases), then
    // anything else with the prefix, then the bridge.
    for (const pod of [podA, podB]) await deletePodNetwork(pod, node, deps).catch(() => undefined);
    for (const id of listPodNetworks(node)) await deletePodNetworkById(id, node, deps).catch(() => undefined);
    const list = (await runCommand('ip', ['netns', 'list'])).stdout;
    for (const line of list.split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (name.startsWith(`${prefix}-`)) await runCommand('ip', ['netns', 'delete', name]);
    }
    await deleteNodeBridge(node).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const a: PodNetwork = await createPodNetwork(podA, node, deps);
  const b: PodNetwork = await createPodNetwork(podB, node, deps);
  const gateway = a.gateway ?? '';

  t.test('each netns has eth0 with an address in the pod CIDR, and lo up', async (t) => {
    t.not(a.ip, b.ip, 'distinct addresses');
    for (const net of [a, b]) {
      t.ok(inCidr(net.ip, node.podCidr), `${net.ip} in ${node.podCidr}`);
      t.ok(existsSync(net.netnsPath), `${net.netnsPath} exists`);
      t.ok(net.netnsName.startsWith(`${prefix}-`), 'netns carries the prefix');
      const eth0 = await runCommand('ip', ['-n', net.netnsName, '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      t.match(eth0.stdout, `inet ${net.cidr}`, 'eth0 holds the address CNI returned');
      const lo = await runCommand('ip', ['-n', net.netnsName, 'link', 'show', 'lo']);
      t.match(lo.stdout, /<LOOPBACK,UP,LOWER_UP>/, 'lo is up');
    }
    t.ok(inCidr(gateway, node.podCidr), 'the gateway is in the pod CIDR');
    const bridgeAddr = await runCommand('ip', ['-4', '-o', 'addr', 'show', 'dev', node.bridgeName]);
    t.match(bridgeAddr.stdout, `inet ${gateway}/`, 'the bridge holds the gateway');
    t.equal(
      leases(node.ipamDataDir, node.networkName).length,
      2,
      'host-local holds two leases in its own dir',
    );
  });

  t.test('one pod reaches the other across the bridge', async (t) => {
    const ping = await runCommand('nsenter', [
      `--net=${b.netnsPath}`,
      'busybox',
      'ping',
      '-c',
      '1',
      '-W',
      '3',
      a.ip,
    ]);
    t.equal(ping.code, 0, `ping ${a.ip} from b: ${ping.stdout}${ping.stderr}`);
    // And an address nobody holds does not answer: the check above can fail.
    const unused = `${node.podCidr.split('.').slice(0, 3).join('.')}.250`;
    const none = await runCommand('nsenter', [
      `--net=${b.netnsPath}`,
      'busybox',
      'ping',
      '-c',
      '1',
      '-W',
      '1',
      unused,
    ]);
    t.not(none.code, 0, `ping ${unused} fails`);
  });

  t.test('the host port answers on 127.0.0.1 and on the gateway address', async (t) => {
    const server = spawnManaged({
      name: 'pod-a-server',
      command: 'nsenter',
      args: [
        `--net=${a.netnsPath}`,
        process.execPath,
        '-e',
        "require('net').createServer((s) => s.end('hello from pod a\\n')).listen(8080, '0.0.0.0')",
      ],
      logPath: join(dir, 'server.log'),
    });
    t.teardown(() => server.stop(2_000));
    // The pod's own address first: that is the server being ready, not the mapping.
    await waitFor('the server in pod a', async () => (await fetchBanner(a.ip, 8080)).includes('hello'));
    t.equal(await fetchBanner('127.0.0.1', hostPort), 'hello from pod a\n', `127.0.0.1:${hostPort}`);
    t.equal(await fetchBanner(gateway, hostPort), 'hello from pod a\n', `${gateway}:${hostPort}`);
    t.same(a.portMappings, [{ hostPort, containerPort: 8080, protocol: 'tcp' }]);
    // What makes 127.0.0.1 work (see cniConfigList): portmap's snat sets route_localnet.
    const localnet = readFileSync(`/proc/sys/net/ipv4/conf/${node.bridgeName}/route_localnet`, 'utf8');
    t.equal(localnet.trim(), '1', 'route_localnet is on for the bridge');
  });

  t.test('a restarted agent finds its pod networks: listed, and readable from their records', async (t) => {
    t.same(listPodNetworks(node), [a.containerId, b.containerId].sort());
    const readA = await readPodNetwork(podA, node);
    t.equal(readA?.ip, a.ip, 'same address as created');
    t.same(readA?.portMappings, a.portMappings, 'host ports recorded');
    t.equal(await readPodNetwork(podWith('never', []), node), undefined, 'no record, no network');
  });

  t.test('creating a pod network again replaces a leftover netns instead of adding on top', async (t) => {
    const again = await createPodNetwork(podA, node, deps);
    t.equal(again.netnsName, a.netnsName, 'same names: they come from the pod UID');
    t.ok(inCidr(again.ip, node.podCidr));
    t.equal(leases(node.ipamDataDir, node.networkName).length, 2, 'still one lease per pod');
    const veths = (await runCommand('ip', ['-o', 'link', 'show', 'master', node.bridgeName])).stdout;
    t.equal(veths.trim().split('\n').length, 2, 'still one veth per pod');
  });

  t.test('deletion removes netns, veths, iptables rules and leases; twice is fine', async (t) => {
    const before = await natRules();
    t.match(before, a.containerId, "portmap's rules name pod a before deletion");
    const vethsBefore = (await runCommand('ip', ['-o', 'link', 'show', 'master', node.bridgeName])).stdout;
    t.equal(vethsBefore.trim().split('\n').length, 2, 'two veths on the bridge');

    await deletePodNetwork(podA, node, deps);
    await deletePodNetwork(podB, node, deps);
    await deletePodNetwork(podA, node, deps); // again: already gone is done

    for (const net of [a, b]) t.notOk(existsSync(net.netnsPath), `${net.netnsName} is gone`);
    const vethsAfter = (await runCommand('ip', ['-o', 'link', 'show', 'master', node.bridgeName])).stdout;
    t.equal(vethsAfter.trim(), '', 'no veth left on the bridge');
    const after = await natRules();
    t.notMatch(after, a.containerId, 'no rule names pod a');
    t.notMatch(after, b.containerId, 'no rule names pod b');
    // portmap's per-container chain is CNI-DN-<hash>, jumped to by a rule whose comment
    // names the container ID.
    const dnChains = before
      .split('\n')
      .filter((line) => line.includes(a.containerId))
      .map((line) => /-j (CNI-DN-\S+)/.exec(line)?.[1])
      .filter((c): c is string => c !== undefined);
    t.ok(dnChains.length >= 1, `pod a had a DNAT chain (${dnChains.join(', ')})`);
    for (const chain of dnChains) t.notMatch(after, chain, `${chain} is gone`);
    t.same(leases(node.ipamDataDir, node.networkName), [], 'no lease left');
  });

  t.test('an orphan known only by its ID is deleted with its recorded host ports', async (t) => {
    const podD = podWith('d', [{ containerPort: 80, hostPort: await freePort() }]);
    t.teardown(() => deletePodNetwork(podD, node, deps).catch(() => undefined));
    const d = await createPodNetwork(podD, node, deps);
    const dnChain = /-j (CNI-DN-\S+)/.exec(
      (await natRules()).split('\n').find((l) => l.includes(d.containerId)) ?? '',
    )?.[1];
    t.ok(dnChain, 'pod d has a DNAT chain');
    t.same(listPodNetworks(node), [d.containerId]);
    // Without the record, portmap's DEL would get no mappings and leave the chain.
    await deletePodNetworkById(d.containerId, node, deps);
    const after = await natRules();
    t.notMatch(after, d.containerId, 'no rule names pod d');
    if (dnChain) t.notMatch(after, dnChain, `${dnChain} is gone`);
    t.notOk(existsSync(d.netnsPath), 'netns gone');
    t.same(listPodNetworks(node), [], 'nothing listed');
    t.same(readdirSync(podNetworkResultsDir(node)), [], 'no record left');
    t.same(leases(node.ipamDataDir, node.networkName), [], 'no lease left');
    await deletePodNetworkById(d.containerId, node, deps); // again: fine
    await t.rejects(deletePodNetworkById('someone-else-1234', node, deps), {
      code: 'InvalidArgument',
      message: /not a pod network of this node/,
    });
  });

  t.test('a failing plugin is a FlotillaError with its code and message, and ADD is undone', async (t) => {
    // A CNI bin dir with the real bridge and host-local, and a portmap that fails.
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const p of ['bridge', 'host-local', 'loopback']) symlinkSync(join(cniBin, p), join(bin, p));
    const fake = join(bin, 'portmap');
    writeFileSync(
      fake,
      '#!/bin/sh\n[ "$CNI_COMMAND" = DEL ] && exit 0\necho \'{"cniVersion":"1.0.0","code":7,"msg":"port mapping refused","details":"by the test"}\'\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const podC = podWith('c', [{ containerPort: 80, hostPort: await freePort() }]);
    const broken = { ...node, cniBinDir: bin };
    t.teardown(() => deletePodNetwork(podC, broken, deps).catch(() => undefined));
    await t.rejects(createPodNetwork(podC, broken, deps), {
      code: 'InvalidArgument',
      message: /CNI plugin portmap ADD failed with code 7: port mapping refused \(by the test\)/,
      context: {
        object: 'pod/default/c',
        field: 'cni.portmap',
        value: { code: 7, msg: 'port mapping refused' },
      },
    });
    t.same(
      readdirSync('/run/netns').filter((n) => n.startsWith(`${prefix}-`)),
      [],
      'no netns left',
    );
    t.same(leases(node.ipamDataDir, node.networkName), [], 'the lease bridge took is released');
    const veths = (await runCommand('ip', ['-o', 'link', 'show', 'master', node.bridgeName])).stdout;
    t.equal(veths.trim(), '', 'no veth left');
  });

  t.test('a failing loopback fails the ADD, which is undone once the chain is done', async (t) => {
    const bin = join(dir, 'bin-lo');
    mkdirSync(bin, { recursive: true });
    for (const p of ['bridge', 'host-local', 'portmap']) symlinkSync(join(cniBin, p), join(bin, p));
    const fake = join(bin, 'loopback');
    writeFileSync(
      fake,
      '#!/bin/sh\n[ "$CNI_COMMAND" = DEL ] && exit 0\necho \'{"cniVersion":"1.0.0","code":11,"msg":"lo refused","details":"by the test"}\'\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const podE = podWith('e', []);
    const broken = { ...node, cniBinDir: bin };
    t.teardown(() => deletePodNetwork(podE, broken, deps).catch(() => undefined));
    await t.rejects(createPodNetwork(podE, broken, deps), {
      code: 'Unavailable',
      message: /CNI plugin loopback ADD failed with code 11: lo refused \(by the test\)/,
    });
    t.same(
      readdirSync('/run/netns').filter((n) => n.startsWith(`${prefix}-`)),
      [],
      'no netns left',
    );
    t.same(leases(node.ipamDataDir, node.networkName), [], 'the lease bridge took is released');
    const veths = (await runCommand('ip', ['-o', 'link', 'show', 'master', node.bridgeName])).stdout;
    t.equal(veths.trim(), '', 'no veth left');
  });

  t.test('the bridge is removed', async (t) => {
    t.ok(existsSync(`/sys/class/net/${node.bridgeName}`), 'the bridge plugin made it');
    await deleteNodeBridge(node);
    t.notOk(existsSync(`/sys/class/net/${node.bridgeName}`), 'and it is gone');
    await deleteNodeBridge(node); // gone already is fine
    t.notOk(readFileSync('/proc/net/dev', 'utf8').includes(node.bridgeName));
  });
});
