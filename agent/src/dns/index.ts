// The node's cluster DNS: codec, resolver decision, server, and its place on the pod bridge.
export * from './message.js';
export * from './resolve.js';
export * from './upstreams.js';
export { DnsServer, type DnsServerOptions, type DnsServerAddress } from './server.js';
export {
  NodeDns,
  ensureBridgeAddress,
  podGateway,
  type NodeDnsOptions,
  type PodGateway,
  type BridgeOutcome,
} from './node-dns.js';
