// A failed pull, as a reason a person (and later the pod status) can act on. The registry
// client already maps HTTP answers onto the closed error set; this maps that set onto the
// reasons of ./types.ts.
import { errorMessage, isFlotillaError } from '@flotilla/common';
import type { PullFailureReason } from './types.js';

export function classifyPullError(err: unknown): { reason: PullFailureReason; message: string } {
  const message = errorMessage(err);
  if (!isFlotillaError(err)) return { reason: 'error', message };
  switch (err.code) {
    case 'NotFound':
      return { reason: 'not-found', message };
    case 'Unauthenticated':
    case 'PermissionDenied':
      return { reason: 'unauthorized', message };
    case 'Unavailable':
    case 'DeadlineExceeded':
      return { reason: 'unreachable', message };
    case 'InvalidArgument':
      return { reason: 'invalid-image', message };
    case 'AlreadyExists':
    case 'Conflict':
    case 'FailedPrecondition':
    case 'ResourceExhausted':
    case 'Internal':
      return { reason: 'error', message };
  }
}
