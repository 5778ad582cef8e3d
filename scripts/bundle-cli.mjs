#!/usr/bin/env node
// Bundles the built CLI (deploy/dist/main.js and everything it imports) into one CommonJS
// file, deploy/dist/bundle/deploy.cjs; run after `tsc -b` by `npm run build`,
// scripts/setup.sh and the test runner.
//
// Why: a `deploy` process spent most of its start-up resolving, reading, compiling and
// linking some 400 small ES modules. One file is read and compiled once, and as a classic
// script it can be compiled from V8's code cache (bin/deploy.js keeps one per command),
// which ES modules cannot on Node 20. `deploy --help` went from ~300 ms to ~100 ms of CPU
// on this 2-core machine (bare `node -e 1`: 65 ms).
//
// bin/deploy.js uses the bundle only while no workspace package it was made from has been
// rebuilt since (the .tsbuildinfo files listed in inputs.json beside it), and the
// unbundled dist/ otherwise, so a `tsc -b` alone never runs stale code.
//
// The bundle sits at the same depth as deploy/dist/local/, so the paths the CLI computes
// from import.meta.url (the repository root, examples/) resolve the same.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleIsFresh } from '../deploy/bin/bundle-freshness.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'deploy/dist/bundle');
const usage =
  'Usage: node scripts/bundle-cli.mjs [--if-stale]  (--if-stale: only when bin/deploy.js would not use it)';

const args = process.argv.slice(2);
if (args.some((arg) => arg !== '--if-stale')) {
  process.stderr.write(
    `bundle-cli: unknown argument ${JSON.stringify(args.find((a) => a !== '--if-stale'))}\n${usage}\n`,
  );
  process.exit(2);
}
if (args.includes('--if-stale') && bundleIsFresh()) process.exit(0);

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [join(root, 'deploy/dist/main.js')],
  outfile: join(outdir, 'deploy.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // CommonJS has no import.meta; the bundle's own URL stands in (same directory depth).
  define: { 'import.meta.url': '__flotillaBundleUrl' },
  banner: { js: "const __flotillaBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Large, ESM-only and rarely used: imported from node_modules when a command needs it.
  external: ['@kubernetes/client-node'],
  metafile: true,
  legalComments: 'none',
  // Non-ASCII characters escaped: bin/deploy.js reads the bundle as latin1, a plain copy
  // of its bytes, instead of decoding 2.5 MB of UTF-8 (~4 ms of every command).
  charset: 'ascii',
  logLevel: 'warning',
});
if (readFileSync(join(outdir, 'deploy.cjs')).some((byte) => byte > 0x7f)) {
  throw new Error('bundle-cli: deploy.cjs is not ASCII, but bin/deploy.js reads it as latin1');
}
const inputs = Object.keys(result.metafile.inputs).map((file) => relative(root, resolve(root, file)));
// tsc -b rewrites a project's .tsbuildinfo whenever it emits anything for it: a few stats
// instead of one per input tell bin/deploy.js whether the bundle is stale.
const buildInfos = [...new Set(inputs.filter((f) => /^[a-z]+\/dist\//.test(f)).map((f) => f.split('/')[0]))]
  .sort()
  .map((pkg) => `${pkg}/dist/.tsbuildinfo`);
if (!buildInfos.includes('deploy/dist/.tsbuildinfo')) {
  throw new Error(`bundle-cli: deploy/dist is not among the bundle's inputs (${buildInfos.join(', ')})`);
}
writeFileSync(join(outdir, 'inputs.json'), `${JSON.stringify({ buildInfos, inputs }, null, 1)}\n`);
process.stdout.write(`bundled the CLI into ${relative(root, outdir)}/deploy.cjs (${inputs.length} inputs)\n`);
