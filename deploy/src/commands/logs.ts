// deploy logs: a container's output, stdout lines to stdout and stderr lines to stderr.
import type { Command, CommandContext } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { parseDuration } from '../cli/values.js';
import { withCluster } from '../client/cluster-client.js';
import { splitPodContainer } from '../pods/state.js';
import { stdioOf } from '../pods/stdio.js';
import { checkPodArg, namespaceFlag, namespaceOf } from './pod-flags.js';

/** --tail: "all" or a count of lines. */
export function parseTail(
  text: string,
): { ok: true; value: number | undefined } | { ok: false; reason: string } {
  if (text === 'all') return { ok: true, value: undefined };
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    return { ok: false, reason: 'a number of lines (0 or more) or "all"' };
  }
  return { ok: true, value: Number(text) };
}

/**
 * --since as docker takes it: an RFC 3339 time ("2026-12-01T10:00:00Z"), a relative
 * duration ("10m", "1h30m"), or Unix seconds ("1764583200"); returns RFC 3339.
 */
export function parseSince(
  text: string,
  now: Date,
): { ok: true; value: string } | { ok: false; reason: string } {
  const reason =
    'a time such as 2026-12-01T10:00:00Z, a duration before now such as 10m or 1h30m, or Unix seconds';
  if (/^\d+(\.\d+)?$/.test(text)) return { ok: true, value: new Date(Number(text) * 1000).toISOString() };
  if (/^\d{4}-\d\d-\d\d/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return { ok: false, reason };
    return { ok: true, value: new Date(at).toISOString() };
  }
  const duration = parseDuration(text);
  if (!duration.ok) return { ok: false, reason };
  return { ok: true, value: new Date(now.getTime() - duration.value).toISOString() };
}

async function runLogs(ctx: CommandContext): Promise<number> {
  const namespace = namespaceOf(ctx);
  const target = splitPodContainer(ctx.args[0] ?? '');
  checkPodArg(ctx, target.pod);
  if (target.container !== undefined) checkPodArg(ctx, target.container, 'CONTAINER');
  let tailLines: number | undefined;
  const tailText = ctx.flags.string('tail');
  if (tailText !== undefined) {
    const tail = parseTail(tailText);
    if (!tail.ok) {
      throw new UsageError(
        `invalid value "${tailText}" for flag -n/--tail: must be ${tail.reason}`,
        ctx.commandPath,
        {
          field: 'tail',
          value: tailText,
        },
      );
    }
    tailLines = tail.value;
  }
  let sinceTime = '';
  const sinceText = ctx.flags.string('since');
  if (sinceText !== undefined) {
    const since = parseSince(sinceText, new Date());
    if (!since.ok) {
      throw new UsageError(
        `invalid value "${sinceText}" for flag --since: must be ${since.reason}`,
        ctx.commandPath,
        {
          field: 'since',
          value: sinceText,
        },
      );
    }
    sinceTime = since.value;
  }
  const timestamps = ctx.flags.boolean('timestamps');
  const stdio = stdioOf(ctx.io);
  return withCluster(ctx.global.configPath, async (api) => {
    const stream = api.podLogs({
      namespace,
      pod: target.pod,
      container: target.container ?? '',
      follow: ctx.flags.boolean('follow'),
      ...(tailLines !== undefined ? { tailLines } : {}),
      sinceTime,
      previous: ctx.flags.boolean('previous'),
      uid: '',
    });
    const onAbort = (): void => stream.cancel();
    ctx.io.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const response of stream) {
        for (const entry of response.entries) {
          const prefix = timestamps ? Buffer.from(`${entry.time} `) : Buffer.alloc(0);
          const line = Buffer.concat([prefix, entry.content, Buffer.from('\n')]);
          if (entry.stream === 'stderr') stdio.writeErr(line);
          else stdio.writeOut(line);
        }
      }
    } finally {
      ctx.io.signal?.removeEventListener('abort', onAbort);
    }
    return 0;
  });
}

export const logsCommand: Command = {
  name: 'logs',
  summary: "show the output of a pod's container",
  description:
    'Show what a container wrote: its stdout lines on stdout and its stderr lines on stderr, as docker logs\n' +
    'does. POD/CONTAINER picks a container of a pod with several. -f follows until Ctrl-C or the container ends.',
  args: { usage: 'POD[/CONTAINER]', min: 1, max: 1 },
  flags: [
    { name: 'follow', short: 'f', kind: 'boolean', description: 'keep printing new output' },
    {
      name: 'tail',
      short: 'n',
      kind: 'string',
      placeholder: 'N',
      description: 'only the last N lines ("all" for every line)',
    },
    {
      name: 'timestamps',
      short: 't',
      kind: 'boolean',
      description: 'prefix each line with its time (RFC 3339, nanoseconds)',
    },
    {
      name: 'since',
      kind: 'string',
      placeholder: 'TIME',
      description: 'only lines since a time (RFC 3339 or Unix seconds) or a duration ago (10m)',
    },
    { name: 'previous', kind: 'boolean', description: 'the previous run of the container, after a restart' },
    namespaceFlag,
  ],
  examples: ['deploy logs web', 'deploy logs -f --tail 10 web', 'deploy logs --since 5m -t web'],
  run: runLogs,
};
