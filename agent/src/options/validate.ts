// Validators for flag values. Each returns the normalised value or throws a UsageError
// that names the flag, repeats the value and says what would be valid.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { type LogLevel, validateDnsSubdomain } from '@flotilla/common';
import { UsageError } from './usage-error.js';

function invalid(flag: string, value: string, valid: string): UsageError {
  return new UsageError(`${flag} "${value}" is not valid: ${valid}`, { field: flag, value });
}

const hostnamePattern = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/;

/** "host:port" or "[v6]:port", the form gRPC dials. */
export function parseHostPort(flag: string, value: string): string {
  const valid = 'want HOST:PORT, e.g. 10.0.0.5:7443, controller.example:7443 or [fd00::1]:7443';
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (!m) throw invalid(flag, value, valid);
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (m[1] !== undefined && isIP(host) !== 6)
    throw invalid(flag, value, `${host} is not an IPv6 address; ${valid}`);
  // All-numeric dotted hosts must be real IPv4 addresses: DNS would never resolve 999.1.1.1.
  const looksNumeric = /^[\d.]+$/.test(host);
  if (m[2] !== undefined && isIP(host) === 0 && (looksNumeric || !hostnamePattern.test(host))) {
    throw invalid(flag, value, `${host} is neither an IP address nor a host name; ${valid}`);
  }
  if (port < 1 || port > 65535) throw invalid(flag, value, `port must be 1..65535; ${valid}`);
  return value;
}

/** The host part of a validated "host:port", without IPv6 brackets. */
export function hostOf(hostPort: string): string {
  const at = hostPort.lastIndexOf(':');
  return hostPort.slice(0, at).replace(/^\[(.*)\]$/, '$1');
}

export function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}

const durationUnits: Record<string, number> = { ms: 1, s: 1_000, m: 60_000 };

/** "500ms", "1s", "1.5s", "2m". */
export function parseDuration(flag: string, value: string, minMs: number, maxMs: number): number {
  const valid = `want a duration from ${minMs}ms to ${maxMs / 1000}s, e.g. 500ms, 1s or 2.5s`;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
  if (!m) throw invalid(flag, value, valid);
  const ms = Math.round(Number(m[1]) * (durationUnits[m[2] ?? 's'] ?? 1_000));
  if (ms < minMs || ms > maxMs) throw invalid(flag, value, valid);
  return ms;
}

/** Comma-separated nats:// (or tls://) URLs. */
export function parseNatsUrls(flag: string, value: string): string[] {
  const valid = 'want one or more comma-separated URLs like nats://127.0.0.1:4222';
  const urls = value.split(',').map((s) => s.trim());
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw invalid(flag, value, `"${u}" is not a URL; ${valid}`);
    }
    if (!['nats:', 'tls:'].includes(parsed.protocol) || parsed.hostname === '') {
      throw invalid(flag, value, `"${u}" must be nats://HOST:PORT or tls://HOST:PORT; ${valid}`);
    }
  }
  return urls;
}

/** "sha256:<64 hex>", as `deploy token create` prints it. */
export function parseCaCertHash(flag: string, value: string): string {
  const normalised = value.toLowerCase();
  if (!/^sha256:[0-9a-f]{64}$/.test(normalised)) {
    throw invalid(flag, value, 'want sha256: followed by 64 hex digits, as "deploy token create" prints it');
  }
  return normalised;
}

/** Checked locally so that a typo fails fast; the controller decides whether it is good. */
export function parseJoinToken(flag: string, value: string): string {
  if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(value)) {
    // The secret half is never echoed back.
    const shown = value.includes('.') ? `${value.slice(0, value.indexOf('.'))}.…` : '…';
    throw new UsageError(
      `${flag} "${shown}" is not valid: want <id>.<secret>, 6 and 16 characters of [a-z0-9], as "deploy token create" prints it`,
      { field: flag },
    );
  }
  return value;
}

export function parseIpAddress(flag: string, value: string): string {
  if (isIP(value) === 0) throw invalid(flag, value, 'want an IPv4 or IPv6 address, e.g. 10.0.0.5');
  return value;
}

export function parseNodeName(flag: string, value: string): string {
  const problem = validateDnsSubdomain(value);
  if (problem) throw invalid(flag, value, `a node name ${problem} (a DNS-1123 subdomain, e.g. worker-1)`);
  return value;
}

export function parsePath(flag: string, value: string): string {
  if (value.trim() === '') throw invalid(flag, value, 'want a file or directory path');
  return resolve(value);
}

const logLevels: LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function parseLogLevelFlag(flag: string, value: string): LogLevel {
  if (!(logLevels as string[]).includes(value))
    throw invalid(flag, value, `want one of ${logLevels.join(', ')}`);
  return value as LogLevel;
}

/** A whole percentage, 0..100. */
export function parsePercent(flag: string, value: string): number {
  if (!/^\d{1,3}$/.test(value) || Number(value) > 100) {
    throw invalid(flag, value, 'want a whole number of percent from 0 to 100, e.g. 85');
  }
  return Number(value);
}

const registryHostPattern =
  /^(?:[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;

/** A registry as image references name it: "HOST[:PORT]", no scheme and no path. */
export function parseRegistryHost(flag: string, value: string): string {
  const valid = 'want a registry HOST[:PORT] without scheme or path, e.g. 127.0.0.1:5000 or registry.example';
  if (!registryHostPattern.test(value)) throw invalid(flag, value, valid);
  const port = /:(\d+)$/.exec(value)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw invalid(flag, value, `port must be 1..65535; ${valid}`);
  }
  return value.toLowerCase();
}
