export * from './processes.js';
export * from './wait.js';
export * from './ports.js';
export * from './servers.js';
export * from './cluster.js';
export * from './clients.js';
export * from './store-conformance.js';
export * from './registry.js';
