// What an image command works with: the local image store under the image root, a
// registry client configured from the flags, and the saved credentials. Opened once per
// command, closed in finally.
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FileCredentialStore, RegistryClient, openLocalImages, type LocalImages } from '@flotilla/images';
import type { Logger } from '@flotilla/common';
import { launcherTrust } from '../cli/launcher-trust.js';
import type { CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { homeDir } from '../cli/run.js';
import {
  insecureRegistryProblem,
  registryHosts,
  resolveImageSettings,
  type ImageSettings,
} from './settings.js';

export interface ImageSession {
  settings: ImageSettings;
  local: LocalImages;
  registry: RegistryClient;
  credentials: FileCredentialStore;
  close(): void;
}

/** The image settings of a command's flags; an invalid --insecure-registry is a usage error. */
export function imageSettingsOf(ctx: CommandContext): ImageSettings {
  const insecure = ctx.flags.strings('insecure-registry');
  for (const value of insecure) {
    const problem = insecureRegistryProblem(value);
    if (problem !== undefined) {
      throw new UsageError(
        `invalid value "${value}" for flag --insecure-registry: must be ${problem}`,
        ctx.commandPath,
        { field: 'insecure-registry', value },
      );
    }
  }
  const imageRoot = ctx.flags.string('image-root');
  return resolveImageSettings({
    ...(imageRoot !== undefined ? { imageRoot } : {}),
    insecureRegistries: insecure,
    env: ctx.io.env,
    home: homeDir(ctx.io.env),
    cwd: ctx.io.cwd,
  });
}

/** certs.d/<HOST:PORT>/ca.crt files, by host; none when the directory is missing. */
export async function findRegistryCas(certsDir: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const entries = await readdir(certsDir).catch(() => [] as string[]);
  for (const host of entries) {
    const ca = join(certsDir, host, 'ca.crt');
    if (
      await access(ca).then(
        () => true,
        () => false,
      )
    )
      found[host] = ca;
  }
  return found;
}

export async function registryClientFor(
  settings: ImageSettings,
  credentials: FileCredentialStore,
  logger: Logger,
): Promise<RegistryClient> {
  const explicitTrust = launcherTrust();
  return new RegistryClient({
    hosts: registryHosts(settings, await findRegistryCas(settings.certsDir)),
    credentials: credentials.lookup(),
    logger: logger.child({ component: 'registry' }),
    ...(explicitTrust !== undefined ? { explicitTrust } : {}),
  });
}

export async function openImageSession(ctx: CommandContext): Promise<ImageSession> {
  const settings = imageSettingsOf(ctx);
  const local = openLocalImages(settings.root, { logger: ctx.logger });
  const credentials = new FileCredentialStore(settings.authFile);
  const registry = await registryClientFor(settings, credentials, ctx.logger);
  return { settings, local, registry, credentials, close: () => registry.close() };
}

/** Runs fn with a session and closes it whatever happens. */
export async function withImageSession<T>(
  ctx: CommandContext,
  fn: (session: ImageSession) => Promise<T>,
): Promise<T> {
  const session = await openImageSession(ctx);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}
