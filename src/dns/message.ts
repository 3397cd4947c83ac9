/**
 * DNS messages in wire form (RFC 1035 4.1), decoded to a small model whose
 * names stay wire-form `Name`s and whose RDATA stays wire form with any
 * embedded names decompressed.
 *
 * Written by hand, beside dns-packet, for two reasons the issue names:
 * dns-packet does not compress names on encode (RFC 1035 4.1.4), so its
 * answers are larger and truncate sooner than other resolvers', and it decodes
 * names to strings, which loses bytes (RFC 4343). dns-packet still provides
 * type names and the presentation forms of RDATA (see rdata.ts).
 */
import { Class, Type } from './constants.js';
import { MAX_NAME_LENGTH, Name, nameKey } from './name.js';

export interface Question {
  name: Name;
  type: number;
  class: number;
}

export interface Record {
  name: Name;
  type: number;
  class: number;
  ttl: number;
  /** Wire RDATA, embedded names uncompressed. */
  rdata: Buffer;
}

export interface EdnsOpt {
  code: number;
  data: Buffer;
}

export interface Edns {
  udpSize: number;
  version: number;
  /** DNSSEC OK bit (RFC 3225). */
  do: boolean;
  options: EdnsOpt[];
}

export interface Message {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** Full 12-bit rcode (the upper 8 bits live in the OPT record, RFC 6891 6.1.3). */
  rcode: number;
  questions: Question[];
  answers: Record[];
  authorities: Record[];
  /** Additional records, without the OPT pseudo-record. */
  additionals: Record[];
  edns?: Edns;
}

/** Records grouped into RRsets by owner (case-insensitive) and type, in first-seen order. */
export function groupRRsets(records: readonly Record[]): Record[][] {
  const m = new Map<string, Record[]>();
  for (const r of records) {
    const k = nameKey(r.name) + '/' + r.type;
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return [...m.values()];
}

export class WireError extends Error {
  readonly code = 'VERDICT_ERR_WIRE';
}

export function emptyMessage(init: Partial<Message> = {}): Message {
  return {
    id: 0, qr: false, opcode: 0, aa: false, tc: false, rd: false, ra: false, ad: false, cd: false,
    rcode: 0, questions: [], answers: [], authorities: [], additionals: [], ...init,
  };
}

// Layout of RDATA for types whose RDATA holds names: a list of fixed byte
// counts and 'n' for a name. `compress` marks the types RFC 3597 section 4
// allows us to compress on output; the others are still decompressed on input.
type Field = number | 'n';
interface Layout { fields: Field[]; compress: boolean }
const LAYOUTS = new Map<number, Layout>([
  [Type.NS, { fields: ['n'], compress: true }],
  [3, { fields: ['n'], compress: true }], // MD
  [4, { fields: ['n'], compress: true }], // MF
  [Type.CNAME, { fields: ['n'], compress: true }],
  [Type.SOA, { fields: ['n', 'n', 20], compress: true }],
  [7, { fields: ['n'], compress: true }], // MB
  [8, { fields: ['n'], compress: true }], // MG
  [9, { fields: ['n'], compress: true }], // MR
  [Type.PTR, { fields: ['n'], compress: true }],
  [14, { fields: ['n', 'n'], compress: true }], // MINFO
  [Type.MX, { fields: [2, 'n'], compress: true }],
  [Type.RP, { fields: ['n', 'n'], compress: false }],
  [Type.AFSDB, { fields: [2, 'n'], compress: false }],
  [21, { fields: [2, 'n'], compress: false }], // RT
  [26, { fields: [2, 'n', 'n'], compress: false }], // PX
  [Type.SRV, { fields: [6, 'n'], compress: false }],
  [Type.KX, { fields: [2, 'n'], compress: false }],
  [Type.DNAME, { fields: ['n'], compress: false }],
]);

/** Offsets of the names inside an uncompressed RDATA of a known layout. */
export function rdataNameOffsets(type: number, rdata: Buffer): number[] {
  const layout = LAYOUTS.get(type);
  if (!layout) return [];
  const out: number[] = [];
  let o = 0;
  for (const f of layout.fields) {
    if (f === 'n') {
      out.push(o);
      while (o < rdata.length && rdata[o]! !== 0) o += rdata[o]! + 1;
      o++;
    } else {
      o += f;
    }
  }
  return out;
}

// ---------------------------------------------------------------- decoding

/** Read a possibly compressed name; returns the name and the offset after it. */
export function readName(buf: Buffer, offset: number): [Name, number] {
  const parts: Buffer[] = [];
  let len = 1;
  let o = offset;
  let end = -1;
  let jumps = 0;
  for (;;) {
    if (o >= buf.length) throw new WireError('name runs past the end of the message');
    const b = buf[o]!;
    if (b === 0) {
      o++;
      break;
    }
    if ((b & 0xc0) === 0xc0) {
      if (o + 1 >= buf.length) throw new WireError('truncated compression pointer');
      const ptr = ((b & 0x3f) << 8) | buf[o + 1]!;
      // Pointers must go backwards (RFC 1035 4.1.4 "prior occurrence"); this also bounds loops.
      if (ptr >= o || ++jumps > 127) throw new WireError('bad compression pointer');
      if (end < 0) end = o + 2;
      o = ptr;
      continue;
    }
    if ((b & 0xc0) !== 0) throw new WireError(`unsupported label type 0x${b.toString(16)}`);
    if (o + 1 + b > buf.length) throw new WireError('label runs past the end of the message');
    len += b + 1;
    if (len > MAX_NAME_LENGTH) throw new WireError('name longer than 255 bytes');
    parts.push(buf.subarray(o, o + 1 + b));
    o += 1 + b;
  }
  if (end < 0) end = o;
  parts.push(ZERO);
  return [Buffer.concat(parts, len), end];
}
const ZERO = Buffer.from([0]);

function readRdata(buf: Buffer, type: number, start: number, rdlen: number): Buffer {
  const layout = LAYOUTS.get(type);
  if (!layout) return Buffer.from(buf.subarray(start, start + rdlen));
  const end = start + rdlen;
  const parts: Buffer[] = [];
  let o = start;
  for (const f of layout.fields) {
    if (f === 'n') {
      const [n, next] = readName(buf, o);
      if (next > end) throw new WireError('name runs past its RDATA');
      parts.push(n);
      o = next;
    } else {
      if (o + f > end) throw new WireError('RDATA shorter than its type requires');
      parts.push(buf.subarray(o, o + f));
      o += f;
    }
  }
  if (o !== end) throw new WireError('RDATA longer than its type allows');
  return Buffer.concat(parts);
}

function readRecord(buf: Buffer, offset: number): [Record, number] {
  const [name, o] = readName(buf, offset);
  if (o + 10 > buf.length) throw new WireError('record header runs past the end');
  const type = buf.readUInt16BE(o);
  const klass = buf.readUInt16BE(o + 2);
  const ttl = buf.readUInt32BE(o + 4);
  const rdlen = buf.readUInt16BE(o + 8);
  const start = o + 10;
  if (start + rdlen > buf.length) throw new WireError('RDATA runs past the end');
  // RFC 1035 3.4.1, RFC 3596 2.2: fixed sizes; an address of another length is no address.
  if (klass === Class.IN && ((type === Type.A && rdlen !== 4) || (type === Type.AAAA && rdlen !== 16))) {
    throw new WireError(`${type === Type.A ? 'A' : 'AAAA'} RDATA of ${rdlen} bytes`);
  }
  const rdata = type === Type.OPT ? Buffer.from(buf.subarray(start, start + rdlen)) : readRdata(buf, type, start, rdlen);
  // RFC 2181 8: a TTL with the top bit set is treated as zero (OPT's TTL field holds flags instead).
  return [{ name, type, class: klass, ttl: type !== Type.OPT && ttl > 0x7fffffff ? 0 : ttl, rdata }, start + rdlen];
}

/** Header flags as one 16-bit word. */
export function flagsWord(m: Message): number {
  return (m.qr ? 0x8000 : 0) | ((m.opcode & 0xf) << 11) | (m.aa ? 0x400 : 0) | (m.tc ? 0x200 : 0) |
    (m.rd ? 0x100 : 0) | (m.ra ? 0x80 : 0) | (m.ad ? 0x20 : 0) | (m.cd ? 0x10 : 0) | (m.rcode & 0xf);
}

/** Decode a whole message. Throws WireError on anything malformed. */
export function decodeMessage(buf: Buffer): Message {
  if (buf.length < 12) throw new WireError('message shorter than its header');
  const f = buf.readUInt16BE(2);
  const m = emptyMessage({
    id: buf.readUInt16BE(0),
    qr: (f & 0x8000) !== 0, opcode: (f >> 11) & 0xf, aa: (f & 0x400) !== 0, tc: (f & 0x200) !== 0,
    rd: (f & 0x100) !== 0, ra: (f & 0x80) !== 0, ad: (f & 0x20) !== 0, cd: (f & 0x10) !== 0, rcode: f & 0xf,
  });
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  let o = 12;
  for (let i = 0; i < qd; i++) {
    const [name, next] = readName(buf, o);
    if (next + 4 > buf.length) throw new WireError('question runs past the end');
    m.questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
    o = next + 4;
  }
  const sections: [number, Record[]][] = [[an, m.answers], [ns, m.authorities], [ar, m.additionals]];
  for (const [count, list] of sections) {
    for (let i = 0; i < count; i++) {
      const [rr, next] = readRecord(buf, o);
      o = next;
      if (rr.type === Type.OPT) {
        // RFC 6891 6.1.1: only one OPT, in the additional section, owned by the root.
        if (list !== m.additionals || m.edns || rr.name.length !== 1) throw new WireError('misplaced or duplicate OPT record');
        m.edns = decodeOpt(rr);
        m.rcode |= (rr.ttl >>> 24) << 4;
      } else {
        list.push(rr);
      }
    }
  }
  if (o !== buf.length) throw new WireError('trailing bytes after the last record');
  return m;
}

function decodeOpt(rr: Record): Edns {
  const options: EdnsOpt[] = [];
  const d = rr.rdata;
  let o = 0;
  while (o < d.length) {
    if (o + 4 > d.length) throw new WireError('truncated EDNS option');
    const code = d.readUInt16BE(o);
    const len = d.readUInt16BE(o + 2);
    if (o + 4 + len > d.length) throw new WireError('EDNS option runs past its RDATA');
    options.push({ code, data: Buffer.from(d.subarray(o + 4, o + 4 + len)) });
    o += 4 + len;
  }
  return { udpSize: Math.max(rr.class, 512), version: (rr.ttl >>> 16) & 0xff, do: (rr.ttl & 0x8000) !== 0, options };
}

/**
 * Read only the header and the single question: what the hot path needs to
 * route a query (access control, policy, cache) before a full decode.
 * Returns undefined when the header cannot be read at all.
 */
export function peekHeader(buf: Buffer): { id: number; flags: number; qdcount: number } | undefined {
  if (buf.length < 12) return undefined;
  return { id: buf.readUInt16BE(0), flags: buf.readUInt16BE(2), qdcount: buf.readUInt16BE(4) };
}

// ---------------------------------------------------------------- encoding

/** A growable writer with a name-compression table (RFC 1035 4.1.4). */
class Writer {
  buf: Buffer;
  len = 0;
  private readonly table = new Map<string, number>();

  constructor(size = 512) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  name(n: Name, compress: boolean): void {
    let i = 0;
    while (n[i]! !== 0) {
      const suffix = n.subarray(i);
      const key = nameKey(suffix);
      if (compress) {
        const ptr = this.table.get(key);
        if (ptr !== undefined) {
          this.u16(0xc000 | ptr);
          return;
        }
      }
      if (this.len < 0x3fff && !this.table.has(key)) this.table.set(key, this.len);
      const l = n[i]!;
      this.bytes(n.subarray(i, i + l + 1));
      i += l + 1;
    }
    this.u8(0);
  }

  record(rr: Record): void {
    this.name(rr.name, true);
    this.u16(rr.type);
    this.u16(rr.class);
    this.u32(rr.ttl);
    const lenAt = this.len;
    this.u16(0);
    const layout = LAYOUTS.get(rr.type);
    if (!layout) {
      this.bytes(rr.rdata);
    } else {
      let o = 0;
      for (const f of layout.fields) {
        if (f === 'n') {
          let e = o;
          while (e < rr.rdata.length && rr.rdata[e]! !== 0) e += rr.rdata[e]! + 1;
          this.name(rr.rdata.subarray(o, e + 1), layout.compress);
          o = e + 1;
        } else {
          this.bytes(rr.rdata.subarray(o, o + f));
          o += f;
        }
      }
      if (o < rr.rdata.length) this.bytes(rr.rdata.subarray(o));
    }
    this.buf.writeUInt16BE(this.len - lenAt - 2, lenAt);
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function optRecord(edns: Edns, rcode: number): Record {
  const size = edns.options.reduce((s, o) => s + 4 + o.data.length, 0);
  const rdata = Buffer.allocUnsafe(size);
  let o = 0;
  for (const opt of edns.options) {
    rdata.writeUInt16BE(opt.code, o);
    rdata.writeUInt16BE(opt.data.length, o + 2);
    opt.data.copy(rdata, o + 4);
    o += 4 + opt.data.length;
  }
  const ttl = (((rcode >> 4) & 0xff) << 24) | ((edns.version & 0xff) << 16) | (edns.do ? 0x8000 : 0);
  return { name: Buffer.from([0]), type: Type.OPT, class: Math.max(512, edns.udpSize), ttl: ttl >>> 0, rdata };
}

/**
 * Encode with name compression. With `maxSize`, a message that does not fit is
 * cut cleanly: additional records are dropped first (no TC needed, RFC 2181
 * 9); if answer and authority still do not fit, the reply carries only the
 * question and TC=1, so the client retries over TCP and never caches a
 * partial RRset.
 */
export function encodeMessage(m: Message, maxSize = 65535): Buffer {
  const full = encodeSections(m, m.answers, m.authorities, m.additionals, m.tc);
  if (full.length <= maxSize) return full;
  const noAdditional = encodeSections(m, m.answers, m.authorities, [], m.tc);
  if (noAdditional.length <= maxSize) return noAdditional;
  return encodeSections(m, [], [], [], true);
}

function encodeSections(m: Message, an: Record[], ns: Record[], ar: Record[], tc: boolean): Buffer {
  const w = new Writer(512);
  w.u16(m.id);
  w.u16(flagsWord({ ...m, tc }));
  w.u16(m.questions.length);
  w.u16(an.length);
  w.u16(ns.length);
  w.u16(ar.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of an) w.record(rr);
  for (const rr of ns) w.record(rr);
  for (const rr of ar) w.record(rr);
  if (m.edns) w.record(optRecord(m.edns, m.rcode));
  return w.done();
}

/** A query message for one question. */
export function makeQuery(id: number, name: Name, type: number, opts: { rd?: boolean; edns?: Edns | undefined; cd?: boolean } = {}): Message {
  return emptyMessage({
    id, rd: opts.rd ?? false, cd: opts.cd ?? false,
    questions: [{ name, type, class: Class.IN }],
    ...(opts.edns ? { edns: opts.edns } : {}),
  });
}
