// A real docker-registry (the CNCF distribution registry from Debian) on a free loopback
// port, with filesystem storage in the test's directory; optionally TLS with a
// certificate made here, htpasswd users (bcrypt, by `htpasswd -B`) or token auth.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createCertificateAuthority, issueCertificate } from '@flotilla/common';
import {
  digestOf,
  hostPlatform,
  mediaTypes,
  type ContentStore,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type ImageStore,
} from '@flotilla/images';
import { create as createTar } from 'tar';
import { freePort } from './ports.js';
import { runCommand, spawnManaged, type ManagedProcess } from './processes.js';
import { waitFor } from './wait.js';

export interface RegistryUser {
  username: string;
  password: string;
}

export interface RegistryServerOptions {
  /** Serve HTTPS with a certificate for 127.0.0.1 signed by a CA made for this registry. */
  tls?: boolean;
  /** Require these users (htpasswd, Basic auth). */
  users?: RegistryUser[];
  /** Require bearer tokens from this realm (distribution's token auth). */
  token?: { realm: string; service: string; issuer: string; rootCertPem: string };
  /** A name for the log and data directories (several registries in one test). */
  name?: string;
}

export interface RegistryServer {
  /** "127.0.0.1:PORT", as references and the registry client name it. */
  host: string;
  /** "http://127.0.0.1:PORT" or "https://…". */
  url: string;
  /** PEM of the CA that signed the registry's certificate, when tls. */
  caPem?: string;
  dataDir: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startRegistry(
  dir: string,
  options: RegistryServerOptions = {},
): Promise<RegistryServer> {
  const name = options.name ?? 'registry';
  const home = join(dir, name);
  const dataDir = join(home, 'data');
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;

  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dataDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  let caPem: string | undefined;
  if (options.tls) {
    const ca = await createCertificateAuthority('flotilla test registry CA');
    const cert = await issueCertificate(ca, {
      subject: { commonName: '127.0.0.1' },
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
      dnsNames: ['localhost'],
      validDays: 2,
    });
    writeFileSync(join(home, 'cert.pem'), cert.certPem);
    writeFileSync(join(home, 'key.pem'), cert.keyPem, { mode: 0o600 });
    writeFileSync(join(home, 'ca.pem'), ca.certPem);
    caPem = ca.certPem;
    lines.push('  tls:', `    certificate: ${join(home, 'cert.pem')}`, `    key: ${join(home, 'key.pem')}`);
  }
  if (options.users !== undefined && options.token !== undefined) {
    throw new Error('startRegistry: choose users (htpasswd) or token auth, not both');
  }
  if (options.users !== undefined) {
    let htpasswd = '';
    for (const user of options.users) {
      const out = await runCommand('htpasswd', ['-Bbn', user.username, user.password]);
      if (out.code !== 0) throw new Error(`htpasswd failed (is apache2-utils installed?): ${out.stderr}`);
      htpasswd += out.stdout.trim() + '\n';
    }
    writeFileSync(join(home, 'htpasswd'), htpasswd);
    lines.push('auth:', '  htpasswd:', '    realm: flotilla-test', `    path: ${join(home, 'htpasswd')}`);
  }
  if (options.token !== undefined) {
    writeFileSync(join(home, 'token-ca.pem'), options.token.rootCertPem);
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${options.token.realm}`,
      `    service: ${options.token.service}`,
      `    issuer: ${options.token.issuer}`,
      `    rootcertbundle: ${join(home, 'token-ca.pem')}`,
    );
  }
  const configPath = join(home, 'config.yml');
  writeFileSync(configPath, lines.join('\n') + '\n');

  const proc = spawnManaged({
    name,
    command: 'docker-registry',
    args: ['serve', configPath],
    logPath: join(home, 'registry.log'),
  });
  try {
    await waitFor(
      `${name} to listen on ${host}`,
      async () => {
        if (!proc.isRunning()) throw new Error(`docker-registry exited; log:\n${proc.log().slice(-2000)}`);
        return proc.log().includes(`listening on ${host}`) && (await portOpen(port));
      },
      { timeoutMs: 20_000 },
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const server: RegistryServer = {
    host,
    url: `${options.tls ? 'https' : 'http'}://${host}`,
    dataDir,
    process: proc,
    stop: async () => {
      await proc.stop();
    },
  };
  if (caPem !== undefined) server.caPem = caPem;
  return server;
}

export interface TestImage {
  name: string;
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIds: string[];
  manifestBytes: Buffer;
}

/**
 * Assembles an OCI image in a content store and names it in an image store: one gzip
 * layer per entry of `layers` (files by path), a config listing their diff IDs.
 */
export async function makeTestImage(
  dir: string,
  stores: { content: ContentStore; images: ImageStore },
  name: string,
  layers: Record<string, string | Buffer>[],
  options: { architecture?: string; os?: string; cmd?: string[] } = {},
): Promise<TestImage> {
  const layerDescriptors: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const [i, files] of layers.entries()) {
    const root = mkdtempSync(join(dir, 'layer-'));
    for (const [path, data] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), data);
    }
    const tarPath = join(dir, `layer-${i}-${randomBytes(4).toString('hex')}.tar`);
    createTar(
      { cwd: root, file: tarPath, sync: true, portable: true, mtime: new Date(0) },
      Object.keys(files),
    );
    const tarBytes = readFileSync(tarPath);
    diffIds.push(digestOf(tarBytes));
    const blob = await stores.content.put(gzipSync(tarBytes));
    layerDescriptors.push({ mediaType: mediaTypes.ociLayerGzip, ...blob });
    rmSync(root, { recursive: true, force: true });
    rmSync(tarPath, { force: true });
  }
  const config: ImageConfig = {
    architecture: options.architecture ?? hostPlatform().architecture,
    os: options.os ?? 'linux',
    config: { Cmd: options.cmd ?? ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const configBlob = await stores.content.put(JSON.stringify(config));
  const configDescriptor: Descriptor = { mediaType: mediaTypes.ociConfig, ...configBlob };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: configDescriptor,
    layers: layerDescriptors,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const stored = await stores.content.put(manifestBytes);
  const target: Descriptor = { mediaType: mediaTypes.ociManifest, ...stored };
  await stores.images.put({ name, target, updatedAt: new Date().toISOString() });
  return {
    name,
    manifest: target,
    config: configDescriptor,
    layers: layerDescriptors,
    diffIds,
    manifestBytes,
  };
}
