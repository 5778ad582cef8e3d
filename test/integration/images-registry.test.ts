// The registry client against a real docker-registry on loopback: push, pull into a
// clean store, an independent client (skopeo) reading the same bytes, image indexes, a
// connection dropped mid-blob, a corrupted blob refused; a TLS registry trusted through
// the extra CA file the CLI hands over.
import t from 'tap';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createCertificateAuthority, silentLogger } from '@flotilla/common';
import {
  FileContentStore,
  FileImageStore,
  RegistryClient,
  digestOf,
  hostPlatform,
  mediaTypes,
  parseReference,
  type ImageIndex,
} from '@flotilla/images';
import { makeRunDir, makeTestImage, runCommand, startRegistry, type RegistryServer } from '../lib/index.js';

const dir = makeRunDir('registry');
let registry: RegistryServer;
t.before(async () => {
  registry = await startRegistry(dir);
});
t.teardown(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let storeCount = 0;
function stores(): { content: FileContentStore; images: FileImageStore; root: string } {
  const root = join(dir, `stores-${++storeCount}`);
  return {
    root,
    content: new FileContentStore(join(root, 'content'), { logger: silentLogger }),
    images: new FileImageStore(join(root, 'images.json')),
  };
}

function client(): RegistryClient {
  const c = new RegistryClient({ logger: silentLogger, retryDelayMs: 20 });
  t.teardown(() => c.close());
  return c;
}

t.test('push, then pull into a clean store: the same digests', async (t) => {
  const local = stores();
  const name = `${registry.host}/test/hello:v1`;
  const image = await makeTestImage(dir, local, name, [
    { 'bin/hello': '#!/bin/sh\necho hello\n', 'etc/motd': 'welcome\n' },
    { 'srv/data.bin': randomBytes(20_000) },
  ]);
  const c = client();
  const ref = parseReference(name);
  const pushed = await c.push(ref, local);
  t.equal(pushed.target.digest, image.manifest.digest, 'the registry has the manifest we built');
  t.strictSame(
    pushed.blobs.map((b) => b.action),
    ['uploaded', 'uploaded', 'uploaded'],
    'config and both layers uploaded',
  );

  const again = await c.push(ref, local);
  t.strictSame(
    again.blobs.map((b) => b.action),
    ['exists', 'exists', 'exists'],
    'a second push finds every blob there',
  );

  // A push to another repository of the same registry mounts the blobs instead.
  const copyName = `${registry.host}/other/copy:v1`;
  const copied = await c.push(parseReference(copyName), { ...local, source: name });
  t.strictSame(
    copied.blobs.map((b) => [b.action, b.from]),
    [
      ['mounted', 'test/hello'],
      ['mounted', 'test/hello'],
      ['mounted', 'test/hello'],
    ],
    'cross-repository mount',
  );

  t.strictSame(await c.resolve(ref), {
    mediaType: mediaTypes.ociManifest,
    digest: image.manifest.digest,
    size: image.manifest.size,
  });

  const clean = stores();
  const record = await client().pull(ref, clean);
  t.equal(record.name, name);
  t.equal(record.target.digest, image.manifest.digest, 'pulled manifest digest');
  t.equal(record.target.platform?.architecture, hostPlatform().architecture);
  t.strictSame((await clean.images.get(name))?.target.digest, image.manifest.digest, 'name recorded');
  const expected = [image.manifest, image.config, ...image.layers].map((d) => d.digest).sort();
  t.strictSame(
    (await clean.content.list()).map((b) => b.digest).sort(),
    expected,
    'the clean store holds exactly the manifest, config and layers',
  );
  for (const digest of expected) {
    t.same(await clean.content.read(digest), await local.content.read(digest), `same bytes for ${digest}`);
  }
  const byDigest = await client().pull(
    parseReference(`${registry.host}/other/copy@${image.manifest.digest}`),
    stores(),
  );
  t.equal(byDigest.target.digest, image.manifest.digest, 'pull by digest from the mounted copy');
});

t.test('skopeo reads the same manifest, config and layers', async (t) => {
  const local = stores();
  const name = `${registry.host}/test/skopeo:v1`;
  const image = await makeTestImage(dir, local, name, [{ 'a.txt': 'a\n' }, { 'b/c.txt': 'c\n' }]);
  await client().push(parseReference(name), local);

  const raw = await runCommand('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${name}`]);
  t.equal(raw.code, 0, raw.stderr);
  t.equal(digestOf(raw.stdout), image.manifest.digest, 'skopeo sees our manifest byte for byte');
  const config = await runCommand('skopeo', [
    'inspect',
    '--tls-verify=false',
    '--config',
    '--raw',
    `docker://${name}`,
  ]);
  t.equal(config.code, 0, config.stderr);
  t.equal(digestOf(config.stdout), image.config.digest, 'and our config');
  const inspect = await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`]);
  t.equal(inspect.code, 0, inspect.stderr);
  const info = JSON.parse(inspect.stdout) as { Digest: string; Layers: string[]; Architecture: string };
  t.equal(info.Digest, image.manifest.digest);
  t.strictSame(
    info.Layers,
    image.layers.map((l) => l.digest),
  );

  const ociDir = join(dir, 'skopeo-oci');
  const copy = await runCommand('skopeo', [
    'copy',
    '--src-tls-verify=false',
    `docker://${name}`,
    `oci:${ociDir}:v1`,
  ]);
  t.equal(copy.code, 0, copy.stderr);
  const index = JSON.parse(readFileSync(join(ociDir, 'index.json'), 'utf8')) as ImageIndex;
  t.equal(index.manifests[0]?.digest, image.manifest.digest, 'skopeo copy keeps the manifest digest');
  for (const d of [image.manifest, image.config, ...image.layers]) {
    const path = join(ociDir, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
    t.ok(existsSync(path), `oci layout has ${d.digest}`);
    t.equal(digestOf(readFileSync(path)), d.digest, 'with the right content');
  }
});

t.test('an image index: the host platform is picked, or the error lists what there is', async (t) => {
  const local = stores();
  const base = `${registry.host}/test/multi`;
  const host = hostPlatform();
  const other = host.architecture === 's390x' ? 'riscv64' : 's390x';
  const mine = await makeTestImage(dir, local, `${base}:host`, [{ 'which.txt': 'host\n' }]);
  const theirs = await makeTestImage(dir, local, `${base}:other`, [{ 'which.txt': 'other\n' }], {
    architecture: other,
  });
  const c = client();
  await c.push(parseReference(`${base}:host`), local);
  await c.push(parseReference(`${base}:other`), local);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociIndex,
    manifests: [
      { ...theirs.manifest, platform: { os: 'linux', architecture: other } },
      { ...mine.manifest, platform: host },
    ],
  };
  const indexBytes = Buffer.from(JSON.stringify(index));
  const res = await fetch(`${registry.url}/v2/test/multi/manifests/v1`, {
    method: 'PUT',
    headers: { 'content-type': mediaTypes.ociIndex },
    body: indexBytes,
  });
  t.equal(res.status, 201, await res.text());

  const ref = parseReference(`${base}:v1`);
  t.equal((await c.resolve(ref)).digest, digestOf(indexBytes), 'resolve names the index');
  const pulled = await c.pull(ref, stores());
  t.equal(pulled.target.digest, mine.manifest.digest, 'the host platform manifest was pulled');
  t.strictSame(pulled.target.platform, host);
  const theirsPulled = await c.pull(ref, { ...stores(), platform: { os: 'linux', architecture: other } });
  t.equal(theirsPulled.target.digest, theirs.manifest.digest, 'another platform on request');
  await t.rejects(c.pull(ref, { ...stores(), platform: { os: 'linux', architecture: 'mips64le' } }), {
    code: 'NotFound',
    message: new RegExp(
      `has no manifest for linux/mips64le; it is available for: linux/${other}, linux/${host.architecture}`,
    ),
  });
});

t.test('a missing image or tag is NotFound, naming it', async (t) => {
  const c = client();
  await t.rejects(c.pull(parseReference(`${registry.host}/test/hello:nope`), stores()), {
    code: 'NotFound',
    message: new RegExp(`manifest for ${registry.host}/test/hello:nope not found`),
  });
  await t.rejects(c.push(parseReference(`${registry.host}/never/built:v1`), stores()), {
    code: 'NotFound',
    message: /no image .*never\/built:v1 in the local store/,
  });
});

// ---- a TCP proxy in front of the registry that breaks one blob transfer ------------------

interface Proxy {
  host: string;
  /** Request heads seen, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Forwards to the registry; the first response to a GET of `blob` is cut after `cutAfter`
 * body bytes, or (corrupt) has its first body byte flipped, every time.
 */
async function startProxy(
  targetPort: number,
  blob: string,
  mode: { cutAfter: number } | 'corrupt',
): Promise<Proxy> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let cutDone = false;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let pending = '';
    let watching: { head: Buffer; body: number } | undefined;
    client.on('data', (data: Buffer) => {
      pending += data.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        requests.push(head);
        if (head.startsWith(`GET `) && head.includes(`/blobs/${blob}`)) {
          if (mode === 'corrupt' || !cutDone) watching = { head: Buffer.alloc(0), body: -1 };
        }
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      if (watching === undefined) {
        client.write(data);
        return;
      }
      let chunk = data;
      if (watching.body < 0) {
        const all = Buffer.concat([watching.head, chunk]);
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) {
          watching.head = all;
          return;
        }
        client.write(all.subarray(0, end + 4));
        chunk = all.subarray(end + 4);
        watching.body = 0;
      }
      if (mode === 'corrupt') {
        if (chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[0] = (chunk[0] ?? 0) ^ 0xff;
          watching = undefined;
        }
        client.write(chunk);
        return;
      }
      const room = mode.cutAfter - watching.body;
      if (chunk.length < room) {
        watching.body += chunk.length;
        client.write(chunk);
        return;
      }
      cutDone = true;
      // A FIN after half the body: the client sees the response end early.
      client.end(chunk.subarray(0, room));
      upstream.destroy();
      watching = undefined;
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

t.test('a connection dropped mid-blob is retried and resumes with Range', async (t) => {
  const local = stores();
  const big = randomBytes(1024 * 1024);
  const name = `${registry.host}/test/big:v1`;
  const image = await makeTestImage(dir, local, name, [{ 'big.bin': big }, { 'small.txt': 'x\n' }]);
  await client().push(parseReference(name), local);
  const layer = image.layers[0]!;
  const proxy = await startProxy(Number(registry.host.split(':')[1]), layer.digest, {
    cutAfter: Math.floor(layer.size / 2),
  });
  t.teardown(() => proxy.close());

  const clean = stores();
  const record = await client().pull(parseReference(`${proxy.host}/test/big:v1`), clean);
  t.equal(record.target.digest, image.manifest.digest, 'the pull completed');
  t.same(
    await clean.content.read(layer.digest),
    await local.content.read(layer.digest),
    'the layer is whole',
  );
  const blobGets = proxy.requests.filter((r) => r.startsWith('GET') && r.includes(layer.digest));
  t.equal(blobGets.length, 2, 'the layer was asked for twice');
  const resumedAt = Number(/range: bytes=(\d+)-/i.exec(blobGets[1] ?? '')?.[1] ?? 0);
  t.ok(
    resumedAt > 0 && resumedAt <= Math.floor(layer.size / 2),
    `the retry resumed after the bytes already received (${resumedAt})`,
  );
  t.notMatch(blobGets[0] ?? '', /range:/i, 'the first asked for all of it');
  t.strictSame(readdirSync(join(clean.root, 'content', 'ingest')), [], 'no partial data left');
});

t.test('a blob whose bytes do not match its digest is refused and nothing is stored', async (t) => {
  const local = stores();
  const name = `${registry.host}/test/corrupt:v1`;
  const image = await makeTestImage(dir, local, name, [{ 'data.bin': randomBytes(50_000) }]);
  await client().push(parseReference(name), local);
  const layer = image.layers[0]!;
  const proxy = await startProxy(Number(registry.host.split(':')[1]), layer.digest, 'corrupt');
  t.teardown(() => proxy.close());

  const clean = stores();
  const ref = parseReference(`${proxy.host}/test/corrupt:v1`);
  await t.rejects(client().pull(ref, clean), {
    code: 'InvalidArgument',
    message: new RegExp(`blob ${layer.digest} does not match its digest`),
  });
  t.equal(await clean.content.info(layer.digest), undefined, 'the layer was not stored');
  t.equal(await clean.content.info(image.manifest.digest), undefined, 'nor the manifest');
  t.equal(await clean.images.get(ref.canonical), undefined, 'and no name was recorded');
  t.strictSame(readdirSync(join(clean.root, 'content', 'ingest')), [], 'no partial data left');
});

t.test('explicitTrust: a TLS registry whose CA only its extraCaFile holds is trusted', async (t) => {
  // What the CLI passes when its launcher kept NODE_EXTRA_CA_CERTS from Node's start: this
  // test process's Node has its own NODE_EXTRA_CA_CERTS (or none), without this CA.
  const tlsRegistry = await startRegistry(dir, { name: 'tls-extra-ca', tls: true });
  t.teardown(() => tlsRegistry.stop());
  const extraCaFile = join(dir, 'tls-extra-ca.pem');
  writeFileSync(extraCaFile, tlsRegistry.caPem ?? '');
  const hosts = { [tlsRegistry.host]: { insecure: false } };
  const make = (extra: string | undefined, logger = silentLogger): RegistryClient => {
    const c = new RegistryClient({
      logger,
      retryDelayMs: 20,
      attempts: 1,
      hosts,
      ...(extra !== undefined ? { explicitTrust: { extraCaFile: extra } } : {}),
    });
    t.teardown(() => c.close());
    return c;
  };
  const local = stores();
  const name = `${tlsRegistry.host}/test/extra-ca:v1`;
  const image = await makeTestImage(dir, local, name, [{ 'etc/motd': 'trusted\n' }]);
  const ref = parseReference(name);

  await t.rejects(make(undefined).push(ref, local), { code: 'Unavailable', message: /certificate/ });
  const pushed = await make(extraCaFile).push(ref, local);
  t.equal(pushed.target.digest, image.manifest.digest, 'pushed through the extra CA');
  const clean = stores();
  await make(extraCaFile).pull(ref, clean);
  t.ok(await clean.images.get(ref.canonical), 'and pulled back');

  const warnings: string[] = [];
  const recording = { ...silentLogger, warn: (msg: string) => void warnings.push(msg) };
  await t.rejects(make(join(dir, 'no-such-ca.pem'), recording).pull(ref, stores()), {
    code: 'Unavailable',
    message: /certificate/,
  });
  t.same(warnings, ['ignoring the extra CA certificates of NODE_EXTRA_CA_CERTS'], 'an unreadable file warns');

  // A registry's own CA replaces every other, as Node's `ca` option does: with someone
  // else's CA as its own, the extra CA does not help.
  const other = await createCertificateAuthority('another CA', 2);
  const own = new RegistryClient({
    logger: silentLogger,
    attempts: 1,
    hosts: { [tlsRegistry.host]: { ca: other.certPem } },
    explicitTrust: { extraCaFile },
  });
  t.teardown(() => own.close());
  await t.rejects(own.pull(ref, stores()), { code: 'Unavailable', message: /certificate/ });
});
