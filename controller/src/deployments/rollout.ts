// What `deploy rollout undo|pause|resume|restart` and `deploy scale` change in a
// Deployment (or ReplicaSet), as pure functions: each returns the object to write, with
// generation moved when the spec changed, or throws an error naming the object and field.
import type { Deployment, ReplicaSet } from '@flotilla/proto';
import { failedPrecondition, invalidArgument, notFound } from '@flotilla/common';
import {
  annotations,
  nameOf,
  ownedReplicaSets,
  revisionOf,
  sameTemplate,
  templateWithoutHash,
} from './revisions.js';

function describe(kind: string, object: Deployment | ReplicaSet): string {
  return `${kind.toLowerCase()} "${object.metadata?.namespace ?? ''}/${nameOf(object)}"`;
}

function objectRef(kind: string, object: Deployment | ReplicaSet): string {
  return `${kind.toLowerCase()}/${object.metadata?.namespace ?? ''}/${nameOf(object)}`;
}

function withSpec<T extends Deployment | ReplicaSet>(object: T, spec: NonNullable<T['spec']>): T {
  const meta = object.metadata;
  return { ...object, spec, metadata: meta && { ...meta, generation: meta.generation + 1 } };
}

/** replicas for a Deployment or ReplicaSet: a whole number, 0 or more. */
export function scaleObject<T extends Deployment | ReplicaSet>(kind: string, object: T, replicas: number): T {
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw invalidArgument(
      `replicas: ${replicas} is not valid for ${describe(kind, object)}: it must be 0 or more`,
      {
        object: objectRef(kind, object),
        field: 'replicas',
        value: replicas,
      },
    );
  }
  const spec = object.spec;
  if (!spec)
    throw failedPrecondition(`${describe(kind, object)} has no spec to scale`, {
      object: objectRef(kind, object),
    });
  if ((spec.replicas ?? 1) === replicas) return object;
  return withSpec(object, { ...spec, replicas });
}

export function setPaused(d: Deployment, paused: boolean): Deployment {
  const spec = d.spec;
  if (!spec || spec.paused === paused) return d;
  return withSpec(d, { ...spec, paused });
}

/** A new revision with the same pod spec: the template's restartedAt annotation set to now. */
export function restartDeployment(d: Deployment, now: Date): Deployment {
  const spec = d.spec;
  const template = templateWithoutHash(spec?.template);
  if (!spec || !template.metadata) {
    throw failedPrecondition(`${describe('Deployment', d)} has no template to restart`, {
      object: objectRef('Deployment', d),
      field: 'spec.template',
    });
  }
  template.metadata.annotations = {
    ...template.metadata.annotations,
    [annotations.restartedAt]: now.toISOString(),
  };
  return withSpec(d, { ...spec, template });
}

export interface UndoResult {
  deployment: Deployment;
  /** The revision whose template the deployment now has. */
  revision: number;
}

/**
 * `rollout undo`: the deployment's template set to that of revision toRevision, or of the
 * revision before the current one when toRevision is 0, as Kubernetes does it. The
 * ReplicaSet of that revision becomes current again (and takes the next revision number).
 */
export function undoDeployment(
  d: Deployment,
  replicaSets: readonly ReplicaSet[],
  toRevision: number,
): UndoResult {
  const object = objectRef('Deployment', d);
  const what = describe('Deployment', d);
  if (!Number.isInteger(toRevision) || toRevision < 0) {
    throw invalidArgument(
      `toRevision: ${toRevision} is not valid for ${what}: it must be a revision number, or 0 for the previous one`,
      {
        object,
        field: 'toRevision',
        value: toRevision,
      },
    );
  }
  if (d.spec?.paused) {
    throw failedPrecondition(
      `${what} is paused: resume it before undoing its rollout (deploy rollout resume)`,
      {
        object,
        field: 'spec.paused',
      },
    );
  }
  const owned = ownedReplicaSets(d, replicaSets).sort((a, b) => revisionOf(b) - revisionOf(a));
  const revisions = owned.map(revisionOf).filter((r) => r > 0);
  let target: ReplicaSet | undefined;
  if (toRevision === 0) {
    // The newest revision whose template is not the current one.
    target = owned.find((rs) => revisionOf(rs) > 0 && !sameTemplate(rs.spec?.template, d.spec?.template));
    if (!target) {
      throw failedPrecondition(`${what} has no previous revision to go back to`, {
        object,
        field: 'toRevision',
        value: 0,
      });
    }
  } else {
    target = owned.find((rs) => revisionOf(rs) === toRevision);
    if (!target) {
      throw notFound(
        `toRevision: revision ${toRevision} of ${what} not found; its revisions are ${revisions.length > 0 ? revisions.sort((a, b) => a - b).join(', ') : 'none'}`,
        { object, field: 'toRevision', value: toRevision },
      );
    }
  }
  const revision = revisionOf(target);
  const spec = d.spec;
  if (!spec) throw failedPrecondition(`${what} has no spec`, { object });
  if (sameTemplate(target.spec?.template, spec.template)) return { deployment: d, revision };
  return {
    deployment: withSpec(d, { ...spec, template: templateWithoutHash(target.spec?.template) }),
    revision,
  };
}
