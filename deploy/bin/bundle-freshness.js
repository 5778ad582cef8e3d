// Whether the CLI's bundle (scripts/bundle-cli.mjs) may run: it is newer than the build of
// every workspace package it was made from. tsc -b rewrites a project's .tsbuildinfo
// whenever it emits anything for it, so the build infos listed in inputs.json are a few
// stats instead of one per input. Shared by bin/deploy.js and `bundle-cli --if-stale`.
// CommonJS, as bin/deploy.js (see there); ES modules import it by name all the same.
const { readFileSync, statSync } = require('node:fs');
const { pathToFileURL } = require('node:url');

const here = pathToFileURL(__filename);
const bundleDir = new URL('../dist/bundle/', here);

function bundleIsFresh() {
  try {
    const builtMs = statSync(new URL('deploy.cjs', bundleDir)).mtimeMs;
    const { buildInfos } = JSON.parse(readFileSync(new URL('inputs.json', bundleDir), 'utf8'));
    const root = new URL('../../', here);
    return (
      buildInfos.length > 0 && buildInfos.every((file) => statSync(new URL(file, root)).mtimeMs <= builtMs)
    );
  } catch {
    return false;
  }
}

module.exports = { bundleDir, bundleIsFresh };
