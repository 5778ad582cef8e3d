// Runs a command tree: parse, help, dispatch, and one place that turns errors into
// messages and exit codes (0 success, 1 failure, 2 usage error).
import { join } from 'node:path';
import { homedir } from 'node:os';
import { createLogger, errorMessage, parseLogLevel, type LogLevel } from '@flotilla/common';
import { type CliIo, type Command, type FlagSpec, type GlobalOptions, exitCodes } from './types.js';
import { flagReader, parseCommandLine } from './parse.js';
import { renderHelp } from './help.js';
import { isUsageError } from './usage-error.js';
import { trace } from './trace.js';
import { skipCodeCache } from './code-cache.js';

const logLevels = ['debug', 'info', 'warn', 'error'] as const;

export const globalFlags: readonly FlagSpec[] = [
  {
    name: 'config',
    kind: 'string',
    placeholder: 'PATH',
    description: 'client config: controller address and credentials',
    defaultText: '$FLOTILLA_CONFIG, else ~/.flotilla/config.yaml',
  },
  {
    name: 'log-level',
    kind: 'enum',
    placeholder: 'LEVEL',
    values: logLevels,
    description: 'diagnostic logs on stderr',
    defaultText: '$FLOTILLA_LOG_LEVEL, else warn',
  },
];

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    stdio: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
  };
}

export function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

function resolveGlobals(config: string | undefined, logLevel: string | undefined, io: CliIo): GlobalOptions {
  let level: LogLevel = 'warn';
  if (logLevel) level = logLevel as LogLevel;
  else if (
    io.env.FLOTILLA_LOG_LEVEL &&
    (logLevels as readonly string[]).includes(io.env.FLOTILLA_LOG_LEVEL)
  ) {
    level = parseLogLevel(io.env.FLOTILLA_LOG_LEVEL);
  }
  if (config) return { configPath: config, configChosen: true, logLevel: level };
  if (io.env.FLOTILLA_CONFIG)
    return { configPath: io.env.FLOTILLA_CONFIG, configChosen: true, logLevel: level };
  return {
    configPath: join(homeDir(io.env), '.flotilla', 'config.yaml'),
    configChosen: false,
    logLevel: level,
  };
}

export async function execute(root: Command, argv: readonly string[], io: CliIo): Promise<number> {
  let commandPath = root.name;
  trace('cli: started');
  try {
    // "deploy help token create" is "deploy token create --help".
    const args = argv[0] === 'help' ? [...argv.slice(1), '--help'] : argv;
    const inv = parseCommandLine(root, globalFlags, args);
    commandPath = inv.commandPath;
    const cmd = inv.path[inv.path.length - 1] ?? root;
    if (inv.help || !cmd.run) {
      skipCodeCache();
      io.stdout(renderHelp(inv.path, globalFlags));
      return exitCodes.ok;
    }
    const flags = flagReader([...(cmd.flags ?? []), ...globalFlags], inv.given);
    const global = resolveGlobals(flags.string('config'), flags.string('log-level'), io);
    const logger = createLogger(
      { component: 'deploy' },
      { level: global.logLevel, write: (line) => io.stderr(line + '\n') },
    );
    return await cmd.run({ io, flags, args: inv.args, global, logger, commandPath });
  } catch (err) {
    if (isUsageError(err)) {
      skipCodeCache();
      io.stderr(`error: ${err.message}\nRun "${err.commandPath} --help" for usage.\n`);
      return exitCodes.usage;
    }
    io.stderr(`error: ${errorMessage(err)}\n`);
    return exitCodes.failure;
  }
}
