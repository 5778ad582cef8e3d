// The local cluster plan: what `deploy up` runs, in which order, with which flags and
// ports, and how it knows each component is ready. Read as data; nothing is started.
import t from 'tap';
import { agentNodeFlags, controllerNodeFlags } from '@flotilla/common';
import {
  type ComponentSpec,
  type Executables,
  type LocalPorts,
  defaultPorts,
  localAgentReset,
  localClusterPlan,
  localLayout,
  registryConfig,
} from '@flotilla/deploy';

const dataDir = '/srv/flotilla/local';
const layout = localLayout(dataDir);

function makeExecutables(overrides: Partial<Executables> = {}): Executables {
  return {
    node: '/usr/bin/node',
    etcd: '/opt/bin/etcd',
    natsServer: '/opt/bin/nats-server',
    registry: '/opt/bin/registry',
    controllerMain: '/app/controller/dist/main.js',
    agentMain: '/app/agent/dist/main.js',
    ...overrides,
  };
}

function makePorts(overrides: Partial<LocalPorts> = {}): LocalPorts {
  return { ...defaultPorts, ...overrides };
}

function plan(ports: LocalPorts = makePorts()): ComponentSpec[] {
  return localClusterPlan(layout, ports, makeExecutables());
}

function component(specs: readonly ComponentSpec[], name: string): ComponentSpec {
  const spec = specs.find((s) => s.name === name);
  if (!spec) throw new Error(`the plan has no ${name}`);
  return spec;
}

/** The value after a flag in an argv; fails the lookup when the flag is absent or repeated. */
function flagValue(spec: ComponentSpec, flag: string): unknown {
  const at = spec.args.indexOf(flag);
  if (at < 0 || spec.args.indexOf(flag, at + 1) >= 0) return `<${flag} given ${at < 0 ? 'never' : 'twice'}>`;
  return spec.args[at + 1];
}

const customPorts = makePorts({ etcd: 32379, etcdPeer: 32380, nats: 34222, registry: 35000, api: 37443 });

t.test('the default ports', async (t) => {
  t.same(defaultPorts, { etcd: 23790, etcdPeer: 23800, nats: 14222, registry: 5000, api: 7443 });
});

t.test('the data directory layout', async (t) => {
  t.same(layout, {
    dataDir,
    etcdDir: `${dataDir}/etcd`,
    registryDir: `${dataDir}/registry`,
    registryConfig: `${dataDir}/registry.yaml`,
    controllerDir: `${dataDir}/controller`,
    natsConfig: `${dataDir}/controller/nats-server.conf`,
    caCert: `${dataDir}/controller/ca.crt`,
    agentDir: `${dataDir}/agent`,
    logsDir: `${dataDir}/logs`,
    adminConfig: `${dataDir}/admin.yaml`,
    joinToken: `${dataDir}/join-token`,
    clusterState: `${dataDir}/cluster.json`,
    supervisorLock: `${dataDir}/supervisor.lock`,
    supervisorLog: `${dataDir}/logs/supervisor.log`,
  });
});

t.test('components start in order: etcd, controller init, NATS, registry, controller, agent', async (t) => {
  t.same(
    plan().map((s) => s.name),
    ['etcd', 'controller-init', 'nats-server', 'registry', 'controller', 'agent'],
  );
});

t.test('each component runs its own program', async (t) => {
  const exe = makeExecutables();
  const cases: Array<[string, string, string | undefined]> = [
    // name, command, first argument
    ['etcd', exe.etcd, '--name'],
    ['controller-init', exe.node, exe.controllerMain],
    ['nats-server', exe.natsServer, '-c'],
    ['registry', exe.registry, 'serve'],
    ['controller', exe.node, exe.controllerMain],
    ['agent', exe.node, exe.agentMain],
  ];
  const specs = plan();
  for (const [name, command, first] of cases) {
    const spec = component(specs, name);
    t.equal(spec.command, command, `${name} runs ${command}`);
    // The agent's and the serving controller's node get their memory flags before the program.
    const skip =
      name === 'agent' ? agentNodeFlags.length : name === 'controller' ? controllerNodeFlags.length : 0;
    t.equal(spec.args[skip], first, `${name} starts with ${first}`);
  }
  t.same(component(specs, 'agent').args.slice(0, agentNodeFlags.length), agentNodeFlags, 'agent node flags');
  t.same(
    component(specs, 'controller').args.slice(0, controllerNodeFlags.length),
    controllerNodeFlags,
    'controller node flags',
  );
  t.equal(component(specs, 'controller-init').args[1], 'init');
  t.equal(component(specs, 'controller').args[controllerNodeFlags.length + 1], 'serve');
});

t.test('readiness: how the supervisor knows each component is up', async (t) => {
  const cases: Array<[string, ComponentSpec['readiness'], number]> = [
    ['etcd', { kind: 'http', url: 'http://127.0.0.1:32379/health' }, 30_000],
    ['controller-init', { kind: 'exit' }, 60_000],
    ['nats-server', { kind: 'tcp', host: '127.0.0.1', port: 34222 }, 15_000],
    ['registry', { kind: 'http', url: 'http://127.0.0.1:35000/v2/' }, 30_000],
    ['controller', { kind: 'tcp', host: '127.0.0.1', port: 37443 }, 30_000],
    ['agent', { kind: 'alive', ms: 1_000 }, 30_000],
  ];
  const specs = plan(customPorts);
  for (const [name, readiness, timeout] of cases) {
    t.same(component(specs, name).readiness, readiness, name);
    t.equal(component(specs, name).readyTimeoutMs, timeout, `${name} has ${timeout} ms to be ready`);
  }
});

t.test('only controller init is a one-shot step', async (t) => {
  t.same(
    plan()
      .filter((s) => s.oneShot)
      .map((s) => s.name),
    ['controller-init'],
  );
});

t.test('addresses are what a client dials, on loopback, with the chosen ports', async (t) => {
  const cases: Array<[string, string]> = [
    ['etcd', 'http://127.0.0.1:32379'],
    ['controller-init', ''],
    ['nats-server', 'nats://127.0.0.1:34222'],
    ['registry', '127.0.0.1:35000'],
    ['controller', '127.0.0.1:37443'],
    ['agent', ''],
  ];
  const specs = plan(customPorts);
  for (const [name, address] of cases) t.equal(component(specs, name).address, address, name);
});

t.test('etcd is a one-member cluster on loopback with its data in the data directory', async (t) => {
  const etcd = component(plan(customPorts), 'etcd');
  const cases: Array<[string, string]> = [
    ['--name', 'flotilla-local'],
    ['--data-dir', `${dataDir}/etcd`],
    ['--listen-client-urls', 'http://127.0.0.1:32379'],
    ['--advertise-client-urls', 'http://127.0.0.1:32379'],
    ['--listen-peer-urls', 'http://127.0.0.1:32380'],
    ['--initial-advertise-peer-urls', 'http://127.0.0.1:32380'],
    ['--initial-cluster', 'flotilla-local=http://127.0.0.1:32380'],
    ['--initial-cluster-state', 'new'],
  ];
  for (const [flag, value] of cases) t.equal(flagValue(etcd, flag), value, flag);
});

t.test('controller init and serve get the same cluster flags', async (t) => {
  const specs = plan(customPorts);
  const cases: Array<[string, string]> = [
    ['--etcd-endpoints', 'http://127.0.0.1:32379'],
    ['--data-dir', `${dataDir}/controller`],
    ['--nats-listen', '127.0.0.1:34222'],
    ['--listen', '127.0.0.1:37443'],
    ['--admin-config', `${dataDir}/admin.yaml`],
    ['--token-file', `${dataDir}/join-token`],
  ];
  for (const name of ['controller-init', 'controller']) {
    for (const [flag, value] of cases)
      t.equal(flagValue(component(specs, name), flag), value, `${name} ${flag}`);
  }
  t.equal(flagValue(component(specs, 'controller'), '--nats-url'), 'nats://127.0.0.1:34222');
  t.notOk(component(specs, 'controller-init').args.includes('--nats-url'), 'init does not connect to NATS');
});

t.test('NATS and the registry read the config files in the data directory', async (t) => {
  const specs = plan();
  t.same(component(specs, 'nats-server').args, ['-c', `${dataDir}/controller/nats-server.conf`]);
  t.same(component(specs, 'registry').args, ['serve', `${dataDir}/registry.yaml`]);
});

t.test('the agent joins the local controller with the join token read when it starts', async (t) => {
  const agent = component(plan(customPorts), 'agent');
  t.equal(flagValue(agent, '--join'), '127.0.0.1:37443');
  t.same(
    flagValue(agent, '--token'),
    { fileContents: `${dataDir}/join-token` },
    'the token file, not its path',
  );
  t.equal(flagValue(agent, '--ca-file'), `${dataDir}/controller/ca.crt`);
  t.equal(flagValue(agent, '--state-dir'), `${dataDir}/agent`);
  t.equal(flagValue(agent, '--labels'), 'flotilla.io/web-facing=true', 'it serves NodePort services');
});

t.test('each component logs to DIR/logs/NAME.log', async (t) => {
  for (const spec of plan()) t.equal(spec.log, `${dataDir}/logs/${spec.name}.log`, spec.name);
});

t.test('nothing listens beyond loopback and every port follows the flags', async (t) => {
  const specs = plan(customPorts);
  const text = JSON.stringify(specs);
  t.notMatch(text, /0\.0\.0\.0|localhost|\[::\]/, 'no wildcard or name-resolved listen address');
  for (const port of Object.values(defaultPorts)) {
    t.notMatch(text, new RegExp(`:${port}\\b`), `default port ${port} is not used when others are chosen`);
  }
  const hosts = [...text.matchAll(/(\d+\.\d+\.\d+\.\d+):(\d+)/g)].map((m) => m[1]);
  t.ok(hosts.length > 0);
  t.ok(
    hosts.every((h) => h === '127.0.0.1'),
    'every address is 127.0.0.1',
  );
});

t.test('every file a component uses lies in the data directory', async (t) => {
  const exe = new Set(Object.values(makeExecutables()));
  for (const spec of plan()) {
    for (const arg of spec.args) {
      const path = typeof arg === 'string' ? arg : arg.fileContents;
      if (!path.startsWith('/') || exe.has(path)) continue;
      t.ok(path.startsWith(`${dataDir}/`), `${spec.name}: ${path}`);
    }
  }
});

t.test('the registry config stores in the data directory and listens on loopback only', async (t) => {
  const text = registryConfig(layout, 35000, 'a "secret"');
  t.match(text, /\nstorage:\n {2}filesystem:\n {4}rootdirectory: "\/srv\/flotilla\/local\/registry"\n/);
  t.match(text, /\nhttp:\n {2}addr: 127\.0\.0\.1:35000\n/);
  t.match(text, /\n {2}secret: "a \\"secret\\""\n/, 'the secret is quoted');
  t.notMatch(text, /debug:/, 'no debug listener');
  t.notMatch(text, /0\.0\.0\.0/);
  t.match(text, /^# Written by deploy up/);
});

t.test("deploy down's agent reset gets the agent's state dir and pod runtime flags", async (t) => {
  const agent = component(plan(), 'agent');
  const reset = localAgentReset(layout, makeExecutables());
  t.equal(reset.command, agent.command);
  t.same(reset.args.slice(0, 2), ['/app/agent/dist/main.js', 'reset']);
  const value = (args: readonly unknown[], flag: string): unknown => args[args.indexOf(flag) + 1];
  for (const flag of ['--state-dir', '--bridge-name', '--netns-prefix', '--runc-root'])
    t.equal(value(reset.args, flag), value(agent.args, flag), `${flag} as the agent's`);
});
