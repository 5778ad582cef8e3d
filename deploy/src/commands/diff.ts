// deploy diff -f FILE|DIR|-: what apply would change, as a unified diff of each object's
// YAML, stored (live) against the dry-run result (merged). Exit 0: no differences, 1:
// differences, above 1: an error (as kubectl diff and diff(1)).
import { isFlotillaError } from '@flotilla/common';
import type { Object as ApiObject } from '@flotilla/proto';
import type { CommandContext, CliIo } from '../cli/types.js';
import { isUsageError } from '../cli/usage-error.js';
import { withClusterAfter, type ObjectApi } from '../client/cluster-client.js';
import type { LoadedManifest } from '../manifests/load.js';
import { unwrap } from '../objects/kinds.js';
import { unifiedDiff } from '../format/diff.js';
import { objectDocument } from '../format/objects.js';
import { renderDocument } from '../format/output.js';
import { manifestsOf, objectNamespaceOf, placeInNamespace } from './object-flags.js';

export const diffExit = { same: 0, different: 1, error: 2 } as const;

function yamlOf(object: ApiObject | undefined): string {
  return object ? renderDocument(objectDocument(object), 'yaml') : '';
}

/** "apps.v1.Deployment.default.web", the file name kubectl diff gives an object. */
export function diffName(object: ApiObject): string {
  const u = unwrap(object);
  if (!u) return 'object';
  const version = u.info.apiVersion.replace('/', '.');
  return [
    version,
    u.info.kind,
    u.info.namespaced ? u.metadata?.namespace || 'default' : '',
    u.metadata?.name ?? '',
  ]
    .filter(Boolean)
    .join('.');
}

/** The diff of one object, stored against what apply would store; "" when they are equal. */
export function objectDiff(live: ApiObject | undefined, merged: ApiObject): string {
  const name = diffName(merged);
  return unifiedDiff(yamlOf(live), yamlOf(merged), `live/${name}`, `merged/${name}`);
}

export async function diffManifests(
  api: Pick<ObjectApi, 'apply' | 'getObject'>,
  manifests: readonly LoadedManifest[],
  io: Pick<CliIo, 'stdout'>,
): Promise<number> {
  const response = await api.apply(
    manifests.map((m) => m.object),
    true,
  );
  let different = false;
  for (const result of response.results) {
    if (!result.object) continue;
    const u = unwrap(result.object);
    if (!u) continue;
    let live: ApiObject | undefined;
    try {
      live = await api.getObject({
        kind: u.info.kind,
        namespace: u.metadata?.namespace ?? '',
        name: u.metadata?.name ?? '',
      });
    } catch (err) {
      if (!isFlotillaError(err, 'NotFound')) throw err;
    }
    const text = objectDiff(live, result.object);
    if (text) {
      different = true;
      io.stdout(text);
    }
  }
  return different ? diffExit.different : diffExit.same;
}

export async function runDiff(ctx: CommandContext): Promise<number> {
  try {
    const namespace = objectNamespaceOf(ctx);
    const prepare = async (): Promise<LoadedManifest[]> => {
      const manifests = await manifestsOf(ctx);
      placeInNamespace(manifests, namespace, ctx.flags.given('namespace'));
      return manifests;
    };
    return await withClusterAfter(ctx.global.configPath, prepare, (api, manifests) =>
      diffManifests(api, manifests, ctx.io),
    );
  } catch (err) {
    if (isUsageError(err)) throw err;
    // Exit 1 means "differences" here, so a failure must not look like one.
    ctx.io.stderr(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return diffExit.error;
  }
}
