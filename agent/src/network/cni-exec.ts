// Runs one CNI plugin binary with the CNI env protocol: the command and the sandbox in
// the environment, the configuration on stdin, the result (or an error result) on stdout.
import { join } from 'node:path';
import { FlotillaError, errorMessage, type ErrorCode } from '@flotilla/common';
import { CommandError, runAgentCommand, type CommandResult } from '../runtime/spawn-server.js';
import { parseCniError } from './config.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

export interface CniInvocation {
  command: CniCommand;
  /** The plugin's stdin; its `type` names the binary. */
  config: Record<string, unknown>;
  containerId: string;
  netnsPath: string;
  ifName: string;
  cniBinDir: string;
  /** Names the pod in errors, e.g. "pod/default/web". */
  object: string;
  timeoutMs?: number;
}

// CNI's well-known error codes (spec, "Error"): 4 and 7 are configuration mistakes the
// caller must fix; 11 asks to retry; the rest are failures of the plugin or the host.
function errorCodeFor(cniCode: number): ErrorCode {
  if (cniCode === 1 || cniCode === 4 || cniCode === 7) return 'InvalidArgument';
  if (cniCode === 11) return 'Unavailable';
  if (cniCode === 3) return 'NotFound';
  return 'Internal';
}

/** Runs the plugin; resolves with its parsed stdout (undefined for an empty DEL answer). */
export async function invokeCniPlugin(inv: CniInvocation): Promise<unknown> {
  const type = typeof inv.config.type === 'string' ? inv.config.type : '';
  if (!/^[A-Za-z0-9_-]+$/.test(type))
    throw new FlotillaError(
      'InvalidArgument',
      `CNI plugin type ${JSON.stringify(type)} is not a plugin name`,
      {
        object: inv.object,
        field: 'type',
        value: type,
      },
    );
  const binary = join(inv.cniBinDir, type);
  const timeoutMs = inv.timeoutMs ?? 60_000;
  // Only PATH is inherited: portmap and bridge look up iptables and the like in it.
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netnsPath,
    CNI_IFNAME: inv.ifName,
    CNI_PATH: inv.cniBinDir,
  };
  let result: CommandResult;
  try {
    result = await runAgentCommand(binary, [], { env, input: JSON.stringify(inv.config), timeoutMs });
  } catch (err) {
    if (err instanceof CommandError && err.code === 'ETIMEDOUT') {
      throw new FlotillaError(
        'Internal',
        `CNI plugin ${type} ${inv.command} timed out after ${timeoutMs} ms`,
        {
          object: inv.object,
          field: `cni.${type}`,
        },
      );
    }
    throw new FlotillaError(
      'FailedPrecondition',
      `cannot run CNI plugin ${binary}: ${errorMessage(err)}; install containernetworking-plugins or set the CNI bin dir`,
      { object: inv.object, field: 'cniBinDir', value: inv.cniBinDir },
      { cause: err },
    );
  }
  const { code, signal, stdout, stderr } = result;
  if (code === 0) {
    if (stdout.trim() === '') return undefined;
    try {
      return JSON.parse(stdout) as unknown;
    } catch {
      throw new FlotillaError(
        'Internal',
        `CNI plugin ${type} ${inv.command} printed a result that is not JSON`,
        {
          object: inv.object,
          field: `cni.${type}`,
          value: stdout.slice(0, 500),
        },
      );
    }
  }
  const cniError = parseCniError(stdout);
  if (cniError) {
    const details = cniError.details ? ` (${cniError.details})` : '';
    throw new FlotillaError(
      errorCodeFor(cniError.code),
      `CNI plugin ${type} ${inv.command} failed with code ${cniError.code}: ${cniError.msg}${details}`,
      { object: inv.object, field: `cni.${type}`, value: cniError },
    );
  }
  const how = signal ? `was killed by signal ${signal}` : `exited with ${code}`;
  throw new FlotillaError(
    'Internal',
    `CNI plugin ${type} ${inv.command} ${how}: ${(stderr || stdout).trim().slice(0, 500)}`,
    {
      object: inv.object,
      field: `cni.${type}`,
      value: { exitCode: code, signal },
    },
  );
}
