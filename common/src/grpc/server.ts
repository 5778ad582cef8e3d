// What every Flotilla gRPC server does the same way (the controller's and the agents'):
// failures logged by how expected they are, streaming handlers ending their call or
// sending the error once, binding with a message naming the flag, and a bounded stop.
import type * as grpc from '@grpc/grpc-js';
import { errorMessage, isFlotillaError, unavailable } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { toServiceError } from './status.js';

/** Logs a failed call: expected refusals (bad input, bad credentials) at debug, the rest as warnings. */
export function logCallFailure(log: Logger, method: string, err: unknown): void {
  const expected = isFlotillaError(err) && err.code !== 'Internal' && err.code !== 'Unavailable';
  const fields = { method, err: errorMessage(err), code: isFlotillaError(err) ? err.code : 'Internal' };
  if (expected) log.debug('call refused', fields);
  else log.warn('call failed', fields);
}

/** A server-streaming or bidi call: what a streaming handler needs to end it or fail it. */
type StreamCall = (
  grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>
) & {
  readonly cancelled: boolean;
};

/**
 * A grpc-js handler from an async function over a server-streaming or bidi call: when fn
 * returns the call is ended, when it throws the error is logged and sent as the call's
 * status; neither once the client has cancelled or the call has ended.
 */
export function streamHandler<C extends StreamCall>(
  log: Logger,
  method: string,
  fn: (call: C) => Promise<void>,
): (call: C) => void {
  return (call) => {
    fn(call).then(
      () => {
        if (!call.cancelled && !call.writableEnded) call.end();
      },
      (err: unknown) => {
        if (call.cancelled || call.writableEnded) return;
        logCallFailure(log, method, err);
        call.emit('error', toServiceError(err));
      },
    );
  };
}

/** The first frame of a bidi call; the call is paused after it, so nothing is lost. */
export function firstFrame<Req, Res>(call: grpc.ServerDuplexStream<Req, Res>): Promise<Req | undefined> {
  return new Promise((resolve) => {
    const done = (frame: Req | undefined): void => {
      call.off('data', onData);
      call.off('end', onEnd);
      call.off('cancelled', onEnd);
      call.pause();
      resolve(frame);
    };
    const onData = (frame: Req): void => done(frame);
    const onEnd = (): void => done(undefined);
    call.on('data', onData);
    call.once('end', onEnd);
    call.once('cancelled', onEnd);
  });
}

/** Binds the server to address; a failure is Unavailable naming the address and the flag that chose it. */
export function bindServer(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
  flag: string,
): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, bound) =>
      err
        ? reject(unavailable(`cannot listen on ${address} (${flag}): ${err.message}`, {}, err))
        : resolve(bound),
    ),
  );
}

/** Stops accepting calls, gives running ones graceMs, then cuts the rest. */
export function stopServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
