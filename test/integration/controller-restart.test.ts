// The controller keeps nothing that matters outside etcd: restarted, it still has every
// node, and agents reconnect by themselves and keep receiving their assignments.
import t from 'tap';
import { join } from 'node:path';
import { Pod } from '@flotilla/proto';
import { subjects } from '@flotilla/common';
import {
  ControlPlane,
  connectNatsAsController,
  isReady,
  makeRunDir,
  putEtcd,
  waitFor,
} from '../lib/index.js';

const plane = new ControlPlane(makeRunDir('restart'), { nodeGrace: '3s' });
t.before(() => plane.start());
t.teardown(() => plane.destroy());

function podJson(name: string, nodeName: string): string {
  const pod = Pod.fromJSON({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, creationTimestamp: new Date().toISOString() },
    spec: { nodeName, restartPolicy: 'Always', containers: [{ name: 'main', image: 'busybox' }] },
  });
  return JSON.stringify(Pod.toJSON(pod));
}

async function desiredPods(etcdEndpoint: string, natsUrl: string, node: string): Promise<string> {
  const nc = await connectNatsAsController(etcdEndpoint, natsUrl);
  try {
    const reply = await nc.request(subjects.resync(node), new Uint8Array(), { timeout: 2000 });
    return new TextDecoder().decode(reply.data);
  } finally {
    await nc.close();
  }
}

t.test('a restarted controller loses nothing and agents reconnect by themselves', async (t) => {
  const agent = plane.startAgent({
    stateDir: join(plane.dir, 'agent'),
    nodeName: 'survivor',
    token: plane.joinToken(),
  });
  t.teardown(() => agent.stop());
  const before = await waitFor('survivor to be Ready', async () => {
    const node = await plane.admin.getNode('survivor').catch(() => undefined);
    return isReady(node) ? node : undefined;
  });

  await putEtcd(plane.etcd.endpoint, '/flotilla/v1/pods/default/first', podJson('first', 'survivor'));
  await waitFor('the agent to receive the first pod', async () =>
    (await desiredPods(plane.etcd.endpoint, plane.natsUrl, 'survivor')).includes('first'),
  );

  plane.controller.kill('SIGKILL');
  await plane.controller.exited;
  await plane.startController();

  const after = await plane.admin.getNode('survivor');
  t.equal(after.metadata?.uid, before.metadata?.uid, 'the node is still there, same uid');
  t.equal(after.metadata?.creationTimestamp, before.metadata?.creationTimestamp, 'same creation time');

  // A pod bound after the restart reaches the agent only if it reconnected its stream.
  await putEtcd(plane.etcd.endpoint, '/flotilla/v1/pods/default/second', podJson('second', 'survivor'));
  const state = await waitFor(
    'the agent to receive a pod bound after the restart',
    async () => {
      const s = await desiredPods(plane.etcd.endpoint, plane.natsUrl, 'survivor');
      return s.includes('second') ? s : undefined;
    },
    { timeoutMs: 30_000 },
  );
  t.match(state, /first/, 'the pod from before is still desired');
  t.ok(agent.isRunning(), 'the agent never exited');
  const node = await plane.admin.getNode('survivor');
  t.ok(isReady(node), 'the node stayed Ready across the restart');
  const transition = (n: typeof node): string | undefined =>
    n.status?.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime;
  t.equal(transition(node), transition(before), 'Ready never changed in between (same lastTransitionTime)');
});
