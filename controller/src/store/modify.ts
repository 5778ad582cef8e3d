// Read-modify-write under optimistic concurrency: read, decide, write guarded by the
// revision read, and on a conflict decide again from a fresh read.
import { isFlotillaError } from '@flotilla/common';
import type { Codec, Entry, Store } from './types.js';

export type Mutation<T> = (current: T) => T | undefined;

/**
 * Applies mutate to the stored value until the guarded write succeeds. mutate returns
 * undefined when nothing needs to change. Resolves with the entry as stored afterwards,
 * or undefined when the key does not exist.
 */
export async function modify<T>(
  store: Store,
  codec: Codec<T>,
  key: string,
  mutate: Mutation<T>,
  attempts = 10,
): Promise<Entry<T> | undefined> {
  for (let attempt = 1; ; attempt++) {
    const entry = await store.get(codec, key);
    if (!entry) return undefined;
    const next = mutate(entry.value);
    if (next === undefined) return entry;
    try {
      return await store.update(codec, key, next, entry.modRevision);
    } catch (err) {
      if (!isFlotillaError(err, 'Conflict') || attempt >= attempts) throw err;
    }
  }
}
