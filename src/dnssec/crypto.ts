/**
 * The cryptography of DNSSEC: DS digests (RFC 4034 5.1.4), DNSKEY public keys
 * (RFC 3110, RFC 5702, RFC 6605, RFC 8080), the signed data of an RRSIG in
 * canonical form (RFC 4034 3.1.8.1, 6.2, 6.3) and the check of one RRSIG.
 *
 * Written by hand on node:crypto: no npm package validates DNSSEC well enough
 * to build on (they cover few algorithms, get canonical form or wildcard
 * owners wrong, or are unmaintained), and everything needed here is a hash, a
 * key import and one verify call that node:crypto (OpenSSL) already provides.
 */
import { KeyObject, createHash, createPublicKey, verify } from 'node:crypto';
import type { Record } from '../dns/message.js';
import { rdataNameOffsets } from '../dns/message.js';
import { Type } from '../dns/constants.js';
import type { Name } from '../dns/name.js';
import { labelCount, labels, fromLabels, lowerName } from '../dns/name.js';
import type { Dnskey, Ds, Rrsig } from './records.js';
import { DnskeyFlag } from './records.js';

/** Algorithms we validate (RFC 8624): 5 RSASHA1, 7 RSASHA1-NSEC3-SHA1, 8 RSASHA256, 10 RSASHA512, 13 ECDSAP256SHA256, 14 ECDSAP384SHA384, 15 ED25519, 16 ED448. */
export const SUPPORTED_ALGORITHMS: ReadonlySet<number> = new Set([5, 7, 8, 10, 13, 14, 15, 16]);

/** DS digest types: 1 SHA-1, 2 SHA-256, 4 SHA-384. */
export const SUPPORTED_DIGESTS: ReadonlySet<number> = new Set([1, 2, 4]);

const DIGEST_HASH = new Map<number, string>([[1, 'sha1'], [2, 'sha256'], [4, 'sha384']]);

/** Hash of the signed data per algorithm; null for EdDSA, which hashes internally (RFC 8032). */
const SIGNATURE_HASH = new Map<number, string | null>([
  [5, 'sha1'], [7, 'sha1'], [8, 'sha256'], [10, 'sha512'], [13, 'sha256'], [14, 'sha384'], [15, null], [16, null],
]);

/** Exact signature sizes where the algorithm fixes them: r|s for ECDSA (RFC 6605 4), RFC 8080 3 for EdDSA. */
const SIGNATURE_SIZE = new Map<number, number>([[13, 64], [14, 96], [15, 64], [16, 114]]);

/** RFC 4034 5.1.4: digest = H(owner canonical wire | DNSKEY RDATA); undefined for an unsupported digest type. */
export function dsDigest(owner: Name, dnskeyRdata: Buffer, digestType: number): Buffer | undefined {
  const hash = DIGEST_HASH.get(digestType);
  if (hash === undefined) return undefined;
  return createHash(hash).update(lowerName(owner)).update(dnskeyRdata).digest();
}

/**
 * True when `ds` names `key` (tag, algorithm, digest) for owner. RFC 4034 5.2
 * also asks that the key be a DNSSEC zone key: protocol 3 and the Zone flag.
 */
export function dsMatchesKey(owner: Name, ds: Ds, key: Dnskey): boolean {
  if (ds.keyTag !== key.keyTag || ds.algorithm !== key.algorithm) return false;
  if (key.protocol !== 3 || (key.flags & DnskeyFlag.ZONE) === 0) return false;
  const d = dsDigest(owner, key.rdata, ds.digestType);
  return d !== undefined && d.equals(ds.digest);
}

// ---------------------------------------------------------------- public keys

// A resolver sees the same few hundred keys again and again (root, TLDs, big
// zones); importing one costs an ASN.1 round trip in OpenSSL. Insertion order
// makes the Map a FIFO: when full, the oldest entry goes. Failures are cached
// too (as null) so a malformed key is not parsed again on every RRSIG.
const KEY_CACHE_SIZE = 512;
const keyCache = new Map<string, KeyObject | null>();

/** RSA limits: RFC 3110 2 and RFC 5702 2 allow 512 to 4096 bit moduli. */
const RSA_MIN_BITS = 512;
const RSA_MAX_BITS = 4096;
// A large public exponent makes every verify slow (a cheap denial of service on a
// validator); real keys use 3 or 65537. OpenSSL itself refuses more than 64 bits
// for big moduli, so allowing up to 64 bits loses no key in use.
const RSA_MAX_EXPONENT_BYTES = 8;

const b64url = (b: Buffer): string => b.toString('base64url');

function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

/** RFC 3110 2: exponent length (1 byte, or 0 then 2 bytes), exponent, modulus. */
function rsaJwk(pk: Buffer): object | undefined {
  if (pk.length < 1) return undefined;
  let elen = pk[0]!;
  let o = 1;
  if (elen === 0) {
    if (pk.length < 3) return undefined;
    elen = pk.readUInt16BE(1);
    o = 3;
  }
  if (elen === 0 || o + elen >= pk.length) return undefined;
  const e = stripZeros(pk.subarray(o, o + elen));
  const n = stripZeros(pk.subarray(o + elen));
  if (e.length === 0 || e.length > RSA_MAX_EXPONENT_BYTES || n.length === 0) return undefined;
  // Bit length: whole bytes less the leading zero bits of the first (clz32 counts 24 more for a byte).
  const bits = n.length * 8 - (Math.clz32(n[0]!) - 24);
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) return undefined;
  return { kty: 'RSA', n: b64url(n), e: b64url(e) };
}

function importKey(key: Dnskey): KeyObject | undefined {
  const pk = key.publicKey;
  let jwk: object | undefined;
  switch (key.algorithm) {
    case 5: case 7: case 8: case 10:
      jwk = rsaJwk(pk);
      break;
    case 13: case 14: {
      // RFC 6605 4: the uncompressed point without its 0x04 prefix, x | y.
      const size = key.algorithm === 13 ? 32 : 48;
      if (pk.length !== 2 * size) return undefined;
      jwk = { kty: 'EC', crv: key.algorithm === 13 ? 'P-256' : 'P-384', x: b64url(pk.subarray(0, size)), y: b64url(pk.subarray(size)) };
      break;
    }
    case 15: case 16:
      // RFC 8080 3: the raw public key of RFC 8032 5.1.5 / 5.2.5.
      if (pk.length !== (key.algorithm === 15 ? 32 : 57)) return undefined;
      jwk = { kty: 'OKP', crv: key.algorithm === 15 ? 'Ed25519' : 'Ed448', x: b64url(pk) };
      break;
    default:
      return undefined;
  }
  if (jwk === undefined) return undefined;
  try {
    // OpenSSL rejects an EC point that is not on the curve here.
    return createPublicKey({ key: jwk as never, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** The node:crypto public key of a DNSKEY (cached per RDATA in a small bounded map); undefined when unsupported or malformed (RSA RFC 3110 exponent/modulus incl. the 3-byte exponent-length form; ECDSA RFC 6605 raw x|y; EdDSA RFC 8080 raw). */
export function publicKeyOf(key: Dnskey): KeyObject | undefined {
  const id = key.rdata.toString('latin1');
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit ?? undefined;
  const k = importKey(key);
  if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(id, k ?? null);
  return k;
}

// ---------------------------------------------------------------- canonical form

// RFC 4034 6.2 item 3 as corrected by RFC 6840 5.1: the types whose RDATA names
// are lowercased. NSEC and RRSIG are left out on purpose (RFC 6840 5.1: their
// names keep their case), and so is HINFO, which holds no names at all. Types
// defined after RFC 3597 never lowercase (RFC 3597 7).
const LOWERCASE_RDATA = new Set<number>([
  Type.NS, 3, 4, Type.CNAME, Type.SOA, 7, 8, 9, Type.PTR, 14, Type.MX, Type.RP, Type.AFSDB, 21, 30 /* NXT */,
  Type.SRV, Type.DNAME, 26 /* PX */, Type.NAPTR, Type.KX,
]);

/** Lowercase the labels of the name at `o` in place; returns the offset after it. */
function lowerNameAt(rd: Buffer, o: number): number {
  while (o < rd.length) {
    const l = rd[o]!;
    if (l === 0) return o + 1;
    if (l > 63) return rd.length;
    const end = Math.min(rd.length, o + 1 + l);
    for (let i = o + 1; i < end; i++) {
      const c = rd[i]!;
      if (c >= 0x41 && c <= 0x5a) rd[i] = c + 0x20;
    }
    o = end;
  }
  return o;
}

/** Offset of NAPTR's replacement: order, preference, then three <character-string>s (RFC 3403 4.1). */
function naptrReplacement(rd: Buffer): number {
  let o = 4;
  for (let k = 0; k < 3 && o < rd.length; k++) o += rd[o]! + 1;
  return o;
}

/** RDATA in canonical form (RFC 4034 6.2 item 3, RFC 6840 5.1): embedded names lowercased for the listed types. */
export function canonicalRdata(type: number, rdata: Buffer): Buffer {
  if (!LOWERCASE_RDATA.has(type)) return rdata;
  let upper = false;
  for (let i = 0; i < rdata.length && !upper; i++) upper = rdata[i]! >= 0x41 && rdata[i]! <= 0x5a;
  if (!upper) return rdata;
  const out = Buffer.from(rdata);
  const offsets = type === 30 ? [0] : type === Type.NAPTR ? [naptrReplacement(out)] : rdataNameOffsets(type, out);
  for (const o of offsets) lowerNameAt(out, o);
  return out;
}

const STAR = Buffer.from('*');

/**
 * The owner as signed (RFC 4034 6.2 items 2, RFC 4035 5.3.2): lowercase, and
 * for an owner with more labels than the RRSIG's Labels field (a wildcard
 * expansion), "*." followed by its rightmost `sigLabels` labels.
 */
function signedOwner(owner: Name, sigLabels: number): Name {
  const n = labelCount(owner);
  if (n <= sigLabels) return lowerName(owner);
  return lowerName(fromLabels([STAR, ...labels(owner).slice(n - sigLabels)]));
}

/** RFC 4034 3.1.8.1 signed data: RRSIG RDATA minus signature, then each RR in canonical form (6.2: owner lowercased; owner replaced by "*."+rightmost `labels` labels when the owner has more labels than sig.labels (wildcard, RFC 4035 5.3.2); class; TTL = original TTL; RDATA with embedded names lowercased for the types listed in RFC 4034 6.2 / RFC 6840 5.1 (NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX, RP, AFSDB, RT, NXT, SRV, DNAME, PX, NAPTR(replacement), KX — NOT NSEC/RRSIG/HINFO/etc per RFC 6840), duplicates removed, RRs sorted by canonical RDATA (6.3). */
export function signedData(rrset: readonly Record[], sig: Rrsig): Buffer {
  // The Signer's Name is in canonical form too (RFC 4034 3.1.8.1).
  const prefix = sig.signedPrefix;
  const parts: Buffer[] = [prefix.subarray(0, 18), lowerName(prefix.subarray(18))];
  const first = rrset[0];
  if (first === undefined) return Buffer.concat(parts);
  // An RRset shares owner, type and class; only the RDATA differ.
  const owner = signedOwner(first.name, sig.labels);
  const head = Buffer.allocUnsafe(8);
  head.writeUInt16BE(first.type, 0);
  head.writeUInt16BE(first.class, 2);
  head.writeUInt32BE(sig.originalTtl >>> 0, 4);
  const rdatas = rrset.map((rr) => canonicalRdata(rr.type, rr.rdata)).sort(Buffer.compare);
  for (let i = 0; i < rdatas.length; i++) {
    const rd = rdatas[i]!;
    // RFC 4034 6.3: duplicate RRs are dropped; sorted, they sit next to each other.
    if (i > 0 && rd.equals(rdatas[i - 1]!)) continue;
    const len = Buffer.allocUnsafe(2);
    len.writeUInt16BE(rd.length, 0);
    parts.push(owner, head, len, rd);
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- signatures

/** Raw signature check only (no time window). ECDSA signatures are r|s (use dsaEncoding 'ieee-p1363'); RSA is PKCS#1 v1.5 with SHA1/256/512; Ed25519/Ed448 use crypto.verify(null,...). */
export function verifySignature(sig: Rrsig, key: Dnskey, data: Buffer): boolean {
  if (sig.algorithm !== key.algorithm) return false;
  const hash = SIGNATURE_HASH.get(sig.algorithm);
  if (hash === undefined) return false;
  const size = SIGNATURE_SIZE.get(sig.algorithm);
  if (size !== undefined && sig.signature.length !== size) return false;
  const pk = publicKeyOf(key);
  if (pk === undefined) return false;
  try {
    // RFC 6605 4: r and s as fixed-size big-endian integers, not DER.
    const opts = sig.algorithm === 13 || sig.algorithm === 14 ? { key: pk, dsaEncoding: 'ieee-p1363' as const } : pk;
    return verify(hash, data, opts, sig.signature);
  } catch {
    return false;
  }
}

export type SigCheck = 'valid' | 'expired' | 'not-yet-valid' | 'bad-signature' | 'unsupported-algorithm' | 'key-mismatch' | 'bad-labels';

/** True when serial `a` is after serial `b` (RFC 1982 3.2); the undefined half-way case counts as after. */
function serialAfter(a: number, b: number): boolean {
  const d = ((a >>> 0) - (b >>> 0) + 0x100000000) % 0x100000000;
  return d !== 0 && d <= 0x80000000;
}

/**
 * One RRSIG against one DNSKEY for one RRset: key tag/algorithm/protocol 3/zone-flag match ('key-mismatch'), labels <= owner labels ('bad-labels'),
 * time window with RFC 1982 serial arithmetic against `nowSeconds` (RFC 4034 3.1.5; 'expired'/'not-yet-valid'), then the signature.
 * Checks cheap conditions before the expensive one.
 *
 * An empty RRset, or one whose type is not the RRSIG's Type Covered, is 'bad-signature'
 * (it cannot be what was signed); so is a malformed key of a supported algorithm.
 */
export function checkRrsig(rrset: readonly Record[], sig: Rrsig, key: Dnskey, nowSeconds: number): SigCheck {
  // RFC 4035 5.3.1: the key's owner, algorithm and tag match the RRSIG, and the key is a
  // zone key (protocol 3, RFC 4034 2.1.2; Zone flag, RFC 4034 2.1.1).
  if (sig.keyTag !== key.keyTag || sig.algorithm !== key.algorithm) return 'key-mismatch';
  if (key.protocol !== 3 || (key.flags & DnskeyFlag.ZONE) === 0) return 'key-mismatch';
  if (!SUPPORTED_ALGORITHMS.has(sig.algorithm)) return 'unsupported-algorithm';
  const first = rrset[0];
  if (first === undefined || first.type !== sig.typeCovered) return 'bad-signature';
  // RFC 4035 5.3.1: the Labels field is not greater than the owner's label count.
  if (sig.labels > labelCount(first.name)) return 'bad-labels';
  // RFC 4035 5.3.1 with RFC 4034 3.1.5 serial arithmetic: inception <= now <= expiration.
  const now = Math.floor(nowSeconds) % 0x100000000;
  if (serialAfter(now, sig.expiration)) return 'expired';
  if (serialAfter(sig.inception, now)) return 'not-yet-valid';
  return verifySignature(sig, key, signedData(rrset, sig)) ? 'valid' : 'bad-signature';
}
