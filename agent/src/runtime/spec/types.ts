// The container's OCI runtime config: the build runner's types from @flotilla/images,
// widened with what a long-running pod container needs and a build step does not (CPU and
// memory limits, a joined network namespace, seccomp). Field names are the spec's, so the
// object serialises straight into the config.json runc reads.
import type { OciLinux, OciMount, OciProcess, OciSpec } from '@flotilla/images';

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

/** linux.seccomp as runc reads it. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSeccompSyscall[];
}

export interface OciContainerResources {
  devices: OciLinux['resources']['devices'];
  memory?: { limit: number; swap: number };
  cpu: { shares: number; quota?: number; period?: number };
  pids: { limit: number };
}

export interface OciContainerLinux extends Omit<OciLinux, 'resources'> {
  resources: OciContainerResources;
  seccomp?: OciSeccomp;
}

export interface OciContainerSpec extends Omit<OciSpec, 'linux' | 'process'> {
  process: OciProcess;
  mounts: OciMount[];
  linux: OciContainerLinux;
}

/**
 * A pod volume as the container sees it, already resolved to a host directory by the
 * volume layer: hostPath is the user's directory, emptyDir a directory the agent made.
 */
export type VolumeMountInput =
  | { kind: 'hostPath'; name: string; source: string; destination: string; readOnly: boolean }
  | { kind: 'emptyDir'; name: string; source: string; destination: string; readOnly?: boolean };

/** Host files the agent writes per pod and binds into each of its containers. */
export interface PodEtcFiles {
  hosts?: string;
  resolvConf?: string;
  hostname?: string;
}
