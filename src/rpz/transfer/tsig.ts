/**
 * TSIG (RFC 8945): HMAC signatures on DNS messages, for zone transfers,
 * SOA refresh queries and NOTIFY.
 *
 * Works on raw wire bytes, not on the decoded model: the MAC covers the
 * message exactly as sent (after name compression), so a TSIG record is
 * appended to an already-encoded message and verification strips it from the
 * bytes received (RFC 8945 4.3.3, 5.2).
 *
 * A TCP stream of several messages (AXFR, IXFR) chains each MAC to the one
 * before it (RFC 8945 5.3.1): `TsigSigner` and `TsigVerifier` keep that state.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Class, Type } from '../../dns/constants.js';
import { readName } from '../../dns/message.js';
import { Name, lowerName, nameFromText, nameKey, nameToText } from '../../dns/name.js';

/** TSIG error codes carried in the TSIG record (RFC 8945 3, IANA "TSIG/TKEY RR error"). */
export const TsigRcode = { NOERROR: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

/** Header rcode of a reply to a request that failed TSIG (RFC 8945 5.2). */
export const RCODE_NOTAUTH = 9;

interface AlgorithmSpec {
  /** Algorithm name as it appears on the wire (RFC 8945 6). */
  wire: Name;
  hash: string;
  size: number;
}

const ALGORITHMS = new Map<string, AlgorithmSpec>(([
  ['hmac-md5', 'hmac-md5.sig-alg.reg.int.', 'md5', 16],
  ['hmac-sha1', 'hmac-sha1.', 'sha1', 20],
  ['hmac-sha224', 'hmac-sha224.', 'sha224', 28],
  ['hmac-sha256', 'hmac-sha256.', 'sha256', 32],
  ['hmac-sha384', 'hmac-sha384.', 'sha384', 48],
  ['hmac-sha512', 'hmac-sha512.', 'sha512', 64],
] as const).map(([id, wire, hash, size]) => [id, { wire: nameFromText(wire), hash, size }]));

/** Wire algorithm name (lowercase key) -> our identifier. */
const BY_WIRE = new Map<string, string>([...ALGORITHMS].map(([id, spec]) => [nameKey(spec.wire), id]));

export type TsigAlgorithm = 'hmac-md5' | 'hmac-sha1' | 'hmac-sha224' | 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

export interface TsigKey {
  /** Key name (a domain name, RFC 8945 4.2); compared case-insensitively. */
  name: Name;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

/** A TSIG failure. `tsigError` is the RFC 8945 error (BADSIG, BADKEY, BADTIME) or 1 (FORMERR) for a malformed record. */
export class TsigError extends Error {
  readonly code = 'VERDICT_ERR_TSIG';
  override readonly name = 'TsigError';
  constructor(message: string, readonly tsigError: number) {
    super(message);
  }
}

/** Default fudge: five minutes, as RFC 8945 10 recommends. */
export const DEFAULT_FUDGE = 300;

export function tsigErrorName(code: number): string {
  switch (code) {
    case TsigRcode.BADSIG: return 'BADSIG';
    case TsigRcode.BADKEY: return 'BADKEY';
    case TsigRcode.BADTIME: return 'BADTIME';
    case TsigRcode.BADTRUNC: return 'BADTRUNC';
    case 1: return 'FORMERR';
    default: return `TSIG error ${code}`;
  }
}

/** A key from the configuration (`tsig_keys: { NAME: { algorithm, secret } }`); throws on a bad algorithm or secret. */
export function tsigKeyFromConfig(name: string, cfg: { algorithm: string; secret: string }): TsigKey {
  const alg = cfg.algorithm.toLowerCase().replace(/\.$/, '').replace(/^hmac-md5\.sig-alg\.reg\.int$/, 'hmac-md5');
  if (!ALGORITHMS.has(alg)) throw new Error(`TSIG key ${name}: unknown algorithm ${cfg.algorithm} (use one of ${[...ALGORITHMS.keys()].join(', ')})`);
  const s = cfg.secret.replace(/\s+/g, '');
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error(`TSIG key ${name}: the secret is not base64`);
  return { name: nameFromText(name.endsWith('.') ? name : name + '.'), algorithm: alg as TsigAlgorithm, secret: Buffer.from(s, 'base64') };
}

/** The keys a server knows, looked up by the key name of an incoming TSIG record. */
export class TsigKeyring {
  private readonly keys = new Map<string, TsigKey>();

  constructor(keys: Iterable<TsigKey> = []) {
    for (const k of keys) this.keys.set(nameKey(k.name), k);
  }

  static fromConfig(cfg: { [name: string]: { algorithm: string; secret: string } }): TsigKeyring {
    return new TsigKeyring(Object.entries(cfg).map(([n, k]) => tsigKeyFromConfig(n, k)));
  }

  get(name: Name | string): TsigKey | undefined {
    const n = typeof name === 'string' ? nameFromText(name.endsWith('.') ? name : name + '.') : name;
    return this.keys.get(nameKey(n));
  }

  get size(): number {
    return this.keys.size;
  }
}

// ---------------------------------------------------------------- wire layout

/** The fields of a TSIG record's RDATA (RFC 8945 4.2). */
export interface TsigFields {
  algorithm: Name;
  /** Seconds since the epoch (48 bits). */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

/** Where a message's TSIG record sits, and what it says. */
export interface FoundTsig {
  /** Offset of the TSIG record: the message without it is `wire.subarray(0, start)`. */
  start: number;
  keyName: Name;
  fields: TsigFields;
}

function skipName(buf: Buffer, o: number): number {
  return readName(buf, o)[1];
}

/**
 * Find the TSIG record. RFC 8945 5.1: it must be the last record of the
 * additional section and there may be only one; anything else is FORMERR.
 * Returns undefined for an unsigned message.
 */
export function findTsig(wire: Buffer): FoundTsig | undefined {
  if (wire.length < 12) throw new TsigError('message shorter than its header', 1);
  const qd = wire.readUInt16BE(4);
  const total = wire.readUInt16BE(6) + wire.readUInt16BE(8) + wire.readUInt16BE(10);
  let o = 12;
  try {
    for (let i = 0; i < qd; i++) o = skipName(wire, o) + 4;
    for (let i = 0; i < total; i++) {
      const start = o;
      o = skipName(wire, o);
      if (o + 10 > wire.length) throw new TsigError('record header runs past the end', 1);
      const type = wire.readUInt16BE(o);
      const rdlen = wire.readUInt16BE(o + 8);
      const rdStart = o + 10;
      o = rdStart + rdlen;
      if (o > wire.length) throw new TsigError('RDATA runs past the end', 1);
      if (type !== Type.TSIG) continue;
      if (i !== total - 1 || wire.readUInt16BE(10) === 0) throw new TsigError('TSIG is not the last additional record', 1);
      if (o !== wire.length) throw new TsigError('trailing bytes after TSIG', 1);
      if (wire.readUInt16BE(rdStart - 8) !== Class.ANY) throw new TsigError('TSIG class is not ANY', 1);
      return { start, keyName: readName(wire, start)[0], fields: parseFields(wire, rdStart, o) };
    }
  } catch (e) {
    if (e instanceof TsigError) throw e;
    throw new TsigError(`malformed message: ${(e as Error).message}`, 1);
  }
  return undefined;
}

function parseFields(wire: Buffer, start: number, end: number): TsigFields {
  // RFC 8945 4.2: the algorithm name is never compressed; readName would follow a pointer, so check.
  const [algorithm, o] = readName(wire, start);
  if (o - start !== algorithm.length) throw new TsigError('compressed TSIG algorithm name', 1);
  if (o + 10 > end) throw new TsigError('TSIG RDATA too short', 1);
  const timeSigned = wire.readUInt16BE(o) * 2 ** 32 + wire.readUInt32BE(o + 2);
  const fudge = wire.readUInt16BE(o + 6);
  const macSize = wire.readUInt16BE(o + 8);
  let p = o + 10;
  if (p + macSize + 6 > end) throw new TsigError('TSIG MAC runs past its RDATA', 1);
  const mac = Buffer.from(wire.subarray(p, p + macSize));
  p += macSize;
  const originalId = wire.readUInt16BE(p);
  const error = wire.readUInt16BE(p + 2);
  const otherLen = wire.readUInt16BE(p + 4);
  p += 6;
  if (p + otherLen !== end) throw new TsigError('TSIG other data does not fill its RDATA', 1);
  return { algorithm, timeSigned, fudge, mac, originalId, error, other: Buffer.from(wire.subarray(p, end)) };
}

function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v, 0);
  return b;
}

function time48(t: number): Buffer {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16BE(Math.floor(t / 2 ** 32) & 0xffff, 0);
  b.writeUInt32BE(t % 2 ** 32, 2);
  return b;
}

/** RFC 8945 4.3.3: the TSIG variables covered by the MAC (names in canonical, lowercase form). */
function variables(keyName: Name, f: TsigFields): Buffer {
  return Buffer.concat([
    lowerName(keyName), u16(Class.ANY), Buffer.alloc(4) /* TTL 0 */, lowerName(f.algorithm),
    time48(f.timeSigned), u16(f.fudge), u16(f.error), u16(f.other.length), f.other,
  ]);
}

/** RFC 8945 5.3.1: messages after the first cover only the "TSIG timers". */
function timers(f: TsigFields): Buffer {
  return Buffer.concat([time48(f.timeSigned), u16(f.fudge)]);
}

/** A MAC as it is chained into the next digest: its size, then the MAC (RFC 8945 4.3.1). */
function macPrefix(mac: Buffer): Buffer {
  return Buffer.concat([u16(mac.length), mac]);
}

function hmac(key: TsigKey, parts: Buffer[]): Buffer {
  const h = createHmac(ALGORITHMS.get(key.algorithm)!.hash, key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

function tsigRecord(keyName: Name, f: TsigFields): Buffer {
  const rdata = Buffer.concat([f.algorithm, time48(f.timeSigned), u16(f.fudge), u16(f.mac.length), f.mac, u16(f.originalId), u16(f.error), u16(f.other.length), f.other]);
  const head = Buffer.allocUnsafe(10);
  head.writeUInt16BE(Type.TSIG, 0);
  head.writeUInt16BE(Class.ANY, 2);
  head.writeUInt32BE(0, 4);
  head.writeUInt16BE(rdata.length, 8);
  // The owner is written uncompressed: RFC 8945 4.2 asks for the key name in canonical form.
  return Buffer.concat([keyName, head, rdata]);
}

/** Append a TSIG record to an encoded message and count it in ARCOUNT. */
function append(wire: Buffer, record: Buffer): Buffer {
  const out = Buffer.concat([wire, record]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

/** The message as it was before signing: TSIG removed, ARCOUNT restored, the original ID back (RFC 8945 4.3.2). */
function unsigned(wire: Buffer, found: FoundTsig): Buffer {
  const out = Buffer.from(wire.subarray(0, found.start));
  out.writeUInt16BE(found.fields.originalId, 0);
  out.writeUInt16BE(out.readUInt16BE(10) - 1, 10);
  return out;
}

/** Wire size of the TSIG record a key adds to a message: reserve it when packing messages. */
export function tsigSize(key: TsigKey, otherLength = 0): number {
  const spec = ALGORITHMS.get(key.algorithm)!;
  return key.name.length + 10 + spec.wire.length + 16 + spec.size + otherLength;
}

// ---------------------------------------------------------------- signing

/**
 * Signs one message, or each message of a stream in turn. Built with the
 * request's MAC when signing a response (RFC 8945 4.3.1); the first message
 * covers the full TSIG variables, later ones the prior MAC and the timers
 * (RFC 8945 5.3.1).
 */
export class TsigSigner {
  private prior: Buffer | undefined;
  /** MAC of the last message signed: a request's MAC is what its response must chain to. */
  lastMac: Buffer = Buffer.alloc(0);

  constructor(
    readonly key: TsigKey,
    private readonly requestMac?: Buffer,
    private readonly now: () => number = Date.now,
    private readonly fudge = DEFAULT_FUDGE,
  ) {}

  sign(wire: Buffer, opts: { error?: number; other?: Buffer; timeSigned?: number } = {}): Buffer {
    const f: TsigFields = {
      algorithm: ALGORITHMS.get(this.key.algorithm)!.wire,
      timeSigned: opts.timeSigned ?? Math.floor(this.now() / 1000),
      fudge: this.fudge,
      mac: Buffer.alloc(0),
      originalId: wire.readUInt16BE(0),
      error: opts.error ?? 0,
      other: opts.other ?? Buffer.alloc(0),
    };
    const parts = this.prior
      ? [macPrefix(this.prior), wire, timers(f)]
      : [...(this.requestMac ? [macPrefix(this.requestMac)] : []), wire, variables(this.key.name, f)];
    f.mac = hmac(this.key, parts);
    this.prior = f.mac;
    this.lastMac = f.mac;
    return append(wire, tsigRecord(this.key.name, f));
  }
}

/** Sign a single request (a query, a NOTIFY): returns the signed wire and its MAC, which the reply chains to. */
export function signRequest(wire: Buffer, key: TsigKey, now: () => number = Date.now): { wire: Buffer; mac: Buffer } {
  const s = new TsigSigner(key, undefined, now);
  const out = s.sign(wire);
  return { wire: out, mac: s.lastMac };
}

// ---------------------------------------------------------------- verification

function checkMac(key: TsigKey, f: TsigFields, expected: Buffer): void {
  const size = ALGORITHMS.get(key.algorithm)!.size;
  // RFC 8945 5.2.2.1: a MAC may be truncated, but never below 10 octets or half the hash.
  if (f.mac.length > size || f.mac.length < Math.max(10, size / 2)) {
    throw new TsigError(`TSIG MAC of ${f.mac.length} octets is not allowed for ${key.algorithm}`, f.mac.length > size ? 1 : TsigRcode.BADTRUNC);
  }
  if (!timingSafeEqual(f.mac, expected.subarray(0, f.mac.length))) throw new TsigError('TSIG MAC does not verify (BADSIG)', TsigRcode.BADSIG);
}

function checkTime(f: TsigFields, nowMs: number): void {
  const now = Math.floor(nowMs / 1000);
  // RFC 8945 5.2.3: the MAC is checked first, then the time against the signer's fudge.
  if (Math.abs(now - f.timeSigned) > f.fudge) {
    throw new TsigError(`TSIG time ${f.timeSigned} is off by ${now - f.timeSigned} s, more than the fudge of ${f.fudge} s (BADTIME)`, TsigRcode.BADTIME);
  }
}

function checkKey(key: TsigKey, found: FoundTsig): void {
  const spec = ALGORITHMS.get(key.algorithm)!;
  if (nameKey(found.keyName) !== nameKey(key.name) || nameKey(found.fields.algorithm) !== nameKey(spec.wire)) {
    throw new TsigError(`signed with key ${nameToText(found.keyName)} (${nameToText(found.fields.algorithm)}), expected ${nameToText(key.name)} (${key.algorithm}) (BADKEY)`, TsigRcode.BADKEY);
  }
}

/**
 * Verifies a response, or each message of a response stream, against the
 * request's MAC. Returns each message with its TSIG removed.
 *
 * RFC 8945 5.3.1 has servers sign every message, and clients accept up to 99
 * unsigned messages in between for backward compatibility: their bytes are
 * covered by the next signed message. The first and the last message must be
 * signed; call `end()` when the stream is complete.
 */
export class TsigVerifier {
  private prior: Buffer | undefined;
  private pendingUnsigned: Buffer[] = [];

  constructor(
    readonly key: TsigKey,
    private readonly requestMac: Buffer,
    private readonly now: () => number = Date.now,
    private readonly maxUnsigned = 99,
  ) {}

  verify(wire: Buffer): Buffer {
    const found = findTsig(wire);
    if (!found) {
      if (!this.prior) throw new TsigError('the response is not signed', TsigRcode.BADSIG);
      if (this.pendingUnsigned.length >= this.maxUnsigned) throw new TsigError(`more than ${this.maxUnsigned} unsigned messages in a row`, TsigRcode.BADSIG);
      this.pendingUnsigned.push(wire);
      return wire;
    }
    const f = found.fields;
    if (f.error !== 0 && f.mac.length === 0) {
      // RFC 8945 5.3.2: BADKEY and BADSIG replies carry no MAC; nothing to verify, the peer refused us.
      throw new TsigError(`the peer answered ${tsigErrorName(f.error)} for key ${nameToText(found.keyName)}`, f.error);
    }
    checkKey(this.key, found);
    const msg = unsigned(wire, found);
    const parts = this.prior
      ? [macPrefix(this.prior), ...this.pendingUnsigned, msg, timers(f)]
      : [macPrefix(this.requestMac), msg, variables(found.keyName, f)];
    checkMac(this.key, f, hmac(this.key, parts));
    checkTime(f, this.now());
    if (f.error !== 0) throw new TsigError(`the peer answered ${tsigErrorName(f.error)}`, f.error);
    this.prior = f.mac;
    this.pendingUnsigned = [];
    return stripped(wire, found);
  }

  /** The stream is over: its last message must have been signed. */
  end(): void {
    if (!this.prior) throw new TsigError('the response is not signed', TsigRcode.BADSIG);
    if (this.pendingUnsigned.length > 0) throw new TsigError('the last message of the stream is not signed', TsigRcode.BADSIG);
  }
}

/** The message without its TSIG record, ID untouched (what the caller decodes). */
function stripped(wire: Buffer, found: FoundTsig): Buffer {
  const out = Buffer.from(wire.subarray(0, found.start));
  out.writeUInt16BE(out.readUInt16BE(10) - 1, 10);
  return out;
}

/** The outcome of checking a request's TSIG on the server side. */
export type RequestVerdict =
  | { status: 'unsigned' }
  | { status: 'ok'; key: TsigKey; mac: Buffer; timeSigned: number; message: Buffer }
  | { status: 'failed'; error: number; reason: string; keyName?: Name; algorithm?: Name; key?: TsigKey; mac?: Buffer; timeSigned?: number };

/**
 * Check a request's TSIG (RFC 8945 5.2): known key and algorithm (else BADKEY),
 * MAC (else BADSIG), time (else BADTIME), in that order. `message` is the
 * request without its TSIG record.
 */
export function verifyRequest(wire: Buffer, keys: TsigKeyring, now: () => number = Date.now): RequestVerdict {
  let found: FoundTsig | undefined;
  try {
    found = findTsig(wire);
  } catch (e) {
    return { status: 'failed', error: 1, reason: (e as Error).message };
  }
  if (!found) return { status: 'unsigned' };
  const f = found.fields;
  const base = { keyName: found.keyName, algorithm: f.algorithm };
  const key = keys.get(found.keyName);
  if (!key || !BY_WIRE.has(nameKey(f.algorithm))) {
    return { status: 'failed', error: TsigRcode.BADKEY, reason: `unknown key ${nameToText(found.keyName)} or algorithm ${nameToText(f.algorithm)}`, ...base };
  }
  try {
    checkKey(key, found);
    checkMac(key, f, hmac(key, [unsigned(wire, found), variables(found.keyName, f)]));
  } catch (e) {
    const err = e as TsigError;
    return { status: 'failed', error: err.tsigError, reason: err.message, ...base };
  }
  try {
    checkTime(f, now());
  } catch (e) {
    return { status: 'failed', error: TsigRcode.BADTIME, reason: (e as Error).message, ...base, key, mac: f.mac, timeSigned: f.timeSigned };
  }
  return { status: 'ok', key, mac: f.mac, timeSigned: f.timeSigned, message: stripped(wire, found) };
}

/**
 * TSIG on an error reply to a request that failed verification (RFC 8945
 * 5.3.2): BADKEY and BADSIG get an unsigned TSIG (empty MAC) naming the error;
 * BADTIME is signed, carries the request's time, and the server's time in
 * Other Data so the client can see the skew. `reply` is the encoded reply
 * (rcode NOTAUTH); FORMERR failures get no TSIG.
 */
export function tsigErrorReply(reply: Buffer, failure: Extract<RequestVerdict, { status: 'failed' }>, now: () => number = Date.now): Buffer {
  if (failure.error === 1 || !failure.keyName || !failure.algorithm) return reply;
  if (failure.error === TsigRcode.BADTIME && failure.key && failure.mac) {
    return new TsigSigner(failure.key, failure.mac, now).sign(reply, {
      error: TsigRcode.BADTIME, other: time48(Math.floor(now() / 1000)), timeSigned: failure.timeSigned ?? Math.floor(now() / 1000),
    });
  }
  return append(reply, tsigRecord(failure.keyName, {
    algorithm: failure.algorithm, timeSigned: Math.floor(now() / 1000), fudge: DEFAULT_FUDGE, mac: Buffer.alloc(0),
    originalId: reply.readUInt16BE(0), error: failure.error, other: Buffer.alloc(0),
  }));
}
