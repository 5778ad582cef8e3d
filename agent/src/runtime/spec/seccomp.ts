// The containers-common / Docker seccomp profile format (archMap, includes/excludes by
// architecture and capability) → the OCI linux.seccomp that runc reads. Pure, following
// moby's profiles/seccomp setupSeccomp: a rule applies when its includes match and its
// excludes do not, for the host's architecture and the container's bounding capabilities.
import { invalidArgument } from '@flotilla/common';
import type { OciSeccomp, OciSeccompArg, OciSeccompSyscall } from './types.js';

interface ProfileFilter {
  arches?: string[];
  caps?: string[];
  minKernel?: string;
}

export interface SeccompProfileSyscall {
  names?: string[];
  name?: string;
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  includes?: ProfileFilter;
  excludes?: ProfileFilter;
}

/** /usr/share/containers/seccomp.json as written (Docker's profile format). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[] | null;
  syscalls?: SeccompProfileSyscall[] | null;
}

/** Go's GOARCH names (used by the profile's includes) → libseccomp's native arch. */
const nativeArch: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  x86: 'SCMP_ARCH_X86',
  '386': 'SCMP_ARCH_X86',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
};

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Checks the shape of a parsed profile, naming the first field that is wrong. */
export function parseSeccompProfile(value: unknown, source: string): SeccompProfile {
  const fail = (field: string, want: string): never => {
    throw invalidArgument(`seccomp profile ${source}: ${field} must be ${want}`, { object: source, field });
  };
  if (typeof value !== 'object' || value === null) return fail('the document', 'a JSON object');
  const doc = value as Record<string, unknown>;
  if (typeof doc.defaultAction !== 'string') fail('defaultAction', 'a string such as "SCMP_ACT_ERRNO"');
  if (doc.syscalls !== undefined && doc.syscalls !== null && !Array.isArray(doc.syscalls)) {
    fail('syscalls', 'a list');
  }
  const syscalls = (doc.syscalls ?? []) as unknown[];
  syscalls.forEach((entry, i) => {
    if (typeof entry !== 'object' || entry === null) return fail(`syscalls[${i}]`, 'an object');
    const call = entry as Record<string, unknown>;
    if (typeof call.action !== 'string') fail(`syscalls[${i}].action`, 'a string');
    if (call.names !== undefined && !isStringArray(call.names))
      fail(`syscalls[${i}].names`, 'a list of names');
    return undefined;
  });
  return doc as unknown as SeccompProfile;
}

function matches(filter: ProfileFilter | undefined, arch: string, caps: ReadonlySet<string>): boolean {
  if (filter === undefined) return true;
  if (filter.arches !== undefined && filter.arches.length > 0 && !filter.arches.includes(arch)) return false;
  if (filter.caps !== undefined && filter.caps.some((c) => !caps.has(c))) return false;
  return true;
}

function excluded(filter: ProfileFilter | undefined, arch: string, caps: ReadonlySet<string>): boolean {
  if (filter === undefined) return false;
  if (filter.arches?.includes(arch) === true) return true;
  return filter.caps?.some((c) => caps.has(c)) === true;
}

/**
 * The OCI form of `profile` for a container on `arch` (GOARCH) with `capabilities` in its
 * bounding set. A profile already in OCI form (architectures, no archMap) passes through.
 */
export function seccompForContainer(
  profile: SeccompProfile,
  arch: string,
  capabilities: readonly string[],
): OciSeccomp {
  const caps = new Set(capabilities);
  const native = nativeArch[arch];
  const architectures: string[] = [...(profile.architectures ?? [])];
  for (const entry of profile.archMap ?? []) {
    if (entry.architecture === native)
      architectures.push(entry.architecture, ...(entry.subArchitectures ?? []));
  }
  const syscalls: OciSeccompSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    if (!matches(call.includes, arch, caps) || excluded(call.excludes, arch, caps)) continue;
    const names = call.names ?? (call.name !== undefined ? [call.name] : []);
    if (names.length === 0) continue;
    syscalls.push({
      names: [...names],
      action: call.action,
      ...(call.errnoRet !== undefined ? { errnoRet: call.errnoRet } : {}),
      ...(call.args !== undefined && call.args !== null && call.args.length > 0
        ? { args: call.args.map((a) => ({ ...a })) }
        : {}),
    });
  }
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures: [...new Set(architectures)],
    syscalls,
  };
}
