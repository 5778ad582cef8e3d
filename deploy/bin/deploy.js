#!/bin/sh
// 2>/dev/null; case "$NODE_OPTIONS" in *--use-openssl-ca* | *--use-bundled-ca* | *--use-system-ca*) exec node "$0" "$@" ;; esac; unset FLOTILLA_CLI_NODE_EXTRA_CA_CERTS FLOTILLA_CLI_SSL_CERT_FILE; [ -z "${NODE_EXTRA_CA_CERTS+set}" ] || export FLOTILLA_CLI_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; [ -z "${SSL_CERT_FILE+set}" ] || export FLOTILLA_CLI_SSL_CERT_FILE="$SSL_CERT_FILE"; unset NODE_EXTRA_CA_CERTS; export FLOTILLA_CLI_LAUNCHER=1 SSL_CERT_FILE=/dev/null; exec node --use-openssl-ca "$0" "$@"
// The `deploy` command. A committed file rather than dist/main.js, so that `npm ci` can
// link it before the first build. It runs the bundle of scripts/bundle-cli.mjs, compiled
// from V8's code cache, while no package the bundle was made from has been rebuilt since;
// otherwise (after a `tsc -b` alone, or FLOTILLA_CLI_BUNDLE=0) the unbundled dist/.
//
// Executed, it starts as a shell script: line 2 is a comment to Node and, to /bin/sh, runs
// `//` (a directory: it fails, silently) and then the launcher, which execs node on this
// file with no CA to trust by default, because every TLS connection the CLI makes names
// its CAs: the cluster CA for the controller; for registries without a CA of their own,
// Node's bundled roots plus the NODE_EXTRA_CA_CERTS file, read by the registry client when
// it first opens an HTTPS connection (images/src/registry/http.ts). What Node would do at
// its start otherwise, and the CLI then does not pay:
// - parse NODE_EXTRA_CA_CERTS (this environment's system bundle: `node -e 0` 84 ms against
//   30 without): the launcher moves it aside;
// - parse its ~140 bundled roots into the default store at the first TLS context, even one
//   given its own `ca` (~20-30 ms of CPU here): the launcher runs node with
//   --use-openssl-ca and SSL_CERT_FILE=/dev/null, an empty default store, made below.
// Both variables are put back below, as the user set them (set, set but empty, or unset),
// for every process the CLI starts. With --use-openssl-ca, --use-bundled-ca or (a later
// Node's) --use-system-ca already in NODE_OPTIONS, the launcher leaves all of it to Node:
// the trust is then a store the registry client could not rebuild, or Node refuses the
// flag next to --use-openssl-ca.
// `node bin/deploy.js` skips the launcher: Node's defaults, as before.
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
// starts (they may pull from registries too); the registry client learns of it from
// deploy/src/cli/launcher-trust.ts. OpenSSL reads SSL_CERT_FILE when the default store is
// made, so it is made first, empty.
if (process.env.FLOTILLA_CLI_LAUNCHER === '1') {
  require('node:tls').createSecureContext();
  for (const name of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE']) {
    const kept = process.env[`FLOTILLA_CLI_${name}`];
    delete process.env[`FLOTILLA_CLI_${name}`];
    if (kept === undefined) delete process.env[name];
    else process.env[name] = kept;
  }
  delete process.env.FLOTILLA_CLI_LAUNCHER;
  globalThis.__flotillaLauncherTrust = { extraCaFile: process.env.NODE_EXTRA_CA_CERTS };
  trace('bin: no default CAs; NODE_EXTRA_CA_CERTS left to the registry client');
}

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
