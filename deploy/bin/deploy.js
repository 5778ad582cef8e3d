#!/bin/sh
// 2>/dev/null; case "${NODE_EXTRA_CA_CERTS+set}:$NODE_OPTIONS" in :* | *--use-openssl-ca*) ;; *) export FLOTILLA_CLI_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS ;; esac; exec node "$0" "$@"
// The `deploy` command. A committed file rather than dist/main.js, so that `npm ci` can
// link it before the first build. It runs the bundle of scripts/bundle-cli.mjs, compiled
// from V8's code cache, while no package the bundle was made from has been rebuilt since;
// otherwise (after a `tsc -b` alone, or FLOTILLA_CLI_BUNDLE=0) the unbundled dist/.
//
// Executed, it starts as a shell script: line 2 is a comment to Node and, to /bin/sh, runs
// `//` (a directory: it fails, silently) and then the launcher, which execs node on this
// file. The launcher keeps NODE_EXTRA_CA_CERTS from Node's start: Node reads and parses that
// file at every start, before any code runs (this environment's system bundle: `node -e 0`
// 84 ms against 30 without), and the CLI needs those CAs only for registries, whose client
// reads the file itself when it first opens an HTTPS connection (images/src/registry/
// http.ts). Set but empty is kept too; with --use-openssl-ca in NODE_OPTIONS it is left to
// Node, whose trust then is OpenSSL's store, which the registry client could not rebuild.
// `node bin/deploy.js` skips the launcher: Node parses the file itself, as before.
//
// CommonJS (bin/package.json), unlike the rest of deploy/: as the main module an ES
// module makes Node set up its ES module loader (resolve, read through the thread pool,
// link) for this file and the next before the bundle even starts, 6-12 ms of CPU of every
// command; CommonJS is read and compiled synchronously. import() still works from here.
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const { fileURLToPath } = require('node:url');
const vm = require('node:vm');
const { bundleDir, bundleIsFresh } = require('./bundle-freshness.js');

// FLOTILLA_CLI_TRACE=1: where start-up goes (as deploy/src/cli/trace.ts, which the bundle has).
const tracing = process.env.FLOTILLA_CLI_TRACE === '1';
const trace = (label) => {
  if (!tracing) return;
  const cpu = process.cpuUsage();
  process.stderr.write(
    `trace ${performance.now().toFixed(1)} ms cpu ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms ${label}\n`,
  );
};
trace('bin: started');

// Put back what the launcher moved aside, as the user set it, for every process the CLI
// starts (they may pull from registries too); the registry client gets the file from
// deploy/src/cli/extra-ca-certs.ts.
const keptCaCerts = process.env.FLOTILLA_CLI_EXTRA_CA_CERTS;
if (keptCaCerts !== undefined) {
  delete process.env.FLOTILLA_CLI_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = keptCaCerts;
  globalThis.__flotillaExtraCaCerts = keptCaCerts;
  trace("bin: NODE_EXTRA_CA_CERTS kept from Node's start, for the registry client");
}
if (tracing) process.once('exit', () => trace('exit'));

const bundleFile = fileURLToPath(new URL('deploy.cjs', bundleDir));

// One cache per command: each holds the functions its command compiled, written after its
// first run (or when V8 rejects it: another bundle, Node or flags). Best effort: a
// directory we cannot write only costs the speed-up.
function cacheFileFor(argv) {
  const command = argv.find((arg) => !arg.startsWith('-'));
  const name = command && /^[a-z][a-z-]{0,30}$/.test(command) ? command : 'deploy';
  return fileURLToPath(new URL(`cache/${name}.v8`, bundleDir));
}

function runBundle() {
  const cacheFile = cacheFileFor(process.argv.slice(2));
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // ASCII (scripts/bundle-cli.mjs checks): latin1 copies the bytes, UTF-8 would decode them.
  const source = readFileSync(bundleFile, 'latin1').replace(/^#!.*/, '');
  trace(`bin: bundle read (cache ${cachedData ? cachedData.length : 0} bytes)`);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundleFile,
    cachedData,
  });
  trace(`bin: bundle compiled${script.cachedDataRejected ? ' (cache rejected)' : ''}`);
  // The packages the bundle leaves out are imported from here (deploy/src/cli/import-external.ts).
  globalThis.__flotillaImport = (specifier) => import(specifier);
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', () => {
      // Help or a usage error (deploy/src/cli/code-cache.ts): the next real run writes it.
      if (globalThis.__flotillaSkipCodeCache) return;
      try {
        mkdirSync(dirname(cacheFile), { recursive: true });
        writeFileSync(`${cacheFile}.${process.pid}`, script.createCachedData());
        renameSync(`${cacheFile}.${process.pid}`, cacheFile);
      } catch {
        // Read-only install, or another process won the rename: no cache this time.
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(
    module.exports,
    createRequire(bundleFile),
    module,
    bundleFile,
    dirname(bundleFile),
  );
  trace('bin: bundle evaluated');
}

if (process.env.FLOTILLA_CLI_BUNDLE !== '0' && bundleIsFresh()) runBundle();
// A failure to load is an unhandled rejection: printed, exit code 1, as the top-level
// await of the ES module was.
else void import('../dist/main.js');
