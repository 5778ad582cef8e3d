// Unary gRPC calls as promises with a deadline, failures as FlotillaError.
import * as grpc from '@grpc/grpc-js';
import { type FlotillaError, fromServiceError } from '@flotilla/common';

export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

export function callUnary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  opts: { timeoutMs: number; target: string; signal?: AbortSignal },
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const call = method(
      request,
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + opts.timeoutMs) },
      (err, res) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(fromServiceError(err, opts.target) satisfies FlotillaError);
        else resolve(res);
      },
    );
    const onAbort = (): void => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
