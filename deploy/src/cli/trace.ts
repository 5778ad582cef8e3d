// FLOTILLA_CLI_TRACE=1: one stderr line per phase of a command ("trace 123.4 ms label"),
// milliseconds since the process started (performance.now() counts from its time origin),
// to see where a command's latency goes. Off, it costs one env lookup per call.
import { performance } from 'node:perf_hooks';

const on = process.env.FLOTILLA_CLI_TRACE === '1';

export function tracing(): boolean {
  return on;
}

export function trace(label: string): void {
  if (on) process.stderr.write(`trace ${performance.now().toFixed(1)} ms ${label}\n`);
}
