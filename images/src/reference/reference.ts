// Image references read exactly the way Docker reads them (distribution/reference's
// grammar and its "normalised named" rules), so a name means the same thing here as in a
// Dockerfile or a `docker pull`. Pure: no I/O.
import { invalidArgument } from '@flotilla/common';
import type { ImageReference } from '../types.js';

/** Docker Hub's name as written in references, and the host actually dialled for it. */
export const dockerHubName = 'docker.io';
export const dockerHubHost = 'registry-1.docker.io';
const dockerHubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export interface ParseReferenceOptions {
  /**
   * Registry for names without one ("busybox", "team/web"). Docker Hub by default, where a
   * one-component name gets the "library/" prefix; any other default registry takes the
   * name as it is ("busybox" → "REGISTRY/busybox"), as podman does.
   */
  defaultRegistry?: string;
}

// The grammar of distribution/reference (regexp.go), component by component.
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]*)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const pathComponentRe = new RegExp(`^${pathComponent}$`);
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainRe = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const knownDigestRe: Record<string, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };
const hexIdRe = /^[a-f0-9]{64}$/;
const maxNameLength = 255;

function refuse(text: string, rule: string): never {
  throw invalidArgument(`invalid image reference "${text}": ${rule}`, { field: 'image', value: text });
}

/** The registry host as dialled: Docker Hub's aliases become registry-1.docker.io. */
export function registryHost(name: string): string {
  const bare = name.replace(/^[a-z]+:\/\//i, '').replace(/\/+(v1|v2)?\/*$/, '');
  return dockerHubAliases.has(bare.toLowerCase()) ? dockerHubHost : bare;
}

/** The registry as written in canonical names: Docker Hub is "docker.io". */
function registryName(host: string): string {
  return host === dockerHubHost ? dockerHubName : host;
}

/** Whether the first path component names a registry rather than a repository part. */
function isDomain(first: string): boolean {
  return /[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first;
}

export function parseReference(text: string, options: ParseReferenceOptions = {}): ImageReference {
  if (text === '') refuse(text, 'it is empty');
  if (/\s/.test(text)) refuse(text, 'it must not contain white space');
  if (/^[a-z]+:\/\//i.test(text)) refuse(text, 'a reference has no scheme (write HOST/NAME, not a URL)');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    validateDigest(text, digest);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) {
      refuse(
        text,
        `tag "${tag}" must be 1 to 128 letters, digits, "_", "." or "-", and not start with "." or "-"`,
      );
    }
  }
  if (rest === '') refuse(text, 'the repository name is missing');

  const slash = rest.indexOf('/');
  let host: string;
  let repository: string;
  if (slash >= 0 && isDomain(rest.slice(0, slash))) {
    const domain = rest.slice(0, slash);
    if (!domainRe.test(domain)) {
      refuse(text, `registry "${domain}" must be a host name or an IP address, with an optional :PORT`);
    }
    host = registryHost(domain);
    repository = rest.slice(slash + 1);
  } else {
    host = registryHost(options.defaultRegistry ?? dockerHubName);
    repository = rest;
  }
  if (host === dockerHubHost && !repository.includes('/')) repository = `library/${repository}`;

  validateRepository(text, repository);
  const name = `${registryName(host)}/${repository}`;
  if (name.length > maxNameLength) refuse(text, `the name must be at most ${maxNameLength} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';

  const canonical = name + (tag !== undefined ? `:${tag}` : '') + (digest !== undefined ? `@${digest}` : '');
  const ref: ImageReference = { registry: host, repository, canonical };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function validateRepository(text: string, repository: string): void {
  if (repository === '') refuse(text, 'the repository name is missing');
  if (hexIdRe.test(repository.replace(/^library\//, ''))) {
    refuse(text, 'a repository name cannot be a 64-character hexadecimal string (that is an image ID)');
  }
  for (const component of repository.split('/')) {
    if (component === '') refuse(text, 'the repository path has an empty component ("//" or a trailing "/")');
    if (component.toLowerCase() !== component) refuse(text, 'the repository name must be lowercase');
    if (!pathComponentRe.test(component)) {
      refuse(
        text,
        `repository component "${component}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
}

function validateDigest(text: string, digest: string): void {
  if (!digestRe.test(digest)) refuse(text, `digest "${digest}" must be ALGORITHM:HEX, e.g. sha256:<64 hex>`);
  const [algorithm = '', encoded = ''] = digest.split(':');
  const known = knownDigestRe[algorithm];
  if (known === undefined) refuse(text, `digest algorithm "${algorithm}" is not one of sha256, sha512`);
  if (!known.test(encoded)) {
    refuse(
      text,
      `a ${algorithm} digest must be ${algorithm === 'sha256' ? 64 : 128} lowercase hex digits, got "${encoded}"`,
    );
  }
}

/** The registry and repository of a reference, as in canonical names: "docker.io/library/busybox". */
export function referenceName(ref: ImageReference): string {
  return `${registryName(ref.registry)}/${ref.repository}`;
}

/** The same repository at another tag or digest. */
export function withTarget(ref: ImageReference, target: { tag?: string; digest?: string }): ImageReference {
  const name = referenceName(ref);
  const canonical =
    name +
    (target.tag !== undefined ? `:${target.tag}` : '') +
    (target.digest !== undefined ? `@${target.digest}` : '');
  return parseReference(canonical);
}

/**
 * The short form Docker shows: "busybox:latest" for docker.io/library/busybox:latest,
 * "team/web:v2" for docker.io/team/web:v2; other registries keep their host.
 */
export function familiarName(ref: ImageReference): string {
  let name = ref.canonical;
  if (ref.registry === dockerHubHost) {
    name = name.slice(`${dockerHubName}/`.length);
    if (name.startsWith('library/') && !name.slice('library/'.length).split(/[:@]/)[0]!.includes('/')) {
      name = name.slice('library/'.length);
    }
  }
  return name;
}
