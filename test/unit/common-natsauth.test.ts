// NATS JWTs signed with Node's Ed25519 are exactly what nkeys.js would sign, and verify
// against the issuer's public key (the server checks the same).
import t from 'tap';
import { fromPublic, fromSeed } from 'nkeys.js';
import { createNatsKeys, natsServerAuth, newUserSeed, publicKeyOfSeed, signUserJwt } from '@flotilla/common';

const enc = new TextEncoder();

function parts(jwt: string): { input: string; claims: Record<string, unknown>; signature: Buffer } {
  const [header, claims, signature] = jwt.split('.');
  if (header === undefined || claims === undefined || signature === undefined)
    throw new Error(`not a JWT: ${jwt}`);
  return {
    input: `${header}.${claims}`,
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as Record<string, unknown>,
    signature: Buffer.from(signature, 'base64url'),
  };
}

t.test('a user JWT is signed by the account: nkeys verifies it, and signs the same bytes', async (t) => {
  const keys = createNatsKeys();
  const user = newUserSeed();
  for (let i = 0; i < 2; i++) {
    // Twice: the second signature comes from the remembered key.
    const jwt = signUserJwt(keys, user.publicKey, 'n1', { pub: { allow: ['a.>'] }, sub: { allow: ['b.>'] } });
    const { input, claims, signature } = parts(jwt);
    t.equal(claims.iss, publicKeyOfSeed(keys.accountSeed), 'issued by the account');
    t.equal(claims.sub, user.publicKey);
    t.ok(fromPublic(String(claims.iss)).verify(enc.encode(input), signature), 'verifies');
    t.same(
      signature,
      Buffer.from(fromSeed(enc.encode(keys.accountSeed)).sign(enc.encode(input))),
      'as nkeys signs',
    );
    t.notOk(
      fromPublic(publicKeyOfSeed(keys.operatorSeed)).verify(enc.encode(input), signature),
      'not by another key',
    );
  }
});

t.test('the operator signs the accounts the server preloads', async (t) => {
  const keys = createNatsKeys();
  const auth = natsServerAuth(keys);
  const operator = fromPublic(publicKeyOfSeed(keys.operatorSeed));
  for (const jwt of [auth.operatorJwt, auth.accountJwt, auth.systemAccountJwt]) {
    const { input, signature } = parts(jwt);
    t.ok(operator.verify(enc.encode(input), signature));
  }
});

t.test('a seed that is not an nkey seed is refused', async (t) => {
  const keys = { ...createNatsKeys(), accountSeed: 'SANOTASEED' };
  t.throws(() => signUserJwt(keys, newUserSeed().publicKey, 'n1', { pub: {}, sub: {} }));
});
