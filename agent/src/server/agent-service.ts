// The Agent service (agent.proto): container logs from conmon's CRI log files, exec with
// pipes or a terminal (runc exec), and attach to a container's main process (conmon's
// attach socket). Containers are found through PodRuntimeView; only controllers
// (organisation flotilla:controllers) may call.
import type * as grpc from '@grpc/grpc-js';
import {
  authenticatePeer,
  controllerOrganization,
  FlotillaError,
  permissionDenied,
  firstFrame,
  streamHandler,
  unavailable,
  type Logger,
} from '@flotilla/common';
import type { AgentServer, LogsRequest, LogsResponse, StreamRequest, StreamResponse } from '@flotilla/proto';
import type { ContainerHandle, PodRuntimeView } from '../pods/types.js';
import { attachContainer, startExec, type StdioSession } from '../runtime/conmon/exec-session.js';
import { readCriLog } from '../runtime/conmon/log-reader.js';
import type { RunnerRoots } from '../runtime/conmon/types.js';
import {
  attachStartOf,
  execStartOf,
  parseSinceTime,
  parseTailLines,
  requirePod,
  toWireEntry,
  validSize,
} from './requests.js';

export interface AgentServiceDeps {
  pods: PodRuntimeView;
  /** The container runner's roots (runc --root; conmon's attach sockets under stateDir). */
  roots: RunnerRoots;
  /** Default /usr/sbin/runc. */
  runc?: string;
  /** The cluster CA: callers' certificates must be signed by it. */
  caPem: string;
  log: Logger;
  /** How often a followed log file is read; 100 ms by default. */
  logPollMs?: number;
  /** Default python3 (the attach and terminal relay). */
  python?: string;
}

type Call = Parameters<typeof authenticatePeer>[0];
type Duplex = grpc.ServerDuplexStream<StreamRequest, StreamResponse>;

/** Entries per LogsResponse at most. */
const maxBatchEntries = 512;
const maxBatchBytes = 256 * 1024;

function describeContainer(h: ContainerHandle): string {
  return `container "${h.container}" of pod ${h.namespace}/${h.pod}`;
}

export function createAgentService(deps: AgentServiceDeps): AgentServer {
  const runc = deps.runc ?? '/usr/sbin/runc';
  const pollMs = deps.logPollMs ?? 100;
  const python = deps.python !== undefined ? { python: deps.python } : {};

  const requireController = (call: Call, method: string): void => {
    const peer = authenticatePeer(call, deps.caPem);
    if (!peer.organizations.includes(controllerOrganization)) {
      throw permissionDenied(
        `Agent.${method} is for controllers (organisation ${controllerOrganization}); the caller is CN=${peer.commonName}${peer.organizations.map((o) => `, O=${o}`).join('')}`,
      );
    }
  };

  async function logs(call: grpc.ServerWritableStream<LogsRequest, LogsResponse>): Promise<void> {
    requireController(call, 'Logs');
    const req = call.request;
    requirePod(req);
    const since = parseSinceTime(req.sinceTime);
    const tail = parseTailLines(req.tailLines);
    const handle = deps.pods.container(req.namespace, req.pod, req.container, req.uid || undefined);
    let run = { containerId: handle.containerId, logPath: handle.logPath };
    if (req.previous) {
      if (handle.previous === undefined) {
        throw new FlotillaError(
          'NotFound',
          `previous terminated ${describeContainer(handle)} not found: it has not restarted on this node`,
          { object: `pod/${handle.namespace}/${handle.pod}`, field: 'previous' },
        );
      }
      run = handle.previous;
    }
    const follow = req.follow && !req.previous;
    const stop = new AbortController();
    const end = (): void => stop.abort();
    call.on('cancelled', end);
    call.on('close', end);
    if (follow) {
      // The run's end ends the stream, once what it wrote last has been read.
      deps.pods.waitExit(run.containerId, stop.signal).then(
        () => setTimeout(end, pollMs * 3).unref(),
        () => undefined,
      );
    }

    let batch: LogsResponse['entries'] = [];
    let bytes = 0;
    let scheduled = false;
    const flush = async (): Promise<void> => {
      scheduled = false;
      if (batch.length === 0 || call.cancelled || call.writableEnded) return;
      const message: LogsResponse = { entries: batch };
      batch = [];
      bytes = 0;
      if (!call.write(message))
        await new Promise<void>((resolve) => {
          const go = (): void => {
            call.off('drain', go);
            stop.signal.removeEventListener('abort', go);
            resolve();
          };
          call.once('drain', go);
          stop.signal.addEventListener('abort', go, { once: true });
        });
    };
    let flushing: Promise<void> = Promise.resolve();
    for await (const entry of readCriLog(run.logPath, {
      follow,
      signal: stop.signal,
      pollMs,
      ...(tail !== undefined ? { tail } : {}),
    })) {
      if (since !== undefined && entry.timeMs < since) continue;
      batch.push(toWireEntry(entry));
      bytes += entry.text.length;
      if (batch.length >= maxBatchEntries || bytes >= maxBatchBytes) {
        await flushing;
        flushing = flush();
        await flushing;
      } else if (!scheduled) {
        // Whatever is read in one go leaves as one message.
        scheduled = true;
        setImmediate(() => {
          flushing = flushing.then(flush);
        });
      }
    }
    await flushing;
    await flush();
    call.off('cancelled', end);
    call.off('close', end);
    stop.abort();
  }

  /**
   * Pipes a session and the call into each other; ends the call with exit. Without stdin
   * the client's input (and its half-close) is ignored: an attach that only watches must
   * not close the container's stdin.
   */
  async function pump(
    call: Duplex,
    session: StdioSession,
    stdin: boolean,
    finish: (signal: AbortSignal) => Promise<{ exitCode: number; reason: string }>,
  ): Promise<void> {
    const gone = new AbortController();
    const send = (message: Partial<StreamResponse>): void => {
      if (call.cancelled || call.writableEnded || gone.signal.aborted) return;
      call.write({ stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exit: undefined, ...message });
    };
    session.on('stdout', (d) => send({ stdout: d }));
    session.on('stderr', (d) => send({ stderr: d }));
    const onFrame = (frame: StreamRequest): void => {
      if (stdin && frame.stdin.length > 0) session.write(frame.stdin);
      const size = validSize(frame.resize);
      if (size) session.resize(size.rows, size.cols);
      if (stdin && frame.closeStdin) session.closeStdin();
    };
    const onGone = (): void => {
      gone.abort();
      void session.cancel();
    };
    call.on('data', onFrame);
    // The client half-closing its side is the end of its input.
    call.once('end', () => {
      if (stdin) session.closeStdin();
    });
    call.once('cancelled', onGone);
    call.once('close', () => {
      if (!call.writableEnded) onGone();
    });
    call.resume();
    let status: { exitCode: number; reason: string };
    try {
      status = await finish(gone.signal);
    } finally {
      call.off('data', onFrame);
    }
    if (gone.signal.aborted || call.cancelled) return;
    send({ exit: status });
    call.end();
  }

  async function exec(call: Duplex): Promise<void> {
    requireController(call, 'Exec');
    const start = execStartOf(await firstFrame<StreamRequest, StreamResponse>(call));
    const handle = deps.pods.container(start.namespace, start.pod, start.container, start.uid || undefined);
    if (!handle.running) {
      throw new FlotillaError(
        'FailedPrecondition',
        `cannot exec in ${describeContainer(handle)}: it is not running`,
        {
          object: `pod/${handle.namespace}/${handle.pod}`,
        },
      );
    }
    const size = validSize(start.size);
    const session = await startExec({
      runc,
      runcRoot: deps.roots.runcRoot,
      containerId: handle.containerId,
      command: start.command,
      tty: start.tty,
      stdin: start.stdin,
      ...(size ? { size } : {}),
      ...python,
    });
    deps.log.debug('exec', {
      pod: `${handle.namespace}/${handle.pod}`,
      container: handle.container,
      tty: start.tty,
    });
    await pump(call, session, start.stdin, () => session.done);
  }

  async function attach(call: Duplex): Promise<void> {
    requireController(call, 'Attach');
    const start = attachStartOf(await firstFrame<StreamRequest, StreamResponse>(call));
    const handle = deps.pods.container(start.namespace, start.pod, start.container, start.uid || undefined);
    const object = `pod/${handle.namespace}/${handle.pod}`;
    if (!handle.running) {
      throw new FlotillaError(
        'FailedPrecondition',
        `cannot attach to ${describeContainer(handle)}: it is not running`,
        {
          object,
        },
      );
    }
    if (start.stdin && !handle.stdin) {
      throw new FlotillaError(
        'FailedPrecondition',
        `cannot attach to the stdin of ${describeContainer(handle)}: it was created without one (set stdin: true in its spec)`,
        { object, field: 'stdin' },
      );
    }
    const session = await attachContainer({ roots: deps.roots, containerId: handle.containerId, ...python });
    const size = validSize(start.size);
    if (size && handle.tty) session.resize(size.rows, size.cols);
    deps.log.debug('attach', { pod: `${handle.namespace}/${handle.pod}`, container: handle.container });
    await pump(call, session, start.stdin, async (signal) => {
      // conmon closes the connection once the container ended; its exit is the status.
      const exit = deps.pods.waitExit(handle.containerId, signal);
      const first = await Promise.race([
        session.done.then((end) => ({ connection: end })),
        exit.then(() => undefined),
      ]);
      if (first !== undefined && first.connection.exitCode !== 0) {
        throw unavailable(
          `the attach connection to ${describeContainer(handle)} failed: ${first.connection.reason}`,
          {
            object,
          },
        );
      }
      const status = await exit;
      // Output written just before the end is still on its way from conmon.
      await Promise.race([session.done, new Promise((r) => setTimeout(r, 2_000).unref())]);
      await session.cancel();
      return status;
    });
  }

  const serve = <C extends grpc.ServerWritableStream<LogsRequest, LogsResponse> | Duplex>(
    method: string,
    fn: (call: C) => Promise<void>,
  ): ((call: C) => void) => streamHandler(deps.log, `Agent.${method}`, fn);

  return {
    logs: serve('Logs', logs),
    exec: serve('Exec', exec),
    attach: serve('Attach', attach),
  };
}
