// deploy apply -f FILE|DIR|- [--dry-run] [--wait] [--timeout 120s]
import type { AppliedObject } from '@flotilla/proto';
import type { CommandContext, CliIo } from '../cli/types.js';
import { formatDuration } from '../cli/values.js';
import { withClusterAfter, type ObjectApi } from '../client/cluster-client.js';
import type { LoadedManifest } from '../manifests/load.js';
import { qualifiedName, unwrap } from '../objects/kinds.js';
import { waitForRollout } from '../objects/rollout-wait.js';
import { manifestsOf, objectNamespaceOf, placeInNamespace } from './object-flags.js';

/** "deployment.apps/web created", "service/web unchanged (dry run)". */
export function appliedLine(result: AppliedObject, dryRun: boolean): string {
  const unwrapped = result.object ? unwrap(result.object) : undefined;
  const name = unwrapped ? qualifiedName(unwrapped.info, unwrapped.metadata?.name ?? '') : '(unknown object)';
  return `${name} ${result.action || 'configured'}${dryRun ? ' (dry run)' : ''}`;
}

export interface ApplyOptions {
  dryRun: boolean;
  wait: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Applies the manifests, prints what happened, waits for the Deployments' rollouts; the exit code. */
export async function applyManifests(
  api: Pick<ObjectApi, 'apply' | 'watchObjects'>,
  manifests: readonly LoadedManifest[],
  options: ApplyOptions,
  io: Pick<CliIo, 'stdout' | 'stderr'>,
): Promise<number> {
  const response = await api.apply(
    manifests.map((m) => m.object),
    options.dryRun,
  );
  for (const result of response.results) io.stdout(appliedLine(result, options.dryRun) + '\n');
  if (!options.wait || options.dryRun) return 0;
  const deadline = Date.now() + options.timeoutMs;
  let failed = false;
  for (const result of response.results) {
    const deployment = result.object?.deployment;
    if (!deployment) continue;
    const outcome = await waitForRollout(
      api,
      deployment.metadata?.namespace ?? 'default',
      deployment.metadata?.name ?? '',
      {
        timeoutMs: Math.max(0, deadline - Date.now()),
        timeoutText: formatDuration(options.timeoutMs),
        ...(deployment.metadata ? { generation: deployment.metadata.generation } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        progress: (line) => io.stderr(line + '\n'),
      },
    );
    if (outcome.ok) io.stdout(outcome.message + '\n');
    else {
      io.stderr(`error: ${outcome.message}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

export async function runApply(ctx: CommandContext): Promise<number> {
  const namespace = objectNamespaceOf(ctx);
  const prepare = async (): Promise<LoadedManifest[]> => {
    const manifests = await manifestsOf(ctx);
    placeInNamespace(manifests, namespace, ctx.flags.given('namespace'));
    return manifests;
  };
  return withClusterAfter(ctx.global.configPath, prepare, (api, manifests) =>
    applyManifests(
      api,
      manifests,
      {
        dryRun: ctx.flags.boolean('dry-run'),
        wait: ctx.flags.boolean('wait'),
        timeoutMs: ctx.flags.number('timeout') ?? 120_000,
        ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
      },
      ctx.io,
    ),
  );
}
