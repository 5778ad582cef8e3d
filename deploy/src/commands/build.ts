// deploy build: a Dockerfile and a context directory → an OCI image in the local store.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { failedPrecondition } from '@flotilla/common';
import { buildImage } from '@flotilla/images';
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { parseBuildArgs, parseTags } from '../images/args.js';
import { imageFlags } from '../images/flags.js';
import { withImageSession } from '../images/session.js';

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function runBuild(ctx: CommandContext): Promise<number> {
  const tags = parseTags(ctx.flags.strings('tag'));
  if (!tags.ok) throw new UsageError(tags.problem, ctx.commandPath, { field: 'tag' });
  const buildArgs = parseBuildArgs(ctx.flags.strings('build-arg'), ctx.io.env);
  if (!buildArgs.ok) throw new UsageError(buildArgs.problem, ctx.commandPath, { field: 'build-arg' });
  const target = ctx.flags.string('target');
  if (target !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(target)) {
    throw new UsageError(
      `invalid value "${target}" for flag --target: must be a stage name (letters, digits, "_", "." and "-") or index`,
      ctx.commandPath,
      { field: 'target', value: target },
    );
  }
  const contextDir = resolve(ctx.io.cwd, ctx.args[0] ?? '.');
  if (!(await isDirectory(contextDir))) {
    throw failedPrecondition(`build context ${contextDir} is not a directory`, {
      field: 'CONTEXT',
      value: ctx.args[0],
    });
  }
  const file = ctx.flags.string('file');
  // Like docker, -f is relative to the working directory, not to the context.
  const dockerfile = file !== undefined && file !== '' ? resolve(ctx.io.cwd, file) : undefined;
  const quiet = ctx.flags.boolean('quiet');

  return withImageSession(ctx, async (session) => {
    const result = await buildImage({
      contextDir,
      ...(dockerfile !== undefined ? { dockerfile } : {}),
      tags: tags.value.map((t) => t.canonical),
      buildArgs: buildArgs.value,
      ...(target !== undefined ? { target } : {}),
      noCache: ctx.flags.boolean('no-cache'),
      local: session.local,
      registry: session.registry,
      log: ctx.logger,
      output: quiet ? () => undefined : (text: string) => ctx.io.stdout(text),
      ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
    });
    // The executor's output ends with "Successfully built …" and a line per tag.
    if (quiet) ctx.io.stdout(`${result.configDigest}\n`);
    return 0;
  });
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'build an image from a Dockerfile into the local store',
  description:
    'Build an image from a Dockerfile and a context directory into the local image store. FROM takes\n' +
    'an image from the local store, else pulls it; RUN steps run in a runc container over the image\n' +
    'so far. Each step is cached by the instruction and its inputs, so an unchanged rebuild reuses\n' +
    'every layer. A Dockerfile error names its line ("Dockerfile:7: …").',
  args: { usage: 'CONTEXT', min: 1, max: 1 },
  flags: [
    {
      name: 'tag',
      short: 't',
      kind: 'string',
      placeholder: 'NAME[:TAG]',
      repeatable: true,
      description: 'name the image (the first is its main name)',
    },
    {
      name: 'file',
      short: 'f',
      kind: 'string',
      placeholder: 'PATH',
      description: 'the Dockerfile, relative to the working directory',
      defaultText: 'CONTEXT/Dockerfile',
    },
    {
      name: 'build-arg',
      kind: 'string',
      placeholder: 'NAME=VALUE',
      repeatable: true,
      description: 'set an ARG (NAME alone takes it from the environment)',
    },
    { name: 'no-cache', kind: 'boolean', description: 'run every step again (the results are still cached)' },
    { name: 'target', kind: 'string', placeholder: 'STAGE', description: 'build up to this stage' },
    { name: 'quiet', short: 'q', kind: 'boolean', description: 'no step output; print only the image ID' },
    ...imageFlags,
  ],
  examples: [
    'deploy build -t hello examples/hello',
    'deploy build -t 127.0.0.1:5000/team/web:v2 -f web/Dockerfile.prod --build-arg VERSION=2 web',
  ],
  run: runBuild,
};
