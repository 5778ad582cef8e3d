// The node's cluster DNS: codec, resolver decision, server, and its place on the pod bridge.
export * from './message.js';
export * from './resolve.js';
export * from './upstreams.js';
export { DnsServer, type DnsServerOptions, type DnsServerAddress } from './server.js';
export { NodeDns, podGateway, type NodeDnsOptions, type PodGateway } from './node-dns.js';
