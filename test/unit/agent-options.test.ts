import t from 'tap';
import {
  backoffDelay,
  defaultBackoff,
  defaultHeartbeatIntervalMs,
  defaultStateDir,
  envName,
  isUsageError,
  parseAgentArgs,
  parseCaCertHash,
  parseDuration,
  parseHostPort,
  parseJoinToken,
} from '@flotilla/agent';

const usageError = (message: RegExp): { name: string; code: string; message: RegExp } => ({
  name: 'UsageError',
  code: 'InvalidArgument',
  message,
});

/** The message of what `fn` throws; a marker that matches no expectation when it does not throw. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return '(nothing thrown)';
}

t.test('parseDuration reads ms, s and m within the allowed range', async (t) => {
  const cases: Array<[string, number]> = [
    ['1.5s', 1500],
    ['250ms', 250],
    ['100ms', 100],
    ['1m', 60_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration('--x', text, 100, 60_000), ms, text);
});

t.test('parseDuration refuses other text and values out of range, repeating the value', async (t) => {
  for (const text of ['50ms', '61s', '2m', '1', '1h', '-1s', '']) {
    t.throws(
      () => parseDuration('--x', text, 100, 60_000),
      usageError(new RegExp(`^--x "${text}" is not valid: want a duration from 100ms to 60s`)),
      JSON.stringify(text),
    );
  }
});

t.test('parseHostPort accepts a host name, IPv4 or bracketed IPv6 with a port', async (t) => {
  for (const value of ['10.0.0.1:7443', 'controller.example:7443', 'localhost:1', '[::1]:7443', 'h:65535']) {
    t.equal(parseHostPort('--join', value), value, value);
  }
});

t.test('parseHostPort refuses anything gRPC cannot dial, saying why', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['[nope]:1', /nope is not an IPv6 address/],
    ['h:70000', /port must be 1\.\.65535/],
    ['h:0', /port must be 1\.\.65535/],
    ['bad_host:1', /bad_host is neither an IP address nor a host name/],
    ['999.1.1.1:7443', /999\.1\.1\.1 is neither an IP address nor a host name/],
    ['h', /^--join "h" is not valid: want HOST:PORT/],
    ['::1:7443', /want HOST:PORT/],
    ['h:', /want HOST:PORT/],
  ];
  for (const [value, message] of cases)
    t.throws(() => parseHostPort('--join', value), usageError(message), value);
});

t.test('parseCaCertHash normalises to lower case and insists on 64 hex digits', async (t) => {
  t.equal(parseCaCertHash('--h', `SHA256:${'A'.repeat(64)}`), `sha256:${'a'.repeat(64)}`);
  for (const value of [
    `sha256:${'a'.repeat(63)}`,
    `sha1:${'a'.repeat(64)}`,
    `sha256:${'g'.repeat(64)}`,
    '',
  ]) {
    t.throws(
      () => parseCaCertHash('--h', value),
      usageError(/want sha256: followed by 64 hex digits/),
      value,
    );
  }
});

t.test('parseJoinToken accepts <id>.<secret> and never echoes a secret back', async (t) => {
  t.equal(parseJoinToken('--token', 'abcdef.0123456789abcdef'), 'abcdef.0123456789abcdef');
  const cases: Array<[string, string]> = [
    ['abcdef.secretsecretsecre', 'secretsecret'],
    ['abcdef.SECRETSECRETSECR', 'SECRETSECRET'],
    ['nodotsecretsecretsecret', 'secretsecret'],
  ];
  for (const [token, secret] of cases) {
    const message = messageOf(() => parseJoinToken('--token', token));
    t.match(message, /^--token ".*" is not valid: want <id>\.<secret>/, token);
    t.notOk(message.includes(secret), `${JSON.stringify(message)} does not hold the secret`);
  }
  t.match(
    messageOf(() => parseJoinToken('--token', 'abcdef.secretsecretsecre')),
    /"abcdef\.…"/,
  );
});

t.test('parseAgentArgs: flags win over the environment, an empty variable is unset', async (t) => {
  const command = parseAgentArgs(['--join=10.0.0.1:7443', '--labels', 'a=b'], {
    FLOTILLA_NODE_NAME: 'n1',
    FLOTILLA_JOIN: 'ignored:1',
    FLOTILLA_TOKEN: '',
  });
  t.equal(command.kind, 'run');
  if (command.kind !== 'run') return;
  t.equal(command.options.join, '10.0.0.1:7443', 'the flag, not FLOTILLA_JOIN');
  t.equal(command.options.nodeName, 'n1', 'from FLOTILLA_NODE_NAME');
  t.equal(command.options.token, undefined, 'an empty FLOTILLA_TOKEN is not a token');
  t.strictSame(command.options.labels, { a: 'b' });
  t.equal(command.options.stateDir, defaultStateDir);
  t.equal(command.options.heartbeatIntervalMs, defaultHeartbeatIntervalMs);
  t.equal(command.options.logLevel, 'info');
});

t.test('parseAgentArgs recognises --help and --version', async (t) => {
  t.strictSame(parseAgentArgs(['--help'], {}), { kind: 'help' });
  t.strictSame(parseAgentArgs(['-h'], {}), { kind: 'help' });
  t.strictSame(parseAgentArgs(['--version'], {}), { kind: 'version' });
});

t.test('parseAgentArgs refuses bad command lines with usage errors', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--join'], /^--join needs a value: --join HOST:PORT/],
    [['--join', '--token', 'abcdef.0123456789abcdef'], /^--join needs a value/],
    [['--join', 'a:1', '--join', 'b:1'], /^--join is given twice/],
    [['--labels', 'x'], /^--labels: "x" is not KEY=VALUE/],
    [['--nope'], /^unknown flag --nope; valid flags: --join, /],
    [['join'], /^unexpected argument "join"/],
    [['--heartbeat-interval', '10ms'], /^--heartbeat-interval "10ms" is not valid/],
    [['--log-level', 'loud'], /^--log-level "loud" is not valid: want one of debug, info, warn, error/],
  ];
  for (const [argv, message] of cases) {
    t.throws(() => parseAgentArgs(argv, {}), usageError(message), argv.join(' '));
  }
});

t.test('parseAgentArgs names the environment variable a bad value came from', async (t) => {
  let caught: unknown;
  try {
    parseAgentArgs([], { FLOTILLA_LABELS: 'x' });
  } catch (err) {
    caught = err;
  }
  t.ok(isUsageError(caught), 'a usage error');
  t.match(caught, { message: /^FLOTILLA_LABELS: "x" is not KEY=VALUE/ });
});

t.test('envName maps a flag to its FLOTILLA_ variable', async (t) => {
  t.equal(envName('ca-cert-hash'), 'FLOTILLA_CA_CERT_HASH');
  t.equal(envName('join'), 'FLOTILLA_JOIN');
});

t.test('backoffDelay: a random point in the upper half of a doubling ceiling', async (t) => {
  const cases: Array<[number, number, number]> = [
    // attempt, random(), delay with the default 200 ms .. 5 s policy
    [0, 0, 100],
    [0, 1, 200],
    [1, 0.5, 300],
    [3, 1, 1600],
    [50, 0, 2500],
    [50, 1, 5000],
  ];
  for (const [attempt, random, delay] of cases) {
    t.equal(
      backoffDelay(attempt, defaultBackoff, () => random),
      delay,
      `attempt ${attempt}, random ${random}`,
    );
  }
  t.equal(
    backoffDelay(2, { initialMs: 10, maxMs: 1000 }, () => 1),
    40,
    'another policy',
  );
});
