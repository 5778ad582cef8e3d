// Pod networking with the standard CNI plugins, and the cluster network (routes to the
// peers, the service proxy): pure configuration and plans, thin executors.
export * from './config.js';
export * from './cni-exec.js';
export * from './pod-network.js';
export * from './state-source.js';
export * from './pod-cidr.js';
export * from './routes.js';
export * from './proxy-rules.js';
export * from './host-net.js';
export * from './network-apply.js';
export * from './network-programmer.js';
export * from './network-session.js';
