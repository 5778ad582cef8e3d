// A whole cluster on this host for the Docker-workflow end-to-end tests: real etcd,
// nats-server, docker-registry, controller and ONE agent running pods with runc, conmon
// and CNI. Everything the run creates carries its prefix ("flt" + 6 hex digits) or lives
// under its run directory: the agent's state dir, runc root, cgroup parent, CNI bridge,
// netns names, pod CIDR and gRPC port are per run, so two runs (or a run and a real
// cluster) never share anything. The test images are built and pushed with the real
// `deploy` CLI; the tests drive nothing but that CLI (and the admin API where the CLI
// has no flag, e.g. probes).
//
// Teardown is synchronous (it also runs from the exit handler after a crash): it stops
// the processes this run started (by PID), deletes the runc containers under its root,
// kills what is left of their conmon monitors, unmounts what is mounted under the run
// directory, deletes the run's netns, bridge, iptables rules and chains, and cgroups,
// then the run directory. `leftovers()` lists whatever still carries the prefix.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { agentNodeFlags, splitIptablesRule } from '@flotilla/common';
import { Pod } from '@flotilla/proto';
import { agentMain, ControlPlane, deployMain, makeRunDir } from './cluster.js';
import { isReady } from './clients.js';
import { commitBusyboxBase, exampleImages, examplePushSteps } from './example-images.js';
import { freePort } from './ports.js';
import { runCommand, spawnManaged, type ManagedProcess, type RunResult } from './processes.js';
import { startRegistry, type RegistryServer } from './registry.js';
import { waitFor } from './wait.js';

/** Why the Docker e2e tests cannot run here, or false. */
export function dockerE2eSkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (runc, CNI, cgroups)';
  for (const tool of ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/lib/cni/bridge', '/usr/bin/script']) {
    if (!existsSync(tool)) return `needs ${tool} (scripts/setup.sh installs it)`;
  }
  return false;
}

export interface DeployOptions {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** What the agent gets, per run; `agentFlags()` turns it into flags. */
export interface AgentSettings {
  stateDir: string;
  imageRoot: string;
  runcRoot: string;
  /** Absolute cgroupfs path every pod lives under. */
  cgroupParent: string;
  bridgeName: string;
  networkName: string;
  netnsPrefix: string;
  podCidr: string;
  cniDataDir: string;
  grpcPort: number;
}

export interface RuncContainer {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function overlaps(a: string, b: string): boolean {
  const range = (cidr: string): [number, number] => {
    const [base = '', bits = '32'] = cidr.split('/');
    const size = 2 ** (32 - Number(bits));
    const start = Math.floor(ipv4ToInt(base) / size) * size;
    return [start, start + size - 1];
  };
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
}

/** A random 10.x.y.0/24 that no route on the host overlaps. */
function unusedPodCidr(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ').find((w) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(w)))
    .filter((w): w is string => w !== undefined)
    .map((w) => (w.includes('/') ? w : `${w}/32`));
  for (;;) {
    const [a = 0, b = 0] = randomBytes(2);
    const cidr = `10.${a}.${b}.0/24`;
    if (!routes.some((r) => overlaps(r, cidr))) return cidr;
  }
}

function quiet(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function processesMentioning(texts: string[]): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (texts.some((t) => cmd.includes(t))) found.push({ pid: Number(entry), cmd: cmd.slice(0, 200) });
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Mount points whose path holds one of texts, deepest first. */
function mountsMentioning(texts: string[]): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p !== '' && texts.some((t) => p.includes(t)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Directories named like the cgroup parent under every cgroup hierarchy (not symlinks). */
function cgroupDirs(cgroupParent: string): string[] {
  const out: string[] = [];
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return out;
  const hierarchies = [base, ...readdirSync(base).map((d) => join(base, d))];
  for (const h of hierarchies) {
    try {
      if (lstatSync(h).isSymbolicLink() || !lstatSync(h).isDirectory()) continue;
    } catch {
      continue;
    }
    const dir = join(h, cgroupParent);
    if (existsSync(dir)) out.push(dir);
  }
  return out;
}

function removeCgroupTree(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return;
  }
  for (const child of entries) removeCgroupTree(join(dir, child));
  try {
    // A frozen cgroup (runc pause) cannot lose its processes; thaw it first.
    if (existsSync(join(dir, 'freezer.state')))
      execFileSync('sh', ['-c', `echo THAWED > '${dir}/freezer.state'`]);
  } catch {
    // not a freezer cgroup
  }
  try {
    execFileSync('rmdir', [dir], { stdio: 'ignore' });
  } catch {
    // still has processes, or already gone; leftovers() reports it
  }
}

const live = new Set<DockerCluster>();
process.on('exit', () => {
  for (const cluster of live) cluster.cleanupSync();
});

/** One `run -it` through a pseudo-terminal. */
export class PtySession {
  output = '';
  readonly exited: Promise<number>;
  private readonly child: ChildProcess;
  private readonly resizer: (rows: number, cols: number) => void;

  constructor(child: ChildProcess, resizer: (rows: number, cols: number) => void) {
    this.child = child;
    this.resizer = resizer;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      child.once('error', () => resolve(-1));
    });
  }

  write(text: string): void {
    this.child.stdin?.write(text);
  }

  /** Changes the terminal's window size (the program gets SIGWINCH). */
  resize(rows: number, cols: number): void {
    this.resizer(rows, cols);
  }

  /** Waits until the output after `from` matches re; returns the match and where it ended. */
  async expect(re: RegExp, description: string, from = 0, timeoutMs = 60_000): Promise<RegExpExecArray> {
    try {
      return await waitFor(
        description,
        () => {
          const match = re.exec(this.output.slice(from));
          if (match) match.index += from;
          return match ?? undefined;
        },
        { timeoutMs, intervalMs: 50 },
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; the terminal showed: ${JSON.stringify(this.output.slice(from).slice(-1500))}`,
      );
    }
  }

  /** The exit code, or undefined when it did not exit in time. */
  async exitCode(timeoutMs = 60_000): Promise<number | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)),
    );
    const code = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    return code;
  }

  close(): void {
    this.child.stdin?.end();
    this.child.kill('SIGKILL');
  }
}

/**
 * Runs argv with a real pseudo-terminal as its stdin/stdout/stderr, through util-linux
 * `script -qfec CMD /dev/null`: script allocates the pty, makes it the child's controlling
 * terminal, copies its own stdin (our pipe) to the master and the master to its stdout (our
 * pipe); -e returns the child's exit code, -f flushes at once. Chosen over an npm pty
 * module because util-linux is on every Debian host and needs no native add-on. Before
 * exec'ing argv the shell sets the window size, and a helper left in the same process
 * group applies `resize(rows, cols)` later with stty, so the kernel sends the program
 * SIGWINCH exactly as a terminal emulator's resize would.
 */
export function spawnPty(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; dir: string; size?: { rows: number; cols: number } },
): PtySession {
  const size = options.size ?? { rows: 40, cols: 100 };
  const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const resizeDir = join(options.dir, `pty-${randomBytes(4).toString('hex')}`);
  mkdirSync(resizeDir, { recursive: true });
  // The helper applies each file "ROWSxCOLS" that appears in resizeDir to the terminal (its
  // stdin is the pty); it ends with the session (SIGHUP) or when resizeDir goes.
  const helper =
    `(while [ -d ${quote(resizeDir)} ]; do for f in ${quote(resizeDir)}/*x*; do ` +
    `[ -e "$f" ] || continue; n=\${f##*/}; stty rows "\${n%x*}" cols "\${n#*x}" </dev/tty; rm -f "$f"; done; ` +
    `sleep 0.1; done) &`;
  const command = [`stty rows ${size.rows} cols ${size.cols};`, helper, 'exec', ...argv.map(quote)].join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, ...options.env, TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const session = new PtySession(child, (rows, cols) => {
    execFileSync('touch', [join(resizeDir, `${rows}x${cols}`)]);
  });
  void session.exited.then(() => rmSync(resizeDir, { recursive: true, force: true }));
  return session;
}

export interface DockerClusterOptions {
  /** A short label: the node is named <prefix>-<label>. */
  label: string;
  /**
   * The controller's and the agent's --log-level and the agent's --heartbeat-interval.
   * Tests log at debug and beat every 300 ms; benchmarks run the defaults a user gets
   * (info, 1s), since both cost CPU on every pod.
   */
  logLevel?: string;
  heartbeatInterval?: string;
}

export class DockerCluster {
  readonly prefix: string;
  readonly dir: string;
  readonly plane: ControlPlane;
  readonly nodeName: string;
  readonly settings: AgentSettings;
  registry!: RegistryServer;
  agent: ManagedProcess | undefined;
  private agentStarts = 0;
  images = { busybox: '', hello: '', web: '' };
  private cleaned = false;
  /** portmap chains seen jumped to by our rules, to check they are gone afterwards. */
  private readonly seenChains = new Set<string>();
  private readonly cliEnv: NodeJS.ProcessEnv;

  private constructor(
    private readonly options: DockerClusterOptions,
    prefix: string,
    grpcPort: number,
  ) {
    this.prefix = prefix;
    // Short: conmon's socket paths under the state dir must stay within sun_path's 108 bytes.
    this.dir = makeRunDir(prefix);
    this.plane = new ControlPlane(this.dir, { nodeGrace: '3s', logLevel: options.logLevel ?? 'debug' });
    this.nodeName = `${prefix}-${options.label}`;
    const stateDir = join(this.dir, 'agent');
    this.settings = {
      stateDir,
      imageRoot: join(stateDir, 'images'),
      runcRoot: join(this.dir, 'runc'),
      cgroupParent: `/${prefix}-pods`,
      bridgeName: `${prefix}br0`,
      // The agent names its CNI network after the bridge: flotilla-<bridge>.
      networkName: `flotilla-${prefix}br0`,
      netnsPrefix: prefix,
      podCidr: unusedPodCidr(),
      cniDataDir: join(stateDir, 'cni'),
      grpcPort,
    };
    // The CLI runs as users run it: bin/deploy.js executed (its launcher, see there), with
    // this Node first on PATH for the launcher's exec.
    this.cliEnv = {
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      HOME: this.dir,
      FLOTILLA_CONFIG: this.plane.adminConfigPath,
      FLOTILLA_IMAGE_ROOT: join(this.dir, 'cli-images'),
      FLOTILLA_AUTH_FILE: join(this.dir, 'cli-auth.json'),
      FLOTILLA_LOG_LEVEL: '',
    };
  }

  /** Starts everything, builds and pushes the images, waits for the node to be Ready. */
  static async start(options: DockerClusterOptions): Promise<DockerCluster> {
    const prefix = `flt${randomBytes(3).toString('hex')}`;
    const cluster = new DockerCluster(options, prefix, await freePort());
    live.add(cluster);
    try {
      await cluster.plane.start();
      cluster.registry = await startRegistry(cluster.dir);
      await cluster.buildImages();
      cluster.startAgent();
      await cluster.waitNodeReady();
    } catch (err) {
      // Nothing started so far may outlive the failure.
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  get admin(): ControlPlane['admin'] {
    return this.plane.admin;
  }

  /**
   * Creates a pod from a manifest through the admin API (for what `deploy run` has no
   * flag for, e.g. probes): namespace default, bound to this run's node.
   */
  createPod(name: string, spec: Record<string, unknown>): Promise<Pod> {
    return this.admin.createPod(
      Pod.fromJSON({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { nodeName: this.nodeName, ...spec },
      }),
    );
  }

  /** `deploy ARGS` as a running child process (stdin ignored), for commands that follow. */
  deployChild(args: string[]): ChildProcess {
    return spawn(deployMain, args, {
      env: { ...process.env, ...this.cliEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Runs `deploy ARGS` as a child process with the admin config. */
  deploy(args: string[], options: DeployOptions = {}): Promise<RunResult> {
    return runCommand(deployMain, args, {
      env: { ...this.cliEnv, ...options.env },
      timeoutMs: options.timeoutMs ?? 120_000,
      ...(options.stdin !== undefined ? { input: options.stdin } : {}),
    });
  }

  /** `deploy ARGS` with a real pseudo-terminal as its stdin/stdout/stderr (see spawnPty). */
  pty(args: string[], size = { rows: 40, cols: 100 }): PtySession {
    return spawnPty([deployMain, ...args], { env: this.cliEnv, dir: this.dir, size });
  }

  /** The agent flags for this run: every per-run name, so nothing touches another run's. */
  private agentArgs(join: boolean): string[] {
    const s = this.settings;
    const flags: [string, string][] = [
      ['state-dir', s.stateDir],
      ['node-name', this.nodeName],
      ['address', '127.0.0.1'],
      ['heartbeat-interval', this.options.heartbeatInterval ?? '300ms'],
      ['image-root', s.imageRoot],
      ['image-gc-high-threshold', '100'],
      ['image-gc-low-threshold', '100'],
      ['runc-root', s.runcRoot],
      ['cgroup-parent', s.cgroupParent],
      ['bridge-name', s.bridgeName],
      ['netns-prefix', s.netnsPrefix],
      ['pod-cidr', s.podCidr],
      // Tests send no traffic beyond loopback: no forwarding to this machine's nameservers.
      ['dns-upstreams', 'none'],
      ['agent-listen', `127.0.0.1:${s.grpcPort}`],
      ['log-level', this.options.logLevel ?? 'debug'],
    ];
    if (join) {
      flags.push(
        ['join', this.plane.apiAddress],
        ['token', this.plane.joinToken()],
        ['ca-file', this.plane.caFile],
      );
    }
    // An unknown flag makes the agent exit 2 with its name, which startAgent's callers see.
    return [...agentNodeFlags, agentMain, ...flags.map(([name, value]) => `--${name}=${value}`)];
  }

  /** Starts the agent (joining on the first start); the same flags and state dir every time. */
  startAgent(): ManagedProcess {
    if (this.agent?.isRunning()) throw new Error('the agent is already running');
    const args = this.agentArgs(this.agentStarts === 0);
    this.agentStarts += 1;
    // spawnManaged tracks it by PID; the exit handler kills it after a crash.
    this.agent = spawnAgent(args, join(this.dir, `agent-${this.agentStarts}.log`));
    return this.agent;
  }

  /** SIGKILLs the agent and waits until it is gone; its containers keep running. */
  async killAgent(): Promise<void> {
    const agent = this.agent;
    if (!agent) return;
    agent.kill('SIGKILL');
    await agent.exited;
  }

  async waitNodeReady(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `node ${this.nodeName} to be Ready (agent log: ${this.agent?.logPath ?? 'none'})`,
      async () => {
        if (this.agent && !this.agent.isRunning())
          throw new Error(`the agent exited: ${this.agent.log().slice(-2000)}`);
        const node = await this.admin.getNode(this.nodeName);
        return isReady(node);
      },
      { timeoutMs },
    );
  }

  /** The base image (as `deploy up` makes it) and the examples, built and pushed by the CLI. */
  private async buildImages(): Promise<void> {
    await commitBusyboxBase(this.cliEnv.FLOTILLA_IMAGE_ROOT ?? '', this.dir);
    this.images = exampleImages(this.registry.host);
    const steps = examplePushSteps(this.images);
    for (const step of steps) {
      const result = await this.deploy(step, { timeoutMs: 300_000 });
      if (result.code !== 0)
        throw new Error(
          `deploy ${step.join(' ')} failed (${result.code}):\n${result.stdout}\n${result.stderr}`,
        );
    }
  }

  /** `runc list` under this run's root. */
  runcContainers(): RuncContainer[] {
    if (!existsSync(this.settings.runcRoot)) return [];
    const out = quiet('runc', ['--root', this.settings.runcRoot, 'list', '--format', 'json']).trim();
    if (out === '' || out === 'null') return [];
    return (JSON.parse(out) as RuncContainer[]).map((c) => ({
      id: c.id,
      pid: c.pid,
      status: c.status,
      bundle: c.bundle,
    }));
  }

  /** The pod addresses host-local still holds for this run's network. */
  ipamLeases(): string[] {
    const dir = join(this.settings.cniDataDir, this.settings.networkName);
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  }

  /** SIGKILLs a container under this run's runc root (to end what a failed test left waiting). */
  runcKill(id: string): void {
    quiet('runc', ['--root', this.settings.runcRoot, 'kill', id, 'KILL']);
  }

  /** Netns names of this run. */
  netns(): string[] {
    return existsSync('/run/netns')
      ? readdirSync('/run/netns').filter((n) => n.startsWith(`${this.prefix}`))
      : [];
  }

  /** iptables-save lines of a table that mention the prefix or the network name. */
  private iptablesLines(table: string): string[] {
    return quiet('iptables-save', ['-t', table])
      .split('\n')
      .filter((l) => l.includes(this.prefix));
  }

  /** Removes every rule that names the run and the chains those rules jump to. */
  private cleanIptables(): void {
    for (const table of ['nat', 'filter', 'mangle']) {
      const lines = this.iptablesLines(table).filter((l) => l.startsWith('-A '));
      const chains = new Set<string>();
      for (const line of lines) {
        const words = splitIptablesRule(line);
        const jump = words.indexOf('-j');
        const target = jump >= 0 ? words[jump + 1] : undefined;
        if (target?.startsWith('CNI-') && !target.startsWith('CNI-HOSTPORT-')) chains.add(target);
        if (words[1]?.startsWith('CNI-') && !words[1].startsWith('CNI-HOSTPORT-')) chains.add(words[1]);
        quiet('iptables', ['-w', '-t', table, '-D', ...words.slice(1)]);
      }
      // Chains whose own name carries the prefix.
      for (const line of quiet('iptables-save', ['-t', table]).split('\n')) {
        const m = /^:(\S+)/.exec(line);
        if (m?.[1]?.includes(this.prefix)) chains.add(m[1]);
      }
      for (const chain of chains) {
        this.seenChains.add(`${table}/${chain}`);
        quiet('iptables', ['-w', '-t', table, '-F', chain]);
        quiet('iptables', ['-w', '-t', table, '-X', chain]);
      }
    }
  }

  /** Remembers the portmap chains the run's rules jump to, before anything removes them. */
  notePortmapChains(): void {
    for (const table of ['nat', 'filter']) {
      for (const line of this.iptablesLines(table)) {
        const words = splitIptablesRule(line);
        const jump = words.indexOf('-j');
        const target = jump >= 0 ? words[jump + 1] : undefined;
        if (target?.startsWith('CNI-') && !target.startsWith('CNI-HOSTPORT-'))
          this.seenChains.add(`${table}/${target}`);
      }
    }
  }

  /** Everything that still carries the run's prefix or lives under its run directory. */
  leftovers(): string[] {
    const found: string[] = [];
    for (const p of processesMentioning([this.dir, this.prefix])) found.push(`process ${p.pid}: ${p.cmd}`);
    for (const m of mountsMentioning([this.dir, this.prefix])) found.push(`mount ${m}`);
    for (const n of this.netns()) found.push(`netns ${n}`);
    for (const line of quiet('ip', ['-o', 'link', 'show']).split('\n')) {
      if (line.includes(this.prefix)) found.push(`link ${line.split(':')[1]?.trim() ?? line}`);
    }
    for (const table of ['nat', 'filter', 'mangle']) {
      for (const line of this.iptablesLines(table)) found.push(`iptables -t ${table}: ${line}`);
      const chains = quiet('iptables-save', ['-t', table])
        .split('\n')
        .map((l) => /^:(\S+)/.exec(l)?.[1])
        .filter((c): c is string => c !== undefined);
      for (const chain of chains) {
        if (this.seenChains.has(`${table}/${chain}`)) found.push(`iptables -t ${table} chain ${chain}`);
      }
    }
    for (const dir of cgroupDirs(this.settings.cgroupParent)) found.push(`cgroup ${dir}`);
    for (const c of this.runcContainers()) found.push(`runc container ${c.id} (${c.status})`);
    if (existsSync(this.dir) && !process.env.FLOTILLA_KEEP_TEST_DIRS) found.push(`directory ${this.dir}`);
    const cniLeases = '/var/lib/cni/networks';
    if (existsSync(cniLeases)) {
      for (const n of readdirSync(cniLeases))
        if (n.includes(this.prefix)) found.push(`CNI leases ${join(cniLeases, n)}`);
    }
    return found;
  }

  /** Stops the processes and removes everything the run made. Idempotent. */
  async destroy(): Promise<void> {
    live.delete(this);
    this.notePortmapChains();
    await this.agent?.stop(10_000);
    this.plane.admin?.close();
    await this.plane.controller?.stop();
    await this.registry?.stop();
    await this.plane.nats?.stop();
    await this.plane.etcd?.stop();
    this.cleanupSync();
  }

  /** The synchronous part of destroy(), also run by the exit handler after a crash. */
  cleanupSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    this.notePortmapChains();
    // The agent and the control plane: managed children, killed by PID.
    this.agent?.kill('SIGKILL');
    for (const c of this.runcContainers()) {
      quiet('runc', ['--root', this.settings.runcRoot, 'delete', '--force', c.id]);
    }
    // conmon monitors of containers that never reached runc's list, exec sessions, and the
    // pty helper: processes started for this run, found by its unique directory, by PID.
    for (let round = 0; round < 3; round++) {
      const rest = processesMentioning([this.dir]);
      if (rest.length === 0) break;
      for (const p of rest) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      execFileSync('sleep', ['0.2']);
    }
    for (const point of mountsMentioning([this.dir, this.prefix])) {
      if (quiet('umount', [point]) === '' && mountsMentioning([point]).includes(point))
        quiet('umount', ['-l', point]);
    }
    for (const n of this.netns()) quiet('ip', ['netns', 'delete', n]);
    this.cleanIptables();
    quiet('ip', ['link', 'delete', this.settings.bridgeName]);
    for (const line of quiet('ip', ['-o', 'link', 'show']).split('\n')) {
      const name = line.split(':')[1]?.trim().split('@')[0];
      if (name?.includes(this.prefix)) quiet('ip', ['link', 'delete', name]);
    }
    for (const dir of cgroupDirs(this.settings.cgroupParent)) removeCgroupTree(dir);
    const cniLeases = '/var/lib/cni/networks';
    if (existsSync(cniLeases)) {
      for (const n of readdirSync(cniLeases)) {
        if (n.includes(this.prefix)) rmSync(join(cniLeases, n), { recursive: true, force: true });
      }
    }
    if (process.env.FLOTILLA_KEEP_TEST_DIRS) return;
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // a busy mount; leftovers() reports the directory
    }
  }
}

function spawnAgent(args: string[], logPath: string): ManagedProcess {
  return spawnManaged({ name: 'agent', command: process.execPath, args, logPath });
}
