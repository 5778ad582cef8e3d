// The agent's image flags: defaults, validation, the repeatable --insecure-registry and
// the thresholds' order.
import t from 'tap';
import {
  defaultImageGcHighThresholdPercent,
  defaultImageGcLowThresholdPercent,
  isUsageError,
  parseAgentArgs,
  type AgentOptions,
} from '@flotilla/agent';

function run(argv: string[], env: NodeJS.ProcessEnv = {}): AgentOptions {
  const command = parseAgentArgs(argv, env);
  if (command.kind !== 'run') throw new Error(`expected options, got ${command.kind}`);
  return command.options;
}

t.test('image flags: defaults', async (t) => {
  const options = run([]);
  t.equal(options.imageRoot, undefined, 'the agent puts it under the state directory');
  t.equal(options.imageGcHighThresholdPercent, defaultImageGcHighThresholdPercent);
  t.equal(options.imageGcLowThresholdPercent, defaultImageGcLowThresholdPercent);
  t.equal(defaultImageGcHighThresholdPercent, 85);
  t.equal(defaultImageGcLowThresholdPercent, 80);
  t.strictSame(options.insecureRegistries, []);
  t.equal(options.defaultRegistry, undefined);
  t.equal(options.registryAuthFile, undefined);
});

t.test('image flags: values, and from the environment', async (t) => {
  const options = run(
    [
      '--image-root=/srv/images',
      '--image-gc-high-threshold',
      '90',
      '--image-gc-low-threshold',
      '70',
      '--insecure-registry',
      'registry.lan:5000',
      '--insecure-registry',
      'Other.Lan',
      '--default-registry',
      '127.0.0.1:5000',
      '--registry-auth-file',
      '/etc/flotilla/auth.json',
    ],
    { FLOTILLA_INSECURE_REGISTRY: 'ignored.example' },
  );
  t.equal(options.imageRoot, '/srv/images');
  t.equal(options.imageGcHighThresholdPercent, 90);
  t.equal(options.imageGcLowThresholdPercent, 70);
  t.strictSame(
    options.insecureRegistries,
    ['registry.lan:5000', 'other.lan'],
    'repeatable; flags win over env',
  );
  t.equal(options.defaultRegistry, '127.0.0.1:5000');
  t.equal(options.registryAuthFile, '/etc/flotilla/auth.json');

  const fromEnv = run([], {
    FLOTILLA_INSECURE_REGISTRY: 'a.lan:5000, b.lan',
    FLOTILLA_IMAGE_GC_HIGH_THRESHOLD: '100',
  });
  t.strictSame(fromEnv.insecureRegistries, ['a.lan:5000', 'b.lan'], 'a comma-separated list');
  t.equal(fromEnv.imageGcHighThresholdPercent, 100);
});

t.test('image flags: bad values are usage errors naming the flag', async (t) => {
  const cases: [string[], RegExp][] = [
    [
      ['--image-gc-high-threshold', '101'],
      /^--image-gc-high-threshold "101" is not valid: want a whole number of percent from 0 to 100/,
    ],
    [
      ['--image-gc-low-threshold', '-1'],
      /^--image-gc-low-threshold needs a value|^--image-gc-low-threshold "-1" is not valid/,
    ],
    [['--image-gc-low-threshold', '8.5'], /^--image-gc-low-threshold "8\.5" is not valid/],
    [
      ['--image-gc-high-threshold', '70', '--image-gc-low-threshold', '75'],
      /^--image-gc-low-threshold 75 is above --image-gc-high-threshold 70/,
    ],
    [
      ['--insecure-registry', 'http://registry.lan'],
      /^--insecure-registry "http:\/\/registry\.lan" is not valid: want a registry HOST\[:PORT\]/,
    ],
    [
      ['--insecure-registry', 'registry.lan:99999'],
      /^--insecure-registry "registry\.lan:99999" is not valid: port must be 1\.\.65535/,
    ],
    [['--default-registry', 'registry.lan/team'], /^--default-registry "registry\.lan\/team" is not valid/],
    [['--default-registry', 'a', '--default-registry', 'b'], /^--default-registry is given twice/],
  ];
  for (const [argv, message] of cases) {
    let caught: unknown;
    try {
      run(argv);
    } catch (err) {
      caught = err;
    }
    t.ok(isUsageError(caught), `${argv.join(' ')}: a usage error`);
    t.match(caught, { message }, argv.join(' '));
  }
});
