// Container lifecycle: restart decisions (pure), probes (types, validation, state
// machine, executors) and the probe scheduler.

export * from './restart.js';
export * from './probe.js';
export * from './prober-state.js';
export * from './probe-exec.js';
export * from './probe-scheduler.js';
