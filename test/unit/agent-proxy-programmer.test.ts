// The network programmer's loop against a recording fake host (no kernel): it waits for
// a first state, programs the newest one, acks it, and retries a failed apply (the
// failure's stderr logged) without ever throwing.
import t from 'tap';
import type { NetworkApplied, NetworkState } from '@flotilla/proto';
import { type LogFields, type Logger, silentLogger } from '@flotilla/common';
import { type HostNet, NetworkProgrammer, NetworkStateHolder, fullApplyEveryMs } from '@flotilla/agent';
import { networkState } from '../lib/index.js';

function state(revision: number): NetworkState {
  return networkState({
    endpointsRevision: revision,
    nodes: [{ name: 'peer', internalIP: '192.0.2.2', podCIDR: '10.244.2.0/24', ready: true }],
  });
}

class FakeHost implements HostNet {
  readonly commands: string[] = [];
  readonly inputs: string[] = [];
  restoreFailures = 0;
  /** `ip route replace` of this destination fails (a peer not on a connected network). */
  failRoute: string | undefined;
  async run(file: string, args: readonly string[], input?: string) {
    this.commands.push(`${file} ${args.join(' ')}`);
    const ok = { code: 0, signal: null, stdout: '', stderr: '' };
    if (file === 'ip' && args.includes('route') && args.includes('show')) return { ...ok, stdout: '[]' };
    if (file === 'ip' && args.includes('addr')) return { ...ok, stdout: '[]' };
    if (file === 'ip' && args[1] === 'replace' && args[2] === this.failRoute)
      return { ...ok, code: 2, stderr: 'Error: Nexthop has invalid gateway.' };
    if (file === 'iptables-restore') {
      this.inputs.push(input ?? '');
      if (this.restoreFailures > 0) {
        this.restoreFailures--;
        return { ...ok, code: 2, stderr: 'iptables-restore: line 7 failed' };
      }
    }
    return ok;
  }
  async writeSysctl(key: string, value: string) {
    this.commands.push(`sysctl ${key}=${value}`);
  }
}

function recordingLogger(lines: string[]): Logger {
  const log = (level: string) => (message: string, fields?: LogFields) =>
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  const logger: Logger = {
    ...silentLogger,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
  };
  return logger;
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('waits for a state, programs it, acks it; retries a failure', async (t) => {
  const host = new FakeHost();
  const holder = new NetworkStateHolder();
  const acks: NetworkApplied[] = [];
  const lines: string[] = [];
  const programmer = new NetworkProgrammer({
    nodeName: 'me',
    chainPrefix: 'flt',
    source: holder,
    log: recordingLogger(lines),
    net: host,
    onApplied: (ack) => acks.push(ack),
  });
  programmer.start();
  t.teardown(() => programmer.stop());
  await new Promise((r) => setTimeout(r, 50));
  t.same(host.commands, [], 'nothing touched before the first state');
  t.equal(programmer.lastApplied(), undefined);

  host.restoreFailures = 1;
  holder.set(state(3));
  await until(() => acks.length === 1);
  t.equal(acks[0]?.endpointsRevision, 3);
  t.equal(acks[0]?.nodeName, 'me');
  t.match(lines.join('\n'), /warn network not programmed; retrying .*line 7 failed/, 'the stderr is logged');
  t.equal(host.commands.filter((c) => c.startsWith('iptables-restore')).length, 2, 'tried again');
  t.ok(host.commands.includes('ip route replace 10.244.2.0/24 via 192.0.2.2 proto 188'));
  t.ok(host.commands.includes('sysctl net/ipv4/ip_forward=1'));
  t.ok(
    host.inputs.every((text) => text.startsWith('*nat\n')),
    'the ruleset goes on stdin',
  );

  holder.set(state(4));
  holder.set(state(5));
  await until(() => programmer.lastApplied()?.endpointsRevision === 5);
  t.ok(acks.length <= 3, 'states in between may be skipped');
  t.equal(acks[acks.length - 1]?.endpointsRevision, 5, 'the newest is acked last');
});

t.test('a failing host never throws out of the programmer', async (t) => {
  const holder = new NetworkStateHolder();
  holder.set(state(1));
  const broken: HostNet = {
    run: () => Promise.reject(new Error('spawn failed')),
    writeSysctl: () => Promise.reject(new Error('read-only /proc')),
  };
  const lines: string[] = [];
  const programmer = new NetworkProgrammer({
    nodeName: 'me',
    chainPrefix: 'flt',
    source: holder,
    log: recordingLogger(lines),
    net: broken,
  });
  programmer.start();
  await until(() => lines.filter((l) => l.startsWith('warn')).length >= 2);
  await programmer.stop();
  t.equal(programmer.lastApplied(), undefined);
  t.match(lines[0], /read-only \/proc/);
});

t.test('a peer that cannot be routed holds back neither the others nor the rules', async (t) => {
  const host = new FakeHost();
  host.failRoute = '10.244.2.0/24';
  const holder = new NetworkStateHolder();
  const two = state(9);
  two.nodes.push({ name: 'peer3', internalIP: '192.0.2.3', podCIDR: '10.244.3.0/24', ready: true });
  holder.set(two);
  const acks: NetworkApplied[] = [];
  const lines: string[] = [];
  const programmer = new NetworkProgrammer({
    nodeName: 'me',
    chainPrefix: 'flt',
    source: holder,
    log: recordingLogger(lines),
    net: host,
    onApplied: (ack) => acks.push(ack),
  });
  programmer.start();
  t.teardown(() => programmer.stop());
  await until(() => lines.some((l) => l.startsWith('warn network not programmed')));
  t.ok(
    host.commands.includes('ip route replace 10.244.3.0/24 via 192.0.2.3 proto 188'),
    'the other peer is routed',
  );
  t.ok(
    host.commands.some((c) => c.startsWith('iptables-restore')),
    'the rules are programmed',
  );
  t.equal(acks[0]?.endpointsRevision, 9, 'and acked');
  t.match(lines.join('\n'), /Nexthop has invalid gateway/);
  host.failRoute = undefined;
  await until(
    () =>
      host.commands.filter((c) => c === 'ip route replace 10.244.2.0/24 via 192.0.2.2 proto 188').length >= 2,
  );
});

t.test(
  'a state that programs nothing new is acked untouched; a change soon after is one restore',
  async (t) => {
    const host = new FakeHost();
    const holder = new NetworkStateHolder();
    const acks: NetworkApplied[] = [];
    let clock = Date.parse('2026-12-02T00:00:00Z');
    const programmer = new NetworkProgrammer({
      nodeName: 'me',
      chainPrefix: 'flt',
      source: holder,
      log: silentLogger,
      net: host,
      now: () => new Date(clock),
      onApplied: (ack) => acks.push(ack),
    });
    programmer.start();
    t.teardown(() => programmer.stop());
    const withService = (revision: number, ips: string[]): NetworkState => ({
      ...state(revision),
      services: [
        {
          namespace: 'default',
          name: 'web',
          clusterIP: '10.96.0.10',
          type: 'ClusterIP',
          ports: [
            {
              name: 'http',
              protocol: 'TCP',
              port: 80,
              nodePort: 0,
              endpoints: ips.map((ip) => ({
                ip,
                port: 8080,
                nodeName: 'peer',
                podNamespace: 'default',
                podName: ip,
              })),
            },
          ],
        },
      ],
    });
    const commandsFor = async (s: NetworkState): Promise<string[]> => {
      const before = host.commands.length;
      holder.set(s);
      await until(() => programmer.lastApplied()?.endpointsRevision === s.endpointsRevision);
      return host.commands.slice(before);
    };

    const first = await commandsFor(withService(1, []));
    t.ok(
      first.some((c) => c.startsWith('iptables-save')),
      'the first apply reads the tables',
    );
    t.ok(
      first.some((c) => c.startsWith('ip -j -4 route show')),
      'and the routes',
    );
    t.same(
      await commandsFor(withService(2, [])),
      [],
      'the same content again (a not-ready address): no command',
    );
    t.equal(acks[acks.length - 1]?.endpointsRevision, 2, 'but acked');

    const ready = await commandsFor(withService(3, ['10.244.2.5']));
    t.same(
      ready.map((c) => c.split(' ')[0]),
      ['iptables-restore'],
      'an endpoint that turned ready: one iptables-restore, nothing read back',
    );
    t.match(host.inputs[host.inputs.length - 1], /DNAT --to-destination 10\.244\.2\.5:8080/);

    const gone = await commandsFor(withService(4, []));
    t.same(gone, ['iptables-restore -w 5 --noflush']);
    t.match(host.inputs[host.inputs.length - 1], /-X flt-SEP-/, 'the chains the last apply made are deleted');

    const moved = withService(5, []);
    moved.nodes = [{ name: 'peer', internalIP: '192.0.2.9', podCIDR: '10.244.2.0/24', ready: true }];
    const routed = await commandsFor(moved);
    t.ok(routed.includes('ip route replace 10.244.2.0/24 via 192.0.2.9 proto 188'), 'a node change: routes');
    t.notOk(
      routed.some((c) => c.startsWith('iptables-save')),
      'rules still from the last apply',
    );

    clock += fullApplyEveryMs;
    const later = await commandsFor({ ...moved, endpointsRevision: 6 });
    t.ok(
      later.some((c) => c.startsWith('iptables-save')),
      'after fullApplyEveryMs: read back in full',
    );

    host.restoreFailures = 1;
    await commandsFor(withService(7, ['10.244.2.6']));
    t.same(
      programmer.applies(),
      { full: 3, rulesOnly: 3, unchanged: 1 },
      'a failed restore is retried in full',
    );
  },
);
