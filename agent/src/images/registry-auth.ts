// Registry credentials for the agent, from a file in Docker's config.json form:
//   { "auths": { "127.0.0.1:5000": { "auth": "<base64 user:password>" },
//                "https://index.docker.io/v1/": { "username": "u", "password": "p" } } }
// Keys are normalised the way references are ("https://index.docker.io/v1/" is Docker
// Hub's registry-1.docker.io), so a file written by `docker login` works as it is.
import { readFile } from 'node:fs/promises';
import { FlotillaError, errorMessage } from '@flotilla/common';
import { credentialKey, type CredentialLookup, type Credentials } from '@flotilla/images';

function invalidFile(path: string, problem: string, field?: string): FlotillaError {
  return new FlotillaError(
    'InvalidArgument',
    `registry auth file ${path}: ${problem}; want {"auths": {"HOST[:PORT]": {"auth": "<base64 user:password>"}}}`,
    { object: path, ...(field !== undefined ? { field } : {}) },
  );
}

/** Pure: the file's text → credentials by registry host as dialled. */
export function parseRegistryAuthConfig(text: string, path: string): Map<string, Credentials> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidFile(path, `not valid JSON (${errorMessage(err)})`);
  }
  const auths = (parsed as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) {
    throw invalidFile(path, 'no "auths" object', 'auths');
  }
  const out = new Map<string, Credentials>();
  for (const [registry, entry] of Object.entries(auths as Record<string, unknown>)) {
    const field = `auths["${registry}"]`;
    let host: string;
    try {
      host = credentialKey(registry);
    } catch (err) {
      throw invalidFile(path, `${field}: ${errorMessage(err)}`, field);
    }
    const e = (entry ?? {}) as { auth?: unknown; username?: unknown; password?: unknown };
    if (typeof e.auth === 'string' && e.auth !== '') {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0)
        throw invalidFile(path, `${field}.auth is not base64 of "user:password"`, `${field}.auth`);
      out.set(host, { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
    } else if (typeof e.username === 'string' && typeof e.password === 'string') {
      out.set(host, { username: e.username, password: e.password });
    }
    // Entries with neither (a credential helper's placeholder) mean: anonymous.
  }
  return out;
}

/**
 * Reads the file at every lookup, so rotated credentials apply to the next pull without
 * a restart. A missing file means no credentials; an invalid one fails the pull saying so.
 */
export function registryAuthFileLookup(path: string): CredentialLookup {
  return async (registry) => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseRegistryAuthConfig(text, path).get(credentialKey(registry));
  };
}
