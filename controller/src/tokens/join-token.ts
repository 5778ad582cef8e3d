// Join tokens, as Kubernetes bootstrap tokens: "<id>.<secret>". Only the SHA-256 of the
// secret is stored, so reading etcd does not let anyone join. Everything here is pure.
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { JoinToken } from '@flotilla/proto';
import { invalidArgument } from '@flotilla/common';
import { asRecord, stringField } from '../store/codecs.js';

export interface JoinTokenRecord {
  id: string;
  secretSha256: string;
  description: string;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
  usedBy: string[];
}

const tokenPattern = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

export const defaultTokenTtlMs = 24 * 60 * 60 * 1000;
export const minTokenTtlMs = 60 * 1000;
export const maxTokenTtlMs = 365 * 24 * 60 * 60 * 1000;

function randomString(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function generateJoinToken(): { id: string; secret: string; token: string } {
  const id = randomString(6);
  const secret = randomString(16);
  return { id, secret, token: `${id}.${secret}` };
}

/** The id of a well-formed token, to look its record up; undefined when malformed. */
export function joinTokenId(token: string): string | undefined {
  return tokenPattern.exec(token)?.[1];
}

export type TokenVerdict = { ok: true; id: string } | { ok: false; reason: string };

/**
 * Whether a presented token may join, given its stored record (undefined when there is
 * none) and the time. Refusals in the documented order: malformed, unknown (or wrong
 * secret, indistinguishably), revoked, expired.
 */
export function validateJoinToken(
  token: string,
  record: JoinTokenRecord | undefined,
  now: Date,
): TokenVerdict {
  const match = tokenPattern.exec(token);
  if (!match) return { ok: false, reason: 'join token must look like <id>.<secret>' };
  const [, id = '', secret = ''] = match;
  if (!record || record.id !== id || !sameHash(sha256Hex(secret), record.secretSha256)) {
    return { ok: false, reason: 'unknown join token' };
  }
  if (record.revokedAt) return { ok: false, reason: `join token ${id} was revoked at ${record.revokedAt}` };
  const expiresAt = Date.parse(record.expiresAt);
  if (!(now.getTime() < expiresAt))
    return { ok: false, reason: `join token ${id} expired at ${record.expiresAt}` };
  return { ok: true, id };
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A requested lifetime in seconds (0: the default) as milliseconds, within 1 minute .. 1 year. */
export function tokenTtlMs(ttlSeconds: number, field = 'ttlSeconds'): number {
  if (ttlSeconds === 0) return defaultTokenTtlMs;
  const ms = ttlSeconds * 1000;
  if (!Number.isInteger(ttlSeconds) || ms < minTokenTtlMs || ms > maxTokenTtlMs) {
    throw invalidArgument(
      `${field} ${ttlSeconds} is out of range: a join token lives from 60 seconds (1m) to 31536000 seconds (1 year); 0 means 24h`,
      { field, value: ttlSeconds },
    );
  }
  return ms;
}

export function newJoinTokenRecord(
  id: string,
  secret: string,
  description: string,
  ttlMs: number,
  now: Date,
): JoinTokenRecord {
  return {
    id,
    secretSha256: sha256Hex(secret),
    description,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    usedBy: [],
  };
}

export function parseJoinTokenRecord(value: unknown): JoinTokenRecord {
  const kind = 'join token';
  const r = asRecord(kind, value);
  const usedBy = Array.isArray(r.usedBy) ? r.usedBy.filter((x): x is string => typeof x === 'string') : [];
  const record: JoinTokenRecord = {
    id: stringField(kind, r, 'id'),
    secretSha256: stringField(kind, r, 'secretSha256'),
    description: typeof r.description === 'string' ? r.description : '',
    createdAt: stringField(kind, r, 'createdAt'),
    expiresAt: stringField(kind, r, 'expiresAt'),
    usedBy,
  };
  if (typeof r.revokedAt === 'string' && r.revokedAt !== '') record.revokedAt = r.revokedAt;
  return record;
}

/** The public view: never the secret or its hash. */
export function toJoinTokenMessage(record: JoinTokenRecord): JoinToken {
  return {
    id: record.id,
    description: record.description,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    revokedAt: record.revokedAt ?? '',
    usedBy: [...record.usedBy],
  };
}
