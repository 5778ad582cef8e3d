// How the image commands print: `images` as docker prints it, pull and push progress
// lines, the prune report. Pure.
import { familiarName, referenceName, type Digest, type ImageReference } from '@flotilla/images';
import { dockerDuration } from '../format/age.js';
import { renderTable } from '../format/table.js';

/** Docker's short image ID: the first 12 hex digits of the config digest. */
export function shortId(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1).slice(0, 12);
}

/** Sizes as docker prints them (go-units HumanSize): decimal units, 3 significant digits. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  // Rounding may reach the next unit (999 999 B is 1MB, not 1000kB).
  while (unit < units.length - 1 && Number(value.toPrecision(3)) >= 1000) {
    value /= 1000;
    unit++;
  }
  const text = unit === 0 ? String(Math.round(value)) : String(Number(value.toPrecision(3)));
  return `${text}${units[unit]}`;
}

/** "2 hours ago", as docker's CREATED column (go-units HumanDuration). */
export function createdAgo(created: string | undefined, now: Date): string {
  if (created === undefined) return 'N/A';
  const at = Date.parse(created);
  if (Number.isNaN(at)) return 'N/A';
  return `${dockerDuration(now.getTime() - at)} ago`;
}

/** Repository as docker shows it: "busybox", "team/web", "127.0.0.1:5000/examples/web". */
export function repositoryOf(ref: ImageReference): string {
  const name = referenceName(ref);
  if (!name.startsWith('docker.io/')) return name;
  const path = name.slice('docker.io/'.length);
  const rest = path.slice('library/'.length);
  return path.startsWith('library/') && !rest.includes('/') ? rest : path;
}

/** One local image as `deploy images` lists it. */
export interface ImageSummary {
  ref: ImageReference;
  manifestDigest: Digest;
  /** Undefined when the config blob is missing from the content store. */
  configDigest?: Digest;
  created?: string;
  /** Bytes of the config and the (compressed) layers. */
  size: number;
}

export interface ImagesTableOptions {
  digests: boolean;
  now: Date;
}

export function imagesTable(images: readonly ImageSummary[], options: ImagesTableOptions): string {
  const headers = options.digests
    ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE']
    : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
  const rows = images.map((image) => {
    const cells = [repositoryOf(image.ref), image.ref.tag ?? '<none>'];
    if (options.digests) cells.push(image.manifestDigest);
    cells.push(
      image.configDigest === undefined ? '<missing>' : shortId(image.configDigest),
      createdAgo(image.created, options.now),
      humanSize(image.size),
    );
    return cells;
  });
  return renderTable(headers, rows);
}

/** `images -q`: each image ID once, in table order. */
export function imageIds(images: readonly ImageSummary[]): string {
  const ids = [...new Set(images.map((i) => (i.configDigest === undefined ? '' : shortId(i.configDigest))))];
  return ids
    .filter((id) => id !== '')
    .map((id) => `${id}\n`)
    .join('');
}

// ---- pull and push progress --------------------------------------------------------

/** The lines docker prints before a pull's layers. */
export function pullHeader(ref: ImageReference, tagGiven: boolean): string[] {
  const lines: string[] = [];
  if (!tagGiven && ref.digest === undefined) lines.push(`Using default tag: ${ref.tag ?? 'latest'}`);
  const what = ref.digest ?? ref.tag ?? 'latest';
  lines.push(`${what}: Pulling from ${repositoryOf(ref)}`);
  return lines;
}

/** One line per layer: stored before the pull, or fetched by it. */
export function pullLayerLines(layers: readonly Digest[], existedBefore: ReadonlySet<Digest>): string[] {
  return layers.map((d) => `${shortId(d)}: ${existedBefore.has(d) ? 'Already exists' : 'Pull complete'}`);
}

export function pullFooter(ref: ImageReference, digest: Digest, upToDate: boolean): string[] {
  return [
    `Digest: ${digest}`,
    `Status: ${upToDate ? 'Image is up to date for' : 'Downloaded newer image for'} ${familiarName(ref)}`,
    ref.canonical,
  ];
}

export type PushAction = 'exists' | 'mounted' | 'uploaded';

/** docker push's per-layer lines. */
export function pushLayerLine(digest: Digest, action: PushAction, from?: string): string {
  switch (action) {
    case 'exists':
      return `${shortId(digest)}: Layer already exists`;
    case 'mounted':
      return `${shortId(digest)}: Mounted from ${from ?? 'another repository'}`;
    case 'uploaded':
      return `${shortId(digest)}: Pushed`;
  }
}

export function pushHeader(ref: ImageReference): string {
  return `The push refers to repository [${repositoryOf(ref)}]`;
}

export function pushFooter(ref: ImageReference, digest: Digest, size: number): string {
  return `${ref.tag ?? digest}: digest: ${digest} size: ${size}`;
}
