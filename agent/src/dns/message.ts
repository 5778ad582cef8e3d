// DNS messages (RFC 1035 §4): parse and encode, pure. Parsing never throws: a malformed
// packet is a value (with the query ID when the header was readable, so the server can
// answer FORMERR). Encoding compresses names (§4.1.4) and, for UDP, drops the records that
// do not fit in 512 bytes and sets TC so the client asks again over TCP.
//
// Names are dotted strings without the final dot ("" is the root). A label holding a dot
// cannot be written that way and is refused as malformed: no name this server answers has
// one, and forwarded queries are relayed as the bytes that came in, not re-encoded.

export const rrType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const rcode = {
  noError: 0,
  formErr: 1,
  servFail: 2,
  nxDomain: 3,
  notImp: 4,
  refused: 5,
} as const;

export const classIN = 1;
export const classANY = 255;
/** RFC 1035 §4.2.1: UDP messages are at most 512 bytes (without EDNS, which we do not speak). */
export const udpPayloadLimit = 512;
const maxNameLength = 255;
const maxLabelLength = 63;

export interface DnsHeader {
  id: number;
  /** A response. */
  qr: boolean;
  opcode: number;
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated. */
  tc: boolean;
  /** Recursion desired. */
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  rcode: number;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export type DnsRecordData =
  | { kind: 'a'; address: string }
  /** CNAME, NS, PTR: one domain name. */
  | { kind: 'name'; name: string }
  | ({ kind: 'soa' } & SoaData)
  /** Anything else, as its bytes (names inside are not decompressed). */
  | { kind: 'raw'; bytes: Uint8Array };

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: DnsRecordData;
}

export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export type ParseResult =
  | { ok: true; message: DnsMessage }
  /** id is set when the 12-byte header was there (a FORMERR answer needs it). */
  | { ok: false; reason: string; id?: number; header?: DnsHeader };

class Malformed extends Error {}

// ---- parsing ----

function readName(buf: Uint8Array, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = start;
  // The position after the name where it is first met; pointers only move the reading.
  let next: number | undefined;
  let length = 0;
  let jumps = 0;
  for (;;) {
    if (pos >= buf.length) throw new Malformed(`name at offset ${start} runs past the end`);
    const len = buf[pos]!;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed(`compression pointer at offset ${pos} is cut off`);
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      // Only backwards, to something before this pointer: no loops, whatever the packet says.
      if (target >= pos) throw new Malformed(`compression pointer at offset ${pos} does not point back`);
      if (++jumps > 64) throw new Malformed(`name at offset ${start} has too many compression pointers`);
      next ??= pos + 2;
      pos = target;
      continue;
    }
    if (kind !== 0)
      throw new Malformed(`label type 0x${kind.toString(16)} at offset ${pos} is not supported`);
    if (len === 0) {
      next ??= pos + 1;
      break;
    }
    if (pos + 1 + len > buf.length) throw new Malformed(`label at offset ${pos} runs past the end`);
    length += len + 1;
    if (length > maxNameLength) throw new Malformed(`name at offset ${start} is longer than 255 bytes`);
    const label = Buffer.from(buf.subarray(pos + 1, pos + 1 + len)).toString('latin1');
    if (label.includes('.')) throw new Malformed(`label at offset ${pos} holds a dot`);
    labels.push(label);
    pos += 1 + len;
  }
  return { name: labels.join('.'), next };
}

function u16(buf: Uint8Array, pos: number, what: string): number {
  if (pos + 2 > buf.length) throw new Malformed(`${what} at offset ${pos} is cut off`);
  return (buf[pos]! << 8) | buf[pos + 1]!;
}

function u32(buf: Uint8Array, pos: number, what: string): number {
  return u16(buf, pos, what) * 0x10000 + u16(buf, pos + 2, what);
}

function parseHeader(buf: Uint8Array): DnsHeader {
  const flags = u16(buf, 2, 'header');
  return {
    id: u16(buf, 0, 'header'),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0x0f,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0x0f,
  };
}

function readRecord(buf: Uint8Array, start: number): { record: DnsRecord; next: number } {
  const { name, next: afterName } = readName(buf, start);
  const type = u16(buf, afterName, 'record type');
  const klass = u16(buf, afterName + 2, 'record class');
  const ttl = u32(buf, afterName + 4, 'record TTL');
  const rdlength = u16(buf, afterName + 8, 'record length');
  const rdStart = afterName + 10;
  const rdEnd = rdStart + rdlength;
  if (rdEnd > buf.length) throw new Malformed(`record data at offset ${rdStart} runs past the end`);
  let data: DnsRecordData;
  if (type === rrType.A && rdlength === 4) {
    data = { kind: 'a', address: Array.from(buf.subarray(rdStart, rdEnd)).join('.') };
  } else if (type === rrType.CNAME || type === rrType.NS || type === rrType.PTR) {
    const target = readName(buf, rdStart);
    if (target.next !== rdEnd) throw new Malformed(`record data at offset ${rdStart} is not one name`);
    data = { kind: 'name', name: target.name };
  } else if (type === rrType.SOA) {
    const mname = readName(buf, rdStart);
    const rname = readName(buf, mname.next);
    const p = rname.next;
    if (p + 20 !== rdEnd) throw new Malformed(`SOA data at offset ${rdStart} has the wrong length`);
    data = {
      kind: 'soa',
      mname: mname.name,
      rname: rname.name,
      serial: u32(buf, p, 'SOA'),
      refresh: u32(buf, p + 4, 'SOA'),
      retry: u32(buf, p + 8, 'SOA'),
      expire: u32(buf, p + 12, 'SOA'),
      minimum: u32(buf, p + 16, 'SOA'),
    };
  } else {
    data = { kind: 'raw', bytes: Uint8Array.from(buf.subarray(rdStart, rdEnd)) };
  }
  return { record: { name, type, class: klass, ttl, data }, next: rdEnd };
}

/** Parses a whole message; bytes after the last record are refused too. */
export function parseMessage(buf: Uint8Array): ParseResult {
  if (buf.length < 12) return { ok: false, reason: `${buf.length} bytes is shorter than a DNS header` };
  const header = parseHeader(buf);
  try {
    const counts = [4, 6, 8, 10].map((o) => u16(buf, o, 'header'));
    let pos = 12;
    const questions: DnsQuestion[] = [];
    for (let i = 0; i < counts[0]!; i++) {
      const { name, next } = readName(buf, pos);
      questions.push({
        name,
        type: u16(buf, next, 'question type'),
        class: u16(buf, next + 2, 'question class'),
      });
      pos = next + 4;
    }
    const sections: DnsRecord[][] = [[], [], []];
    for (const [s, section] of sections.entries()) {
      for (let i = 0; i < counts[s + 1]!; i++) {
        const { record, next } = readRecord(buf, pos);
        section.push(record);
        pos = next;
      }
    }
    if (pos !== buf.length) throw new Malformed(`${buf.length - pos} bytes after the last record`);
    return {
      ok: true,
      message: {
        header,
        questions,
        answers: sections[0]!,
        authorities: sections[1]!,
        additionals: sections[2]!,
      },
    };
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    return { ok: false, reason: err.message, id: header.id, header };
  }
}

// ---- encoding ----

class Writer {
  private buf = Buffer.alloc(512);
  length = 0;
  /** Offset of every name suffix written so far, by its lowercased text. */
  private readonly names = new Map<string, number>();

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v & 0xff;
  }

  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.length);
    this.length += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }

  name(name: string): void {
    const labels = name === '' ? [] : name.split('.');
    let total = 1;
    for (const [i, label] of labels.entries()) {
      // DNS compares names ignoring ASCII case only (RFC 4343).
      const key = labels
        .slice(i)
        .join('.')
        .replace(/[A-Z]/g, (c) => c.toLowerCase());
      const known = this.names.get(key);
      if (known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      const bytes = Buffer.from(label, 'latin1');
      if (bytes.length === 0 || bytes.length > maxLabelLength)
        throw new RangeError(`label ${JSON.stringify(label)} of ${JSON.stringify(name)} must be 1-63 bytes`);
      total += bytes.length + 1;
      if (total > maxNameLength)
        throw new RangeError(`name ${JSON.stringify(name)} is longer than 255 bytes`);
      // A pointer holds 14 bits: names further in are written out in full.
      if (this.length < 0x4000) this.names.set(key, this.length);
      this.u8(bytes.length);
      this.bytes(bytes);
    }
    this.u8(0);
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function ipv4Bytes(address: string): number[] {
  const parts = address.split('.');
  const octets = parts.map(Number);
  if (parts.length !== 4 || octets.some((o, i) => !/^\d{1,3}$/.test(parts[i]!) || o > 255))
    throw new RangeError(`A record address ${JSON.stringify(address)} is not an IPv4 address`);
  return octets;
}

function writeRecord(w: Writer, r: DnsRecord): void {
  w.name(r.name);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(r.ttl);
  const lengthAt = w.length;
  w.u16(0);
  const start = w.length;
  switch (r.data.kind) {
    case 'a':
      for (const o of ipv4Bytes(r.data.address)) w.u8(o);
      break;
    case 'name':
      w.name(r.data.name);
      break;
    case 'soa':
      w.name(r.data.mname);
      w.name(r.data.rname);
      for (const v of [r.data.serial, r.data.refresh, r.data.retry, r.data.expire, r.data.minimum]) w.u32(v);
      break;
    case 'raw':
      w.bytes(r.data.bytes);
      break;
  }
  w.setU16(lengthAt, w.length - start);
}

/** The message's bytes. Throws RangeError on a name or address that cannot be written. */
export function encodeMessage(m: DnsMessage): Buffer {
  const w = new Writer();
  const h = m.header;
  w.u16(h.id);
  w.u16(
    (h.qr ? 0x8000 : 0) |
      ((h.opcode & 0x0f) << 11) |
      (h.aa ? 0x0400 : 0) |
      (h.tc ? 0x0200 : 0) |
      (h.rd ? 0x0100 : 0) |
      (h.ra ? 0x0080 : 0) |
      (h.rcode & 0x0f),
  );
  for (const n of [m.questions.length, m.answers.length, m.authorities.length, m.additionals.length])
    w.u16(n);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const r of [...m.answers, ...m.authorities, ...m.additionals]) writeRecord(w, r);
  return w.done();
}

/**
 * The message for a UDP reply: as it is when it fits in limit bytes; else with the
 * additional, then authority, then answer records dropped until it fits, TC set when an
 * answer had to go (RFC 2181 §9: missing additional records alone do not set TC).
 */
export function encodeForUdp(m: DnsMessage, limit = udpPayloadLimit): Buffer {
  let out = encodeMessage(m);
  if (out.length <= limit) return out;
  const trimmed: DnsMessage = { ...m, additionals: [] };
  out = encodeMessage(trimmed);
  if (out.length <= limit) return out;
  trimmed.authorities = [];
  const answers = [...m.answers];
  for (;;) {
    out = encodeMessage({
      ...trimmed,
      answers,
      header: { ...m.header, tc: answers.length < m.answers.length },
    });
    if (out.length <= limit || answers.length === 0) return out;
    answers.pop();
  }
}

/** A reply to query: same ID, opcode, RD and question; QR set, recursion offered. */
export function replyTo(
  query: Pick<DnsMessage, 'header' | 'questions'>,
  rcodeValue: number,
  parts: { answers?: DnsRecord[]; authorities?: DnsRecord[]; authoritative?: boolean } = {},
): DnsMessage {
  return {
    header: {
      id: query.header.id,
      qr: true,
      opcode: query.header.opcode,
      aa: parts.authoritative ?? false,
      tc: false,
      rd: query.header.rd,
      ra: true,
      rcode: rcodeValue,
    },
    questions: query.questions,
    answers: parts.answers ?? [],
    authorities: parts.authorities ?? [],
    additionals: [],
  };
}
