// Flags and helpers the object commands (apply, diff, get, describe, delete, scale,
// rollout, cordon, drain) share.
import { FlotillaError } from '@flotilla/common';
import type { CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { kubernetesModels } from '../manifests/models.js';
import { loadManifests, type LoadedManifest } from '../manifests/load.js';
import { readAll } from '../manifests/sources.js';
import { resolveResource, type KindInfo } from '../objects/kinds.js';
import { checkPodName } from '../pods/run-spec.js';
import { trace } from '../cli/trace.js';

export function objectNamespaceOf(ctx: CommandContext): string {
  const namespace = ctx.flags.string('namespace') ?? 'default';
  const problem = checkPodName(namespace);
  if (problem) {
    throw new UsageError(
      `invalid value "${namespace}" for flag -n/--namespace: ${problem}`,
      ctx.commandPath,
      {
        field: 'namespace',
        value: namespace,
      },
    );
  }
  return namespace;
}

/** -n NS, or '' for every namespace with -A. */
export function listNamespaceOf(ctx: CommandContext): string {
  if (!ctx.flags.boolean('all-namespaces')) return objectNamespaceOf(ctx);
  if (ctx.flags.given('namespace')) {
    throw new UsageError('give either -n/--namespace or -A/--all-namespaces, not both', ctx.commandPath);
  }
  return '';
}

export function resourceOf(ctx: CommandContext, text: string): KindInfo {
  const found = resolveResource(text);
  if (!found.ok) throw new UsageError(found.message, ctx.commandPath, { field: 'KIND', value: text });
  return found.info;
}

/** "deployment/web" or "deployment web" → the kind and the name; only the kinds allowed. */
export function kindAndName(
  ctx: CommandContext,
  args: readonly string[],
  allowed: readonly string[],
): { info: KindInfo; name: string } {
  const [first = '', second] = args;
  const slash = first.indexOf('/');
  const [kindText, name] = slash >= 0 ? [first.slice(0, slash), first.slice(slash + 1)] : [first, second];
  if (slash >= 0 && second !== undefined) {
    throw new UsageError(`give either KIND/NAME or KIND NAME, not "${args.join(' ')}"`, ctx.commandPath);
  }
  const info = resourceOf(ctx, kindText);
  if (!allowed.includes(info.kind)) {
    throw new UsageError(
      `"${ctx.commandPath}" works on ${allowed.map((k) => k.toLowerCase()).join(' or ')} objects, not ${info.resource}`,
      ctx.commandPath,
    );
  }
  if (!name)
    throw new UsageError(
      `give the ${info.kind.toLowerCase()}'s name: ${info.kind.toLowerCase()}/NAME`,
      ctx.commandPath,
    );
  return { info, name };
}

/** The -f manifests, checked whole (client-node is loaded only here). */
export async function manifestsOf(ctx: CommandContext): Promise<LoadedManifest[]> {
  const paths = ctx.flags.strings('filename');
  if (paths.length === 0) throw new UsageError('give the manifests with -f FILE|DIR|-', ctx.commandPath);
  const stdin = ctx.io.stdio?.stdin;
  const models = await kubernetesModels();
  trace('manifests: models read');
  return loadManifests(
    paths,
    {
      cwd: ctx.io.cwd,
      readStdin: () => (stdin ? readAll(stdin) : Promise.resolve('')),
    },
    models,
  );
}

/**
 * Fills in the namespace of namespaced objects that name none; an object naming another
 * namespace than an explicit -n is refused, as kubectl does. Pure; changes the objects.
 */
export function placeInNamespace(
  manifests: readonly LoadedManifest[],
  namespace: string,
  explicit: boolean,
): void {
  const problems: string[] = [];
  for (const m of manifests) {
    if (!m.info.namespaced) continue;
    const value = m.object[m.info.field];
    const meta = value?.metadata;
    if (!meta) continue;
    if (!meta.namespace) meta.namespace = namespace;
    else if (explicit && meta.namespace !== namespace) {
      problems.push(
        `${m.document.source} document ${m.document.index} (${m.label}): metadata.namespace "${meta.namespace}" does not match -n ${namespace}`,
      );
    }
  }
  if (problems.length > 0) throw new FlotillaError('InvalidArgument', problems.join('\n'));
}
