import { FlotillaError } from '@flotilla/common';

/** A mistake in how the command was called: exit code 2, and a pointer to --help. */
export class UsageError extends FlotillaError {
  /** "deploy get nodes": the command whose help explains the mistake. */
  readonly commandPath: string;

  constructor(message: string, commandPath: string, context: { field?: string; value?: unknown } = {}) {
    super('InvalidArgument', message, context);
    this.name = 'UsageError';
    this.commandPath = commandPath;
  }
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}
