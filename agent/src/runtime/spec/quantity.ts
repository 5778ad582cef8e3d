// Kubernetes resource quantities: the parser lives in @flotilla/common, shared with the
// controller's validation; re-exported here for the agent's spec builder and callers.
export { parseByteQuantity, parseCpuMillis } from '@flotilla/common';
