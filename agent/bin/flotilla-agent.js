#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --v8-pool-size=1 --no-opt
// The `flotilla-agent` command. A committed file rather than dist/main.js, so that `npm ci`
// can link it before the first build. It runs the bundle of scripts/bundle-agent.mjs while
// no package the bundle was made from has been rebuilt since; otherwise (after a `tsc -b`
// alone, or FLOTILLA_AGENT_BUNDLE=0) the unbundled dist/main.js, which behaves the same.
// The shebang carries the agent's V8 flags (common/src/process/node-flags.ts; a unit test
// checks that they agree).
import { bundleFile, bundleIsFresh } from './bundle-freshness.js';

if (process.env.FLOTILLA_AGENT_BUNDLE !== '0' && bundleIsFresh()) await import(bundleFile.href);
else await import('../dist/main.js');
