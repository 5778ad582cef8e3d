#!/usr/bin/env node
// Writes deploy/dist/kube-models.json: the attribute type maps of @kubernetes/client-node's
// models that Flotilla's manifests can reach (from the kinds in deploy/src/objects/kinds.ts,
// through every field's type). The CLI validates manifests against them; reading this file
// takes a few milliseconds, importing the package's 2,700 model modules ~150-250 ms per
// `deploy apply`. Run by `npm run build` (and so by setup.sh and the test runner).
//
//   node scripts/kube-models.mjs [--if-stale]
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, 'deploy/dist/kube-models.json');
const kindsSource = resolve(root, 'deploy/src/objects/kinds.ts');
const require = createRequire(resolve(root, 'deploy/package.json'));
const packageJson = require.resolve('@kubernetes/client-node/package.json');
const modelsModule = resolve(dirname(packageJson), 'dist/gen/models/all.js');

if (process.argv.includes('--if-stale') && existsSync(out)) {
  const built = statSync(out).mtimeMs;
  if (statSync(kindsSource).mtimeMs <= built && statSync(packageJson).mtimeMs <= built) process.exit(0);
}

const roots = [...readFileSync(kindsSource, 'utf8').matchAll(/model: '([A-Za-z0-9]+)'/g)].map((m) => m[1]);
if (roots.length === 0) throw new Error(`kube-models: no "model: '...'" entries in ${kindsSource}`);
const models = await import(pathToFileURL(modelsModule).href);
const maps = {};
const pending = [...roots];
while (pending.length > 0) {
  const name = pending.pop();
  if (name in maps) continue;
  const map = models[name]?.getAttributeTypeMap?.();
  if (!map) {
    if (roots.includes(name)) throw new Error(`kube-models: @kubernetes/client-node has no model ${name}`);
    continue; // a primitive or container word ("Array", "Date"): nothing to describe
  }
  maps[name] = map.map(({ name: n, baseName, type, format }) => ({ name: n, baseName, type, format }));
  for (const attribute of map)
    for (const [word] of attribute.type.matchAll(/[A-Z][A-Za-z0-9]+/g)) pending.push(word);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(maps));
