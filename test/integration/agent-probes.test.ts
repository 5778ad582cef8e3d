import t from 'tap';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { probeHttpGet, resolveProbe, startProbing, type ProbeEvent } from '@flotilla/agent';
import { freePort, waitFor } from '../lib/index.js';

const listen = (server: HttpServer | TcpServer, port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

t.test('httpGet liveness and readiness follow the handler 200 → 500 → 200', async (t) => {
  let status = 200;
  const server = createHttpServer((_req, res) => {
    res.statusCode = status;
    res.end('x');
  });
  const port = await freePort();
  await listen(server, port);
  const controller = new AbortController();
  t.teardown(() => {
    controller.abort();
    server.closeAllConnections();
    server.close();
  });

  const ports = [{ name: 'http', containerPort: port }];
  const probe = { httpGet: { port: 'http', path: '/healthz' }, periodSeconds: 1, failureThreshold: 2 };
  const events: ProbeEvent[] = [];
  const probing = startProbing({
    probes: [resolveProbe(probe, 'liveness', ports), resolveProbe(probe, 'readiness', ports)],
    target: { host: '127.0.0.1' },
    signal: controller.signal,
    onChange: (e) => events.push(e),
  });

  await waitFor('ready', () => probing.status().ready);
  t.equal(probing.status().probes.liveness?.state, 'success');
  status = 500;
  await waitFor('not ready', () => !probing.status().ready);
  const restart = await waitFor('liveness restart signal', () =>
    events.flatMap((e) => e.signals).find((s) => s.type === 'restart'),
  );
  t.match(restart, {
    type: 'restart',
    kind: 'liveness',
    message: /failed 2 times in a row: GET .*\/healthz: HTTP status 500/,
  });
  t.equal(probing.status().probes.readiness?.state, 'failure');
  status = 200;
  await waitFor('ready again', () => probing.status().ready);
  await waitFor('liveness success again', () => probing.status().probes.liveness?.state === 'success');
  t.same(
    events.filter((e) => e.kind === 'readiness').flatMap((e) => e.signals),
    [
      { type: 'ready', ready: true },
      { type: 'ready', ready: false },
      { type: 'ready', ready: true },
    ],
  );
});

t.test('tcpSocket follows a listener closed and reopened', async (t) => {
  const port = await freePort();
  let server = createTcpServer((s) => s.destroy());
  await listen(server, port);
  const controller = new AbortController();
  t.teardown(() => {
    controller.abort();
    server.close();
  });
  const probing = startProbing({
    probes: [resolveProbe({ tcpSocket: { port }, periodSeconds: 1, failureThreshold: 2 }, 'readiness', [])],
    target: { host: '127.0.0.1' },
    signal: controller.signal,
    onChange: () => undefined,
  });
  await waitFor('ready', () => probing.status().ready);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await waitFor('not ready after the listener closed', () => !probing.status().ready);
  t.match(probing.status().probes.readiness?.lastResult, { outcome: 'failure', message: /ECONNREFUSED/ });
  server = createTcpServer((s) => s.destroy());
  await listen(server, port);
  await waitFor('ready after the listener reopened', () => probing.status().ready);
  t.equal(probing.status().probes.readiness?.state, 'success');
});

t.test('a handler that never answers is a timeout failure', async (t) => {
  const server = createHttpServer(() => undefined);
  const port = await freePort();
  await listen(server, port);
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const action = {
    type: 'httpGet' as const,
    scheme: 'HTTP' as const,
    host: undefined,
    port,
    path: '/',
    headers: [],
  };
  const attempt = await probeHttpGet(action, '127.0.0.1', 1000);
  t.equal(attempt.outcome, 'timeout');
  t.match(attempt.message, /no response within 1000 ms/);

  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const probing = startProbing({
    probes: [resolveProbe({ httpGet: { port }, periodSeconds: 1, failureThreshold: 1 }, 'liveness', [])],
    target: { host: '127.0.0.1' },
    signal: controller.signal,
    onChange: () => undefined,
  });
  await waitFor(
    'liveness failure from timeouts',
    () => probing.status().probes.liveness?.state === 'failure',
  );
  t.equal(probing.status().probes.liveness?.lastResult?.outcome, 'timeout');
});

t.test('the scheduler runs liveness only after startup succeeded, and stops on abort', async (t) => {
  const calls: string[] = [];
  let startupAttempts = 0;
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const exec = { exec: { command: ['true'] }, periodSeconds: 1 };
  const probing = startProbing({
    probes: [resolveProbe(exec, 'startup', []), resolveProbe(exec, 'liveness', [])],
    target: { host: '127.0.0.1' },
    signal: controller.signal,
    onChange: () => undefined,
    attempt: async (probe) => {
      calls.push(probe.kind);
      if (probe.kind === 'startup') return { outcome: ++startupAttempts >= 2 ? 'success' : 'failure' };
      return { outcome: 'success' };
    },
  });
  await waitFor('two liveness runs', () => calls.filter((k) => k === 'liveness').length >= 2);
  t.ok(probing.status().started);
  t.same(calls.slice(0, 2), ['startup', 'startup'], 'startup ran first, alone');
  t.equal(calls.filter((k) => k === 'startup').length, 2, 'startup stopped once it succeeded');
  controller.abort();
  const after = calls.length;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(calls.length, after, 'no run after abort');
});
