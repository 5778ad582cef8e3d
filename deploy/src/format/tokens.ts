// Join tokens in tables. Pure: the caller passes the time.
import type { JoinToken } from '@flotilla/proto';
import { humanDuration } from './age.js';
import { orNone, renderTable } from './table.js';

export type TokenStatus = 'valid' | 'expired' | 'revoked';

export function tokenStatus(token: JoinToken, now: Date): TokenStatus {
  if (token.revokedAt) return 'revoked';
  const expires = Date.parse(token.expiresAt);
  if (!Number.isNaN(expires) && expires <= now.getTime()) return 'expired';
  return 'valid';
}

/** "2026-11-25T10:00:00Z (in 23h)" or "… (3h ago)". */
export function formatExpiry(expiresAt: string, now: Date): string {
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) return orNone(expiresAt);
  const stamp = new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const delta = at - now.getTime();
  return delta > 0 ? `${stamp} (in ${humanDuration(delta)})` : `${stamp} (${humanDuration(-delta)} ago)`;
}

export const tokenColumns = ['ID', 'DESCRIPTION', 'EXPIRES', 'STATUS', 'USED-BY'] as const;

export function tokensTable(tokens: readonly JoinToken[], now: Date): string {
  const rows = [...tokens]
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
    .map((t) => [
      t.id,
      orNone(t.description),
      formatExpiry(t.expiresAt, now),
      tokenStatus(t, now),
      orNone(t.usedBy.join(',')),
    ]);
  return renderTable(tokenColumns, rows);
}
