// The Node/V8 flags the agent runs with (its shebang, `deploy up`, the test harness). The
// agent is one long-lived process per host whose memory is what users count. Measured on
// this machine with 30 running containers and after repeated start/remove churn
// (BENCHMARKS.md): 86–92 MB RSS with Node's defaults, 76–80 MB with these, for the same
// agent CPU time per container.
// - a 1 MB semi-space: the young generation otherwise grows to 16 MB pages that stay mapped;
// - --optimize-for-size: V8 prefers smaller heap growth and code over peak speed;
// - one V8 platform worker thread instead of one per core: fewer thread stacks and arenas.
export const agentNodeFlags: readonly string[] = [
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--v8-pool-size=1',
];

/** The agent's shebang line, which must carry agentNodeFlags (checked by a unit test). */
export const agentShebang = `#!/usr/bin/env -S node ${agentNodeFlags.join(' ')}`;
