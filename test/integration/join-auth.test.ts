// Who may join and who may talk: tokens, client certificates, NATS subjects.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate, adminOrganization } from '@flotilla/common';
import { NodeHeartbeat } from '@flotilla/proto';
import { connect, jwtAuthenticator, type NatsConnection } from 'nats';
import {
  AdminClient,
  ControlPlane,
  connectNatsAsController,
  isReady,
  makeRunDir,
  putEtcd,
  waitFor,
} from '../lib/index.js';

const plane = new ControlPlane(makeRunDir('auth'));
t.before(() => plane.start());
t.teardown(() => plane.destroy());

async function joinOutcome(
  t: Test,
  nodeName: string,
  token: string,
): Promise<{ code: number | string; log: string }> {
  const agent = plane.startAgent({ stateDir: join(plane.dir, nodeName), nodeName, token });
  t.teardown(() => agent.stop());
  const code = await Promise.race([
    agent.exited,
    new Promise<string>((resolve) => setTimeout(() => resolve('still-running'), 20_000).unref()),
  ]);
  return { code, log: agent.log() };
}

t.test('an unknown join token is refused with a clear error', async (t) => {
  const { code, log } = await joinOutcome(t, 'intruder-1', 'abcdef.0123456789abcdef');
  t.equal(code, 1, 'the agent exits 1');
  t.match(log, /unknown join token/i, 'and says the token is unknown');
  await t.rejects(plane.admin.getNode('intruder-1'), /not found/i, 'no node was registered');
});

t.test('a malformed join token is refused', async (t) => {
  const { code, log } = await joinOutcome(t, 'intruder-2', 'not-a-token');
  t.not(code, 'still-running', 'the agent does not keep going');
  t.not(code, 0, 'the agent fails');
  t.match(log, /<id>\.<secret>|token/i, 'and says what a token looks like');
});

t.test('a revoked join token is refused', async (t) => {
  const created = await plane.admin.createJoinToken(0, 'to be revoked');
  const id = created.token?.id ?? '';
  await plane.admin.revokeJoinToken(id);
  const listed = await plane.admin.listJoinTokens();
  t.ok(listed.tokens.find((x) => x.id === id)?.revokedAt, 'the token is listed as revoked');
  const { code, log } = await joinOutcome(t, 'intruder-3', created.secretToken);
  t.equal(code, 1, 'the agent exits 1');
  t.match(log, new RegExp(`${id}.*revoked`, 'i'), 'and says the token was revoked');
});

t.test('an expired join token is refused', async (t) => {
  // The API refuses TTLs under a minute, so write an already-expired record the way the
  // controller stores tokens (sha256 of the secret only).
  const id = 'exp123';
  const secret = 'abcdefabcdefabcd';
  const past = new Date(Date.now() - 3_600_000).toISOString();
  await putEtcd(
    plane.etcd.endpoint,
    `/flotilla/v1/jointokens/${id}`,
    JSON.stringify({
      id,
      secretSha256: createHash('sha256').update(secret).digest('hex'),
      description: 'expired',
      createdAt: new Date(Date.now() - 7_200_000).toISOString(),
      expiresAt: past,
      usedBy: [],
    }),
  );
  const { code, log } = await joinOutcome(t, 'intruder-4', `${id}.${secret}`);
  t.equal(code, 1, 'the agent exits 1');
  t.match(log, new RegExp(`${id}.*expired`, 'i'), 'and says the token expired');
});

t.test('a valid token from `token create` joins, pinning the CA by hash', async (t) => {
  const created = await plane.admin.createJoinToken(3600, 'ok');
  t.match(created.secretToken, /^[a-z0-9]{6}\.[a-z0-9]{16}$/, 'token has the documented shape');
  const agent = plane.startAgent({
    stateDir: join(plane.dir, 'pinned'),
    nodeName: 'pinned',
    token: created.secretToken,
    caCertHash: created.caCertHash,
  });
  t.teardown(() => agent.stop());
  await waitFor('pinned to be Ready', async () =>
    isReady(await plane.admin.getNode('pinned').catch(() => undefined)),
  );
  t.pass('the node joined and is Ready');
});

t.test('a client without a valid certificate is refused', async (t) => {
  const caPem = readFileSync(plane.caFile, 'utf8');
  const anonymous = AdminClient.forTls(plane.apiAddress, caPem);
  t.teardown(() => anonymous.close());
  await t.rejects(anonymous.listNodes(), /certificate/i, 'no client certificate: refused');

  const otherCa = await createCertificateAuthority('someone-else');
  const forged = await issueCertificate(otherCa, {
    subject: { commonName: 'admin', organization: adminOrganization },
    usage: 'client',
    validDays: 1,
  });
  const impostor = AdminClient.forTls(plane.apiAddress, caPem, forged.certPem, forged.keyPem);
  t.teardown(() => impostor.close());
  const err = await impostor.listNodes().then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  t.ok(err, 'a certificate from another CA is refused');
  t.equal(err?.code, 'Unauthenticated', 'as unauthenticated');
});

t.test("an agent cannot publish on another node's subjects", async (t) => {
  const agentA = plane.startAgent({
    stateDir: join(plane.dir, 'nats-a'),
    nodeName: 'nats-a',
    token: plane.joinToken(),
  });
  t.teardown(() => agentA.stop());
  await waitFor('nats-a to be Ready', async () =>
    isReady(await plane.admin.getNode('nats-a').catch(() => undefined)),
  );

  const observer = await connectNatsAsController(plane.etcd.endpoint, plane.natsUrl);
  t.teardown(() => observer.close());
  const seen: string[] = [];
  const sub = observer.subscribe('flotilla.v1.node.>');
  void (async () => {
    for await (const m of sub) seen.push(m.subject);
  })();
  await observer.flush();

  // Connect with nats-a's own credentials, as a compromised agent would.
  const jwt = readFileSync(join(plane.dir, 'nats-a', 'nats.jwt'), 'utf8').trim();
  const seed = readFileSync(join(plane.dir, 'nats-a', 'nats.seed'), 'utf8').trim();
  const stolen: NatsConnection = await connect({
    servers: plane.natsUrl,
    authenticator: jwtAuthenticator(jwt, new TextEncoder().encode(seed)),
  });
  t.teardown(() => stolen.close());
  const violations: string[] = [];
  void (async () => {
    for await (const s of stolen.status()) {
      if (String(s.type) === 'error') violations.push(JSON.stringify(s.data));
    }
  })();
  const fake = NodeHeartbeat.encode({
    nodeName: 'nats-b',
    time: new Date().toISOString(),
    sequence: 1,
    agentInstance: 'x',
    usage: undefined,
  }).finish();
  stolen.publish('flotilla.v1.node.nats-b.heartbeat', fake);
  stolen.publish('flotilla.v1.node.nats-a.probe', new Uint8Array());
  await stolen.flush();
  await waitFor('the permitted message to arrive', () => seen.includes('flotilla.v1.node.nats-a.probe'));
  await waitFor('the server to report the violation', () => violations.some((v) => /permission/i.test(v)));
  t.notOk(seen.includes('flotilla.v1.node.nats-b.heartbeat'), 'the message for another node never arrived');
  t.ok(violations.length > 0, 'the server reported a permissions violation');
  await t.rejects(plane.admin.getNode('nats-b'), /not found/i, 'no node appeared from the forged heartbeat');
});
