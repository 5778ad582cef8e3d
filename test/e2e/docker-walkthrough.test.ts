// A Docker tutorial's walkthrough through the cluster, end to end: etcd, NATS, a registry,
// the controller and one agent that runs pods with runc, conmon and CNI, all started here;
// the images are built and pushed by `deploy build`/`deploy push`, and every step is the
// real `deploy` CLI as a child process. Run: hello (greeting, ps -a, logs, inspect, rm);
// run -it through a pseudo-terminal; a web server with a port, a read-only volume and an
// environment variable; bad input. The last test checks that nothing of the run is left.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DockerCluster,
  dockerE2eSkip,
  freePort,
  inspect,
  podExists,
  removeAllPods,
  psRows,
  repoRoot,
  output,
  waitFor,
} from '../lib/index.js';

const skip = dockerE2eSkip();
let cluster: DockerCluster;

t.before(async () => {
  if (skip) return;
  cluster = await DockerCluster.start({ label: 'walk' });
});
t.teardown(async () => {
  await cluster?.destroy();
});

async function httpGet(port: number, path = '/'): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: await res.text() };
}

t.test('the cluster is up: the node is Ready', { skip }, async (t) => {
  const nodes = await cluster.deploy(['nodes']);
  t.equal(nodes.code, 0, `deploy nodes succeeds`, output(nodes));
  t.match(nodes.stdout, new RegExp(`\\n${cluster.nodeName}\\s+Ready\\s`), 'the node is Ready');
});

t.test('run hello: greeting, ps -a, logs, inspect, rm', { skip }, async (t) => {
  const greeting = readFileSync(join(repoRoot, 'examples', 'hello', 'hello.txt'), 'utf8');
  const dataDir = join(cluster.dir, 'hello-data');
  mkdirSync(dataDir, { recursive: true });
  const hostPort = await freePort();
  const run = await cluster.deploy([
    'run',
    '--name',
    'hello',
    '-e',
    'GREETED=world',
    '-p',
    `${hostPort}:8080`,
    '-v',
    `${dataDir}:/data:ro`,
    cluster.images.hello,
  ]);
  t.equal(run.code, 0, `run exits with the container's code 0`, output(run));
  t.ok(run.stdout.includes(greeting.trim()), `run prints the greeting`, output(run));

  const exited = await waitFor('ps -a to list hello as exited', async () => {
    const { rows, raw } = await psRows(cluster);
    const row = rows.get('hello');
    if (!row || !/Exited \(0\)/.test(row)) throw new Error(`ps -a showed:\n${raw.stdout}`);
    return row;
  });
  t.match(exited, cluster.images.hello.split('/').pop() ?? 'hello', 'the row names the image');
  const running = await psRows(cluster, false);
  t.notOk(running.rows.has('hello'), 'ps without -a does not list it', output(running.raw));

  const logs = await cluster.deploy(['logs', 'hello']);
  t.equal(logs.code, 0, `logs succeeds`, output(logs));
  t.ok(logs.stdout.includes(greeting.trim()), `logs shows the greeting`, output(logs));

  const { doc, raw } = await inspect(cluster, 'hello');
  t.equal(doc.Name, '/hello', 'inspect names the pod', output(raw));
  t.equal(doc.Config?.Image, cluster.images.hello, 'inspect shows the image', output(raw));
  t.equal(doc.State?.Status, 'exited', 'and its state', output(raw));
  t.equal(doc.State?.ExitCode, 0, 'and the exit code', output(raw));
  const argv = [doc.Path, ...(doc.Args ?? [])].join(' ');
  const cmd = [...(doc.Config?.Entrypoint ?? []), ...(doc.Config?.Cmd ?? [])].join(' ');
  t.ok(
    argv.includes('cat /hello.txt') || cmd.includes('cat /hello.txt'),
    `inspect shows the command the container ran (the image's CMD), as docker inspect does`,
    output(raw),
  );
  t.ok(doc.Config?.Env?.includes('GREETED=world'), `inspect shows the env`, output(raw));
  t.same(
    doc.HostConfig?.PortBindings?.['8080/tcp']?.map((b) => b.HostPort),
    [String(hostPort)],
    'inspect shows the port binding',
    output(raw),
  );
  t.match(
    doc.Mounts,
    [{ Source: dataDir, Destination: '/data', RW: false }],
    `inspect shows the read-only mount`,
    output(raw),
  );

  const rm = await cluster.deploy(['rm', 'hello']);
  t.equal(rm.code, 0, `rm succeeds`, output(rm));
  await waitFor('ps -a to no longer list hello', async () => {
    const { rows, raw } = await psRows(cluster);
    if (rows.has('hello')) throw new Error(`ps -a still showed:\n${raw.stdout}`);
    return true;
  });
  t.notOk(await podExists(cluster, 'hello'), 'the pod is gone from the cluster');
  const again = await cluster.deploy(['logs', 'hello']);
  t.not(again.code, 0, 'logs of a removed pod fails', output(again));
  t.match(again.stderr, /hello/, 'naming the pod', output(again));
});

t.test('run -it --rm busybox sh through a pseudo-terminal', { skip }, async (t) => {
  const session = cluster.pty(['run', '-it', '--rm', cluster.images.busybox, 'sh'], { rows: 40, cols: 100 });
  t.teardown(() => session.close());
  // busybox sh's prompt for root ("/ # ", followed by its line editor's escape sequences).
  await session.expect(/\/ # /, 'the shell prompt');

  let mark = session.output.length;
  session.write('echo $((6*7))\r');
  await session.expect(/^42\r?$/m, 'echo $((6*7)) to print 42', mark);
  t.pass('echo $((6*7)) prints 42');

  const pod = await waitFor('the run -it pod to be listed', async () => {
    const pods = await cluster.admin.listPods('default');
    return pods.items.find(
      (p) => p.spec?.containers[0]?.tty && p.spec.containers[0].image === cluster.images.busybox,
    );
  });
  const name = pod.metadata?.name ?? '';
  t.ok(name, 'the pod has a (generated) name');
  t.equal(pod.metadata?.annotations['flotilla.io/auto-remove'], 'true', '--rm is the auto-remove annotation');
  mark = session.output.length;
  session.write('hostname\r');
  await session.expect(new RegExp(`^${name}\\r?$`, 'm'), `hostname to print ${name}`, mark);
  t.pass('hostname prints the pod name');

  mark = session.output.length;
  session.write('stty size\r');
  await session.expect(/^40 100\r?$/m, 'the container terminal to have the window size of ours', mark);
  t.pass('the container terminal starts with our window size');
  session.resize(50, 120);
  await waitFor('a window resize to reach the container terminal', async () => {
    const from = session.output.length;
    session.write('stty size\r');
    await session.expect(/^\d+ \d+\r?$/m, 'stty size to answer', from, 10_000);
    return /^50 120\r?$/m.test(session.output.slice(from)) || undefined;
  });
  t.pass('a window resize reaches the container terminal');

  // Ctrl-C goes to the container's foreground process, not to the CLI.
  mark = session.output.length;
  session.write("sh -c 'echo sleeping; exec sleep 1000'\r");
  await session.expect(/^sleeping\r?$/m, 'the child shell to start sleeping', mark);
  session.write('\x03');
  mark = session.output.length;
  session.write('echo status=$?\r');
  await session.expect(/^status=130\r?$/m, 'Ctrl-C to interrupt sleep inside the container', mark);
  t.pass('Ctrl-C interrupts the command in the container and the session goes on');

  session.write('exit 3\r');
  const code = await session.exitCode(60_000);
  t.equal(code, 3, 'exit 3 makes the CLI exit 3', { terminal: session.output.slice(-500) });
  await waitFor(`the --rm pod ${name} to be removed`, async () => !(await podExists(cluster, name)), {
    timeoutMs: 60_000,
  });
  t.pass('with --rm the pod is gone afterwards');
});

t.test('run -d -p with a read-only volume and an environment variable', { skip }, async (t) => {
  const www = join(cluster.dir, 'www');
  mkdirSync(www, { recursive: true });
  const first = `first ${randomBytes(4).toString('hex')}\n`;
  writeFileSync(join(www, 'index.html'), first);
  const hostPort = await freePort();
  const run = await cluster.deploy([
    'run',
    '-d',
    '-p',
    `${hostPort}:8080`,
    '--name',
    'web',
    '-v',
    `${www}:/www:ro`,
    '-e',
    'GREETING=hi',
    cluster.images.web,
  ]);
  t.equal(run.code, 0, `run -d succeeds`, output(run));
  t.ok(run.stdout.trim().length > 0, 'and prints what it started');

  const served = await waitFor(
    `HTTP 200 on 127.0.0.1:${hostPort}`,
    async () => {
      const res = await httpGet(hostPort);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      return res.body;
    },
    { timeoutMs: 90_000 },
  );
  t.equal(served, first, 'the page comes from the host directory');

  const second = `second ${randomBytes(4).toString('hex')}\n`;
  writeFileSync(join(www, 'index.html'), second);
  const changed = await waitFor('the changed file to be served', async () => {
    const res = await httpGet(hostPort);
    return res.status === 200 && res.body === second ? res.body : undefined;
  });
  t.equal(changed, second, 'a file changed on the host is served changed');

  const write = await cluster.deploy(['exec', 'web', 'sh', '-c', 'echo x > /www/f']);
  t.not(write.code, 0, `a write inside the container fails`, output(write));
  t.match(write.stderr + write.stdout, /read-only/i, 'because the file system is read-only', output(write));
  t.notOk(existsSync(join(www, 'f')), 'and nothing reached the host');

  const echo = await cluster.deploy(['exec', 'web', 'sh', '-c', 'echo $GREETING']);
  t.equal(echo.code, 0, `exec succeeds`, output(echo));
  t.equal(echo.stdout, 'hi\n', 'GREETING=hi is visible inside', output(echo));
  const env = await cluster.deploy(['exec', 'web', 'env']);
  t.match(env.stdout, /^GREETING=hi$/m, `env lists it`, output(env));
  const status = await cluster.deploy(['exec', 'web', 'sh', '-c', 'exit 5']);
  t.equal(status.code, 5, "exec exits with the command's code", output(status));

  const { rows, raw } = await psRows(cluster, false);
  t.match(rows.get('web') ?? '', /Up /, `ps lists web as up`, output(raw));
  t.match(rows.get('web') ?? '', new RegExp(`${hostPort}->8080/tcp`), 'with its port', output(raw));
  const logs = await cluster.deploy(['logs', 'web']);
  t.equal(logs.code, 0, `logs of web succeeds`, output(logs));

  const rm = await cluster.deploy(['rm', '-f', 'web']);
  t.equal(rm.code, 0, `rm -f of a running pod succeeds`, output(rm));
  await waitFor('web to be gone', async () => !(await podExists(cluster, 'web')), { timeoutMs: 60_000 });
  await waitFor(`nothing to answer on ${hostPort}`, async () => {
    try {
      await httpGet(hostPort);
      return false;
    } catch {
      return true;
    }
  });
  t.pass('after rm -f the port no longer answers');
});

t.test('bad input is reported by the CLI with what to fix', { skip }, async (t) => {
  const missing = `${cluster.registry.host}/nope/missing:v1`;
  const noImage = await cluster.deploy(['run', '--rm', missing], { timeoutMs: 180_000 });
  t.not(noImage.code, 0, `run of an image that does not exist fails`, output(noImage));
  t.ok(noImage.stderr.includes('nope/missing'), `the message names the image`, output(noImage));
  t.match(
    noImage.stderr,
    /not found|does not exist|manifest unknown|no such/i,
    'and says why',
    output(noImage),
  );

  const noCommand = await cluster.deploy(['run', '--rm', cluster.images.busybox, '/no/such/cmd'], {
    timeoutMs: 180_000,
  });
  t.not(noCommand.code, 0, `run of a command that does not exist fails`, output(noCommand));
  t.ok(noCommand.stderr.includes('/no/such/cmd'), 'the message names the command', output(noCommand));
  t.match(noCommand.stderr, /not found|no such file/i, 'and says it was not found', output(noCommand));
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
