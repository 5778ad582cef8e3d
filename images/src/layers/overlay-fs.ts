// The overlay file-system conventions a layer meets on disk, and the few operations Node
// cannot do itself (mknod, mkfifo, extended attributes), run through Debian's coreutils and
// attr tools in one process per batch rather than one per file.
import { spawn } from 'node:child_process';
import type { Stats } from 'node:fs';
import { FlotillaError } from '@flotilla/common';

/** OCI layer: a file named ".wh.<name>" deletes <name> from the layers below. */
export const whiteoutPrefix = '.wh.';
/** OCI layer: this entry in a directory hides everything the layers below hold in it. */
export const opaqueMarker = '.wh..wh..opq';
/** overlayfs: a directory with this attribute set to "y" hides the lower layers' content. */
export const opaqueXattr = 'trusted.overlay.opaque';

/** overlayfs' whiteout: a character device with device number 0:0. */
export function isOverlayWhiteout(stat: Pick<Stats, 'isCharacterDevice' | 'rdev'>): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0;
}

export interface OverlayAttrs {
  opaque: boolean;
  /** Set by overlayfs when a directory was renamed with redirect_dir=on. */
  redirect?: string;
  /** Set by overlayfs for a metadata-only copy-up (metacopy=on): the data is still below. */
  metacopy: boolean;
}

async function runTool(command: string, args: string[], input: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) =>
      reject(
        new FlotillaError(
          'FailedPrecondition',
          `could not run ${command}: ${err.message}`,
          { object: command },
          {
            cause: err,
          },
        ),
      ),
    );
    child.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new FlotillaError(
            'Internal',
            `${command} ${args.join(' ')} failed (exit ${code}): ${stderr.trim()}`,
            {
              object: command,
            },
          ),
        );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** NUL-separated, for xargs -0: the one byte no path can hold. */
function nulList(paths: string[]): Buffer {
  return Buffer.from(paths.map((p) => `${p}\0`).join(''), 'utf8');
}

/** Creates overlay whiteouts (0:0 character devices) at the given absolute paths. */
export async function makeWhiteouts(paths: string[]): Promise<void> {
  if (paths.length === 0) return;
  await runTool('xargs', ['-0', '-r', '-I', '{}', 'mknod', '--', '{}', 'c', '0', '0'], nulList(paths));
}

/** Creates named pipes at the given absolute paths (modes and owners are set afterwards). */
export async function makeFifos(paths: string[]): Promise<void> {
  if (paths.length === 0) return;
  await runTool('xargs', ['-0', '-r', 'mkfifo', '--'], nulList(paths));
}

/** Marks the given directories opaque (trusted.overlay.opaque=y); needs CAP_SYS_ADMIN. */
export async function markOpaque(dirs: string[]): Promise<void> {
  if (dirs.length === 0) return;
  await runTool('xargs', ['-0', '-r', 'setfattr', '-h', '-n', opaqueXattr, '-v', 'y', '--'], nulList(dirs));
}

/** getfattr escapes a name's backslashes and control bytes as \ooo octal. */
function unescapeGetfattrName(name: string): string {
  if (!name.includes('\\')) return name;
  const bytes: number[] = [];
  const raw = Buffer.from(name, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    const oct = raw.subarray(i + 1, i + 4).toString('latin1');
    if (b === 0x5c && /^[0-7]{3}$/.test(oct)) {
      bytes.push(Number.parseInt(oct, 8));
      i += 3;
    } else bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}

function unquoteValue(value: string): string {
  const quoted = /^"(.*)"$/.exec(value);
  return quoted ? unescapeGetfattrName(quoted[1]!) : value;
}

/**
 * Parses `getfattr -R -P -h --absolute-names -d -m '^trusted\.overlay\.' -e text` output into
 * the overlay attributes of each path that has any.
 */
export function parseOverlayAttrDump(dump: string): Map<string, OverlayAttrs> {
  const result = new Map<string, OverlayAttrs>();
  let current: OverlayAttrs | undefined;
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = { opaque: false, metacopy: false };
      result.set(unescapeGetfattrName(line.slice('# file: '.length)), current);
      continue;
    }
    if (current === undefined || line === '') continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    const value = eq < 0 ? '' : unquoteValue(line.slice(eq + 1));
    if (name === opaqueXattr) current.opaque = value === 'y';
    else if (name === 'trusted.overlay.redirect') current.redirect = value;
    else if (name === 'trusted.overlay.metacopy') current.metacopy = true;
  }
  return result;
}

/** The overlay attributes under dir (absolute paths), read in one pass without following symlinks. */
export async function readOverlayAttrs(dir: string): Promise<Map<string, OverlayAttrs>> {
  const dump = await runTool(
    'getfattr',
    ['-R', '-P', '-h', '--absolute-names', '-d', '-m', '^trusted\\.overlay\\.', '-e', 'text', '--', dir],
    '',
  );
  return parseOverlayAttrDump(dump);
}
