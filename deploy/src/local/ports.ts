// Is a loopback port free, and if not, who holds it? Answered before starting anything,
// so a clash is one clear message instead of a component dying in its log.
import { createServer } from 'node:net';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { readCmdline } from './procs.js';

export interface PortHolder {
  pid: number;
  command: string;
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return canListen(port, host);
}

/** Socket inodes listening on port, from /proc/net/tcp{,6} text. Pure. */
export function listeningInodes(procNetTcp: string, port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes: string[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (!local || fields[3] !== '0A') continue;
    if (local.slice(local.lastIndexOf(':') + 1) === hexPort && fields[9]) inodes.push(fields[9]);
  }
  return inodes;
}

/** The process listening on port, when /proc lets us see it. */
export async function findPortHolder(port: number): Promise<PortHolder | undefined> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const inode of listeningInodes(text, port)) inodes.add(`socket:[${inode}]`);
  }
  if (inodes.size === 0) return undefined;
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (inodes.has(target)) {
        const cmdline = await readCmdline(Number(pid));
        return { pid: Number(pid), command: (cmdline ?? ['?']).join(' ') };
      }
    }
  }
  return undefined;
}
