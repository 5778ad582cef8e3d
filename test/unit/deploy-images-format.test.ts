// How the image commands print: `images` rows as docker prints them, pull and push
// progress lines, sizes and ages.
import t from 'tap';
import {
  createdAgo,
  humanSize,
  imageIds,
  imagesTable,
  pullFooter,
  pullHeader,
  pullLayerLines,
  pushFooter,
  pushHeader,
  pushLayerLine,
  repositoryOf,
  shortId,
  type ImageSummary,
} from '@flotilla/deploy';
import { parseReference } from '@flotilla/images';

const hex = (c: string): string => c.repeat(64);
const now = new Date('2024-06-01T12:00:00Z');

function image(name: string, config: string, overrides: Partial<ImageSummary> = {}): ImageSummary {
  return {
    ref: parseReference(name),
    manifestDigest: `sha256:${hex('m')}`.replace(/m/g, 'e'),
    configDigest: `sha256:${config}`,
    created: '2024-06-01T10:00:00Z',
    size: 1_234_567,
    ...overrides,
  };
}

t.test('shortId is the first 12 hex digits of a digest', async (t) => {
  t.equal(shortId(`sha256:${'0123456789ab'}${'f'.repeat(52)}`), '0123456789ab');
});

t.test('humanSize uses decimal units with 3 significant digits, like docker', async (t) => {
  const cases: [number, string][] = [
    [0, '0B'],
    [871, '871B'],
    [1000, '1kB'],
    [1234, '1.23kB'],
    [4_260_000, '4.26MB'],
    [1_234_567, '1.23MB'],
    [999_999, '1MB'],
    [2_500_000_000, '2.5GB'],
  ];
  for (const [bytes, text] of cases) t.equal(humanSize(bytes), text, `${bytes} bytes`);
});

t.test('createdAgo reads like docker CREATED', async (t) => {
  const at = (secondsAgo: number): string => new Date(now.getTime() - secondsAgo * 1000).toISOString();
  const cases: [string | undefined, string][] = [
    [at(0), 'Less than a second ago'],
    [at(30), '30 seconds ago'],
    [at(70), 'About a minute ago'],
    [at(600), '10 minutes ago'],
    [at(3600), 'About an hour ago'],
    [at(5 * 3600), '5 hours ago'],
    // go-units rounds the hours: 2 h 36 min is "3 hours", as in deploy ps.
    [at(2.6 * 3600), '3 hours ago'],
    [at(3 * 86400), '3 days ago'],
    [at(21 * 86400), '3 weeks ago'],
    [at(90 * 86400), '3 months ago'],
    ['1970-01-01T00:00:00Z', '54 years ago'],
    [undefined, 'N/A'],
    ['not a date', 'N/A'],
  ];
  for (const [created, text] of cases) t.equal(createdAgo(created, now), text, String(created));
});

t.test('repositoryOf shows Docker Hub names short and other registries whole', async (t) => {
  t.equal(repositoryOf(parseReference('busybox')), 'busybox');
  t.equal(repositoryOf(parseReference('docker.io/library/busybox:1.36')), 'busybox');
  t.equal(repositoryOf(parseReference('team/web:v2')), 'team/web');
  t.equal(repositoryOf(parseReference('127.0.0.1:5000/examples/web:latest')), '127.0.0.1:5000/examples/web');
  t.equal(repositoryOf(parseReference(`web@sha256:${hex('a')}`)), 'web');
});

t.test('images table: REPOSITORY, TAG, IMAGE ID, CREATED, SIZE', async (t) => {
  const rows = [
    image('busybox', hex('a')),
    image('127.0.0.1:5000/examples/web:v2', hex('b'), { size: 871 }),
    image(`web@sha256:${hex('c')}`, hex('c'), { created: undefined }),
  ];
  t.equal(
    imagesTable(rows, { digests: false, now }),
    [
      'REPOSITORY                    TAG      IMAGE ID       CREATED       SIZE',
      'busybox                       latest   aaaaaaaaaaaa   2 hours ago   1.23MB',
      '127.0.0.1:5000/examples/web   v2       bbbbbbbbbbbb   2 hours ago   871B',
      'web                           <none>   cccccccccccc   N/A           1.23MB',
      '',
    ].join('\n'),
  );
  const withDigests = imagesTable(rows.slice(0, 1), { digests: true, now });
  t.match(withDigests, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE\n/);
  t.match(
    withDigests,
    new RegExp(`\\nbusybox +latest +sha256:${hex('e')} +aaaaaaaaaaaa +2 hours ago +1.23MB\\n`),
  );
  const missing = imagesTable([image('busybox', hex('a'), { configDigest: undefined })], {
    digests: false,
    now,
  });
  t.match(missing, /busybox\s+latest\s+<missing>/, 'an image whose config is gone still shows');
});

t.test('images -q prints each image ID once', async (t) => {
  const rows = [image('a', hex('a')), image('b', hex('a')), image('c', hex('b'))];
  t.equal(imageIds(rows), 'aaaaaaaaaaaa\nbbbbbbbbbbbb\n');
  t.equal(imageIds([]), '');
});

t.test('pull progress: header, a line per layer, digest and status', async (t) => {
  const ref = parseReference('127.0.0.1:5000/examples/web');
  t.same(pullHeader(ref, false), [
    'Using default tag: latest',
    'latest: Pulling from 127.0.0.1:5000/examples/web',
  ]);
  t.same(pullHeader(parseReference('busybox:1.36'), true), ['1.36: Pulling from busybox']);
  const digestRef = parseReference(`web@sha256:${hex('d')}`);
  t.same(
    pullHeader(digestRef, false),
    [`sha256:${hex('d')}: Pulling from web`],
    'no default tag for a digest',
  );

  const layers = [`sha256:${hex('1')}`, `sha256:${hex('2')}`];
  t.same(pullLayerLines(layers, new Set([`sha256:${hex('1')}`])), [
    '111111111111: Already exists',
    '222222222222: Pull complete',
  ]);
  t.same(pullFooter(ref, `sha256:${hex('f')}`, false), [
    `Digest: sha256:${hex('f')}`,
    'Status: Downloaded newer image for 127.0.0.1:5000/examples/web:latest',
    '127.0.0.1:5000/examples/web:latest',
  ]);
  t.match(
    pullFooter(parseReference('busybox'), `sha256:${hex('f')}`, true)[1],
    'Status: Image is up to date for busybox:latest',
  );
});

t.test('push progress names what happened to each layer', async (t) => {
  const ref = parseReference('127.0.0.1:5000/examples/hello:latest');
  t.equal(pushHeader(ref), 'The push refers to repository [127.0.0.1:5000/examples/hello]');
  t.equal(pushLayerLine(`sha256:${hex('1')}`, 'uploaded'), '111111111111: Pushed');
  t.equal(pushLayerLine(`sha256:${hex('1')}`, 'exists'), '111111111111: Layer already exists');
  t.equal(
    pushLayerLine(`sha256:${hex('1')}`, 'mounted', 'library/busybox'),
    '111111111111: Mounted from library/busybox',
  );
  t.equal(pushFooter(ref, `sha256:${hex('f')}`, 527), `latest: digest: sha256:${hex('f')} size: 527`);
});
