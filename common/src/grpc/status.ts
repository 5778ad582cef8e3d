// FlotillaError <-> gRPC status, in one place for servers and one for clients.
import * as grpc from '@grpc/grpc-js';
import { type ErrorCode, FlotillaError, isFlotillaError } from '../errors/errors.js';

const toGrpc: Record<ErrorCode, grpc.status> = {
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  NotFound: grpc.status.NOT_FOUND,
  AlreadyExists: grpc.status.ALREADY_EXISTS,
  Conflict: grpc.status.ABORTED,
  FailedPrecondition: grpc.status.FAILED_PRECONDITION,
  Unauthenticated: grpc.status.UNAUTHENTICATED,
  PermissionDenied: grpc.status.PERMISSION_DENIED,
  Unavailable: grpc.status.UNAVAILABLE,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  ResourceExhausted: grpc.status.RESOURCE_EXHAUSTED,
  Internal: grpc.status.INTERNAL,
};

const fromGrpc = new Map<grpc.status, ErrorCode>(
  Object.entries(toGrpc).map(([code, status]) => [status, code as ErrorCode]),
);

/** What a server handler sends back for a thrown error. Unknown errors become Internal. */
export function toServiceError(
  err: unknown,
): Partial<grpc.StatusObject> & { code: grpc.status; details: string } {
  if (isFlotillaError(err)) {
    const metadata = new grpc.Metadata();
    if (err.context.field) metadata.set('flotilla-field', err.context.field);
    if (err.context.object) metadata.set('flotilla-object', err.context.object);
    return { code: toGrpc[err.code], details: err.message, metadata };
  }
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/** Whether err is a grpc-js client-side call failure (it carries a numeric status code). */
export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}

/** A client-side gRPC failure as a FlotillaError with the server's message. */
export function fromServiceError(err: unknown, target?: string): FlotillaError {
  if (isFlotillaError(err)) return err;
  if (isServiceError(err)) {
    const code = fromGrpc.get(err.code) ?? (err.code === grpc.status.CANCELLED ? 'Unavailable' : 'Internal');
    const field = err.metadata?.get('flotilla-field')[0];
    const object = err.metadata?.get('flotilla-object')[0];
    let message = err.details || err.message;
    if (err.code === grpc.status.UNAVAILABLE && target) {
      message = `cannot reach the controller at ${target}: ${message}`;
    }
    return new FlotillaError(
      code,
      message,
      { field: field?.toString(), object: object?.toString() },
      { cause: err },
    );
  }
  return new FlotillaError('Internal', err instanceof Error ? err.message : String(err), {}, { cause: err });
}
