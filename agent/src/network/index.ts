// Pod networking with the standard CNI plugins: pure configuration and a thin executor.
export * from './config.js';
export * from './cni-exec.js';
export * from './pod-network.js';
