// The command tree and the CLI's entry point for the process and for tests.
import type { CliIo, Command } from '../cli/types.js';
import { execute, processIo } from '../cli/run.js';
import { nodesCommand } from './nodes.js';
import {
  applyCommand,
  cordonCommand,
  deleteCommand,
  describeCommand,
  diffCommand,
  drainCommand,
  getCommand,
  rolloutCommand,
  scaleCommand,
  uncordonCommand,
} from './object-commands.js';
import { tokenCommand } from './token.js';
import { statusCommand } from './status.js';
import { upCommand } from './up.js';
import { downCommand } from './down.js';
import { buildCommand } from './build.js';
import { imageCommand } from './image.js';
import { imagesCommand, rmiCommand, tagCommand } from './images.js';
import { loginCommand, logoutCommand } from './login.js';
import { pruneCommand } from './prune.js';
import { pullCommand, pushCommand } from './pull.js';
import { runCommand } from './run.js';
import { psCommand } from './ps.js';
import { logsCommand } from './logs.js';
import { inspectCommand } from './inspect.js';
import { rmCommand, startCommand, stopCommand } from './lifecycle.js';
import { execCommand } from './exec.js';

export const rootCommand: Command = {
  name: 'deploy',
  summary: 'the Flotilla CLI',
  description:
    'deploy runs containers on a fleet of hosts under a Flotilla controller.\n' +
    'Start a cluster on this machine with "deploy up", then "deploy nodes".',
  subcommands: [
    upCommand,
    downCommand,
    statusCommand,
    nodesCommand,
    getCommand,
    applyCommand,
    diffCommand,
    describeCommand,
    deleteCommand,
    scaleCommand,
    rolloutCommand,
    cordonCommand,
    uncordonCommand,
    drainCommand,
    tokenCommand,
    runCommand,
    psCommand,
    logsCommand,
    inspectCommand,
    stopCommand,
    startCommand,
    rmCommand,
    execCommand,
    buildCommand,
    pushCommand,
    pullCommand,
    imagesCommand,
    rmiCommand,
    tagCommand,
    imageCommand,
    loginCommand,
    logoutCommand,
    pruneCommand,
  ],
};

/** Runs the CLI with argv (without "node deploy") and returns the exit code. */
export function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return execute(rootCommand, argv, io);
}
