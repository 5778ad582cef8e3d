import t from 'tap';
import { credentialKey, familiarName, parseReference, registryHost, withTarget } from '@flotilla/images';

const digest = `sha256:${'a'.repeat(64)}`;

t.test('parseReference reads names the way Docker does', async (t) => {
  const cases: Array<
    [string, { registry: string; repository: string; tag?: string; digest?: string; canonical: string }]
  > = [
    [
      'busybox',
      {
        registry: 'registry-1.docker.io',
        repository: 'library/busybox',
        tag: 'latest',
        canonical: 'docker.io/library/busybox:latest',
      },
    ],
    [
      'library/busybox:1.36',
      {
        registry: 'registry-1.docker.io',
        repository: 'library/busybox',
        tag: '1.36',
        canonical: 'docker.io/library/busybox:1.36',
      },
    ],
    [
      'team/web',
      {
        registry: 'registry-1.docker.io',
        repository: 'team/web',
        tag: 'latest',
        canonical: 'docker.io/team/web:latest',
      },
    ],
    [
      'docker.io/busybox',
      {
        registry: 'registry-1.docker.io',
        repository: 'library/busybox',
        tag: 'latest',
        canonical: 'docker.io/library/busybox:latest',
      },
    ],
    [
      'index.docker.io/library/busybox:1',
      {
        registry: 'registry-1.docker.io',
        repository: 'library/busybox',
        tag: '1',
        canonical: 'docker.io/library/busybox:1',
      },
    ],
    [
      '127.0.0.1:5000/team/web:v2',
      {
        registry: '127.0.0.1:5000',
        repository: 'team/web',
        tag: 'v2',
        canonical: '127.0.0.1:5000/team/web:v2',
      },
    ],
    [
      'localhost/x',
      { registry: 'localhost', repository: 'x', tag: 'latest', canonical: 'localhost/x:latest' },
    ],
    [
      'localhost:5000/x',
      { registry: 'localhost:5000', repository: 'x', tag: 'latest', canonical: 'localhost:5000/x:latest' },
    ],
    [
      'registry.example.com/a/b/c:1.0-rc_1',
      {
        registry: 'registry.example.com',
        repository: 'a/b/c',
        tag: '1.0-rc_1',
        canonical: 'registry.example.com/a/b/c:1.0-rc_1',
      },
    ],
    [
      `busybox@${digest}`,
      {
        registry: 'registry-1.docker.io',
        repository: 'library/busybox',
        digest,
        canonical: `docker.io/library/busybox@${digest}`,
      },
    ],
    [
      `127.0.0.1:5000/web:v1@${digest}`,
      {
        registry: '127.0.0.1:5000',
        repository: 'web',
        tag: 'v1',
        digest,
        canonical: `127.0.0.1:5000/web:v1@${digest}`,
      },
    ],
    [
      'Registry.Example/x',
      {
        registry: 'Registry.Example',
        repository: 'x',
        tag: 'latest',
        canonical: 'Registry.Example/x:latest',
      },
    ],
    [
      '[::1]:5000/x',
      { registry: '[::1]:5000', repository: 'x', tag: 'latest', canonical: '[::1]:5000/x:latest' },
    ],
    [
      'a__b/c.d-e',
      {
        registry: 'registry-1.docker.io',
        repository: 'a__b/c.d-e',
        tag: 'latest',
        canonical: 'docker.io/a__b/c.d-e:latest',
      },
    ],
  ];
  for (const [text, expected] of cases) t.strictSame(parseReference(text), expected, text);
});

t.test('a configurable default registry takes names without one', async (t) => {
  const ref = parseReference('busybox', { defaultRegistry: '127.0.0.1:5000' });
  t.strictSame(ref, {
    registry: '127.0.0.1:5000',
    repository: 'busybox',
    tag: 'latest',
    canonical: '127.0.0.1:5000/busybox:latest',
  });
  t.equal(
    parseReference('team/web:v1', { defaultRegistry: '127.0.0.1:5000' }).canonical,
    '127.0.0.1:5000/team/web:v1',
  );
  t.equal(
    parseReference('other.example/web', { defaultRegistry: '127.0.0.1:5000' }).canonical,
    'other.example/web:latest',
    'a name with a registry keeps it',
  );
  t.equal(
    parseReference('busybox', { defaultRegistry: 'docker.io' }).canonical,
    'docker.io/library/busybox:latest',
  );
});

t.test('parseReference refuses what Docker refuses, naming the rule', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['team/Web', /must be lowercase/],
    ['busybox:', /tag "" must be/],
    ['busybox:-x', /tag "-x" must be/],
    [`busybox:${'a'.repeat(129)}`, /tag .* 1 to 128/],
    ['busybox@sha256:abc', /digest "sha256:abc" must be ALGORITHM:HEX/],
    [`busybox@md5:${'a'.repeat(32)}`, /algorithm "md5" is not one of sha256, sha512/],
    [`busybox@sha256:${'A'.repeat(64)}`, /64 lowercase hex digits/],
    [`busybox@sha256:${'a'.repeat(63)}`, /64 lowercase hex digits/],
    ['team//web', /empty component/],
    ['team/web/', /empty component/],
    ['-web', /repository component "-web"/],
    ['web_', /repository component "web_"/],
    ['a...b', /repository component "a...b"/],
    ['bad_host.example:99x/x', /tag "99x\/x" must be|registry/],
    ['bad host/x', /white space/],
    ['https://127.0.0.1:5000/x', /no scheme/],
    ['a'.repeat(64), /64-character hexadecimal/],
    [`127.0.0.1:5000/${'a'.repeat(250)}`, /at most 255 characters/],
    [':tag', /repository name is missing/],
  ];
  for (const [text, reason] of cases) {
    t.throws(() => parseReference(text), { code: 'InvalidArgument', message: reason }, JSON.stringify(text));
  }
  t.throws(
    () => parseReference('Busybox'),
    { message: /invalid image reference "Busybox"/, context: { value: 'Busybox' } },
    'the error names the reference',
  );
});

t.test('helpers: registry host, familiar names, another tag', async (t) => {
  t.equal(registryHost('docker.io'), 'registry-1.docker.io');
  t.equal(registryHost('https://index.docker.io/v1/'), 'registry-1.docker.io');
  t.equal(registryHost('127.0.0.1:5000'), '127.0.0.1:5000');
  t.equal(familiarName(parseReference('busybox')), 'busybox:latest');
  t.equal(familiarName(parseReference('team/web:v1')), 'team/web:v1');
  t.equal(familiarName(parseReference('127.0.0.1:5000/web:v1')), '127.0.0.1:5000/web:v1');
  const ref = parseReference('127.0.0.1:5000/web:v1');
  t.equal(withTarget(ref, { digest }).canonical, `127.0.0.1:5000/web@${digest}`);
  t.equal(withTarget(parseReference('busybox'), { tag: '1.36' }).canonical, 'docker.io/library/busybox:1.36');
});

t.test('credentials are keyed by the registry host as dialled', async (t) => {
  t.equal(credentialKey('docker.io'), 'registry-1.docker.io');
  t.equal(credentialKey('https://index.docker.io/v1/'), 'registry-1.docker.io');
  t.equal(credentialKey('127.0.0.1:5000'), '127.0.0.1:5000');
  t.equal(credentialKey('Registry.Example:443'), 'registry.example:443');
  t.throws(() => credentialKey('127.0.0.1:5000/team'), {
    code: 'InvalidArgument',
    message: /host name or address/,
  });
});
