// Reading the system's default seccomp profile (I/O); the conversion is seccomp.ts.
import { readFile } from 'node:fs/promises';
import { invalidArgument } from '@flotilla/common';
import { dockerDefaultCapabilities } from '@flotilla/images';
import { goArch } from '@flotilla/images';
import { parseSeccompProfile, seccompForContainer } from './seccomp.js';
import type { OciSeccomp } from './types.js';

/** Where containers-common (a podman dependency) installs Docker's default profile. */
export const defaultSeccompPath = '/usr/share/containers/seccomp.json';

/**
 * The containers-common profile in OCI form, or undefined when the file is absent (the
 * container then runs without a filter, as runc does, rather than not at all). Converted
 * for Docker's default capability set: every pod container has it as its bounding set,
 * root or not, so one conversion serves all of them.
 */
export async function loadDefaultSeccomp(
  path: string = defaultSeccompPath,
  arch: string = goArch(process.arch),
): Promise<OciSeccomp | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`seccomp profile ${path} is not valid JSON: ${(err as Error).message}`, {
      object: path,
    });
  }
  return seccompForContainer(parseSeccompProfile(parsed, path), arch, dockerDefaultCapabilities);
}
