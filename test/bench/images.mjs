#!/usr/bin/env node
// Entry point of `npm run bench:images`: compiles the images and test packages (unless
// --no-build), then runs the benchmark compiled to test/dist/bench/images.js.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
if (!argv.includes('--no-build')) {
  const tsc = spawnSync('npx', ['tsc', '-b', 'images', 'test'], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}
const { main } = await import(pathToFileURL(resolve(root, 'test/dist/bench/images.js')).href);
try {
  process.exitCode = await main(argv);
} catch (err) {
  process.stderr.write(`bench:images: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
