// Turning what the host calls itself into names the cluster accepts.

function tidy(text: string, maxLength: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .split('.')
    .map((part) => part.replace(/^-+|-+$/g, ''))
    .filter((part) => part !== '')
    .join('.')
    .slice(0, maxLength)
    .replace(/[.-]+$/, '');
}

/** The default node name: the host name made a DNS-1123 subdomain ("My_Host.lan" → "my-host.lan"). */
export function nodeNameFromHostname(hostname: string): string {
  return tidy(hostname, 253) || 'node';
}

/** The host name as a label value (at most 63 characters). */
export function labelValueFromHostname(hostname: string): string {
  return tidy(hostname, 63) || 'unknown';
}
