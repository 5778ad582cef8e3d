// Arguments of the image commands checked before anything touches the disk or the
// network. Pure: each problem is reported as a sentence naming the value and what is valid.
import { parseReference } from '@flotilla/images';
import type { ImageReference } from '@flotilla/images';
import { errorMessage } from '@flotilla/common';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

/** A reference as given on the command line, or the parser's reason it is not one. */
export function checkReference(text: string): Checked<ImageReference> {
  try {
    return { ok: true, value: parseReference(text) };
  } catch (err) {
    return { ok: false, problem: errorMessage(err) };
  }
}

/** A reference that names a tag to write: digests cannot be written by build or tag. */
export function checkTag(text: string): Checked<ImageReference> {
  const checked = checkReference(text);
  if (!checked.ok) return checked;
  if (checked.value.digest !== undefined) {
    return {
      ok: false,
      problem: `"${text}" names a digest; a tag is NAME[:TAG], such as web:v2 or 127.0.0.1:5000/team/web:v2`,
    };
  }
  return checked;
}

const argName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * --build-arg values: NAME=VALUE sets it; a bare NAME takes the value from the
 * environment (as docker does) and is skipped when the environment lacks it.
 */
export function parseBuildArgs(
  values: readonly string[],
  env: NodeJS.ProcessEnv,
): Checked<Record<string, string>> {
  const args: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq >= 0 ? value.slice(0, eq) : value;
    if (!argName.test(name)) {
      return {
        ok: false,
        problem: `invalid --build-arg "${value}": must be NAME=VALUE (or NAME, taken from the environment) where NAME is letters, digits and "_", not starting with a digit`,
      };
    }
    if (eq >= 0) args[name] = value.slice(eq + 1);
    else if (env[name] !== undefined) args[name] = env[name];
  }
  return { ok: true, value: args };
}

/** -t values as canonical references, without duplicates, the first one first. */
export function parseTags(values: readonly string[]): Checked<ImageReference[]> {
  if (values.length === 0) {
    return { ok: false, problem: 'needs at least one -t NAME[:TAG] to name the image' };
  }
  const tags: ImageReference[] = [];
  for (const value of values) {
    const checked = checkTag(value);
    if (!checked.ok) return { ok: false, problem: `invalid -t value: ${checked.problem}` };
    if (!tags.some((t) => t.canonical === checked.value.canonical)) tags.push(checked.value);
  }
  return { ok: true, value: tags };
}
