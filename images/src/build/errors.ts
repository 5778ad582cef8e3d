// Every Dockerfile error names its file and line first ("Dockerfile:7: ..."), the way a
// compiler does, so an editor or a person can jump to it.
import { FlotillaError } from '@flotilla/common';

export function dockerfileError(
  filename: string,
  line: number,
  message: string,
  value?: unknown,
  cause?: unknown,
): FlotillaError {
  return new FlotillaError(
    'InvalidArgument',
    `${filename}:${line}: ${message}`,
    { object: `dockerfile/${filename}`, field: `line ${line}`, value },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * A failure found below the line-aware layers (substitution, word splitting); the caller
 * that knows the line turns it into a dockerfileError.
 */
export class SyntaxProblem extends Error {
  override readonly name = 'SyntaxProblem';
}
