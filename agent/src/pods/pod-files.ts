// A pod's files on the host: /etc/hosts, /etc/resolv.conf and /etc/hostname (bound into
// each container) and its volumes (emptyDir directories or tmpfs, hostPath checks). The
// contents are pure functions; prepare/remove do the I/O and are idempotent.
import { lstat, mkdir, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { FlotillaError, failedPrecondition, invalidArgument } from '@flotilla/common';
import { mountsUnder } from '@flotilla/images';
import type { Container, Pod } from '@flotilla/proto';
import { mountAt, unmount } from '../runtime/mounts.js';
import { parseByteQuantity } from '../runtime/spec/quantity.js';
import { podHostname } from '../runtime/spec/config.js';
import type { PodEtcFiles, VolumeMountInput } from '../runtime/spec/types.js';
import { podPaths } from './model.js';

/** The pod's /etc/hosts: localhost, then the pod's address under its hostname. */
export function hostsFile(hostname: string, podIP: string | undefined): string {
  const lines = [
    '# Written by the flotilla agent for this pod.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  if (podIP !== undefined && podIP !== '') lines.push(`${podIP}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

function isLoopbackNameserver(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * The pod's /etc/resolv.conf when the node has no cluster DNS (its pod CIDR not known
 * yet): the host's, without nameservers on loopback addresses. A pod has its own network
 * namespace, so 127.0.0.53 (systemd-resolved) or a local dnsmasq of the host are not
 * reachable from it: inside the pod 127.x is the pod itself. Such lines are dropped
 * (leaving a pod whose host resolves only through loopback without a nameserver) and say so.
 */
export function podResolvConf(hostText: string): string {
  const out = ["# Written by the flotilla agent from the host's /etc/resolv.conf."];
  let dropped = 0;
  for (const line of hostText.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'nameserver' && words[1] !== undefined && isLoopbackNameserver(words[1])) {
      dropped++;
      out.push(`# dropped "${line.trim()}": a loopback address of the host is not reachable from a pod`);
      continue;
    }
    if (line.trim() !== '') out.push(line);
  }
  if (dropped > 0 && !out.some((l) => l.startsWith('nameserver'))) {
    out.push('# no nameserver left: the host resolves names only through loopback');
  }
  return `${out.join('\n')}\n`;
}

/** The node's cluster DNS as pods see it. */
export interface ClusterDns {
  /** The pod bridge's gateway address, where the node's DNS answers. */
  nameserver: string;
  /** The cluster domain, e.g. cluster.local. */
  domain: string;
}

/**
 * The pod's /etc/resolv.conf under the cluster DNS (Kubernetes' ClusterFirst): the node's
 * DNS as the only nameserver, the pod's namespace first in the search list so SERVICE and
 * SERVICE.NAMESPACE resolve, and ndots:5 so a name with fewer dots tries the cluster's
 * names before going out as it is.
 */
export function clusterResolvConf(namespace: string, dns: ClusterDns): string {
  const ns = namespace || 'default';
  const domain = dns.domain.replace(/\.+$/, '');
  return [
    "# Written by the flotilla agent: the node's cluster DNS.",
    `nameserver ${dns.nameserver}`,
    `search ${ns}.svc.${domain} svc.${domain} ${domain}`,
    'options ndots:5',
    '',
  ].join('\n');
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
}

export interface PreparedPodFiles {
  etc: PodEtcFiles;
  /** Host directory of each volume, by name. */
  volumes: Map<string, { kind: 'hostPath' | 'emptyDir'; path: string }>;
}

function podObject(pod: Pod): string {
  return `pod/${pod.metadata?.namespace || 'default'}/${pod.metadata?.name ?? ''}`;
}

function configError(pod: Pod, field: string, value: unknown, message: string): FlotillaError {
  return failedPrecondition(`${podObject(pod)}: ${field}: ${message}`, {
    object: podObject(pod),
    field,
    value,
  });
}

async function kindOf(path: string): Promise<'dir' | 'file' | 'socket' | 'other' | 'missing'> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : s.isSocket() ? 'socket' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
}

/** Kubernetes' hostPath type checks (DirectoryOrCreate and FileOrCreate create what is missing). */
export async function checkHostPath(pod: Pod, index: number, path: string, type: string): Promise<void> {
  const field = `spec.volumes[${index}].hostPath`;
  if (!path.startsWith('/'))
    throw configError(pod, `${field}.path`, path, `"${path}" must be an absolute path`);
  const kind = await kindOf(path);
  switch (type) {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (kind === 'missing') await mkdir(path, { recursive: true, mode: 0o755 });
      else if (kind !== 'dir')
        throw configError(pod, `${field}.path`, path, `${path} exists and is not a directory`);
      return;
    case 'Directory':
      if (kind !== 'dir')
        throw configError(
          pod,
          `${field}.path`,
          path,
          `${path} is not a directory on this node (type Directory)`,
        );
      return;
    case 'FileOrCreate':
      if (kind === 'missing') {
        await mkdir(dirname(path), { recursive: true, mode: 0o755 });
        await writeFile(path, '', { flag: 'a', mode: 0o644 });
      } else if (kind !== 'file')
        throw configError(pod, `${field}.path`, path, `${path} exists and is not a file`);
      return;
    case 'File':
      if (kind !== 'file')
        throw configError(pod, `${field}.path`, path, `${path} is not a file on this node (type File)`);
      return;
    case 'Socket':
      if (kind !== 'socket')
        throw configError(
          pod,
          `${field}.path`,
          path,
          `${path} is not a unix socket on this node (type Socket)`,
        );
      return;
    default:
      throw invalidArgument(
        `${podObject(pod)}: ${field}.type: "${type}" must be "", DirectoryOrCreate, Directory, FileOrCreate, File or Socket`,
        { object: podObject(pod), field: `${field}.type`, value: type },
      );
  }
}

async function isMountPoint(path: string): Promise<boolean> {
  return (await mountsUnder(path)).includes(path);
}

/** Creates the pod's /etc files and volumes; safe to repeat. */
export async function preparePodFiles(
  podsDir: string,
  pod: Pod,
  podIP: string | undefined,
  hostResolvConf = '/etc/resolv.conf',
  /** When the node answers DNS: the pod resolves through it instead of the host's servers. */
  clusterDns?: ClusterDns,
): Promise<PreparedPodFiles> {
  const paths = podPaths(podsDir, pod.metadata?.uid ?? '');
  await mkdir(paths.etc, { recursive: true, mode: 0o755 });
  await mkdir(paths.volumes, { recursive: true, mode: 0o755 });
  const name = pod.metadata?.name ?? '';
  const hostname = podHostname(pod.spec?.hostname ? pod.spec.hostname : name);
  let hostResolv = '';
  try {
    if (clusterDns === undefined) hostResolv = await readFile(hostResolvConf, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const etc: PodEtcFiles = {
    hosts: join(paths.etc, 'hosts'),
    resolvConf: join(paths.etc, 'resolv.conf'),
    hostname: join(paths.etc, 'hostname'),
  };
  await writeAtomic(etc.hosts!, hostsFile(hostname, podIP));
  await writeAtomic(
    etc.resolvConf!,
    clusterDns !== undefined
      ? clusterResolvConf(pod.metadata?.namespace ?? '', clusterDns)
      : podResolvConf(hostResolv),
  );
  await writeAtomic(etc.hostname!, `${hostname}\n`);

  const volumes = new Map<string, { kind: 'hostPath' | 'emptyDir'; path: string }>();
  for (const [i, v] of (pod.spec?.volumes ?? []).entries()) {
    if (v.hostPath !== undefined) {
      await checkHostPath(pod, i, v.hostPath.path, v.hostPath.type);
      volumes.set(v.name, { kind: 'hostPath', path: v.hostPath.path });
    } else if (v.emptyDir !== undefined) {
      const dir = join(paths.volumes, v.name);
      await mkdir(dir, { recursive: true, mode: 0o777 });
      if (v.emptyDir.medium === 'Memory' && !(await isMountPoint(dir))) {
        const options = ['mode=1777', 'nosuid', 'nodev'];
        if (v.emptyDir.sizeLimit !== '') {
          options.push(
            `size=${parseByteQuantity(v.emptyDir.sizeLimit, `spec.volumes[${i}].emptyDir.sizeLimit`)}`,
          );
        }
        await mountAt({ type: 'tmpfs', source: 'tmpfs', options }, dir);
      } else if (v.emptyDir.medium !== '' && v.emptyDir.medium !== 'Memory') {
        throw invalidArgument(
          `${podObject(pod)}: spec.volumes[${i}].emptyDir.medium: "${v.emptyDir.medium}" must be "" or Memory`,
          {
            object: podObject(pod),
            field: `spec.volumes[${i}].emptyDir.medium`,
            value: v.emptyDir.medium,
          },
        );
      }
      volumes.set(v.name, { kind: 'emptyDir', path: dir });
    } else {
      throw invalidArgument(
        `${podObject(pod)}: spec.volumes[${i}] (${v.name}) must have hostPath or emptyDir`,
        {
          object: podObject(pod),
          field: `spec.volumes[${i}]`,
          value: v.name,
        },
      );
    }
  }
  return { etc, volumes };
}

/** The container's volumeMounts resolved to host paths (subPath within the volume). */
export async function containerVolumes(
  pod: Pod,
  container: Container,
  prepared: PreparedPodFiles,
): Promise<VolumeMountInput[]> {
  const out: VolumeMountInput[] = [];
  for (const [i, m] of container.volumeMounts.entries()) {
    const field = `containers[${container.name}].volumeMounts[${i}]`;
    const volume = prepared.volumes.get(m.name);
    if (volume === undefined) {
      throw invalidArgument(`${podObject(pod)}: ${field}.name: "${m.name}" is not one of the pod's volumes`, {
        object: podObject(pod),
        field: `${field}.name`,
        value: m.name,
      });
    }
    let source = volume.path;
    if (m.subPath !== '') {
      const sub = normalize(m.subPath);
      if (sub.startsWith('/') || sub === '..' || sub.startsWith('../')) {
        throw invalidArgument(
          `${podObject(pod)}: ${field}.subPath: "${m.subPath}" must be relative and stay inside the volume`,
          {
            object: podObject(pod),
            field: `${field}.subPath`,
            value: m.subPath,
          },
        );
      }
      source = join(volume.path, sub);
      // Kubernetes creates a missing subPath directory.
      if ((await kindOf(source)) === 'missing') await mkdir(source, { recursive: true, mode: 0o755 });
    }
    out.push(
      volume.kind === 'hostPath'
        ? { kind: 'hostPath', name: m.name, source, destination: m.mountPath, readOnly: m.readOnly }
        : { kind: 'emptyDir', name: m.name, source, destination: m.mountPath, readOnly: m.readOnly },
    );
  }
  return out;
}

/** Unmounts everything under the pod's directory (deepest first) and removes it. */
export async function removePodDir(podsDir: string, uid: string): Promise<void> {
  const dir = podPaths(podsDir, uid).dir;
  for (const point of await mountsUnder(dir)) await unmount(point);
  const left = await mountsUnder(dir);
  if (left.length > 0) {
    throw new FlotillaError('Internal', `could not unmount ${left.join(', ')}; the pod directory stays`, {
      object: `dir/${dir}`,
    });
  }
  // lstat first: a missing dir is fine, and rm never follows a symlink out of it.
  try {
    await lstat(dir);
  } catch {
    return;
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * Removes the pod's cgroup (<parent>/<uid>) in every hierarchy. runc removes each
 * container's own cgroup below it when it deletes the container; the pod level is ours.
 * Works on cgroups v1 (one directory per controller, some linked to others) and v2.
 */
export async function removePodCgroups(
  cgroupParent: string,
  uid: string,
  root = '/sys/fs/cgroup',
): Promise<void> {
  if (uid === '' || uid.includes('/') || uid === '.' || uid === '..') return;
  const relative = join(cgroupParent, uid);
  let hierarchies: string[] = [];
  try {
    hierarchies = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const candidates = [join(root, relative), ...hierarchies.map((h) => join(root, h, relative))];
  const busy: string[] = [];
  for (const dir of candidates) {
    try {
      await rmdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      busy.push(`${dir} (${code ?? errorMessageOf(err)})`);
    }
  }
  if (busy.length > 0) {
    throw new FlotillaError('Internal', `could not remove the pod's cgroups: ${busy.join(', ')}`, {
      object: `cgroup/${relative}`,
    });
  }
}

function errorMessageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
