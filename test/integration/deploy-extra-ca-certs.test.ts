// NODE_EXTRA_CA_CERTS and the `deploy` executable (deploy/bin/deploy.js): run as users run
// it (the file executed, through its /bin/sh launcher), Node does not parse the file at the
// CLI's start, every process the CLI starts inherits the variable as the user set it, and
// a registry connection still trusts a CA that only that file holds. `node bin/deploy.js`,
// which skips the launcher, is the control: there Node parses the file itself.
import t from 'tap';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@flotilla/common';
import { deployMain, makeRunDir, runCommand, type RunResult } from '../lib/index.js';

const dir = makeRunDir('extra-ca');
const servers: Server[] = [];
t.teardown(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!process.env.FLOTILLA_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
});

// Node's own warning when it cannot load the file at its start.
const nodeWarning = /Ignoring extra certs from/;

// Preloaded into the CLI (NODE_OPTIONS=--require): writes, as the CLI exits, the variables
// that every process it starts would inherit.
const probe = join(dir, 'probe.cjs');
const probeOut = join(dir, 'probe.json');
writeFileSync(
  probe,
  `process.once('exit', () => require('node:fs').writeFileSync(${JSON.stringify(probeOut)}, JSON.stringify({
    extra: process.env.NODE_EXTRA_CA_CERTS ?? null,
    certFile: process.env.SSL_CERT_FILE ?? null,
    launcher: Object.keys(process.env).filter((k) => k.startsWith('FLOTILLA_CLI_') && k !== 'FLOTILLA_CLI_TRACE'),
  })));\n`,
);
interface Probe {
  extra: string | null;
  certFile: string | null;
  /** The launcher's own variables: none may reach a process the CLI starts. */
  launcher: string[];
}

const baseEnv = (extra: Record<string, string | undefined>): NodeJS.ProcessEnv => ({
  HOME: dir,
  FLOTILLA_CONFIG: '',
  FLOTILLA_AUTH_FILE: join(dir, 'auth.json'),
  FLOTILLA_CERTS_DIR: join(dir, 'certs.d'),
  // The launcher execs the `node` on PATH, as `#!/usr/bin/env node` did.
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
  NODE_EXTRA_CA_CERTS: undefined,
  SSL_CERT_FILE: undefined,
  NODE_OPTIONS: undefined,
  ...extra,
});

/** `deploy ARGS` executed as a user runs it, or (viaNode) as `node bin/deploy.js ARGS`. */
function deploy(
  args: string[],
  env: Record<string, string | undefined>,
  options: { viaNode?: boolean; input?: string } = {},
): Promise<RunResult> {
  const [command, argv] = options.viaNode ? [process.execPath, [deployMain, ...args]] : [deployMain, args];
  return runCommand(command, argv, {
    env: baseEnv(env),
    timeoutMs: 60_000,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

async function probed(env: Record<string, string | undefined>, viaNode = false): Promise<[RunResult, Probe]> {
  rmSync(probeOut, { force: true });
  const nodeOptions = [env.NODE_OPTIONS, `--require ${probe}`].filter(Boolean).join(' ');
  const result = await deploy(['--help'], { ...env, NODE_OPTIONS: nodeOptions }, { viaNode });
  return [result, JSON.parse(readFileSync(probeOut, 'utf8')) as Probe];
}

const show = (r: RunResult): string => `\nexit ${r.code}\n${r.stdout}\n${r.stderr}`;

t.test('the CLI does not parse NODE_EXTRA_CA_CERTS at its start, and hands it on as set', async (t) => {
  // A file Node cannot load makes Node warn at its start: the sign that it parsed.
  const missing = join(dir, 'missing.pem');

  const [control, controlEnv] = await probed({ NODE_EXTRA_CA_CERTS: missing }, true);
  t.equal(control.code, 0, `node bin/deploy.js --help exits 0\n${control.stderr}`);
  t.match(control.stderr, nodeWarning, 'node bin/deploy.js: Node parses the file itself (the control)');
  t.same(controlEnv, { extra: missing, certFile: null, launcher: [] });

  const [run, runEnv] = await probed({ NODE_EXTRA_CA_CERTS: missing });
  t.equal(run.code, 0, `deploy --help exits 0\n${run.stderr}`);
  t.notMatch(run.stderr, nodeWarning, 'executed, the CLI process does not parse it');
  t.same(
    runEnv,
    { extra: missing, certFile: null, launcher: [] },
    'and the processes it starts get it as the user set it, SSL_CERT_FILE unset as it was',
  );

  const [, emptyEnv] = await probed({ NODE_EXTRA_CA_CERTS: '', SSL_CERT_FILE: '' });
  t.same(emptyEnv, { extra: '', certFile: '', launcher: [] }, 'set but empty stays set but empty');
  const [, unsetEnv] = await probed({});
  t.same(unsetEnv, { extra: null, certFile: null, launcher: [] }, 'unset stays unset');
  const [, certFileEnv] = await probed({ SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt' });
  t.same(
    certFileEnv,
    { extra: null, certFile: '/etc/ssl/certs/ca-certificates.crt', launcher: [] },
    "a user's SSL_CERT_FILE too",
  );

  const [openssl, opensslEnv] = await probed({
    NODE_EXTRA_CA_CERTS: missing,
    NODE_OPTIONS: '--use-openssl-ca',
  });
  t.match(openssl.stderr, nodeWarning, 'with --use-openssl-ca the file is left to Node, as before');
  t.same(opensslEnv, { extra: missing, certFile: null, launcher: [] });
  const [bundled, bundledEnv] = await probed({
    NODE_EXTRA_CA_CERTS: missing,
    NODE_OPTIONS: '--use-bundled-ca',
  });
  t.equal(bundled.code, 0, `with --use-bundled-ca too (Node refuses both flags)\n${bundled.stderr}`);
  t.same(bundledEnv, { extra: missing, certFile: null, launcher: [] });
});

t.test('a registry behind a CA that only NODE_EXTRA_CA_CERTS holds is trusted', async (t) => {
  // The registry answers on loopback in plain HTTP (the CLI's default there) and sends the
  // client for a token to its realm: an HTTPS token server whose certificate the test's CA
  // signed. `deploy login` goes through the whole flow, so it succeeds only if the CLI's
  // registry client trusts that CA.
  const ca = await createCertificateAuthority('flotilla extra-ca test CA', 2);
  const cert = await issueCertificate(ca, {
    subject: { commonName: '127.0.0.1' },
    usage: 'server',
    ipAddresses: ['127.0.0.1'],
    validDays: 2,
  });
  const caFile = join(dir, 'extra-ca.pem');
  writeFileSync(caFile, ca.certPem);
  const token = 'token-for-ci';
  const basic = `Basic ${Buffer.from('ci:hunter2').toString('base64')}`;
  const tokenServer = createHttpsServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    if (req.headers.authorization !== basic) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
  });
  const tokenPort = await listen(tokenServer);
  const registry = createHttpServer((req, res) => {
    if (req.url === '/v2/' && req.headers.authorization === `Bearer ${token}`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    res
      .writeHead(401, {
        'www-authenticate': `Bearer realm="https://127.0.0.1:${tokenPort}/token",service="test-registry"`,
      })
      .end();
  });
  const registryHost = `127.0.0.1:${await listen(registry)}`;
  const login = (env: Record<string, string | undefined>, viaNode = false): Promise<RunResult> =>
    deploy(['login', '-u', 'ci', '--password-stdin', registryHost], env, { viaNode, input: 'hunter2\n' });

  const untrusted = await login({});
  t.equal(untrusted.code, 1, `without the CA the token server is not trusted${show(untrusted)}`);
  t.match(untrusted.stderr, /certificate/);

  const trusted = await login({ NODE_EXTRA_CA_CERTS: caFile, FLOTILLA_CLI_TRACE: '1' });
  t.equal(trusted.code, 0, `with the CA in NODE_EXTRA_CA_CERTS, deploy login succeeds${show(trusted)}`);
  t.match(trusted.stdout, /Login Succeeded/);
  t.match(trusted.stderr, /NODE_EXTRA_CA_CERTS left to the registry client/, 'through the launcher');

  const asBefore = await login({ NODE_EXTRA_CA_CERTS: caFile }, true);
  t.equal(asBefore.code, 0, `and as before through node bin/deploy.js${show(asBefore)}`);

  // A CA of the host's own (Docker's certs.d layout), with the launcher's empty default store.
  const certs = join(dir, 'certs.d', `127.0.0.1:${tokenPort}`);
  mkdirSync(certs, { recursive: true });
  writeFileSync(join(certs, 'ca.crt'), ca.certPem);
  const own = await login({});
  t.equal(own.code, 0, `with the CA in certs.d instead, deploy login succeeds${show(own)}`);
  rmSync(certs, { recursive: true });

  const missing = await login({ NODE_EXTRA_CA_CERTS: join(dir, 'missing.pem'), FLOTILLA_CLI_TRACE: '1' });
  t.equal(missing.code, 1, `an unreadable file adds no CA${show(missing)}`);
  t.match(missing.stderr, /ignoring the extra CA certificates of NODE_EXTRA_CA_CERTS/, 'and says so');
});

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}
