import t from 'tap';
import { createHash } from 'node:crypto';
import {
  type JoinTokenRecord,
  JoinTokenStore,
  MemoryStore,
  generateJoinToken,
  joinTokenId,
  newJoinTokenRecord,
  toJoinTokenMessage,
  tokenTtlMs,
  validateJoinToken,
} from '@flotilla/controller';

const now = new Date('2026-01-01T00:00:00.000Z');
const hour = 60 * 60 * 1000;
const malformed = 'join token must look like <id>.<secret>';
const unknown = 'unknown join token';

/** A stored token record for abc123.abcdefghijklmnop, valid for an hour from `now` unless told. */
function makeRecord(
  options: { id?: string; secret?: string; ttlMs?: number; revokedAt?: string } = {},
): JoinTokenRecord {
  const record = newJoinTokenRecord(
    options.id ?? 'abc123',
    options.secret ?? 'abcdefghijklmnop',
    'for tests',
    options.ttlMs ?? hour,
    now,
  );
  return options.revokedAt ? { ...record, revokedAt: options.revokedAt } : record;
}

const token = 'abc123.abcdefghijklmnop';
const at = (ms: number): Date => new Date(now.getTime() + ms);

t.test('generateJoinToken makes <6 of [a-z0-9]>.<16 of [a-z0-9]> and joinTokenId finds the id', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const generated = generateJoinToken();
    t.match(generated.id, /^[a-z0-9]{6}$/);
    t.match(generated.secret, /^[a-z0-9]{16}$/);
    t.equal(generated.token, `${generated.id}.${generated.secret}`);
    t.equal(joinTokenId(generated.token), generated.id);
    seen.add(generated.token);
  }
  t.equal(seen.size, 50, 'no two tokens alike');
});

t.test('joinTokenId is undefined for anything that is not <id>.<secret>', async (t) => {
  const bad = [
    '',
    'abc123',
    'abc123.',
    '.abcdefghijklmnop',
    'abc12.abcdefghijklmnop',
    'abc1234.abcdefghijklmnop',
    'abc123.abcdefghijklmno',
    'abc123.abcdefghijklmnopq',
    'ABC123.abcdefghijklmnop',
    'abc123.ABCDEFGHIJKLMNOP',
    'abc123:abcdefghijklmnop',
    ' abc123.abcdefghijklmnop',
    'abc123.abcdefghijklmnop\n',
    'abc123.abcdefgh.jklmnop',
  ];
  for (const text of bad) t.equal(joinTokenId(text), undefined, JSON.stringify(text));
});

t.test('a record keeps the SHA-256 of the secret and never the secret', async (t) => {
  const record = makeRecord();
  t.equal(record.secretSha256, createHash('sha256').update('abcdefghijklmnop').digest('hex'));
  t.notMatch(JSON.stringify(record), /abcdefghijklmnop/, 'the secret is nowhere in the record');
  t.equal(record.createdAt, '2026-01-01T00:00:00.000Z');
  t.equal(record.expiresAt, '2026-01-01T01:00:00.000Z');
  t.strictSame(record.usedBy, []);
  const message = toJoinTokenMessage(record);
  t.notMatch(
    JSON.stringify(message),
    /abcdefghijklmnop|secret|[0-9a-f]{64}/,
    'the API view has no secret or hash',
  );
  t.equal(message.revokedAt, '', 'not revoked');
});

t.test('validateJoinToken accepts a well-formed, known, unrevoked, unexpired token', async (t) => {
  t.strictSame(validateJoinToken(token, makeRecord(), now), { ok: true, id: 'abc123' });
  t.strictSame(
    validateJoinToken(token, makeRecord(), at(hour - 1)),
    { ok: true, id: 'abc123' },
    'until the last ms',
  );
});

t.test('validateJoinToken refuses, in order: malformed, unknown, revoked, expired', async (t) => {
  const revokedAt = '2026-01-01T00:30:00.000Z';
  const cases: Array<[string, string, JoinTokenRecord | undefined, Date, string]> = [
    // what, presented token, stored record, time, reason
    ['malformed, no record', 'nope', undefined, now, malformed],
    ['malformed, upper case id', 'ABC123.abcdefghijklmnop', makeRecord(), now, malformed],
    [
      'malformed beats revoked and expired',
      'abc123.short',
      makeRecord({ revokedAt }),
      at(2 * hour),
      malformed,
    ],
    ['unknown id: no record', token, undefined, now, unknown],
    ['wrong secret', 'abc123.abcdefghijklmnoq', makeRecord(), now, unknown],
    ['a record of another id', token, makeRecord({ id: 'zzz999' }), now, unknown],
    [
      'wrong secret beats revoked and expired',
      'abc123.qqqqqqqqqqqqqqqq',
      makeRecord({ revokedAt }),
      at(2 * hour),
      unknown,
    ],
    ['revoked', token, makeRecord({ revokedAt }), now, `join token abc123 was revoked at ${revokedAt}`],
    [
      'revoked beats expired',
      token,
      makeRecord({ revokedAt }),
      at(2 * hour),
      `join token abc123 was revoked at ${revokedAt}`,
    ],
    [
      'expired at the expiry time',
      token,
      makeRecord(),
      at(hour),
      'join token abc123 expired at 2026-01-01T01:00:00.000Z',
    ],
    [
      'expired later',
      token,
      makeRecord(),
      at(2 * hour),
      'join token abc123 expired at 2026-01-01T01:00:00.000Z',
    ],
  ];
  for (const [what, presented, record, when, reason] of cases) {
    t.strictSame(validateJoinToken(presented, record, when), { ok: false, reason }, what);
  }
});

t.test('tokenTtlMs takes 0 as 24h and refuses lifetimes outside 1 minute .. 1 year', async (t) => {
  t.equal(tokenTtlMs(0), 24 * hour);
  t.equal(tokenTtlMs(60), 60_000);
  t.equal(tokenTtlMs(31_536_000), 31_536_000_000);
  for (const bad of [59, -1, 1.5, 31_536_001]) {
    t.throws(
      () => tokenTtlMs(bad),
      { code: 'InvalidArgument', message: `ttlSeconds ${bad} is out of range` },
      String(bad),
    );
  }
});

t.test('JoinTokenStore over a MemoryStore: create, validate, record use once, revoke', async (t) => {
  let clock = now;
  const tokens = new JoinTokenStore(new MemoryStore(), () => clock);
  const { token: created, record } = await tokens.create(hour, 'ci');
  t.match(created, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  t.equal((await tokens.validate(created)).id, record.id);
  await t.rejects(tokens.validate(`${record.id}.0000000000000000`), {
    code: 'Unauthenticated',
    message: unknown,
  });

  await tokens.recordUse(record.id, 'n1');
  await tokens.recordUse(record.id, 'n1');
  await tokens.recordUse(record.id, 'n2');
  t.strictSame(
    (await tokens.list()).map((r) => r.usedBy),
    [['n1', 'n2']],
    'each node once',
  );

  clock = at(60_000);
  const revoked = await tokens.revoke(record.id);
  t.equal(revoked.revokedAt, '2026-01-01T00:01:00.000Z');
  clock = at(120_000);
  t.equal(
    (await tokens.revoke(record.id)).revokedAt,
    revoked.revokedAt,
    'revoking again keeps the first time',
  );
  await t.rejects(tokens.validate(created), {
    code: 'Unauthenticated',
    message: `join token ${record.id} was revoked at 2026-01-01T00:01:00.000Z`,
  });
  await t.rejects(tokens.revoke('zzzzzz'), { code: 'NotFound', message: /join token "zzzzzz" not found/ });
});
