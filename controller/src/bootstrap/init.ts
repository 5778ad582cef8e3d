// Cluster initialisation: the secrets in etcd, and the files the rest of a cluster
// needs from this controller's data directory — the CA for agents (--ca-file), the
// nats-server configuration, an admin client config for the CLI and a join token.
import { mkdir, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import {
  adminOrganization,
  caCertHash,
  errorMessage,
  FlotillaError,
  issueCertificate,
  natsServerConfig,
  writeClientConfig,
  writeFileAtomic,
  type Logger,
  silentLogger,
} from '@flotilla/common';
import { JoinTokenStore } from '../tokens/token-store.js';
import type { Store } from '../store/types.js';
import { ensureDefaultNamespace } from '../objects/default-namespace.js';
import { formatHostPort, type HostPort } from '../options/parse.js';
import { ensureClusterSecrets, type ClusterSecrets } from './cluster-secrets.js';

export interface DataDirLayout {
  dataDir: string;
  caFile: string;
  natsConfigPath: string;
  adminConfigPath: string;
  tokenFile: string;
}

/** Where init writes, with the defaults under the data directory. */
export function dataDirLayout(
  dataDir: string,
  overrides: { natsConfigPath?: string; adminConfigPath?: string; tokenFile?: string } = {},
): DataDirLayout {
  return {
    dataDir,
    caFile: join(dataDir, 'ca.crt'),
    natsConfigPath: overrides.natsConfigPath || join(dataDir, 'nats-server.conf'),
    adminConfigPath: overrides.adminConfigPath || join(dataDir, 'admin.yaml'),
    tokenFile: overrides.tokenFile || join(dataDir, 'join-token'),
  };
}

export interface InitFilesOptions {
  store: Store;
  layout: DataDirLayout;
  /** Where nats-server listens (written into its configuration). */
  natsListen: HostPort;
  /** host:port the admin config points the CLI at. */
  server: string;
  tokenTtlMs: number;
  /** Write only the files that are missing (a serve on a fresh data directory). */
  onlyMissing?: boolean;
  logger?: Logger;
}

export interface InitResult {
  layout: DataDirLayout;
  secrets: ClusterSecrets;
  caCertHash: string;
  /** The files written by this call. */
  written: string[];
  /** The join token written to the token file, when one was. */
  token?: { id: string; expiresAt: string };
}

/** A file system failure as an error that names the path (and so the flag to change). */
async function writing(path: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new FlotillaError(
      'FailedPrecondition',
      `cannot write ${path}: ${errorMessage(err)} (see --data-dir, --nats-config, --admin-config, --token-file)`,
      { value: path },
      { cause: err },
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Idempotent: reuses the secrets in etcd; writes a fresh admin config and join token. */
export async function initFiles(options: InitFilesOptions): Promise<InitResult> {
  const { store, layout, onlyMissing = false } = options;
  const log = options.logger ?? silentLogger;
  const secrets = await ensureClusterSecrets(store);
  if (secrets.created.ca) log.info('created the cluster CA');
  if (secrets.created.nats) log.info('created the NATS operator and account keys');
  await ensureDefaultNamespace(store, new Date());
  await writing(layout.dataDir, () => mkdir(layout.dataDir, { recursive: true, mode: 0o700 }));
  const written: string[] = [];
  const shouldWrite = async (path: string): Promise<boolean> => !onlyMissing || !(await exists(path));

  if (await shouldWrite(layout.caFile)) {
    await writing(layout.caFile, () => writeFile(layout.caFile, secrets.ca.certPem, { mode: 0o644 }));
    written.push(layout.caFile);
  }
  if (await shouldWrite(layout.natsConfigPath)) {
    await writing(layout.natsConfigPath, () =>
      writeFileAtomic(layout.natsConfigPath, natsServerConfig(secrets.nats, options.natsListen), 0o600),
    );
    written.push(layout.natsConfigPath);
  }
  let token: InitResult['token'];
  if (await shouldWrite(layout.adminConfigPath)) {
    const admin = await issueCertificate(secrets.ca, {
      subject: { commonName: 'admin', organization: adminOrganization },
      usage: 'client',
      validDays: 365,
    });
    const adminConfig = {
      apiVersion: 'flotilla/v1',
      kind: 'ClientConfig',
      server: options.server,
      caCertificate: secrets.ca.certPem,
      clientCertificate: admin.certPem,
      clientKey: admin.keyPem,
    } as const;
    await writing(layout.adminConfigPath, () => writeClientConfig(layout.adminConfigPath, adminConfig));
    written.push(layout.adminConfigPath);
  }
  if (await shouldWrite(layout.tokenFile)) {
    const created = await new JoinTokenStore(store).create(options.tokenTtlMs, 'created by controller init');
    await writing(layout.tokenFile, () => writeFileAtomic(layout.tokenFile, created.token + '\n', 0o600));
    written.push(layout.tokenFile);
    token = { id: created.record.id, expiresAt: created.record.expiresAt };
  }
  log.debug('init wrote files', { written, natsListen: formatHostPort(options.natsListen) });
  return { layout, secrets, caCertHash: caCertHash(secrets.ca.certPem), written, token };
}
