// deploy run: create a pod from docker-style flags, then (unless -d) stream its output or
// attach a terminal, and exit with the container's exit code.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errorMessage, isFlotillaError } from '@flotilla/common';
import type { ExitStatus, Pod } from '@flotilla/proto';
import type { Command, CommandContext, FlagReader, FlagSpec } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { withCluster, type ClusterApi } from '../client/cluster-client.js';
import { buildRunPod, defaultStopTimeoutSeconds, randomPodName, type RunOptions } from '../pods/run-spec.js';
import {
  containerStatusOf,
  detachedStart,
  runProgress,
  startFailureHint,
  type DetachedStart,
  type RunProgress,
} from '../pods/state.js';
import { pumpStream, stdioOf, streamFrame, type Stdio } from '../pods/stdio.js';
import { Interrupted, removePod, waitForPod } from '../pods/wait.js';
import { namespaceFlag } from './pod-flags.js';

/** docker run's code when the daemon side failed (no such image, unschedulable…). */
export const daemonFailure = 125;
/** What a shell reports for Ctrl-C. */
export const interruptedCode = 130;
/** How long logs may still arrive after the container exited. */
const logDrainMs = 2_000;

export const runFlags: readonly FlagSpec[] = [
  {
    name: 'name',
    kind: 'string',
    placeholder: 'NAME',
    description: 'the pod name (else a random one such as eager-hopper)',
  },
  {
    name: 'detach',
    short: 'd',
    kind: 'boolean',
    description: 'run it in the background: print its name once its container started, and return',
  },
  { name: 'rm', kind: 'boolean', description: 'remove the pod once it exits' },
  { name: 'interactive', short: 'i', kind: 'boolean', description: 'keep stdin open and attach it' },
  { name: 'tty', short: 't', kind: 'boolean', description: 'give the container a terminal' },
  {
    name: 'publish',
    short: 'p',
    kind: 'string',
    repeatable: true,
    placeholder: '[IP:]HOST:CTR[/PROTO]',
    description: 'publish a container port on the node (tcp, udp or sctp)',
  },
  {
    name: 'volume',
    short: 'v',
    kind: 'string',
    repeatable: true,
    placeholder: 'HOST:CTR[:ro|rw]',
    description: 'bind-mount an absolute host path (a lone CTR path is an anonymous volume)',
  },
  {
    name: 'env',
    short: 'e',
    kind: 'string',
    repeatable: true,
    placeholder: 'K=V',
    description: "set an environment variable (K alone takes this shell's value)",
  },
  {
    name: 'env-file',
    kind: 'string',
    repeatable: true,
    placeholder: 'FILE',
    description: 'read K=V lines from a file',
  },
  {
    name: 'memory',
    short: 'm',
    kind: 'string',
    placeholder: 'SIZE',
    description: 'memory limit: b, k, m or g (binary), such as 256m',
  },
  { name: 'cpus', kind: 'string', placeholder: 'N', description: 'CPU limit in CPUs, such as 0.5' },
  {
    name: 'restart',
    kind: 'enum',
    values: ['no', 'on-failure', 'always'],
    placeholder: 'POLICY',
    description: 'restart policy: no (Never), on-failure (OnFailure) or always (Always)',
    default: 'no',
  },
  {
    name: 'node',
    kind: 'string',
    placeholder: 'NODE',
    description: 'run on this node (else the first that fits)',
  },
  {
    name: 'stop-timeout',
    kind: 'int',
    min: 0,
    max: 86_400,
    placeholder: 'SECONDS',
    description: 'seconds from SIGTERM to SIGKILL when the pod stops (its terminationGracePeriodSeconds)',
    default: defaultStopTimeoutSeconds,
  },
  namespaceFlag,
  {
    name: 'pull',
    kind: 'enum',
    values: ['always', 'missing', 'never'],
    placeholder: 'POLICY',
    description: 'pull the image always, if missing or never (default: missing, as Docker)',
  },
];

/** The flags and arguments as RunOptions; env files still to be read. Pure. */
export function runOptionsFromFlags(flags: FlagReader, args: readonly string[]): RunOptions {
  const [image = '', ...command] = args;
  const opt = (name: string): string | undefined => (flags.given(name) ? flags.string(name) : undefined);
  const name = opt('name');
  const memory = opt('memory');
  const cpus = opt('cpus');
  const node = opt('node');
  const pull = opt('pull');
  return {
    ...(name !== undefined ? { name } : {}),
    detach: flags.boolean('detach'),
    rm: flags.boolean('rm'),
    interactive: flags.boolean('interactive'),
    tty: flags.boolean('tty'),
    publish: flags.strings('publish'),
    volumes: flags.strings('volume'),
    env: flags.strings('env'),
    envFiles: [],
    ...(memory !== undefined ? { memory } : {}),
    ...(cpus !== undefined ? { cpus } : {}),
    restart: flags.string('restart') ?? 'no',
    ...(node !== undefined ? { node } : {}),
    namespace: flags.string('namespace') ?? 'default',
    ...(pull !== undefined ? { pull } : {}),
    stopTimeout: flags.number('stop-timeout') ?? defaultStopTimeoutSeconds,
    image,
    command,
  };
}

async function readEnvFiles(ctx: CommandContext): Promise<{ path: string; text: string }[]> {
  const files: { path: string; text: string }[] = [];
  for (const path of ctx.flags.strings('env-file')) {
    try {
      files.push({ path, text: await readFile(resolve(ctx.io.cwd, path), 'utf8') });
    } catch (err) {
      throw new UsageError(
        `invalid value "${path}" for flag --env-file: cannot read it: ${errorMessage(err)}`,
        ctx.commandPath,
        { field: 'env-file', value: path },
      );
    }
  }
  return files;
}

/** Creates the pod; a generated name that is taken gets a suffix, a chosen one is docker's conflict. */
async function createRunPod(
  ctx: CommandContext,
  api: ClusterApi,
  opts: RunOptions,
  first: Pod,
): Promise<Pod | number> {
  let pod = first;
  for (let attempt = 0; ; attempt++) {
    try {
      return await api.createPod(pod);
    } catch (err) {
      if (!isFlotillaError(err, 'AlreadyExists')) {
        // docker run's code for whatever failed on the daemon's side.
        ctx.io.stderr(`error: ${errorMessage(err)}\n`);
        return daemonFailure;
      }
      const name = pod.metadata?.name ?? '';
      if (opts.name !== undefined || attempt >= 4) {
        ctx.io.stderr(
          `error: the pod name "${name}" is already in use in namespace ${opts.namespace}. ` +
            `Remove it ("deploy rm -f ${name}") or choose another --name.\n`,
        );
        return daemonFailure;
      }
      pod = buildRunPod(opts, randomPodName(Math.random, true), ctx.io.env, ctx.commandPath);
    }
  }
}

/** The reason of a failed exit that says why the process could not run at all, else undefined. */
export function cannotRunReason(status: ExitStatus): string | undefined {
  const reason = status.reason;
  const ordinary = ['Completed', 'Error', 'OOMKilled'].includes(reason);
  return status.exitCode !== 0 && reason !== '' && !ordinary ? reason : undefined;
}

/** An exit status whose reason says why the process could not run is worth a line. */
export function reportExitReason(ctx: CommandContext, status: ExitStatus): void {
  const reason = cannotRunReason(status);
  if (reason) ctx.io.stderr(`error: ${reason}\n`);
}

function reportFailure(ctx: CommandContext, name: string, p: Extract<RunProgress, { kind: 'failed' }>): void {
  ctx.io.stderr(`error: pod ${name} failed to start: ${p.reason}${p.message ? `: ${p.message}` : ''}\n`);
}

/** What deploy run -d says on stderr when the container cannot start: why, and what to fix. Pure. */
export function startFailureText(name: string, failure: Extract<DetachedStart, { kind: 'failed' }>): string {
  const hint = startFailureHint(failure.code);
  return (
    `error: pod ${name} failed to start: ${failure.reason}${failure.message ? `: ${failure.message}` : ''}\n` +
    (hint ? `${hint}\n` : '')
  );
}

/**
 * -d: like docker run -d, returns once the container started (its name on stdout, exit 0;
 * one that already exited counts) or could not start (why on stderr, docker's code; the pod
 * removed with --rm or when there is no container to keep). The watch resumes from the
 * create's resourceVersion: one stream, no read, no event missed. No time limit, as docker
 * has none for a pull: the cluster ends the wait when the pod fails or its node is lost.
 * Ctrl-C leaves the pod as created.
 */
async function runDetached(
  ctx: CommandContext,
  api: ClusterApi,
  opts: RunOptions,
  created: Pod,
): Promise<number> {
  const name = created.metadata?.name ?? '';
  const signal = ctx.io.signal ? { signal: ctx.io.signal } : {};
  const left = `("deploy ps -a", "deploy logs ${name}", "deploy rm -f ${name}")`;
  let outcome: Exclude<DetachedStart, { kind: 'wait' }>;
  try {
    outcome = await waitForPod(
      api,
      created.metadata?.namespace ?? opts.namespace,
      name,
      (pod) => {
        const decided = detachedStart(pod, opts.rm);
        return decided.kind === 'wait' ? undefined : decided;
      },
      { ...signal, from: created },
    );
  } catch (err) {
    if (err instanceof Interrupted) {
      ctx.io.stderr(`\ninterrupted; pod ${name} is left as it is ${left}\n`);
      return interruptedCode;
    }
    ctx.io.stderr(
      `error: pod ${name} was created, but its start cannot be followed: ${errorMessage(err)} ${left}\n`,
    );
    return daemonFailure;
  }
  if (outcome.kind === 'started') {
    ctx.io.stdout(`${name}\n`);
    return 0;
  }
  ctx.io.stderr(startFailureText(name, outcome));
  if (!outcome.remove) {
    ctx.io.stderr(`pod ${name} is kept, not running ${left}\n`);
    return outcome.code;
  }
  try {
    await removePod(api, created, { force: true, ...signal, timeoutMs: 60_000 });
  } catch (err) {
    const why = err instanceof Interrupted ? 'interrupted' : errorMessage(err);
    ctx.io.stderr(`warning: pod ${name} not removed: ${why} ("deploy rm -f ${name}")\n`);
  }
  return outcome.code;
}

/** Waits until the container runs, exited or cannot run. */
function waitStarted(ctx: CommandContext, api: ClusterApi, pod: Pod): Promise<RunProgress> {
  const ns = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  return waitForPod(
    api,
    ns,
    name,
    (p) => {
      const progress = runProgress(p);
      return progress.kind === 'waiting' ? undefined : progress;
    },
    ctx.io.signal ? { signal: ctx.io.signal } : {},
  );
}

/** Waits for the end of the run the CLI started: the exit code, or a failure. */
function waitExited(
  ctx: CommandContext,
  api: ClusterApi,
  pod: Pod,
  restartsBefore: number,
): Promise<RunProgress> {
  return waitForPod(
    api,
    pod.metadata?.namespace ?? 'default',
    pod.metadata?.name ?? '',
    (p) => {
      const progress = runProgress(p, restartsBefore);
      return progress.kind === 'waiting' || progress.kind === 'running' ? undefined : progress;
    },
    ctx.io.signal ? { signal: ctx.io.signal } : {},
  );
}

/** Output of the container from its start, stdout to stdout and stderr to stderr, until cancelled or ended. */
function followLogs(
  api: ClusterApi,
  pod: Pod,
  stdio: Stdio,
  ctx: CommandContext,
  follow: boolean,
  /** The container has a terminal; raw: ours is in raw mode (no \n -> \r\n). */
  tty: { raw: boolean } | undefined = undefined,
) {
  const stream = api.podLogs({
    namespace: pod.metadata?.namespace ?? 'default',
    pod: pod.metadata?.name ?? '',
    container: pod.metadata?.name ?? '',
    follow,
    sinceTime: '',
    previous: false,
    uid: pod.metadata?.uid ?? '',
  });
  const done = (async () => {
    try {
      for await (const response of stream) {
        for (const entry of response.entries) {
          // A terminal ends its lines with \r\n; one without \r is a partial line (a prompt).
          const line = tty ? terminalLine(entry.content, tty.raw) : Buffer.concat([entry.content, newline]);
          if (entry.stream === 'stderr') stdio.writeErr(line);
          else stdio.writeOut(line);
        }
      }
    } catch (err) {
      ctx.logger.debug('cannot read the container output', { error: errorMessage(err) });
      ctx.io.stderr(`warning: cannot read the output of ${pod.metadata?.name ?? ''}: ${errorMessage(err)}\n`);
    }
  })();
  return { done, cancel: () => stream.cancel() };
}

const newline = Buffer.from('\n');

/**
 * A logged line of a container with a terminal, for this terminal: its lines end in \r
 * (the container's terminal wrote \r\n); one without is a partial line, a prompt. Pure.
 */
export function terminalLine(content: Buffer, raw: boolean): Buffer {
  if (content[content.length - 1] !== 0x0d) return content;
  return raw ? Buffer.concat([content, newline]) : Buffer.concat([content.subarray(0, -1), newline]);
}

async function drain(done: Promise<void>, cancel: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, logDrainMs)))]);
  if (timer) clearTimeout(timer);
  cancel();
  await done;
}

/** Attached without -i/-t: the logs from the start, then the exit code. */
async function runAttachedLogs(
  ctx: CommandContext,
  api: ClusterApi,
  pod: Pod,
  stdio: Stdio,
): Promise<RunProgress> {
  const started = await waitStarted(ctx, api, pod);
  if (started.kind !== 'running' && started.kind !== 'exited') return started;
  const logs = followLogs(api, pod, stdio, ctx, started.kind === 'running');
  try {
    const end = started.kind === 'exited' ? started : await waitExited(ctx, api, pod, 0);
    await drain(logs.done, logs.cancel);
    return end;
  } finally {
    logs.cancel();
  }
}

/** -i and/or -t: Attach to the main process; raw terminal for -t. */
async function runAttachedStream(
  ctx: CommandContext,
  api: ClusterApi,
  pod: Pod,
  opts: RunOptions,
  stdio: Stdio,
): Promise<RunProgress | 'detached'> {
  const started = await waitStarted(ctx, api, pod);
  if (started.kind === 'exited') {
    // It ended before the attach: show what it wrote.
    const logs = followLogs(api, pod, stdio, ctx, false, opts.tty ? { raw: false } : undefined);
    await logs.done;
    return started;
  }
  if (started.kind !== 'running') return started;
  const current = await api.getPod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
  const restartsBefore = containerStatusOf(current)?.restartCount ?? 0;
  const restore = opts.tty ? stdio.rawMode() : () => undefined;
  try {
    if (opts.tty) {
      // The shell printed its banner and prompt before the attach: show them from the log.
      await followLogs(api, pod, stdio, ctx, false, { raw: stdio.stdinIsTty }).done;
    }
    const stream = api.attach();
    const size = opts.tty ? stdio.size() : undefined;
    stream.send(
      streamFrame({
        attach: {
          namespace: pod.metadata?.namespace ?? 'default',
          pod: pod.metadata?.name ?? '',
          container: pod.metadata?.name ?? '',
          stdin: opts.interactive,
          tty: opts.tty,
          size,
          uid: pod.metadata?.uid ?? '',
        },
      }),
    );
    const rawTerminal = opts.tty && stdio.stdinIsTty;
    const end = await pumpStream(stream, stdio, {
      stdin: opts.interactive,
      tty: opts.tty,
      // In a raw terminal Ctrl-C is a byte for the container; otherwise it detaches.
      ...(!rawTerminal && ctx.io.signal ? { signal: ctx.io.signal } : {}),
    }).catch((err: unknown) => ({ kind: 'failed', err }) as const);
    if (end.kind === 'failed') {
      ctx.logger.debug('attach failed', { error: errorMessage(end.err) });
      const now = runProgress(
        await api.getPod(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? ''),
        restartsBefore,
      );
      if (now.kind === 'exited') {
        // It ended before the attach took: what it wrote is in its log.
        await followLogs(api, pod, stdio, ctx, false, opts.tty ? { raw: stdio.stdinIsTty } : undefined).done;
        return now;
      }
      ctx.io.stderr(`warning: cannot attach to ${pod.metadata?.name ?? ''}: ${errorMessage(end.err)}\n`);
    }
    if (end.kind === 'detached') return 'detached';
    if (end.kind === 'exit') {
      reportExitReason(ctx, end.status);
      return { kind: 'exited', code: end.status.exitCode };
    }
  } finally {
    restore();
  }
  return waitExited(ctx, api, pod, restartsBefore);
}

async function runRun(ctx: CommandContext): Promise<number> {
  const opts = { ...runOptionsFromFlags(ctx.flags, ctx.args), envFiles: await readEnvFiles(ctx) };
  const stdio = stdioOf(ctx.io);
  if (opts.tty && opts.interactive && !opts.detach && ctx.io.stdio && !stdio.stdinIsTty) {
    ctx.io.stderr('error: the input device is not a TTY (drop -t, or run it from a terminal)\n');
    return 1;
  }
  const first = buildRunPod(opts, opts.name ?? randomPodName(Math.random), ctx.io.env, ctx.commandPath);
  return withCluster(ctx.global.configPath, async (api) => {
    const created = await createRunPod(ctx, api, opts, first);
    if (typeof created === 'number') return created;
    const name = created.metadata?.name ?? '';
    if (opts.detach) return runDetached(ctx, api, opts, created);
    let outcome: RunProgress | 'detached';
    try {
      outcome =
        opts.interactive || opts.tty
          ? await runAttachedStream(ctx, api, created, opts, stdio)
          : await runAttachedLogs(ctx, api, created, stdio);
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      outcome = 'detached';
    }
    if (outcome === 'detached') {
      ctx.io.stderr(
        `\ndetached from ${name}; it keeps running ("deploy logs -f ${name}", "deploy rm -f ${name}")\n`,
      );
      return interruptedCode;
    }
    let code: number;
    if (outcome.kind === 'exited') code = outcome.code;
    else if (outcome.kind === 'gone') {
      ctx.io.stderr(`error: pod ${name} was removed before it ended\n`);
      return daemonFailure;
    } else if (outcome.kind === 'failed') {
      reportFailure(ctx, name, outcome);
      code = outcome.code;
      if (outcome.noContainer && !opts.rm) {
        // docker creates no container when the image cannot be had: leave nothing behind.
        await removePod(api, created, {
          force: true,
          ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
          timeoutMs: 60_000,
        });
      }
    } else code = 1;
    if (opts.rm) {
      await removePod(api, created, {
        force: outcome.kind === 'failed',
        ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
        timeoutMs: 120_000,
      });
    }
    return code;
  });
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run a command in a new pod, as docker run does',
  description:
    'Create a pod with one container (named like the pod) from IMAGE and run it on a node. COMMAND and ARGs\n' +
    "replace the image's Cmd and keep its Entrypoint. Attached (no -d), the container's stdout and stderr\n" +
    'come to this terminal and deploy exits with its exit code; -i attaches stdin, -t a terminal (raw mode,\n' +
    'window size). -d prints the pod name once its container started (or already exited) and returns;\n' +
    'a container that cannot start fails the run, as attached. --rm removes the pod once it exited, or\n' +
    'when it failed to start. Ctrl-C while -d waits (for a pull, say) leaves the pod as it is.\n' +
    "Exit codes: the container's; 125 when it could not be created or started (no such image, no node fits),\n" +
    '126 when the command cannot run, 127 when it is not found, 2 for a bad flag. Ctrl-C without -t detaches\n' +
    '(exit 130) and leaves the pod running; with -t it goes to the container. Flags go before IMAGE.',
  args: { usage: 'IMAGE [COMMAND [ARG...]]', min: 1, max: Number.MAX_SAFE_INTEGER },
  flags: runFlags,
  flagsBeforeArgs: true,
  examples: [
    'deploy run hello',
    'deploy run -it --rm busybox sh',
    'deploy run -d -p 18080:8080 --name web -v /srv/www:/www:ro -e GREETING=hi web',
    'deploy run --memory 64m --cpus 0.5 --restart on-failure busybox sh -c "exit 3"',
  ],
  run: runRun,
};
