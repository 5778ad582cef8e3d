// Manifest documents as registries serve them: OCI and Docker schema-2 manifests, OCI
// indexes and Docker manifest lists. Pure: bytes in, checked data out.
import { FlotillaError } from '@flotilla/common';
import { parseDigest } from '../content/digest.js';
import { mediaTypes, type Descriptor, type ImageIndex, type ImageManifest } from '../types.js';

/** What a registry may answer for a manifest request, best first. */
export const manifestAccept = [
  mediaTypes.ociIndex,
  mediaTypes.ociManifest,
  mediaTypes.dockerManifestList,
  mediaTypes.dockerManifest,
];

const indexTypes = new Set<string>([mediaTypes.ociIndex, mediaTypes.dockerManifestList]);
const manifestTypes = new Set<string>([mediaTypes.ociManifest, mediaTypes.dockerManifest]);

export function isIndexMediaType(mediaType: string): boolean {
  return indexTypes.has(mediaType);
}

export function isManifestMediaType(mediaType: string): boolean {
  return manifestTypes.has(mediaType);
}

export type ManifestDocument =
  | { kind: 'index'; mediaType: string; index: ImageIndex }
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest };

function bad(what: string, problem: string): FlotillaError {
  return new FlotillaError('InvalidArgument', `manifest of ${what} is not valid: ${problem}`, {
    object: `image/${what}`,
  });
}

function checkDescriptor(value: unknown, field: string, what: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (typeof d !== 'object' || d === null) throw bad(what, `${field} is not a descriptor`);
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw bad(what, `${field}.mediaType is missing`);
  if (typeof d.digest !== 'string') throw bad(what, `${field}.digest is missing`);
  parseDigest(d.digest, `${field}.digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw bad(what, `${field}.size must be a whole number of bytes`);
  }
  return d as Descriptor;
}

/**
 * Parses a manifest or index. The media type comes from the document itself, else from
 * the Content-Type the registry sent; schema 1 manifests are refused.
 */
export function parseManifestDocument(
  bytes: Buffer,
  contentType: string | undefined,
  what: string,
): ManifestDocument {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad(what, 'it is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw bad(what, 'it is not a JSON object');
  if (doc.schemaVersion === 1) {
    throw bad(what, 'Docker schema 1 manifests are not supported; push the image again with a newer client');
  }
  if (doc.schemaVersion !== 2)
    throw bad(what, `schemaVersion must be 2, got ${JSON.stringify(doc.schemaVersion)}`);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  const mediaType =
    declared ??
    (header !== undefined && (isIndexMediaType(header) || isManifestMediaType(header))
      ? header
      : Array.isArray(doc.manifests)
        ? mediaTypes.ociIndex
        : mediaTypes.ociManifest);
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw bad(what, 'an index must have a "manifests" list');
    doc.manifests.forEach((m, i) => checkDescriptor(m, `manifests[${i}]`, what));
    return { kind: 'index', mediaType, index: doc as unknown as ImageIndex };
  }
  if (isManifestMediaType(mediaType)) {
    checkDescriptor(doc.config, 'config', what);
    if (!Array.isArray(doc.layers)) throw bad(what, 'a manifest must have a "layers" list');
    doc.layers.forEach((l, i) => checkDescriptor(l, `layers[${i}]`, what));
    return { kind: 'manifest', mediaType, manifest: doc as unknown as ImageManifest };
  }
  throw bad(what, `media type "${mediaType}" is not one of ${[...indexTypes, ...manifestTypes].join(', ')}`);
}
