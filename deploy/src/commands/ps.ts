// deploy ps: the pods, one row each, in docker's words.
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withCluster } from '../client/cluster-client.js';
import type { ImageDefaults } from '../format/inspect.js';
import { localImageDefaults } from '../pods/image-defaults.js';
import { mainContainer } from '../pods/state.js';
import { matchesPsFilters, parsePsFilter, psNames, psTable, type PsFilter } from '../format/ps.js';
import { namespaceFlag, namespaceOf } from './pod-flags.js';

async function runPs(ctx: CommandContext): Promise<number> {
  const allNamespaces = ctx.flags.boolean('all-namespaces');
  if (allNamespaces && ctx.flags.given('namespace')) {
    throw new UsageError('give either --namespace or -A/--all-namespaces, not both', ctx.commandPath);
  }
  const namespace = allNamespaces ? '' : namespaceOf(ctx);
  const filters: PsFilter[] = [];
  for (const text of ctx.flags.strings('filter')) {
    const parsed = parsePsFilter(text);
    if (!parsed.ok) {
      throw new UsageError(
        `invalid value "${text}" for flag -f/--filter: must be ${parsed.reason}`,
        ctx.commandPath,
        { field: 'filter', value: text },
      );
    }
    filters.push(parsed.value);
  }
  // As in docker, a status filter looks at every pod, not only the running ones.
  const all = ctx.flags.boolean('all') || filters.some((f) => f.key === 'status');
  const list = await withCluster(ctx.global.configPath, (api) =>
    api.listPods({ namespace, labelSelector: '', nodeName: '' }),
  );
  const pods = list.items.filter((p) => matchesPsFilters(p, filters));
  if (ctx.flags.boolean('quiet')) ctx.io.stdout(psNames(pods, all));
  else {
    const images = new Map<string, ImageDefaults | undefined>();
    for (const pod of pods) {
      const image = mainContainer(pod)?.image;
      if (image) await localImageDefaults(ctx, images, image);
    }
    ctx.io.stdout(
      psTable(pods, {
        all,
        now: new Date(),
        truncate: !ctx.flags.boolean('no-trunc'),
        namespaces: allNamespaces,
        images,
      }),
    );
  }
  return 0;
}

export const psCommand: Command = {
  name: 'ps',
  summary: 'list the pods, as docker ps does',
  description:
    'List the pods: NAME (where docker shows the CONTAINER ID), IMAGE, COMMAND, CREATED, STATUS and PORTS in\n' +
    'docker\'s words ("Up 5 seconds (healthy)", "Exited (0) 3 seconds ago", "Restarting (1) …", "Created",\n' +
    '"Pending: ErrImagePull"), and the NODE it runs on. Without -a only pods with a running container.',
  flags: [
    { name: 'all', short: 'a', kind: 'boolean', description: 'show every pod, not only running ones' },
    { name: 'quiet', short: 'q', kind: 'boolean', description: 'print only the pod names' },
    namespaceFlag,
    { name: 'all-namespaces', short: 'A', kind: 'boolean', description: 'pods of every namespace' },
    {
      name: 'filter',
      short: 'f',
      kind: 'string',
      repeatable: true,
      placeholder: 'KEY=VALUE',
      description: 'only matching pods: name=, status=, node=, label=K[=V], ancestor=IMAGE',
    },
    { name: 'no-trunc', kind: 'boolean', description: 'do not shorten COMMAND' },
  ],
  examples: ['deploy ps', 'deploy ps -a', 'deploy ps -aq', 'deploy ps -a --filter status=exited'],
  run: runPs,
};
