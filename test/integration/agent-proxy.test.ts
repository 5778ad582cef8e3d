// The cluster network's executor on a real kernel, as root: a throwaway "host" netns with
// two veth-connected "pods" (netns running busybox httpd). The agent's programmer, fed
// NetworkStates by hand, makes a cluster IP and a node port on 127.0.0.1 reach both
// endpoints, stops sending to an endpoint once it is removed, routes a peer's pod CIDR
// and removes the route with the peer, acks each state, and its reset leaves nothing of
// its own. Every name carries this run's prefix; the namespaces (and with them every
// rule and route made in them) are deleted in teardown even after a failure. Traffic
// stays inside these namespaces.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  controllerChannel,
  createCertificateAuthority,
  issueCertificate,
  serverCredentials,
  silentLogger,
} from '@flotilla/common';
import {
  type NetworkApplied,
  type NetworkRequest,
  type NetworkState,
  NodeGatewayClient,
  NodeGatewayService,
} from '@flotilla/proto';
import {
  NetworkProgrammer,
  NetworkSession,
  NetworkStateHolder,
  chainPrefixFor,
  type HostNet,
  netnsHostNet,
  applyRoutes,
  removeProxy,
  removeRoutes,
} from '@flotilla/agent';
import {
  makeRunDir,
  networkState,
  runCommand,
  spawnManaged,
  waitFor,
  type ManagedProcess,
} from './../lib/index.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/sbin/iptables-restore') || !existsSync('/usr/bin/busybox')
      ? 'needs iptables and busybox'
      : false;

/** busybox wget under coreutils' timeout: its own -T crashes in Debian's 1.35. */
function wget(url: string): string[] {
  return ['timeout', '5', '/usr/bin/busybox', 'wget', '-q', '-O', '-', url];
}

async function must(command: string, args: string[]): Promise<string> {
  const r = await runCommand(command, args, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

t.test('service proxy and routes in a throwaway netns', { skip }, async (t) => {
  const prefix = `fltp${randomBytes(3).toString('hex')}`;
  const host = `${prefix}-host`;
  const pods = [`${prefix}-p1`, `${prefix}-p2`];
  const hostPath = `/run/netns/${host}`;
  const dir = makeRunDir('proxy');
  const servers: ManagedProcess[] = [];
  const inHost = (args: string[]): Promise<string> => must('nsenter', [`--net=${hostPath}`, '--', ...args]);
  t.teardown(async () => {
    await Promise.all(servers.map((s) => s.stop(1_000)));
    // Deleting a netns takes its veths, rules and routes with it.
    for (const ns of [host, ...pods]) await runCommand('ip', ['netns', 'delete', ns]);
    if (!process.env.FLOTILLA_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
  });

  // The "host" and its two "pods": 10.77.<n>.1 on the host's side of veth n, .2 in the pod.
  for (const ns of [host, ...pods]) await must('ip', ['netns', 'add', ns]);
  await must('ip', ['-n', host, 'link', 'set', 'lo', 'up']);
  const podIPs: string[] = [];
  for (const [i, ns] of pods.entries()) {
    const n = i + 1;
    const hostSide = `${prefix}h${n}`;
    await must('ip', [
      '-n',
      host,
      'link',
      'add',
      hostSide,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ]);
    await must('ip', ['-n', host, 'addr', 'add', `10.77.${n}.1/24`, 'dev', hostSide]);
    await must('ip', ['-n', host, 'link', 'set', hostSide, 'up']);
    await must('ip', ['-n', ns, 'addr', 'add', `10.77.${n}.2/24`, 'dev', 'eth0']);
    await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await must('ip', ['-n', ns, 'route', 'add', 'default', 'via', `10.77.${n}.1`]);
    const www = join(dir, `www${n}`);
    mkdirSync(www);
    writeFileSync(join(www, 'index.html'), `pod${n}\n`);
    servers.push(
      spawnManaged({
        name: `httpd-${n}`,
        command: 'nsenter',
        args: [`--net=/run/netns/${ns}`, '--', '/usr/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', www],
        logPath: join(dir, `httpd${n}.log`),
      }),
    );
    podIPs.push(`10.77.${n}.2`);
  }
  // Hosts have a route for service addresses (usually their default route); this one is
  // not ours (no proto 188) and must survive every apply and the reset.
  await must('ip', ['-n', host, 'route', 'add', '10.96.0.0/16', 'dev', `${prefix}h1`]);
  // Someone else's chains that --noflush must leave alone, shaped like CNI portmap's: a
  // host port 18080 on the host's addresses DNATed to pod 2 from PREROUTING and OUTPUT
  // (addrtype LOCAL, appended as portmap does), masqueraded from POSTROUTING.
  const foreign = `${prefix}-other`;
  const hostPorts = `${prefix}-HP-DNAT`;
  const nat = (...args: string[]) => inHost(['iptables', '-w', '-t', 'nat', ...args]);
  await nat('-N', foreign);
  await nat('-A', foreign, '-j', 'RETURN');
  await nat('-N', hostPorts);
  await nat(
    '-A',
    hostPorts,
    '-p',
    'tcp',
    '-m',
    'tcp',
    '--dport',
    '18080',
    '-j',
    'DNAT',
    '--to-destination',
    '10.77.2.2:8080',
  );
  for (const chain of ['PREROUTING', 'OUTPUT'])
    await nat('-A', chain, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', hostPorts);
  await nat(
    '-A',
    'POSTROUTING',
    '-d',
    '10.77.2.2/32',
    '-p',
    'tcp',
    '-m',
    'tcp',
    '--dport',
    '8080',
    '-j',
    'MASQUERADE',
  );

  const get = async (url: string): Promise<string> => (await inHost(wget(url))).trim();
  for (const ip of podIPs)
    await waitFor(
      `httpd on ${ip}`,
      () =>
        get(`http://${ip}:8080/`)
          .then(Boolean)
          .catch(() => false),
      {
        timeoutMs: 10_000,
      },
    );

  const endpoint = (ip: string) => ({ ip, port: 8080, nodeName: 'h', podNamespace: 'default', podName: ip });
  const stateWith = (revision: number, endpointIPs: string[], peer: boolean): NetworkState =>
    networkState({
      endpointsRevision: revision,
      nodes: [
        { name: 'h', internalIP: '10.77.1.1', podCIDR: '10.77.0.0/24', ready: true },
        ...(peer ? [{ name: 'peer', internalIP: '10.77.2.2', podCIDR: '10.78.0.0/24', ready: true }] : []),
      ],
      services: [
        {
          namespace: 'default',
          name: 'web',
          clusterIP: '10.96.0.10',
          type: 'NodePort',
          ports: [
            { name: '', protocol: 'TCP', port: 80, nodePort: 30080, endpoints: endpointIPs.map(endpoint) },
          ],
        },
        {
          namespace: 'default',
          name: 'empty',
          clusterIP: '10.96.0.11',
          type: 'ClusterIP',
          ports: [{ name: '', protocol: 'TCP', port: 80, nodePort: 0, endpoints: [] }],
        },
      ],
      webFacing: true,
      clusterCidr: '10.77.0.0/16',
    });

  const chainPrefix = chainPrefixFor(prefix);
  const inner = netnsHostNet(hostPath);
  const commands: string[] = [];
  const net: HostNet = {
    run: (file, args, input) => {
      commands.push(`${file} ${args.join(' ')}`);
      return inner.run(file, args, input);
    },
    writeSysctl: (key, value) => inner.writeSysctl(key, value),
  };
  const holder = new NetworkStateHolder();
  const acks: NetworkApplied[] = [];
  const programmer = new NetworkProgrammer({
    nodeName: 'h',
    chainPrefix,
    source: holder,
    log: silentLogger,
    net,
    onApplied: (ack) => acks.push(ack),
  });
  programmer.start();
  t.teardown(() => programmer.stop());

  holder.set(stateWith(5, podIPs, true));
  await waitFor('the first state programmed', () => acks.some((a) => a.endpointsRevision === 5), {
    timeoutMs: 20_000,
  });
  t.equal(acks[0]?.nodeName, 'h');
  t.match(acks[0]?.appliedAt, /^\d{4}-\d\d-\d\dT/);
  t.equal(
    (await inHost(['cat', '/proc/sys/net/ipv4/ip_forward'])).trim(),
    '1',
    'forwarding on in the host netns',
  );
  t.equal((await inHost(['cat', '/proc/sys/net/ipv4/conf/all/route_localnet'])).trim(), '1');

  const routes = JSON.parse(await inHost(['ip', '-j', 'route', 'show', 'proto', '188'])) as Array<{
    dst: string;
    gateway?: string;
  }>;
  t.same(
    routes.map((r) => `${r.dst} via ${r.gateway}`),
    ['10.78.0.0/24 via 10.77.2.2'],
    'the peer’s pod CIDR via its address, not our own',
  );

  const seen = async (url: string, n: number): Promise<Set<string>> => {
    const names = new Set<string>();
    for (let i = 0; i < n; i++) names.add(await get(url));
    return names;
  };
  t.same(
    [...(await seen('http://10.96.0.10/', 24))].sort(),
    ['pod1', 'pod2'],
    'the cluster IP balances over both',
  );
  t.same(
    [...(await seen('http://127.0.0.1:30080/', 24))].sort(),
    ['pod1', 'pod2'],
    'the node port on 127.0.0.1 too',
  );
  t.same(
    [...(await seen('http://127.0.0.1:18080/', 4))],
    ['pod2'],
    'a portmap-style host port still answers beside the node port',
  );
  const started = Date.now();
  const refused = await runCommand('nsenter', [`--net=${hostPath}`, '--', ...wget('http://10.96.0.11/')]);
  t.not(refused.code, 0, 'a service without endpoints refuses');
  t.match(refused.stderr, /refused/i, 'at once (REJECT), not by a timeout');
  t.ok(Date.now() - started < 4_000);

  const save1 = await inHost(['iptables-save', '-t', 'nat']);
  const sepsBefore = save1.split('\n').filter((l) => l.startsWith(`:${chainPrefix}-SEP-`)).length;
  t.equal(sepsBefore, 2);

  const firstApplyCommands = commands.length;
  const secondAt = Date.now();
  holder.set(stateWith(6, [podIPs[0] ?? ''], false));
  await waitFor('the second state programmed', () => acks.some((a) => a.endpointsRevision === 6), {
    timeoutMs: 20_000,
  });
  t.comment(`a changed state programmed in ${Date.now() - secondAt} ms`);
  const second = commands.slice(firstApplyCommands);
  t.equal(second.filter((c) => c.startsWith('iptables-restore')).length, 1, 'one iptables-restore per state');
  t.same(
    second.filter((c) => / -[CI] /.test(c)),
    [],
    'the jumps are seen in iptables-save: no iptables -C or -I',
  );
  t.same([...(await seen('http://10.96.0.10/', 12))], ['pod1'], 'nothing goes to the removed endpoint');
  t.same([...(await seen('http://127.0.0.1:30080/', 6))], ['pod1']);
  const save2 = await inHost(['iptables-save', '-t', 'nat']);
  t.equal(
    save2.split('\n').filter((l) => l.startsWith(`:${chainPrefix}-SEP-`)).length,
    1,
    'its SEP chain deleted',
  );
  t.match(save2, `:${foreign} `, 'the foreign chain is still there');
  t.match(save2, `-A ${foreign} -j RETURN`, 'with its rule');
  t.equal(
    save2
      .split('\n')
      .filter(
        (l) =>
          l === `-A PREROUTING -m comment --comment "flotilla service portals" -j ${chainPrefix}-SERVICES`,
      ).length,
    1,
    'jumps are inserted once, however many applies',
  );
  t.equal(
    (await inHost(['ip', '-j', 'route', 'show', 'proto', '188'])).trim(),
    '[]',
    'the peer’s route is gone with it',
  );
  t.match(await inHost(['ip', 'route', 'show']), /10\.96\.0\.0\/16 dev/, 'a route not ours stays');
  t.equal(programmer.lastApplied()?.endpointsRevision, 6);

  // reset: chains, jumps and routes of ours go; nothing else.
  await programmer.stop();
  holder.set(stateWith(7, podIPs, true));
  await applyRoutes(net, 'h', stateWith(7, podIPs, true));
  t.same(await removeRoutes(net), ['10.78.0.0/24'], 'reset removes our route');
  const removed = await removeProxy(net, chainPrefix);
  t.ok(removed.includes(`nat/${chainPrefix}-SERVICES`), 'reset names the chains it removed');
  const after = await inHost(['iptables-save']);
  t.notMatch(
    after,
    new RegExp(`${chainPrefix}-(SERVICES|SVC|SEP|NODEPORTS|POSTROUTING|MARK|EXTERNAL|FIREWALL)`),
    'none of our chains or jumps left',
  );
  t.match(after, `:${foreign} `, 'the foreign chain survives the reset');
  t.match(await inHost(['ip', 'route', 'show']), /10\.96\.0\.0\/16 dev/);
  t.same(await removeProxy(net, chainPrefix), [], 'a second reset finds nothing');
});

t.test('the Network stream client fills the holder and reconnects', async (t) => {
  const ca = await createCertificateAuthority('flotilla test CA');
  const serverCert = await issueCertificate(ca, {
    subject: { commonName: 'flotilla-controller' },
    usage: 'server',
    dnsNames: ['flotilla-controller'],
    ipAddresses: ['127.0.0.1'],
    validDays: 1,
  });
  const nodeCert = await issueCertificate(ca, {
    subject: { commonName: 'node:n1', organization: 'flotilla:nodes' },
    usage: 'client',
    validDays: 1,
  });
  const requests: string[] = [];
  const asked: boolean[] = [];
  const open: grpc.ServerWritableStream<NetworkRequest, NetworkState>[] = [];
  const server = new grpc.Server();
  const network = (call: grpc.ServerWritableStream<NetworkRequest, NetworkState>): void => {
    requests.push(call.request.nodeName);
    asked.push(call.request.acceptDeltas);
    const n = requests.length;
    call.write({ ...emptyState(), endpointsRevision: n * 10 });
    // The first stream breaks off; the second stays open.
    if (n === 1) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'controller restarting' });
    else open.push(call);
  };
  server.addService(NodeGatewayService, { network });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      serverCredentials(ca.certPem, serverCert.certPem, serverCert.keyPem),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
  t.teardown(() => {
    for (const call of open) call.end();
    server.forceShutdown();
  });

  const holder = new NetworkStateHolder();
  const seen: number[] = [];
  holder.onChange((s) => seen.push(s.endpointsRevision));
  const address = `127.0.0.1:${port}`;
  const channel = controllerChannel(address, {
    caPem: ca.certPem,
    certPem: nodeCert.certPem,
    keyPem: nodeCert.keyPem,
  });
  const client = new NodeGatewayClient(address, channel.credentials, channel.options);
  t.teardown(() => client.close());
  const session = new NetworkSession({
    client,
    controller: address,
    nodeName: 'n1',
    holder,
    log: silentLogger,
  });
  session.start();
  t.teardown(() => session.stop());
  await waitFor('the second stream’s state', () => holder.current()?.endpointsRevision === 20, {
    timeoutMs: 15_000,
  });
  t.same(seen, [10, 20], 'each state in order, across the reconnect');
  t.same(requests, ['n1', 'n1'], 'the stream asks for this node');
  t.same(asked, [true, true], 'and for deltas');
  t.equal(session.statesReceived, 2);

  // A delta is applied on top of the stream's last state: the holder has the complete one.
  const peer = { name: 'peer', internalIP: '10.77.2.2', podCIDR: '10.78.0.0/24', ready: true };
  open[0]?.write({ ...emptyState(), endpointsRevision: 30, delta: true, nodes: [peer] });
  await waitFor('the delta', () => holder.current()?.endpointsRevision === 30, { timeoutMs: 5_000 });
  t.same(holder.current()?.nodes, [peer]);
  t.equal(holder.current()?.delta, false, 'the holder keeps complete states');
  open[0]?.write({ ...emptyState(), endpointsRevision: 40, delta: true, removedNodes: ['peer'] });
  await waitFor('the second delta', () => holder.current()?.endpointsRevision === 40, { timeoutMs: 5_000 });
  t.same(holder.current()?.nodes, [], 'a removed node is gone');
  await session.stop();
  t.equal(holder.current()?.endpointsRevision, 40, 'the last state stays after the session stops');
});

function emptyState(): NetworkState {
  return networkState();
}
