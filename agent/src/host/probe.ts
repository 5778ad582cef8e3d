// Reads the host: the only I/O behind HostFacts, MemoryInfo and CpuTimes.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import { goArch } from '@flotilla/images';
import { parseMeminfo, parseOsRelease, parseProcStat, parseRuncVersion } from './parse.js';
import type { CpuTimes, HostFacts, MemoryInfo } from './types.js';

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function runcVersion(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('runc', ['--version'], { timeout: 5_000 }, (err, stdout) => {
      resolve(err ? undefined : parseRuncVersion(stdout));
    });
  });
}

let agentVersionCache: string | undefined;

/** The version in this package's package.json (dist/host/probe.js → ../../package.json). */
export async function agentVersion(): Promise<string> {
  if (agentVersionCache === undefined) {
    const text = await readText(new URL('../../package.json', import.meta.url).pathname);
    let version = '0.0.0';
    try {
      const parsed: unknown = text ? JSON.parse(text) : undefined;
      if (
        typeof parsed === 'object' &&
        parsed !== null &&
        'version' in parsed &&
        typeof parsed.version === 'string'
      ) {
        version = parsed.version;
      }
    } catch {
      // keep the fallback: a broken package.json must not stop the agent
    }
    agentVersionCache = version;
  }
  return agentVersionCache;
}

function ipv4Addresses(): string[] {
  const out: string[] = [];
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) out.push(a.address);
    }
  }
  return out;
}

export async function readMemoryInfo(): Promise<MemoryInfo | undefined> {
  const text = await readText('/proc/meminfo');
  return text === undefined ? undefined : parseMeminfo(text);
}

export async function readCpuTimes(): Promise<CpuTimes | undefined> {
  const text = await readText('/proc/stat');
  return text === undefined ? undefined : parseProcStat(text);
}

export async function probeHost(): Promise<HostFacts> {
  const [meminfo, osRelease, machineId, bootId, runc, version] = await Promise.all([
    readMemoryInfo(),
    readText('/etc/os-release'),
    readText('/etc/machine-id'),
    readText('/proc/sys/kernel/random/boot_id'),
    runcVersion(),
    agentVersion(),
  ]);
  const facts: HostFacts = {
    hostname: os.hostname(),
    cpuCount: os.cpus().length || os.availableParallelism(),
    memoryTotalBytes: meminfo?.totalBytes ?? os.totalmem(),
    kernelVersion: os.release(),
    osImage: osRelease === undefined ? 'Linux' : parseOsRelease(osRelease),
    operatingSystem: os.platform(),
    architecture: goArch(process.arch),
    machineID: machineId?.trim() ?? '',
    bootID: bootId?.trim() ?? '',
    ipv4Addresses: ipv4Addresses(),
    agentVersion: version,
  };
  if (runc !== undefined) facts.runcVersion = runc;
  return facts;
}
