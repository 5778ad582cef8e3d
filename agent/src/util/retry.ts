// Which failures are worth another try. A controller that is down, restarting or
// briefly without etcd will answer differently in a moment; a refusal will not.
import type { ErrorCode, FlotillaError } from '@flotilla/common';

const final: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'Unauthenticated',
  'PermissionDenied',
  'InvalidArgument',
  'AlreadyExists',
  'FailedPrecondition',
  'NotFound',
]);

export function isRetryable(err: FlotillaError): boolean {
  return !final.has(err.code);
}
