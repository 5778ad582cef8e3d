// The image service's pure decisions: the default pull policy, what a policy does with a
// present or absent image, which images the desired pods want, how a failure is named,
// and the Docker-style auth file.
import t from 'tap';
import { FlotillaError, unavailable } from '@flotilla/common';
import {
  alwaysPulledImages,
  classifyPullError,
  defaultPullPolicy,
  effectivePullPolicy,
  parseRegistryAuthConfig,
  pullAction,
  wantedImages,
  type PullAction,
  type PullPolicy,
} from '@flotilla/agent';
import { parseReference } from '@flotilla/images';
import type { Pod } from '@flotilla/proto';

function makePod(
  name: string,
  containers: { image: string; imagePullPolicy?: string }[],
  uid = `${name}-uid`,
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid,
      resourceVersion: '1',
      generation: 1,
      creationTimestamp: '',
      deletionTimestamp: '',
      labels: {},
      annotations: {},
      ownerReferences: [],
    },
    spec: {
      containers: containers.map((c, i) => ({
        name: `c${i}`,
        image: c.image,
        command: [],
        args: [],
        workingDir: '',
        ports: [],
        env: [],
        resources: undefined,
        imagePullPolicy: c.imagePullPolicy ?? '',
        volumeMounts: [],
        livenessProbe: undefined,
        readinessProbe: undefined,
        startupProbe: undefined,
        stdin: false,
        stdinOnce: false,
        tty: false,
      })),
      restartPolicy: 'Always',
      nodeName: 'n',
      nodeSelector: {},
      hostname: '',
      volumes: [],
      stopped: false,
      tolerations: [],
      affinity: undefined,
    },
    status: undefined,
  };
}

t.test('default pull policy: Always for latest or no tag, IfNotPresent otherwise', async (t) => {
  const cases: [string, PullPolicy][] = [
    ['busybox', 'Always'],
    ['busybox:latest', 'Always'],
    ['127.0.0.1:5000/team/web', 'Always'],
    ['127.0.0.1:5000/team/web:latest', 'Always'],
    ['busybox:1.36', 'IfNotPresent'],
    ['127.0.0.1:5000/team/web:v2', 'IfNotPresent'],
    [`busybox@sha256:${'a'.repeat(64)}`, 'IfNotPresent'],
    [`busybox:latest@sha256:${'a'.repeat(64)}`, 'IfNotPresent'],
  ];
  for (const [image, policy] of cases) t.equal(defaultPullPolicy(parseReference(image)), policy, image);
});

t.test('effectivePullPolicy: the given policy, the default for "", undefined for unknown', async (t) => {
  const latest = parseReference('busybox');
  const pinned = parseReference('busybox:1.36');
  const cases: [string, ReturnType<typeof parseReference>, PullPolicy | undefined][] = [
    ['', latest, 'Always'],
    ['', pinned, 'IfNotPresent'],
    ['Always', pinned, 'Always'],
    ['IfNotPresent', latest, 'IfNotPresent'],
    ['Never', latest, 'Never'],
    ['always', latest, undefined],
    ['Sometimes', pinned, undefined],
  ];
  for (const [given, ref, want] of cases) {
    t.equal(effectivePullPolicy(given, ref), want, `${JSON.stringify(given)} for ${ref.canonical}`);
  }
});

t.test('pullAction: policy × present × fresh', async (t) => {
  const cases: [PullPolicy, boolean, boolean, PullAction][] = [
    ['Never', true, false, 'use'],
    ['Never', true, true, 'use'],
    ['Never', false, false, 'refuse'],
    ['Never', false, true, 'refuse'],
    ['IfNotPresent', true, false, 'use'],
    ['IfNotPresent', false, false, 'pull'],
    ['IfNotPresent', false, true, 'pull'],
    ['Always', true, false, 'pull'],
    ['Always', true, true, 'use'],
    ['Always', false, false, 'pull'],
    // Pulled for this pod but gone since (GC, a removed blob): pulled again.
    ['Always', false, true, 'pull'],
  ];
  for (const [policy, present, fresh, want] of cases) {
    t.equal(pullAction(policy, present, fresh), want, `${policy}, present=${present}, fresh=${fresh}`);
  }
});

t.test('wantedImages: one entry per image, its pods, the strongest policy', async (t) => {
  const pods = new Map<string, Pod>([
    [
      'default/a',
      makePod('a', [{ image: 'busybox:1.36' }, { image: '127.0.0.1:5000/web:v1', imagePullPolicy: 'Never' }]),
    ],
    ['default/b', makePod('b', [{ image: 'docker.io/library/busybox:1.36', imagePullPolicy: 'Always' }])],
    ['default/c', makePod('c', [{ image: '127.0.0.1:5000/web:v1', imagePullPolicy: 'IfNotPresent' }])],
  ]);
  const wanted = wantedImages(pods);
  t.strictSame([...wanted.keys()].sort(), ['127.0.0.1:5000/web:v1', 'docker.io/library/busybox:1.36']);
  t.match(wanted.get('docker.io/library/busybox:1.36'), {
    policy: 'Always',
    pods: ['default/a', 'default/b'],
    invalid: undefined,
  });
  t.match(wanted.get('127.0.0.1:5000/web:v1'), { policy: 'IfNotPresent', pods: ['default/a', 'default/c'] });
});

t.test('wantedImages: the default registry applies to names without one', async (t) => {
  const pods = new Map([['default/a', makePod('a', [{ image: 'team/web:v1' }, { image: 'busybox' }])]]);
  const wanted = wantedImages(pods, { defaultRegistry: '127.0.0.1:5000' });
  t.strictSame([...wanted.keys()].sort(), ['127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/team/web:v1']);
});

t.test('wantedImages: an invalid image or policy is reported with its field', async (t) => {
  const pods = new Map([
    ['default/a', makePod('a', [{ image: 'Not Valid' }])],
    ['default/b', makePod('b', [{ image: 'busybox:1', imagePullPolicy: 'Sometimes' }])],
  ]);
  const wanted = wantedImages(pods);
  t.match(
    wanted.get('Not Valid')?.invalid,
    /^pod default\/a spec\.containers\[0\]\.image: invalid image reference/,
  );
  t.match(
    wanted.get('docker.io/library/busybox:1')?.invalid,
    /^pod default\/b spec\.containers\[0\]\.imagePullPolicy "Sometimes" is not one of Always, IfNotPresent, Never/,
  );
});

t.test('alwaysPulledImages: only the images the pod pulls with policy Always', async (t) => {
  const pod = makePod('a', [
    { image: 'busybox' },
    { image: 'busybox:1.36' },
    { image: 'web:v1', imagePullPolicy: 'Always' },
    { image: 'db', imagePullPolicy: 'IfNotPresent' },
  ]);
  t.strictSame(alwaysPulledImages('default/a', pod).sort(), [
    'docker.io/library/busybox:latest',
    'docker.io/library/web:v1',
  ]);
});

t.test('classifyPullError: the registry error codes as reasons', async (t) => {
  const cases: [unknown, string][] = [
    [new FlotillaError('NotFound', 'manifest for x not found'), 'not-found'],
    [new FlotillaError('Unauthenticated', 'pull access denied'), 'unauthorized'],
    [new FlotillaError('PermissionDenied', 'denied'), 'unauthorized'],
    [unavailable('cannot reach registry 127.0.0.1:1'), 'unreachable'],
    [new FlotillaError('DeadlineExceeded', 'slow'), 'unreachable'],
    [new FlotillaError('InvalidArgument', 'digest mismatch'), 'invalid-image'],
    [new FlotillaError('Internal', 'odd'), 'error'],
    [new Error('EIO'), 'error'],
  ];
  for (const [err, reason] of cases) {
    t.match(classifyPullError(err), { reason, message: (err as Error).message }, reason);
  }
});

t.test('parseRegistryAuthConfig: Docker config.json, keys normalised as references are', async (t) => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const creds = parseRegistryAuthConfig(
    JSON.stringify({
      auths: {
        '127.0.0.1:5000': { auth: b64('alice:pa:ss') },
        'https://index.docker.io/v1/': { auth: b64('bob:hub') },
        'registry.example': { username: 'carol', password: 'x' },
        'helper.example': {},
      },
      credsStore: 'ignored',
    }),
    '/etc/auth.json',
  );
  t.strictSame(creds.get('127.0.0.1:5000'), { username: 'alice', password: 'pa:ss' }, 'the first ":" splits');
  t.strictSame(creds.get('registry-1.docker.io'), { username: 'bob', password: 'hub' }, "Docker Hub's key");
  t.strictSame(creds.get('registry.example'), { username: 'carol', password: 'x' });
  t.equal(creds.has('helper.example'), false, 'an entry without credentials is anonymous');

  const bad: [string, RegExp][] = [
    ['{', /auth file \/etc\/auth\.json: not valid JSON/],
    ['{"auths": []}', /no "auths" object/],
    [
      JSON.stringify({ auths: { 'a.example': { auth: b64('nocolon') } } }),
      /auths\["a\.example"\]\.auth is not base64/,
    ],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseRegistryAuthConfig(text, '/etc/auth.json'), { message }, text);
  }
});
