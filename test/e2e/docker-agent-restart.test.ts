// The agent SIGKILLed and restarted with the same flags and state directory, end to end
// (one cluster for the file: etcd, NATS, registry, controller, one agent): a web server
// keeps answering throughout, the same container is re-adopted (no restart, no second
// container in runc's list), and a container that exited while the agent was down is
// reported with its real exit code. Then isolation: a container sees only its own
// processes and namespaces, no host file outside its rootfs and volumes, cannot remount
// /proc/sys read-write, lacks CAP_SYS_ADMIN, runs under seccomp with no-new-privileges,
// and gets its memory limit.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DockerCluster,
  dockerE2eSkip,
  freePort,
  inspect,
  mainStatus,
  output,
  podExists,
  removeAllPods,
  waitFor,
} from '../lib/index.js';

const skip = dockerE2eSkip();
let cluster: DockerCluster;

t.before(async () => {
  if (skip) return;
  cluster = await DockerCluster.start({ label: 'restart' });
});
t.teardown(async () => {
  await cluster?.destroy();
});

const runcId = (containerID: string | undefined): string => (containerID ?? '').replace(/^runc:\/\//, '');

async function httpGet(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
  await res.text();
  return res.status;
}

t.test(
  'the agent SIGKILLed and restarted: no interruption, no duplicate, exits collected',
  { skip },
  async (t) => {
    const hostPort = await freePort();
    const web = await cluster.deploy([
      'run',
      '-d',
      '-p',
      `${hostPort}:8080`,
      '--name',
      'web',
      cluster.images.web,
    ]);
    t.equal(web.code, 0, 'run -d web succeeds', output(web));
    // A container that exits exactly when told, through a file on a volume: told while the
    // agent is down, so only the restarted agent can collect its exit.
    const signalDir = join(cluster.dir, 'signal');
    mkdirSync(signalDir, { recursive: true });
    const exiter = await cluster.deploy([
      'run',
      '-d',
      '--name',
      'exiter',
      '-v',
      `${signalDir}:/signal`,
      cluster.images.busybox,
      'sh',
      '-c',
      'while [ ! -e /signal/go ]; do sleep 0.1; done; exit 7',
    ]);
    t.equal(exiter.code, 0, 'run -d exiter succeeds', output(exiter));

    await waitFor(`web to answer on ${hostPort}`, async () => (await httpGet(hostPort)) === 200, {
      timeoutMs: 90_000,
    });
    const before = await waitFor('both containers to run', async () => {
      const w = await inspect(cluster, 'web');
      const e = await inspect(cluster, 'exiter');
      return w.doc.State?.Running && e.doc.State?.Running ? { w, e } : undefined;
    });
    const webId = runcId(mainStatus(before.w.pod)?.containerID);
    const exiterId = runcId(mainStatus(before.e.pod)?.containerID);
    const webStartedAt = mainStatus(before.w.pod)?.state?.running?.startedAt;
    t.ok(webId, `web has a container id (${webId})`);
    t.ok(exiterId, `exiter has a container id (${exiterId})`);
    t.same(
      cluster
        .runcContainers()
        .map((c) => c.id)
        .sort(),
      [webId, exiterId].sort(),
      'runc lists exactly the two containers',
    );

    // A bounded request loop for the whole restart: every request must succeed.
    let stop = false;
    let requests = 0;
    const failures: string[] = [];
    const loop = (async () => {
      for (let n = 0; !stop && n < 20_000; n++) {
        try {
          const status = await httpGet(hostPort);
          if (status !== 200) failures.push(`HTTP ${status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        requests += 1;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    await cluster.killAgent();
    const atKill = requests;
    writeFileSync(join(signalDir, 'go'), '');
    await waitFor('exiter to exit while the agent is down', () =>
      cluster.runcContainers().find((c) => c.id === exiterId && c.status === 'stopped'),
    );
    // Some requests while no agent runs at all.
    await waitFor('requests while the agent is down', () => requests >= atKill + 10);
    const downtimeRequests = requests - atKill;
    const downtimeFailures = failures.length;
    cluster.startAgent();
    await cluster.waitNodeReady();
    const reported = await waitFor(
      'the restarted agent to report the exit of exiter',
      async () => {
        const e = await inspect(cluster, 'exiter');
        return e.doc.State?.Status === 'exited' ? e : undefined;
      },
      { timeoutMs: 60_000 },
    );
    t.equal(
      reported.doc.State?.ExitCode,
      7,
      'the exit is reported with its real code 7',
      output(reported.raw),
    );
    t.equal(mainStatus(reported.pod)?.restartCount, 0, 'and the exited container was not run again');
    // Let the server be asked a while longer with the new agent in charge.
    const target = requests + 20;
    await waitFor('more requests after the restart', () => requests >= target);
    stop = true;
    await loop;
    t.ok(downtimeRequests >= 10, `${downtimeRequests} requests were made while the agent was down`);
    t.equal(downtimeFailures, 0, 'none of them failed');
    t.same(failures, [], `web kept serving before, during and after the restart (${requests} requests)`);

    const after = await inspect(cluster, 'web');
    t.equal(runcId(mainStatus(after.pod)?.containerID), webId, 'web has the same container id');
    t.equal(mainStatus(after.pod)?.restartCount, 0, 'web was not restarted');
    t.equal(mainStatus(after.pod)?.state?.running?.startedAt, webStartedAt, 'web keeps its start time');
    const running = cluster.runcContainers().filter((c) => c.status === 'running');
    t.same(
      running.map((c) => c.id),
      [webId],
      'runc lists one running container: the same web, no duplicate',
    );
    t.equal(cluster.runcContainers().length <= 2, true, 'and nothing but web and the exited one');
    const logs = await cluster.deploy(['logs', 'web']);
    t.equal(logs.code, 0, 'logs of web works through the restarted agent', output(logs));
  },
);

t.test(
  'a restarted agent converges: removes what was deleted and starts what was created meanwhile',
  { skip },
  async (t) => {
    const run = await cluster.deploy([
      'run',
      '-d',
      '--name',
      'doomed',
      cluster.images.busybox,
      'sleep',
      '3600',
    ]);
    t.equal(run.code, 0, 'run -d doomed succeeds', output(run));
    const running = await waitFor('doomed to run', async () => {
      const i = await inspect(cluster, 'doomed');
      return i.doc.State?.Running ? i : undefined;
    });
    const doomedId = runcId(mainStatus(running.pod)?.containerID);

    await cluster.killAgent();
    // rm -f removes the pod from the cluster at once, with no agent to stop it.
    const rm = await cluster.deploy(['rm', '-f', 'doomed']);
    t.equal(rm.code, 0, 'rm -f while the agent is down succeeds', output(rm));
    // run -d returns once the container runs (as docker run -d): it creates the pod now and
    // waits for the agent to be back.
    const later = cluster.deployChild([
      'run',
      '-d',
      '--name',
      'newcomer',
      cluster.images.busybox,
      'sleep',
      '3600',
    ]);
    t.teardown(() => later.kill('SIGKILL'));
    let laterOut = '';
    let laterErr = '';
    later.stdout?.on('data', (d: Buffer) => (laterOut += d.toString()));
    later.stderr?.on('data', (d: Buffer) => (laterErr += d.toString()));
    const laterExit = new Promise<number>((resolve) =>
      later.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
    );
    await waitFor('run -d to create the pod while the agent is down', () => podExists(cluster, 'newcomer'));
    t.pass('run -d while the agent is down creates the pod');
    t.equal(laterOut, '', 'and does not print its name before it runs', { stderr: laterErr });
    t.ok(
      cluster.runcContainers().some((c) => c.id === doomedId && c.status === 'running'),
      'the deleted pod’s container still runs while no agent is there',
    );

    cluster.startAgent();
    await cluster.waitNodeReady();
    await waitFor('the restarted agent to remove the deleted pod’s container', () => {
      const left = cluster.runcContainers().filter((c) => c.id === doomedId);
      if (left.length > 0) throw new Error(`runc still lists ${doomedId} (${left[0]?.status})`);
      return true;
    });
    t.pass('the restarted agent stopped and removed the pod deleted while it was down');
    const started = await waitFor(
      'the restarted agent to start the pod created while it was down',
      async () => {
        const i = await inspect(cluster, 'newcomer');
        return i.doc.State?.Running ? i : undefined;
      },
    );
    t.equal(mainStatus(started.pod)?.restartCount, 0, 'newcomer runs, first time');
    t.equal(await laterExit, 0, 'run -d exits 0 once it runs', { stdout: laterOut, stderr: laterErr });
    t.equal(laterOut, 'newcomer\n', 'with the name', { stderr: laterErr });
    const rmNew = await cluster.deploy(['rm', '-f', 'newcomer']);
    t.equal(rmNew.code, 0, 'rm -f newcomer', output(rmNew));
  },
);

t.test('isolation: processes, files, /proc/sys, capabilities, seccomp, limits', { skip }, async (t) => {
  const run = await cluster.deploy([
    'run',
    '-d',
    '--name',
    'iso',
    '--memory',
    '64m',
    cluster.images.busybox,
    'sleep',
    '3600',
  ]);
  t.equal(run.code, 0, 'run -d iso succeeds', output(run));
  await waitFor('iso to run', async () => (await inspect(cluster, 'iso')).doc.State?.Running);
  const exec = (...cmd: string[]): ReturnType<DockerCluster['deploy']> =>
    cluster.deploy(['exec', 'iso', ...cmd]);

  const comms = await exec('sh', '-c', 'for p in /proc/[0-9]*; do cat $p/comm; done');
  t.equal(comms.code, 0, 'exec lists /proc', output(comms));
  const names = comms.stdout.split('\n').filter(Boolean);
  t.ok(names.includes('sleep'), 'its own process is there', output(comms));
  t.same(
    names.filter((n) => !['sleep', 'sh', 'cat'].includes(n)),
    [],
    'and only its own processes (sleep and the exec session)',
    output(comms),
  );
  const ps = await exec('ps');
  t.match(ps.stdout, /^\s*1\s+\S+\s+.*sleep 3600/m, 'ps: PID 1 is the container command', output(ps));

  for (const ns of ['pid', 'mnt', 'ipc', 'uts', 'net']) {
    const inside = await exec('readlink', `/proc/self/ns/${ns}`);
    t.not(
      inside.stdout.trim(),
      readlinkSync(`/proc/self/ns/${ns}`),
      `its own ${ns} namespace`,
      output(inside),
    );
  }
  const hostname = await exec('hostname');
  t.equal(hostname.stdout.trim(), 'iso', 'the hostname is the pod name');

  const marker = join(cluster.dir, `marker-${randomBytes(4).toString('hex')}`);
  writeFileSync(marker, 'host secret\n');
  const cat = await exec('cat', marker);
  t.not(cat.code, 0, 'a host file outside its rootfs and volumes is not visible', output(cat));
  t.notMatch(cat.stdout, /host secret/, 'and its content does not leak');
  const ls = await exec('ls', cluster.dir);
  t.not(ls.code, 0, 'nor the directory holding it', output(ls));

  const remount = await exec('mount', '-o', 'remount,rw', '/proc/sys');
  t.not(remount.code, 0, 'mount -o remount,rw /proc/sys fails', output(remount));
  const write = await exec('sh', '-c', 'echo 1 > /proc/sys/kernel/domainname');
  t.not(write.code, 0, '/proc/sys is read-only', output(write));

  const status = await exec('cat', '/proc/self/status');
  t.equal(status.code, 0, 'exec reads /proc/self/status', output(status));
  const field = (name: string): string =>
    new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status.stdout)?.[1] ?? '';
  const capEff = BigInt(`0x${field('CapEff') || '0'}`);
  t.ok(field('CapEff'), 'CapEff is there', output(status));
  t.equal((capEff >> 21n) & 1n, 0n, `CapEff ${field('CapEff')} lacks CAP_SYS_ADMIN (bit 21)`);
  t.ok(capEff !== 0n, 'but keeps Docker’s default capabilities (not none)');
  t.equal(field('Seccomp'), '2', 'seccomp filter mode (2)');
  t.equal(field('NoNewPrivs'), '1', 'no-new-privileges');

  // Docker's masked paths: a file reads empty (/dev/null over it), a directory is an empty tmpfs.
  t.ok(readFileSync('/proc/timer_list', 'utf8').length > 0, 'the host has a /proc/timer_list to mask');
  const timers = await exec('sh', '-c', 'wc -c < /proc/timer_list');
  t.equal(timers.stdout.trim(), '0', '/proc/timer_list is masked', output(timers));
  const firmware = await exec('ls', '-A', '/sys/firmware');
  t.equal(firmware.stdout, '', '/sys/firmware is masked', output(firmware));
  const sysrq = await exec('sh', '-c', 'echo h > /proc/sysrq-trigger');
  t.not(sysrq.code, 0, '/proc/sysrq-trigger is read-only', output(sysrq));

  const hostNofile = Number(
    /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1],
  );
  const nofile = await exec('sh', '-c', 'ulimit -Hn');
  t.ok(
    Number(nofile.stdout.trim()) <= hostNofile,
    `the open-files hard limit is within the host's (${hostNofile})`,
    output(nofile),
  );
  const pids = await exec('cat', '/sys/fs/cgroup/pids/pids.max');
  t.match(pids.stdout.trim(), /^\d+$/, 'a pids limit is set', output(pids));

  const limit = await exec('cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes');
  t.equal(
    limit.stdout.trim(),
    String(64 * 1024 * 1024),
    'the memory limit is its cgroup limit',
    output(limit),
  );
});

t.test('removing every pod, then the cluster, leaves nothing of the run', { skip }, async (t) => {
  await t.test('the agent removes what it made for deleted pods', async (t) => {
    await removeAllPods(t, cluster);
  });
  await cluster.destroy();
  t.same(
    cluster.leftovers(),
    [],
    'no process, mount, netns, link, iptables rule, cgroup or directory is left',
  );
});
