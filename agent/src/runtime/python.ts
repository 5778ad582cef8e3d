// The python3 the agent's helper scripts (the spawn server, the terminal relay) run with.
import { existsSync } from 'node:fs';

const systemPython = '/usr/bin/python3';
let chosen: string | undefined;

/**
 * The system's python3 (Debian's, which scripts/setup.sh installs) when present, else the
 * first on PATH. A daemon should not follow its caller's PATH here: a pyenv or virtualenv
 * shim is a shell script that execs an interpreter chosen by the working directory's
 * .python-version, slower to start, and on this machine pyenv's 3.11 holds ~0.8 MB more
 * RSS than Debian's for the same script.
 */
export function defaultPython(): string {
  chosen ??= existsSync(systemPython) ? systemPython : 'python3';
  return chosen;
}
