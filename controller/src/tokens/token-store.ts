// Join tokens in etcd under jointokens/<id>: create, list, revoke, and the check Join runs.
import { notFound, unauthenticated } from '@flotilla/common';
import { jsonCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import { modify } from '../store/modify.js';
import type { Store } from '../store/types.js';
import {
  generateJoinToken,
  joinTokenId,
  newJoinTokenRecord,
  parseJoinTokenRecord,
  validateJoinToken,
  type JoinTokenRecord,
} from './join-token.js';

export const joinTokenCodec = jsonCodec<JoinTokenRecord>('join token', parseJoinTokenRecord);

export class JoinTokenStore {
  constructor(
    private readonly store: Store,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** A new token; the secret is returned once and only its hash is kept. */
  async create(ttlMs: number, description: string): Promise<{ record: JoinTokenRecord; token: string }> {
    for (;;) {
      const { id, secret, token } = generateJoinToken();
      const record = newJoinTokenRecord(id, secret, description, ttlMs, this.clock());
      // 36^6 ids: a collision is unlikely but must not overwrite someone else's token.
      const { created } = await this.store.create(joinTokenCodec, keys.joinToken(id), record);
      if (created) return { record, token };
    }
  }

  async list(): Promise<JoinTokenRecord[]> {
    const { entries } = await this.store.list(joinTokenCodec, keys.joinTokens);
    return entries
      .map((e) => e.value)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Marks the token revoked and keeps the record, so `token list` still explains it. */
  async revoke(id: string): Promise<JoinTokenRecord> {
    const at = this.clock().toISOString();
    const entry = await modify(this.store, joinTokenCodec, keys.joinToken(id), (record) =>
      record.revokedAt ? undefined : { ...record, revokedAt: at },
    );
    if (!entry)
      throw notFound(`join token "${id}" not found; "deploy token list" shows the tokens`, {
        object: `jointoken/${id}`,
      });
    return entry.value;
  }

  /** The token's record if it may join now; otherwise an Unauthenticated error saying why. */
  async validate(token: string): Promise<JoinTokenRecord> {
    const id = joinTokenId(token);
    const record = id ? (await this.store.get(joinTokenCodec, keys.joinToken(id)))?.value : undefined;
    const verdict = validateJoinToken(token, record, this.clock());
    if (!verdict.ok || !record) throw unauthenticated(verdict.ok ? 'unknown join token' : verdict.reason);
    return record;
  }

  /** Notes that node joined with the token (kept for `token list`). */
  async recordUse(id: string, node: string): Promise<void> {
    await modify(this.store, joinTokenCodec, keys.joinToken(id), (record) =>
      record.usedBy.includes(node) ? undefined : { ...record, usedBy: [...record.usedBy, node] },
    );
  }
}
