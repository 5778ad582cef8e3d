// An agent joins with a token, its node turns Ready; killed, it turns NotReady after the
// grace; restarted without a token, it comes back Ready with the same identity.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlPlane, isReady, makeRunDir, readyCondition, waitFor } from '../lib/index.js';

const plane = new ControlPlane(makeRunDir('lifecycle'), { nodeGrace: '2s' });
t.before(() => plane.start());
t.teardown(() => plane.destroy());

t.test('an agent joins, goes NotReady when killed, and returns with the same identity', async (t) => {
  const stateDir = join(plane.dir, 'agent-a');
  const agent = plane.startAgent({
    stateDir,
    nodeName: 'worker-a',
    token: plane.joinToken(),
    labels: 'zone=z1',
  });
  t.teardown(() => agent.stop());

  const joined = await waitFor('worker-a to be Ready', async () => {
    const node = await plane.admin.getNode('worker-a').catch(() => undefined);
    return isReady(node) ? node : undefined;
  });
  t.equal(joined.metadata?.labels.zone, 'z1', 'labels from --labels are registered');
  t.ok(Number(joined.status?.capacity.cpu) >= 1, 'cpu capacity is read from the host');
  t.match(joined.status?.capacity.memory ?? '', /^\d+Ki$/, 'memory capacity is read from the host');
  t.ok(
    joined.status?.addresses.some((a) => a.type === 'InternalIP'),
    'an InternalIP address is registered',
  );
  const uid = joined.metadata?.uid;
  t.ok(uid, 'the node has a uid');
  const certBefore = readFileSync(join(stateDir, 'node.crt'), 'utf8');

  const tokens = await plane.admin.listJoinTokens();
  t.ok(
    tokens.tokens.some((tok) => tok.usedBy.includes('worker-a')),
    'the join token records the node that used it',
  );

  agent.kill('SIGKILL');
  await agent.exited;
  const notReady = await waitFor(
    'worker-a to be NotReady after the grace',
    async () => {
      const node = await plane.admin.getNode('worker-a');
      return readyCondition(node)?.status !== 'True' ? node : undefined;
    },
    { timeoutMs: 20_000 },
  );
  const cond = readyCondition(notReady);
  t.equal(cond?.status, 'Unknown', 'Ready turns Unknown');
  t.equal(cond?.reason, 'NodeStatusUnknown', 'with a reason');
  const lastHeartbeat = notReady.status?.conditions.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
  t.ok(lastHeartbeat && !Number.isNaN(Date.parse(lastHeartbeat)), 'the last heartbeat time is recorded');

  // Restart with neither --join nor --token: the state directory holds the identity.
  const again = plane.startAgent({ stateDir, nodeName: 'worker-a', join: false });
  t.teardown(() => again.stop());
  const back = await waitFor('worker-a to be Ready again', async () => {
    const node = await plane.admin.getNode('worker-a');
    return isReady(node) ? node : undefined;
  });
  t.equal(back.metadata?.uid, uid, 'same node object (uid unchanged)');
  t.equal(readFileSync(join(stateDir, 'node.crt'), 'utf8'), certBefore, 'same certificate: no new join');
  const nodes = await plane.admin.listNodes();
  t.equal(nodes.items.length, 1, 'no duplicate node');
});
