/**
 * Mutations of DNS messages in wire form, and structure-aware generation.
 *
 * The mutators know where a message's fields are (a tolerant walk that stops
 * at the first thing it cannot read) so that they can lie precisely: counts in
 * the header, label lengths, compression pointers, RDLENGTH, EDNS option
 * lengths. Blind mutations (bit flips, inserts, deletes, truncation, splicing)
 * cover the rest.
 */
import { Class, Type } from '../src/dns/constants.js';
import { emptyMessage, encodeMessage } from '../src/dns/message.js';
import type { Edns, Message, Record } from '../src/dns/message.js';
import { MAX_NAME_LENGTH } from '../src/dns/name.js';
import type { Name } from '../src/dns/name.js';
import type { Rng } from './rng.js';

/** Where the fields of a message are (as far as a tolerant walk could read it). */
export interface Layout {
  /** Offsets of label length bytes (including the terminating zero). */
  labels: number[];
  /** Offsets where a name starts. */
  names: number[];
  /** Offsets of RDLENGTH fields. */
  rdlengths: number[];
  /** Offsets of TYPE fields of records and questions. */
  types: number[];
  /** Offsets of RDATA starts. */
  rdatas: number[];
}

export function layout(buf: Buffer): Layout {
  const l: Layout = { labels: [], names: [], rdlengths: [], types: [], rdatas: [] };
  if (buf.length < 12) return l;
  const skipName = (o: number): number => {
    l.names.push(o);
    for (let guard = 0; guard < 128 && o < buf.length; guard++) {
      const b = buf[o]!;
      l.labels.push(o);
      if (b === 0) return o + 1;
      if ((b & 0xc0) === 0xc0) return o + 2;
      o += b + 1;
    }
    return -1;
  };
  let o = 12;
  const qd = Math.min(buf.readUInt16BE(4), 64);
  for (let i = 0; i < qd; i++) {
    o = skipName(o);
    if (o < 0 || o + 4 > buf.length) return l;
    l.types.push(o);
    o += 4;
  }
  const rr = Math.min(buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10), 256);
  for (let i = 0; i < rr; i++) {
    o = skipName(o);
    if (o < 0 || o + 10 > buf.length) return l;
    l.types.push(o);
    l.rdlengths.push(o + 8);
    l.rdatas.push(o + 10);
    const type = buf.readUInt16BE(o);
    const len = buf.readUInt16BE(o + 8);
    // Names inside RDATA are label material too.
    if (type === Type.NS || type === Type.CNAME || type === Type.PTR || type === Type.DNAME || type === Type.SOA) skipName(o + 10);
    if (type === Type.MX && o + 12 < buf.length) skipName(o + 12);
    o += 10 + len;
    if (o > buf.length) return l;
  }
  return l;
}

const INTERESTING8 = [0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff];
const INTERESTING16 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xc000, 0xfffe, 0xffff];

function u16At(buf: Buffer, o: number, v: number): void {
  if (o + 2 <= buf.length) buf.writeUInt16BE(v & 0xffff, o);
}

/** The names of the mutators, for the figures. */
export const MUTATORS = [
  'bitflip', 'byte', 'insert', 'delete', 'truncate', 'duplicate', 'splice', 'count-lie',
  'rdlength-lie', 'label-lie', 'pointer-loop', 'pointer-forward', 'type-swap', 'edns-lie', 'flags',
] as const;

/** Apply 1..4 mutations to a copy of `input`; `other` is another corpus entry for splicing. */
export function mutateWire(rng: Rng, input: Buffer, other: Buffer): Buffer {
  let buf: Buffer = Buffer.from(input);
  const rounds = 1 + (rng.chance(0.5) ? 0 : rng.int(4));
  for (let r = 0; r < rounds; r++) buf = mutateOnce(rng, buf, other);
  return buf;
}

function mutateOnce(rng: Rng, buf: Buffer, other: Buffer): Buffer {
  const at = () => rng.int(Math.max(buf.length, 1));
  const l = layout(buf);
  switch (rng.pick(MUTATORS)) {
    case 'bitflip': {
      if (!buf.length) return buf;
      const o = at();
      buf[o] = buf[o]! ^ (1 << rng.int(8));
      return buf;
    }
    case 'byte': {
      if (!buf.length) return buf;
      buf[at()] = rng.chance(0.5) ? rng.pick(INTERESTING8) : rng.int(256);
      return buf;
    }
    case 'insert': {
      const o = at();
      const ins = rng.chance(0.5) ? rng.bytes(rng.range(1, 8)) : Buffer.alloc(rng.range(1, 300), rng.pick(INTERESTING8));
      return Buffer.concat([buf.subarray(0, o), ins, buf.subarray(o)]);
    }
    case 'delete': {
      const o = at();
      return Buffer.concat([buf.subarray(0, o), buf.subarray(Math.min(buf.length, o + rng.range(1, 16)))]);
    }
    case 'truncate':
      return buf.subarray(0, rng.int(buf.length + 1));
    case 'duplicate': {
      const o = at();
      const e = Math.min(buf.length, o + rng.range(1, 64));
      const times = rng.range(1, 20);
      const parts = [buf.subarray(0, e)];
      for (let i = 0; i < times; i++) parts.push(buf.subarray(o, e));
      parts.push(buf.subarray(e));
      return Buffer.concat(parts);
    }
    case 'splice': {
      const o = at();
      const p = rng.int(Math.max(other.length, 1));
      return Buffer.concat([buf.subarray(0, o), other.subarray(p, p + rng.range(1, 200))]);
    }
    case 'count-lie': {
      const field = 4 + 2 * rng.int(4);
      if (buf.length < 12) return buf;
      const cur = buf.readUInt16BE(field);
      u16At(buf, field, rng.pick([cur + 1, cur - 1, cur + 2, 0, 0xffff, rng.int(65536), 2]));
      return buf;
    }
    case 'rdlength-lie': {
      if (!l.rdlengths.length) return mutateOnce(rng, buf, other);
      const o = rng.pick(l.rdlengths);
      const cur = buf.readUInt16BE(o);
      u16At(buf, o, rng.pick([cur + 1, cur - 1, 0, 0xffff, cur + rng.range(2, 40), rng.pick(INTERESTING16)]));
      return buf;
    }
    case 'label-lie': {
      if (!l.labels.length) return mutateOnce(rng, buf, other);
      const o = rng.pick(l.labels);
      const cur = buf[o]!;
      buf[o] = rng.pick([cur + 1, cur - 1, 63, 64, 0x7f, 0x80, 0xbf, 0xff, 0, rng.int(256)]) & 0xff;
      return buf;
    }
    case 'pointer-loop': {
      // A pointer to itself, or two pointers pointing at each other.
      if (!l.labels.length || buf.length < 14) return mutateOnce(rng, buf, other);
      const o = rng.pick(l.labels);
      if (o + 2 > buf.length) return buf;
      if (rng.chance(0.5)) {
        u16At(buf, o, 0xc000 | o);
      } else {
        const p = rng.pick(l.labels);
        if (p + 2 > buf.length) return buf;
        u16At(buf, o, 0xc000 | p);
        u16At(buf, p, 0xc000 | o);
      }
      return buf;
    }
    case 'pointer-forward': {
      if (!l.labels.length) return mutateOnce(rng, buf, other);
      const o = rng.pick(l.labels);
      u16At(buf, o, 0xc000 | rng.pick([o + 2, buf.length, buf.length - 1, 0x3fff, 12, 0, 11, rng.int(buf.length + 4)]));
      return buf;
    }
    case 'type-swap': {
      if (!l.types.length) return mutateOnce(rng, buf, other);
      const o = rng.pick(l.types);
      u16At(buf, o, rng.pick([Type.OPT, Type.SOA, Type.NS, Type.CNAME, Type.DNAME, Type.MX, Type.SRV, Type.A, Type.AAAA, Type.ANY, Type.AXFR, Type.IXFR, Type.TSIG, 0, 0xffff]));
      return buf;
    }
    case 'edns-lie': {
      // Append an OPT record with a lying option length, or a second OPT.
      if (buf.length < 12) return buf;
      const opt = Buffer.alloc(11 + 4 + 4);
      opt[0] = rng.chance(0.9) ? 0 : 1;
      opt.writeUInt16BE(Type.OPT, 1);
      opt.writeUInt16BE(rng.pick([0, 1, 512, 1232, 4096, 65535]), 3);
      opt.writeUInt32BE(rng.pick([0, 0x8000, 0x00010000, 0xff000000, rng.u32()]), 5);
      opt.writeUInt16BE(rng.pick([8, 4, 0, 3, 9, 0xffff]), 9);
      opt.writeUInt16BE(rng.pick([15, 10, 12, 8, 0, 0xffff]), 11);
      opt.writeUInt16BE(rng.pick([4, 0, 2, 5, 0xffff]), 13);
      const out = Buffer.concat([buf, opt]);
      out.writeUInt16BE((out.readUInt16BE(10) + 1) & 0xffff, 10);
      return out;
    }
    case 'flags': {
      if (buf.length < 4) return buf;
      buf[2] = rng.int(256);
      if (rng.chance(0.5)) buf[3] = rng.int(256);
      return buf;
    }
  }
}

// ---------------------------------------------------------------- generation

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';

function label(rng: Rng): Buffer {
  const k = rng.int(20);
  if (k === 0) return rng.bytes(rng.range(1, 63)); // any bytes (RFC 2181 11)
  if (k === 1) return Buffer.alloc(63, 0x61);
  if (k === 2) return Buffer.from('*');
  if (k === 3) return Buffer.from('.');
  let s = '';
  for (let i = rng.range(1, 12); i > 0; i--) s += ALPHABET[rng.int(ALPHABET.length)];
  return Buffer.from(s);
}

/** A valid wire name: random labels, optionally under `suffix`, up to 255 bytes. */
export function genName(rng: Rng, suffix?: Name): Name {
  const tail = suffix ?? Buffer.from([0]);
  const parts: Buffer[] = [];
  let len = tail.length;
  const want = rng.chance(0.05) ? 127 : rng.int(5);
  for (let i = 0; i < want; i++) {
    const lab = label(rng);
    if (len + lab.length + 1 > MAX_NAME_LENGTH) break;
    parts.push(Buffer.from([lab.length]), lab);
    len += lab.length + 1;
  }
  return Buffer.concat([...parts, tail]);
}

const TYPES = [Type.A, Type.AAAA, Type.NS, Type.CNAME, Type.SOA, Type.MX, Type.TXT, Type.PTR, Type.DNAME, Type.SRV, Type.DS, Type.RRSIG, Type.HTTPS, Type.CAA, Type.ANY, 99, 65535];

/** RDATA valid for its type most of the time, any bytes otherwise (for types without names). */
export function genRdata(rng: Rng, type: number, near: () => Name): Buffer {
  switch (type) {
    case Type.A: return rng.chance(0.95) ? rng.bytes(4) : rng.bytes(rng.int(8));
    case Type.AAAA: return rng.chance(0.95) ? rng.bytes(16) : rng.bytes(rng.int(20));
    case Type.NS: case Type.CNAME: case Type.PTR: case Type.DNAME: return near();
    case Type.MX: return Buffer.concat([rng.bytes(2), near()]);
    case Type.SRV: return Buffer.concat([rng.bytes(6), near()]);
    case Type.SOA: {
      const times = rng.bytes(20);
      return Buffer.concat([near(), near(), times]);
    }
    case Type.TXT: {
      const t = rng.bytes(rng.int(40));
      return Buffer.concat([Buffer.from([t.length]), t]);
    }
    default: return rng.bytes(rng.int(64));
  }
}

export function genEdns(rng: Rng): Edns {
  const options = [];
  for (let i = rng.int(3); i > 0; i--) options.push({ code: rng.pick([8, 10, 12, 15, rng.int(65536)]), data: rng.bytes(rng.int(40)) });
  return { udpSize: rng.pick([0, 512, 1232, 4096, 65535]), version: rng.chance(0.9) ? 0 : rng.int(256), do: rng.chance(0.3), options };
}

/** A query, mostly well-formed, with odd corners (opcodes, classes, types, counts). */
export function genQuery(rng: Rng, zones: Name[]): Message {
  const m = emptyMessage({
    id: rng.int(65536), rd: rng.chance(0.9), cd: rng.chance(0.1),
    opcode: rng.chance(0.9) ? 0 : rng.pick([1, 2, 4, 5, 15]),
    ...(rng.chance(0.6) ? { edns: genEdns(rng) } : {}),
  });
  const qd = rng.chance(0.9) ? 1 : rng.pick([0, 2, 3]);
  for (let i = 0; i < qd; i++) {
    m.questions.push({
      name: genName(rng, rng.chance(0.8) ? rng.pick(zones) : undefined),
      type: rng.chance(0.9) ? rng.pick(TYPES) : rng.pick([Type.AXFR, Type.IXFR, Type.OPT, 0, rng.int(65536)]),
      class: rng.chance(0.95) ? Class.IN : rng.pick([Class.CH, Class.ANY, 0, 254]),
    });
  }
  // Records in a query (UPDATE-like, or just unexpected).
  if (rng.chance(0.1)) for (let i = rng.range(1, 3); i > 0; i--) m.answers.push(genRecord(rng, [genName(rng)]));
  return m;
}

export function genRecord(rng: Rng, owners: Name[], type = rng.pick(TYPES)): Record {
  const near = () => (rng.chance(0.7) ? genName(rng, rng.pick(owners)) : genName(rng));
  return {
    name: rng.chance(0.8) ? rng.pick(owners) : near(),
    type,
    class: rng.chance(0.95) ? Class.IN : rng.pick([Class.CH, Class.ANY, 0]),
    ttl: rng.pick([0, 1, 300, 86400, 0x7fffffff, 0x80000000, 0xffffffff, rng.u32()]),
    rdata: genRdata(rng, type, near),
  };
}

/**
 * An upstream response to (qname, qtype) from a server for `zone`: an answer,
 * a CNAME/DNAME chain, a referral (with or without glue, in or out of
 * bailiwick), NXDOMAIN/NODATA with or without SOA, odd rcodes and flags.
 */
export function genResponse(rng: Rng, qname: Name, qtype: number, zone: Name): Message {
  const m = emptyMessage({
    id: rng.int(65536), qr: true, aa: rng.chance(0.6), tc: rng.chance(0.03), ra: rng.chance(0.5),
    rcode: rng.chance(0.8) ? rng.pick([0, 0, 0, 3]) : rng.pick([1, 2, 4, 5, 9, 15]),
    questions: [{ name: qname, type: qtype, class: Class.IN }],
    ...(rng.chance(0.3) ? { edns: genEdns(rng) } : {}),
  });
  const below = () => genName(rng, rng.chance(0.8) ? qname : zone);
  const owners = [qname, zone, below()];
  switch (rng.int(7)) {
    case 0: // answer
      for (let i = rng.range(1, 4); i > 0; i--) m.answers.push(genRecord(rng, [qname], rng.chance(0.8) ? qtype : rng.pick(TYPES)));
      break;
    case 1: { // CNAME chain
      let owner = qname;
      for (let i = rng.range(1, 6); i > 0; i--) {
        const target = rng.chance(0.3) ? qname : below();
        m.answers.push({ name: owner, type: Type.CNAME, class: Class.IN, ttl: 300, rdata: target });
        owner = target;
      }
      if (rng.chance(0.5)) m.answers.push(genRecord(rng, [owner], qtype));
      break;
    }
    case 2: { // DNAME
      const owner = rng.chance(0.7) ? parentOf(qname) : below();
      m.answers.push({ name: owner, type: Type.DNAME, class: Class.IN, ttl: 300, rdata: rng.chance(0.5) ? genName(rng) : genName(rng, owner) });
      if (rng.chance(0.5)) m.answers.push({ name: qname, type: Type.CNAME, class: Class.IN, ttl: 300, rdata: genName(rng) });
      break;
    }
    case 3: { // referral
      m.aa = rng.chance(0.1);
      const child = rng.chance(0.7) ? cutBelow(rng, qname, zone) : genName(rng);
      const count = rng.chance(0.1) ? rng.range(20, 60) : rng.range(1, 4);
      for (let i = 0; i < count; i++) {
        const ns = rng.chance(0.5) ? genName(rng, child) : genName(rng);
        m.authorities.push({ name: child, type: Type.NS, class: Class.IN, ttl: rng.pick([0, 300, 86400]), rdata: ns });
        if (rng.chance(0.6)) m.additionals.push({ name: ns, type: Type.A, class: Class.IN, ttl: 300, rdata: glueAddress(rng) });
      }
      break;
    }
    case 4: // negative
      m.rcode = rng.chance(0.5) ? 3 : 0;
      if (rng.chance(0.8)) m.authorities.push(genRecord(rng, [zone], Type.SOA));
      break;
    default: // anything
      for (let i = rng.int(4); i > 0; i--) m.answers.push(genRecord(rng, owners));
      for (let i = rng.int(4); i > 0; i--) m.authorities.push(genRecord(rng, owners));
      for (let i = rng.int(4); i > 0; i--) m.additionals.push(genRecord(rng, owners));
  }
  return m;
}

function parentOf(name: Name): Name {
  return name[0] === 0 ? name : name.subarray(name[0]! + 1);
}

/** A zone cut between `zone` and `qname` (or qname itself). */
function cutBelow(rng: Rng, qname: Name, zone: Name): Name {
  const cuts: Name[] = [];
  for (let n = qname; n.length > zone.length; n = parentOf(n)) cuts.push(n);
  return cuts.length ? rng.pick(cuts) : qname;
}

function glueAddress(rng: Rng): Buffer {
  // Addresses of the scripted servers, sometimes loopback or anything.
  if (rng.chance(0.7)) return Buffer.from([198, 51, 100, rng.range(1, 8)]);
  if (rng.chance(0.3)) return Buffer.from([127, 0, 0, 1]);
  return rng.bytes(4);
}

/** Encode, tolerating generated messages the encoder refuses (counted, not a finding). */
export function tryEncode(m: Message): Buffer | undefined {
  try {
    return encodeMessage(m);
  } catch {
    return undefined;
  }
}
