// Parsing and validation of flag values. Each error names the flag, the value and what
// would be valid.
import { isIP } from 'node:net';
import { invalidArgument, joinHostPort } from '@flotilla/common';

export interface HostPort {
  host: string;
  port: number;
}

const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "500ms", "5s", "1m", "1h30m" → milliseconds. */
export function parseDuration(flag: string, value: string, range?: { minMs: number; maxMs: number }): number {
  const bad = (why: string): never => {
    throw invalidArgument(`${flag} "${value}" ${why}`, { field: flag, value });
  };
  const text = value.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text))
    bad('is not a duration: use a number with a unit, such as 500ms, 5s, 1m or 1h30m');
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    ms += Number(m[1]) * (unitMs[m[2] ?? 's'] ?? 1_000);
  ms = Math.round(ms);
  if (range && (ms < range.minMs || ms > range.maxMs)) {
    bad(
      `is out of range: it must be between ${formatDuration(range.minMs)} and ${formatDuration(range.maxMs)}`,
    );
  }
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/** "127.0.0.1:7443", "[::1]:7443", "controller.example:7443". */
export function parseHostPort(
  flag: string,
  value: string,
  options: { allowPortZero?: boolean } = {},
): HostPort {
  const bad = (why: string): never => {
    throw invalidArgument(`${flag} "${value}" ${why}`, { field: flag, value });
  };
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(value.trim());
  if (!m) return bad('must be host:port, such as 127.0.0.1:7443 or [::1]:7443');
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(host) !== 6) bad(`has "${host}" in brackets, which is not an IPv6 address`);
  if (host === '') bad('has no host: use 0.0.0.0:PORT to listen on every interface');
  if (m[2] !== undefined && isIP(host) === 0 && !/^[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?$/.test(host)) {
    bad(`has "${host}", which is neither an IP address nor a host name`);
  }
  const port = Number(m[3]);
  const min = options.allowPortZero ? 0 : 1;
  if (!Number.isInteger(port) || port < min || port > 65535) bad(`has port ${m[3]}; a port is ${min}..65535`);
  return { host, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return joinHostPort(host, port);
}

/** A comma-separated list of URLs with one of the schemes. */
export function parseUrls(flag: string, value: string, schemes: readonly string[]): string[] {
  const urls = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (urls.length === 0) {
    throw invalidArgument(
      `${flag} is empty: give one or more ${schemes[0]}://host:port URLs, comma-separated`,
      {
        field: flag,
        value,
      },
    );
  }
  for (const url of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (
      !parsed ||
      !schemes.includes(parsed.protocol.replace(/:$/, '')) ||
      parsed.hostname === '' ||
      parsed.port === ''
    ) {
      throw invalidArgument(
        `${flag} has "${url}", which is not a URL like ${schemes[0]}://127.0.0.1:PORT (schemes: ${schemes.join(', ')})`,
        { field: flag, value: url },
      );
    }
  }
  return urls;
}

/** host:port of a URL (for nats-server's listen address derived from --nats-url). */
export function hostPortOfUrl(url: string): HostPort {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) };
}
