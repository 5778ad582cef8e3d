// The closed set of errors that crosses component boundaries. Each maps to exactly one
// gRPC status code, in grpc/status.ts and nowhere else.

export type ErrorCode =
  | 'InvalidArgument'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'FailedPrecondition'
  | 'Unauthenticated'
  | 'PermissionDenied'
  | 'Unavailable'
  | 'DeadlineExceeded'
  | 'ResourceExhausted'
  | 'Internal';

export interface ErrorContext {
  /** e.g. "node/worker-1" or "jointoken/abc123" */
  object?: string;
  /** field path, e.g. "spec.containers[0].image" */
  field?: string;
  value?: unknown;
  node?: string;
}

export class FlotillaError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = `${code}Error`;
    this.code = code;
    this.context = context;
  }
}

export const invalidArgument = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('InvalidArgument', message, context);
export const notFound = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('NotFound', message, context);
export const alreadyExists = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('AlreadyExists', message, context);
export const conflict = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('Conflict', message, context);
export const failedPrecondition = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('FailedPrecondition', message, context);
export const unauthenticated = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('Unauthenticated', message, context);
export const permissionDenied = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('PermissionDenied', message, context);
export const resourceExhausted = (message: string, context?: ErrorContext): FlotillaError =>
  new FlotillaError('ResourceExhausted', message, context);
export const unavailable = (message: string, context?: ErrorContext, cause?: unknown): FlotillaError =>
  new FlotillaError('Unavailable', message, context, { cause });

export function isFlotillaError(err: unknown, code?: ErrorCode): err is FlotillaError {
  return err instanceof FlotillaError && (code === undefined || err.code === code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
