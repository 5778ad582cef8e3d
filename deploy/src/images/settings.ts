// Where the CLI keeps images and registry credentials, and which registries it reaches
// over plain HTTP. Pure: flags and environment in, paths and host options out.
import { isAbsolute, join, resolve } from 'node:path';
import type { RegistryHostOptions } from '@flotilla/images';

export interface ImageSettingsInput {
  /** --image-root, when given. */
  imageRoot?: string;
  /** --insecure-registry values, as given. */
  insecureRegistries: readonly string[];
  env: NodeJS.ProcessEnv;
  home: string;
  cwd: string;
}

export interface ImageSettings {
  /** The local image root: content/, snapshots/, images.json, build-cache.json. */
  root: string;
  /** Saved registry credentials (Docker's config.json shape). */
  authFile: string;
  /** Registries reached over plain HTTP besides loopback ("HOST:PORT"). */
  insecure: string[];
  /** Docker's certs.d layout: <certsDir>/<HOST:PORT>/ca.crt is the CA a registry's TLS is checked against. */
  certsDir: string;
}

function absolute(path: string, cwd: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(cwd, path);
}

export function defaultImageRoot(home: string): string {
  return join(home, '.flotilla', 'images');
}

export function defaultCertsDir(home: string): string {
  return join(home, '.flotilla', 'certs.d');
}

export function defaultAuthFile(home: string): string {
  return join(home, '.flotilla', 'auth.json');
}

/**
 * The reason an --insecure-registry value is not a registry host, completing "must be …";
 * undefined when it is one.
 */
export function insecureRegistryProblem(value: string): string | undefined {
  const host = value.trim();
  const valid = 'a registry HOST or HOST:PORT, such as registry.lan:5000 (no scheme, no path)';
  if (host === '' || /^[a-z]+:\/\//i.test(host) || host.includes('/') || /\s|@/.test(host)) return valid;
  const hostRe = /^(?:\[[0-9a-fA-F:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::(\d{1,5}))?$/;
  const match = hostRe.exec(host);
  if (match === null) return valid;
  const port = match[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return valid;
  return undefined;
}

/** Resolves flags, then $FLOTILLA_IMAGE_ROOT / $FLOTILLA_AUTH_FILE, then the defaults. */
export function resolveImageSettings(input: ImageSettingsInput): ImageSettings {
  const { env, home, cwd } = input;
  const root =
    input.imageRoot !== undefined && input.imageRoot !== ''
      ? absolute(input.imageRoot, cwd)
      : env.FLOTILLA_IMAGE_ROOT
        ? absolute(env.FLOTILLA_IMAGE_ROOT, cwd)
        : defaultImageRoot(home);
  const authFile = env.FLOTILLA_AUTH_FILE ? absolute(env.FLOTILLA_AUTH_FILE, cwd) : defaultAuthFile(home);
  const insecure = [...new Set(input.insecureRegistries.map((h) => h.trim()))];
  const certsDir = env.FLOTILLA_CERTS_DIR ? absolute(env.FLOTILLA_CERTS_DIR, cwd) : defaultCertsDir(home);
  return { root, authFile, insecure, certsDir };
}

/**
 * The registry client's per-host options: a CA file for each registry with one under
 * certsDir (found: host → path of its ca.crt), plain HTTP for each insecure registry.
 */
export function registryHosts(
  settings: ImageSettings,
  caFiles: Readonly<Record<string, string>> = {},
): Record<string, RegistryHostOptions> {
  const hosts: Record<string, RegistryHostOptions> = {};
  for (const [host, caFile] of Object.entries(caFiles)) hosts[host] = { caFile };
  // Naming a registry insecure wins: the user asked for plain HTTP.
  for (const host of settings.insecure) hosts[host] = { insecure: true };
  return hosts;
}
