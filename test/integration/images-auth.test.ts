// Registry auth against real docker-registry servers: htpasswd (Basic) over TLS with a
// certificate made here, and token auth (Bearer) with a token server run by the test.
import t from 'tap';
import { createHash, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  createCertificateAuthority,
  issueCertificate,
  silentLogger,
  type KeyAndCert,
} from '@flotilla/common';
import {
  FileContentStore,
  FileCredentialStore,
  FileImageStore,
  RegistryClient,
  login,
  logout,
  parseReference,
  type RegistryClientOptions,
} from '@flotilla/images';
import { freePort, makeRunDir, makeTestImage, startRegistry, type RegistryServer } from '../lib/index.js';

const dir = makeRunDir('images-auth');
const servers: { stop(): Promise<void> }[] = [];
t.teardown(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

let storeCount = 0;
function stores(): { content: FileContentStore; images: FileImageStore } {
  const root = join(dir, `stores-${++storeCount}`);
  return {
    content: new FileContentStore(join(root, 'content'), { logger: silentLogger }),
    images: new FileImageStore(join(root, 'images.json')),
  };
}

function client(options: RegistryClientOptions): RegistryClient {
  const c = new RegistryClient({ logger: silentLogger, retryDelayMs: 20, ...options });
  t.teardown(() => c.close());
  return c;
}

t.test('htpasswd over TLS: anonymous push refused, logged-in push accepted', async (t) => {
  const registry: RegistryServer = await startRegistry(dir, {
    name: 'tls-htpasswd',
    tls: true,
    users: [{ username: 'alice', password: 's3cret' }],
  });
  servers.push(registry);
  const hosts = { [registry.host]: { ca: registry.caPem } };
  const local = stores();
  const name = `${registry.host}/team/web:v1`;
  const image = await makeTestImage(dir, local, name, [{ 'index.html': '<h1>hi</h1>\n' }]);
  const ref = parseReference(name);

  await t.rejects(
    client({ hosts }).push(ref, local),
    {
      code: 'Unauthenticated',
      message: `push access denied for 127.0.0.1:${registry.host.split(':')[1]}/team/web: unauthorized (log in with deploy login ${registry.host})`,
    },
    'anonymous push is refused, saying how to log in',
  );
  await t.rejects(
    client({ hosts: { [registry.host]: { insecure: false } } }).push(ref, local),
    { code: 'Unavailable', message: /cannot reach registry .*certificate/ },
    'without the CA the certificate is not trusted',
  );

  const credentials = new FileCredentialStore(join(dir, 'home', '.flotilla', 'auth.json'));
  const loginClient = client({ hosts });
  await t.rejects(
    login(
      registry.host,
      { username: 'alice', password: 'wrong' },
      { client: loginClient, store: credentials },
    ),
    { code: 'Unauthenticated', message: `login to ${registry.host} failed: incorrect username or password` },
  );
  t.notOk(existsSync(credentials.path), 'refused credentials are not saved');
  t.equal(
    await login(
      registry.host,
      { username: 'alice', password: 's3cret' },
      { client: loginClient, store: credentials },
    ),
    registry.host,
  );
  t.equal(statSync(credentials.path).mode & 0o777, 0o600, 'credentials file is 0600');
  const saved = JSON.parse(readFileSync(credentials.path, 'utf8')) as {
    auths: Record<string, { auth: string }>;
  };
  t.equal(
    saved.auths[registry.host]?.auth,
    Buffer.from('alice:s3cret').toString('base64'),
    "Docker's config.json shape",
  );

  const loggedIn = client({ hosts, credentials: credentials.lookup() });
  const pushed = await loggedIn.push(ref, local);
  t.equal(pushed.target.digest, image.manifest.digest, 'the logged-in push is accepted');
  const pulled = await loggedIn.pull(ref, stores());
  t.equal(pulled.target.digest, image.manifest.digest, 'and the image pulls back');
  await t.rejects(
    client({ hosts }).pull(ref, stores()),
    {
      code: 'Unauthenticated',
      message: `pull access denied for ${name}: unauthorized (log in with deploy login ${registry.host})`,
    },
    'anonymous pull is refused too',
  );

  await credentials.set(registry.host, { username: 'alice', password: 'changed' });
  await t.rejects(
    client({ hosts, credentials: credentials.lookup() }).pull(ref, stores()),
    { code: 'Unauthenticated', message: /refused the saved credentials \(log in again with deploy login/ },
    'stale saved credentials are named as such',
  );
  t.equal(await logout(registry.host, credentials), true);
  t.equal(await logout(registry.host, credentials), false);
  t.equal(await credentials.get(registry.host), undefined);
});

// ---- token auth: a token server issuing ES256 JWTs with an x5c chain -------------------

interface TokenServer {
  realm: string;
  requests: { user: string | undefined; scopes: string[] }[];
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

async function startTokenServer(
  signer: KeyAndCert,
  service: string,
  issuer: string,
  users: Record<string, string>,
): Promise<TokenServer> {
  const port = await freePort();
  const requests: TokenServer['requests'] = [];
  const der = new X509Certificate(signer.certPem).raw.toString('base64');
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [name = '', password] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (users[name] !== password) {
        requests.push({ user: `!${name}`, scopes });
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"details":"incorrect username or password"}');
        return;
      }
      user = name;
    }
    requests.push({ user, scopes });
    // Logged-in users get what they ask for; anonymous ones may only pull.
    const access = scopes.map((scope) => {
      const [type, name, actions = ''] = scope.split(':');
      return {
        type,
        name,
        actions: actions.split(',').filter((a) => user !== undefined || a === 'pull'),
      };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c: [der] }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: user ?? '',
        aud: service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), {
      key: signer.keyPem,
      dsaEncoding: 'ieee-p1363',
    });
    const token = `${header}.${claims}.${b64url(signature)}`;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

t.test('token auth: bearer tokens per scope, anonymous pull, logged-in push', async (t) => {
  const ca = await createCertificateAuthority('flotilla test token CA');
  const signer = await issueCertificate(ca, {
    subject: { commonName: 'token-signer' },
    usage: 'server',
    dnsNames: ['token-signer'],
    validDays: 2,
  });
  const service = 'flotilla-test-registry';
  const issuer = 'flotilla-test-issuer';
  const tokens = await startTokenServer(signer, service, issuer, { bob: 'hunter2' });
  servers.push(tokens);
  const registry = await startRegistry(dir, {
    name: 'token',
    token: { realm: tokens.realm, service, issuer, rootCertPem: ca.certPem },
  });
  servers.push(registry);

  const local = stores();
  const name = `${registry.host}/team/api:v1`;
  const image = await makeTestImage(dir, local, name, [{ 'api.txt': 'api\n' }]);
  const ref = parseReference(name);

  await t.rejects(
    client({}).push(ref, local),
    {
      code: 'Unauthenticated',
      message: /push access denied for .*team\/api: unauthorized \(log in with deploy login/,
    },
    'an anonymous token does not allow a push',
  );
  const credentials = new FileCredentialStore(join(dir, 'token-auth.json'));
  await t.rejects(
    login(registry.host, { username: 'bob', password: 'nope' }, { client: client({}), store: credentials }),
    { code: 'Unauthenticated', message: /incorrect username or password/ },
    'the token server refuses a wrong password',
  );
  await login(
    registry.host,
    { username: 'bob', password: 'hunter2' },
    { client: client({}), store: credentials },
  );

  const bob = client({ credentials: credentials.lookup() });
  const pushed = await bob.push(ref, local);
  t.equal(pushed.target.digest, image.manifest.digest, 'the logged-in push is accepted');
  const pushScope = 'repository:team/api:pull,push';
  t.ok(
    tokens.requests.some((r) => r.user === 'bob' && r.scopes.includes(pushScope)),
    'a token for pull,push was asked for with the credentials',
  );
  const before = tokens.requests.length;
  const again = await bob.push(ref, local);
  t.strictSame(
    again.blobs.map((b) => b.action),
    ['exists', 'exists'],
  );
  t.equal(tokens.requests.length, before, 'the cached token is reused for the same scope');

  const pulled = await client({}).pull(ref, stores());
  t.equal(pulled.target.digest, image.manifest.digest, 'an anonymous pull works with a pull token');
  t.ok(
    tokens.requests.some((r) => r.user === undefined && r.scopes.includes('repository:team/api:pull')),
    'with an anonymous token for pull',
  );
  t.equal(
    createHash('sha256').update(image.manifestBytes).digest('hex'),
    image.manifest.digest.slice('sha256:'.length),
  );
});
