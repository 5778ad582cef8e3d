// Cluster.Scale (Deployments and ReplicaSets) and Cluster.Rollout (undo, pause, resume,
// restart of a Deployment). The changes are the pure functions of deployments/rollout.ts;
// this file reads the object, applies the change and writes it guarded by the revision it
// read (a conflict reads again). The deployment loop does the rest.
import type { ClusterServer, Deployment, ReplicaSet } from '@flotilla/proto';
import { RolloutRequest_Action } from '@flotilla/proto';
import {
  invalidArgument,
  isFlotillaError,
  notFound,
  validateDnsSubdomain,
  type Logger,
} from '@flotilla/common';
import { defaultNamespace } from '../pods/defaults.js';
import { validateDnsLabel } from '../pods/validate-pod.js';
import { restartDeployment, scaleObject, setPaused, undoDeployment } from '../deployments/rollout.js';
import { deploymentCodec, replicaSetCodec } from '../store/codecs.js';
import { keys } from '../store/keys.js';
import type { Codec, Store } from '../store/types.js';
import { requireAdmin } from './auth.js';
import { unary } from './handlers.js';

export interface DeploymentServiceDeps {
  store: Store;
  caPem: string;
  log: Logger;
  now?: () => Date;
}

const attempts = 10;

/** The namespace (default "default") and name of a request, checked. */
function target(kind: string, namespace: string, name: string): { ns: string; name: string; object: string } {
  const ns = namespace || defaultNamespace;
  const nsWhy = validateDnsLabel(ns);
  if (nsWhy) throw invalidArgument(`namespace "${ns}" ${nsWhy}`, { field: 'namespace', value: ns });
  const nameWhy = validateDnsSubdomain(name);
  if (nameWhy) {
    throw invalidArgument(`${kind} name "${name}" ${nameWhy}`, { field: 'name', value: name });
  }
  return { ns, name, object: `${kind}/${ns}/${name}` };
}

/** Reads, changes and writes one object, again on a conflict; returns what was stored. */
async function change<T>(
  store: Store,
  codec: Codec<T>,
  key: string,
  missing: () => Error,
  fn: (value: T) => T,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const entry = await store.get(codec, key);
    if (!entry) throw missing();
    const next = fn(entry.value);
    if (next === entry.value) return entry.value;
    try {
      return (await store.update(codec, key, next, entry.modRevision)).value;
    } catch (err) {
      if (!isFlotillaError(err, 'Conflict') || attempt >= attempts) throw err;
    }
  }
}

const scaleKinds: Record<string, 'Deployment' | 'ReplicaSet'> = {
  deployment: 'Deployment',
  deployments: 'Deployment',
  deploy: 'Deployment',
  replicaset: 'ReplicaSet',
  replicasets: 'ReplicaSet',
  rs: 'ReplicaSet',
};

export function createDeploymentService(
  deps: DeploymentServiceDeps,
): Pick<ClusterServer, 'scale' | 'rollout'> {
  const { store, caPem, log } = deps;
  const now = deps.now ?? (() => new Date());

  return {
    scale: unary('Cluster.Scale', log, async (req, call) => {
      requireAdmin(call, caPem, 'Cluster.Scale');
      const kind = scaleKinds[req.kind.toLowerCase()];
      if (!kind) {
        throw invalidArgument(
          `kind: "${req.kind}" cannot be scaled; valid kinds are Deployment and ReplicaSet`,
          {
            field: 'kind',
            value: req.kind,
          },
        );
      }
      const { ns, name, object } = target(kind.toLowerCase(), req.namespace, req.name);
      const missing = (): Error => notFound(`${kind.toLowerCase()} "${ns}/${name}" not found`, { object });
      if (kind === 'Deployment') {
        const deployment = await change<Deployment>(
          store,
          deploymentCodec,
          keys.deployment(ns, name),
          missing,
          (d) => scaleObject('Deployment', d, req.replicas),
        );
        log.info('deployment scaled', { deployment: `${ns}/${name}`, replicas: req.replicas });
        return { deployment };
      }
      const replicaSet = await change<ReplicaSet>(
        store,
        replicaSetCodec,
        keys.replicaSet(ns, name),
        missing,
        (rs) => scaleObject('ReplicaSet', rs, req.replicas),
      );
      log.info('replica set scaled', { replicaSet: `${ns}/${name}`, replicas: req.replicas });
      return { replicaSet };
    }),

    rollout: unary('Cluster.Rollout', log, async (req, call) => {
      requireAdmin(call, caPem, 'Cluster.Rollout');
      const { ns, name, object } = target('deployment', req.namespace, req.name);
      const key = keys.deployment(ns, name);
      const missing = (): Error => notFound(`deployment "${ns}/${name}" not found`, { object });
      switch (req.action) {
        case RolloutRequest_Action.UNDO: {
          let revision = 0;
          const replicaSets = (await store.list(replicaSetCodec, keys.replicaSet(ns, ''))).entries.map(
            (e) => e.value,
          );
          const deployment = await change<Deployment>(store, deploymentCodec, key, missing, (d) => {
            const undone = undoDeployment(d, replicaSets, req.toRevision);
            revision = undone.revision;
            return undone.deployment;
          });
          log.info('deployment rolled back', { deployment: `${ns}/${name}`, revision });
          return deployment;
        }
        case RolloutRequest_Action.PAUSE:
        case RolloutRequest_Action.RESUME: {
          const paused = req.action === RolloutRequest_Action.PAUSE;
          const deployment = await change<Deployment>(store, deploymentCodec, key, missing, (d) =>
            setPaused(d, paused),
          );
          log.info(paused ? 'deployment paused' : 'deployment resumed', { deployment: `${ns}/${name}` });
          return deployment;
        }
        case RolloutRequest_Action.RESTART: {
          const at = now();
          const deployment = await change<Deployment>(store, deploymentCodec, key, missing, (d) =>
            restartDeployment(d, at),
          );
          log.info('deployment restarted', { deployment: `${ns}/${name}` });
          return deployment;
        }
        case RolloutRequest_Action.ACTION_UNSPECIFIED:
        case RolloutRequest_Action.UNRECOGNIZED:
          break;
      }
      throw invalidArgument(`action: ${req.action} is not valid; use UNDO, PAUSE, RESUME or RESTART`, {
        object,
        field: 'action',
        value: req.action,
      });
    }),
  };
}
