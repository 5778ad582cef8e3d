// deploy images, rmi, tag and image inspect: the local image store by name.
import { notFound } from '@flotilla/common';
import { familiarName, type ImageRecord } from '@flotilla/images';
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { checkReference, checkTag } from '../images/args.js';
import { imageFlags } from '../images/flags.js';
import { imageIds, imagesTable, repositoryOf } from '../images/format.js';
import { listLocalImages, matchImages, summaryOf, type LocalImage } from '../images/inventory.js';
import { withImageSession } from '../images/session.js';

/** `images [REPOSITORY[:TAG]]`: which images a filter argument keeps. Pure. */
export function filterImages(images: readonly LocalImage[], filter: string | undefined): LocalImage[] {
  if (filter === undefined) return [...images];
  const colon = filter.lastIndexOf(':');
  const hasTag = colon > filter.lastIndexOf('/');
  const repo = hasTag ? filter.slice(0, colon) : filter;
  const tag = hasTag ? filter.slice(colon + 1) : undefined;
  return images.filter(
    (i) =>
      (repositoryOf(i.ref) === repo ||
        i.ref.canonical.startsWith(`${repo}:`) ||
        i.ref.canonical.startsWith(`${repo}@`)) &&
      (tag === undefined || i.ref.tag === tag),
  );
}

async function runImages(ctx: CommandContext): Promise<number> {
  const filter = ctx.args[0];
  return withImageSession(ctx, async ({ local }) => {
    const images = filterImages(await listLocalImages(local), filter);
    const summaries = images.map(summaryOf);
    if (ctx.flags.boolean('quiet')) ctx.io.stdout(imageIds(summaries));
    else ctx.io.stdout(imagesTable(summaries, { digests: ctx.flags.boolean('digests'), now: new Date() }));
    for (const image of images) {
      if (image.problem !== undefined)
        ctx.io.stderr(`warning: ${familiarName(image.ref)}: ${image.problem}\n`);
    }
    return 0;
  });
}

async function runRmi(ctx: CommandContext): Promise<number> {
  const force = ctx.flags.boolean('force');
  return withImageSession(ctx, async ({ local }) => {
    let code = 0;
    const all = await listLocalImages(local);
    for (const arg of ctx.args) {
      const matched = matchImages(all, arg);
      if (matched.length === 0) {
        if (force) continue;
        ctx.io.stderr(`error: no such image: ${arg} (see "deploy images")\n`);
        code = 1;
        continue;
      }
      if (matched.length > 1 && !force) {
        ctx.io.stderr(
          `error: image ${arg} is tagged as ${matched.map((m) => familiarName(m.ref)).join(', ')}: remove the names one by one, or pass -f to remove them all\n`,
        );
        code = 1;
        continue;
      }
      for (const image of matched) {
        if (await local.images.delete(image.record.name)) {
          ctx.io.stdout(`Untagged: ${familiarName(image.ref)}\n`);
        }
      }
    }
    return code;
  });
}

async function runTag(ctx: CommandContext): Promise<number> {
  const [source = '', target = ''] = ctx.args;
  const dest = checkTag(target);
  if (!dest.ok) throw new UsageError(dest.problem, ctx.commandPath, { field: 'TARGET', value: target });
  const src = checkReference(source);
  const isId = /^(?:sha256:)?[a-f0-9]{12,64}$/.test(source);
  if (!src.ok && !isId)
    throw new UsageError(src.problem, ctx.commandPath, { field: 'SOURCE', value: source });
  return withImageSession(ctx, async ({ local }) => {
    const matched = matchImages(await listLocalImages(local), source);
    const distinct = new Set(matched.map((m) => m.record.target.digest));
    const [first] = matched;
    if (first === undefined) {
      throw notFound(`no such image: ${source} (see "deploy images")`, { object: `image/${source}` });
    }
    if (distinct.size > 1) {
      throw new UsageError(`${source} matches several images; name one by NAME:TAG`, ctx.commandPath, {
        field: 'SOURCE',
        value: source,
      });
    }
    const record: ImageRecord = {
      name: dest.value.canonical,
      target: { ...first.record.target },
      updatedAt: new Date().toISOString(),
    };
    await local.images.put(record);
    return 0;
  });
}

async function runInspect(ctx: CommandContext): Promise<number> {
  return withImageSession(ctx, async ({ local }) => {
    const all = await listLocalImages(local);
    const found: unknown[] = [];
    let code = 0;
    for (const arg of ctx.args) {
      const matched = matchImages(all, arg);
      if (matched.length === 0) {
        ctx.io.stderr(`error: no such image: ${arg}\n`);
        code = 1;
      }
      for (const image of matched) {
        found.push({
          Name: image.record.name,
          Id: image.manifest?.config.digest ?? null,
          Digest: image.record.target.digest,
          Target: image.record.target,
          UpdatedAt: image.record.updatedAt,
          Manifest: image.manifest ?? null,
          Config: image.config ?? null,
          ...(image.problem !== undefined ? { Problem: image.problem } : {}),
        });
      }
    }
    ctx.io.stdout(`${JSON.stringify(found, null, 2)}\n`);
    return code;
  });
}

export const imagesCommand: Command = {
  name: 'images',
  summary: 'list the images in the local store',
  description:
    'List the images in the local store: REPOSITORY, TAG, IMAGE ID (the first 12 hex digits of the\n' +
    'config digest, as docker shows it), CREATED and SIZE (the config and compressed layers).',
  args: { usage: '[REPOSITORY[:TAG]]', min: 0, max: 1 },
  flags: [
    { name: 'quiet', short: 'q', kind: 'boolean', description: 'print only the image IDs' },
    { name: 'digests', kind: 'boolean', description: 'show the manifest digests' },
    ...imageFlags,
  ],
  examples: ['deploy images', 'deploy images busybox', 'deploy images -q'],
  run: runImages,
};

export const rmiCommand: Command = {
  name: 'rmi',
  summary: 'remove image names from the local store',
  description:
    'Remove names (tags) from the local store. An image ID removes every name of that image only with\n' +
    '-f. The blobs and snapshots no name needs any more are removed by "deploy prune".',
  args: { usage: 'IMAGE...', min: 1, max: Number.MAX_SAFE_INTEGER },
  flags: [
    {
      name: 'force',
      short: 'f',
      kind: 'boolean',
      description: 'remove every name of an image ID; ignore unknown images',
    },
    ...imageFlags,
  ],
  examples: ['deploy rmi web:latest', 'deploy rmi -f 3f2a9c1b7d0e'],
  run: runRmi,
};

export const tagCommand: Command = {
  name: 'tag',
  summary: 'give a local image another name',
  args: { usage: 'SOURCE TARGET', min: 2, max: 2 },
  flags: imageFlags,
  examples: ['deploy tag web 127.0.0.1:5000/team/web:v2'],
  run: runTag,
};

export const inspectImageCommand: Command = {
  name: 'inspect',
  summary: 'show local images as JSON: name, manifest and config',
  args: { usage: 'IMAGE...', min: 1, max: Number.MAX_SAFE_INTEGER },
  flags: imageFlags,
  examples: ['deploy image inspect busybox'],
  run: runInspect,
};
