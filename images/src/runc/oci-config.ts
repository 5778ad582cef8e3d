// The OCI runtime config of a build container, as pure functions of their inputs: the
// hardening matches Docker's defaults (capabilities, no-new-privileges, masked and
// read-only /proc paths, a device allow-list), the namespaces isolate everything including
// the network (a build gets only loopback), and rlimits never ask for more than the host's
// hard limit, which runc would otherwise refuse with EPERM.
import { invalidArgument, notFound } from '@flotilla/common';
import type {
  HostLimit,
  HostLimits,
  OciCapabilities,
  OciMount,
  OciRlimit,
  OciSpec,
  OciUser,
} from './types.js';

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const dockerDefaultCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Docker's masked paths: /proc and /sys files that leak host information. */
export const dockerMaskedPaths: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Docker's read-only /proc paths: writable ones would reconfigure the host's kernel. */
export const dockerReadonlyPaths: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Limits a build container asks for; each is clamped to the host's hard limit. */
export const buildRlimits: readonly OciRlimit[] = [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }];

export const buildHostname = 'flotilla-build';

export interface BuildContainerInput {
  args: string[];
  env: string[];
  cwd: string;
  user: OciUser;
  /** The root file system (absolute, or relative to the bundle). */
  rootfs: string;
  /** cgroupfs path, e.g. "/flotilla-build/<id>". */
  cgroupsPath: string;
  /** The limits of the process that starts runc (parseProcLimits of /proc/self/limits). */
  hostLimits: HostLimits;
  hostname?: string;
  /** Most processes the build may run at once (cgroup pids controller); none by default. */
  pidsLimit?: number;
}

/** The kernel file systems every container gets, as in runc's and Docker's defaults. */
export function kernelMounts(): OciMount[] {
  const nosuid = ['nosuid', 'noexec', 'nodev'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: nosuid },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: [...nosuid, 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: nosuid },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: [...nosuid, 'ro'] },
  ];
}

/** The runtime config of one RUN step's container. */
export function ociConfigForBuild(input: BuildContainerInput): OciSpec {
  if (input.args.length === 0 || input.args[0] === '') {
    throw invalidArgument('a build container needs a command: args is empty', { field: 'process.args' });
  }
  if (!input.cwd.startsWith('/')) {
    throw invalidArgument(`working directory "${input.cwd}" must be absolute`, {
      field: 'process.cwd',
      value: input.cwd,
    });
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: input.user,
      args: [...input.args],
      env: [...input.env],
      cwd: input.cwd,
      capabilities: capabilitiesFor(input.user.uid),
      rlimits: clampRlimits(buildRlimits, input.hostLimits),
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: false },
    hostname: input.hostname ?? buildHostname,
    mounts: kernelMounts(),
    linux: {
      // A new network namespace holds only loopback (runc brings it up): builds get no
      // network, the same as every host here.
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      cgroupsPath: input.cgroupsPath,
      // Deny every device, then runc adds its default allow-list (null, zero, tty...).
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(input.pidsLimit !== undefined ? { pids: { limit: input.pidsLimit } } : {}),
      },
      maskedPaths: [...dockerMaskedPaths],
      readonlyPaths: [...dockerReadonlyPaths],
    },
  };
}

/**
 * Root gets Docker's default set; another user keeps it only as the bounding set, as
 * Docker does since 20.10, so a setuid binary can regain what root would have, no more.
 */
export function capabilitiesFor(uid: number): OciCapabilities {
  const caps = [...dockerDefaultCapabilities];
  const granted = uid === 0 ? caps : [];
  return { bounding: caps, effective: granted, permitted: [...granted], inheritable: [], ambient: [] };
}

/** Each wanted limit lowered to the host's hard limit (soft never above hard). */
export function clampRlimits(wanted: readonly OciRlimit[], host: HostLimits): OciRlimit[] {
  return wanted.map((limit) => {
    const hostLimit = host.get(limit.type);
    const hard = hostLimit === undefined ? limit.hard : Math.min(limit.hard, hostLimit.hard);
    return { type: limit.type, soft: Math.min(limit.soft, hard), hard };
  });
}

/** /proc/<pid>/limits row names → OCI rlimit names. */
const procLimitNames: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses /proc/self/limits ("unlimited" becomes Infinity); unknown rows are skipped. */
export function parseProcLimits(text: string): Map<string, HostLimit> {
  const limits = new Map<string, HostLimit>();
  for (const line of text.split('\n')) {
    const match = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!match) continue;
    const type = procLimitNames[match[1] as string];
    if (type === undefined) continue;
    const value = (s: string): number => (s === 'unlimited' ? Infinity : Number(s));
    const soft = value(match[2] as string);
    const hard = value(match[3] as string);
    if (Number.isNaN(soft) || Number.isNaN(hard)) continue;
    limits.set(type, { soft, hard });
  }
  return limits;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const isId = (s: string): boolean => /^\d+$/.test(s) && Number(s) <= 0xffffffff;

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || !isId(f[2] ?? '') || !isId(f[3] ?? '')) continue;
    out.push({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#') || !isId(f[2] ?? '')) continue;
    const members = (f[3] ?? '').split(',').filter((m) => m !== '');
    out.push({ name: f[0] as string, gid: Number(f[2]), members });
  }
  return out;
}

/** The rootfs's account files; undefined when the image has none. */
export interface AccountFiles {
  passwd?: string;
  group?: string;
}

/**
 * A USER value ("", "name", "1000", "name:group", "1000:1000") → uid, gid and
 * supplementary groups, the way runc's GetExecUser reads the rootfs's files: a name must
 * exist in /etc/passwd, a number need not; without a group the user's primary group
 * applies (0 for an unknown uid) and the groups listing the user by name are added.
 */
export function resolveUser(user: string, files: AccountFiles): OciUser {
  const [userPart = '', groupPart] = user.split(':', 2) as [string, string | undefined];
  const passwd = parsePasswd(files.passwd ?? '');
  // No USER is uid 0, which needs no /etc/passwd (an image built FROM scratch has none).
  const name = userPart === '' ? '0' : userPart;
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isId(name)) {
    uid = Number(name);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === name);
    if (entry === undefined) {
      throw notFound(`unable to find user ${name}: no matching entry in the image's /etc/passwd`, {
        field: 'USER',
        value: user,
      });
    }
    uid = entry.uid;
  }
  const groups = parseGroup(files.group ?? '');
  if (groupPart !== undefined && groupPart !== '') {
    return { uid, gid: resolveGroupId(groupPart, groups, 'USER', user) };
  }
  const gid = entry?.gid ?? 0;
  const member = entry?.name;
  const additionalGids =
    member === undefined
      ? []
      : [...new Set(groups.filter((g) => g.members.includes(member) && g.gid !== gid).map((g) => g.gid))];
  return additionalGids.length > 0 ? { uid, gid, additionalGids } : { uid, gid };
}

function resolveGroupId(group: string, groups: GroupEntry[], field: string, value: string): number {
  if (isId(group)) return Number(group);
  const found = groups.find((g) => g.name === group);
  if (found === undefined) {
    throw notFound(`unable to find group ${group}: no matching entry in the image's /etc/group`, {
      field,
      value,
    });
  }
  return found.gid;
}

/**
 * COPY/ADD --chown=user[:group] → uid:gid. Docker's rule differs from USER's: without a
 * group the gid is the uid (not the user's primary group).
 */
export function resolveChown(chown: string, files: AccountFiles): { uid: number; gid: number } {
  const [userPart = '', groupPart] = chown.split(':', 2) as [string, string | undefined];
  let uid: number;
  if (isId(userPart)) uid = Number(userPart);
  else {
    const entry = parsePasswd(files.passwd ?? '').find((p) => p.name === userPart);
    if (entry === undefined) {
      throw notFound(`unable to find user ${userPart}: no matching entry in the image's /etc/passwd`, {
        field: '--chown',
        value: chown,
      });
    }
    uid = entry.uid;
  }
  if (groupPart === undefined || groupPart === '') return { uid, gid: uid };
  return { uid, gid: resolveGroupId(groupPart, parseGroup(files.group ?? ''), '--chown', chown) };
}
