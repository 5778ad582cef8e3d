// Probe executors (I/O): one attempt of a resolved probe action against a target host,
// bounded by timeoutSeconds, returning a result the state machine consumes. They never
// throw: every failure is a result with a message.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { ResolvedProbeAction } from './probe.js';
import type { ProbeOutcome } from './prober-state.js';

export interface ProbeAttempt {
  outcome: ProbeOutcome;
  message?: string;
}

/** Runs a command inside the container; injected because the runtime wiring comes later. */
export type ContainerExec = (
  command: readonly string[],
  options: { timeoutMs: number; signal?: AbortSignal },
) => Promise<{ exitCode: number; output: string; timedOut?: boolean }>;

export interface ProbeTarget {
  /** The pod IP; an action's own host wins. */
  host: string;
  exec?: ContainerExec;
}

const userAgent = 'flotilla-probe/0.1';
/** Kubernetes reads at most 10 KiB of a probe's body; we only need the status. */
const maxBodyBytes = 10 * 1024;

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function probeHttpGet(
  action: Extract<ResolvedProbeAction, { type: 'httpGet' }>,
  host: string,
  timeoutMs: number,
): Promise<ProbeAttempt> {
  const target = action.host ?? host;
  const url = `${action.scheme.toLowerCase()}://${formatHost(target)}:${action.port}${action.path}`;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (attempt: ProbeAttempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(attempt);
    };
    const headers: Record<string, string> = { 'User-Agent': userAgent, Accept: '*/*', Connection: 'close' };
    for (const h of action.headers) headers[h.name] = h.value;
    const options = {
      host: target,
      port: action.port,
      path: action.path,
      method: 'GET',
      headers,
      // Kubernetes does not verify a probe's certificate: the point is liveness, not identity.
      rejectUnauthorized: false,
    };
    const req = (action.scheme === 'HTTPS' ? httpsRequest : httpRequest)(options, (res) => {
      const status = res.statusCode ?? 0;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > maxBodyBytes) res.destroy();
      });
      const ok = status >= 200 && status < 400;
      finish(
        ok ? { outcome: 'success' } : { outcome: 'failure', message: `GET ${url}: HTTP status ${status}` },
      );
    });
    // One timer for the whole attempt (connect + headers), as Kubernetes' client timeout.
    const timer = setTimeout(
      () => finish({ outcome: 'timeout', message: `GET ${url}: no response within ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.on('error', (err) => finish({ outcome: 'failure', message: `GET ${url}: ${err.message}` }));
    req.end();
  });
}

export function probeTcpSocket(
  action: Extract<ResolvedProbeAction, { type: 'tcpSocket' }>,
  host: string,
  timeoutMs: number,
): Promise<ProbeAttempt> {
  const target = action.host ?? host;
  const where = `${formatHost(target)}:${action.port}`;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (attempt: ProbeAttempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(attempt);
    };
    const socket = connect({ host: target, port: action.port });
    const timer = setTimeout(
      () => finish({ outcome: 'timeout', message: `tcp ${where}: no connection within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once('connect', () => finish({ outcome: 'success' }));
    socket.once('error', (err) => finish({ outcome: 'failure', message: `tcp ${where}: ${err.message}` }));
  });
}

export async function probeExec(
  action: Extract<ResolvedProbeAction, { type: 'exec' }>,
  exec: ContainerExec | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeAttempt> {
  const what = JSON.stringify(action.command);
  if (!exec) return { outcome: 'failure', message: `exec ${what}: no way to run commands in this container` };
  try {
    const r = await exec(action.command, { timeoutMs, signal });
    if (r.timedOut)
      return { outcome: 'timeout', message: `exec ${what}: still running after ${timeoutMs} ms` };
    if (r.exitCode === 0) return { outcome: 'success' };
    const output = r.output.trim().slice(0, 200);
    return {
      outcome: 'failure',
      message: `exec ${what}: exit code ${r.exitCode}${output ? `: ${output}` : ''}`,
    };
  } catch (err) {
    return {
      outcome: 'failure',
      message: `exec ${what}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** One attempt of any resolved action. */
export function runProbeAction(
  action: ResolvedProbeAction,
  target: ProbeTarget,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeAttempt> {
  switch (action.type) {
    case 'httpGet':
      return probeHttpGet(action, target.host, timeoutMs);
    case 'tcpSocket':
      return probeTcpSocket(action, target.host, timeoutMs);
    case 'exec':
      return probeExec(action, target.exec, timeoutMs, signal);
  }
}
