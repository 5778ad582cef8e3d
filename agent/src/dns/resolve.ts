// The node DNS's decision, pure: a parsed query and what the cluster looks like (the
// newest NetworkState, as a DnsView) in; an answer to send, or "forward it upstream", out.
//
//   SERVICE.NAMESPACE.svc.<domain>   A → the service's cluster IP (TTL 5 s, like CoreDNS);
//                                    other types (AAAA, …) → NOERROR without records
//   other names in <domain>          NXDOMAIN (NOERROR for the apex and the svc/<ns>.svc
//                                    levels that exist), with the zone's SOA for caches
//   names outside <domain>           forwarded to the host's nameservers
//   before the first NetworkState    SERVFAIL in <domain>: "don't know yet" is not NXDOMAIN
import { defaultClusterDomain } from '@flotilla/common';
import type { NetworkState } from '@flotilla/proto';
import { classANY, classIN, rcode, replyTo, rrType, type DnsMessage, type DnsRecord } from './message.js';

/** Seconds a service's A record may be cached: short, services come and go. */
export const serviceTtlSeconds = 5;
/** Negative answers' TTL (the SOA minimum, RFC 2308). */
export const negativeTtlSeconds = 5;

export interface DnsView {
  /** Lowercase, without a final dot, e.g. "cluster.local". */
  domain: string;
  /** False before the first NetworkState arrived. */
  known: boolean;
  /** "name.namespace" (lowercase) → cluster IP ("" for a service without one). */
  services: ReadonlyMap<string, string>;
  /** Namespaces with at least one service (lowercase). */
  namespaces: ReadonlySet<string>;
  /** The SOA serial: the state's endpoints revision, so caches see a changed zone. */
  serial: number;
}

export function normalizeDomain(domain: string): string {
  return domain.trim().replace(/\.+$/, '').toLowerCase();
}

/** What the resolver needs of a NetworkState (undefined: none received yet). */
export function dnsView(state: NetworkState | undefined): DnsView {
  const domain = normalizeDomain(state?.clusterDomain || defaultClusterDomain) || defaultClusterDomain;
  const services = new Map<string, string>();
  const namespaces = new Set<string>();
  for (const s of state?.services ?? []) {
    const ns = (s.namespace || 'default').toLowerCase();
    services.set(`${s.name.toLowerCase()}.${ns}`, s.clusterIP);
    namespaces.add(ns);
  }
  return {
    domain,
    known: state !== undefined,
    services,
    namespaces,
    serial: (state?.endpointsRevision ?? 0) % 0x1_0000_0000,
  };
}

export type DnsDecision = { kind: 'reply'; message: DnsMessage } | { kind: 'forward'; name: string };

function soa(view: DnsView): DnsRecord {
  return {
    name: view.domain,
    type: rrType.SOA,
    class: classIN,
    ttl: negativeTtlSeconds,
    data: {
      kind: 'soa',
      mname: `ns.dns.${view.domain}`,
      rname: `hostmaster.${view.domain}`,
      serial: view.serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: negativeTtlSeconds,
    },
  };
}

const ipv4Re = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isIpv4(address: string): boolean {
  const m = ipv4Re.exec(address);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** The name relative to the domain ("" for the apex), or undefined when outside it. */
export function withinDomain(name: string, domain: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n === domain) return '';
  return n.endsWith(`.${domain}`) ? n.slice(0, -(domain.length + 1)) : undefined;
}

export function decideQuery(query: DnsMessage, view: DnsView): DnsDecision {
  const { header, questions } = query;
  if (header.qr) return { kind: 'reply', message: replyTo(query, rcode.formErr) };
  // Only standard queries; NOTIFY, UPDATE and the like are not ours to serve.
  if (header.opcode !== 0) return { kind: 'reply', message: replyTo(query, rcode.notImp) };
  // Every resolver asks one question per message (RFC 9619 makes it the rule).
  if (questions.length !== 1) return { kind: 'reply', message: replyTo(query, rcode.formErr) };
  const q = questions[0]!;
  const relative = withinDomain(q.name, view.domain);
  if (relative === undefined) return { kind: 'forward', name: q.name };

  const reply = (code: number, answers: DnsRecord[] = [], negative = answers.length === 0): DnsDecision => ({
    kind: 'reply',
    message: replyTo(query, code, {
      answers,
      authorities: negative ? [soa(view)] : [],
      authoritative: true,
    }),
  });
  if (q.class !== classIN && q.class !== classANY)
    return { kind: 'reply', message: replyTo(query, rcode.refused) };
  if (!view.known) return { kind: 'reply', message: replyTo(query, rcode.servFail) };
  if (relative === '') {
    if (q.type === rrType.SOA || q.type === rrType.ANY) return reply(rcode.noError, [soa(view)], false);
    return reply(rcode.noError);
  }
  const labels = relative.split('.');
  if (labels.length === 1 && labels[0] === 'svc') return reply(rcode.noError);
  if (labels.length === 2 && labels[1] === 'svc')
    return reply(view.namespaces.has(labels[0]!) ? rcode.noError : rcode.nxDomain);
  if (labels.length === 3 && labels[2] === 'svc') {
    const clusterIP = view.services.get(`${labels[0]}.${labels[1]}`);
    if (clusterIP === undefined) return reply(rcode.nxDomain);
    // A service without a cluster IP (headless, or not allocated yet) has no A record.
    if ((q.type === rrType.A || q.type === rrType.ANY) && isIpv4(clusterIP)) {
      return reply(rcode.noError, [
        {
          name: q.name,
          type: rrType.A,
          class: classIN,
          ttl: serviceTtlSeconds,
          data: { kind: 'a', address: clusterIP },
        },
      ]);
    }
    return reply(rcode.noError);
  }
  return reply(rcode.nxDomain);
}

/** SERVFAIL for a query that could not be answered (no upstream, upstreams failed). */
export function serverFailure(query: Pick<DnsMessage, 'header' | 'questions'>): DnsMessage {
  return replyTo(query, rcode.servFail);
}
