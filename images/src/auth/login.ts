// `deploy login` and `deploy logout`: credentials are saved only once the registry has
// accepted them (GET /v2/ through the full auth flow).
import type { RegistryClient } from '../registry/client.js';
import type { Credentials } from '../registry/types.js';
import { credentialKey, type FileCredentialStore } from './credentials.js';

export interface LoginOptions {
  client: RegistryClient;
  store: FileCredentialStore;
  signal?: AbortSignal;
}

/** Verifies the credentials against the registry, then saves them; returns the saved key. */
export async function login(
  registry: string,
  credentials: Credentials,
  options: LoginOptions,
): Promise<string> {
  const key = credentialKey(registry);
  await options.client.checkLogin(key, credentials, options.signal);
  await options.store.set(key, credentials);
  return key;
}

/** Forgets the registry's credentials; false when none were saved. */
export async function logout(registry: string, store: FileCredentialStore): Promise<boolean> {
  return store.remove(registry);
}
