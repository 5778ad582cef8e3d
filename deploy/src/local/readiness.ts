// One readiness probe attempt. Returns undefined when ready, else why not (for the
// message shown when a component never gets there).
import { connect } from 'node:net';
import type { Readiness } from './plan.js';

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (reason: string | undefined): void => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer on ${host}:${port} within ${timeoutMs}ms`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err) => done(`cannot connect to ${host}:${port}: ${err.message}`));
  });
}

async function httpProbe(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status === 200 ? undefined : `GET ${url} answered ${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return `GET ${url} failed: ${cause ?? (err as Error).message}`;
  }
}

/** Probes that need no process state; "exit" and "alive" are judged by the supervisor. */
export async function probeOnce(readiness: Readiness, timeoutMs = 1_000): Promise<string | undefined> {
  switch (readiness.kind) {
    case 'http':
      return httpProbe(readiness.url, timeoutMs);
    case 'tcp':
      return tcpProbe(readiness.host, readiness.port, timeoutMs);
    case 'exit':
    case 'alive':
      return undefined;
  }
}
