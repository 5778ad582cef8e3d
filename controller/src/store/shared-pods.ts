// A Store whose list and watch of all the pods come from the controller's one pod copy
// (api/pod-watch-hub.ts) instead of etcd: the loops' pod informers (scheduler, deployments,
// endpoints) then share its decoded pods instead of each listing, watching and decoding
// every pod again. Everything else, reads of one pod or of a namespace's pods included,
// goes to the store itself, so a loop that reads to be sure still reads etcd.
import type { Pod } from '@flotilla/proto';
import { podCodec } from './codecs.js';
import { keys } from './keys.js';
import type { Codec, CreateResult, Entry, ListResult, Store, TxnOp, TxnResult, WatchEvent } from './types.js';

/** The shared copy: all pods at one revision (undefined until it has them), and the changes after. */
export interface SharedPods {
  list(): ListResult<Pod> | undefined;
  watch(afterRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent<Pod>>;
}

const isAllPods = (codec: Codec<unknown>, prefix: string): boolean =>
  prefix === keys.pods && (codec as Codec<Pod>) === podCodec;

/**
 * store, but a list of keys.pods with podCodec is the shared copy's (at its revision, not
 * in key order) once it has one, and a watch of them follows the copy.
 */
export function sharedPodStore(store: Store, pods: SharedPods): Store {
  return {
    get: <T>(codec: Codec<T>, key: string): Promise<Entry<T> | undefined> => store.get(codec, key),
    getMany: <T>(codec: Codec<T>, keyList: readonly string[]): Promise<(Entry<T> | undefined)[]> =>
      store.getMany(codec, keyList),
    async list<T>(codec: Codec<T>, prefix: string): Promise<ListResult<T>> {
      const shared = isAllPods(codec, prefix) ? pods.list() : undefined;
      // Same codec, so the copy's Pods are the Ts asked for.
      return shared ? (shared as unknown as ListResult<T>) : store.list(codec, prefix);
    },
    create: <T>(codec: Codec<T>, key: string, value: T): Promise<CreateResult<T>> =>
      store.create(codec, key, value),
    update: <T>(codec: Codec<T>, key: string, value: T, modRevision: number): Promise<Entry<T>> =>
      store.update(codec, key, value, modRevision),
    delete: (key: string, modRevision?: number): Promise<boolean> => store.delete(key, modRevision),
    watch<T>(
      codec: Codec<T>,
      prefix: string,
      afterRevision: number,
      signal: AbortSignal,
    ): AsyncIterable<WatchEvent<T>> {
      if (!isAllPods(codec, prefix))
        return store.watch(codec, prefix, afterRevision, signal);
      return pods.watch(afterRevision, signal) as unknown as AsyncIterable<WatchEvent<T>>;
    },
    commit: (ops: readonly TxnOp[]): Promise<TxnResult> => store.commit(ops),
    revision: (): Promise<number> => store.revision(),
    ping: (): Promise<string> => store.ping(),
    // The store belongs to whoever made it; closing a view of it closes nothing.
    close: async (): Promise<void> => undefined,
  };
}
