/**
 * RDATA in presentation format (RFC 1035 5.1, RFC 3597 5) <-> wire form.
 *
 * Token text is a byte string: one character per byte (what a zone file read
 * as latin1 gives), so `\DDD` escapes and raw high bytes both survive exactly.
 * Names inside RDATA always go through our own name parser, never through
 * dns-packet, whose string names lose bytes (RFC 4343). dns-packet's per-type
 * codecs are used as thin adapters only where they are byte-exact (A, AAAA,
 * TXT/SPF, DS, TLSA); the others carry names or octet strings that its UTF-8
 * `string` helper would mangle, so they are written here. The DNSSEC types
 * (RRSIG, NSEC, NSEC3, NSEC3PARAM, CDS, CDNSKEY) share their type bitmaps and
 * base32hex with the validator, from src/dnssec/records.ts.
 */
import { isIPv4, isIPv6 } from 'node:net';
import packet from 'dns-packet';
import {
  base32hexDecode, base32hexEncode, decodeTypeBitmap, encodeTypeBitmap, parseNsec3,
} from '../dnssec/records.js';
import { Class, Type, typeFromText, typeToText } from './constants.js';
import type { Record } from './message.js';
import { MAX_LABEL_LENGTH, MAX_NAME_LENGTH, Name, NameError, ROOT, nameFromText, nameToText } from './name.js';

/** One presentation token; `text` keeps its escapes, quoted tokens lose their quotes. */
export interface Token {
  text: string;
  quoted: boolean;
  line: number;
  column: number;
}

export class RdataError extends Error {
  readonly code = 'VERDICT_ERR_RDATA';
  override readonly name = 'RdataError';
  /** Index of the offending token; equal to the token count when a field is missing. */
  readonly index: number;
  constructor(message: string, index: number) {
    super(message);
    this.index = index;
  }
}

// dns-packet ships per-type codecs that its typings do not declare. Each encode
// writes a 2-byte RDLENGTH before the RDATA, and each decode expects it.
interface Codec<T> {
  encode(data: T): Buffer;
  decode(buf: Buffer, offset?: number): T;
}
interface DsData { keyTag: number; algorithm: number; digestType: number; digest: Buffer }
interface TlsaData { usage: number; selector: number; matchingType: number; certificate: Buffer }
const codecs = packet as unknown as {
  a: Codec<string>;
  aaaa: Codec<string>;
  txt: Codec<Buffer[]>;
  ds: Codec<DsData>;
  tlsa: Codec<TlsaData>;
};

function encodeWith<T>(codec: Codec<T>, data: T): Buffer {
  return codec.encode(data).subarray(2);
}

function decodeWith<T>(codec: Codec<T>, rdata: Buffer): T {
  const buf = Buffer.allocUnsafe(rdata.length + 2);
  buf.writeUInt16BE(rdata.length, 0);
  rdata.copy(buf, 2);
  return codec.decode(buf, 0);
}

// ---------------------------------------------------------------- TTLs

const UNIT_SECONDS: { [c: number]: number } = {
  0x77: 604800, 0x57: 604800, // w W
  0x64: 86400, 0x44: 86400, // d D
  0x68: 3600, 0x48: 3600, // h H
  0x6d: 60, 0x4d: 60, // m M
  0x73: 1, 0x53: 1, // s S
};

/**
 * A TTL as plain seconds or in BIND's units (`1w2d3h4m5s`, case-insensitive).
 * As in BIND, a bare number is only allowed alone (`1h30` is rejected) and the
 * total must fit 32 bits. Callers that need RFC 2181 8's 31-bit limit check it.
 */
export function ttlFromText(s: string): number | undefined {
  const n = s.length;
  if (n === 0) return undefined;
  let total = 0;
  let cur = -1;
  let units = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      cur = (cur < 0 ? 0 : cur * 10) + (c - 0x30);
      if (cur > 0xffffffff) return undefined;
      continue;
    }
    const mult = UNIT_SECONDS[c];
    if (mult === undefined || cur < 0) return undefined;
    total += cur * mult;
    cur = -1;
    units = true;
  }
  if (cur >= 0) {
    if (units) return undefined;
    total = cur;
  }
  return total <= 0xffffffff ? total : undefined;
}

// ---------------------------------------------------------------- names

const scratch = Buffer.allocUnsafe(MAX_NAME_LENGTH + 64);

/**
 * `nameFromText` with a fast path for the common escape-free name: bytes go
 * straight into a scratch buffer instead of one array per label. Anything
 * unusual (escapes, empty labels, oversize labels or names) is handed to
 * `nameFromText`, which gives the same result or the precise error.
 */
export function nameFromZoneText(text: string, origin: Name = ROOT): Name {
  const n = text.length;
  if (n === 1) {
    const c = text.charCodeAt(0);
    if (c === 0x2e) return ROOT;
    if (c === 0x40) return origin;
  }
  if (n === 0 || n > MAX_NAME_LENGTH) return nameFromText(text, origin);
  let lenAt = 0;
  let o = 1;
  let len = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (len === 0 || len > MAX_LABEL_LENGTH) return nameFromText(text, origin);
      scratch[lenAt] = len;
      lenAt = o++;
      len = 0;
    } else if (c === 0x5c || c > 0xff) {
      return nameFromText(text, origin);
    } else {
      scratch[o++] = c;
      len++;
    }
  }
  if (len === 0) {
    // Ended with a dot: absolute; the slot reserved for the next length is the root label.
    scratch[lenAt] = 0;
    const abs = Buffer.allocUnsafe(o);
    for (let k = 0; k < o; k++) abs[k] = scratch[k]!;
    return abs;
  }
  if (len > MAX_LABEL_LENGTH) return nameFromText(text, origin);
  scratch[lenAt] = len;
  const total = o + origin.length;
  if (total > MAX_NAME_LENGTH) return nameFromText(text, origin);
  // Byte loops: names are short, and Buffer#copy's native call costs more than the copy.
  const out = Buffer.allocUnsafe(total);
  for (let k = 0; k < o; k++) out[k] = scratch[k]!;
  for (let k = 0; k < origin.length; k++) out[o + k] = origin[k]!;
  return out;
}

/** Read an uncompressed name at `o`; returns it and the offset after it. */
function readName(rd: Buffer, o: number): [Name, number] {
  const start = o;
  for (;;) {
    if (o >= rd.length) throw new RangeError('name runs past its RDATA');
    const l = rd[o]!;
    if (l === 0) break;
    if (l > MAX_LABEL_LENGTH) throw new RangeError('compressed or extended label in RDATA');
    o += l + 1;
  }
  o++;
  if (o - start > MAX_NAME_LENGTH) throw new RangeError('name longer than 255 bytes');
  return [rd.subarray(start, o), o];
}

// ---------------------------------------------------------------- strings

/** Decode the escapes of a character string (RFC 1035 5.1: `\X` and `\DDD`) to bytes. */
function unescape(text: string): Buffer | string {
  const out = Buffer.allocUnsafe(text.length);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c === 0x5c) {
      if (i + 1 >= text.length) return 'dangling backslash';
      const d = text.charCodeAt(i + 1);
      if (d >= 0x30 && d <= 0x39) {
        const digits = text.slice(i + 1, i + 4);
        if (!/^[0-9]{3}$/.test(digits)) return `bad escape \\${digits} (\\DDD needs three digits)`;
        c = Number(digits);
        if (c > 255) return `bad escape \\${digits} (above 255)`;
        i += 3;
      } else {
        c = d;
        i++;
      }
    }
    if (c > 0xff) return 'character outside Latin-1; write the bytes as \\DDD';
    out[o++] = c;
  }
  return out.subarray(0, o);
}

/** A quoted character string as BIND prints it: `"` and `\` escaped, non-printables as \DDD. */
function quote(b: Uint8Array): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c < 0x20 || c >= 0x7f) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  return s + '"';
}

function hexUpper(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').toUpperCase();
}

// DNSSEC algorithm mnemonics (RFC 4034 A.1, RFC 5155, RFC 5702, RFC 6605, RFC 8080):
// RFC 4034 5.3 lets DS show the algorithm either way.
const ALGORITHMS = new Map<string, number>([
  ['RSAMD5', 1], ['DH', 2], ['DSA', 3], ['RSASHA1', 5], ['DSA-NSEC3-SHA1', 6], ['RSASHA1-NSEC3-SHA1', 7],
  ['RSASHA256', 8], ['RSASHA512', 10], ['ECC-GOST', 12], ['ECDSAP256SHA256', 13], ['ECDSAP384SHA384', 14],
  ['ED25519', 15], ['ED448', 16], ['INDIRECT', 252], ['PRIVATEDNS', 253], ['PRIVATEOID', 254],
]);

// ---------------------------------------------------------------- RRSIG times

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * An RRSIG expiration or inception time (RFC 4034 3.2): YYYYMMDDHHmmSS in UTC,
 * or seconds since 1970. The field is 32 bits read with serial arithmetic
 * (RFC 4034 3.1.5), so dates past 2106 wrap around, as BIND writes them.
 */
export function sigTimeFromText(s: string): number | undefined {
  if (/^[0-9]{14}$/.test(s)) {
    const [y, mo, d, h, mi, se] = [s.slice(0, 4), s.slice(4, 6), s.slice(6, 8), s.slice(8, 10), s.slice(10, 12), s.slice(12, 14)].map(Number) as [number, number, number, number, number, number];
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return undefined;
    const ms = Date.UTC(y, mo - 1, d, h, mi, se);
    // Date.UTC rolls 31 February into March; the round trip catches it.
    if (new Date(ms).getUTCDate() !== d) return undefined;
    return (ms / 1000) % 0x100000000;
  }
  if (!/^[0-9]{1,10}$/.test(s)) return undefined;
  const v = Number(s);
  return v <= 0xffffffff ? v : undefined;
}

/** YYYYMMDDHHmmSS of a 32-bit RRSIG time, read as seconds since 1970 (so up to 2106). */
export function sigTimeToText(v: number): string {
  const t = new Date(v * 1000);
  return `${t.getUTCFullYear()}${pad2(t.getUTCMonth() + 1)}${pad2(t.getUTCDate())}${pad2(t.getUTCHours())}${pad2(t.getUTCMinutes())}${pad2(t.getUTCSeconds())}`;
}

// ---------------------------------------------------------------- field reader

/** Walks the RDATA tokens of one record; every failure names the token it is about. */
class Fields {
  i = 0;
  constructor(readonly tokens: Token[], readonly origin: Name, readonly type: string) {}

  fail(reason: string, at = this.i): never {
    throw new RdataError(reason, at);
  }

  get more(): boolean {
    return this.i < this.tokens.length;
  }

  word(what: string): string {
    const t = this.tokens[this.i];
    if (t === undefined) this.fail(`${this.type} record is missing its ${what}`);
    if (t.quoted) this.fail(`${what} must not be quoted`);
    this.i++;
    return t.text;
  }

  int(what: string, max: number): number {
    const s = this.word(what);
    if (!/^[0-9]+$/.test(s)) this.fail(`bad ${what} '${s}'`, this.i - 1);
    const v = Number(s);
    if (v > max) this.fail(`${what} ${s} out of range (0-${max})`, this.i - 1);
    return v;
  }

  /** 32-bit fields that BIND reads like TTLs (SOA refresh, retry, expire, minimum). */
  duration(what: string): number {
    const s = this.word(what);
    const v = ttlFromText(s);
    if (v === undefined) this.fail(`bad ${what} '${s}'`, this.i - 1);
    return v;
  }

  algorithm(): number {
    const s = this.word('algorithm');
    const named = ALGORITHMS.get(s.toUpperCase());
    if (named !== undefined) return named;
    this.i--;
    return this.int('algorithm', 255);
  }

  /** A type mnemonic or TYPEnnn (RFC 3597 5). */
  rrType(what: string): number {
    const s = this.word(what);
    const t = typeFromText(s);
    if (t === undefined) this.fail(`unknown ${what} '${s}'`, this.i - 1);
    return t;
  }

  /** The remaining tokens as a type bitmap (RFC 4034 4.2, RFC 5155 3.3); may be empty. */
  typeBitmap(): Buffer {
    const types: number[] = [];
    while (this.more) types.push(this.rrType('type'));
    return encodeTypeBitmap(types);
  }

  sigTime(what: string): number {
    const s = this.word(what);
    const v = sigTimeFromText(s);
    if (v === undefined) this.fail(`bad ${what} '${s}' (YYYYMMDDHHmmSS or seconds)`, this.i - 1);
    return v;
  }

  /** NSEC3 salt (RFC 5155 3.3): hex, or "-" for none. */
  salt(): Buffer {
    const s = this.word('salt');
    if (s === '-') return Buffer.alloc(0);
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(s)) this.fail(`bad salt '${s}' (hex, or - for none)`, this.i - 1);
    if (s.length > 510) this.fail(`salt of ${s.length / 2} bytes exceeds 255`, this.i - 1);
    return Buffer.from(s, 'hex');
  }

  name(what: string): Name {
    const s = this.word(what);
    try {
      return nameFromZoneText(s, this.origin);
    } catch (e) {
      if (e instanceof NameError) this.fail(`bad ${what} '${s}': ${e.message}`, this.i - 1);
      throw e;
    }
  }

  /** Octets of one token, quoted or not; `max` is 255 for a <character-string>. */
  octets(what: string, max = 255): Buffer {
    const t = this.tokens[this.i];
    if (t === undefined) this.fail(`${this.type} record is missing its ${what}`);
    const b = unescape(t.text);
    if (typeof b === 'string') this.fail(`bad ${what}: ${b}`);
    if (b.length > max) this.fail(`${what} of ${b.length} bytes exceeds ${max}`);
    this.i++;
    return b;
  }

  /** The remaining tokens as one hex string (whitespace may split it, RFC 3597 5). */
  hex(what: string, allowEmpty = false): Buffer {
    const first = this.i;
    let s = '';
    for (; this.i < this.tokens.length; this.i++) {
      const t = this.tokens[this.i]!;
      if (t.quoted || !/^[0-9a-fA-F]*$/.test(t.text)) this.fail(`bad hex in ${what} '${t.text}'`);
      s += t.text;
    }
    if (s.length % 2 !== 0) this.fail(`${what} has an odd number of hex digits`, first);
    if (s.length === 0 && !allowEmpty) this.fail(`${this.type} record is missing its ${what}`);
    return Buffer.from(s, 'hex');
  }

  base64(what: string): Buffer {
    const first = this.i;
    let s = '';
    for (; this.i < this.tokens.length; this.i++) {
      const t = this.tokens[this.i]!;
      if (t.quoted || !/^[A-Za-z0-9+/=]+$/.test(t.text)) this.fail(`bad base64 in ${what} '${t.text}'`);
      s += t.text;
    }
    if (s.length === 0) this.fail(`${this.type} record is missing its ${what}`);
    if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) this.fail(`bad base64 in ${what}`, first);
    return Buffer.from(s, 'base64');
  }

  end(): void {
    if (this.more) this.fail(`unexpected '${this.tokens[this.i]!.text}' after the ${this.type} RDATA`);
  }
}

function u8(v: number): Buffer {
  return Buffer.from([v]);
}
function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v, 0);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}
function withLength(b: Buffer): Buffer {
  return Buffer.concat([u8(b.length), b]);
}

/** Cursor over wire RDATA for printing; any shape error falls back to the generic form. */
class Wire {
  o = 0;
  constructor(readonly rd: Buffer) {}
  need(n: number): void {
    if (this.o + n > this.rd.length) throw new RangeError('RDATA too short for its type');
  }
  u8(): number {
    this.need(1);
    return this.rd[this.o++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.rd.readUInt16BE(this.o);
    this.o += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.rd.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }
  name(): string {
    const [n, next] = readName(this.rd, this.o);
    this.o = next;
    return nameToText(n);
  }
  string(): string {
    const l = this.u8();
    this.need(l);
    const s = quote(this.rd.subarray(this.o, this.o + l));
    this.o += l;
    return s;
  }
  /** A type bitmap running to the end of the RDATA, as mnemonics. */
  types(): string {
    const types = [...decodeTypeBitmap(this.rd, this.o)].sort((a, b) => a - b);
    this.o = this.rd.length;
    return types.map(typeToText).join(' ');
  }
  salt(): string {
    const l = this.u8();
    this.need(l);
    const s = l === 0 ? '-' : hexUpper(this.rd.subarray(this.o, this.o + l));
    this.o += l;
    return s;
  }
  rest(): Buffer {
    const b = this.rd.subarray(this.o);
    this.o = this.rd.length;
    return b;
  }
  end(): void {
    if (this.o !== this.rd.length) throw new RangeError('RDATA longer than its type allows');
  }
}

// ---------------------------------------------------------------- per-type codecs

interface RdataCodec {
  fromText(f: Fields): Buffer;
  toText(w: Wire): string;
}

const singleName: RdataCodec = {
  fromText: (f) => {
    const n = f.name('target name');
    f.end();
    return n;
  },
  toText: (w) => w.name(),
};

/** Types shaped `<16-bit preference> <name>` (MX, AFSDB, RT, KX). */
const prefName = (pref: string, target: string): RdataCodec => ({
  fromText: (f) => {
    const p = f.int(pref, 0xffff);
    const n = f.name(target);
    f.end();
    return Buffer.concat([u16(p), n]);
  },
  toText: (w) => `${w.u16()} ${w.name()}`,
});

const textStrings: RdataCodec = {
  // RFC 1035 3.3.14: one or more <character-string>s, each at most 255 bytes.
  fromText: (f) => {
    const parts: Buffer[] = [];
    while (f.more) parts.push(f.octets('string'));
    if (parts.length === 0) f.fail(`${f.type} record needs at least one string`);
    return encodeWith(codecs.txt, parts);
  },
  toText: (w) => {
    const parts = decodeWith(codecs.txt, w.rest());
    return parts.map((p) => quote(p)).join(' ');
  },
};

function addressV6ToText(rd: Buffer): string {
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad, as dig prints them.
  if (rd.subarray(0, 10).every((b) => b === 0) && rd[10] === 0xff && rd[11] === 0xff) {
    return `::ffff:${rd[12]}.${rd[13]}.${rd[14]}.${rd[15]}`;
  }
  return decodeWith(codecs.aaaa, rd);
}

// The digest length is fixed by its type: SHA-1 (RFC 4034 5.1.4), SHA-256 (RFC 4509), GOST (RFC 5933), SHA-384 (RFC 6605).
const DIGEST_LENGTHS: { [type: number]: number } = { 1: 20, 2: 32, 3: 32, 4: 48 };

const dsCodec: RdataCodec = {
  fromText: (f) => {
    const keyTag = f.int('key tag', 0xffff);
    const algorithm = f.algorithm();
    const digestType = f.int('digest type', 255);
    const at = f.i;
    const digest = f.hex('digest');
    const want = DIGEST_LENGTHS[digestType];
    if (want !== undefined && digest.length !== want) f.fail(`digest of type ${digestType} must be ${want} bytes, not ${digest.length}`, at);
    return encodeWith(codecs.ds, { keyTag, algorithm, digestType, digest });
  },
  toText: (w) => {
    w.need(5);
    const d = decodeWith(codecs.ds, w.rest());
    // Printed in a form that reads back, or not at all (the generic form then).
    const want = DIGEST_LENGTHS[d.digestType];
    if (want !== undefined && d.digest.length !== want) throw new RangeError(`digest of type ${d.digestType} is not ${want} bytes`);
    return `${d.keyTag} ${d.algorithm} ${d.digestType} ${hexUpper(d.digest)}`;
  },
};

const dnskeyCodec: RdataCodec = {
  fromText: (f) => {
    const flags = f.int('flags', 0xffff);
    const protocol = f.int('protocol', 255);
    const algorithm = f.algorithm();
    const key = f.base64('public key');
    return Buffer.concat([u16(flags), u8(protocol), u8(algorithm), key]);
  },
  toText: (w) => {
    const head = `${w.u16()} ${w.u8()} ${w.u8()}`;
    const key = w.rest();
    if (key.length === 0) throw new RangeError('DNSKEY without a public key');
    return `${head} ${key.toString('base64')}`;
  },
};

const CODECS = new Map<number, RdataCodec>([
  [Type.A, {
    fromText: (f) => {
      const s = f.word('IPv4 address');
      // dns-packet's encoder does not validate; node's check is strict (four decimal octets, no leading zeros).
      if (!isIPv4(s)) f.fail(`bad IPv4 address '${s}'`, f.i - 1);
      f.end();
      return encodeWith(codecs.a, s);
    },
    toText: (w) => {
      w.need(4);
      if (w.rd.length !== 4) throw new RangeError('A RDATA is not 4 bytes');
      return decodeWith(codecs.a, w.rest());
    },
  }],
  [Type.AAAA, {
    fromText: (f) => {
      const s = f.word('IPv6 address');
      if (!isIPv6(s) || s.includes('%')) f.fail(`bad IPv6 address '${s}'`, f.i - 1);
      f.end();
      return encodeWith(codecs.aaaa, s);
    },
    toText: (w) => {
      if (w.rd.length !== 16) throw new RangeError('AAAA RDATA is not 16 bytes');
      return addressV6ToText(w.rest());
    },
  }],
  [Type.NS, singleName],
  [Type.CNAME, singleName],
  [Type.DNAME, singleName],
  [Type.PTR, singleName],
  [Type.SOA, {
    fromText: (f) => {
      const mname = f.name('primary server name');
      const rname = f.name('mailbox name');
      const serial = f.int('serial', 0xffffffff);
      const times = [f.duration('refresh'), f.duration('retry'), f.duration('expire'), f.duration('minimum')];
      f.end();
      return Buffer.concat([mname, rname, u32(serial), ...times.map(u32)]);
    },
    toText: (w) => `${w.name()} ${w.name()} ${w.u32()} ${w.u32()} ${w.u32()} ${w.u32()} ${w.u32()}`,
  }],
  [Type.MX, prefName('preference', 'mail exchange')],
  [Type.AFSDB, prefName('subtype', 'hostname')],
  [21, prefName('preference', 'intermediate host')], // RT
  [Type.KX, prefName('preference', 'exchanger')],
  [Type.RP, {
    fromText: (f) => {
      const mbox = f.name('mailbox name');
      const txt = f.name('TXT name');
      f.end();
      return Buffer.concat([mbox, txt]);
    },
    toText: (w) => `${w.name()} ${w.name()}`,
  }],
  [Type.TXT, textStrings],
  [99, textStrings], // SPF (RFC 7208 3.1: same format as TXT)
  [Type.HINFO, {
    fromText: (f) => {
      const cpu = f.octets('CPU');
      const os = f.octets('OS');
      f.end();
      return Buffer.concat([withLength(cpu), withLength(os)]);
    },
    toText: (w) => `${w.string()} ${w.string()}`,
  }],
  [Type.SRV, {
    fromText: (f) => {
      const head = [f.int('priority', 0xffff), f.int('weight', 0xffff), f.int('port', 0xffff)];
      const target = f.name('target');
      f.end();
      return Buffer.concat([...head.map(u16), target]);
    },
    toText: (w) => `${w.u16()} ${w.u16()} ${w.u16()} ${w.name()}`,
  }],
  [Type.NAPTR, {
    // RFC 3403 4.1: order, preference, flags, services, regexp, replacement.
    fromText: (f) => {
      const order = f.int('order', 0xffff);
      const pref = f.int('preference', 0xffff);
      const strings = [f.octets('flags'), f.octets('services'), f.octets('regexp')];
      const repl = f.name('replacement');
      f.end();
      return Buffer.concat([u16(order), u16(pref), ...strings.map(withLength), repl]);
    },
    toText: (w) => `${w.u16()} ${w.u16()} ${w.string()} ${w.string()} ${w.string()} ${w.name()}`,
  }],
  [Type.CAA, {
    // RFC 8659 4.1.1: flags, a tag of ASCII letters and digits, and a value of raw octets
    // (its length comes from RDLENGTH, so it is not limited to 255).
    fromText: (f) => {
      const flags = f.int('flags', 255);
      const tag = f.word('tag');
      if (!/^[A-Za-z0-9]{1,255}$/.test(tag)) f.fail(`bad CAA tag '${tag}' (letters and digits only)`, f.i - 1);
      const value = f.octets('value', 0xffff);
      f.end();
      return Buffer.concat([u8(flags), withLength(Buffer.from(tag, 'latin1')), value]);
    },
    toText: (w) => {
      const flags = w.u8();
      const tl = w.u8();
      if (tl === 0) throw new RangeError('empty CAA tag');
      w.need(tl);
      const tag = w.rd.toString('latin1', w.o, w.o + tl);
      if (!/^[A-Za-z0-9]+$/.test(tag)) throw new RangeError('bad CAA tag');
      w.o += tl;
      return `${flags} ${tag} ${quote(w.rest())}`;
    },
  }],
  [Type.DS, dsCodec],
  [59, dsCodec], // CDS (RFC 7344 3.1: the DS format)
  [Type.DNSKEY, dnskeyCodec],
  [60, dnskeyCodec], // CDNSKEY (RFC 7344 3.2: the DNSKEY format)
  [Type.RRSIG, {
    // RFC 4034 3.2: type covered, algorithm, labels, original TTL, expiration, inception, key tag, signer, signature.
    fromText: (f) => {
      const covered = f.rrType('type covered');
      const algorithm = f.algorithm();
      const labels = f.int('labels', 255);
      const ttl = f.duration('original TTL');
      const expiration = f.sigTime('signature expiration');
      const inception = f.sigTime('signature inception');
      const keyTag = f.int('key tag', 0xffff);
      const signer = f.name('signer name');
      const signature = f.base64('signature');
      return Buffer.concat([u16(covered), u8(algorithm), u8(labels), u32(ttl), u32(expiration), u32(inception), u16(keyTag), signer, signature]);
    },
    toText: (w) => {
      const head = `${typeToText(w.u16())} ${w.u8()} ${w.u8()} ${w.u32()} ${sigTimeToText(w.u32())} ${sigTimeToText(w.u32())} ${w.u16()} ${w.name()}`;
      const signature = w.rest();
      if (signature.length === 0) throw new RangeError('RRSIG without a signature');
      return `${head} ${signature.toString('base64')}`;
    },
  }],
  [Type.NSEC, {
    // RFC 4034 4.2: next domain name, then the types present as mnemonics.
    fromText: (f) => {
      const next = f.name('next domain name');
      return Buffer.concat([next, f.typeBitmap()]);
    },
    toText: (w) => [w.name(), w.types()].filter((s) => s !== '').join(' '),
  }],
  [Type.NSEC3, {
    // RFC 5155 3.3: hash algorithm, flags, iterations, salt, next hashed owner (base32hex), types.
    fromText: (f) => {
      const head = [f.int('hash algorithm', 255), f.int('flags', 255)];
      const iterations = f.int('iterations', 0xffff);
      const salt = f.salt();
      const b32 = f.word('next hashed owner name');
      const next = base32hexDecode(b32);
      // Only the canonical spelling reads back byte for byte (no stray trailing bits).
      if (next === undefined || next.length === 0 || base32hexEncode(next) !== b32.toLowerCase()) {
        return f.fail(`bad next hashed owner name '${b32}' (base32hex)`, f.i - 1);
      }
      if (next.length > 255) f.fail(`next hashed owner name of ${next.length} bytes exceeds 255`, f.i - 1);
      return Buffer.concat([u8(head[0]!), u8(head[1]!), u16(iterations), withLength(salt), withLength(next), f.typeBitmap()]);
    },
    toText: (w) => {
      const n = parseNsec3(w.rest());
      const salt = n.salt.length === 0 ? '-' : hexUpper(n.salt);
      const types = [...n.types].sort((a, b) => a - b).map(typeToText);
      return [n.hashAlgorithm, n.flags, n.iterations, salt, base32hexEncode(n.nextHashed).toUpperCase(), ...types].join(' ');
    },
  }],
  [Type.NSEC3PARAM, {
    // RFC 5155 4.3: hash algorithm, flags, iterations, salt.
    fromText: (f) => {
      const head = [f.int('hash algorithm', 255), f.int('flags', 255)];
      const iterations = f.int('iterations', 0xffff);
      const salt = f.salt();
      f.end();
      return Buffer.concat([u8(head[0]!), u8(head[1]!), u16(iterations), withLength(salt)]);
    },
    toText: (w) => `${w.u8()} ${w.u8()} ${w.u16()} ${w.salt()}`,
  }],
  [44, { // SSHFP (RFC 4255 3.2)
    fromText: (f) => {
      const algorithm = f.int('algorithm', 255);
      const fpType = f.int('fingerprint type', 255);
      const at = f.i;
      const fp = f.hex('fingerprint');
      const want = ({ 1: 20, 2: 32 } as { [k: number]: number })[fpType];
      if (want !== undefined && fp.length !== want) f.fail(`fingerprint of type ${fpType} must be ${want} bytes, not ${fp.length}`, at);
      return Buffer.concat([u8(algorithm), u8(fpType), fp]);
    },
    toText: (w) => `${w.u8()} ${w.u8()} ${hexUpper(w.rest())}`,
  }],
  [52, { // TLSA (RFC 6698 2.2)
    fromText: (f) => {
      const usage = f.int('certificate usage', 255);
      const selector = f.int('selector', 255);
      const matchingType = f.int('matching type', 255);
      const certificate = f.hex('certificate data');
      return encodeWith(codecs.tlsa, { usage, selector, matchingType, certificate });
    },
    toText: (w) => {
      w.need(3);
      const t = decodeWith(codecs.tlsa, w.rest());
      return `${t.usage} ${t.selector} ${t.matchingType} ${hexUpper(t.certificate)}`;
    },
  }],
]);

// ---------------------------------------------------------------- entry points

function genericFromText(type: number, f: Fields): Buffer {
  f.i = 1;
  const lenText = f.word('RDATA length');
  if (!/^[0-9]+$/.test(lenText) || Number(lenText) > 0xffff) f.fail(`bad RDATA length '${lenText}'`, f.i - 1);
  const len = Number(lenText);
  const at = f.i;
  const data = f.hex('RDATA', true);
  if (data.length !== len) f.fail(`generic RDATA has ${data.length} bytes, its length says ${len}`, at);
  // RFC 3597 5: a known type in the generic form must still hold valid RDATA for that type.
  const codec = CODECS.get(type);
  if (codec) {
    try {
      const w = new Wire(data);
      codec.toText(w);
      w.end();
    } catch (e) {
      f.fail(`generic RDATA is not a valid ${typeToText(type)} record: ${(e as Error).message}`, at);
    }
  }
  return data;
}

/** Wire RDATA from presentation tokens; names are relative to `origin`. Throws RdataError. */
export function rdataFromTokens(type: number, tokens: Token[], origin: Name): Buffer {
  const f: Fields = new Fields(tokens, origin, typeToText(type));
  const first = tokens[0];
  if (first !== undefined && !first.quoted && first.text === '\\#') return genericFromText(type, f);
  const codec = CODECS.get(type);
  if (!codec) f.fail(`no presentation format known for ${typeToText(type)}; use the RFC 3597 form \\# <length> <hex>`, 0);
  const rd = codec.fromText(f);
  if (rd.length > 0xffff) f.fail(`RDATA of ${rd.length} bytes exceeds 65535`, 0);
  return rd;
}

function genericToText(rdata: Buffer): string {
  return rdata.length === 0 ? '\\# 0' : `\\# ${rdata.length} ${hexUpper(rdata)}`;
}

/**
 * Presentation form of wire RDATA. Unknown types, and RDATA that does not fit
 * its type's layout, print in the RFC 3597 generic form, which reads back
 * byte for byte.
 */
export function rdataToText(type: number, rdata: Buffer): string {
  const codec = CODECS.get(type);
  if (!codec) return genericToText(rdata);
  try {
    const w = new Wire(rdata);
    const s = codec.toText(w);
    w.end();
    return s;
  } catch {
    return genericToText(rdata);
  }
}

export function classToText(c: number): string {
  if (c === Class.IN) return 'IN';
  if (c === Class.CH) return 'CH';
  if (c === 4) return 'HS';
  return `CLASS${c}`;
}

/** "owner TTL CLASS TYPE rdata", tab-separated as dig and BIND print it. */
export function recordToText(rr: Record): string {
  return `${nameToText(rr.name)}\t${rr.ttl}\t${classToText(rr.class)}\t${typeToText(rr.type)}\t${rdataToText(rr.type, rr.rdata)}`;
}

