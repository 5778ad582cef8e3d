// deploy nodes [NAME] (deploy get nodes comes here too, see get.ts)
import type { Node } from '@flotilla/proto';
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withCluster } from '../client/cluster-client.js';
import { nodeDocument, nodeListDocument, nodesTable } from '../format/nodes.js';
import { renderDocument } from '../format/output.js';
import { checkLabelSelector, selectorForms } from '../selector/label-selector.js';
import { outputFlag } from './shared.js';

async function runNodes(ctx: CommandContext): Promise<number> {
  return showNodes(ctx, ctx.args[0]);
}

/** The nodes (or one), as a table or documents, through the node API. */
export async function showNodes(ctx: CommandContext, name: string | undefined): Promise<number> {
  const output = ctx.flags.string('output');
  const selector = ctx.flags.string('selector') ?? '';
  const problem = checkLabelSelector(selector);
  if (problem) {
    throw new UsageError(
      `invalid value "${selector}" for flag -l/--selector: ${problem}; valid forms: ${selectorForms}`,
      ctx.commandPath,
      {
        field: 'selector',
        value: selector,
      },
    );
  }
  if (name !== undefined && selector !== '') {
    throw new UsageError('give either a node NAME or -l/--selector, not both', ctx.commandPath);
  }
  const nodes: Node[] = await withCluster(ctx.global.configPath, async (api) =>
    name !== undefined ? [await api.getNode(name)] : (await api.listNodes({ labelSelector: selector })).items,
  );
  if (output === 'json' || output === 'yaml') {
    const first = nodes[0];
    const doc = name !== undefined && first ? nodeDocument(first) : nodeListDocument(nodes);
    ctx.io.stdout(renderDocument(doc, output));
    return 0;
  }
  if (nodes.length === 0) {
    ctx.io.stderr(selector ? `No nodes match the selector "${selector}".\n` : 'No nodes found.\n');
    return 0;
  }
  ctx.io.stdout(nodesTable(nodes, new Date(), output === 'wide'));
  return 0;
}

const nodeFlags = [
  outputFlag,
  {
    name: 'selector',
    short: 'l',
    kind: 'string',
    placeholder: 'SELECTOR',
    description: 'only nodes whose labels match, e.g. zone=a,disk!=hdd',
  },
] as const;

export const nodesCommand: Command = {
  name: 'nodes',
  aliases: ['node', 'no'],
  summary: 'list the nodes and whether they are ready',
  description:
    'List the nodes: NAME, STATUS (Ready, NotReady or Unknown, plus SchedulingDisabled when cordoned),\n' +
    'AGE, CPU, MEMORY and ADDRESS (InternalIP). With a NAME, show that node only.',
  args: { usage: '[NAME]', min: 0, max: 1 },
  flags: nodeFlags,
  examples: [
    'deploy nodes',
    'deploy nodes -o wide',
    'deploy get nodes node-1 -o yaml',
    'deploy nodes -l zone=a',
  ],
  run: runNodes,
};
