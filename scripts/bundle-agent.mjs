#!/usr/bin/env node
// Bundles the built agent (agent/dist/main.js and everything it imports) into one ES module,
// agent/dist/bundle/flotilla-agent.mjs; run after `tsc -b` by `npm run build`,
// scripts/setup.sh and the test and bench runners.
//
// Why: the agent is one long-lived process per host and its memory is what users count.
// Unbundled it loads ~330 modules, and V8 keeps every module's whole source text (comments
// included) and a module record for each for the life of the process. One bundle without
// comments, with the parts of its packages it never uses left out, holds less: importing
// the agent's modules took 64 MB RSS (12 MB of JS heap) unbundled and 54 MB (8.7 MB) from
// the bundle, and loading takes half the time (~210 -> ~100 ms on this 2-core machine).
//
// bin/flotilla-agent.js uses the bundle only while no workspace package it was made from
// has been rebuilt since (the .tsbuildinfo files listed in inputs.json beside it), and the
// unbundled dist/ otherwise, so a `tsc -b` alone never runs stale code.
import { readFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleIsFresh } from '../agent/bin/bundle-freshness.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'agent/dist/bundle');
const usage =
  'Usage: node scripts/bundle-agent.mjs [--if-stale]  (--if-stale: only when bin/flotilla-agent.js would not use it)';

const args = process.argv.slice(2);
if (args.some((arg) => arg !== '--if-stale')) {
  process.stderr.write(
    `bundle-agent: unknown argument ${JSON.stringify(args.find((a) => a !== '--if-stale'))}\n${usage}\n`,
  );
  process.exit(2);
}
if (args.includes('--if-stale') && bundleIsFresh()) process.exit(0);

// Modules find files beside them from import.meta.url (agent/libexec/*.py, the agent's
// package.json), each from its own depth under dist/. In the bundle every module's
// import.meta.url becomes the URL its dist/ file has, computed from the bundle's own URL.
const moduleUrls = {
  name: 'module-urls',
  setup(b) {
    b.onLoad({ filter: /\.m?js$/ }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = relative(outdir, path).split('\\').join('/');
      return {
        contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
        loader: 'js',
        resolveDir: dirname(path),
      };
    });
  },
};

// The workspace packages have no import-time side effects (no bare imports, no top-level
// statements but declarations and TypeScript's enum initialisers), so a module whose exports
// the agent never uses is left out, with what only it imports: the CLI's config (and yaml),
// image builds, the API's messages. Their barrels would otherwise load all of it.
const workspaceDist = new RegExp(`^${root.replaceAll('\\', '/')}/(agent|common|images|proto)/dist/`);
const noSideEffects = {
  name: 'workspace-side-effects',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === noSideEffects) return undefined;
      const { kind, importer, resolveDir, namespace, with: attributes } = args;
      const resolved = await b.resolve(args.path, {
        kind,
        importer,
        resolveDir,
        namespace,
        with: attributes,
        pluginData: noSideEffects,
      });
      if (resolved.errors.length > 0 || !workspaceDist.test(resolved.path.split('\\').join('/')))
        return resolved;
      return { ...resolved, sideEffects: false };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [join(root, 'agent/dist/main.js')],
  outfile: join(outdir, 'flotilla-agent.mjs'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The CommonJS packages inside (grpc-js, nats) require Node's modules and the externals.
  banner: {
    js: "import { createRequire as __flotillaRequire } from 'node:module';\nconst require = __flotillaRequire(import.meta.url);",
  },
  external: [
    // Only a join (once per node) issues a certificate request: imported then from
    // node_modules, rather than its ~500 KB of source held by every agent for good.
    '@peculiar/x509',
    // grpc-js loads it for channelz only, which the agent does not turn on.
    '@grpc/proto-loader',
  ],
  // V8 keeps the whole source for the life of the process, with a line-ends table over it:
  // whitespace and syntax minified (names kept, so stack traces still name the functions)
  // it is 1.3 MB instead of 2.0, and the agent ~3.5 MB smaller (70-71 against 73.6-74.6 MB
  // RSS with 30 containers, containers bench). FLOTILLA_AGENT_BUNDLE=0 runs the readable dist/.
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [noSideEffects, moduleUrls],
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const inputs = Object.keys(result.metafile.inputs).map((file) => relative(root, resolve(root, file)));
// What the plugin above relies on, checked: no workspace module is imported for its effects.
for (const file of inputs.filter((f) => workspaceDist.test(`${root}/${f}`))) {
  const text = await readFile(join(root, file), 'utf8');
  const bare = /^import\s*['"][^'"]+['"]/m.exec(text);
  if (bare) throw new Error(`bundle-agent: ${file} has "${bare[0]}", which the bundle would leave out`);
}
// tsc -b rewrites a project's .tsbuildinfo whenever it emits anything for it: a few stats
// instead of one per input tell bin/flotilla-agent.js whether the bundle is stale.
const buildInfos = [...new Set(inputs.filter((f) => /^[a-z]+\/dist\//.test(f)).map((f) => f.split('/')[0]))]
  .sort()
  .map((pkg) => `${pkg}/dist/.tsbuildinfo`);
if (!buildInfos.includes('agent/dist/.tsbuildinfo')) {
  throw new Error(`bundle-agent: agent/dist is not among the bundle's inputs (${buildInfos.join(', ')})`);
}
await writeFile(join(outdir, 'inputs.json'), `${JSON.stringify({ buildInfos, inputs }, null, 1)}\n`);
process.stdout.write(
  `bundled the agent into ${relative(root, outdir)}/flotilla-agent.mjs (${inputs.length} inputs)\n`,
);
