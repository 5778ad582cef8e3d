// The store contract: typed objects under string keys, versioned by etcd's mod revision.
// Keys are relative to the cluster prefix (/flotilla/v1/); implementations add it.
import { FlotillaError } from '@flotilla/common';

/** Turns stored text into a typed value and back; decode learns the mod revision. */
export interface Codec<T> {
  /** What the values are, for error messages: "node", "join token". */
  readonly kind: string;
  encode(value: T): string;
  decode(text: string, modRevision: number): T;
}

export interface Entry<T> {
  key: string;
  value: T;
  /** The revision of the last write to this key: the object's resourceVersion. */
  modRevision: number;
  /** The revision that created the key; 0 when the call did not learn it (after an update). */
  createRevision: number;
}

export interface ListResult<T> {
  entries: Entry<T>[];
  /** The store revision the list was read at; a watch after it misses nothing. */
  revision: number;
}

export interface CreateResult<T> {
  /** false when the key already existed; entry is then what is stored. */
  created: boolean;
  entry: Entry<T>;
}

export type WatchEvent<T> =
  | { type: 'put'; key: string; value: T; previous?: T; revision: number }
  | { type: 'delete'; key: string; previous?: T; revision: number };

/**
 * One write of a transaction. expect guards it: the key's mod revision must still be that
 * number, 0 meaning "must not exist"; undefined writes unconditionally. A check writes
 * nothing and only guards: the leader's fence (leader/fence.ts) is one.
 */
export type TxnOp =
  | { type: 'put'; key: string; text: string; expect?: number }
  | { type: 'delete'; key: string; expect?: number }
  | { type: 'check'; key: string; expect: number };

export interface PrefixState {
  count: number;
  /** 0 when there are no keys. */
  maxModRevision: number;
  revision: number;
}

export interface TxnResult {
  /** The revision every write of the transaction got. */
  revision: number;
}

/**
 * The most operations one transaction (commit, getMany) may hold: etcd refuses more than
 * its --max-txn-ops, 128 by default.
 */
export const maxTxnOps = 128;

/** A put of a typed value, for building a transaction. */
export function putOp<T>(codec: Codec<T>, key: string, value: T, expect?: number): TxnOp {
  return { type: 'put', key, text: codec.encode(value), expect };
}

export interface Store {
  get<T>(codec: Codec<T>, key: string): Promise<Entry<T> | undefined>;
  /**
   * Several keys read at one revision, in one round trip: the entry of each key in the
   * order given, undefined where a key does not exist. At most maxTxnOps keys.
   */
  getMany<T>(codec: Codec<T>, keys: readonly string[]): Promise<(Entry<T> | undefined)[]>;
  list<T>(codec: Codec<T>, prefix: string): Promise<ListResult<T>>;
  /** Writes the value only if the key does not exist, so racing writers agree on one. */
  create<T>(codec: Codec<T>, key: string, value: T): Promise<CreateResult<T>>;
  /** Writes only if the key is still at modRevision; otherwise throws a Conflict error. */
  update<T>(codec: Codec<T>, key: string, value: T, modRevision: number): Promise<Entry<T>>;
  /** Deletes the key (only if still at modRevision, when given); false when it was absent. */
  delete(key: string, modRevision?: number): Promise<boolean>;
  /**
   * Changes under prefix with revisions greater than afterRevision, until signal aborts
   * or the consumer stops iterating. Throws CompactedError when that history is gone:
   * the caller lists again.
   */
  watch<T>(
    codec: Codec<T>,
    prefix: string,
    afterRevision: number,
    signal: AbortSignal,
  ): AsyncIterable<WatchEvent<T>>;
  /**
   * All of ops or none, at one revision. When a guard fails nothing is written and it
   * throws a Conflict error naming the keys that changed (context.value).
   */
  commit(ops: readonly TxnOp[]): Promise<TxnResult>;
  /** The store's current revision. */
  revision(): Promise<number>;
  /**
   * How many keys are under prefix and the newest mod revision among them, at the store
   * revision given: enough for a copy to tell that it holds exactly what is stored
   * (store/shared-pods.ts), for the price of one small read.
   */
  prefixState(prefix: string): Promise<PrefixState>;
  /** Health probe: resolves when the store answers, with a description of what answered. */
  ping(): Promise<string>;
  close(): Promise<void>;
}

/** The history a watch or resume needs was compacted away. */
export class CompactedError extends FlotillaError {
  readonly revision: number;
  constructor(revision: number, compactRevision?: number) {
    super(
      'FailedPrecondition',
      compactRevision
        ? `revision ${revision} has been compacted (history starts at ${compactRevision})`
        : `revision ${revision} has been compacted`,
    );
    this.name = 'CompactedError';
    this.revision = revision;
  }
}

export function isCompactedError(err: unknown): err is CompactedError {
  return err instanceof CompactedError;
}
