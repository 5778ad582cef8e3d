// deploy scale deployment/NAME --replicas N
import type { CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withCluster, type ObjectApi } from '../client/cluster-client.js';
import { qualifiedName, type KindInfo } from '../objects/kinds.js';
import { kindAndName, objectNamespaceOf } from './object-flags.js';

export async function scaleObject(
  api: Pick<ObjectApi, 'scale'>,
  target: { info: KindInfo; namespace: string; name: string },
  replicas: number,
): Promise<string> {
  await api.scale({ kind: target.info.kind, namespace: target.namespace, name: target.name, replicas });
  return `${qualifiedName(target.info, target.name)} scaled`;
}

export async function runScale(ctx: CommandContext): Promise<number> {
  const { info, name } = kindAndName(ctx, ctx.args, ['Deployment', 'ReplicaSet']);
  const replicas = ctx.flags.number('replicas');
  if (replicas === undefined)
    throw new UsageError('give the number of replicas: --replicas N', ctx.commandPath);
  const namespace = objectNamespaceOf(ctx);
  const line = await withCluster(ctx.global.configPath, (api) =>
    scaleObject(api, { info, namespace, name }, replicas),
  );
  ctx.io.stdout(line + '\n');
  return 0;
}
