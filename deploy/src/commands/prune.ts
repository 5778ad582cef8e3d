// deploy prune: remove the local images nothing needs, and what only they needed.
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { imageFlags } from '../images/flags.js';
import { humanSize } from '../images/format.js';
import { applyPrune, planLocalPrune } from '../images/prune.js';
import type { PrunePlan } from '../images/prune-plan.js';
import { withImageSession } from '../images/session.js';
import { processTerminal } from '../images/terminal.js';

/** What prune says it did. Pure. */
export function pruneSummary(plan: PrunePlan): string[] {
  return [
    `Deleted: ${plan.images.length} image name(s), ${plan.blobs.length} blob(s), ${plan.snapshots.length} snapshot(s), ${plan.cache.length} build cache entr${plan.cache.length === 1 ? 'y' : 'ies'}`,
    `Total reclaimed space: ${humanSize(plan.reclaimed)}`,
  ];
}

async function confirm(ctx: CommandContext, all: boolean): Promise<boolean> {
  const terminal = processTerminal(ctx.io.stderr);
  if (!terminal.interactive) {
    throw new UsageError(
      'stdin is not a terminal to confirm on: pass -f to prune without asking',
      ctx.commandPath,
      {
        field: 'force',
      },
    );
  }
  const what = all ? 'all images' : 'all dangling images (those without a tag)';
  const answer = await terminal.readLine(
    `WARNING! This will remove ${what}, and every blob, snapshot and build cache entry no remaining image needs.\nAre you sure you want to continue? [y/N] `,
    ctx.io.signal,
  );
  return /^y(es)?$/i.test(answer.trim());
}

async function runPrune(ctx: CommandContext): Promise<number> {
  const all = ctx.flags.boolean('all');
  if (!ctx.flags.boolean('force') && !(await confirm(ctx, all))) {
    ctx.io.stderr('Nothing removed.\n');
    return 0;
  }
  return withImageSession(ctx, async ({ local }) => {
    const plan = await planLocalPrune(local, all);
    await applyPrune(local, plan, (line) => ctx.io.stdout(`${line}\n`));
    for (const line of pruneSummary(plan)) ctx.io.stdout(`${line}\n`);
    return 0;
  });
}

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'remove unused images, blobs, snapshots and build cache from the local store',
  description:
    'Remove from the local image store the dangling images (named by digest only), or with -a every\n' +
    'image; then the blobs no remaining image references, the snapshots no remaining image uses, and\n' +
    'the build cache entries whose layers are gone. Asks first unless -f.',
  flags: [
    { name: 'all', short: 'a', kind: 'boolean', description: 'remove every image, not only dangling ones' },
    { name: 'force', short: 'f', kind: 'boolean', description: 'do not ask for confirmation' },
    ...imageFlags,
  ],
  examples: ['deploy prune', 'deploy prune -a -f'],
  run: runPrune,
};
