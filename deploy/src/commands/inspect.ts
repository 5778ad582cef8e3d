// deploy inspect: pods as docker inspect shows containers, or through a Go template.
import { isFlotillaError } from '@flotilla/common';
import { localImageDefaults } from '../pods/image-defaults.js';
import { mainContainer } from '../pods/state.js';
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withCluster } from '../client/cluster-client.js';
import { inspectPod, type ImageDefaults } from '../format/inspect.js';
import { executeTemplate, parseTemplate, TemplateError, type Template } from '../format/template.js';
import { checkPodArg, namespaceFlag, namespaceOf, noSuchPod } from './pod-flags.js';

async function runInspect(ctx: CommandContext): Promise<number> {
  const namespace = namespaceOf(ctx);
  for (const name of ctx.args) checkPodArg(ctx, name);
  const format = ctx.flags.string('format');
  let template: Template | undefined;
  if (format !== undefined) {
    try {
      template = parseTemplate(format);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      throw new UsageError(
        `invalid value "${format}" for flag -f/--format: ${err.message}`,
        ctx.commandPath,
        {
          field: 'format',
          value: format,
        },
      );
    }
  }
  return withCluster(ctx.global.configPath, async (api) => {
    const docs: Record<string, unknown>[] = [];
    const missing: string[] = [];
    const images = new Map<string, ImageDefaults | undefined>();
    for (const name of ctx.args) {
      try {
        const pod = await api.getPod(namespace, name);
        const image = mainContainer(pod)?.image;
        docs.push(inspectPod(pod, image ? await localImageDefaults(ctx, images, image) : undefined));
      } catch (err) {
        if (!isFlotillaError(err, 'NotFound')) throw err;
        missing.push(name);
      }
    }
    let code = 0;
    if (template) {
      for (const doc of docs) {
        try {
          ctx.io.stdout(`${executeTemplate(template, doc)}\n`);
        } catch (err) {
          if (!(err instanceof TemplateError)) throw err;
          ctx.io.stderr(`error: ${err.message}\n`);
          code = 1;
        }
      }
    } else ctx.io.stdout(`${JSON.stringify(docs, null, 4)}\n`);
    for (const name of missing) {
      ctx.io.stderr(`error: ${noSuchPod(name, namespace).message}\n`);
      code = 1;
    }
    return code;
  });
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: "show pods in docker inspect's shape",
  description:
    "Show pods as a JSON array shaped like docker inspect's containers (Id, Name, Created, Path, Args, State,\n" +
    'Image, Config, HostConfig, Mounts, NetworkSettings), plus Node and the pod object itself as "Pod".\n' +
    "Config.Entrypoint/Cmd/Env include the image's own when the image is in the local store (deploy build,\n" +
    'deploy pull); otherwise they show what the pod sets.\n' +
    '--format takes the Go template subset used with docker: {{.State.Status}}, {{json .Config.Env}},\n' +
    '{{index .Config.Labels "app"}}, {{range .Mounts}}{{.Source}} {{end}}, {{if}}/{{with}}/{{else}}, pipes,\n' +
    'and json, index, len, join, upper, lower, print, println.',
  args: { usage: 'POD...', min: 1, max: Number.MAX_SAFE_INTEGER },
  flags: [
    {
      name: 'format',
      short: 'f',
      kind: 'string',
      placeholder: 'TEMPLATE',
      description: 'print each pod through a Go template',
    },
    namespaceFlag,
  ],
  examples: [
    'deploy inspect web',
    "deploy inspect -f '{{.State.Status}} {{.State.ExitCode}}' hello",
    "deploy inspect --format '{{json .Mounts}}' web",
  ],
  run: runInspect,
};
