// `deploy pull` and `deploy push` over the registry client, with docker's progress lines.
// The client does the work; this module decides what to say about it.
import {
  hostPlatform,
  parseReference,
  referenceName,
  selectPlatform,
  type Digest,
  type ImageRecord,
  type ImageReference,
  type PushResult,
} from '@flotilla/images';
import type { ImageSession } from './session.js';
import { pullFooter, pullHeader, pullLayerLines, pushFooter, pushHeader, pushLayerLine } from './format.js';

export interface PullOutcome {
  record: ImageRecord;
  /** The digest the reference resolved to on the registry (an index's, for a multi-platform image). */
  digest: Digest;
  layers: Digest[];
  /** Layers already stored before the pull. */
  existed: Set<Digest>;
  /** Nothing new: the name pointed at this manifest already and every layer was stored. */
  upToDate: boolean;
}

export async function pullImage(
  session: ImageSession,
  ref: ImageReference,
  options: { tagGiven: boolean; out?: (line: string) => void; signal?: AbortSignal },
): Promise<PullOutcome> {
  const { registry, local } = session;
  const say = options.out ?? ((): void => undefined);
  const signal = options.signal;
  say(pullHeader(ref, options.tagGiven).join('\n'));
  const before = await local.images.get(ref.canonical);
  // The manifest first, to tell which layers are here already (docker's "Already exists").
  const top = await registry.fetchManifest(ref, signal);
  let manifest = top.document;
  if (manifest.kind === 'index') {
    const chosen = selectPlatform(manifest.index.manifests, hostPlatform(), ref.canonical);
    manifest = (
      await registry.fetchManifest(parseReference(`${referenceName(ref)}@${chosen.digest}`), signal)
    ).document;
  }
  const layers = manifest.kind === 'manifest' ? manifest.manifest.layers.map((l) => l.digest) : [];
  const existed = new Set<Digest>();
  for (const digest of layers) if ((await local.content.info(digest)) !== undefined) existed.add(digest);

  const record = await registry.pull(ref, {
    content: local.content,
    images: local.images,
    ...(signal ? { signal } : {}),
  });
  const upToDate = before?.target.digest === record.target.digest && existed.size === layers.length;
  for (const line of pullLayerLines(layers, existed)) say(line);
  for (const line of pullFooter(ref, top.descriptor.digest, upToDate)) say(line);
  return { record, digest: top.descriptor.digest, layers, existed, upToDate };
}

export async function pushImage(
  session: ImageSession,
  ref: ImageReference,
  options: { out?: (line: string) => void; signal?: AbortSignal },
): Promise<PushResult> {
  const say = options.out ?? ((): void => undefined);
  say(pushHeader(ref));
  const { local, registry } = session;
  const result = await registry.push(ref, {
    content: local.content,
    images: local.images,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // The config travels as a blob too, but docker speaks only of layers.
  const manifest = JSON.parse((await local.content.read(result.target.digest)).toString('utf8')) as {
    config?: { digest?: string };
  };
  for (const blob of result.blobs) {
    if (blob.digest === manifest.config?.digest) continue;
    say(pushLayerLine(blob.digest, blob.action, blob.from));
  }
  say(pushFooter(ref, result.target.digest, result.target.size));
  return result;
}
