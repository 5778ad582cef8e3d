// Container lifecycle through the cluster, end to end (one cluster for the file: etcd,
// NATS, registry, controller, one agent): a memory limit exceeded ends in OOMKilled; a
// crashing container with --restart always backs off (CrashLoopBackOff, the restart count
// grows one back-off at a time); a failing liveness probe restarts the container; the
// Ready condition follows a readiness probe both ways. `deploy run` has no probe flags,
// so those pods are created from a manifest through the admin API; everything is
// observed with `deploy ps` and `deploy inspect`.
import t from 'tap';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DockerCluster,
  dockerE2eSkip,
  freePort,
  inspect,
  mainStatus,
  output,
  psRows,
  removeAllPods,
  waitFor,
  type Inspected,
} from '../lib/index.js';

const skip = dockerE2eSkip();
let cluster: DockerCluster;

t.before(async () => {
  if (skip) return;
  cluster = await DockerCluster.start({ label: 'life' });
});
t.teardown(async () => {
  await cluster?.destroy();
});

/** Polls `deploy inspect` until check returns something; errors show the last document. */
async function until<T>(
  name: string,
  description: string,
  check: (i: Inspected) => T | undefined | false,
  timeoutMs = 90_000,
): Promise<T> {
  let last = '';
  try {
    return await waitFor(
      description,
      async () => {
        const i = await inspect(cluster, name);
        last = JSON.stringify({ State: i.doc.State, RestartCount: i.doc.RestartCount, status: i.pod.status });
        return check(i);
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; inspect last showed ${last}`);
  }
}

t.test('a memory limit exceeded ends in OOMKilled', { skip }, async (t) => {
  // The string doubles until the 16 MiB cgroup limit (no swap) kills the shell.
  const run = await cluster.deploy([
    'run',
    '-d',
    '--name',
    'oom',
    '--memory',
    '16m',
    cluster.images.busybox,
    'sh',
    '-c',
    'x=0123456789abcdef; while :; do x=$x$x; done',
  ]);
  t.equal(run.code, 0, 'run -d --memory 16m succeeds', output(run));
  const i = await until('oom', 'the container to be OOM-killed', (i) =>
    i.doc.State?.Status === 'exited' ? i : undefined,
  );
  t.equal(i.doc.State?.OOMKilled, true, 'inspect: State.OOMKilled', output(i.raw));
  t.equal(i.doc.State?.ExitCode, 137, 'inspect: exit code 137 (SIGKILL)', output(i.raw));
  t.equal(
    mainStatus(i.pod)?.state?.terminated?.reason,
    'OOMKilled',
    'the container status reason is OOMKilled',
  );
  t.equal(i.doc.HostConfig?.Memory, 16 * 1024 * 1024, 'inspect: the memory limit');
  const { rows, raw } = await psRows(cluster);
  t.match(rows.get('oom') ?? '', /Exited \(137\)/, 'ps -a: Exited (137)', output(raw));
});

t.test('a crashing container backs off: CrashLoopBackOff, one restart per back-off', { skip }, async (t) => {
  const run = await cluster.deploy([
    'run',
    '-d',
    '--restart',
    'always',
    '--name',
    'crash',
    cluster.images.busybox,
    'sh',
    '-c',
    'echo crashing; exit 1',
  ]);
  t.equal(run.code, 0, 'run -d --restart always succeeds', output(run));
  // Every restart count the container passes through must first be seen waiting in
  // CrashLoopBackOff: a hot loop would skip counts without ever backing off.
  const seenBackOff = new Set<number>();
  const seenCounts = new Set<number>();
  let lastTerminated: { exitCode?: number; reason?: string } | undefined;
  let message = '';
  await until(
    'crash',
    'the restart count to reach 2 after back-offs',
    (i) => {
      const status = mainStatus(i.pod);
      const count = status?.restartCount ?? 0;
      seenCounts.add(count);
      if (status?.state?.waiting?.reason === 'CrashLoopBackOff') {
        seenBackOff.add(count);
        message = status.state.waiting.message;
      }
      if (status?.lastState?.terminated) lastTerminated = status.lastState.terminated;
      return count >= 2 || undefined;
    },
    150_000,
  );
  t.ok(
    seenBackOff.has(1),
    `it waited in CrashLoopBackOff after its first restart (seen: ${[...seenBackOff].join(',')})`,
  );
  const skipped = [...seenCounts].filter((c) => c >= 1 && c < Math.max(...seenCounts) && !seenBackOff.has(c));
  t.same(
    skipped,
    [],
    `no restart happened without a back-off first (counts seen: ${[...seenCounts].join(',')})`,
  );
  t.match(message, /back-off/i, 'the waiting message speaks of the back-off');
  t.equal(lastTerminated?.exitCode, 1, 'the last termination is recorded with exit code 1');
  const i = await inspect(cluster, 'crash');
  t.ok((i.doc.RestartCount ?? 0) >= 2, 'inspect: RestartCount grows', output(i.raw));
  const row = await waitFor('ps -a to show crash restarting', async () => {
    const { rows, raw } = await psRows(cluster);
    const row = rows.get('crash') ?? '';
    if (!/Restarting \(1\)/.test(row)) throw new Error(`ps -a showed:\n${raw.stdout}`);
    return row;
  });
  t.match(row, /Restarting \(1\)/, 'ps -a: Restarting (1) between restarts');
  const logs = await cluster.deploy(['logs', 'crash']);
  t.match(logs.stdout, /crashing/, 'logs shows the output', output(logs));
  const rm = await cluster.deploy(['rm', '-f', 'crash']);
  t.equal(rm.code, 0, 'rm -f stops the loop', output(rm));
});

t.test('a failing liveness probe restarts the container', { skip }, async (t) => {
  const created = await cluster.createPod('live', {
    restartPolicy: 'Always',
    // sleep as PID 1 ignores SIGTERM: the liveness kill ends in SIGKILL after this grace.
    terminationGracePeriodSeconds: 2,
    containers: [
      {
        name: 'live',
        image: cluster.images.busybox,
        // Healthy for a few probes, then the file goes and the probe fails from then on.
        command: ['sh', '-c', 'touch /tmp/alive; sleep 4; rm /tmp/alive; exec sleep 3600'],
        livenessProbe: { exec: { command: ['cat', '/tmp/alive'] }, periodSeconds: 1, failureThreshold: 2 },
      },
    ],
  });
  t.ok(created.metadata?.uid, 'the pod is created through the API');
  const i = await until('live', 'the liveness probe to restart the container', (i) => {
    const status = mainStatus(i.pod);
    return (status?.restartCount ?? 0) >= 1 && status?.lastState?.terminated ? i : undefined;
  });
  const status = mainStatus(i.pod);
  t.ok((i.doc.RestartCount ?? 0) >= 1, 'inspect: RestartCount at least 1', output(i.raw));
  const killed = status?.lastState?.terminated;
  t.ok(killed, 'the previous run is recorded as terminated');
  t.ok(
    (killed?.exitCode ?? 0) === 137 || (killed?.exitCode ?? 0) === 143 || (killed?.signal ?? 0) > 0,
    `it was ended by a signal (exit ${killed?.exitCode}, signal ${killed?.signal})`,
  );
  await until('live', 'the restarted container to run again', (i) => mainStatus(i.pod)?.state?.running);
  t.pass('the restarted container runs again');
});

t.test('the Ready condition follows a readiness probe', { skip }, async (t) => {
  const www = join(cluster.dir, 'ready-www');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), 'hello\n');
  const hostPort = await freePort();
  await cluster.createPod('ready', {
    restartPolicy: 'Always',
    volumes: [{ name: 'www', hostPath: { path: www, type: 'Directory' } }],
    containers: [
      {
        name: 'ready',
        image: cluster.images.web,
        ports: [{ containerPort: 8080, hostPort }],
        volumeMounts: [{ name: 'www', mountPath: '/www', readOnly: true }],
        readinessProbe: {
          httpGet: { path: '/ready.txt', port: '8080' },
          periodSeconds: 1,
          failureThreshold: 1,
        },
      },
    ],
  });
  const readyOf = (i: Inspected): string | undefined =>
    i.pod.status?.conditions.find((c) => c.type === 'Ready')?.status;

  const notReady = await until('ready', 'the running pod to be not Ready while /ready.txt is missing', (i) =>
    mainStatus(i.pod)?.state?.running && readyOf(i) === 'False' ? i : undefined,
  );
  t.equal(mainStatus(notReady.pod)?.ready, false, 'the container is not ready');
  t.equal(notReady.doc.State?.Health?.Status, 'unhealthy', 'inspect: health unhealthy', output(notReady.raw));
  const page = await fetch(`http://127.0.0.1:${hostPort}/`);
  t.equal(page.status, 200, 'the server itself answers (readiness does not stop it)');

  writeFileSync(join(www, 'ready.txt'), 'ok\n');
  const ready = await until('ready', 'the pod to turn Ready once the probe passes', (i) =>
    readyOf(i) === 'True' ? i : undefined,
  );
  t.equal(mainStatus(ready.pod)?.ready, true, 'the container is ready');
  t.equal(
    ready.pod.status?.conditions.find((c) => c.type === 'ContainersReady')?.status,
    'True',
    'ContainersReady is True',
  );
  const { rows, raw } = await psRows(cluster, false);
  t.match(rows.get('ready') ?? '', /\(healthy\)/, 'ps: (healthy)', output(raw));

  rmSync(join(www, 'ready.txt'));
  const again = await until('ready', 'the pod to turn not Ready when the probe fails again', (i) =>
    readyOf(i) === 'False' ? i : undefined,
  );
  t.equal(mainStatus(again.pod)?.restartCount, 0, 'a failing readiness probe restarts nothing');
  t.equal(again.doc.State?.Running, true, 'the container keeps running');
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
