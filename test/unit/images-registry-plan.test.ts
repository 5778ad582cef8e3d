// The registry client's pure decisions: auth challenges, platform choice, manifest
// documents, mount sources, which registries are reached over plain HTTP.
import t from 'tap';
import {
  insecureByDefault,
  mediaTypes,
  mountSources,
  parseManifestDocument,
  parseReference,
  parseWwwAuthenticate,
  selectPlatform,
  goArch,
  type Descriptor,
} from '@flotilla/images';

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

t.test('WWW-Authenticate challenges are parsed as registries send them', async (t) => {
  t.strictSame(
    parseWwwAuthenticate(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/busybox:pull"',
    ),
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example/token',
          service: 'registry.example',
          scope: 'repository:library/busybox:pull',
        },
      },
    ],
  );
  t.strictSame(parseWwwAuthenticate('Basic realm="Registry Realm"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
  t.strictSame(
    parseWwwAuthenticate(
      'Basic realm="a, b", Bearer realm="http://127.0.0.1:1/t", service=svc , error=invalid_token',
    ),
    [
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/t', service: 'svc', error: 'invalid_token' } },
    ],
    'several challenges, quoted commas, unquoted values',
  );
  t.strictSame(parseWwwAuthenticate('BEARER Realm="x\\"y"'), [
    { scheme: 'bearer', params: { realm: 'x"y' } },
  ]);
  t.strictSame(
    parseWwwAuthenticate('Bearer realm="r",scope="repository:a:pull repository:b:pull,push"')[0]?.params
      .scope,
    'repository:a:pull repository:b:pull,push',
  );
  t.strictSame(parseWwwAuthenticate(''), []);
  t.strictSame(parseWwwAuthenticate('Negotiate abc123=='), [{ scheme: 'negotiate', params: {} }]);
});

const entry = (architecture: string, variant?: string, os = 'linux'): Descriptor => ({
  mediaType: mediaTypes.ociManifest,
  digest: d(architecture.length * 100 + (variant?.length ?? 0) + os.length),
  size: 1,
  platform: { os, architecture, ...(variant !== undefined ? { variant } : {}) },
});

t.test('selectPlatform picks the host platform from an index', async (t) => {
  const amd64 = entry('amd64');
  const arm64 = entry('arm64', 'v8');
  const armv7 = entry('arm', 'v7');
  const armv6 = entry('arm', 'v6');
  const attestation: Descriptor = {
    mediaType: mediaTypes.ociManifest,
    digest: d(9999),
    size: 1,
    platform: { os: 'unknown', architecture: 'unknown' },
  };
  const index = [attestation, armv6, armv7, arm64, amd64];
  t.equal(selectPlatform(index, { os: 'linux', architecture: 'amd64' }), amd64);
  t.equal(selectPlatform(index, { os: 'linux', architecture: 'arm64', variant: 'v8' }), arm64);
  t.equal(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v7' }), armv7);
  t.equal(selectPlatform([armv6], { os: 'linux', architecture: 'arm', variant: 'v7' }), armv6, 'v7 runs v6');
  t.throws(
    () => selectPlatform([armv7], { os: 'linux', architecture: 'arm', variant: 'v6' }),
    /no manifest for linux\/arm\/v6/,
    'v6 does not run v7',
  );
  const arm64NoVariant = entry('arm64');
  t.equal(
    selectPlatform([arm64NoVariant], { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    arm64NoVariant,
  );
  const amd64v3 = entry('amd64', 'v3');
  t.equal(selectPlatform([amd64v3], { os: 'linux', architecture: 'amd64' }), amd64v3);
  t.equal(selectPlatform([amd64v3, amd64], { os: 'linux', architecture: 'amd64' }), amd64, 'plain first');
  t.throws(
    () =>
      selectPlatform(
        [attestation, armv7, entry('amd64', undefined, 'windows')],
        { os: 'linux', architecture: 'amd64' },
        'x:1',
      ),
    {
      code: 'NotFound',
      message: 'x:1 has no manifest for linux/amd64; it is available for: linux/arm/v7, windows/amd64',
    },
    'the error lists what is available',
  );
});

t.test('manifest documents: kinds, media types, refusals', async (t) => {
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: d(1), size: 10 },
    layers: [{ mediaType: mediaTypes.ociLayerGzip, digest: d(2), size: 20 }],
  };
  const doc = parseManifestDocument(Buffer.from(JSON.stringify(manifest)), undefined, 'x');
  t.equal(doc.kind, 'manifest');
  t.equal(doc.mediaType, mediaTypes.ociManifest);
  const { mediaType: _omit, ...bare } = manifest;
  t.equal(
    parseManifestDocument(
      Buffer.from(JSON.stringify(bare)),
      `${mediaTypes.dockerManifest}; charset=utf-8`,
      'x',
    ).mediaType,
    mediaTypes.dockerManifest,
    'media type from Content-Type when the document has none',
  );
  const index = { schemaVersion: 2, mediaType: mediaTypes.dockerManifestList, manifests: [entry('amd64')] };
  t.equal(parseManifestDocument(Buffer.from(JSON.stringify(index)), undefined, 'x').kind, 'index');
  const refusals: Array<[unknown, RegExp]> = [
    [{ schemaVersion: 1, name: 'x' }, /schema 1 manifests are not supported/],
    [{ ...manifest, schemaVersion: 3 }, /schemaVersion must be 2/],
    [
      { ...manifest, config: { ...manifest.config, digest: 'sha256:zz' } },
      /config.digest "sha256:zz" is not a valid digest/,
    ],
    [
      { ...manifest, layers: [{ mediaType: 'x', digest: d(3), size: -1 }] },
      /layers\[0\].size must be a whole number/,
    ],
    [{ ...manifest, layers: undefined }, /must have a "layers" list/],
    [{ ...manifest, mediaType: 'application/x-foo' }, /media type "application\/x-foo" is not one of/],
  ];
  for (const [value, reason] of refusals) {
    t.throws(
      () => parseManifestDocument(Buffer.from(JSON.stringify(value)), undefined, 'x'),
      reason,
      String(reason),
    );
  }
  t.throws(
    () => parseManifestDocument(Buffer.from('{'), undefined, 'img:1'),
    /manifest of img:1 is not valid: it is not JSON/,
  );
});

t.test('mountSources: other repositories of the same registry holding a blob', async (t) => {
  const target = parseReference('127.0.0.1:5000/team/web:v2');
  const sources = mountSources(target, [
    { reference: parseReference('127.0.0.1:5000/busybox:latest'), blobs: [d(1), d(2)] },
    { reference: parseReference('127.0.0.1:5000/base/alpine:3'), blobs: [d(2)] },
    { reference: parseReference('127.0.0.1:5000/team/web:v1'), blobs: [d(1), d(3)] },
    { reference: parseReference('127.0.0.1:6000/busybox:latest'), blobs: [d(4)] },
    { reference: parseReference('127.0.0.1:5000/busybox:1.36'), blobs: [d(1)] },
  ]);
  t.strictSame(sources.get(d(1)), ['busybox']);
  t.strictSame(sources.get(d(2)), ['busybox', 'base/alpine']);
  t.equal(sources.get(d(3)), undefined, 'the target repository itself is no source');
  t.equal(sources.get(d(4)), undefined, 'another registry is no source');
});

t.test('plain HTTP only for this host by default', async (t) => {
  for (const host of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000', '::1']) {
    t.equal(insecureByDefault(host), true, host);
  }
  for (const host of ['registry-1.docker.io', '10.0.0.1:5000', 'localhost.example:5000', '128.0.0.1']) {
    t.equal(insecureByDefault(host), false, host);
  }
});

t.test('goArch spells Node architectures as Go does, ppc64 by byte order', async (t) => {
  const cases: Array<[string, 'BE' | 'LE', string]> = [
    ['x64', 'LE', 'amd64'],
    ['arm64', 'LE', 'arm64'],
    ['ia32', 'LE', '386'],
    ['ppc64', 'LE', 'ppc64le'],
    ['ppc64', 'BE', 'ppc64'],
    ['s390x', 'BE', 's390x'],
    ['mips64el', 'LE', 'mips64le'],
    ['something-new', 'LE', 'something-new'],
  ];
  for (const [node, order, go] of cases) t.equal(goArch(node, order), go, `${node} (${order})`);
});
