#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --v8-pool-size=1 --no-opt
// flotilla-agent: parse flags, start the agent, stop it cleanly on SIGTERM/SIGINT.
// Exit codes: 0 stopped by a signal, 1 failure, 2 usage error.
// `flotilla-agent reset [flags]`: 0 all removed, 1 something could not be (named), 2 usage.
import { createLogger, errorMessage } from '@flotilla/common';
import { agentVersion } from './host/probe.js';
import { type RunningAgent, startAgent } from './agent/start-agent.js';
import { type AgentCommand, helpText, parseAgentArgs } from './options/flags.js';
import { isUsageError } from './options/usage-error.js';
import { resetAgent } from './pods/reset.js';

function fail(message: string, code: 1 | 2): never {
  process.stderr.write(`flotilla-agent: ${message}\n`);
  if (code === 2) process.stderr.write('Run "flotilla-agent --help" for the flags.\n');
  process.exit(code);
}

async function main(): Promise<void> {
  let command: AgentCommand;
  try {
    command = parseAgentArgs(process.argv.slice(2));
  } catch (err) {
    fail(errorMessage(err), isUsageError(err) ? 2 : 1);
  }
  if (command.kind === 'help') {
    process.stdout.write(helpText() + '\n');
    return;
  }
  if (command.kind === 'version') {
    process.stdout.write(`flotilla-agent ${await agentVersion()}\n`);
    return;
  }
  if (command.kind === 'reset') {
    // What it removed goes to stdout; the log (stderr) only says more when asked to.
    const level = command.options.logLevel === 'debug' ? 'debug' : 'warn';
    const log = createLogger({ component: 'reset' }, { level });
    const result = await resetAgent(command.options, { logger: log });
    for (const line of result.removed) process.stdout.write(`${line}\n`);
    if (result.removed.length === 0 && result.failed.length === 0)
      process.stdout.write(`nothing to remove for ${command.options.stateDir}\n`);
    for (const line of result.failed) process.stderr.write(`flotilla-agent reset: ${line}\n`);
    process.exitCode = result.failed.length > 0 ? 1 : 0;
    return;
  }
  const options = command.options;
  const log = createLogger({ component: 'agent' }, { level: options.logLevel });

  // Background timers are unref'd; this one handle keeps the process up until a signal.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const startup = new AbortController();
  let agent: RunningAgent | undefined;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    signalled = true;
    log.info('signal received; shutting down', { signal });
    startup.abort();
    const stopping = agent ? agent.stop() : Promise.resolve();
    stopping
      .catch((err: unknown) => log.error('shutdown incomplete', { error: errorMessage(err) }))
      .finally(() => {
        clearInterval(keepAlive);
        process.exit(0);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    agent = await startAgent({ ...options, logger: log, signal: startup.signal });
  } catch (err) {
    // A signal during the join: onSignal is already exiting 0.
    if (signalled) return;
    clearInterval(keepAlive);
    fail(errorMessage(err), isUsageError(err) ? 2 : 1);
  }
  if (signalled) await agent.stop();
}

main().catch((err: unknown) => fail(`unexpected failure: ${errorMessage(err)}`, 1));
