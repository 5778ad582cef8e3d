// deploy describe KIND NAME: the object, its events (ListObjects of kind Event by
// involvedObject), for a Deployment its ReplicaSets, and for a Service its Endpoints.
import type { Endpoints, Object as ApiObject, ReplicaSet } from '@flotilla/proto';
import { isFlotillaError } from '@flotilla/common';
import type { CommandContext } from '../cli/types.js';
import { withCluster, type ObjectApi } from '../client/cluster-client.js';
import { describeObject } from '../format/describe.js';
import type { KindInfo } from '../objects/kinds.js';
import { kindAndName, objectNamespaceOf } from './object-flags.js';
import { kinds } from '../objects/kinds.js';

/** The field selector of an object's events. */
export function eventSelector(info: KindInfo, name: string): string {
  return `involvedObject.kind=${info.kind},involvedObject.name=${name}`;
}

/** Whether rs is one of the deployment's revisions (its controller owner). */
export function ownedBy(rs: ReplicaSet, owner: ApiObject): boolean {
  const meta = owner.deployment?.metadata;
  return (rs.metadata?.ownerReferences ?? []).some(
    (ref) => ref.kind === 'Deployment' && (meta?.uid ? ref.uid === meta.uid : ref.name === meta?.name),
  );
}

export async function describeOne(
  api: Pick<ObjectApi, 'getObject' | 'listObjects'>,
  info: KindInfo,
  namespace: string,
  name: string,
  now: Date,
): Promise<string> {
  const ns = info.namespaced ? namespace : '';
  const object = await api.getObject({ kind: info.kind, namespace: ns, name });
  const events = await api.listObjects({
    kind: 'Event',
    namespace: ns,
    labelSelector: '',
    fieldSelector: eventSelector(info, name),
  });
  let replicaSets: ReplicaSet[] = [];
  if (object.deployment) {
    const list = await api.listObjects({
      kind: 'ReplicaSet',
      namespace: ns,
      labelSelector: '',
      fieldSelector: '',
    });
    replicaSets = list.items.flatMap((o) =>
      o.replicaSet && ownedBy(o.replicaSet, object) ? [o.replicaSet] : [],
    );
  }
  let endpoints: Endpoints | undefined;
  if (object.service) {
    try {
      endpoints = (await api.getObject({ kind: 'Endpoints', namespace: ns, name })).endpoints;
    } catch (err) {
      // None yet (or no endpoints loop, or a controller older than Endpoints): "<none>".
      if (!isFlotillaError(err, 'NotFound') && !isFlotillaError(err, 'InvalidArgument')) throw err;
    }
  }
  return describeObject(object, {
    events: events.items.flatMap((o) => (o.event ? [o.event] : [])),
    replicaSets,
    endpoints,
    now,
  });
}

export async function runDescribe(ctx: CommandContext): Promise<number> {
  const { info, name } = kindAndName(
    ctx,
    ctx.args,
    kinds.map((k) => k.kind),
  );
  const namespace = objectNamespaceOf(ctx);
  const text = await withCluster(ctx.global.configPath, (api) =>
    describeOne(api, info, namespace, name, new Date()),
  );
  ctx.io.stdout(text);
  return 0;
}
