// A pod container's OCI runtime config, as a pure function of the pod, the container, its
// image config and the host facts the agent gathered. Hardening is Docker's default
// (shared with the build runner in @flotilla/images); the network namespace is the pod's,
// joined by path, so the containers of one pod reach each other on localhost.
import { invalidArgument } from '@flotilla/common';
import {
  capabilitiesFor,
  clampRlimits,
  dockerMaskedPaths,
  dockerReadonlyPaths,
  kernelMounts,
  resolveUser,
  type AccountFiles,
  type HostLimits,
  type ImageConfig,
  type OciMount,
  type OciRlimit,
} from '@flotilla/images';
import type { Container, Pod } from '@flotilla/proto';
import { containerArgv, mergeEnvironment, specEnvironment } from './command.js';
import { parseByteQuantity, parseCpuMillis } from './quantity.js';
import type {
  OciContainerResources,
  OciContainerSpec,
  OciSeccomp,
  PodEtcFiles,
  VolumeMountInput,
} from './types.js';

/** Kubernetes' default pids limit is unlimited; a fork bomb should not take the node. */
export const defaultPidsLimit = 4096;

/** CFS period, as the kubelet sets it. */
export const cpuPeriodUs = 100000;

/** Kubernetes' floor for a CFS quota (1 ms); the kernel refuses less. */
const minCpuQuotaUs = 1000;

/** Kubernetes' floor for cpu.shares, given also to a container that requests no CPU. */
const minCpuShares = 2;

/** What a container may open and fork; each clamped to the host's hard limit. */
export const containerRlimits: readonly OciRlimit[] = [
  { type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 },
  { type: 'RLIMIT_NPROC', soft: 1048576, hard: 1048576 },
];

export interface ContainerConfigInput {
  pod: Pod;
  container: Container;
  image: ImageConfig;
  /** The container's root file system (absolute, or relative to the bundle). */
  rootfs: string;
  /** The pod's network namespace, e.g. /run/netns/<name>. */
  netnsPath: string;
  volumes?: readonly VolumeMountInput[];
  etc?: PodEtcFiles;
  /** The limits of the process that starts runc (parseProcLimits of /proc/self/limits). */
  hostLimits: HostLimits;
  /** The cgroupfs parent every pod lives under, e.g. "/flotilla". */
  cgroupParent: string;
  /** The rootfs's /etc/passwd and /etc/group, to resolve the image's USER. */
  accounts?: AccountFiles;
  /** linux.seccomp (loadDefaultSeccomp); none means no filter. */
  seccomp?: OciSeccomp;
  pidsLimit?: number;
  /** Allocate a terminal (deploy run -t). */
  terminal?: boolean;
}

/** Names used as one cgroup path segment must not climb or split the path. */
function segment(value: string, field: string, object: string): string {
  if (value === '' || value === '.' || value === '..' || value.includes('/')) {
    throw invalidArgument(
      `${object}: ${field} "${value}" cannot name a cgroup: it must be non-empty and contain no "/"`,
      {
        object,
        field,
        value,
      },
    );
  }
  return value;
}

/** <parent>/<pod uid>/<container name>: one cgroup per container, grouped by pod. */
export function containerCgroupsPath(parent: string, podUid: string, containerName: string): string {
  const object = `pod/${podUid}`;
  if (!parent.startsWith('/')) {
    throw invalidArgument(`cgroup parent "${parent}" must be absolute`, {
      field: 'cgroupParent',
      value: parent,
    });
  }
  const base = parent.replace(/\/+$/, '');
  return `${base}/${segment(podUid, 'metadata.uid', object)}/${segment(containerName, 'container name', object)}`;
}

/** limits.memory, limits.cpu and requests.cpu → cgroup settings, by the kubelet's formulas. */
export function containerResources(
  container: Container,
  object: string,
  pidsLimit = defaultPidsLimit,
): OciContainerResources {
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const resources: OciContainerResources = {
    // Deny every device, then runc adds its default allow-list (null, zero, tty...).
    devices: [{ allow: false, access: 'rwm' }],
    cpu: { shares: minCpuShares },
    pids: { limit: pidsLimit },
  };
  const memory = limits.memory;
  if (memory !== undefined && memory !== '') {
    const limit = parseByteQuantity(memory, `${object}: resources.limits.memory`);
    if (limit <= 0) {
      throw invalidArgument(`${object}: resources.limits.memory: "${memory}" must be more than 0`, {
        object,
        field: 'resources.limits.memory',
        value: memory,
      });
    }
    // swap = limit: no swap on top of the limit, so exceeding it is an OOM kill, not paging.
    resources.memory = { limit, swap: limit };
  }
  const cpuLimit = limits.cpu;
  let limitMillis: number | undefined;
  if (cpuLimit !== undefined && cpuLimit !== '') {
    limitMillis = parseCpuMillis(cpuLimit, `${object}: resources.limits.cpu`);
    if (limitMillis > 0) {
      const quota = Math.floor((limitMillis * cpuPeriodUs) / 1000);
      resources.cpu.quota = Math.max(quota, minCpuQuotaUs);
      resources.cpu.period = cpuPeriodUs;
    }
  }
  // Kubernetes defaults a missing request to the limit; without either, the minimum.
  const request = requests.cpu;
  const requestMillis =
    request !== undefined && request !== ''
      ? parseCpuMillis(request, `${object}: resources.requests.cpu`)
      : limitMillis;
  if (requestMillis !== undefined) {
    resources.cpu.shares = Math.max(Math.floor((requestMillis * 1024) / 1000), minCpuShares);
  }
  return resources;
}

function checkDestination(destination: string, field: string, object: string): void {
  if (!destination.startsWith('/') || destination.split('/').includes('..')) {
    throw invalidArgument(`${object}: ${field} "${destination}" must be an absolute path without ".."`, {
      object,
      field,
      value: destination,
    });
  }
}

/** The pod's /etc files and volumes as bind mounts, parents before children. */
export function containerBindMounts(
  etc: PodEtcFiles,
  volumes: readonly VolumeMountInput[],
  object: string,
): OciMount[] {
  // rprivate: a mount made later under a host path must not propagate into the container.
  const bind = (source: string, destination: string, readOnly: boolean): OciMount => ({
    destination,
    type: 'bind',
    source,
    options: readOnly ? ['rbind', 'rprivate', 'ro'] : ['rbind', 'rprivate'],
  });
  const mounts: OciMount[] = [];
  if (etc.hostname !== undefined) mounts.push(bind(etc.hostname, '/etc/hostname', false));
  if (etc.hosts !== undefined) mounts.push(bind(etc.hosts, '/etc/hosts', false));
  if (etc.resolvConf !== undefined) mounts.push(bind(etc.resolvConf, '/etc/resolv.conf', false));
  const seen = new Set(mounts.map((m) => m.destination));
  const volumeMounts: OciMount[] = [];
  for (const volume of volumes) {
    const field = `volumeMounts[${volume.name}].mountPath`;
    checkDestination(volume.destination, field, object);
    const destination = volume.destination.length > 1 ? volume.destination.replace(/\/+$/, '') : '/';
    if (seen.has(destination)) {
      throw invalidArgument(`${object}: ${field} "${destination}" is mounted twice`, {
        object,
        field,
        value: destination,
      });
    }
    seen.add(destination);
    volumeMounts.push(bind(volume.source, destination, volume.readOnly === true));
  }
  // runc mounts in order, so /data must come before /data/cache (containerd sorts the same way).
  const depth = (m: OciMount): number => m.destination.split('/').filter((s) => s !== '').length;
  volumeMounts.sort((a, b) => depth(a) - depth(b));
  return [...mounts, ...volumeMounts];
}

/** The kernel file systems every container gets, plus its cgroups read-only. */
export function defaultContainerMounts(): OciMount[] {
  return [
    ...kernelMounts(),
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
}

/**
 * The kernel refuses a hostname over 64 bytes, and a pod name may have 253; the kubelet
 * cuts it to 63 and trims the "-" or "." the cut may leave at the end.
 */
export function podHostname(name: string): string {
  return name.length <= 63 ? name : name.slice(0, 63).replace(/[-.]+$/, '');
}

/** The config.json of one container of a pod. */
export function containerOciConfig(input: ContainerConfigInput): OciContainerSpec {
  const { pod, container } = input;
  const podName = pod.metadata?.name ?? '';
  const object = `pod/${podName}/container/${container.name}`;
  if (podName === '') {
    throw invalidArgument(`${object}: the pod has no metadata.name to use as the hostname`, {
      object,
      field: 'metadata.name',
    });
  }
  const imageConfig = input.image.config ?? {};
  const vars = specEnvironment(container.env);
  const args = containerArgv(container, imageConfig, vars, object);
  const hostname = podHostname(
    pod.spec?.hostname !== undefined && pod.spec.hostname !== '' ? pod.spec.hostname : podName,
  );
  // HOSTNAME first, so the image or the spec may override it, as containerd orders it.
  const env = mergeEnvironment([`HOSTNAME=${hostname}`], imageConfig.Env ?? [], vars);
  const cwd = container.workingDir !== '' ? container.workingDir : imageConfig.WorkingDir || '/';
  if (!cwd.startsWith('/')) {
    throw invalidArgument(`${object}: workingDir "${cwd}" must be absolute`, {
      object,
      field: 'workingDir',
      value: cwd,
    });
  }
  const user = resolveUser(imageConfig.User ?? '', input.accounts ?? {});
  const capabilities = capabilitiesFor(user.uid);
  const resources = containerResources(container, object, input.pidsLimit);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal === true,
      user,
      args,
      env,
      cwd,
      capabilities,
      rlimits: clampRlimits(containerRlimits, input.hostLimits),
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: false },
    hostname,
    mounts: [
      ...defaultContainerMounts(),
      ...containerBindMounts(input.etc ?? {}, input.volumes ?? [], object),
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'network', path: input.netnsPath },
      ],
      cgroupsPath: containerCgroupsPath(input.cgroupParent, pod.metadata?.uid ?? '', container.name),
      resources,
      maskedPaths: [...dockerMaskedPaths],
      readonlyPaths: [...dockerReadonlyPaths],
      ...(input.seccomp !== undefined ? { seccomp: input.seccomp } : {}),
    },
  };
}
