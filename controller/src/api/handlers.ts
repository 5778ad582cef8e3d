// Adapters from async functions to grpc-js handlers. Every thrown error leaves through
// toServiceError, the one place errors become gRPC statuses; every failure is logged.
import type * as grpc from '@grpc/grpc-js';
import { logCallFailure, toServiceError, unavailable, type Logger } from '@flotilla/common';

export function unary<Req, Res>(
  method: string,
  log: Logger,
  fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err: unknown) => {
        logCallFailure(log, method, err);
        callback(toServiceError(err));
      },
    );
  };
}

/** Tracks open streams so that a shutdown can end them all. */
export class StreamRegistry {
  private readonly open = new Set<AbortController>();
  private closing = false;

  add(controller: AbortController): () => void {
    this.open.add(controller);
    return () => this.open.delete(controller);
  }

  /** Ends every stream, telling its client to reconnect (to this or another controller). */
  abortAll(): void {
    this.closing = true;
    for (const c of this.open) c.abort();
  }

  get shuttingDown(): boolean {
    return this.closing;
  }

  get size(): number {
    return this.open.size;
  }
}

const shutdownError = (): Error => unavailable('the controller is shutting down; reconnect');

export type StreamSend<Res> = (message: Res) => Promise<void>;

/**
 * A server stream that runs until fn returns, the client cancels, or the registry is
 * aborted; send() waits for the transport to drain, so a slow client slows the producer
 * instead of growing a buffer.
 */
export function serverStream<Req, Res>(
  method: string,
  log: Logger,
  registry: StreamRegistry,
  fn: (
    request: Req,
    call: grpc.ServerWritableStream<Req, Res>,
    send: StreamSend<Res>,
    signal: AbortSignal,
  ) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const controller = new AbortController();
    const remove = registry.add(controller);
    const signal = controller.signal;
    call.on('cancelled', () => controller.abort());
    call.on('close', () => controller.abort());
    const send: StreamSend<Res> = (message) =>
      new Promise<void>((resolve, reject) => {
        if (signal.aborted || call.cancelled || call.writableEnded) return reject(new Error('stream closed'));
        if (call.write(message)) return resolve();
        const onDrain = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          call.off('drain', onDrain);
          reject(new Error('stream closed'));
        };
        call.once('drain', onDrain);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    fn(call.request, call, send, signal)
      .then(
        () => {
          if (call.cancelled || call.writableEnded) return;
          // Ended by a shutdown rather than by its own end: say so, so the client reconnects.
          if (registry.shuttingDown) call.emit('error', toServiceError(shutdownError()));
          else call.end();
        },
        (err: unknown) => {
          if (call.cancelled || call.writableEnded) return;
          if (!signal.aborted) logCallFailure(log, method, err);
          call.emit('error', toServiceError(signal.aborted ? shutdownError() : err));
        },
      )
      .finally(remove);
  };
}
