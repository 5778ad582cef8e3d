// deploy rollout status|history|undo|pause|resume|restart deployment/NAME
import { RolloutRequest_Action, type Object as ApiObject, type ReplicaSet } from '@flotilla/proto';
import type { CommandContext, CliIo } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withCluster, type ObjectApi } from '../client/cluster-client.js';
import { revisionAnnotation, templateLines } from '../format/describe.js';
import { none, renderTable } from '../format/table.js';
import { kindInfo, qualifiedName, type KindInfo } from '../objects/kinds.js';
import { waitForRollout } from '../objects/rollout-wait.js';
import { ownedBy } from './describe.js';
import { kindAndName, objectNamespaceOf } from './object-flags.js';

export const changeCauseAnnotation = 'kubernetes.io/change-cause';

const deploymentInfo = kindInfo('Deployment') as KindInfo;

export interface Revision {
  revision: number;
  changeCause: string;
  replicaSet: ReplicaSet;
}

/** A deployment's revisions, oldest first, from its ReplicaSets' revision annotations. Pure. */
export function revisionsOf(deployment: ApiObject, replicaSets: readonly ReplicaSet[]): Revision[] {
  return replicaSets
    .filter((rs) => ownedBy(rs, deployment))
    .flatMap((rs) => {
      const revision = Number(rs.metadata?.annotations[revisionAnnotation]);
      if (!Number.isInteger(revision) || revision <= 0) return [];
      return [
        { revision, changeCause: rs.metadata?.annotations[changeCauseAnnotation] ?? '', replicaSet: rs },
      ];
    })
    .sort((a, b) => a.revision - b.revision);
}

export function historyText(name: string, revisions: readonly Revision[], revision?: number): string {
  const title = qualifiedName(deploymentInfo, name);
  if (revision !== undefined) {
    const found = revisions.find((r) => r.revision === revision);
    if (!found) {
      throw new UsageError(
        `deployment "${name}" has no revision ${revision}; it has ${revisions.map((r) => r.revision).join(', ') || 'none'}`,
        'deploy rollout history',
      );
    }
    return `${title} with revision #${revision}\n${templateLines(found.replicaSet.spec?.template).join('\n')}\n`;
  }
  return `${title}\n${renderTable(
    ['REVISION', 'CHANGE-CAUSE'],
    revisions.map((r) => [String(r.revision), r.changeCause || none]),
  )}`;
}

export async function rolloutHistory(
  api: Pick<ObjectApi, 'getObject' | 'listObjects'>,
  namespace: string,
  name: string,
  revision?: number,
): Promise<string> {
  const deployment = await api.getObject({ kind: 'Deployment', namespace, name });
  const list = await api.listObjects({ kind: 'ReplicaSet', namespace, labelSelector: '', fieldSelector: '' });
  const replicaSets = list.items.flatMap((o) => (o.replicaSet ? [o.replicaSet] : []));
  return historyText(name, revisionsOf(deployment, replicaSets), revision);
}

const actionWords: Record<string, { action: RolloutRequest_Action; done: string }> = {
  undo: { action: RolloutRequest_Action.UNDO, done: 'rolled back' },
  pause: { action: RolloutRequest_Action.PAUSE, done: 'paused' },
  resume: { action: RolloutRequest_Action.RESUME, done: 'resumed' },
  restart: { action: RolloutRequest_Action.RESTART, done: 'restarted' },
};

export async function rolloutAction(
  api: Pick<ObjectApi, 'rollout'>,
  verb: string,
  namespace: string,
  name: string,
  toRevision = 0,
): Promise<string> {
  const words = actionWords[verb];
  if (!words) throw new Error(`unknown rollout action ${verb}`);
  await api.rollout({ namespace, name, action: words.action, toRevision });
  return `${qualifiedName(deploymentInfo, name)} ${words.done}`;
}

export async function rolloutStatus(
  api: Pick<ObjectApi, 'watchObjects'>,
  namespace: string,
  name: string,
  options: { timeoutMs?: number; signal?: AbortSignal },
  io: Pick<CliIo, 'stdout' | 'stderr'>,
): Promise<number> {
  const outcome = await waitForRollout(api, namespace, name, {
    ...options,
    progress: (line) => io.stdout(line + '\n'),
  });
  if (outcome.ok) {
    io.stdout(outcome.message + '\n');
    return 0;
  }
  io.stderr(`error: ${outcome.message}\n`);
  return 1;
}

function target(ctx: CommandContext): { namespace: string; name: string } {
  const { name } = kindAndName(ctx, ctx.args, ['Deployment']);
  return { namespace: objectNamespaceOf(ctx), name };
}

export async function runRolloutStatus(ctx: CommandContext): Promise<number> {
  const { namespace, name } = target(ctx);
  const timeoutMs = ctx.flags.number('timeout');
  return withCluster(ctx.global.configPath, (api) =>
    rolloutStatus(
      api,
      namespace,
      name,
      {
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
      },
      ctx.io,
    ),
  );
}

export async function runRolloutHistory(ctx: CommandContext): Promise<number> {
  const { namespace, name } = target(ctx);
  const revision = ctx.flags.number('revision');
  ctx.io.stdout(
    await withCluster(ctx.global.configPath, (api) => rolloutHistory(api, namespace, name, revision)),
  );
  return 0;
}

/** undo, pause, resume, restart: the verb is the command's name. */
export async function runRolloutAction(ctx: CommandContext, verb: string): Promise<number> {
  const { namespace, name } = target(ctx);
  const to = verb === 'undo' ? (ctx.flags.number('to-revision') ?? 0) : 0;
  const line = await withCluster(ctx.global.configPath, (api) =>
    rolloutAction(api, verb, namespace, name, to),
  );
  ctx.io.stdout(line + '\n');
  return 0;
}
