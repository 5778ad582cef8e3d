// The pod manager with real runc, conmon and CNI plugins, but no controller: a DesiredSet
// fed SNAPSHOT/ADDED/MODIFIED/DELETED by hand, images committed straight into the
// agent's image root. Pods run and report Running with their IP; two containers of a pod
// talk over localhost; exits, crash loops, OOM kills, read-only hostPaths and a missing
// command become statuses; a manager restarted over the same state re-adopts its
// containers and collects an exit that happened while it was down; deletion leaves no
// mount, netns, cgroup or directory. Every name carries this run's prefix.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createLogger, silentLogger } from '@flotilla/common';
import {
  ContainerRunner,
  DesiredSet,
  ImageService,
  PodManager,
  deleteNodeBridge,
  deletePodNetworkById,
  listPodNetworks,
  readCriLog,
  type NodeNetworkOptions,
  type PodStatusUpdate,
} from '@flotilla/agent';
import {
  busyboxImageConfig,
  busyboxRootfs,
  commitBaseImage,
  mountsUnder,
  openLocalImages,
  unmount,
} from '@flotilla/images';
import { AssignmentEvent_Type as Type, Pod, type ContainerStatus, type PodStatus } from '@flotilla/proto';
import { freePort, makeRunDir, runCommand, waitFor } from '../lib/index.js';

const tools = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/lib/cni/bridge'].every((p) => existsSync(p));
const skip =
  process.getuid?.() !== 0 ? 'needs root' : !tools ? 'needs runc, conmon and the CNI plugins' : false;

const run = makeRunDir('pods');
const prefix = `flt${randomBytes(3).toString('hex')}`;
const cgroupParent = `/flt-test-${prefix}`;
const runcRoot = join(run, 'runc');
const runnerStateDir = join(run, 'runtime');
const podsDir = join(run, 'pods');
const imageRoot = join(run, 'images');
const hostDir = join(run, 'host');

function cgroupDirs(): string[] {
  const out: string[] = [];
  const root = '/sys/fs/cgroup';
  for (const controller of existsSync(root) ? readdirSync(root) : []) {
    const dir = join(root, controller, cgroupParent);
    if (existsSync(dir)) out.push(dir);
  }
  return out;
}

/** Cgroup directories below dir, deepest first. */
function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

async function netnsWithPrefix(): Promise<string[]> {
  const list = (await runCommand('ip', ['netns', 'list'])).stdout;
  return list
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** A random 10.x.y.0/24 that no route on the host overlaps. */
async function unusedPodCidr(): Promise<string> {
  const routes = (await runCommand('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout
    .split('\n')
    .map((line) => line.split(' ').find((w) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(w)))
    .filter((w): w is string => w !== undefined)
    .map((w) => (w.includes('/') ? w : `${w}/32`));
  const inCidr = (ip: string, cidr: string): boolean => {
    const [base = '', bits = '32'] = cidr.split('/');
    const size = 2 ** (32 - Number(bits));
    return Math.floor(ipv4ToInt(ip) / size) === Math.floor(ipv4ToInt(base) / size);
  };
  for (;;) {
    const [a = 0, b = 0] = randomBytes(2);
    const cidr = `10.${a}.${b}.0/24`;
    if (!routes.some((r) => inCidr(`10.${a}.${b}.1`, r) || inCidr(r.split('/')[0] ?? '', cidr))) return cidr;
  }
}

let network: NodeNetworkOptions;
const desired = new DesiredSet();
let revision = 0;
let images: ImageService;
let manager: PodManager | undefined;
const latest = new Map<string, PodStatusUpdate>();
const all: PodStatusUpdate[] = [];

function newManager(): PodManager {
  const runner = new ContainerRunner({ runcRoot, stateDir: runnerStateDir, logger: silentLogger });
  const m = new PodManager({
    nodeName: 'pods-test',
    desired,
    images,
    runner,
    runnerStateDir,
    runc: '/usr/sbin/runc',
    runcRoot,
    network,
    podsDir,
    cgroupParent,
    hostIP: '127.0.0.1',
    // FLOTILLA_TEST_POD_LOG=<file> keeps the manager's log for debugging.
    logger: process.env.FLOTILLA_TEST_POD_LOG
      ? createLogger(
          { component: 'pods' },
          { write: (line) => appendFileSync(process.env.FLOTILLA_TEST_POD_LOG!, `${line}\n`) },
        )
      : silentLogger,
    resyncIntervalMs: 1_000,
  });
  m.events.on('status', (u) => {
    latest.set(`${u.namespace}/${u.name}`, u);
    all.push(u);
  });
  return m;
}

t.teardown(async () => {
  await manager?.stop();
  await images?.stop();
  if (existsSync(runcRoot)) {
    for (const id of readdirSync(runcRoot)) {
      try {
        execFileSync('/usr/sbin/runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // gone already
      }
    }
  }
  for (const point of await mountsUnder(run)) await unmount(point).catch(() => undefined);
  if (network !== undefined) {
    for (const id of listPodNetworks(network)) await deletePodNetworkById(id, network).catch(() => undefined);
    for (const name of await netnsWithPrefix()) await runCommand('ip', ['netns', 'delete', name]);
    await deleteNodeBridge(network).catch(() => undefined);
  }
  for (const dir of cgroupDirs()) {
    for (const d of cgroupTree(dir)) {
      try {
        execFileSync('rmdir', [d], { stdio: 'ignore' });
      } catch {
        // a controller linked to another (cpu,cpuacct) goes with it
      }
    }
  }
  rmSync(run, { recursive: true, force: true });
});

function pod(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): Pod {
  return Pod.fromJSON({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: randomUUID(), resourceVersion: String(++revision), ...meta },
    spec: { nodeName: 'pods-test', ...spec },
  });
}

function sh(name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, image: 'busybox', imagePullPolicy: 'Never', command: ['sh', '-c', script], ...extra };
}

function send(type: Type, pods: Pod[]): void {
  desired.apply({ type, revision: ++revision, pods });
}

function statusOf(name: string): PodStatus | undefined {
  const u = latest.get(`default/${name}`);
  return u?.removed === false ? u.status : undefined;
}

function containerOf(name: string, container: string): ContainerStatus | undefined {
  return statusOf(name)?.containerStatuses.find((c) => c.name === container);
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  return waitFor(what, () => check(), { timeoutMs, intervalMs: 50 });
}

async function logOf(path: string): Promise<string> {
  let text = '';
  for await (const e of readCriLog(path)) text += `${e.text}\n`;
  return text;
}

t.test('pods under the manager', { skip }, async (t) => {
  network = {
    networkName: `${prefix}-net`,
    bridgeName: `${prefix}br`,
    podCidr: await unusedPodCidr(),
    ipamDataDir: join(run, 'cni'),
    netnsPrefix: prefix,
    cniBinDir: '/usr/lib/cni',
  };
  const local = openLocalImages(imageRoot, { logger: silentLogger });
  await busyboxRootfs(join(run, 'busybox-rootfs'));
  await commitBaseImage(
    local,
    'docker.io/library/busybox:latest',
    join(run, 'busybox-rootfs'),
    busyboxImageConfig(),
  );
  rmSync(join(run, 'busybox-rootfs'), { recursive: true, force: true });
  images = new ImageService({ root: imageRoot, desired, logger: silentLogger });
  images.start();
  manager = newManager();
  await manager.start();
  mkdirSync(hostDir, { recursive: true });
  writeFileSync(join(hostDir, 'greeting'), 'hello from the host\n');

  const duo = pod('duo', {
    restartPolicy: 'Never',
    containers: [
      sh('server', 'echo hello-over-localhost > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'),
      sh(
        'client',
        'for i in $(seq 1 100); do wget -qO- http://127.0.0.1:8080/index.html && exit 0; sleep 0.1; done; exit 1',
      ),
    ],
  });
  const crash = pod('crash', { restartPolicy: 'Always', containers: [sh('crash', 'echo crashing; exit 2')] });
  const oom = pod('oom', {
    restartPolicy: 'Never',
    containers: [sh('oom', 'tail /dev/zero', { resources: { limits: { memory: '16Mi' } } })],
  });
  const ro = pod('ro', {
    restartPolicy: 'Never',
    volumes: [{ name: 'host', hostPath: { path: hostDir, type: 'Directory' } }],
    containers: [
      sh('ro', 'cat /data/greeting; echo changed > /data/greeting', {
        volumeMounts: [{ name: 'host', mountPath: '/data', readOnly: true }],
      }),
    ],
  });
  const nosuch = pod('nosuch', {
    restartPolicy: 'Never',
    containers: [{ name: 'nosuch', image: 'busybox', imagePullPolicy: 'Never', command: ['nosuch'] }],
  });
  send(Type.SNAPSHOT, [duo, crash, oom, ro, nosuch]);

  await t.test(
    'a pod runs: Running with a pod IP, its containers reach each other on localhost',
    async (t) => {
      const status = await until('duo running with the client completed', () => {
        const s = statusOf('duo');
        const client = containerOf('duo', 'client');
        return s?.phase === 'Running' && client?.state?.terminated !== undefined ? s : undefined;
      });
      t.match(status.podIP, /^10\.\d+\.\d+\.\d+$/, 'a pod IP from the pod CIDR');
      t.equal(status.hostIP, '127.0.0.1');
      const server = containerOf('duo', 'server');
      t.ok(server?.state?.running, 'the server runs');
      t.match(server?.containerID, /^runc:\/\//);
      t.equal(server?.ready, true, 'ready without a readiness probe');
      const client = containerOf('duo', 'client');
      t.match(
        client?.state?.terminated,
        { exitCode: 0, reason: 'Completed' },
        'the client got its page and exited 0',
      );
      const handle = manager!.container('default', 'duo', 'client');
      t.match(await logOf(handle.logPath), /hello-over-localhost/, 'over localhost');
      t.equal(
        status.conditions.find((c) => c.type === 'Ready')?.status,
        'False',
        'not ready: the client ended',
      );
    },
  );

  await t.test('restartPolicy Always backs off with CrashLoopBackOff', async (t) => {
    const c = await until('crash in CrashLoopBackOff', () => {
      const s = containerOf('crash', 'crash');
      return s?.state?.waiting?.reason === 'CrashLoopBackOff' ? s : undefined;
    });
    t.ok(c.restartCount >= 1, `restarted ${c.restartCount} times`);
    t.match(c.lastState?.terminated, { exitCode: 2, reason: 'Error' });
    t.equal(statusOf('crash')?.phase, 'Running', 'a restarting pod is Running');
  });

  await t.test('a memory limit exceeded ends in OOMKilled', async (t) => {
    const c = await until('oom terminated', () => containerOf('oom', 'oom')?.state?.terminated);
    t.equal(c.reason, 'OOMKilled');
    t.equal(statusOf('oom')?.phase, 'Failed');
  });

  await t.test('a read-only hostPath cannot be written', async (t) => {
    const c = await until('ro terminated', () => containerOf('ro', 'ro')?.state?.terminated);
    t.not(c.exitCode, 0, 'the write failed');
    const log = await logOf(manager!.container('default', 'ro', 'ro').logPath);
    t.match(log, /hello from the host/, 'the host file is readable');
    t.match(log, /Read-only file system/i, 'the write was refused');
    t.equal(
      readFileSync(join(hostDir, 'greeting'), 'utf8'),
      'hello from the host\n',
      'unchanged on the host',
    );
  });

  await t.test("a command that does not exist is a waiting reason with runc's message", async (t) => {
    const c = await until('nosuch waiting', () => {
      const w = containerOf('nosuch', 'nosuch')?.state?.waiting;
      return w !== undefined && w.reason !== 'ContainerCreating' ? w : undefined;
    });
    t.match(c.reason, /^(CreateContainerError|RunContainerError)$/);
    t.match(c.message, /executable file not found/);
    t.equal(statusOf('nosuch')?.phase, 'Pending');
  });

  await t.test(
    'a restarted manager re-adopts its containers and sees exits from while it was down',
    async (t) => {
      const sleepers = pod('sleepers', {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        containers: [sh('stays', 'exec sleep 1000'), sh('killed', 'exec sleep 1000')],
      });
      send(Type.ADDED, [sleepers]);
      await until('both sleepers running', () => {
        const s = statusOf('sleepers');
        return s?.containerStatuses.every((c) => c.state?.running !== undefined) ? s : undefined;
      });
      const before = statusOf('sleepers')!;
      const stays = before.containerStatuses.find((c) => c.name === 'stays')!;
      const killed = before.containerStatuses.find((c) => c.name === 'killed')!;
      await manager!.stop();
      manager = undefined;
      const killedId = killed.containerID.replace('runc://', '');
      const kill = await runCommand('/usr/sbin/runc', ['--root', runcRoot, 'kill', killedId, 'KILL']);
      t.equal(kill.code, 0, `runc kill: ${kill.stderr}`);
      await waitFor('conmon recorded the exit', () => existsSync(join(runnerStateDir, 'exits', killedId)));
      latest.clear();
      manager = newManager();
      await manager.start();
      const after = await until('the killed one reported terminated', () => {
        const s = statusOf('sleepers');
        return s?.containerStatuses.find((c) => c.name === 'killed')?.state?.terminated !== undefined
          ? s
          : undefined;
      });
      const stays2 = after.containerStatuses.find((c) => c.name === 'stays')!;
      t.equal(stays2.containerID, stays.containerID, 'the same container');
      t.equal(stays2.restartCount, 0, 'not restarted');
      t.ok(stays2.state?.running, 'still running');
      t.equal(stays2.state?.running?.startedAt, stays.state?.running?.startedAt, 'same start time');
      t.match(after.containerStatuses.find((c) => c.name === 'killed')?.state?.terminated, {
        exitCode: 137,
        signal: 9,
        containerID: killed.containerID,
      });
      const runcIds = readdirSync(runcRoot).filter((id) => id.includes('stays'));
      t.equal(runcIds.length, 1, 'no duplicate of the running container');
    },
  );

  await t.test('exec probes: readiness follows the probe, a failing liveness probe restarts', async (t) => {
    const probe = (file: string) => ({
      exec: { command: ['cat', file] },
      periodSeconds: 1,
      failureThreshold: 1,
    });
    const probed = pod('probed', {
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 1,
      containers: [
        sh(
          'main',
          'touch /tmp/ready /tmp/alive; sleep 3; rm /tmp/ready; sleep 2; rm /tmp/alive; exec sleep 1000',
          {
            readinessProbe: probe('/tmp/ready'),
            livenessProbe: { ...probe('/tmp/alive'), initialDelaySeconds: 1 },
          },
        ),
      ],
    });
    send(Type.ADDED, [probed]);
    const first = await until('probed ready', () => {
      const c = containerOf('probed', 'main');
      return c?.ready === true && c.state?.running !== undefined ? c : undefined;
    });
    t.equal(statusOf('probed')?.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    const unready = await until('probed running but not ready', () => {
      const c = containerOf('probed', 'main');
      return c?.ready === false && c.containerID === first.containerID && c.state?.running ? c : undefined;
    });
    t.equal(unready.restartCount, 0, 'readiness alone does not restart');
    const restarted = await until('probed restarted by liveness', () => {
      const c = containerOf('probed', 'main');
      return c !== undefined && c.restartCount >= 1 && c.state?.running !== undefined ? c : undefined;
    });
    t.not(restarted.containerID, first.containerID, 'a new run');
    t.match(restarted.lastState?.terminated, {
      containerID: first.containerID,
      message: /liveness probe failed/,
    });
  });

  await t.test('stopped keeps the container; a new restartedAt runs it again', async (t) => {
    const toggle = pod('toggle', {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [sh('main', 'exec sleep 1000')],
    });
    send(Type.ADDED, [toggle]);
    const running = await until(
      'toggle running',
      () => containerOf('toggle', 'main')?.state?.running && containerOf('toggle', 'main'),
    );
    const stopped: Pod = {
      ...toggle,
      metadata: { ...toggle.metadata!, resourceVersion: String(++revision) },
      spec: { ...toggle.spec!, stopped: true },
    };
    send(Type.MODIFIED, [stopped]);
    const ended = await until('toggle stopped', () => containerOf('toggle', 'main')?.state?.terminated);
    t.equal(ended.exitCode, 137, 'sleep ignores SIGTERM: killed after the grace');
    t.equal(ended.containerID, running.containerID);
    t.equal(statusOf('toggle')?.phase, 'Failed');
    // While it is stopped the netns goes (what a reboot does to /run/netns): deploy start
    // must give the pod a network again, not fail runc create on the missing path.
    const netns = `${prefix}-${toggle.metadata!.uid.replace(/-/g, '').slice(0, 12)}`;
    t.ok((await netnsWithPrefix()).includes(netns), 'a stopped pod keeps its netns');
    const deleted = await runCommand('ip', ['netns', 'delete', netns]);
    t.equal(deleted.code, 0, `ip netns delete: ${deleted.stderr}`);
    const started: Pod = {
      ...toggle,
      metadata: {
        ...toggle.metadata!,
        resourceVersion: String(++revision),
        annotations: { 'flotilla.io/restartedAt': new Date().toISOString() },
      },
      spec: { ...toggle.spec!, stopped: false },
    };
    send(Type.MODIFIED, [started]);
    const again = await until('toggle running again', () => {
      const c = containerOf('toggle', 'main');
      return c?.state?.running !== undefined && c.restartCount === 1 ? c : undefined;
    });
    t.not(again.containerID, running.containerID, 'a new run');
    t.match(again.lastState?.terminated, { exitCode: 137, containerID: running.containerID });
    t.equal(statusOf('toggle')?.phase, 'Running');
    t.match(statusOf('toggle')?.podIP, /^10\.\d+\.\d+\.\d+$/, 'running again with a pod IP');
    t.ok((await netnsWithPrefix()).includes(netns), 'in a network namespace made again');
    const ip = await runCommand('ip', ['netns', 'exec', netns, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    t.match(
      ip.stdout,
      new RegExp(`inet ${statusOf('toggle')!.podIP.replace(/\./g, '\\.')}/`),
      'eth0 has the pod IP',
    );
  });

  await t.test('a host port something else holds is refused with a message', async (t) => {
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const taken = pod('taken', {
      restartPolicy: 'Never',
      containers: [sh('main', 'exec httpd -f -p 8080', { ports: [{ containerPort: 8080, hostPort: port }] })],
    });
    send(Type.ADDED, [taken]);
    const w = await until('taken waiting', () => {
      const c = containerOf('taken', 'main')?.state?.waiting;
      return c !== undefined && c.reason !== 'ContainerCreating' ? c : undefined;
    });
    t.equal(w.reason, 'CreateContainerError');
    t.match(
      w.message,
      new RegExp(`host port ${port}/TCP on (0\\.0\\.0\\.0|127\\.0\\.0\\.1) is already in use on this node`),
    );
    t.equal(statusOf('taken')?.podIP, '', 'no network was made');
  });

  await t.test('an emptyDir of medium Memory is a tmpfs of its size', async (t) => {
    const mem = pod('mem', {
      restartPolicy: 'Never',
      volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '2Mi' } }],
      containers: [
        sh('main', 'grep " /scratch " /proc/mounts; df -k /scratch | tail -1', {
          volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
        }),
      ],
    });
    send(Type.ADDED, [mem]);
    const c = await until('mem done', () => containerOf('mem', 'main')?.state?.terminated);
    t.equal(c.exitCode, 0);
    const log = await logOf(manager!.container('default', 'mem', 'main').logPath);
    t.match(log, /^tmpfs \/scratch tmpfs/m, 'a tmpfs');
    t.match(log, /^tmpfs\s+2048\s/m, '2 MiB');
  });

  await t.test('a missing image and a missing hostPath directory are waiting reasons', async (t) => {
    const noimage = pod('noimage', {
      restartPolicy: 'Never',
      containers: [{ name: 'main', image: 'example.invalid/nosuch:1', imagePullPolicy: 'Never' }],
    });
    const nodir = pod('nodir', {
      restartPolicy: 'Never',
      volumes: [{ name: 'v', hostPath: { path: join(run, 'no-such-dir'), type: 'Directory' } }],
      containers: [sh('main', 'true', { volumeMounts: [{ name: 'v', mountPath: '/v' }] })],
    });
    send(Type.ADDED, [noimage]);
    send(Type.ADDED, [nodir]);
    const image = await until('noimage waiting', () => {
      const w = containerOf('noimage', 'main')?.state?.waiting;
      return w !== undefined && w.reason !== 'ContainerCreating' ? w : undefined;
    });
    t.match(image.reason, /^(ErrImagePull|ImagePullBackOff)$/);
    t.match(image.message, /not present on this node and its pull policy is Never/);
    const dir = await until('nodir waiting', () => {
      const w = containerOf('nodir', 'main')?.state?.waiting;
      return w !== undefined && w.reason !== 'ContainerCreating' ? w : undefined;
    });
    t.equal(dir.reason, 'CreateContainerConfigError');
    t.match(dir.message, /no-such-dir is not a directory on this node \(type Directory\)/);
    t.notOk(existsSync(join(run, 'no-such-dir')), 'not created');
  });

  /**
   * A container that ignores SIGTERM (sleep as PID 1) has a stop of 600 s under way — by
   * `stopped` or by a liveness kill — and is then deleted with grace 0 (rm -f: MODIFIED
   * with the deletion, then DELETED): the stop is cut short and the pod removed, not after
   * 600 s. The wait is bounded far below 600 s; should it run out, the test kills the
   * container itself so the manager's worker (and the cleanup) are not held for 600 s.
   */
  const deletedDuringStop = async (
    st: typeof t,
    name: string,
    extra: Record<string, unknown>,
    stopUnderWay: (p: Pod) => Pod | undefined,
    stopReason: RegExp,
  ): Promise<void> => {
    const stubborn = pod(name, {
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 600,
      containers: [sh('main', 'exec sleep 3600', extra)],
    });
    send(Type.ADDED, [stubborn]);
    const running = await until(`${name} running`, () => {
      const c = containerOf(name, 'main');
      return c?.state?.running !== undefined ? c : undefined;
    });
    const id = running.containerID.replace('runc://', '');
    const stopping = stopUnderWay(stubborn);
    if (stopping !== undefined) send(Type.MODIFIED, [stopping]);
    await until(`${name}: the stop is under way`, () =>
      stopReason.test(manager!.record('default', name)?.containers.main?.current?.stopReason ?? ''),
    );
    const last = stopping ?? stubborn;
    const deleting: Pod = {
      ...last,
      metadata: {
        ...last.metadata!,
        resourceVersion: String(++revision),
        deletionTimestamp: new Date().toISOString(),
        deletionGracePeriodSeconds: 0,
      },
    };
    send(Type.MODIFIED, [deleting]);
    send(Type.DELETED, [deleting]);
    let removed = false;
    try {
      await until(`${name} removed`, () => latest.get(`default/${name}`)?.removed === true, 60_000);
      removed = true;
    } finally {
      if (!removed) await runCommand('/usr/sbin/runc', ['--root', runcRoot, 'kill', id, 'KILL']);
    }
    st.ok(removed, 'removed after the deletion with grace 0, long before the 600 s grace');
    st.notOk(existsSync(join(runcRoot, id)), 'the container is gone');
    st.notOk(existsSync(join(runnerStateDir, 'exits', id)), 'and its exit file');
  };

  await t.test('a deletion with grace 0 cuts a 600 s deploy stop short', async (t) => {
    await deletedDuringStop(
      t,
      'stubborn',
      {},
      (p) => ({
        ...p,
        metadata: { ...p.metadata!, resourceVersion: String(++revision) },
        spec: { ...p.spec!, stopped: true },
      }),
      /^Stopped$/,
    );
  });

  await t.test('a deletion with grace 0 cuts a liveness kill with a 600 s grace short', async (t) => {
    await deletedDuringStop(
      t,
      'unlively',
      {
        livenessProbe: {
          exec: { command: ['cat', '/nosuch'] },
          periodSeconds: 1,
          failureThreshold: 1,
        },
      },
      () => undefined,
      /liveness probe failed/,
    );
  });

  await t.test('deletion removes every mount, netns, cgroup and directory', async (t) => {
    const uid = duo.metadata!.uid;
    const deleting: Pod = {
      ...duo,
      metadata: {
        ...duo.metadata!,
        resourceVersion: String(++revision),
        deletionTimestamp: new Date().toISOString(),
        deletionGracePeriodSeconds: 1,
      },
    };
    send(Type.MODIFIED, [deleting]);
    const removed = await until('duo removed', () => {
      const u = latest.get('default/duo');
      return u?.removed === true ? u : undefined;
    });
    t.equal(removed.uid, uid);
    const token = uid.replace(/-/g, '').slice(0, 16);
    t.notOk(existsSync(join(podsDir, token)), 'the pod directory is gone');
    t.same(await mountsUnder(join(podsDir, token)), [], 'no mount left');
    const nets = await netnsWithPrefix();
    t.notOk(
      nets.some((n) => n.endsWith(uid.replace(/-/g, '').slice(0, 12))),
      'its netns is gone',
    );
    for (const dir of cgroupDirs()) t.notOk(existsSync(join(dir, uid)), `no cgroup ${join(dir, uid)}`);

    // The rest: DELETED for one, then a snapshot without the others (fencing).
    send(Type.DELETED, [crash]);
    await until('crash removed', () => latest.get('default/crash')?.removed === true);
    send(Type.SNAPSHOT, []);
    for (const name of [
      'oom',
      'ro',
      'nosuch',
      'sleepers',
      'probed',
      'toggle',
      'taken',
      'mem',
      'noimage',
      'nodir',
    ])
      await until(`${name} removed`, () => latest.get(`default/${name}`)?.removed === true);
    t.same(readdirSync(podsDir), [], 'no pod directory left');
    t.same(await mountsUnder(podsDir), [], 'no mount left under the pods directory');
    t.same(await netnsWithPrefix(), [], 'no netns left');
    t.same(readdirSync(runcRoot), [], 'no runc container left');
    for (const dir of cgroupDirs()) t.same(cgroupTree(dir), [dir], `only the (empty) parent ${dir} is left`);
    t.same(listPodNetworks(network), [], 'no network record left');
  });
});
