// What a container runs and with which environment, by Kubernetes' rules: command replaces
// the image's Entrypoint (and drops its Cmd), args replaces Cmd, and both may use $(VAR)
// references to the container's environment.
import { invalidArgument } from '@flotilla/common';
import type { EnvVar } from '@flotilla/proto';

/** Docker's PATH for an image that sets none (moby oci/defaults.go). */
export const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion): "$(NAME)" becomes
 * the value when NAME is known and stays as written when not, "$$" is a literal "$", and
 * any other "$" is left alone, so shell syntax like "$HOME" passes through to the shell.
 */
export function expandReferences(input: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const ch = input[i] as string;
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      i += 1;
      continue;
    }
    const next = input[i + 1] as string;
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close === -1) {
        out += '$(';
        i += 2;
      } else {
        const name = input.slice(i + 2, close);
        out += vars.get(name) ?? `$(${name})`;
        i = close + 1;
      }
    } else {
      out += `$${next}`;
      i += 2;
    }
  }
  return out;
}

/**
 * The spec's env as a map for $(VAR) expansion, each value expanded against the ones
 * before it, as the kubelet does. The image's Env is deliberately not in it: Kubernetes
 * expands only against what the pod spec declares.
 */
export function specEnvironment(env: readonly EnvVar[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const { name, value } of env) vars.set(name, expandReferences(value, vars));
  return vars;
}

/** Kubernetes' entrypoint/cmd table, then $(VAR) expansion of every element. */
export function containerArgv(
  spec: { command: readonly string[]; args: readonly string[] },
  image: { Entrypoint?: readonly string[] | null; Cmd?: readonly string[] | null },
  vars: ReadonlyMap<string, string>,
  object: string,
): string[] {
  const entrypoint = spec.command.length > 0 ? spec.command : (image.Entrypoint ?? []);
  // A spec command drops the image's Cmd, even without args (Kubernetes' documented table).
  const cmd = spec.args.length > 0 ? spec.args : spec.command.length > 0 ? [] : (image.Cmd ?? []);
  const argv = [...entrypoint, ...cmd].map((arg) => expandReferences(arg, vars));
  if (argv.length === 0 || argv[0] === '') {
    throw invalidArgument(
      `${object}: nothing to run: the container has no command or args and the image has no Entrypoint or Cmd; set command in the container spec`,
      { object, field: 'command' },
    );
  }
  return argv;
}

/**
 * "K=V" lines: the defaults, then the image's Env, then the spec's (expanded) values, a
 * later one replacing an earlier one of the same name in its place, as Docker merges them.
 */
export function mergeEnvironment(
  defaults: readonly string[],
  imageEnv: readonly string[],
  specVars: ReadonlyMap<string, string>,
): string[] {
  const merged = new Map<string, string>();
  const put = (line: string): void => {
    const eq = line.indexOf('=');
    const name = eq === -1 ? line : line.slice(0, eq);
    if (name === '') return;
    merged.set(name, eq === -1 ? '' : line.slice(eq + 1));
  };
  for (const line of defaults) put(line);
  for (const line of imageEnv) put(line);
  for (const [name, value] of specVars) merged.set(name, value);
  if (!merged.has('PATH')) merged.set('PATH', defaultPath);
  return [...merged].map(([name, value]) => `${name}=${value}`);
}
