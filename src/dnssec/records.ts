/**
 * DNSSEC record data (RFC 4034, RFC 5155) in wire form: the fields the
 * validator, the signer and the denial proofs read, and the few encodings they
 * share (type bitmaps, NSEC3 hashes, base32hex).
 *
 * Written by hand: dns-packet decodes these types into strings and loses the
 * exact bytes (names in RRSIG and NSEC must stay wire form, RFC 4034 3.1.7),
 * and no npm package validates DNSSEC well enough to build on (see validator.ts).
 */
import { createHash } from 'node:crypto';
import { readName } from '../dns/message.js';
import type { Name } from '../dns/name.js';
import { lowerName } from '../dns/name.js';

export class DnssecRecordError extends Error {
  readonly code = 'VERDICT_ERR_DNSSEC_RDATA';
}

/** DNSKEY flags (RFC 4034 2.1.1, RFC 5011 7). */
export const DnskeyFlag = { ZONE: 0x0100, SEP: 0x0001, REVOKE: 0x0080 } as const;

export interface Dnskey {
  flags: number;
  protocol: number;
  algorithm: number;
  publicKey: Buffer;
  /** RFC 4034 appendix B. */
  keyTag: number;
  /** The whole RDATA (for DS digests and comparison). */
  rdata: Buffer;
}

export interface Ds {
  keyTag: number;
  algorithm: number;
  digestType: number;
  digest: Buffer;
}

export interface Rrsig {
  typeCovered: number;
  algorithm: number;
  labels: number;
  originalTtl: number;
  /** Seconds since the epoch, as the 32-bit serial arithmetic of RFC 4034 3.1.5 leaves them. */
  expiration: number;
  inception: number;
  keyTag: number;
  signerName: Name;
  signature: Buffer;
  /** RDATA without the signature field: the start of the signed data (RFC 4034 3.1.8.1). */
  signedPrefix: Buffer;
}

export interface Nsec {
  next: Name;
  /** Types present at the owner. */
  types: Set<number>;
}

export interface Nsec3 {
  hashAlgorithm: number;
  flags: number;
  iterations: number;
  salt: Buffer;
  /** The next hashed owner name, raw (not base32hex). */
  nextHashed: Buffer;
  types: Set<number>;
}

export interface Nsec3Param {
  hashAlgorithm: number;
  flags: number;
  iterations: number;
  salt: Buffer;
}

/** NSEC3 flag: opt-out (RFC 5155 3.1.2.1). */
export const NSEC3_OPT_OUT = 0x01;

function need(rdata: Buffer, n: number, what: string): void {
  if (rdata.length < n) throw new DnssecRecordError(`${what} RDATA of ${rdata.length} bytes is too short`);
}

/** RFC 4034 appendix B (algorithm 1 keys, obsolete, use another rule and are not supported). */
export function keyTagOf(rdata: Buffer): number {
  let ac = 0;
  for (let i = 0; i < rdata.length; i++) ac += i & 1 ? rdata[i]! : rdata[i]! << 8;
  ac += (ac >> 16) & 0xffff;
  return ac & 0xffff;
}

export function parseDnskey(rdata: Buffer): Dnskey {
  need(rdata, 5, 'DNSKEY');
  return {
    flags: rdata.readUInt16BE(0),
    protocol: rdata[2]!,
    algorithm: rdata[3]!,
    publicKey: rdata.subarray(4),
    keyTag: keyTagOf(rdata),
    rdata,
  };
}

export function parseDs(rdata: Buffer): Ds {
  need(rdata, 5, 'DS');
  return { keyTag: rdata.readUInt16BE(0), algorithm: rdata[2]!, digestType: rdata[3]!, digest: rdata.subarray(4) };
}

export function parseRrsig(rdata: Buffer): Rrsig {
  need(rdata, 19, 'RRSIG');
  let signerName: Name;
  let end: number;
  try {
    [signerName, end] = readName(rdata, 18);
  } catch {
    throw new DnssecRecordError('RRSIG signer name is malformed');
  }
  return {
    typeCovered: rdata.readUInt16BE(0),
    algorithm: rdata[2]!,
    labels: rdata[3]!,
    originalTtl: rdata.readUInt32BE(4),
    expiration: rdata.readUInt32BE(8),
    inception: rdata.readUInt32BE(12),
    keyTag: rdata.readUInt16BE(16),
    signerName,
    signature: rdata.subarray(end),
    signedPrefix: rdata.subarray(0, end),
  };
}

export function parseNsec(rdata: Buffer): Nsec {
  let next: Name;
  let end: number;
  try {
    [next, end] = readName(rdata, 0);
  } catch {
    throw new DnssecRecordError('NSEC next domain name is malformed');
  }
  return { next, types: decodeTypeBitmap(rdata, end) };
}

export function parseNsec3(rdata: Buffer): Nsec3 {
  need(rdata, 6, 'NSEC3');
  const saltLen = rdata[4]!;
  let o = 5 + saltLen;
  need(rdata, o + 1, 'NSEC3');
  const hashLen = rdata[o]!;
  o++;
  need(rdata, o + hashLen, 'NSEC3');
  if (hashLen === 0) throw new DnssecRecordError('NSEC3 next hashed owner name is empty');
  return {
    hashAlgorithm: rdata[0]!,
    flags: rdata[1]!,
    iterations: rdata.readUInt16BE(2),
    salt: rdata.subarray(5, 5 + saltLen),
    nextHashed: rdata.subarray(o, o + hashLen),
    types: decodeTypeBitmap(rdata, o + hashLen),
  };
}

export function parseNsec3Param(rdata: Buffer): Nsec3Param {
  need(rdata, 5, 'NSEC3PARAM');
  const saltLen = rdata[4]!;
  need(rdata, 5 + saltLen, 'NSEC3PARAM');
  return { hashAlgorithm: rdata[0]!, flags: rdata[1]!, iterations: rdata.readUInt16BE(2), salt: rdata.subarray(5, 5 + saltLen) };
}

/** RFC 4034 4.1.2: windows of up to 32 bytes of bits, in increasing window order. */
export function decodeTypeBitmap(buf: Buffer, offset: number): Set<number> {
  const types = new Set<number>();
  let o = offset;
  let lastWindow = -1;
  while (o < buf.length) {
    if (o + 2 > buf.length) throw new DnssecRecordError('type bitmap window header is truncated');
    const window = buf[o]!;
    const len = buf[o + 1]!;
    if (window <= lastWindow || len === 0 || len > 32 || o + 2 + len > buf.length) throw new DnssecRecordError('type bitmap is malformed');
    lastWindow = window;
    for (let i = 0; i < len; i++) {
      const byte = buf[o + 2 + i]!;
      for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) types.add(window * 256 + i * 8 + bit);
    }
    o += 2 + len;
  }
  return types;
}

export function encodeTypeBitmap(types: Iterable<number>): Buffer {
  const sorted = [...new Set(types)].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let i = 0;
  while (i < sorted.length) {
    const window = sorted[i]! >> 8;
    const bits = Buffer.alloc(32);
    let len = 0;
    for (; i < sorted.length && sorted[i]! >> 8 === window; i++) {
      const low = sorted[i]! & 0xff;
      bits[low >> 3]! |= 0x80 >> (low & 7);
      len = (low >> 3) + 1;
    }
    parts.push(Buffer.from([window, len]), bits.subarray(0, len));
  }
  return Buffer.concat(parts);
}

/**
 * RFC 5155 5: IH(salt, x, 0) = H(x || salt); IH(salt, x, k) = H(IH(salt, x, k-1) || salt),
 * over the canonical (lowercase) wire form of the name. SHA-1 is the only hash algorithm defined.
 */
export function nsec3Hash(name: Name, salt: Buffer, iterations: number): Buffer {
  let h = createHash('sha1').update(lowerName(name)).update(salt).digest();
  for (let k = 0; k < iterations; k++) h = createHash('sha1').update(h).update(salt).digest();
  return h;
}

const B32 = '0123456789abcdefghijklmnopqrstuv';

/** RFC 4648 7, without padding, lowercase (the form of an NSEC3 owner's first label). */
export function base32hexEncode(b: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** Undefined when `s` is not unpadded base32hex (either case). */
export function base32hexDecode(s: string): Buffer | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of s.toLowerCase()) {
    const v = B32.indexOf(c);
    if (v < 0) return undefined;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
