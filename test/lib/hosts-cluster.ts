// A cluster of N hosts for multi-host tests: each host a network namespace with its own
// address on one bridge (deploy's local/hosts plan, the same `deploy up --nodes N` uses),
// one agent inside each (nsenter --net, its own state dir, runc root, cgroup parent,
// bridge, netns prefix), and beside them, on the bridge address: etcd, nats-server, a
// docker-registry and one or two controllers. The example images are built and pushed
// with the real `deploy` CLI.
//
// Everything the run makes carries its prefix ("flt" + 6 hex digits): the netns, the
// veths, the bridge, the agents' pod netns, bridges and cgroups, and the run directory
// /tmp/<prefix>. Teardown (teardownHostsRun) needs nothing but the prefix: it kills every
// process in the prefix's netns and cgroups, unmounts, deletes the netns, links, iptables
// chains, cgroups and the directory. It also runs from the exit handler after a crash.
// The control plane's processes are children of the test, killed by PID.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { readClientConfig, writeClientConfig } from '@flotilla/common';
import { hostAgentFlags, localHosts } from '@flotilla/deploy';
import type { Node } from '@flotilla/proto';
import { agentNodeFlags, controllerNodeFlags } from '@flotilla/common';
import { AdminClient, isReady } from './clients.js';
import { commitBusyboxBase, exampleImages, examplePushSteps } from './example-images.js';
import { agentMain, controllerMain, deployMain } from './cluster.js';
import { freePort } from './ports.js';
import { isPidAlive, runCommand, spawnManaged, type ManagedProcess, type RunResult } from './processes.js';
import { waitFor } from './wait.js';

type HostsPlan = localHosts.HostsPlan;
type HostSpec = localHosts.HostSpec;

/** Why the multi-host tests cannot run here, or false. */
export function hostsSkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, runc, CNI, cgroups)';
  for (const tool of [
    '/usr/sbin/runc',
    '/usr/bin/conmon',
    '/usr/lib/cni/bridge',
    '/usr/bin/nsenter',
    '/usr/bin/etcd',
    '/usr/sbin/nats-server',
    '/usr/bin/docker-registry',
  ]) {
    if (!existsSync(tool)) return `needs ${tool} (scripts/setup.sh installs it)`;
  }
  return false;
}

/** The run directory of a prefix: derived from it alone, so teardown needs nothing else. Short, for conmon's socket paths. */
export function hostsRunDir(prefix: string): string {
  return join(tmpdir(), prefix);
}

/**
 * Removes everything the run of prefix made, from nothing but the prefix (after a crash
 * too); returns what is still there (empty when clean).
 */
export function teardownHostsRun(prefix: string): string[] {
  return localHosts.teardownHosts(prefix, [hostsRunDir(prefix)]);
}

/** Processes whose command line names the run directory (the control plane, CLI children). */
function processesOfRun(dir: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(dir)) out.push({ pid: Number(entry), cmd: cmd.slice(0, 200) });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Everything of the prefix the machine still shows, including processes naming its directory. */
export function hostsRunLeftovers(prefix: string): string[] {
  const dir = hostsRunDir(prefix);
  return [
    ...localHosts.hostsLeftovers(prefix, [dir]),
    ...processesOfRun(dir).map((p) => `process ${p.pid}: ${p.cmd}`),
  ];
}

/** An agent in its own process group (detached), so a host kill signals the whole group. */
export interface HostAgent {
  readonly pid: number;
  readonly logPath: string;
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
}

function spawnGroup(argv: string[], logPath: string): { child: ChildProcess; agent: HostAgent } {
  const log = createWriteStream(logPath, { flags: 'a' });
  const [file = '', ...args] = argv;
  const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  const pid = child.pid;
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', () => {
      alive = false;
      resolve('spawn-error');
    });
  });
  return { child, agent: { pid, logPath, exited, isRunning: () => alive } };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

export interface HostsClusterOptions {
  nodes: number;
  /** Controllers against the same etcd and NATS (2 to test leader failover). Default 1. */
  controllers?: number;
  /** The controllers' --node-grace (default 2s). */
  nodeGrace?: string;
  /** The controllers' --eviction-timeout (default: the controller's). */
  evictionTimeout?: string;
  /** More flags for every controller. */
  controllerArgs?: string[];
  /** More flags for every agent. */
  agentArgs?: string[];
  /**
   * The controllers' and agents' --log-level and the agents' --heartbeat-interval. Tests
   * log at debug and beat every 300 ms; benchmarks run the defaults a user gets (info, 1s).
   */
  logLevel?: string;
  heartbeatInterval?: string;
}

export interface HostController {
  name: string;
  /** host:port of its API, on the bridge address. */
  address: string;
  dataDir: string;
  /** An admin config that names this controller. */
  adminConfig: string;
  process: ManagedProcess;
}

export interface DeployOptions {
  stdin?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const live = new Set<HostsCluster>();
process.on('exit', () => {
  for (const cluster of live) cluster.cleanupSync();
});

export class HostsCluster {
  readonly prefix: string;
  readonly dir: string;
  readonly plan: HostsPlan;
  readonly options: HostsClusterOptions;
  etcdEndpoint = '';
  natsPort = 0;
  registryHost = '';
  etcd: ManagedProcess | undefined;
  nats: ManagedProcess | undefined;
  registry: ManagedProcess | undefined;
  readonly controllers: HostController[] = [];
  readonly agents = new Map<number, HostAgent>();
  private readonly agentStarts = new Map<number, number>();
  private readonly restarts = new Map<string, number>();
  images = { busybox: '', hello: '', web: '' };
  private cleaned = false;
  private etcdPeerPort = 0;

  private constructor(prefix: string, plan: HostsPlan, options: HostsClusterOptions) {
    this.prefix = prefix;
    this.dir = hostsRunDir(prefix);
    this.plan = plan;
    this.options = options;
  }

  /** Makes the hosts, starts everything, builds and pushes the images, waits for N nodes Ready. */
  static async start(options: HostsClusterOptions): Promise<HostsCluster> {
    const prefix = `flt${randomBytes(3).toString('hex')}`;
    // Random start: parallel runs spread over the candidates instead of racing for one.
    const subnet = localHosts.freeSubnet(randomBytes(2).readUInt16BE(0));
    const plan = localHosts.hostsPlan(prefix, options.nodes, subnet);
    const cluster = new HostsCluster(prefix, plan, options);
    live.add(cluster);
    try {
      mkdirSync(cluster.dir, { recursive: true, mode: 0o700 });
      localHosts.createHosts(plan, [cluster.dir]);
      await cluster.startControlPlane();
      await cluster.buildImages();
      for (const h of plan.hosts) cluster.startAgent(h.index);
      await cluster.waitNodesReady();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  get gateway(): string {
    return this.plan.gateway;
  }
  get adminConfig(): string {
    return join(this.dir, 'controller', 'admin.yaml');
  }
  get caFile(): string {
    return join(this.dir, 'controller', 'ca.crt');
  }
  get natsUrl(): string {
    return `nats://${this.gateway}:${this.natsPort}`;
  }
  host(index: number): HostSpec {
    const h = this.plan.hosts.find((x) => x.index === index);
    if (!h) throw new Error(`no host ${index} (the cluster has ${this.plan.hosts.length})`);
    return h;
  }
  /** Host index of a node name. */
  hostOf(nodeName: string): HostSpec {
    const h = this.plan.hosts.find((x) => x.name === nodeName);
    if (!h) throw new Error(`no host named ${nodeName}`);
    return h;
  }
  stateDir(index: number): string {
    return join(this.dir, `h${index}`);
  }

  private logPath(name: string): string {
    const n = (this.restarts.get(name) ?? 0) + 1;
    this.restarts.set(name, n);
    return join(this.dir, n === 1 ? `${name}.log` : `${name}-${n}.log`);
  }

  private async startControlPlane(): Promise<void> {
    const gw = this.gateway;
    this.etcdEndpoint = `http://${gw}:${await freePort()}`;
    this.etcdPeerPort = await freePort();
    this.etcd = await this.launchEtcd();
    this.natsPort = await freePort();
    const controllerDir = join(this.dir, 'controller');
    mkdirSync(controllerDir, { recursive: true, mode: 0o700 });
    const firstApi = `${gw}:${await freePort()}`;
    const init = await runCommand(process.execPath, [
      controllerMain,
      'init',
      `--etcd-endpoints=${this.etcdEndpoint}`,
      `--data-dir=${controllerDir}`,
      `--nats-listen=${gw}:${this.natsPort}`,
      `--listen=${firstApi}`,
      `--admin-config=${this.adminConfig}`,
      `--token-file=${join(controllerDir, 'join-token')}`,
    ]);
    if (init.code !== 0)
      throw new Error(`controller init failed (${init.code}):\n${init.stdout}\n${init.stderr}`);
    this.nats = await this.launchNats();
    this.registry = await this.launchRegistry();
    const count = this.options.controllers ?? 1;
    for (let i = 0; i < count; i++) {
      const name = i === 0 ? 'controller' : `controller-${i + 1}`;
      const address = i === 0 ? firstApi : `${gw}:${await freePort()}`;
      const dataDir = i === 0 ? controllerDir : join(this.dir, name);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const adminConfig = i === 0 ? this.adminConfig : join(dataDir, 'admin.yaml');
      if (i > 0) {
        const config = await readClientConfig(this.adminConfig);
        await writeClientConfig(adminConfig, { ...config, server: address });
      }
      const c: HostController = {
        name,
        address,
        dataDir,
        adminConfig,
        process: this.spawnController(name, address, dataDir),
      };
      this.controllers.push(c);
      await this.waitControllerAnswers(c);
    }
  }

  private async launchEtcd(): Promise<ManagedProcess> {
    const dataDir = join(this.dir, 'etcd');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const peer = `http://${this.gateway}:${this.etcdPeerPort}`;
    const proc = spawnManaged({
      name: 'etcd',
      command: 'etcd',
      args: [
        '--name=hosts',
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${this.etcdEndpoint}`,
        `--advertise-client-urls=${this.etcdEndpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=hosts=${peer}`,
        '--log-level=warn',
      ],
      logPath: this.logPath('etcd'),
    });
    await waitFor(
      'etcd to be healthy',
      async () => {
        if (!proc.isRunning()) throw new Error(`etcd exited; log:\n${proc.log().slice(-2000)}`);
        const res = await fetch(`${this.etcdEndpoint}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      { timeoutMs: 20_000 },
    );
    return proc;
  }

  private async launchNats(): Promise<ManagedProcess> {
    const proc = spawnManaged({
      name: 'nats-server',
      command: 'nats-server',
      args: ['-c', join(this.dir, 'controller', 'nats-server.conf')],
      logPath: this.logPath('nats'),
    });
    await waitFor(
      'nats-server to be ready',
      () => {
        if (!proc.isRunning()) throw new Error(`nats-server exited; log:\n${proc.log().slice(-2000)}`);
        return proc.log().includes('Server is ready');
      },
      { timeoutMs: 10_000 },
    );
    return proc;
  }

  private async launchRegistry(): Promise<ManagedProcess> {
    const port = await freePort();
    this.registryHost = `${this.gateway}:${port}`;
    const home = join(this.dir, 'registry');
    mkdirSync(join(home, 'data'), { recursive: true });
    const config = join(home, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: info',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(home, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${this.registryHost}`,
        `  secret: ${randomBytes(16).toString('hex')}`,
        '',
      ].join('\n'),
    );
    const proc = spawnManaged({
      name: 'registry',
      command: 'docker-registry',
      args: ['serve', config],
      logPath: this.logPath('registry'),
    });
    await waitFor(
      `the registry to answer on ${this.registryHost}`,
      async () => {
        if (!proc.isRunning()) throw new Error(`docker-registry exited; log:\n${proc.log().slice(-2000)}`);
        return (await fetch(`http://${this.registryHost}/v2/`)).status === 200;
      },
      { timeoutMs: 20_000 },
    );
    return proc;
  }

  private spawnController(name: string, address: string, dataDir: string): ManagedProcess {
    const args = [
      ...controllerNodeFlags,
      controllerMain,
      'serve',
      `--etcd-endpoints=${this.etcdEndpoint}`,
      `--nats-url=${this.natsUrl}`,
      `--listen=${address}`,
      `--data-dir=${dataDir}`,
      `--node-grace=${this.options.nodeGrace ?? '2s'}`,
      `--log-level=${this.options.logLevel ?? 'debug'}`,
    ];
    if (this.options.evictionTimeout) args.push(`--eviction-timeout=${this.options.evictionTimeout}`);
    args.push(...(this.options.controllerArgs ?? []));
    return spawnManaged({ name, command: process.execPath, args, logPath: this.logPath(name) });
  }

  private async waitControllerAnswers(c: HostController): Promise<void> {
    const admin = await AdminClient.fromConfigFile(c.adminConfig);
    try {
      await waitFor(
        `${c.name} to answer on ${c.address}`,
        () => {
          if (!c.process.isRunning())
            throw new Error(`${c.name} exited; log:\n${c.process.log().slice(-2000)}`);
          return admin.listNodes().then(() => true);
        },
        { timeoutMs: 30_000 },
      );
    } finally {
      admin.close();
    }
  }

  joinToken(): string {
    return readFileSync(join(this.dir, 'controller', 'join-token'), 'utf8').trim();
  }

  /** The flags host i's agent runs with; the same state dir and names every start. */
  agentArgs(index: number, join: boolean): string[] {
    const h = this.host(index);
    const args = [
      ...agentNodeFlags,
      agentMain,
      ...hostAgentFlags(this.stateDir(index), this.plan, h, Number(this.registryHost.split(':')[1])),
      `--heartbeat-interval=${this.options.heartbeatInterval ?? '300ms'}`,
      '--image-gc-high-threshold=100',
      '--image-gc-low-threshold=100',
      `--log-level=${this.options.logLevel ?? 'debug'}`,
      // Tests send no traffic beyond loopback and the hosts: no forwarding to this machine's nameservers.
      '--dns-upstreams=none',
      ...(this.options.agentArgs ?? []),
    ];
    if (join) {
      const first = this.controllers[0];
      if (!first) throw new Error('no controller to join');
      args.push(`--join=${first.address}`, `--token=${this.joinToken()}`, `--ca-file=${this.caFile}`);
    }
    return args;
  }

  /** Starts host i's agent inside its netns (joining on the first start), in its own process group. */
  startAgent(index: number): HostAgent {
    const h = this.host(index);
    if (this.agents.get(index)?.isRunning()) throw new Error(`the agent of ${h.name} is already running`);
    const starts = this.agentStarts.get(index) ?? 0;
    this.agentStarts.set(index, starts + 1);
    mkdirSync(this.stateDir(index), { recursive: true, mode: 0o700 });
    const argv = localHosts.inHost(h, [process.execPath, ...this.agentArgs(index, starts === 0)]);
    const { agent } = spawnGroup(argv, this.logPath(`agent-h${index}`));
    this.agents.set(index, agent);
    return agent;
  }

  /** SIGKILLs host i's agent's process group and waits for it to exit; its containers keep running. */
  async killAgent(index: number): Promise<void> {
    const agent = this.agents.get(index);
    if (!agent) return;
    killGroup(agent.pid, 'SIGKILL');
    await agent.exited;
  }

  /**
   * A host dies: its agent's process group, then every process of the host (found by the
   * netns and cgroups the host made, never by name: conmon monitors, containers) get
   * SIGKILL, and its link goes down. restartHost brings it back.
   */
  async killHost(index: number): Promise<void> {
    const h = this.host(index);
    await this.killAgent(index);
    localHosts.killHostProcesses(h);
    localHosts.setHostLink(this.plan, index, false);
  }

  /** Cuts host i off the bridge (everything on it keeps running). */
  cutOff(index: number): void {
    localHosts.setHostLink(this.plan, index, false);
  }

  reconnect(index: number): void {
    localHosts.setHostLink(this.plan, index, true);
  }

  /** The host comes back: link up, its agent started again with the same state dir. */
  restartHost(index: number): HostAgent {
    this.reconnect(index);
    return this.startAgent(index);
  }

  /**
   * Every host back: links up, stopped agents started again, N nodes Ready. A test calls
   * it first, so an earlier test that failed half-way leaves no host down behind it.
   */
  async heal(timeoutMs = 90_000): Promise<void> {
    for (const h of this.plan.hosts) {
      this.reconnect(h.index);
      if (!this.agents.get(h.index)?.isRunning()) this.startAgent(h.index);
    }
    for (const c of this.controllers) if (!c.process.isRunning()) await this.restartController(c);
    await this.waitNodesReady(timeoutMs);
  }

  /** Restarts etcd, then waits until every running controller reads from it again. */
  async restartEtcd(): Promise<void> {
    await this.etcd?.stop();
    this.etcd = await this.launchEtcd();
    for (const c of this.controllers) {
      if (!c.process.isRunning()) continue;
      const admin = await AdminClient.fromConfigFile(c.adminConfig);
      try {
        const healthy = async (): Promise<boolean> => {
          const status = await admin.clusterStatus();
          return status.components.find((x) => x.name === 'etcd')?.healthy === true;
        };
        await waitFor(`${c.name} to reach etcd again`, healthy, {
          timeoutMs: 60_000,
          intervalMs: 250,
        });
      } finally {
        admin.close();
      }
    }
  }

  async restartNats(): Promise<void> {
    await this.nats?.stop();
    this.nats = await this.launchNats();
  }

  /** The controller that leads, as the first answering controller reports it. */
  async leader(): Promise<HostController | undefined> {
    for (const c of this.controllers) {
      if (!c.process.isRunning()) continue;
      const admin = await AdminClient.fromConfigFile(c.adminConfig);
      try {
        const status = await admin.clusterStatus();
        const leader = status.components.find((x) => x.name === 'leader');
        if (leader?.endpoint) return this.controllers.find((x) => x.address === leader.endpoint);
      } catch {
        // this one does not answer; ask the next
      } finally {
        admin.close();
      }
    }
    return undefined;
  }

  /** SIGKILLs the leading controller; returns it (restartController starts it again). */
  async killLeader(): Promise<HostController> {
    const leader = await waitFor('a controller to lead', () => this.leader(), { timeoutMs: 30_000 });
    leader.process.kill('SIGKILL');
    await leader.process.exited;
    return leader;
  }

  async restartController(c: HostController): Promise<void> {
    if (c.process.isRunning()) await c.process.stop();
    c.process = this.spawnController(c.name, c.address, c.dataDir);
    await this.waitControllerAnswers(c);
  }

  /** An admin client of a running controller. */
  async admin(): Promise<AdminClient> {
    const c = this.controllers.find((x) => x.process.isRunning());
    if (!c) throw new Error('no controller is running');
    return AdminClient.fromConfigFile(c.adminConfig);
  }

  private cliEnv(): NodeJS.ProcessEnv {
    const c = this.controllers.find((x) => x.process.isRunning()) ?? this.controllers[0];
    // The CLI runs as users run it: bin/deploy.js executed (its launcher, see there), with
    // this Node first on PATH for the launcher's exec.
    return {
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      HOME: this.dir,
      FLOTILLA_CONFIG: c?.adminConfig ?? this.adminConfig,
      FLOTILLA_IMAGE_ROOT: join(this.dir, 'cli-images'),
      FLOTILLA_AUTH_FILE: join(this.dir, 'cli-auth.json'),
      FLOTILLA_LOG_LEVEL: '',
    };
  }

  /** Runs `deploy ARGS` against the cluster (the admin config of a running controller). */
  deploy(args: string[], options: DeployOptions = {}): Promise<RunResult> {
    return runCommand(deployMain, args, {
      env: { ...this.cliEnv(), ...options.env },
      timeoutMs: options.timeoutMs ?? 120_000,
      ...(options.stdin !== undefined ? { input: options.stdin } : {}),
    });
  }

  /** `deploy ARGS`, failing with its output unless it exits 0; returns stdout. */
  async deployOk(args: string[], options: DeployOptions = {}): Promise<string> {
    const r = await this.deploy(args, options);
    if (r.code !== 0) throw new Error(`deploy ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** The base image (as `deploy up` makes it) and the examples, built and pushed by the CLI. */
  private async buildImages(): Promise<void> {
    await commitBusyboxBase(join(this.dir, 'cli-images'), this.dir);
    this.images = exampleImages(this.registryHost);
    // Plain HTTP: the registry is on the bridge address, which only this machine reaches.
    const steps = examplePushSteps(this.images, [`--insecure-registry=${this.registryHost}`]);
    for (const step of steps) await this.deployOk(step, { timeoutMs: 300_000 });
  }

  async nodes(): Promise<Node[]> {
    const admin = await this.admin();
    try {
      return (await admin.listNodes()).items;
    } finally {
      admin.close();
    }
  }

  async waitNodesReady(timeoutMs = 90_000): Promise<Node[]> {
    return waitFor(
      `${this.plan.hosts.length} nodes to be Ready`,
      async () => {
        for (const [i, a] of this.agents) {
          if (!a.isRunning())
            throw new Error(`the agent of host ${i} exited: ${readFileSync(a.logPath, 'utf8').slice(-2000)}`);
        }
        const nodes = await this.nodes();
        const ready = nodes.filter(isReady);
        return ready.length >= this.plan.hosts.length ? ready : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  /** Waits until the node of host i has the Ready status wanted ("True", "False" or "Unknown"). */
  async waitNodeReadyStatus(
    index: number,
    want: 'True' | 'False' | 'Unknown' | 'NotTrue',
    timeoutMs = 60_000,
  ): Promise<Node> {
    const name = this.host(index).name;
    return waitFor(
      `node ${name} Ready=${want}`,
      async () => {
        const node = (await this.nodes()).find((n) => n.metadata?.name === name);
        const status = node?.status?.conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
        const ok = want === 'NotTrue' ? status !== 'True' : status === want;
        return ok ? node : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  /** An HTTP GET from this machine (root netns) to a host's address; the body, or why not. */
  static async get(
    url: string,
    timeoutMs = 2_000,
  ): Promise<{ status: number; body: string } | { error: string }> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      return { error: cause ?? (err as Error).message };
    }
  }

  /**
   * The runc status of a container of host i ("running", "stopped", …), or "gone" when runc
   * no longer knows it. containerID as pod status reports it ("runc://ID").
   */
  runcStatus(index: number, containerID: string): string {
    const id = containerID.replace(/^runc:\/\//, '');
    try {
      const out = execFileSync('runc', ['--root', join(this.stateDir(index), 'runc'), 'state', id], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      return (JSON.parse(out) as { status?: string }).status ?? 'unknown';
    } catch {
      return 'gone';
    }
  }

  /** Stops every process and removes everything carrying the prefix. Idempotent. */
  async destroy(): Promise<void> {
    live.delete(this);
    for (const [i] of this.agents) await this.killAgent(i);
    for (const c of this.controllers) await c.process.stop();
    await this.registry?.stop();
    await this.nats?.stop();
    await this.etcd?.stop();
    this.cleanupSync();
  }

  /** The synchronous part of destroy(), also run by the exit handler after a crash. */
  cleanupSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const a of this.agents.values()) if (a.isRunning() || isPidAlive(a.pid)) killGroup(a.pid, 'SIGKILL');
    for (const p of [this.etcd, this.nats, this.registry, ...this.controllers.map((c) => c.process)])
      p?.kill('SIGKILL');
    if (process.env.FLOTILLA_KEEP_TEST_DIRS) {
      // Keep the directory (logs): tear down everything else of the prefix.
      localHosts.teardownHosts(this.prefix, []);
      return;
    }
    teardownHostsRun(this.prefix);
  }
}
