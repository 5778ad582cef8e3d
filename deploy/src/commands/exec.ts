// deploy exec: run a command in a running container, as docker exec does.
import type { ExitStatus } from '@flotilla/proto';
import type { Command, CommandContext } from '../cli/types.js';
import { cannotRunCode } from '../pods/state.js';
import { withCluster } from '../client/cluster-client.js';
import { pumpStream, stdioOf, streamFrame } from '../pods/stdio.js';
import { checkPodArg, namespaceFlag, namespaceOf } from './pod-flags.js';
import { cannotRunReason, interruptedCode, reportExitReason } from './run.js';

/**
 * The command's exit code; a command that could not be started at all (the status says
 * why) is 127 when it was not found and 126 when it cannot be executed, as a shell says.
 */
export function execExitCode(status: ExitStatus): number {
  const reason = cannotRunReason(status);
  if (reason) {
    const code = cannotRunCode(reason, '');
    if (code !== 125 && (status.exitCode === 255 || status.exitCode < 0)) return code;
  }
  return status.exitCode;
}

async function runExec(ctx: CommandContext): Promise<number> {
  const namespace = namespaceOf(ctx);
  const [pod = '', ...command] = ctx.args;
  checkPodArg(ctx, pod);
  const container = ctx.flags.string('container') ?? '';
  if (container !== '') checkPodArg(ctx, container, 'value for -c/--container');
  const interactive = ctx.flags.boolean('interactive');
  const tty = ctx.flags.boolean('tty');
  const stdio = stdioOf(ctx.io);
  if (tty && interactive && ctx.io.stdio && !stdio.stdinIsTty) {
    ctx.io.stderr('error: the input device is not a TTY (drop -t, or run it from a terminal)\n');
    return 1;
  }
  return withCluster(ctx.global.configPath, async (api) => {
    const restore = tty ? stdio.rawMode() : () => undefined;
    try {
      const stream = api.exec();
      const size = tty ? stdio.size() : undefined;
      stream.send(
        streamFrame({ exec: { namespace, pod, container, command, stdin: interactive, tty, size, uid: '' } }),
      );
      const end = await pumpStream(stream, stdio, {
        stdin: interactive,
        tty,
        ...(!(tty && stdio.stdinIsTty) && ctx.io.signal ? { signal: ctx.io.signal } : {}),
      });
      if (end.kind === 'detached') return interruptedCode;
      if (end.kind === 'ended') {
        ctx.io.stderr('error: the exec stream ended without an exit status\n');
        return 1;
      }
      reportExitReason(ctx, end.status);
      return execExitCode(end.status);
    } finally {
      restore();
    }
  });
}

export const execCommand: Command = {
  name: 'exec',
  summary: 'run a command in a running pod',
  description:
    'Run COMMAND in a running container of POD (its only one, or -c CONTAINER) and exit with its exit code.\n' +
    '-i passes stdin, -t gives it a terminal (raw mode, window size). Flags go before POD.',
  args: { usage: 'POD COMMAND [ARG...]', min: 2, max: Number.MAX_SAFE_INTEGER },
  flags: [
    { name: 'interactive', short: 'i', kind: 'boolean', description: 'pass stdin to the command' },
    { name: 'tty', short: 't', kind: 'boolean', description: 'give the command a terminal' },
    {
      name: 'container',
      short: 'c',
      kind: 'string',
      placeholder: 'NAME',
      description: 'the container, in a pod with several',
    },
    namespaceFlag,
  ],
  flagsBeforeArgs: true,
  examples: ['deploy exec web cat /etc/hostname', 'deploy exec -it web sh'],
  run: runExec,
};
