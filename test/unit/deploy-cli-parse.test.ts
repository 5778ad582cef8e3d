// The command framework's parser and the flag value parsers, on a small command tree of
// our own, so that these tests do not change when the CLI's commands do.
import t from 'tap';
import {
  type Command,
  type FlagSpec,
  type UsageError,
  formatDuration,
  isUsageError,
  parseCommandLine,
  parseDuration,
} from '@flotilla/deploy';

const ok = async (): Promise<number> => 0;

function makeCommand(overrides: Partial<Command> & { name: string }): Command {
  return { summary: `the ${overrides.name} command`, ...overrides };
}

const globalFlags: FlagSpec[] = [{ name: 'config', kind: 'string', description: 'config file' }];

const listCommand = makeCommand({
  name: 'list',
  aliases: ['ls'],
  args: { usage: '[NAME]', min: 0, max: 1 },
  flags: [
    { name: 'output', short: 'o', kind: 'enum', values: ['wide', 'json'], description: 'format' },
    { name: 'all', short: 'a', kind: 'boolean', description: 'everything' },
    { name: 'limit', kind: 'int', min: 1, max: 100, description: 'at most this many' },
    { name: 'wait', kind: 'duration', description: 'how long' },
    { name: 'port', kind: 'port', description: 'where' },
  ],
  run: ok,
});

const root = makeCommand({
  name: 'tool',
  subcommands: [
    listCommand,
    makeCommand({ name: 'group', subcommands: [makeCommand({ name: 'leaf', run: ok })] }),
    makeCommand({ name: 'pair', args: { usage: 'A B', min: 2, max: 2 }, run: ok }),
  ],
});

function parse(argv: string[]) {
  return parseCommandLine(root, globalFlags, argv);
}

function usageError(argv: string[]): UsageError {
  try {
    parse(argv);
  } catch (err) {
    if (isUsageError(err)) return err;
    throw err;
  }
  throw new Error(`${argv.join(' ')} parsed without an error`);
}

t.test('flags are parsed to typed values in every spelling', async (t) => {
  const cases: Array<[string[], string, string | number | boolean]> = [
    [['list', '-o', 'wide'], 'output', 'wide'],
    [['list', '-owide'], 'output', 'wide'],
    [['list', '-o=wide'], 'output', 'wide'],
    [['list', '--output', 'json'], 'output', 'json'],
    [['list', '--output=json'], 'output', 'json'],
    [['list', '-a'], 'all', true],
    [['list', '--all'], 'all', true],
    [['list', '--all=false'], 'all', false],
    [['list', '--all=no'], 'all', false],
    [['list', '--all=yes'], 'all', true],
    [['list', '--limit', '100'], 'limit', 100],
    [['list', '--wait', '1h30m'], 'wait', 5_400_000],
    [['list', '--port=8080'], 'port', 8080],
    [['list', '--config', 'c.yaml'], 'config', 'c.yaml'],
    [['--config', 'c.yaml', 'list'], 'config', 'c.yaml'],
  ];
  for (const [argv, flag, value] of cases) {
    const inv = parse(argv);
    t.equal(inv.given.get(flag), value, argv.join(' '));
    t.equal(inv.commandPath, 'tool list', `${argv.join(' ')} runs tool list`);
  }
});

t.test('a boolean flag does not take the next argument as its value', async (t) => {
  const inv = parse(['list', '-a', 'name']);
  t.equal(inv.given.get('all'), true);
  t.same(inv.args, ['name']);
});

t.test('arguments, aliases and "--" are told apart from commands and flags', async (t) => {
  t.same(parse(['ls', 'x']).args, ['x'], 'an alias runs its command');
  t.equal(parse(['ls']).commandPath, 'tool list', 'the path names the command, not the alias');
  t.same(parse(['list', '--', '-o']).args, ['-o'], 'after -- a dash is an argument');
  t.same(parse(['list', '-']).args, ['-'], 'a lone dash is an argument');
  t.same(
    parse(['group', 'leaf']).path.map((c) => c.name),
    ['tool', 'group', 'leaf'],
  );
  t.same(
    parse(['pair', 'list', 'group']).args,
    ['list', 'group'],
    'a command without subcommands takes names as arguments',
  );
});

t.test('help is asked for with -h, --help, or by calling the root bare', async (t) => {
  t.equal(parse([]).help, true, 'the root alone');
  t.equal(parse(['list', '-h']).help, true);
  t.equal(parse(['--help', 'list']).help, true, '--help before the command');
  t.equal(parse(['group', '--help']).help, true, 'a group with --help');
  t.equal(parse(['pair', '--help']).help, true, 'help even when required arguments are missing');
  t.equal(parse(['list']).help, false);
});

t.test('usage errors name what is wrong and the command whose help explains it', async (t) => {
  const cases: Array<{ argv: string[]; message: RegExp; commandPath: string }> = [
    {
      argv: ['lsit'],
      message: /unknown command "lsit" for "tool"; did you mean "list"\?/,
      commandPath: 'tool',
    },
    {
      argv: ['frobnicate'],
      message: /unknown command "frobnicate" for "tool"\. Valid commands: list, group or pair/,
      commandPath: 'tool',
    },
    { argv: ['group'], message: /"tool group" needs a subcommand: leaf/, commandPath: 'tool group' },
    { argv: ['group', 'leef'], message: /did you mean "leaf"\?/, commandPath: 'tool group' },
    { argv: ['pair', 'a'], message: /"tool pair" needs A B/, commandPath: 'tool pair' },
    { argv: ['pair', 'a', 'b', 'c'], message: /expected A B, got extra "c"/, commandPath: 'tool pair' },
    {
      argv: ['group', 'leaf', 'x'],
      message: /"tool group leaf" takes no arguments, got "x"/,
      commandPath: 'tool group leaf',
    },
    {
      argv: ['list', '--limt', '3'],
      message:
        /unknown flag --limt for "tool list"; did you mean --limit\? Valid flags: --output, --all, --limit, --wait, --port, --config, --help/,
      commandPath: 'tool list',
    },
    {
      argv: ['list', '--limit', '0'],
      message: /invalid value "0" for flag --limit: must be an integer from 1 to 100/,
      commandPath: 'tool list',
    },
    {
      argv: ['list', '--limit', '1.5'],
      message: /must be an integer from 1 to 100/,
      commandPath: 'tool list',
    },
    {
      argv: ['list', '--port', '0'],
      message: /invalid value "0" for flag --port: must be a TCP port from 1 to 65535/,
      commandPath: 'tool list',
    },
    {
      argv: ['list', '--port', '65536'],
      message: /must be a TCP port from 1 to 65535/,
      commandPath: 'tool list',
    },
    {
      argv: ['list', '-o', 'yaml'],
      message: /invalid value "yaml" for flag -o\/--output: must be one of wide or json/,
      commandPath: 'tool list',
    },
    {
      argv: ['list', '--wait'],
      message: /flag --wait needs a value: a duration such as 30s/,
      commandPath: 'tool list',
    },
    { argv: ['list', '--config'], message: /flag --config needs a value: a value/, commandPath: 'tool list' },
    {
      argv: ['list', '--all=maybe'],
      message: /invalid value "maybe" for flag -a\/--all: must be true or false/,
      commandPath: 'tool list',
    },
    {
      argv: ['group', 'leaf', '-o', 'wide'],
      message: /unknown flag -o for "tool group leaf"/,
      commandPath: 'tool group leaf',
    },
  ];
  for (const { argv, message, commandPath } of cases) {
    const err = usageError(argv);
    t.match(err.message, message, argv.join(' '));
    t.equal(err.commandPath, commandPath, `${argv.join(' ')}: help of ${commandPath}`);
    t.equal(err.code, 'InvalidArgument', `${argv.join(' ')} is an InvalidArgument error`);
  }
});

t.test('parseDuration reads Go-style durations with days, in milliseconds', async (t) => {
  const cases: Array<[string, number]> = [
    ['500ms', 500],
    ['1s', 1_000],
    ['30s', 30_000],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1d1ms', 86_400_001],
    ['  5m  ', 300_000],
  ];
  for (const [text, ms] of cases) t.same(parseDuration(text), { ok: true, value: ms }, JSON.stringify(text));
});

t.test('parseDuration refuses anything else, saying what would be valid', async (t) => {
  for (const text of ['', '30', '5 m', '1h 30m', '-5m', '5M', '1x', '1w', 'm', '.5s', 'forever']) {
    const parsed = parseDuration(text);
    t.equal(parsed.ok, false, JSON.stringify(text));
    if (!parsed.ok)
      t.match(parsed.reason, /a duration such as 30s, 5m, 1h30m or 7d \(units ms, s, m, h, d\)/);
  }
  for (const text of ['0s', '0ms', '0h0m']) {
    t.same(
      parseDuration(text),
      { ok: false, reason: 'a duration longer than zero, such as 30s or 5m' },
      text,
    );
  }
});

t.test('formatDuration writes the shortest Go-style text', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0ms'],
    [500, '500ms'],
    [1_000, '1s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [86_401_000, '1d1s'],
    [31_536_000_000, '365d'],
  ];
  for (const [ms, text] of cases) t.equal(formatDuration(ms), text, `${ms} ms`);
});

t.test('formatDuration and parseDuration round-trip whole seconds', async (t) => {
  for (const ms of [1_000, 61_000, 3_599_000, 86_400_000, 93_784_000]) {
    t.same(parseDuration(formatDuration(ms)), { ok: true, value: ms }, formatDuration(ms));
  }
});
