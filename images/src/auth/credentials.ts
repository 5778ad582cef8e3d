// Saved registry credentials, in the shape of Docker's config.json:
//   { "auths": { "127.0.0.1:5000": { "auth": "<base64 user:password>" } } }
// in ~/.flotilla/auth.json (or a given path), mode 0600, replaced atomically.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { FlotillaError, invalidArgument } from '@flotilla/common';
import { registryHost } from '../reference/reference.js';
import type { Credentials } from '../registry/types.js';

interface AuthFile {
  auths: Record<string, { auth?: string }>;
  [other: string]: unknown;
}

export function defaultAuthFile(): string {
  return join(homedir(), '.flotilla', 'auth.json');
}

/** The key a registry is saved under: the host as dialled ("docker.io" → "registry-1.docker.io"). */
export function credentialKey(registry: string): string {
  const host = registryHost(registry.trim());
  if (host === '' || /[/\s@]/.test(host)) {
    throw invalidArgument(`registry "${registry}" must be a host name or address with an optional :PORT`, {
      field: 'registry',
      value: registry,
    });
  }
  return host.toLowerCase();
}

export class FileCredentialStore {
  readonly path: string;

  constructor(path: string = defaultAuthFile()) {
    this.path = path;
  }

  private async load(): Promise<AuthFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { auths: {} };
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as Partial<AuthFile>;
      return {
        ...parsed,
        auths: typeof parsed.auths === 'object' && parsed.auths !== null ? parsed.auths : {},
      };
    } catch {
      throw new FlotillaError(
        'FailedPrecondition',
        `credentials file ${this.path} is not valid JSON; fix or remove it`,
        {
          object: this.path,
        },
      );
    }
  }

  private async save(data: AuthFile): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    const file = await open(temp, 'wx', 0o600);
    try {
      await file.writeFile(JSON.stringify(data, null, 2) + '\n');
      await file.sync();
    } finally {
      await file.close();
    }
    await chmod(temp, 0o600);
    await rename(temp, this.path);
  }

  async get(registry: string): Promise<Credentials | undefined> {
    const entry = (await this.load()).auths[credentialKey(registry)];
    if (entry?.auth === undefined) return undefined;
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }

  async set(registry: string, credentials: Credentials): Promise<void> {
    if (credentials.username === '' || credentials.username.includes(':')) {
      throw invalidArgument('a registry username must be non-empty and must not contain ":"', {
        field: 'username',
        value: credentials.username,
      });
    }
    const data = await this.load();
    data.auths[credentialKey(registry)] = {
      auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64'),
    };
    await this.save(data);
  }

  /** Forgets a registry's credentials; false when none were saved. */
  async remove(registry: string): Promise<boolean> {
    const data = await this.load();
    const key = credentialKey(registry);
    if (!(key in data.auths)) return false;
    delete data.auths[key];
    await this.save(data);
    return true;
  }

  /** Registries with saved credentials. */
  async registries(): Promise<string[]> {
    return Object.keys((await this.load()).auths).sort();
  }

  /** For RegistryClientOptions.credentials. */
  lookup(): (registry: string) => Promise<Credentials | undefined> {
    return (registry) => this.get(registry);
  }
}
