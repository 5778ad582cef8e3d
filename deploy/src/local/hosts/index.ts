// Hosts made of network namespaces: the plan (pure), the teardown decision (pure) and the
// synchronous layer that applies them. Shared by `deploy up --nodes N` and test/lib.
export * from './plan.js';
export * from './teardown.js';
export * from './apply.js';
