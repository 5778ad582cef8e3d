// The deployment loop over a real etcd (no agents: the test plays the nodes, setting pods
// Ready and removing the ones marked deleted): a rollout, a scale-up past etcd's
// 128-operation transaction limit, and back down.
import t from 'tap';
import { rmSync } from 'node:fs';
import { createLogger } from '@flotilla/common';
import {
  EtcdStore,
  deploymentCodec,
  discardEvents,
  getCondition,
  isPodReady,
  keys,
  podCodec,
  replicaSetCodec,
  startDeploymentLoop,
} from '@flotilla/controller';
import { makeRunDir, startEtcd, waitFor } from '../lib/index.js';
import { makeDeployment, playNodes, withImage, withReplicas } from '../lib/deployment-sim.js';

const log = createLogger({ test: 'deployments-etcd' }, { level: 'warn' });
const dKey = keys.deployment('default', 'web');

t.test('roll out, scale to 150 and back, against etcd', async (t) => {
  const dir = makeRunDir('deployments-etcd');
  const etcd = await startEtcd(dir);
  const store = new EtcdStore({ endpoints: [etcd.endpoint], logger: log });
  const loop = startDeploymentLoop({ store, events: discardEvents, log });
  const stopNodes = playNodes(store);
  t.teardown(async () => {
    await stopNodes();
    await loop.stop();
    await store.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const rolledOut = async (image: string, replicas: number): Promise<boolean> => {
    const [d, rss, pods] = await Promise.all([
      store.get(deploymentCodec, dKey),
      store.list(replicaSetCodec, keys.replicaSets),
      store.list(podCodec, keys.pods),
    ]);
    const live = pods.entries.map((e) => e.value).filter((p) => (p.metadata?.deletionTimestamp ?? '') === '');
    return (
      live.length === replicas &&
      live.every((p) => p.spec?.containers[0]?.image === image && isPodReady(p)) &&
      rss.entries.every(
        (e) =>
          (e.value.spec?.replicas ?? 0) ===
          (e.value.spec?.template?.spec?.containers[0]?.image === image ? replicas : 0),
      ) &&
      d?.value.status?.availableReplicas === replicas &&
      getCondition(d.value.status, 'Progressing')?.reason === 'NewReplicaSetAvailable'
    );
  };
  const opts = { timeoutMs: 60_000, intervalMs: 100 };

  await store.create(deploymentCodec, dKey, makeDeployment({ replicas: 3 }));
  await waitFor('web:1 with 3 pods', () => rolledOut('registry.local/web:1', 3), opts);

  let entry = await store.get(deploymentCodec, dKey);
  if (!entry) throw new Error('the deployment is gone');
  await store.update(
    deploymentCodec,
    dKey,
    withImage(entry.value, 'registry.local/web:2'),
    entry.modRevision,
  );
  await waitFor('web:2 rolled out', () => rolledOut('registry.local/web:2', 3), opts);

  entry = await store.get(deploymentCodec, dKey);
  if (!entry) throw new Error('the deployment is gone');
  await store.update(deploymentCodec, dKey, withReplicas(entry.value, 150), entry.modRevision);
  await waitFor('150 pods', () => rolledOut('registry.local/web:2', 150), opts);

  entry = await store.get(deploymentCodec, dKey);
  if (!entry) throw new Error('the deployment is gone');
  await store.update(deploymentCodec, dKey, withReplicas(entry.value, 2), entry.modRevision);
  await waitFor('back to 2', () => rolledOut('registry.local/web:2', 2), opts);
  t.pass('converged every time');
});
