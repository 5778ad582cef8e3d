// Property tests of the deployment decisions: seeded random rollouts (random sizes,
// strategies, surge and unavailability, minReadySeconds, template changes mid-rollout)
// in which pods become ready after random delays, some never do, and ready ones drop out
// now and then. After every pass of the controller:
//  - never more than replicas + maxSurge pods (Recreate: replicas, and never two revisions);
//  - the controller never takes availability below replicas - maxUnavailable (a pass may
//    only lower the available count while it is already below, never below where it was);
// and once pods stop failing the rollout converges on the last template.
import t from 'tap';
import type { Pod } from '@flotilla/proto';
import { isPodAvailable, isPodReady, rolloutBounds } from '@flotilla/controller';
import {
  DeploymentSim,
  makeDeployment,
  quiet,
  setReady,
  withImage,
  withReplicas,
} from '../lib/deployment-sim.js';

/** mulberry32: a small seeded generator, so a failing seed can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(random: () => number, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)] as T;

const seeds = 200;
const steps = 220;
const healAt = 140;

interface Fate {
  /** The step from which the pod is ready; undefined: never (until the heal). */
  readyFrom: number | undefined;
}

t.test(`${seeds} seeded random rollouts keep their bounds and converge`, async (t) => {
  let checked = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const random = rng(seed);
    const replicas = 1 + Math.floor(random() * 8);
    const recreate = random() < 0.2;
    const d = makeDeployment({
      replicas,
      strategy: recreate ? 'Recreate' : 'RollingUpdate',
      maxSurge: pick(random, ['0', '1', '2', '25%', '50%', '0%']),
      maxUnavailable: pick(random, ['0', '1', '2', '25%', '50%', '0%']),
      minReadySeconds: pick(random, [0, 0, 2]),
      progressDeadlineSeconds: 2147483647,
    });
    const { maxSurge, maxUnavailable } = rolloutBounds(d);
    const minAvailable = replicas - maxUnavailable;
    const sim = new DeploymentSim(d);
    const fates = new Map<string, Fate>();
    let version = 1;
    const where = (step: number): string =>
      `seed ${seed} step ${step} (${replicas} replicas, ${recreate ? 'Recreate' : `surge ${maxSurge} unavailable ${maxUnavailable}`})`;
    let failure: string | undefined;
    let quietAtEnd = false;
    for (let step = 0; step < steps && !failure; step++) {
      sim.advance(1_000);
      // The nodes: pods get ready when their fate says, and ready ones sometimes drop out.
      const healed = step >= healAt;
      sim.pods = sim.pods.map((p: Pod): Pod => {
        const name = p.metadata?.name ?? '';
        let fate = fates.get(name);
        if (!fate) {
          fate = { readyFrom: random() < 0.2 ? undefined : step + Math.floor(random() * 4) };
          fates.set(name, fate);
        }
        if (healed && fate.readyFrom === undefined) fate.readyFrom = step;
        const shouldBeReady = fate.readyFrom !== undefined && step >= fate.readyFrom;
        if (shouldBeReady && !healed && isPodReady(p) && random() < 0.02) {
          fate.readyFrom = step + 1 + Math.floor(random() * 3);
          return setReady(p, false, sim.now);
        }
        if (shouldBeReady !== isPodReady(p) && (p.metadata?.deletionTimestamp ?? '') === '') {
          return setReady(p, shouldBeReady, sim.now);
        }
        return p;
      });
      // Now and then a new template, also in the middle of a rollout.
      if (step < healAt - 40 && random() < 0.04) {
        version++;
        sim.deployment = withImage(sim.deployment, `registry.local/web:${version}`);
      }
      // Availability as the pass sees it, after its own pass's terminations were done.
      sim.pods = sim.pods.filter((p) => (p.metadata?.deletionTimestamp ?? '') === '');
      const before = sim.availableCount();
      const plan = sim.step();
      const active = sim.activePods();
      const after = sim.availableCount();
      const limit = recreate ? replicas : replicas + maxSurge;
      if (active.length > limit) failure = `${where(step)}: ${active.length} pods, more than ${limit}`;
      else if (!recreate && after < Math.min(minAvailable, before)) {
        failure = `${where(step)}: the pass took availability from ${before} to ${after}, below ${minAvailable}`;
      } else if (recreate) {
        const images = new Set(active.map((p) => p.spec?.containers[0]?.image));
        if (images.size > 1)
          failure = `${where(step)}: pods of two revisions at once: ${[...images].join(', ')}`;
      }
      if (step === steps - 1) quietAtEnd = quiet(plan) && sim.lastPodChanges === 0;
      checked++;
    }
    if (failure) {
      t.fail(failure);
      return;
    }
    // Converged: the last template, at full size and available, nothing else left.
    const image = `registry.local/web:${version}`;
    const active = sim.activePods();
    const min = sim.deployment.spec?.minReadySeconds ?? 0;
    const converged =
      quietAtEnd &&
      active.length === replicas &&
      active.every((p) => p.spec?.containers[0]?.image === image && isPodAvailable(p, min, sim.now)) &&
      sim.replicaSets.every(
        (rs) =>
          (rs.spec?.replicas ?? 0) ===
          (rs.spec?.template?.spec?.containers[0]?.image === image ? replicas : 0),
      ) &&
      sim.deployment.status?.updatedReplicas === replicas &&
      sim.deployment.status.availableReplicas === replicas;
    if (!converged) {
      t.fail(`seed ${seed}: did not converge on ${image}`, {
        replicaSets: sim.replicasByImage(),
        pods: active.length,
        status: sim.deployment.status,
      });
      return;
    }
  }
  t.pass(`${seeds} rollouts, ${checked} passes checked`);
});

t.test(
  '100 seeded rollouts with scaling on the way converge, within the largest bound asked for',
  async (t) => {
    for (let seed = 1001; seed <= 1100; seed++) {
      const random = rng(seed);
      let replicas = 1 + Math.floor(random() * 8);
      const surgeText = pick(random, ['0', '1', '25%', '50%']);
      const unavailableText = pick(random, ['0', '1', '25%']);
      const sim = new DeploymentSim(
        makeDeployment({
          replicas,
          maxSurge: surgeText,
          maxUnavailable: unavailableText,
          progressDeadlineSeconds: 2147483647,
        }),
      );
      const bound = (): number => replicas + rolloutBounds(sim.deployment).maxSurge;
      // The largest replicas + maxSurge since the deployment last settled: a scale-down
      // takes passes to carry out, as in Kubernetes.
      let limit = bound();
      let version = 1;
      const readyAt = new Map<string, number>();
      for (let step = 0; step < 200; step++) {
        sim.advance(1_000);
        sim.pods = sim.pods.map((p) => {
          const name = p.metadata?.name ?? '';
          if (!readyAt.has(name)) readyAt.set(name, step + Math.floor(random() * 4));
          return !isPodReady(p) && step >= (readyAt.get(name) ?? 0) ? setReady(p, true, sim.now) : p;
        });
        if (step < 120 && random() < 0.05) {
          version++;
          sim.deployment = withImage(sim.deployment, `registry.local/web:${version}`);
        }
        if (step < 120 && random() < 0.04) {
          replicas = Math.floor(random() * 9);
          sim.deployment = withReplicas(sim.deployment, replicas);
          limit = Math.max(limit, bound());
        }
        const plan = sim.step();
        const active = sim.activePods().length;
        if (active > limit) {
          t.fail(`seed ${seed} step ${step}: ${active} pods, more than ${limit}`);
          return;
        }
        if (quiet(plan) && sim.lastPodChanges === 0) limit = bound();
      }
      const image = `registry.local/web:${version}`;
      const active = sim.activePods();
      if (
        active.length !== replicas ||
        !active.every((p) => p.spec?.containers[0]?.image === image && isPodReady(p)) ||
        sim.deployment.status?.availableReplicas !== replicas
      ) {
        t.fail(`seed ${seed}: did not converge on ${replicas} of ${image}`, {
          replicaSets: sim.replicasByImage(),
        });
        return;
      }
    }
    t.pass('100 rollouts with scaling converged');
  },
);
