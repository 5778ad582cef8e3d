// deploy delete -f FILE|DIR|- | KIND NAME… | KIND/NAME…
import { errorMessage, isFlotillaError } from '@flotilla/common';
import type { CommandContext, CliIo } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withClusterAfter, type ObjectApi } from '../client/cluster-client.js';
import type { KindInfo } from '../objects/kinds.js';
import { manifestsOf, objectNamespaceOf, placeInNamespace, resourceOf } from './object-flags.js';

export interface DeleteTarget {
  info: KindInfo;
  namespace: string;
  name: string;
}

export interface DeleteOptions {
  dryRun: boolean;
  ignoreNotFound: boolean;
  gracePeriodSeconds?: number;
}

/** kubectl's line: `deployment.apps "web" deleted`. */
export function deletedLine(target: DeleteTarget, dryRun: boolean): string {
  const singular = target.info.kind.toLowerCase();
  const kind = target.info.group ? `${singular}.${target.info.group}` : singular;
  return `${kind} "${target.name}" deleted${dryRun ? ' (dry run)' : ''}`;
}

/** Deletes each target, going on past failures; exit 1 when one failed. */
export async function deleteObjects(
  api: Pick<ObjectApi, 'deleteObject'>,
  targets: readonly DeleteTarget[],
  options: DeleteOptions,
  io: Pick<CliIo, 'stdout' | 'stderr'>,
): Promise<number> {
  let failed = false;
  for (const target of targets) {
    try {
      await api.deleteObject({
        kind: target.info.kind,
        namespace: target.info.namespaced ? target.namespace : '',
        name: target.name,
        dryRun: options.dryRun,
        ...(options.gracePeriodSeconds !== undefined
          ? { gracePeriodSeconds: options.gracePeriodSeconds }
          : {}),
      });
      io.stdout(deletedLine(target, options.dryRun) + '\n');
    } catch (err) {
      if (options.ignoreNotFound && isFlotillaError(err, 'NotFound')) continue;
      io.stderr(`error: ${errorMessage(err)}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

/** KIND NAME… or KIND/NAME… → what to delete. */
export function targetsOf(ctx: CommandContext, namespace: string): DeleteTarget[] {
  const [first = ''] = ctx.args;
  if (first.includes('/')) {
    return ctx.args.map((arg) => {
      const [kind = '', name, extra] = arg.split('/');
      if (!name || extra !== undefined) {
        throw new UsageError(
          `"${arg}" is not KIND/NAME; give every object as KIND/NAME, or KIND NAME…`,
          ctx.commandPath,
        );
      }
      return { info: resourceOf(ctx, kind), namespace, name };
    });
  }
  const info = resourceOf(ctx, first);
  const names = ctx.args.slice(1);
  if (names.length === 0)
    throw new UsageError(`give the names of the ${info.resource} to delete`, ctx.commandPath);
  return names.map((name) => ({ info, namespace, name }));
}

export async function runDelete(ctx: CommandContext): Promise<number> {
  const namespace = objectNamespaceOf(ctx);
  const fromFiles = ctx.flags.strings('filename').length > 0;
  if (fromFiles && ctx.args.length > 0) {
    throw new UsageError('give either -f FILE or KIND NAME…, not both', ctx.commandPath);
  }
  if (!fromFiles && ctx.args.length === 0) {
    throw new UsageError('give what to delete: -f FILE|DIR|-, KIND NAME… or KIND/NAME…', ctx.commandPath);
  }
  const targetsFromFiles = async (): Promise<DeleteTarget[]> => {
    const manifests = await manifestsOf(ctx);
    placeInNamespace(manifests, namespace, ctx.flags.given('namespace'));
    // The reverse of the files' order, so a Namespace goes after what is in it.
    return [...manifests].reverse().map((m) => ({
      info: m.info,
      namespace: m.object[m.info.field]?.metadata?.namespace || namespace,
      name: m.object[m.info.field]?.metadata?.name ?? '',
    }));
  };
  // Targets from arguments are checked before anything is opened.
  const fromArgs = fromFiles ? [] : targetsOf(ctx, namespace);
  const prepare = fromFiles ? targetsFromFiles : () => Promise.resolve(fromArgs);
  const grace = ctx.flags.number('grace-period');
  return withClusterAfter(ctx.global.configPath, prepare, (api, targets) =>
    deleteObjects(
      api,
      targets,
      {
        dryRun: ctx.flags.boolean('dry-run'),
        ignoreNotFound: ctx.flags.boolean('ignore-not-found'),
        ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
      },
      ctx.io,
    ),
  );
}
