#!/usr/bin/env node
// The test runner behind `npm test`. It runs each tap test file as its own process, in its
// own process group, phase by phase (unit, then integration, then e2e), and counts the
// results itself, so that a crash, a hang or a leaked process is a counted failure and the
// last line is always `N passed, N failed[, N skipped]`.
//
// Why not the `tap` CLI: it counts assertions across files its own way, and after a file
// times out it attributes the timeout to the next file's result. Running files directly
// keeps per-file isolation, and the process group lets us reap what a test left behind.
//
// Counting: one test = one top-level entry of a test file, i.e. each `t.test(...)` at the
// top of the file (its nested subtests and assertions decide whether it passed) and each
// bare assertion at the top. A file that exits non-zero, is killed, times out, emits
// invalid TAP or leaves processes running counts one more failure unless one of its
// tests already failed. A file without tests counts as skipped.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from 'tap-parser';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const phases = [
  { name: 'unit', dir: 'test/unit', jobs: Math.min(2, availableParallelism()), timeout: 120 },
  // Integration and e2e tests start real servers and measure grace periods: one at a time.
  { name: 'integration', dir: 'test/integration', jobs: 1, timeout: 300 },
  { name: 'e2e', dir: 'test/e2e', jobs: 1, timeout: 600 },
];
const otherPhase = { name: 'other', dir: '', jobs: 1, timeout: 300 };

const usage = `Usage: npm test -- [PATH...] [OPTIONS]
       node test/run.mjs [PATH...] [OPTIONS]

Runs the tap test files (*.test.ts) under test/unit, then test/integration, then test/e2e,
or only those under the given PATHs (files or folders, relative to the repository root).
The last line of output is "N passed, N failed" (plus ", N skipped" when any were); the
exit code is 1 when anything failed or no test ran, 2 on a usage error.

Options:
  --jobs N          test files run at once in every phase (default: unit 2, others 1)
  --timeout S       seconds before a test file is timed out (default: unit 120,
                    integration 300, e2e 600)
  --grep PATTERN    run only the subtests whose names match (tap's TAP_GREP); repeatable
  --no-build        do not run "tsc -b" first (tests import the packages' dist/)
  --failed-step N   count an earlier failed step (e.g. lint) as a failure; repeatable
  -h, --help        show this help`;

function usageError(message) {
  process.stderr.write(`test/run.mjs: ${message}\n\n${usage}\n`);
  process.exit(2);
}

function positiveInteger(flag, value, max) {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || n < 1 || n > max) {
    usageError(`${flag} must be a whole number from 1 to ${max}, got ${JSON.stringify(value ?? '')}`);
  }
  return n;
}

function parseArgs(argv) {
  const options = { paths: [], jobs: undefined, timeout: undefined, grep: [], build: true, failedSteps: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const [flag, inline] =
      arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      i += 1;
      if (argv[i] === undefined) usageError(`${flag} needs a value`);
      return argv[i];
    };
    switch (flag) {
      case '-h':
      case '--help':
        process.stdout.write(`${usage}\n`);
        process.exit(0);
        break;
      case '--jobs':
        options.jobs = positiveInteger('--jobs', value(), 64);
        break;
      case '--timeout':
        options.timeout = positiveInteger('--timeout', value(), 24 * 3600);
        break;
      case '--grep':
        options.grep.push(value());
        break;
      case '--no-build':
        options.build = false;
        break;
      case '--failed-step': {
        const step = value();
        if (!/^[\w:.-]+$/.test(step))
          usageError(`--failed-step must be a step name like "lint", got ${JSON.stringify(step)}`);
        options.failedSteps.push(step);
        break;
      }
      default:
        if (arg.startsWith('-')) {
          usageError(
            `unknown option ${JSON.stringify(arg)}; valid: --jobs, --timeout, --grep, --no-build, --failed-step, --help`,
          );
        }
        options.paths.push(arg);
    }
  }
  return options;
}

function findTestFiles(dir) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'dist' && !entry.name.startsWith('.')) {
        found.push(...findTestFiles(path));
      }
    } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
      found.push(path);
    }
  }
  return found.sort();
}

function selectFiles(paths) {
  if (paths.length === 0) return phases.flatMap((phase) => findTestFiles(join(root, phase.dir)));
  const files = new Set();
  for (const path of paths) {
    const abs = resolve(process.cwd(), path);
    if (!existsSync(abs)) usageError(`test path ${JSON.stringify(path)} does not exist`);
    const matched = statSync(abs).isDirectory() ? findTestFiles(abs) : abs.endsWith('.ts') ? [abs] : [];
    if (matched.length === 0) usageError(`no test files (*.test.ts) under ${JSON.stringify(path)}`);
    for (const file of matched) files.add(file);
  }
  return [...files].sort();
}

function phaseOf(file) {
  return phases.find((phase) => file.startsWith(join(root, phase.dir) + sep)) ?? otherPhase;
}

// --- process groups ----------------------------------------------------------------------

/** Live (non-zombie) processes of a process group, read from /proc. */
function groupMembers(pgid) {
  const members = [];
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return members;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid || fields[0] === 'Z') continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      members.push({ pid: Number(entry), cmd: cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd });
    } catch {
      // the process went away while we looked
    }
  }
  return members;
}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- running one file --------------------------------------------------------------------

const running = new Set();
const loaderImports = ['@tapjs/typescript/import', '@tapjs/mock/import'].map(
  (specifier) => `--import=${import.meta.resolve(specifier)}`,
);

function indent(text) {
  return text.replace(/^(?=.)/gm, '    ');
}

/**
 * Runs one test file; resolves with its counted tests and the TAP text to show. When
 * `stream` is set the output is written as it arrives, else it is returned for printing.
 */
function runFile(file, { timeout, grep, stream }) {
  const name = relative(root, file);
  const started = Date.now();
  const env = {
    ...process.env,
    TAP_TIMEOUT: String(timeout),
    TS_NODE_PROJECT: join(root, 'test/tsconfig.json'),
    // tsc -b type-checks the tests as part of the build; here they are only transpiled.
    TS_NODE_TRANSPILE_ONLY: '1',
    // Every agent a test starts (directly, or through deploy up) answers names outside the
    // cluster domain with NXDOMAIN instead of forwarding them to this machine's
    // nameservers: tests send traffic only to loopback and to their own test hosts.
    FLOTILLA_DNS_UPSTREAMS: 'none',
  };
  if (grep.length > 0) env.TAP_GREP = grep.join('\n');
  const child = spawn(process.execPath, [...loaderImports, '--enable-source-maps', file], {
    cwd: root,
    env,
    detached: true, // its own process group, so that whatever it leaves behind can be reaped
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const job = { child, killed: false };
  running.add(job);

  const tests = [];
  const parser = new Parser();
  let parsed = null;
  parser.on('complete', (results) => (parsed = results));
  parser.on('assert', (result) => {
    const status = result.todo ? 'todo' : result.skip ? 'skipped' : result.ok ? 'passed' : 'failed';
    const why =
      typeof result.skip === 'string' ? result.skip : typeof result.todo === 'string' ? result.todo : '';
    tests.push({ name: result.name || `#${result.id}`, status, why });
  });

  let out = '';
  let err = '';
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    parser.write(chunk);
    // Show the file's TAP as a subtest of ours: indented, without its own version line.
    pending += chunk;
    const cut = pending.lastIndexOf('\n') + 1;
    const lines = pending.slice(0, cut).replace(/^TAP version \d+\n/m, '');
    pending = pending.slice(cut);
    if (stream) process.stdout.write(indent(lines));
    else out += indent(lines);
  });
  child.stderr.on('data', (chunk) => {
    if (stream) process.stderr.write(chunk);
    else err += chunk;
  });

  return new Promise((resolveRun) => {
    let timedOut = false;
    // tap times the file out itself at TAP_TIMEOUT and reports the pending tests; this is
    // the backstop for a process that does not end even then.
    const backstop = setTimeout(
      () => {
        timedOut = true;
        killGroup(child.pid, 'SIGKILL');
      },
      (timeout + 30) * 1000,
    );
    const closed = new Promise((r) => child.on('close', r));
    child.on('exit', async (exitCode, signal) => {
      clearTimeout(backstop);
      // Give processes the test stopped a moment to finish exiting before calling them leftovers.
      let leftovers = groupMembers(child.pid);
      for (let waited = 0; leftovers.length > 0 && waited < 5000; waited += 250) {
        await sleep(250);
        leftovers = groupMembers(child.pid);
      }
      if (leftovers.length > 0) killGroup(child.pid, 'SIGKILL');
      // A process that inherited the pipes could hold them open; do not wait for it forever.
      let giveUp;
      await Promise.race([closed, new Promise((r) => (giveUp = setTimeout(r, 5000)))]);
      clearTimeout(giveUp);
      child.stdout.destroy();
      child.stderr.destroy();
      running.delete(job);
      const rest = pending.replace(/^TAP version \d+$/m, '');
      if (rest) {
        parser.write(`${rest}\n`);
        if (stream) process.stdout.write(indent(`${rest}\n`));
        else out += indent(`${rest}\n`);
      }
      parser.end();

      const problems = [];
      if (job.killed) problems.push('interrupted');
      if (timedOut) problems.push(`timed out after ${timeout + 30} s and was killed`);
      else if (signal) problems.push(`killed by ${signal}${signal === 'SIGALRM' ? ' (tap timeout)' : ''}`);
      else if (exitCode !== 0) problems.push(`exited with code ${exitCode}`);
      if (parsed && !parsed.ok) {
        for (const failure of parsed.failures.filter((f) => f.tapError))
          problems.push(`invalid TAP: ${failure.tapError}`);
        if (parsed.bailout) problems.push(`bailed out: ${parsed.bailout === true ? '' : parsed.bailout}`);
      }
      if (leftovers.length > 0) {
        problems.push(
          `left ${leftovers.length} process(es) running, now killed: ${leftovers.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`,
        );
      }
      const failedTests = tests.filter((t) => t.status === 'failed').length;
      if (problems.length > 0 && (failedTests === 0 || leftovers.length > 0)) {
        tests.push({ name: problems.join('; '), status: 'failed', why: '' });
      } else if (tests.length === 0 && problems.length === 0) {
        const why =
          parsed?.plan.skipAll && parsed.plan.skipReason ? parsed.plan.skipReason : 'no tests found';
        tests.push({ name: '(the whole file)', status: 'skipped', why });
      }
      resolveRun({ name, tests, problems, out, err, ms: Date.now() - started });
    });
  });
}

// --- reporting ---------------------------------------------------------------------------

let fileCount = 0;

function report(result) {
  fileCount += 1;
  const failed = result.tests.some((t) => t.status === 'failed');
  const allSkipped = result.tests.every((t) => t.status === 'skipped');
  if (result.out) process.stdout.write(result.out);
  let line = `${failed ? 'not ok' : 'ok'} ${fileCount} - ${result.name} # time=${result.ms}ms`;
  if (!failed && allSkipped) line = `ok ${fileCount} - ${result.name} # SKIP ${result.tests[0]?.why ?? ''}`;
  process.stdout.write(`${line}\n`);
  if (result.problems.length > 0) {
    process.stdout.write(
      `  ---\n${result.problems.map((p) => `  problem: ${JSON.stringify(p)}\n`).join('')}  ...\n`,
    );
  }
  process.stdout.write('\n');
  if (result.err)
    process.stderr.write(
      `--- stderr of ${result.name} ---\n${result.err}--- end of stderr of ${result.name} ---\n`,
    );
}

async function runPhase(phase, files, options, results) {
  const jobs = options.jobs ?? phase.jobs;
  const timeout = options.timeout ?? phase.timeout;
  const stream = jobs === 1;
  process.stdout.write(
    `# ${phase.name}: ${files.length} file(s), ${jobs} at a time, timeout ${timeout} s each\n`,
  );
  const queue = [...files];
  const worker = async () => {
    while (queue.length > 0 && !interrupted) {
      const file = queue.shift();
      if (stream) process.stdout.write(`# Subtest: ${relative(root, file)}\n`);
      const result = await runFile(file, { timeout, grep: options.grep, stream });
      if (!stream) process.stdout.write(`# Subtest: ${result.name}\n`);
      results.push(result);
      report(result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));
}

function summarize(results, failedSteps) {
  const all = results.flatMap((r) => r.tests.map((t) => ({ ...t, file: r.name })));
  const count = (status) => all.filter((t) => t.status === status).length;
  const passed = count('passed');
  const failed = count('failed') + failedSteps.length;
  const skipped = count('skipped') + count('todo');
  process.stdout.write(`1..${fileCount}\n`);
  for (const step of failedSteps) process.stdout.write(`# failed step: ${step}\n`);
  for (const t of all.filter((t) => t.status === 'failed'))
    process.stdout.write(`# failed: ${t.file}: ${t.name}\n`);
  for (const t of all.filter((t) => t.status === 'skipped' || t.status === 'todo')) {
    process.stdout.write(`# ${t.status}: ${t.file}: ${t.name}${t.why ? ` (${t.why})` : ''}\n`);
  }
  if (passed + failed === 0) process.stdout.write('# no test ran\n');
  process.stdout.write(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  return failed > 0 || passed + failed === 0 ? 1 : 0;
}

// --- main --------------------------------------------------------------------------------

let interrupted = false;

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const files = selectFiles(options.paths);
  const failedSteps = [...options.failedSteps];
  const results = [];

  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      process.stderr.write(`test/run.mjs: ${signal}: stopping the running test files\n`);
      for (const job of running) {
        job.killed = true;
        killGroup(job.child.pid, 'SIGTERM');
        setTimeout(() => killGroup(job.child.pid, 'SIGKILL'), 5000).unref();
      }
    });
  }

  process.stdout.write('TAP version 14\n');
  if (options.build) {
    // The tests import @flotilla/* from the packages' dist/: build them first (incremental).
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const build = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) {
      process.stdout.write('# build failed (tsc -b): the tests run against whatever dist/ there is\n');
      failedSteps.push('build');
    } else {
      // The e2e tests run bin/deploy.js, which uses the CLI's bundle only while it is fresh.
      const bundle = spawnSync(process.execPath, [join(root, 'scripts/bundle-cli.mjs'), '--if-stale'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      if (bundle.stdout) process.stdout.write(`# ${bundle.stdout}`);
      if (bundle.status !== 0) {
        process.stdout.write('# bundling the CLI failed: deploy runs unbundled\n');
        failedSteps.push('bundle');
      }
      // Likewise the agent's: the harnesses start agent/bin/flotilla-agent.js.
      const agentBundle = spawnSync(
        process.execPath,
        [join(root, 'scripts/bundle-agent.mjs'), '--if-stale'],
        {
          cwd: root,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      if (agentBundle.stdout) process.stdout.write(`# ${agentBundle.stdout}`);
      if (agentBundle.status !== 0) {
        process.stdout.write('# bundling the agent failed: the agent runs unbundled\n');
        failedSteps.push('agent-bundle');
      }
      const models = spawnSync(process.execPath, [join(root, 'scripts/kube-models.mjs'), '--if-stale'], {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      if (models.status !== 0) {
        process.stdout.write('# extracting the Kubernetes models failed: deploy imports them\n');
        failedSteps.push('kube-models');
      }
    }
  }

  for (const phase of [...phases, otherPhase]) {
    const phaseFiles = files.filter((file) => phaseOf(file) === phase);
    if (phaseFiles.length > 0 && !interrupted) await runPhase(phase, phaseFiles, options, results);
  }
  if (interrupted) failedSteps.push('interrupted');
  process.exitCode = summarize(results, failedSteps);
}

await main();
