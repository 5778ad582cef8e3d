// Join tokens in `deploy token list`: STATUS valid, expired or revoked, and EXPIRES.
import t from 'tap';
import { formatExpiry, tokenStatus, tokensTable } from '@flotilla/deploy';
import type { JoinToken } from '@flotilla/proto';

const now = new Date('2026-03-01T12:00:00Z');

function makeToken(overrides: Partial<JoinToken> = {}): JoinToken {
  return {
    id: 'abc123',
    description: '',
    createdAt: '2026-03-01T00:00:00Z',
    expiresAt: '2026-03-02T00:00:00Z',
    revokedAt: '',
    usedBy: [],
    ...overrides,
  };
}

t.test('tokenStatus is revoked, else expired, else valid', async (t) => {
  const cases: Array<[string, Partial<JoinToken>, string]> = [
    ['expires later', {}, 'valid'],
    ['expires in a second', { expiresAt: '2026-03-01T12:00:01Z' }, 'valid'],
    ['expires now', { expiresAt: '2026-03-01T12:00:00Z' }, 'expired'],
    ['expired an hour ago', { expiresAt: '2026-03-01T11:00:00Z' }, 'expired'],
    ['revoked, not yet expired', { revokedAt: '2026-03-01T10:00:00Z' }, 'revoked'],
    [
      'revoked and expired',
      { revokedAt: '2026-02-01T10:00:00Z', expiresAt: '2026-02-02T00:00:00Z' },
      'revoked',
    ],
    ['used by nodes, still valid', { usedBy: ['node-1'] }, 'valid'],
  ];
  for (const [name, overrides, status] of cases)
    t.equal(tokenStatus(makeToken(overrides), now), status, name);
});

t.test('formatExpiry shows the time and how far it is from now', async (t) => {
  const cases: Array<[string, string]> = [
    ['2026-03-02T00:00:00Z', '2026-03-02T00:00:00Z (in 12h)'],
    ['2026-03-02T00:00:00.000Z', '2026-03-02T00:00:00Z (in 12h)'],
    ['2026-03-01T12:30:00+00:00', '2026-03-01T12:30:00Z (in 30m)'],
    ['2026-03-08T12:00:00Z', '2026-03-08T12:00:00Z (in 7d)'],
    ['2026-03-01T09:00:00Z', '2026-03-01T09:00:00Z (3h ago)'],
    ['2026-03-01T12:00:00Z', '2026-03-01T12:00:00Z (0s ago)'],
    ['', '<none>'],
    ['not a time', 'not a time'],
  ];
  for (const [expiresAt, shown] of cases)
    t.equal(formatExpiry(expiresAt, now), shown, JSON.stringify(expiresAt));
});

t.test('the token table shows ID, DESCRIPTION, EXPIRES, STATUS and USED-BY, oldest first', async (t) => {
  const table = tokensTable(
    [
      makeToken({
        id: 'zzz999',
        createdAt: '2026-03-01T02:00:00Z',
        description: 'rack 3',
        usedBy: ['node-1', 'node-2'],
      }),
      makeToken({ id: 'bbb222', revokedAt: '2026-03-01T05:00:00Z' }),
      makeToken({ id: 'aaa111', expiresAt: '2026-03-01T11:00:00Z' }),
    ],
    now,
  );
  t.equal(
    table,
    [
      'ID       DESCRIPTION   EXPIRES                          STATUS    USED-BY',
      'aaa111   <none>        2026-03-01T11:00:00Z (60m ago)   expired   <none>',
      'bbb222   <none>        2026-03-02T00:00:00Z (in 12h)    revoked   <none>',
      'zzz999   rack 3        2026-03-02T00:00:00Z (in 12h)    valid     node-1,node-2',
      '',
    ].join('\n'),
  );
});

t.test('tokens created at the same time are ordered by ID', async (t) => {
  const table = tokensTable(
    [makeToken({ id: 'ccc333' }), makeToken({ id: 'aaa111' }), makeToken({ id: 'bbb222' })],
    now,
  );
  t.same(
    table
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split(' ')[0]),
    ['aaa111', 'bbb222', 'ccc333'],
  );
});
