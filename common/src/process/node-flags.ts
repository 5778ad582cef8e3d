// The Node/V8 flags the agent runs with (its shebang, `deploy up`, the test harness). The
// agent is one long-lived process per host whose memory is what users count. Measured on
// this machine with 30 running containers and after repeated start/remove churn
// (BENCHMARKS.md): 86–92 MB RSS with Node's defaults, 76–80 MB with these, for the same
// agent CPU time per container.
// - a 1 MB semi-space: the young generation otherwise grows to 16 MB pages that stay mapped;
// - --optimize-for-size: V8 prefers smaller heap growth and code over peak speed;
// - one V8 platform worker thread instead of one per core: fewer thread stacks and arenas;
// - no TurboFan (--no-opt; the interpreter and the Sparkplug baseline compiler remain): the
//   agent's JavaScript is glue between commands, never hot for long, and optimized code, the
//   compiler's zone memory (kept by malloc after each compile) and the compiler's own code
//   pages in the node binary grew its RSS with every hour of work. The containers bench,
//   interleaved runs: 81-85 -> 73 MB with 30 containers (file-backed 46 -> 42 MB), "pod
//   taken on -> container started" and 20-at-once no slower (within the noise of a loaded
//   2-core machine), agent CPU per pod up to ~15% more. --lite-mode saved ~3 MB more but is jitless here: no WebAssembly
//   (Node's fetch needs it), a warning on every start, ~25% more agent CPU per pod.
export const agentNodeFlags: readonly string[] = [
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--v8-pool-size=1',
  '--no-opt',
];

/** The agent's shebang line, which must carry agentNodeFlags (checked by a unit test). */
export const agentShebang = `#!/usr/bin/env -S node ${agentNodeFlags.join(' ')}`;

// The controller's Node/V8 flags (its shebang, `deploy up`, the test harness); see
// BENCHMARKS.md "Session 6" (issue 5) for what each saves and costs.
// - a 2 MB semi-space: the young generation otherwise grows to 16 MB semi-spaces that stay
//   mapped.
// Not --optimize-for-size (as the agent): with 200 simulated nodes it halved the idle RSS
// (240 -> 129 MB) but doubled the controller's CPU time (65 s against 31 s over the same
// run), enough for it to lose its leadership lease under load.
export const controllerNodeFlags: readonly string[] = ['--max-semi-space-size=2'];

/** The controller's shebang line, which must carry controllerNodeFlags (checked by a unit test). */
export const controllerShebang = `#!/usr/bin/env -S node ${controllerNodeFlags.join(' ')}`;
