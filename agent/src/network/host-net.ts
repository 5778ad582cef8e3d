// The thin layer under routes and the service proxy: how commands reach the host's
// network namespace. The agent runs in its host's netns, so by default commands go
// through the agent's spawn path and sysctls are written under /proc/sys (which shows the
// writer's own netns). Tests point the same code at a throwaway netns.
import { writeFile } from 'node:fs/promises';
import { FlotillaError } from '@flotilla/common';
import { type CommandResult, runAgentCommand } from '../runtime/spawn-server.js';

export interface HostNet {
  run(file: string, args: readonly string[], input?: string): Promise<CommandResult>;
  /** Writes a per-netns sysctl, e.g. ("net/ipv4/ip_forward", "1"). */
  writeSysctl(key: string, value: string): Promise<void>;
}

const timeoutMs = 30_000;

/** The agent's own netns. */
export const agentHostNet: HostNet = {
  run: (file, args, input) =>
    runAgentCommand(file, args, { timeoutMs, ...(input !== undefined ? { input } : {}) }),
  writeSysctl: (key, value) => writeFile(`/proc/sys/${key}`, `${value}\n`),
};

/** Another netns, by its path (/run/netns/NAME): every command under `nsenter --net=`. */
export function netnsHostNet(netnsPath: string): HostNet {
  const run: HostNet['run'] = (file, args, input) =>
    runAgentCommand('nsenter', [`--net=${netnsPath}`, '--', file, ...args], {
      timeoutMs,
      ...(input !== undefined ? { input } : {}),
    });
  return {
    run,
    writeSysctl: async (key, value) => {
      const result = await run('sysctl', ['-q', '-w', `${key.replaceAll('/', '.')}=${value}`]);
      if (result.code !== 0) throw commandFailed('sysctl', [key, value], result);
    },
  };
}

export function commandFailed(file: string, args: readonly string[], result: CommandResult): FlotillaError {
  const why = result.stderr.trim() || `exited with ${result.code ?? `signal ${result.signal}`}`;
  return new FlotillaError('Internal', `${file} ${args.join(' ')} failed: ${why}`, {
    field: file,
    value: args.join(' '),
  });
}

/** Runs a command and throws its stderr when it fails; returns stdout. */
export async function mustRun(
  net: HostNet,
  file: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const result = await net.run(file, args, input);
  if (result.code !== 0) throw commandFailed(file, args, result);
  return result.stdout;
}
