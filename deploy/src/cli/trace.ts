// FLOTILLA_CLI_TRACE=1: one stderr line per phase of a command ("trace 123.4 ms cpu 56.7
// ms label"), milliseconds since the process started (performance.now() counts from its
// time origin) and the process's CPU time so far (what a busy machine does not inflate),
// to see where a command's latency goes. Off, it costs one env lookup per call.
import { performance } from 'node:perf_hooks';

const on = process.env.FLOTILLA_CLI_TRACE === '1';

export function tracing(): boolean {
  return on;
}

export function trace(label: string): void {
  if (!on) return;
  const cpu = process.cpuUsage();
  process.stderr.write(
    `trace ${performance.now().toFixed(1)} ms cpu ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms ${label}\n`,
  );
}
