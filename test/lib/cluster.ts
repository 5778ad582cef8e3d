// A control plane for tests: real etcd, controller init, nats-server in operator mode,
// and the controller as a separate process, so tests can SIGKILL and restart each part.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentNodeFlags, controllerNodeFlags } from '@flotilla/common';
import { freePort } from './ports.js';
import { runCommand, spawnManaged, type ManagedProcess } from './processes.js';
import { startEtcd, startNats, type EtcdServer, type NatsServer } from './servers.js';
import { waitFor } from './wait.js';
import { readClientConfig } from '@flotilla/common';
import { AdminClient } from './clients.js';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'controller', 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root above ' + import.meta.url);
    dir = parent;
  }
  return dir;
}

export const repoRoot = findRepoRoot();
export const controllerMain = join(repoRoot, 'controller', 'dist', 'main.js');
// As users run it: the agent's bin, which runs its bundle while fresh (scripts/bundle-agent.mjs).
export const agentMain = join(repoRoot, 'agent', 'bin', 'flotilla-agent.js');
// What users run (npx deploy): the bundled CLI while it is fresh (scripts/bundle-cli.mjs).
export const deployMain = join(repoRoot, 'deploy', 'bin', 'deploy.js');

/** A fresh directory for one test run, named with the run's prefix. */
export function makeRunDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `flt-test-${label}-`));
}

export interface ControlPlaneOptions {
  /** Heartbeat grace before a node is NotReady; short in tests so they finish quickly. */
  nodeGrace?: string;
  /** More flags for flotilla-controller serve ("--service-cidr=10.96.0.0/28"). */
  controllerArgs?: string[];
  /** NotReady this long before a node's pods are evicted (the controller's default: 3s). */
  evictionTimeout?: string;
  /** The controller's --log-level (default debug; benchmarks use info, as in production). */
  logLevel?: string;
  /** Flags for node itself before the controller's script (["--cpu-prof", ...]), after controllerNodeFlags. */
  nodeArgs?: string[];
  /** Run the controller with Node's defaults instead of controllerNodeFlags (for comparisons). */
  noControllerNodeFlags?: boolean;
}

/** A further controller replica against the same etcd and NATS (leader election). */
export interface ControllerReplica {
  process: ManagedProcess;
  /** host:port of its API. */
  address: string;
}

export class ControlPlane {
  readonly dir: string;
  etcd!: EtcdServer;
  nats!: NatsServer;
  controller!: ManagedProcess;
  apiAddress = '';
  natsPort = 0;
  admin!: AdminClient;
  private readonly options: ControlPlaneOptions;

  constructor(dir: string, options: ControlPlaneOptions = {}) {
    this.dir = dir;
    this.options = options;
  }

  get controllerDataDir(): string {
    return join(this.dir, 'controller');
  }
  get adminConfigPath(): string {
    return join(this.controllerDataDir, 'admin.yaml');
  }
  get caFile(): string {
    return join(this.controllerDataDir, 'ca.crt');
  }
  get natsUrl(): string {
    return `nats://127.0.0.1:${this.natsPort}`;
  }
  /** The token that init created. */
  joinToken(): string {
    return readFileSync(join(this.controllerDataDir, 'join-token'), 'utf8').trim();
  }

  async start(): Promise<void> {
    this.etcd = await startEtcd(this.dir);
    this.natsPort = await freePort();
    this.apiAddress = `127.0.0.1:${await freePort()}`;
    const init = await runCommand(process.execPath, [
      controllerMain,
      'init',
      `--etcd-endpoints=${this.etcd.endpoint}`,
      `--data-dir=${this.controllerDataDir}`,
      `--nats-listen=127.0.0.1:${this.natsPort}`,
      `--listen=${this.apiAddress}`,
      `--admin-config=${this.adminConfigPath}`,
      `--token-file=${join(this.controllerDataDir, 'join-token')}`,
    ]);
    if (init.code !== 0)
      throw new Error(`controller init failed (${init.code}):\n${init.stdout}\n${init.stderr}`);
    this.nats = await startNats(this.dir, join(this.controllerDataDir, 'nats-server.conf'), this.natsPort);
    await this.startController();
    this.admin = await AdminClient.fromConfigFile(this.adminConfigPath);
    await waitFor('the controller to answer ListNodes', () => this.admin.listNodes().then(() => true), {
      timeoutMs: 20_000,
    });
  }

  private spawnController(name: string, address: string, dataDir: string): ManagedProcess {
    const args = [
      ...(this.options.noControllerNodeFlags ? [] : controllerNodeFlags),
      ...(this.options.nodeArgs ?? []),
      controllerMain,
      'serve',
      `--etcd-endpoints=${this.etcd.endpoint}`,
      `--nats-url=${this.natsUrl}`,
      `--listen=${address}`,
      `--data-dir=${dataDir}`,
      `--node-grace=${this.options.nodeGrace ?? '2s'}`,
      `--log-level=${this.options.logLevel ?? 'debug'}`,
    ];
    if (this.options.evictionTimeout) args.push(`--eviction-timeout=${this.options.evictionTimeout}`);
    args.push(...(this.options.controllerArgs ?? []));
    return spawnManaged({ name, command: process.execPath, args, logPath: join(this.dir, `${name}.log`) });
  }

  /** Starts another controller on a port of its own; the caller stops it. */
  async startReplica(name: string): Promise<ControllerReplica> {
    const address = `127.0.0.1:${await freePort()}`;
    const proc = this.spawnController(name, address, join(this.dir, name));
    const admin = await this.adminFor(address);
    try {
      await waitFor(`${name} to answer`, () => admin.listNodes().then(() => true), { timeoutMs: 20_000 });
    } finally {
      admin.close();
    }
    return { process: proc, address };
  }

  /** An admin client of the controller at address (a replica), with the admin config's identity. */
  async adminFor(address: string): Promise<AdminClient> {
    const config = await readClientConfig(this.adminConfigPath);
    return AdminClient.forTls(address, config.caCertificate, config.clientCertificate, config.clientKey);
  }

  async startController(): Promise<void> {
    this.controller = this.spawnController('controller', this.apiAddress, this.controllerDataDir);
    if (this.admin) {
      await waitFor('the restarted controller to answer', () => this.admin.listNodes().then(() => true), {
        timeoutMs: 20_000,
      });
    }
  }

  startAgent(options: AgentOptions): ManagedProcess {
    const args = [
      ...agentNodeFlags,
      agentMain,
      `--state-dir=${options.stateDir}`,
      `--heartbeat-interval=${options.heartbeatInterval ?? '300ms'}`,
      // Several agents share this host: each Agent service on a free port.
      '--agent-listen=:0',
    ];
    if (options.join !== false) args.push(`--join=${this.apiAddress}`);
    if (options.token !== undefined) args.push(`--token=${options.token}`);
    if (options.caCertHash !== undefined) args.push(`--ca-cert-hash=${options.caCertHash}`);
    else args.push(`--ca-file=${this.caFile}`);
    if (options.nodeName !== undefined) args.push(`--node-name=${options.nodeName}`);
    if (options.labels !== undefined) args.push(`--labels=${options.labels}`);
    args.push('--log-level=debug');
    return spawnManaged({
      name: `agent-${options.nodeName ?? 'default'}`,
      command: process.execPath,
      args,
      logPath: join(this.dir, `agent-${options.nodeName ?? 'default'}.log`),
    });
  }

  async stop(): Promise<void> {
    this.admin?.close();
    await this.controller?.stop();
    await this.nats?.stop();
    await this.etcd?.stop();
  }

  /** Stops everything and removes the run's directory, unless FLOTILLA_KEEP_TEST_DIRS is set. */
  async destroy(): Promise<void> {
    await this.stop();
    if (!process.env.FLOTILLA_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface AgentOptions {
  stateDir: string;
  nodeName?: string;
  token?: string;
  caCertHash?: string;
  labels?: string;
  heartbeatInterval?: string;
  /** false: start without --join (an agent that has joined before remembers it). */
  join?: boolean;
}
