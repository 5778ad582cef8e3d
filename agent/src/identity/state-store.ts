// The state directory: the node's keys, certificates and node.json. Every file is
// written to a temporary name, flushed and renamed, so a crash leaves the old file or
// the new one, never half of one. node.json is written last: its presence marks a
// finished join.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '@flotilla/common';
import type { NodeIdentity, NodeRecord, StoredIdentity } from './types.js';

export const stateFiles = {
  key: 'node.key',
  cert: 'node.crt',
  ca: 'ca.crt',
  natsSeed: 'nats.seed',
  natsJwt: 'nats.jwt',
  record: 'node.json',
} as const;

const secret = 0o600;
const visible = 0o644;

export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename must survive a power cut too: flush the directory entry.
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function ensureStateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // An existing directory may have been made by hand with looser rights.
  await chmod(dir, 0o700);
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

export function parseNodeRecord(text: string, source: string): NodeRecord {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw failedPrecondition(
      `${source} is not valid JSON (${(err as Error).message}); remove the state directory and join again`,
    );
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  for (const field of ['nodeName', 'controller', 'joinedAt'] as const) {
    if (typeof d[field] !== 'string' || d[field] === '') {
      throw failedPrecondition(`${source}: field "${field}" must be a non-empty string`, { field });
    }
  }
  if (!isStringArray(d.natsUrls)) {
    throw failedPrecondition(`${source}: field "natsUrls" must be a list of strings`, { field: 'natsUrls' });
  }
  if (d.podCIDR !== undefined && typeof d.podCIDR !== 'string') {
    throw failedPrecondition(`${source}: field "podCIDR" must be a string`, { field: 'podCIDR' });
  }
  return {
    nodeName: d.nodeName as string,
    controller: d.controller as string,
    natsUrls: d.natsUrls,
    joinedAt: d.joinedAt as string,
    ...(typeof d.podCIDR === 'string' && d.podCIDR !== '' ? { podCIDR: d.podCIDR } : {}),
  };
}

export async function readIdentity(dir: string): Promise<StoredIdentity> {
  const texts = {
    keyPem: await readOptional(join(dir, stateFiles.key)),
    certPem: await readOptional(join(dir, stateFiles.cert)),
    caPem: await readOptional(join(dir, stateFiles.ca)),
    natsSeed: await readOptional(join(dir, stateFiles.natsSeed)),
    natsJwt: await readOptional(join(dir, stateFiles.natsJwt)),
    record: await readOptional(join(dir, stateFiles.record)),
  };
  const names: Record<keyof typeof texts, string> = {
    keyPem: stateFiles.key,
    certPem: stateFiles.cert,
    caPem: stateFiles.ca,
    natsSeed: stateFiles.natsSeed,
    natsJwt: stateFiles.natsJwt,
    record: stateFiles.record,
  };
  const missing = (Object.keys(texts) as (keyof typeof texts)[])
    .filter((k) => texts[k] === undefined || texts[k].trim() === '')
    .map((k) => names[k]);
  if (missing.length === Object.keys(texts).length) return { state: 'absent' };
  if (missing.length > 0) return { state: 'partial', missing };
  const record = parseNodeRecord(texts.record ?? '', join(dir, stateFiles.record));
  return {
    state: 'complete',
    identity: {
      ...record,
      keyPem: texts.keyPem ?? '',
      certPem: texts.certPem ?? '',
      caPem: texts.caPem ?? '',
      natsSeed: (texts.natsSeed ?? '').trim(),
      natsJwt: (texts.natsJwt ?? '').trim(),
    },
  };
}

function recordOf(identity: NodeRecord): NodeRecord {
  return {
    nodeName: identity.nodeName,
    controller: identity.controller,
    natsUrls: identity.natsUrls,
    joinedAt: identity.joinedAt,
    ...(identity.podCIDR !== undefined ? { podCIDR: identity.podCIDR } : {}),
  };
}

export async function writeNodeRecord(dir: string, record: NodeRecord): Promise<void> {
  await writeFileAtomic(
    join(dir, stateFiles.record),
    JSON.stringify(recordOf(record), null, 2) + '\n',
    visible,
  );
}

export async function writeNatsJwt(dir: string, jwt: string): Promise<void> {
  await writeFileAtomic(join(dir, stateFiles.natsJwt), jwt + '\n', visible);
}

/** Writes a fresh identity; node.json last, so only a finished join counts. */
export async function writeIdentity(dir: string, identity: NodeIdentity): Promise<void> {
  await ensureStateDir(dir);
  // A stale node.json from an earlier identity must not vouch for the new files.
  await rm(join(dir, stateFiles.record), { force: true });
  await writeFileAtomic(join(dir, stateFiles.key), identity.keyPem, secret);
  await writeFileAtomic(join(dir, stateFiles.cert), identity.certPem, visible);
  await writeFileAtomic(join(dir, stateFiles.ca), identity.caPem, visible);
  await writeFileAtomic(join(dir, stateFiles.natsSeed), identity.natsSeed + '\n', secret);
  await writeNatsJwt(dir, identity.natsJwt);
  await writeNodeRecord(dir, identity);
}
