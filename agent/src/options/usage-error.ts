// A flag or environment value the agent cannot run with. The process exits 2 for these
// (a usage error), and 1 for everything that goes wrong after the options were accepted.
import { FlotillaError, type ErrorContext } from '@flotilla/common';

export class UsageError extends FlotillaError {
  constructor(message: string, context: ErrorContext = {}) {
    super('InvalidArgument', message, context);
    this.name = 'UsageError';
  }
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}
