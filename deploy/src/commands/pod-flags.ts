// Flags and helpers the pod commands (run, ps, logs, inspect, stop, start, rm, exec) share.
import { FlotillaError } from '@flotilla/common';
import type { CommandContext, FlagSpec } from '../cli/types.js';
import { UsageError } from '../cli/usage-error.js';
import { checkPodName } from '../pods/run-spec.js';

export const namespaceFlag: FlagSpec = {
  name: 'namespace',
  kind: 'string',
  placeholder: 'NS',
  description: 'the namespace of the pods',
  default: 'default',
};

/** The --namespace value, checked. */
export function namespaceOf(ctx: CommandContext): string {
  const namespace = ctx.flags.string('namespace') ?? 'default';
  const problem = checkPodName(namespace);
  if (problem) {
    throw new UsageError(`invalid value "${namespace}" for flag --namespace: ${problem}`, ctx.commandPath, {
      field: 'namespace',
      value: namespace,
    });
  }
  return namespace;
}

/** A POD argument, checked before anything is asked of the controller. */
export function checkPodArg(ctx: CommandContext, name: string, what = 'POD'): void {
  const problem = checkPodName(name);
  if (problem) {
    throw new UsageError(`invalid ${what} "${name}": ${problem}`, ctx.commandPath, {
      field: what,
      value: name,
    });
  }
}

/** What the pod commands say of a pod the controller does not have. */
export function noSuchPod(name: string, namespace: string): FlotillaError {
  return new FlotillaError('NotFound', `no such pod: ${name} (namespace ${namespace}; see "deploy ps -a")`, {
    object: `pod/${namespace}/${name}`,
  });
}
