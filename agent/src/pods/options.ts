// The pod runtime's settings: flag validators and the per-agent names derived from them.
// Several agents may share one host (each in its own network namespace, or side by side),
// so everything that is global on a host (bridge, netns names, cgroups, runc's root, the
// CNI network name that keys portmap's chains) is derived from flags and can differ.
import { join } from 'node:path';
import type { NodeNetworkOptions } from '../network/config.js';
import { ipv4CidrProblem } from '../network/config.js';
import { UsageError } from '../options/usage-error.js';

export const defaultCgroupParent = '/flotilla';
export const defaultBridgeName = 'flt0';
export const defaultNetnsPrefix = 'flt';
export const defaultCniBinDir = '/usr/lib/cni';

function invalid(flag: string, value: string, want: string): UsageError {
  return new UsageError(`${flag} "${value}" is not valid: ${want}`, { field: flag, value });
}

export function parsePodCidr(flag: string, value: string): string {
  const problem = ipv4CidrProblem(value);
  if (problem !== undefined) throw invalid(flag, value, `the pod CIDR ${problem}`);
  return value;
}

export function parseCgroupParent(flag: string, value: string): string {
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(value) || value.split('/').some((s) => s === '.' || s === '..'))
    throw invalid(
      flag,
      value,
      'want an absolute cgroup path of letters, digits, "_", "." and "-", e.g. /flotilla',
    );
  return value;
}

export function parseBridgeName(flag: string, value: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(value))
    throw invalid(flag, value, 'want a Linux interface name: 1-15 letters, digits, "_", "." or "-"');
  return value;
}

export function parseNetnsPrefix(flag: string, value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,15}$/.test(value))
    throw invalid(flag, value, 'want 1-16 letters, digits, "_", "." or "-", starting with a letter or digit');
  return value;
}

export interface PodRuntimeSettings {
  stateDir: string;
  nodeName: string;
  /** The requested or known pod CIDR; absent: unknown until the controller assigns one. */
  podCidr?: string;
  cgroupParent?: string;
  runcRoot?: string;
  bridgeName?: string;
  netnsPrefix?: string;
  cniBinDir?: string;
}

export interface PodRuntimePaths {
  podsDir: string;
  runnerStateDir: string;
  runcRoot: string;
  cgroupParent: string;
  network: NodeNetworkOptions;
}

/** Every per-agent name and directory, from the flags and the state directory. */
export function podRuntimePaths(s: PodRuntimeSettings): PodRuntimePaths {
  const bridgeName = s.bridgeName ?? defaultBridgeName;
  return {
    podsDir: join(s.stateDir, 'pods'),
    runnerStateDir: join(s.stateDir, 'runtime'),
    runcRoot: s.runcRoot ?? join('/run/flotilla', s.nodeName, 'runc'),
    cgroupParent: s.cgroupParent ?? defaultCgroupParent,
    network: {
      networkName: `flotilla-${bridgeName}`,
      bridgeName,
      // Empty: no pod network is made until the agent learns the CIDR (start-agent.ts).
      podCidr: s.podCidr ?? '',
      ipamDataDir: join(s.stateDir, 'cni'),
      netnsPrefix: s.netnsPrefix ?? defaultNetnsPrefix,
      cniBinDir: s.cniBinDir ?? defaultCniBinDir,
    },
  };
}
