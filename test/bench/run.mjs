#!/usr/bin/env node
// Entry point of the `npm run bench:<name>` scripts: `node test/bench/run.mjs NAME [ARGS]`
// compiles every package (`tsc -b`) and remakes stale bundles (unless --no-build), then
// runs the benchmark compiled to test/dist/bench/NAME.js with ARGS.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [name, ...argv] = process.argv.slice(2);
const benchmarks = ['images', 'containers', 'orchestration', 'services'];
if (!benchmarks.includes(name ?? '')) {
  process.stderr.write(`bench: name one of ${benchmarks.join(', ')}: node test/bench/run.mjs NAME [ARGS]\n`);
  process.exit(2);
}
if (!argv.includes('--no-build')) {
  const tsc = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  // The harnesses start bin/deploy.js and the agent's bin, which run their bundles only while
  // they are fresh (a stale one falls back to the slower unbundled code, and the figures with
  // it); the CLI checks manifests against the extracted models.
  for (const script of ['scripts/bundle-cli.mjs', 'scripts/bundle-agent.mjs', 'scripts/kube-models.mjs']) {
    const step = spawnSync(process.execPath, [script, '--if-stale'], { cwd: root, stdio: 'inherit' });
    if (step.status !== 0) process.exit(step.status ?? 1);
  }
}
const compiled = resolve(root, `test/dist/bench/${name}.js`);
if (!existsSync(compiled)) {
  process.stderr.write(`bench:${name}: ${compiled} is missing; run without --no-build\n`);
  process.exit(1);
}
const { main } = await import(pathToFileURL(compiled).href);
try {
  process.exitCode = await main(argv);
} catch (err) {
  process.stderr.write(`bench:${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
