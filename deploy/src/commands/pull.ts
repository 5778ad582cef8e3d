// deploy pull / deploy push: move an image between the local store and a registry.
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { checkReference, checkTag } from '../images/args.js';
import { imageFlags } from '../images/flags.js';
import { withImageSession } from '../images/session.js';
import { pullImage, pushImage } from '../images/transfer.js';

function quietFlagOf(ctx: CommandContext): boolean {
  return ctx.flags.boolean('quiet');
}

async function runPull(ctx: CommandContext): Promise<number> {
  const text = ctx.args[0] ?? '';
  const checked = checkReference(text);
  if (!checked.ok) throw new UsageError(checked.problem, ctx.commandPath, { field: 'NAME', value: text });
  const ref = checked.value;
  const quiet = quietFlagOf(ctx);
  // A tag is "given" when the text names one after the last "/" (a port is not a tag).
  const tagGiven = /:[^/]*$/.test(text.split('@')[0] ?? '');
  await withImageSession(ctx, async (session) => {
    const outcome = await pullImage(session, ref, {
      tagGiven,
      ...(quiet ? {} : { out: (line: string) => ctx.io.stdout(`${line}\n`) }),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
    if (quiet) ctx.io.stdout(`${outcome.record.name}\n`);
  });
  return 0;
}

async function runPush(ctx: CommandContext): Promise<number> {
  const text = ctx.args[0] ?? '';
  const checked = checkTag(text);
  if (!checked.ok) throw new UsageError(checked.problem, ctx.commandPath, { field: 'NAME', value: text });
  const quiet = quietFlagOf(ctx);
  await withImageSession(ctx, async (session) => {
    const result = await pushImage(session, checked.value, {
      ...(quiet ? {} : { out: (line: string) => ctx.io.stdout(`${line}\n`) }),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
    if (quiet) ctx.io.stdout(`${result.target.digest}\n`);
  });
  return 0;
}

const quietFlag = {
  name: 'quiet',
  short: 'q',
  kind: 'boolean',
  description: 'no progress; print only the result',
} as const;

export const pullCommand: Command = {
  name: 'pull',
  summary: 'pull an image from a registry into the local store',
  description:
    "Pull an image (for this host's platform) from its registry into the local image store. Blobs\n" +
    'already stored are not fetched again; a dropped connection resumes where it stopped. Registries on\n' +
    'localhost and 127.0.0.0/8 are reached over plain HTTP, others over HTTPS unless --insecure-registry.',
  args: { usage: 'NAME[:TAG|@DIGEST]', min: 1, max: 1 },
  flags: [quietFlag, ...imageFlags],
  examples: ['deploy pull 127.0.0.1:5000/examples/web', 'deploy pull registry.lan:5000/team/api@sha256:…'],
  run: runPull,
};

export const pushCommand: Command = {
  name: 'push',
  summary: 'push a local image to its registry',
  description:
    'Push a local image to the registry its name points at: each blob the registry lacks is mounted\n' +
    'from another repository of that registry when possible, else uploaded; then the manifest.\n' +
    'Name the image for the registry first with "deploy tag" (or build it with that name).',
  args: { usage: 'NAME[:TAG]', min: 1, max: 1 },
  flags: [quietFlag, ...imageFlags],
  examples: ['deploy tag web 127.0.0.1:5000/team/web:v2', 'deploy push 127.0.0.1:5000/team/web:v2'],
  run: runPush,
};
