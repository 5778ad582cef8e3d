#!/usr/bin/env node
// The `deploy` executable.
import { runCli } from './commands/root.js';
import { processIo } from './cli/run.js';

const abort = new AbortController();
let interrupted = 0;
const onSignal = (): void => {
  // The first Ctrl-C lets a long command clean up; the second one stops at once.
  if (++interrupted > 1) process.exit(130);
  abort.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `deploy nodes | head`: a reader that went away is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  throw err;
});

runCli(process.argv.slice(2), { ...processIo(), signal: abort.signal }).then(
  (code) => {
    process.exitCode = code;
    // Nothing should keep the process alive once the command has returned.
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  },
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
