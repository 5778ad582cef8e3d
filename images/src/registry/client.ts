// The OCI distribution client: resolve, pull and push over the registry HTTP API, with the
// auth flow of ./authorizer.ts. Blobs land in the content store through its verifying
// ingest; a pull records the image's name only once everything it points to is stored.
import { createReadStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FlotillaError,
  createLogger,
  errorMessage,
  isFlotillaError,
  notFound,
  permissionDenied,
  unauthenticated,
  unavailable,
  type Logger,
} from '@flotilla/common';
import { digestOf } from '../content/digest.js';
import { dockerHubHost, dockerHubName, parseReference, referenceName } from '../reference/reference.js';
import type { Descriptor, Digest, ImageConfig, ImageRecord, ImageReference, Platform } from '../types.js';
import { Authorizer, repositoryScope, type Scope } from './authorizer.js';
import { HttpTransport, drain, header, readBody, type HttpRequest, type HttpResponse } from './http.js';
import { mapLimit } from './limit.js';
import { parseManifestDocument, manifestAccept, type ManifestDocument } from './manifest.js';
import { mountSources, type LocalImageBlobs } from './mount.js';
import { formatPlatform, hostPlatform, selectPlatform } from './platform.js';
import type {
  BlobPushAction,
  CredentialLookup,
  Credentials,
  PullOptions,
  PushOptions,
  PushResult,
  RegistryClientOptions,
  RegistryHostOptions,
} from './types.js';

const userAgent = 'flotilla/0.1';
const maxManifestBytes = 4 * 1024 * 1024;

/** Registries reached over plain HTTP unless configured otherwise: this host only. */
export function insecureByDefault(host: string): boolean {
  const name = host.startsWith('[')
    ? host.slice(1, host.indexOf(']'))
    : host.split(':').length > 2
      ? host // a bare IPv6 address has no port
      : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** The registry as people write it in messages and in `deploy login`. */
export function registryDisplayName(host: string): string {
  return host === dockerHubHost ? dockerHubName : host;
}

export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  document: ManifestDocument;
}

type Action = 'pull' | 'push';

interface RequestSpec extends Omit<HttpRequest, 'url'> {
  path?: string;
  url?: URL;
}

/** Skips the first n bytes of a stream: for a server that ignored our Range header. */
function skipBytes(stream: Readable, n: number): Readable {
  let left = n;
  const skipper = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (left >= chunk.length) {
        left -= chunk.length;
        callback();
        return;
      }
      const rest = chunk.subarray(left);
      left = 0;
      callback(null, rest);
    },
  });
  stream.once('error', (err) => skipper.destroy(err));
  return stream.pipe(skipper);
}

export class RegistryClient {
  private readonly hosts: Record<string, RegistryHostOptions>;
  private readonly credentials: CredentialLookup;
  private readonly log: Logger;
  private readonly transport: HttpTransport;
  private readonly auth: Authorizer;
  private readonly concurrency: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;

  constructor(options: RegistryClientOptions = {}) {
    this.hosts = options.hosts ?? {};
    this.credentials = options.credentials ?? (async () => undefined);
    this.log = options.logger ?? createLogger({ component: 'registry' });
    this.transport = new HttpTransport((host) => this.hosts[host], {
      ...(options.explicitTrust !== undefined ? { explicitTrust: options.explicitTrust } : {}),
      logger: this.log,
    });
    this.auth = new Authorizer(this.transport, this.credentials, this.log);
    this.concurrency = options.concurrency ?? 3;
    this.attempts = options.attempts ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 200;
  }

  /** Closes idle connections. */
  close(): void {
    this.transport.close();
  }

  /** "http" only for registries configured insecure (loopback by default) without a CA. */
  scheme(host: string): 'http' | 'https' {
    const options = this.hosts[host];
    if (options?.ca !== undefined || options?.caFile !== undefined) return 'https';
    return (options?.insecure ?? insecureByDefault(host)) ? 'http' : 'https';
  }

  private baseUrl(host: string): URL {
    return new URL(`${this.scheme(host)}://${host}/`);
  }

  private async request(
    host: string,
    scopes: Scope[],
    spec: RequestSpec,
    auth: Authorizer = this.auth,
  ): Promise<HttpResponse> {
    const { path, url: given, ...rest } = spec;
    const url = given ?? new URL(path ?? '/v2/', this.baseUrl(host));
    const used = await auth.authorization(host, scopes, spec.signal);
    const headers: Record<string, string> = { 'user-agent': userAgent, ...spec.headers };
    if (used !== undefined) headers.authorization = used;
    const res = await this.transport.send({ ...rest, url, headers });
    if (res.status !== 401) return res;
    const retry = await auth.challenged(
      host,
      scopes,
      header(res.headers, 'www-authenticate'),
      used,
      spec.signal,
    );
    if (retry === undefined) return res;
    await drain(res);
    return this.transport.send({ ...rest, url, headers: { ...headers, authorization: retry } });
  }

  /** Turns an unexpected answer into the error a person can act on; consumes the body. */
  private async responseError(
    res: HttpResponse,
    host: string,
    action: Action | 'login',
    subject: string,
  ): Promise<FlotillaError> {
    const text = (await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0))).toString('utf8');
    let detail = text.trim().slice(0, 300);
    try {
      const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      const messages = (parsed.errors ?? []).flatMap((e) => e.message ?? e.code ?? []);
      if (messages.length > 0) detail = messages.join('; ');
    } catch {
      // not the registry's JSON error form: keep the text
    }
    if (detail === '') detail = `HTTP ${res.status}`;
    const registry = registryDisplayName(host);
    const context = { object: subject, value: res.status };
    switch (res.status) {
      case 401: {
        const saved = (await this.credentials(host)) !== undefined;
        return unauthenticated(
          `${action} access denied for ${subject}: unauthorized` +
            (saved
              ? `; ${registry} refused the saved credentials (log in again with deploy login ${registry})`
              : ` (log in with deploy login ${registry})`),
          context,
        );
      }
      case 403:
        return permissionDenied(`${action} access denied for ${subject}: ${detail}`, context);
      case 404:
        return notFound(`${subject} not found: ${detail}`, context);
      case 408:
      case 429:
        return unavailable(`registry ${registry} is busy (${res.status}): ${detail}`, context);
      default:
        if (res.status >= 500)
          return unavailable(`registry ${registry} failed (${res.status}): ${detail}`, context);
        return new FlotillaError(
          'Internal',
          `registry ${registry} answered ${res.status} for ${subject}: ${detail}`,
          context,
        );
    }
  }

  /** Retries work that failed for want of a connection; resumable work resumes. */
  private async withRetries<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isFlotillaError(err, 'Unavailable') || attempt >= this.attempts || signal?.aborted) throw err;
        const delay = this.retryDelayMs * 2 ** (attempt - 1);
        this.log.warn('registry transfer failed; retrying', {
          what,
          attempt,
          delayMs: delay,
          error: errorMessage(err),
        });
        await sleep(delay, undefined, signal ? { signal } : {});
      }
    }
  }

  /** GET /v2/: whether the registry answers and accepts these credentials (or anonymous). */
  async checkLogin(
    registry: string,
    credentials: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const auth = new Authorizer(this.transport, async () => credentials, this.log);
    const res = await this.request(
      registry,
      [],
      { method: 'GET', path: '/v2/', ...(signal ? { signal } : {}) },
      auth,
    );
    if (res.status === 200) {
      await drain(res);
      return;
    }
    if (res.status === 401) {
      await drain(res);
      throw unauthenticated(
        `login to ${registryDisplayName(registry)} failed: ${credentials === undefined ? 'the registry requires credentials' : 'incorrect username or password'}`,
        { object: `registry/${registry}` },
      );
    }
    throw await this.responseError(res, registry, 'login', `registry ${registryDisplayName(registry)}`);
  }

  /** The manifest (or index) a reference names, fetched and checked against its digest. */
  async fetchManifest(ref: ImageReference, signal?: AbortSignal, scopes?: Scope[]): Promise<FetchedManifest> {
    const target = ref.digest ?? ref.tag ?? 'latest';
    const subject = ref.canonical;
    return this.withRetries(
      `manifest ${subject}`,
      async () => {
        const res = await this.request(ref.registry, scopes ?? [repositoryScope(ref.repository, ['pull'])], {
          method: 'GET',
          path: `/v2/${ref.repository}/manifests/${target}`,
          headers: { accept: manifestAccept.join(', ') },
          ...(signal ? { signal } : {}),
        });
        if (res.status !== 200) {
          throw await this.responseError(
            res,
            ref.registry,
            'pull',
            res.status === 404 ? `manifest for ${subject}` : subject,
          );
        }
        const bytes = await readBody(res, maxManifestBytes);
        const digest = digestOf(bytes);
        const expected = ref.digest ?? header(res.headers, 'docker-content-digest');
        if (expected !== undefined && expected.startsWith('sha256:') && expected !== digest) {
          throw new FlotillaError(
            'InvalidArgument',
            `manifest of ${subject} does not match its digest ${expected}: it hashes to ${digest}`,
            { object: `image/${subject}`, field: 'digest', value: digest },
          );
        }
        const document = parseManifestDocument(bytes, header(res.headers, 'content-type'), subject);
        return { descriptor: { mediaType: document.mediaType, digest, size: bytes.length }, bytes, document };
      },
      signal,
    );
  }

  /** The descriptor of the manifest or index the reference names on its registry. */
  async resolve(ref: ImageReference, signal?: AbortSignal): Promise<Descriptor> {
    return (await this.fetchManifest(ref, signal)).descriptor;
  }

  /**
   * Pulls one platform's image into the content store and records its name. Blobs
   * already stored are not fetched again; a dropped connection resumes where it stopped.
   */
  async pull(ref: ImageReference, options: PullOptions): Promise<ImageRecord> {
    const { content, images, signal } = options;
    const platform: Platform = options.platform ?? hostPlatform();
    const log = this.log.child({ image: ref.canonical });
    let fetched = await this.fetchManifest(ref, signal);
    let platformOf: Platform | undefined;
    if (fetched.document.kind === 'index') {
      const chosen = selectPlatform(fetched.document.index.manifests, platform, ref.canonical);
      platformOf = chosen.platform;
      log.debug('image index: picked a platform', {
        platform: formatPlatform(platform),
        digest: chosen.digest,
      });
      fetched = await this.fetchManifest(parseReference(`${referenceName(ref)}@${chosen.digest}`), signal);
      if (fetched.document.kind !== 'manifest') {
        throw new FlotillaError(
          'InvalidArgument',
          `${ref.canonical}: an index entry for ${formatPlatform(platform)} is itself an index`,
          {
            object: `image/${ref.canonical}`,
          },
        );
      }
      if (fetched.descriptor.size !== chosen.size) {
        throw new FlotillaError(
          'InvalidArgument',
          `${ref.canonical}: manifest ${chosen.digest} has ${fetched.descriptor.size} bytes, the index says ${chosen.size}`,
          {
            object: `image/${ref.canonical}`,
          },
        );
      }
    }
    const document = fetched.document;
    if (document.kind !== 'manifest')
      throw new FlotillaError('Internal', 'unreachable: index after selection');
    const manifest = document.manifest;
    const blobs = [manifest.config, ...manifest.layers];
    const scopes = [repositoryScope(ref.repository, ['pull'])];
    await mapLimit(blobs, this.concurrency, async (blob) => {
      await this.withRetries(
        `blob ${blob.digest}`,
        () =>
          content.ingest(
            { digest: blob.digest, size: blob.size },
            this.blobSource(ref, scopes, blob.digest, signal),
            signal,
          ),
        signal,
      );
    });
    const config = JSON.parse(
      (await content.read(manifest.config.digest)).toString('utf8'),
    ) as Partial<ImageConfig>;
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
      throw new FlotillaError(
        'InvalidArgument',
        `image ${ref.canonical}: its config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} layer diff IDs for ${manifest.layers.length} layers`,
        { object: `image/${ref.canonical}`, field: 'rootfs.diff_ids' },
      );
    }
    const stored = await content.put(fetched.bytes);
    const target: Descriptor = { mediaType: document.mediaType, digest: stored.digest, size: stored.size };
    const architecture =
      platformOf ??
      (config.architecture !== undefined && config.os !== undefined
        ? { architecture: config.architecture, os: config.os }
        : undefined);
    if (architecture !== undefined) target.platform = architecture;
    const record: ImageRecord = { name: ref.canonical, target, updatedAt: new Date().toISOString() };
    await images.put(record);
    log.info('pulled image', { digest: target.digest, layers: manifest.layers.length });
    return record;
  }

  /** Opens a blob from offset, with HTTP Range when resuming. */
  private blobSource(ref: ImageReference, scopes: Scope[], digest: Digest, signal?: AbortSignal) {
    return async (offset: number): Promise<Readable> => {
      const res = await this.request(ref.registry, scopes, {
        method: 'GET',
        path: `/v2/${ref.repository}/blobs/${digest}`,
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        ...(signal ? { signal } : {}),
      });
      if (res.status === 206 && offset > 0) {
        const start = /^bytes (\d+)-/.exec(header(res.headers, 'content-range') ?? '')?.[1];
        if (start !== undefined && Number(start) !== offset) {
          res.body.destroy();
          throw unavailable(`registry sent blob ${digest} from byte ${start}, not ${offset}`, {
            object: `blob/${digest}`,
          });
        }
        return res.body;
      }
      if (res.status === 200) return offset > 0 ? skipBytes(res.body, offset) : res.body;
      throw await this.responseError(res, ref.registry, 'pull', `blob ${digest} of ${referenceName(ref)}`);
    };
  }

  /**
   * Pushes a local image: each blob the registry lacks is mounted from another
   * repository of the same registry that has it, else uploaded; then the manifest.
   */
  async push(ref: ImageReference, options: PushOptions): Promise<PushResult> {
    const { content, images, signal } = options;
    const sourceName = options.source ?? ref.canonical;
    const record = await images.get(sourceName);
    if (record === undefined) {
      throw notFound(`no image ${sourceName} in the local store (build or pull it first)`, {
        object: `image/${sourceName}`,
      });
    }
    const bytes = await content.read(record.target.digest);
    const document = parseManifestDocument(bytes, record.target.mediaType, sourceName);
    if (document.kind !== 'manifest') {
      throw new FlotillaError(
        'InvalidArgument',
        `local image ${sourceName} is an index; only single-platform images are pushed`,
        {
          object: `image/${sourceName}`,
        },
      );
    }
    const manifest = document.manifest;
    const blobs = [manifest.config, ...manifest.layers];
    const mounts = mountSources(ref, await this.localImageBlobs(ref, images, content));
    const log = this.log.child({ image: ref.canonical });

    const results = await mapLimit(blobs, this.concurrency, (blob) =>
      this.withRetries(
        `push blob ${blob.digest}`,
        () => this.pushBlob(ref, blob, mounts.get(blob.digest) ?? [], content, signal),
        signal,
      ),
    );

    const tagOrDigest = ref.tag ?? record.target.digest;
    const res = await this.withRetries(
      `push manifest ${ref.canonical}`,
      () =>
        this.request(ref.registry, [repositoryScope(ref.repository, ['pull', 'push'])], {
          method: 'PUT',
          path: `/v2/${ref.repository}/manifests/${tagOrDigest}`,
          headers: { 'content-type': document.mediaType },
          body: bytes,
          ...(signal ? { signal } : {}),
        }),
      signal,
    );
    if (res.status !== 201 && res.status !== 200)
      throw await this.responseError(res, ref.registry, 'push', referenceName(ref));
    await drain(res);
    const answered = header(res.headers, 'docker-content-digest');
    if (answered !== undefined && answered !== record.target.digest) {
      throw new FlotillaError(
        'Internal',
        `registry stored manifest of ${ref.canonical} as ${answered}, not ${record.target.digest}`,
        {
          object: `image/${ref.canonical}`,
        },
      );
    }
    log.info('pushed image', {
      digest: record.target.digest,
      uploaded: results.filter((r) => r.action === 'uploaded').length,
      mounted: results.filter((r) => r.action === 'mounted').length,
      existing: results.filter((r) => r.action === 'exists').length,
    });
    const target: Descriptor = {
      mediaType: document.mediaType,
      digest: record.target.digest,
      size: bytes.length,
    };
    if (record.target.platform !== undefined) target.platform = record.target.platform;
    return { name: ref.canonical, target, blobs: results };
  }

  /** The blobs of local images from other repositories of ref's registry. */
  private async localImageBlobs(
    ref: ImageReference,
    images: PushOptions['images'],
    content: PushOptions['content'],
  ): Promise<LocalImageBlobs[]> {
    const out: LocalImageBlobs[] = [];
    for (const record of await images.list()) {
      let reference: ImageReference;
      try {
        reference = parseReference(record.name);
      } catch {
        continue;
      }
      if (reference.registry !== ref.registry || reference.repository === ref.repository) continue;
      try {
        const document = parseManifestDocument(
          await content.read(record.target.digest),
          record.target.mediaType,
          record.name,
        );
        if (document.kind === 'manifest') {
          out.push({
            reference,
            blobs: [document.manifest.config, ...document.manifest.layers].map((d) => d.digest),
          });
        }
      } catch {
        // a manifest no longer stored only means no mount from there
      }
    }
    return out;
  }

  private async pushBlob(
    ref: ImageReference,
    blob: Descriptor,
    mountFrom: string[],
    content: PushOptions['content'],
    signal?: AbortSignal,
  ): Promise<PushResult['blobs'][number]> {
    const repo = ref.repository;
    const scopes = [
      repositoryScope(repo, ['pull', 'push']),
      ...mountFrom.map((r) => repositoryScope(r, ['pull'])),
    ];
    const withSignal = signal ? { signal } : {};
    const done = (action: BlobPushAction, from?: string): PushResult['blobs'][number] => ({
      digest: blob.digest,
      size: blob.size,
      action,
      ...(from !== undefined ? { from } : {}),
    });

    const head = await this.request(ref.registry, scopes, {
      method: 'HEAD',
      path: `/v2/${repo}/blobs/${blob.digest}`,
      ...withSignal,
    });
    await drain(head);
    if (head.status === 200) return done('exists');
    if (head.status !== 404) throw await this.responseError(head, ref.registry, 'push', referenceName(ref));

    let location: string | undefined;
    for (const from of mountFrom) {
      const query = new URLSearchParams({ mount: blob.digest, from });
      const res = await this.request(ref.registry, scopes, {
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/?${query.toString()}`,
        ...withSignal,
      });
      if (res.status === 201) {
        await drain(res);
        return done('mounted', from);
      }
      if (res.status !== 202) throw await this.responseError(res, ref.registry, 'push', referenceName(ref));
      await drain(res);
      // The mount was refused but an upload session was opened instead: use it.
      location = header(res.headers, 'location');
      break;
    }
    if (location === undefined) {
      const res = await this.request(ref.registry, scopes, {
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/`,
        ...withSignal,
      });
      if (res.status !== 202) throw await this.responseError(res, ref.registry, 'push', referenceName(ref));
      await drain(res);
      location = header(res.headers, 'location');
    }
    if (location === undefined) {
      throw unavailable(`registry ${registryDisplayName(ref.registry)} opened an upload without a Location`, {
        object: referenceName(ref),
      });
    }
    const url = new URL(location, this.baseUrl(ref.registry));
    url.searchParams.set('digest', blob.digest);
    const path = content.path(blob.digest);
    const res = await this.request(ref.registry, scopes, {
      method: 'PUT',
      url,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: () => createReadStream(path),
      ...withSignal,
    });
    if (res.status !== 201)
      throw await this.responseError(
        res,
        ref.registry,
        'push',
        `blob ${blob.digest} of ${referenceName(ref)}`,
      );
    await drain(res);
    return done('uploaded');
  }
}
