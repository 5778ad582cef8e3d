// A Store whose lists of pods and watch of all the pods come from the controller's one pod
// copy (api/pod-watch-hub.ts) instead of etcd: the loops' pod informers (scheduler,
// deployments, endpoints) then share its decoded pods instead of each listing, watching
// and decoding every pod again, and the deployment loop's list of a namespace's pods per
// pass (to be sure it sees every write so far) is checked against etcd with one small
// read instead of reading and decoding them all. Everything else goes to the store.
import type { Pod } from '@flotilla/proto';
import { podCodec } from './codecs.js';
import { keys } from './keys.js';
import type {
  Codec,
  CreateResult,
  Entry,
  ListResult,
  PrefixState,
  Store,
  TxnOp,
  TxnResult,
  WatchEvent,
} from './types.js';

/** The shared copy: the pods under a prefix at its revision (undefined until it has them), and the changes after. */
export interface SharedPods {
  /** The pods under prefix (not in key order) as of the copy's revision. */
  list(prefix?: string): ListResult<Pod> | undefined;
  watch(afterRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent<Pod>>;
  /** Resolves at the copy's next change, or after ms. */
  nextChange(ms: number): Promise<void>;
}

/** How long a list waits for the copy to catch up before it reads the store instead. */
const catchUpMs = 1_000;

const isPods = (codec: Codec<unknown>, prefix: string): boolean =>
  prefix.startsWith(keys.pods) && (codec as Codec<Pod>) === podCodec;

/**
 * Whether copy holds exactly what the store holds under its prefix at state.revision or
 * later. It does when it has applied every change through that revision; or when the
 * newest key stored is no newer than the copy and the store counts as many keys: a write
 * the copy missed is a put (a newer key), a delete (fewer keys) or a put and a delete of
 * one new key (nothing to hold). Pure.
 */
export function copyIsCurrent(copy: ListResult<Pod>, state: PrefixState): boolean {
  if (copy.revision >= state.revision) return true;
  return state.maxModRevision <= copy.revision && state.count === copy.entries.length;
}

/**
 * store, but a list of pods (all, or a namespace's) with podCodec is served from the
 * shared copy when it can be shown current — one small read (prefixState) instead of
 * reading and decoding every pod — so a loop that lists to be sure it sees every write so
 * far still does; and a watch of all pods follows the copy. Its entries are not in key
 * order, and are the copy's own objects: callers must not change them.
 */
export function sharedPodStore(store: Store, pods: SharedPods): Store {
  async function listPods<T>(codec: Codec<T>, prefix: string): Promise<ListResult<T>> {
    const state = await store.prefixState(prefix);
    const deadline = Date.now() + catchUpMs;
    for (;;) {
      const copy = pods.list(prefix);
      if (!copy) break;
      // Same codec, so the copy's Pods are the Ts asked for.
      if (copyIsCurrent(copy, state)) return copy as unknown as ListResult<T>;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await pods.nextChange(Math.min(left, 50));
    }
    return store.list(codec, prefix);
  }

  return {
    get: <T>(codec: Codec<T>, key: string): Promise<Entry<T> | undefined> => store.get(codec, key),
    getMany: <T>(codec: Codec<T>, keyList: readonly string[]): Promise<(Entry<T> | undefined)[]> =>
      store.getMany(codec, keyList),
    list: <T>(codec: Codec<T>, prefix: string): Promise<ListResult<T>> =>
      isPods(codec, prefix) ? listPods(codec, prefix) : store.list(codec, prefix),
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
      if (!isPods(codec, prefix) || prefix !== keys.pods)
        return store.watch(codec, prefix, afterRevision, signal);
      return pods.watch(afterRevision, signal) as unknown as AsyncIterable<WatchEvent<T>>;
    },
    commit: (ops: readonly TxnOp[]): Promise<TxnResult> => store.commit(ops),
    revision: (): Promise<number> => store.revision(),
    prefixState: (prefix: string): Promise<PrefixState> => store.prefixState(prefix),
    ping: (): Promise<string> => store.ping(),
    // The store belongs to whoever made it; closing a view of it closes nothing.
    close: async (): Promise<void> => undefined,
  };
}
