// Whether the agent's bundle (scripts/bundle-agent.mjs) may run: it is newer than the build
// of every workspace package it was made from. tsc -b rewrites a project's .tsbuildinfo
// whenever it emits anything for it, so the build infos listed in inputs.json are a few
// stats instead of one per input. Shared by bin/flotilla-agent.js and
// `bundle-agent --if-stale` (the CLI's deploy/bin/bundle-freshness.js does the same for it).
import { readFileSync, statSync } from 'node:fs';

export const bundleDir = new URL('../dist/bundle/', import.meta.url);
export const bundleFile = new URL('flotilla-agent.mjs', bundleDir);

export function bundleIsFresh() {
  try {
    const builtMs = statSync(bundleFile).mtimeMs;
    const { buildInfos } = JSON.parse(readFileSync(new URL('inputs.json', bundleDir), 'utf8'));
    const root = new URL('../../', import.meta.url);
    return (
      buildInfos.length > 0 && buildInfos.every((file) => statSync(new URL(file, root)).mtimeMs <= builtMs)
    );
  } catch {
    return false;
  }
}
