// runCli end to end with an injected io: only commands that fail or finish before they
// would connect to a controller or start a process.
import t from 'tap';
import { type CliIo, type Command, exitCodes, rootCommand, runCli } from '@flotilla/deploy';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with captured output; env defaults to a HOME under which nothing exists. */
async function run(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = { HOME: '/nonexistent/home' },
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env,
    cwd: '/nonexistent/cwd',
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** Every command path in the tree below root, aliases left out: [['up'], ['token', 'create'], …]. */
function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return (cmd.subcommands ?? []).flatMap((sub) => {
    const path = [...prefix, sub.name];
    return [path, ...commandPaths(sub, path)];
  });
}

function findCommand(path: readonly string[]): Command {
  let cmd = rootCommand;
  for (const name of path) {
    const sub = cmd.subcommands?.find((c) => c.name === name);
    if (!sub) throw new Error(`no command ${path.join(' ')}`);
    cmd = sub;
  }
  return cmd;
}

t.test('exit codes are 0 for success, 1 for failure, 2 for usage errors', async (t) => {
  t.same(exitCodes, { ok: 0, failure: 1, usage: 2 });
});

t.test('deploy with no arguments shows the root help and succeeds', async (t) => {
  const result = await run([]);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  t.match(result.stdout, /^deploy runs containers/);
  t.match(result.stdout, /\nUsage:\n {2}deploy COMMAND \[flags\]\n/);
  for (const sub of rootCommand.subcommands ?? []) {
    t.match(result.stdout, new RegExp(`\\n {2}${sub.name} +${sub.summary}\\n`), `lists ${sub.name}`);
  }
});

t.test('--help works on every command, before anything runs', async (t) => {
  const paths = commandPaths(rootCommand);
  t.ok(paths.length >= 8, `found the commands: ${paths.map((p) => p.join(' ')).join(', ')}`);
  for (const path of paths) {
    const name = `deploy ${path.join(' ')}`;
    const cmd = findCommand(path);
    const result = await run([...path, '--help']);
    t.equal(result.code, 0, `${name} --help exits 0`);
    t.equal(result.stderr, '', `${name} --help writes nothing to stderr`);
    t.match(result.stdout, 'Usage:', `${name} --help shows usage`);
    t.ok(result.stdout.includes(`  ${name}`), `${name} --help names the command`);
    t.ok(
      result.stdout.startsWith(cmd.description ?? cmd.summary),
      `${name} --help starts with its description`,
    );
    for (const flag of [...(cmd.flags ?? []), { name: 'help' }, { name: 'config' }, { name: 'log-level' }]) {
      t.match(result.stdout, `--${flag.name}`, `${name} --help lists --${flag.name}`);
    }
  }
});

t.test('-h, --help and "deploy help COMMAND" print the same help', async (t) => {
  const cases: string[][] = [['nodes'], ['token', 'create'], ['get', 'nodes'], ['up']];
  for (const path of cases) {
    const long = await run([...path, '--help']);
    const short = await run([...path, '-h']);
    const helpCommand = await run(['help', ...path]);
    t.equal(short.stdout, long.stdout, `${path.join(' ')} -h`);
    t.equal(helpCommand.stdout, long.stdout, `help ${path.join(' ')}`);
    t.equal(helpCommand.code, 0);
  }
});

t.test('help of an alias is the help of the command it names', async (t) => {
  t.equal((await run(['token', 'ls', '--help'])).stdout, (await run(['token', 'list', '--help'])).stdout);
  t.equal((await run(['no', '--help'])).stdout, (await run(['nodes', '--help'])).stdout);
});

t.test('help shows the valid values and defaults of flags', async (t) => {
  const nodes = await run(['nodes', '--help']);
  t.match(nodes.stdout, /-o, --output FORMAT +output format: wide \(more columns\), json or yaml/);
  t.match(nodes.stdout, /-l, --selector SELECTOR/);
  t.match(nodes.stdout, /--log-level LEVEL +.*\(debug, info, warn or error\)/);
  t.match(nodes.stdout, /Aliases: nodes, node, no/);
  const create = await run(['token', 'create', '--help']);
  t.match(create.stdout, /--ttl DURATION +.*\(default 24h\)/);
  t.match(
    create.stdout,
    /-q, --quiet +print only the token\n/,
    'a boolean flag has no placeholder or default',
  );
  const up = await run(['up', '--help']);
  t.match(up.stdout, /--api-port PORT +controller API port on 127\.0\.0\.1 \(default 7443\)/);
  t.match(up.stdout, /--etcd-peer-port PORT +.*\(default etcd port \+ 10\)/);
});

t.test('unknown commands are usage errors that suggest the closest command', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['nodse'], /unknown command "nodse" for "deploy"; did you mean "nodes"\?/],
    [['sttaus'], /did you mean "status"\?/],
    [['tok'], /did you mean "token"\?/],
    [['token', 'lst'], /unknown command "lst" for "deploy token"; did you mean "list"\?/],
    [['token', 'revok', 'abc123'], /did you mean "revoke"\?/],
    [['get', 'nodez'], /unknown resource type "nodez"; did you mean "nodes"\? Valid types: pods \(po\), /],
    [['get', 'deploymnets'], /unknown resource type "deploymnets"; did you mean "deployments"\?/],
  ];
  for (const [argv, message] of cases) {
    const result = await run(argv);
    t.equal(result.code, 2, `${argv.join(' ')} exits 2`);
    t.match(result.stderr, message, argv.join(' '));
    t.equal(result.stdout, '', `${argv.join(' ')} writes nothing to stdout`);
  }
});

t.test('an unknown command with no close match lists the valid ones', async (t) => {
  const result = await run(['xyzzy']);
  t.equal(result.code, 2);
  t.equal(
    result.stderr,
    'error: unknown command "xyzzy" for "deploy". Valid commands: up, down, status, nodes, get, apply, diff, describe, delete, scale, rollout, cordon, uncordon, drain, token, run, ps, logs, inspect, stop, start, rm, exec, build, push, pull, images, rmi, tag, image, login, logout or prune\n' +
      'Run "deploy --help" for usage.\n',
  );
});

t.test('usage errors name the flag, the value and what is valid, and point at --help', async (t) => {
  const cases: Array<{ argv: string[]; message: RegExp; help: string }> = [
    {
      argv: ['nodes', '-o', 'xml'],
      message: /invalid value "xml" for flag -o\/--output: must be one of wide, json or yaml/,
      help: 'deploy nodes',
    },
    {
      argv: ['get', 'nodes', '-oxml'],
      message: /invalid value "xml" for flag -o\/--output: must be one of wide, json or yaml/,
      help: 'deploy get',
    },
    {
      argv: ['nodes', '--output=table'],
      message: /invalid value "table" for flag -o\/--output/,
      help: 'deploy nodes',
    },
    {
      argv: ['nodes', '-o'],
      message: /flag -o\/--output needs a value: one of wide, json or yaml/,
      help: 'deploy nodes',
    },
    {
      argv: ['nodes', '--outptu', 'wide'],
      message:
        /unknown flag --outptu for "deploy nodes"; did you mean --output\? Valid flags: --output, --selector, --config, --log-level, --help/,
      help: 'deploy nodes',
    },
    {
      argv: ['nodes', '-x'],
      message: /unknown flag -x for "deploy nodes"\. Valid flags:/,
      help: 'deploy nodes',
    },
    {
      argv: ['--log-level', 'loud', 'nodes'],
      message: /invalid value "loud" for flag --log-level: must be one of debug, info, warn or error/,
      help: 'deploy',
    },
    {
      argv: ['up', '--etcd-port', '70000'],
      message: /invalid value "70000" for flag --etcd-port: must be a TCP port from 1 to 65535/,
      help: 'deploy up',
    },
    {
      argv: ['up', '--api-port', 'http'],
      message: /invalid value "http" for flag --api-port: must be a TCP port/,
      help: 'deploy up',
    },
    {
      argv: ['up', '--timeout', '90'],
      message: /invalid value "90" for flag --timeout: must be a duration such as 30s/,
      help: 'deploy up',
    },
    {
      argv: ['token', 'create', '--ttl', '0s'],
      message: /invalid value "0s" for flag --ttl: must be a duration longer than zero/,
      help: 'deploy token create',
    },
    {
      argv: ['token', 'create', '--ttl', '500ms'],
      message: /invalid value "500ms" for flag --ttl: must be from 1s to 365d/,
      help: 'deploy token create',
    },
    {
      argv: ['token', 'create', '--ttl', '366d'],
      message: /invalid value "366d" for flag --ttl: must be from 1s to 365d/,
      help: 'deploy token create',
    },
    {
      argv: ['token', 'create', '--quiet=maybe'],
      message: /invalid value "maybe" for flag -q\/--quiet: must be true or false/,
      help: 'deploy token create',
    },
    {
      argv: ['token', 'create', '--description', 'two\nlines'],
      message: /invalid value for flag --description: must be at most 256 characters on one line/,
      help: 'deploy token create',
    },
    {
      argv: ['token', 'create', '--description', 'x'.repeat(257)],
      message: /--description: must be at most 256 characters/,
      help: 'deploy token create',
    },
  ];
  for (const { argv, message, help } of cases) {
    const result = await run(argv);
    const name = argv.join(' ');
    t.equal(result.code, 2, `${name} exits 2`);
    t.match(result.stderr, /^error: /, `${name} starts with "error: "`);
    t.match(result.stderr, message, name);
    t.ok(result.stderr.endsWith(`\nRun "${help} --help" for usage.\n`), `${name} points at ${help} --help`);
    t.equal(result.stdout, '', `${name} writes nothing to stdout`);
  }
});

t.test('wrong arguments are usage errors', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['token'], /"deploy token" needs a subcommand: create, list or revoke/],
    [['get'], /"deploy get" needs KIND/],
    [['rollout'], /"deploy rollout" needs a subcommand: status, history, undo, pause, resume or restart/],
    [['rollout', 'status'], /"deploy rollout status" needs deployment\/NAME/],
    [
      ['scale', 'service/web', '--replicas', '2'],
      /"deploy scale" works on deployment or replicaset objects, not services/,
    ],
    [['scale', 'deployment/web'], /give the number of replicas: --replicas N/],
    [['scale', 'deployment/web', '--replicas', '-1'], /invalid value "-1" for flag --replicas/],
    [['rollout', 'undo', 'deployment'], /give the deployment's name: deployment\/NAME/],
    [['get', 'pods', 'web', '-A'], /a pod NAME needs its namespace: -n NS, not -A/],
    [['get', 'pods', '-A', '-n', 'x'], /give either -n\/--namespace or -A\/--all-namespaces, not both/],
    [['get', 'pods', 'web', '-l', 'app=web'], /give either NAMEs or -l\/--selector, not both/],
    [['get', 'pods', '-l', '=web'], /invalid value "=web" for flag -l\/--selector/],
    [['get', 'pod/a', 'service/b'], /give KIND\/NAME arguments of one kind/],
    [['apply'], /give the manifests with -f FILE\|DIR\|-/],
    [['diff'], /give the manifests with -f FILE\|DIR\|-/],
    [['delete'], /give what to delete: -f FILE\|DIR\|-, KIND NAME… or KIND\/NAME…/],
    [['delete', 'deployment'], /give the names of the deployments to delete/],
    [['delete', '-f', 'x.yaml', 'pod', 'a'], /give either -f FILE or KIND NAME…, not both/],
    [['drain'], /"deploy drain" needs NODE/],
    [['apply', '-f', 'x.yaml', '--timeout', 'soon'], /invalid value "soon" for flag --timeout/],
    [['token', 'revoke'], /"deploy token revoke" needs ID/],
    [
      ['token', 'revoke', 'abc123', 'def456'],
      /too many arguments for "deploy token revoke": expected ID, got extra "def456"/,
    ],
    [['token', 'list', 'extra'], /"deploy token list" takes no arguments, got "extra"/],
    [['nodes', 'a', 'b'], /too many arguments for "deploy nodes": expected \[NAME\], got extra "b"/],
    [['up', 'now'], /"deploy up" takes no arguments, got "now"/],
    [['help', 'nope'], /unknown command "nope" for "deploy"/],
  ];
  for (const [argv, message] of cases) {
    const result = await run(argv);
    t.equal(result.code, 2, `${argv.join(' ')} exits 2`);
    t.match(result.stderr, message, argv.join(' '));
  }
});

t.test('token revoke checks the ID before it connects', async (t) => {
  const whole = await run(['token', 'revoke', 'abc123.0123456789abcdef']);
  t.equal(whole.code, 2);
  t.match(
    whole.stderr,
    /"abc123\.…" is a whole token; pass only its ID, the 6 characters before the dot \("abc123"\)/,
  );
  t.notMatch(whole.stderr, /0123456789abcdef/, 'the secret half is not echoed');
  for (const id of ['ABC123', 'abc12', 'abc1234', 'abc-12']) {
    const result = await run(['token', 'revoke', id]);
    t.equal(result.code, 2, id);
    t.match(result.stderr, `invalid token ID "${id}": must be 6 characters of a-z and 0-9`, id);
  }
});

t.test('nodes checks the label selector before it connects', async (t) => {
  const bad = await run(['nodes', '-l', 'zone in (a']);
  t.equal(bad.code, 2);
  t.match(
    bad.stderr,
    /invalid value "zone in \(a" for flag -l\/--selector: term "zone in \(a" has none of the valid forms/,
  );
  t.match(bad.stderr, /valid forms: key, !key, key=value/);
  const both = await run(['nodes', 'node-1', '-l', 'zone=a']);
  t.equal(both.code, 2);
  t.match(both.stderr, /give either a node NAME or -l\/--selector, not both/);
});

t.test('up checks its ports before it looks at the data directory', async (t) => {
  const clash = await run(['up', '--nats-port', '5000']);
  t.equal(clash.code, 2);
  t.match(clash.stderr, /--registry-port and --nats-port are both 5000: every component needs its own port/);
  const noRoom = await run(['up', '--etcd-port', '65530']);
  t.equal(noRoom.code, 2);
  t.match(
    noRoom.stderr,
    /--etcd-port 65530 leaves no room for the etcd peer port \(65540\); pass --etcd-peer-port PORT/,
  );
});

t.test('flag values are read in every spelling: -o X, -oX, -o=X, --output X, --output=X', async (t) => {
  // A valid -o gets past parsing to the missing config (exit 1); an invalid one stops there (exit 2).
  for (const spelling of [['-o', 'json'], ['-ojson'], ['-o=json'], ['--output', 'json'], ['--output=json']]) {
    const ok = await run(['nodes', ...spelling, '--config', '/nonexistent/config.yaml']);
    t.equal(ok.code, 1, `${spelling.join(' ')} is accepted`);
    const bad = await run(['nodes', ...spelling.map((s) => s.replace('json', 'jsn')), '--config', '/x']);
    t.equal(bad.code, 2, `${spelling.join(' ').replace('json', 'jsn')} is refused`);
  }
});

t.test('a client config that does not exist is a clear error, exit 1', async (t) => {
  const missing = '/nonexistent/flotilla/config.yaml';
  const commands: string[][] = [
    ['nodes'],
    ['nodes', '-o', 'wide'],
    ['get', 'nodes', 'node-1', '-o', 'yaml'],
    ['nodes', '-l', 'zone=a'],
    ['token', 'list'],
    ['token', 'create', '--ttl', '1h'],
    ['token', 'revoke', 'abc123'],
  ];
  for (const argv of commands) {
    const name = argv.join(' ');
    const result = await run([...argv, '--config', missing]);
    t.equal(result.code, 1, `${name} exits 1`);
    t.equal(
      result.stderr,
      `error: no client config at ${missing}: start a local cluster with "deploy up", or pass --config / set FLOTILLA_CONFIG\n`,
      `${name} says what is missing and how to fix it`,
    );
    t.equal(result.stdout, '', `${name} writes nothing to stdout`);
  }
});

t.test(
  'the client config path comes from --config, else $FLOTILLA_CONFIG, else ~/.flotilla/config.yaml',
  async (t) => {
    const cases: Array<{ name: string; argv: string[]; env: NodeJS.ProcessEnv; path: string }> = [
      {
        name: 'the default under HOME',
        argv: ['nodes'],
        env: { HOME: '/nonexistent/home' },
        path: '/nonexistent/home/.flotilla/config.yaml',
      },
      {
        name: '$FLOTILLA_CONFIG over the default',
        argv: ['nodes'],
        env: { HOME: '/nonexistent/home', FLOTILLA_CONFIG: '/nonexistent/env.yaml' },
        path: '/nonexistent/env.yaml',
      },
      {
        name: '--config over $FLOTILLA_CONFIG',
        argv: ['nodes', '--config', '/nonexistent/flag.yaml'],
        env: { HOME: '/nonexistent/home', FLOTILLA_CONFIG: '/nonexistent/env.yaml' },
        path: '/nonexistent/flag.yaml',
      },
      {
        name: '--config before the command',
        argv: ['--config=/nonexistent/first.yaml', 'token', 'list'],
        env: { HOME: '/nonexistent/home' },
        path: '/nonexistent/first.yaml',
      },
    ];
    for (const c of cases) {
      const result = await run(c.argv, c.env);
      t.equal(result.code, 1, c.name);
      t.match(result.stderr, `error: no client config at ${c.path}:`, c.name);
    }
  },
);

t.test('status without a local cluster or a client config fails with what to do', async (t) => {
  const dir = t.testdir({});
  const result = await run(['status', '--data-dir', `${dir}/local`, '--config', `${dir}/config.yaml`]);
  t.equal(result.code, 1);
  t.equal(
    result.stderr,
    `error: no local cluster in ${dir}/local and no client config at ${dir}/config.yaml: ` +
      'start a local cluster with "deploy up", or pass --config / --data-dir\n',
  );
  t.equal(result.stdout, '');
});

t.test('a relative --data-dir is resolved against the working directory', async (t) => {
  const dir = t.testdir({});
  let stderr = '';
  const io: CliIo = {
    stdout: () => undefined,
    stderr: (text) => (stderr += text),
    env: { HOME: '/nonexistent/home' },
    cwd: dir,
  };
  const code = await runCli(['status', '--data-dir', 'cluster', '--config', `${dir}/missing.yaml`], io);
  t.equal(code, 1);
  t.match(stderr, `no local cluster in ${dir}/cluster and no client config at ${dir}/missing.yaml`);
});
