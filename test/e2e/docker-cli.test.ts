// The rest of the Docker workflow through the cluster, end to end (one cluster for the file:
// etcd, NATS, registry, controller, one agent): stdin with run -i, stdout and stderr kept
// apart, the exit codes Docker gives failures (125 no image, 127 no command), run -d that
// returns once the container runs or fails as docker's does, Ctrl-C of a run -d, logs --tail,
// --timestamps and -f, stop (SIGTERM, grace) and start (the container runs again),
// exec -it through a pseudo-terminal, --env-file and --cpus, a name already in use, a host
// port in use, ps -q and inspect --format, and two containers of one pod sharing localhost
// and an emptyDir.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  DockerCluster,
  dockerE2eSkip,
  freePort,
  inspect,
  mainStatus,
  output,
  podExists,
  psRows,
  removeAllPods,
  startRegistry,
  waitFor,
} from '../lib/index.js';

const skip = dockerE2eSkip();
let cluster: DockerCluster;

t.before(async () => {
  if (skip) return;
  cluster = await DockerCluster.start({ label: 'cli' });
});
t.teardown(async () => {
  await cluster?.destroy();
});

t.test(
  'run -i passes stdin; stdout and stderr stay apart; the exit code is the container’s',
  { skip },
  async (t) => {
    const cat = await cluster.deploy(['run', '-i', '--rm', cluster.images.busybox, 'cat'], {
      stdin: 'through stdin\n',
    });
    t.equal(cat.code, 0, 'run -i --rm cat exits 0', output(cat));
    t.equal(cat.stdout, 'through stdin\n', 'what went to stdin comes back', output(cat));

    const split = await cluster.deploy([
      'run',
      '--rm',
      cluster.images.busybox,
      'sh',
      '-c',
      'echo to-out; echo to-err >&2; exit 4',
    ]);
    t.equal(split.code, 4, 'the CLI exits with the container’s code 4', output(split));
    t.match(split.stdout, /^to-out$/m, 'stdout carries stdout');
    t.notMatch(split.stdout, /to-err/, 'and not stderr');
    t.match(split.stderr, /^to-err$/m, 'stderr carries stderr');

    const noImage = await cluster.deploy(['run', '--rm', `${cluster.registry.host}/nope/none:v1`]);
    t.equal(noImage.code, 125, 'no such image: exit 125, as docker', output(noImage));
    const noCommand = await cluster.deploy(['run', '--rm', cluster.images.busybox, 'no-such-command']);
    t.equal(noCommand.code, 127, 'no such command: exit 127, as docker', output(noCommand));
    t.match(noCommand.stderr, /no-such-command/, 'naming the command', output(noCommand));
  },
);

t.test(
  'run -d returns once the container runs, and fails as docker run -d does when it cannot start',
  { skip },
  async (t) => {
    const started = await cluster.deploy([
      'run',
      '-d',
      '--name',
      'bg',
      cluster.images.busybox,
      'sleep',
      '3600',
    ]);
    t.equal(started.code, 0, 'run -d of a good image exits 0', output(started));
    t.equal(started.stdout, 'bg\n', 'and prints the name', output(started));
    // Right after, with no wait: the name is printed only once the container runs.
    const { rows, raw } = await psRows(cluster, false);
    t.match(rows.get('bg') ?? '', /\bUp\b/, 'ps lists it running right after run -d returned', output(raw));
    const quick = await cluster.deploy([
      'run',
      '-d',
      '--name',
      'quick',
      cluster.images.busybox,
      'sh',
      '-c',
      'exit 3',
    ]);
    t.equal(quick.code, 0, 'one that runs and exits with 3 at once: exit 0, as docker run -d', output(quick));
    t.equal(quick.stdout, 'quick\n', 'with the name', output(quick));

    const image = `${cluster.registry.host}/nope/none:v1`;
    const noImage = await cluster.deploy(['run', '-d', '--name', 'noimg', image]);
    t.equal(noImage.code, 125, 'no such image: exit 125', output(noImage));
    t.equal(noImage.stdout, '', 'no name printed', output(noImage));
    t.ok(noImage.stderr.includes('nope/none:v1'), 'the message names the image', output(noImage));
    t.match(noImage.stderr, /noimg/, 'and the pod', output(noImage));
    t.notOk(await podExists(cluster, 'noimg'), 'no pod is left (docker creates no container)');

    const noCommand = await cluster.deploy([
      'run',
      '-d',
      '--name',
      'nocmd',
      cluster.images.busybox,
      '/nonexistent',
    ]);
    t.equal(noCommand.code, 127, 'a command not in the image: exit 127', output(noCommand));
    t.equal(noCommand.stdout, '', 'no name printed', output(noCommand));
    t.match(noCommand.stderr, /nocmd/, 'the message names the pod', output(noCommand));
    t.match(noCommand.stderr, /\/nonexistent/, 'and the command', output(noCommand));
    t.match(noCommand.stderr, /no such file|not found/i, 'and says it is not there', output(noCommand));
    t.ok(await podExists(cluster, 'nocmd'), 'the pod is kept, as docker keeps the created container');
    const rm = await cluster.deploy(['rm', '-f', 'nocmd', 'bg', 'quick']);
    t.equal(rm.code, 0, 'rm -f nocmd bg quick', output(rm));

    const removed = await cluster.deploy([
      'run',
      '-d',
      '--rm',
      '--name',
      'nocmd-rm',
      cluster.images.busybox,
      '/nonexistent',
    ]);
    t.equal(removed.code, 127, 'with --rm: exit 127 too', output(removed));
    t.notOk(await podExists(cluster, 'nocmd-rm'), 'and the pod is removed');

    const port = await freePort();
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const clash = await cluster.deploy([
      'run',
      '-d',
      '--rm',
      '-p',
      `${port}:8080`,
      cluster.images.busybox,
      'sleep',
      '60',
    ]);
    t.equal(clash.code, 125, `a host port in use (${port}): exit 125`, output(clash));
    t.match(
      clash.stderr,
      new RegExp(`${port}.*in use`),
      'naming the port and saying it is in use',
      output(clash),
    );
  },
);

t.test('Ctrl-C while run -d waits for the pull leaves the pod as created', { skip }, async (t) => {
  // A "registry" that accepts connections and never answers: the pull waits.
  const sockets = new Set<Socket>();
  const silent: Server = createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const address = silent.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const child = cluster.deployChild(['run', '-d', '--name', 'pulling', `127.0.0.1:${port}/slow/image:v1`]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  t.teardown(() => child.kill('SIGKILL'));
  await waitFor('the pull to be under way', () => sockets.size > 0, { timeoutMs: 60_000 });
  t.equal(out, '', 'nothing printed while it waits');
  child.kill('SIGINT');
  const code = await Promise.race([
    exited,
    new Promise<string>((r) => setTimeout(() => r('still running'), 30_000)),
  ]);
  t.equal(code, 130, 'the CLI exits 130', { stdout: out, stderr: err });
  t.match(err, /pulling/, 'saying which pod it left', { stderr: err });
  t.ok(await podExists(cluster, 'pulling'), 'the pod is left as created');
  const rm = await cluster.deploy(['rm', '-f', 'pulling']);
  t.equal(rm.code, 0, 'rm -f pulling', output(rm));
});

t.test('Ctrl-C on an attached run without -t detaches and leaves the pod running', { skip }, async (t) => {
  const child = cluster.deployChild([
    'run',
    '--name',
    'attached',
    cluster.images.busybox,
    'sh',
    '-c',
    'echo hello; exec sleep 3600',
  ]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  t.teardown(() => child.kill('SIGKILL'));
  await waitFor('the attached run to stream the output', () => /hello/.test(out), { timeoutMs: 60_000 });
  child.kill('SIGINT');
  const code = await Promise.race([
    exited,
    new Promise<string>((r) => setTimeout(() => r('still running'), 30_000)),
  ]);
  t.equal(code, 130, 'the CLI exits 130', { output: out });
  const i = await inspect(cluster, 'attached');
  t.equal(i.doc.State?.Running, true, 'the pod keeps running', output(i.raw));
  const rm = await cluster.deploy(['rm', '-f', 'attached']);
  t.equal(rm.code, 0, 'rm -f attached', output(rm));
});

t.test('logs --tail, --timestamps and -f', { skip }, async (t) => {
  const triggerDir = join(cluster.dir, 'logs-trigger');
  mkdirSync(triggerDir, { recursive: true });
  const trigger = join(triggerDir, 'go');
  const run = await cluster.deploy([
    'run',
    '-d',
    '--name',
    'talker',
    '-v',
    `${triggerDir}:/trigger:ro`,
    cluster.images.busybox,
    'sh',
    '-c',
    'for i in 1 2 3 4 5; do echo line$i; done; while [ ! -e /trigger/go ]; do sleep 0.1; done; echo late; exit 0',
  ]);
  t.equal(run.code, 0, 'run -d succeeds', output(run));
  await waitFor('five lines in the log', async () =>
    /line5/.test((await cluster.deploy(['logs', 'talker'])).stdout),
  );

  const tail = await cluster.deploy(['logs', '--tail', '2', 'talker']);
  t.equal(tail.stdout, 'line4\nline5\n', 'logs --tail 2 shows the last two lines', output(tail));
  const stamped = await cluster.deploy(['logs', '-t', '--tail', '1', 'talker']);
  t.match(
    stamped.stdout,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) line5\n$/,
    'logs -t prefixes the time',
    output(stamped),
  );

  // logs -f: follows, shows what comes later, and ends when the container ends.
  const follower = cluster.deployChild(['logs', '-f', 'talker']);
  let followed = '';
  let followErr = '';
  follower.stdout?.on('data', (d: Buffer) => (followed += d.toString()));
  follower.stderr?.on('data', (d: Buffer) => (followErr += d.toString()));
  const ended = new Promise<number>((resolve) => follower.once('exit', (code) => resolve(code ?? -1)));
  t.teardown(() => follower.kill('SIGKILL'));
  await waitFor('logs -f to show the earlier lines', () => /line5\n/.test(followed));
  writeFileSync(trigger, '');
  await waitFor('logs -f to show a line written later', () => /late\n/.test(followed), { timeoutMs: 60_000 });
  t.pass('logs -f shows a line written after it started');
  const code = await Promise.race([
    ended,
    new Promise<string>((r) => setTimeout(() => r('still running'), 60_000)),
  ]);
  t.equal(code, 0, 'logs -f ends when the container ends', { stdout: followed, stderr: followErr });
});

t.test('stop sends SIGTERM and keeps the container; start runs it again', { skip }, async (t) => {
  const run = await cluster.deploy([
    'run',
    '-d',
    '--name',
    'stoppable',
    '--stop-timeout',
    '30',
    cluster.images.busybox,
    'sh',
    '-c',
    'trap "echo got TERM; exit 0" TERM; echo started; while :; do sleep 0.2; done',
  ]);
  t.equal(run.code, 0, 'run -d succeeds', output(run));
  await waitFor('it to start', async () =>
    /started/.test((await cluster.deploy(['logs', 'stoppable'])).stdout),
  );

  const stop = await cluster.deploy(['stop', 'stoppable']);
  t.equal(stop.code, 0, 'stop succeeds', output(stop));
  t.match(stop.stdout, /^stoppable$/m, 'and prints the name');
  const stopped = await inspect(cluster, 'stoppable');
  t.equal(stopped.doc.State?.Status, 'exited', 'after stop the container has exited', output(stopped.raw));
  t.equal(
    stopped.doc.State?.ExitCode,
    0,
    'through its own TERM handler (exit 0, not SIGKILL)',
    output(stopped.raw),
  );
  const logs = await cluster.deploy(['logs', 'stoppable']);
  t.match(logs.stdout, /got TERM/, 'it received SIGTERM', output(logs));
  const { rows, raw } = await psRows(cluster);
  t.match(rows.get('stoppable') ?? '', /Exited \(0\)/, 'ps -a: Exited (0)', output(raw));
  t.ok(await podExists(cluster, 'stoppable'), 'the pod is kept');

  const start = await cluster.deploy(['start', 'stoppable']);
  t.equal(start.code, 0, 'start succeeds', output(start));
  const again = await waitFor('it to run again', async () => {
    const i = await inspect(cluster, 'stoppable');
    return i.doc.State?.Running ? i : undefined;
  });
  t.equal(mainStatus(again.pod)?.restartCount, 1, 'as its second run (restartCount 1)');
  // Like kubectl (and unlike docker, whose log file spans runs), logs shows the current run
  // and --previous the one before.
  await waitFor('the second run to log', async () =>
    /started/.test((await cluster.deploy(['logs', 'stoppable'])).stdout),
  );
  t.pass('logs shows the second run');
  const previous = await cluster.deploy(['logs', '--previous', 'stoppable']);
  t.match(
    previous.stdout,
    /started\n(.*\n)*got TERM/,
    'logs --previous shows the first run up to its SIGTERM',
    output(previous),
  );
});

t.test('rm -f kills at once, even while a long graceful stop is under way', { skip }, async (t) => {
  // sleep as PID 1 ignores SIGTERM, so a stop waits out the whole 600 s grace.
  const run = await cluster.deploy([
    'run',
    '-d',
    '--name',
    'stubborn',
    '--stop-timeout',
    '600',
    cluster.images.busybox,
    'sleep',
    '3600',
  ]);
  t.equal(run.code, 0, 'run -d succeeds', output(run));
  const running = await waitFor('it to run', async () => {
    const i = await inspect(cluster, 'stubborn');
    return i.doc.State?.Running ? i : undefined;
  });
  const id = (mainStatus(running.pod)?.containerID ?? '').replace(/^runc:\/\//, '');
  const stop = cluster.deployChild(['stop', 'stubborn']);
  t.teardown(() => {
    stop.kill('SIGKILL');
    // Should this fail, end the wait here so that later tests see a clean node.
    if (cluster.runcContainers().some((c) => c.id === id)) cluster.runcKill(id);
  });
  await waitFor(
    'the stop to be under way',
    async () => (await cluster.admin.getPod('stubborn')).spec?.stopped,
  );
  const rm = await cluster.deploy(['rm', '-f', 'stubborn']);
  t.equal(rm.code, 0, 'rm -f succeeds', output(rm));
  await waitFor(
    'the container to be killed without waiting out the 600 s grace',
    () => {
      const left = cluster.runcContainers().filter((c) => c.id === id);
      if (left.length > 0) throw new Error(`runc still lists ${id} (${left[0]?.status})`);
      return true;
    },
    { timeoutMs: 60_000 },
  );
  t.pass('rm -f overrides the grace of a stop in progress');
  t.notOk(await podExists(cluster, 'stubborn'), 'and the pod is gone');
});

t.test('exec -it gives the command a terminal', { skip }, async (t) => {
  const run = await cluster.deploy(['run', '-d', '--name', 'shell', cluster.images.busybox, 'sleep', '3600']);
  t.equal(run.code, 0, 'run -d succeeds', output(run));
  await waitFor('it to run', async () => (await inspect(cluster, 'shell')).doc.State?.Running);
  const session = cluster.pty(['exec', '-it', 'shell', 'sh'], { rows: 30, cols: 90 });
  t.teardown(() => session.close());
  await session.expect(/\/ # /, 'the shell prompt');
  let mark = session.output.length;
  session.write('tty; stty size\r');
  await session.expect(/^\/dev\/pts\/\d+\r?\n30 90\r?$/m, 'a terminal of our size', mark);
  t.pass('the command runs on a terminal of our window size');
  mark = session.output.length;
  session.write('echo $((2+3))\r');
  await session.expect(/^5\r?$/m, 'the shell to answer', mark);
  session.write('exit 2\r');
  t.equal(await session.exitCode(60_000), 2, 'exit 2 makes exec exit 2', {
    terminal: session.output.slice(-500),
  });
  const i = await inspect(cluster, 'shell');
  t.equal(i.doc.State?.Running, true, 'the container keeps running');
});

t.test('--env-file and --cpus', { skip }, async (t) => {
  const envFile = join(cluster.dir, 'env.list');
  writeFileSync(envFile, '# comment\nFIRST=one\nSECOND=two words\n');
  const run = await cluster.deploy([
    'run',
    '--rm',
    '--env-file',
    envFile,
    '--cpus',
    '0.5',
    cluster.images.busybox,
    'sh',
    '-c',
    'echo "$FIRST|$SECOND"; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us',
  ]);
  t.equal(run.code, 0, 'run succeeds', output(run));
  const [vars, quota, period] = run.stdout.split('\n');
  t.equal(vars, 'one|two words', 'the variables of the env file are set');
  t.equal(Number(quota) / Number(period), 0.5, `the CPU quota is half the period (${quota}/${period})`);
});

t.test('a name in use and a host port in use are refused with what to fix', { skip }, async (t) => {
  const first = await cluster.deploy(['run', '-d', '--name', 'dup', cluster.images.busybox, 'sleep', '3600']);
  t.equal(first.code, 0, 'the first run -d --name dup succeeds', output(first));
  const second = await cluster.deploy([
    'run',
    '-d',
    '--name',
    'dup',
    cluster.images.busybox,
    'sleep',
    '3600',
  ]);
  t.not(second.code, 0, 'a second pod of that name is refused', output(second));
  t.match(second.stderr, /dup/, 'naming it', output(second));
  t.match(second.stderr, /already|in use|exists/i, 'and saying it is taken', output(second));

  const rm = await cluster.deploy(['rm', 'dup']);
  t.not(rm.code, 0, 'rm of a running pod without -f is refused', output(rm));
  t.match(rm.stderr, /-f/, 'pointing at rm -f', output(rm));

  const port = await freePort();
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const clash = await cluster.deploy(['run', '--rm', '-p', `${port}:8080`, cluster.images.busybox, 'true'], {
    timeoutMs: 120_000,
  });
  t.not(clash.code, 0, `a host port in use (${port}) makes run fail`, output(clash));
  t.match(clash.stderr, new RegExp(String(port)), 'naming the port', output(clash));
  t.match(clash.stderr, /in use|allocated|taken/i, 'and saying it is in use', output(clash));
});

t.test('an image the node may not pull fails with unauthorized and what to fix', { skip }, async (t) => {
  const registry = await startRegistry(cluster.dir, {
    name: 'private-registry',
    users: [{ username: 'ci', password: 'hunter2' }],
  });
  t.teardown(() => registry.stop());
  const login = await cluster.deploy(['login', '-u', 'ci', '--password-stdin', registry.host], {
    stdin: 'hunter2\n',
  });
  t.equal(login.code, 0, 'the CLI logs in', output(login));
  const image = `${registry.host}/team/private:v1`;
  for (const step of [
    ['tag', 'busybox', image],
    ['push', image],
  ]) {
    const r = await cluster.deploy(step);
    t.equal(r.code, 0, `deploy ${step.join(' ')}`, output(r));
  }
  // The agent has no credentials for it (no --registry-auth-file).
  const run = await cluster.deploy(['run', '--rm', image, 'true'], { timeoutMs: 180_000 });
  t.equal(run.code, 125, 'run fails before a container exists (125)', output(run));
  t.ok(run.stderr.includes('team/private'), 'the message names the image', output(run));
  t.match(
    run.stderr,
    /unauthori[sz]ed|authentication|credentials/i,
    'and says the pull was refused',
    output(run),
  );
});

t.test('ps -q, ps --filter and inspect --format', { skip }, async (t) => {
  const quiet = await cluster.deploy(['ps', '-q']);
  t.equal(quiet.code, 0, 'ps -q succeeds', output(quiet));
  const names = quiet.stdout.split('\n').filter(Boolean).sort();
  t.ok(
    names.includes('dup') && names.includes('shell'),
    'ps -q prints the running pods’ names',
    output(quiet),
  );
  t.ok(
    names.every((n) => /^[a-z0-9-]+$/.test(n)),
    'and nothing else',
    output(quiet),
  );
  const format = await cluster.deploy(['inspect', '--format', '{{.State.Status}} {{.Name}}', 'shell']);
  t.equal(format.stdout, 'running /shell\n', 'inspect --format renders the template', output(format));
  const filtered = await cluster.deploy(['ps', '-q', '--filter', 'name=shell']);
  t.equal(filtered.stdout, 'shell\n', 'ps --filter name= keeps that pod only', output(filtered));
});

t.test('two containers of one pod share localhost and an emptyDir', { skip }, async (t) => {
  await cluster.createPod('duo', {
    restartPolicy: 'Never',
    volumes: [{ name: 'shared', emptyDir: {} }],
    containers: [
      {
        name: 'server',
        image: cluster.images.web,
        command: [
          'sh',
          '-c',
          'echo from-server > /shared/note; echo served-page > /www/index.html; exec httpd -f -p 8080 -h /www',
        ],
        volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
      },
      {
        name: 'client',
        image: cluster.images.busybox,
        command: [
          'sh',
          '-c',
          'until wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done; cat /shared/note; exec sleep 3600',
        ],
        volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
      },
    ],
  });
  const logs = await waitFor('the client to reach the server on localhost', async () => {
    const r = await cluster.deploy(['logs', 'duo/client']);
    return /served-page/.test(r.stdout) ? r : undefined;
  });
  t.match(
    logs.stdout,
    /served-page/,
    'the client container fetched the page from 127.0.0.1:8080',
    output(logs),
  );
  t.match(logs.stdout, /from-server/, 'and read what the server wrote into the emptyDir', output(logs));
  const exec = await cluster.deploy(['exec', '-c', 'server', 'duo', 'cat', '/shared/note']);
  t.equal(exec.stdout, 'from-server\n', 'exec -c picks the container', output(exec));
  const i = await inspect(cluster, 'duo');
  t.equal(i.pod.status?.containerStatuses.length, 2, 'both containers have a status');
  t.ok(
    i.pod.status?.containerStatuses.every((s) => s.state?.running),
    'both run',
    output(i.raw),
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
