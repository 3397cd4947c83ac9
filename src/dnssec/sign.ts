/**
 * Signing, for the lab (which signs its zones at start with keys kept in the
 * repository) and for tests. Not an online signer: no key rollover, no NSEC
 * chain building; callers hand it RRsets.
 *
 * It builds the signed data with crypto.ts's signedData(), so what we sign and
 * what we verify share one canonical form.
 */
import { KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { Class, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import type { Name } from '../dns/name.js';
import { labelCount, namesEqual } from '../dns/name.js';
import { dsDigest, signedData } from './crypto.js';
import type { Dnskey } from './records.js';
import { parseDnskey, parseRrsig } from './records.js';

export class SigningError extends Error {
  readonly code = 'VERDICT_ERR_DNSSEC_SIGN';
}

export interface SigningKey {
  owner: Name;
  algorithm: number;
  flags: number;
  /** the DNSKEY RDATA */
  rdata: Buffer;
  key: Dnskey;
  privateKey: KeyObject;
}

/** node:crypto key type (and curve) per DNSSEC algorithm. */
const KEY_TYPES = new Map<number, { type: 'rsa' | 'ec' | 'ed25519' | 'ed448'; curve?: string; hash: string | null }>([
  [5, { type: 'rsa', hash: 'sha1' }],
  [7, { type: 'rsa', hash: 'sha1' }],
  [8, { type: 'rsa', hash: 'sha256' }],
  [10, { type: 'rsa', hash: 'sha512' }],
  [13, { type: 'ec', curve: 'prime256v1', hash: 'sha256' }],
  [14, { type: 'ec', curve: 'secp384r1', hash: 'sha384' }],
  [15, { type: 'ed25519', hash: null }],
  [16, { type: 'ed448', hash: null }],
]);

function keyTypeOf(algorithm: number): NonNullable<ReturnType<typeof KEY_TYPES.get>> {
  const t = KEY_TYPES.get(algorithm);
  if (t === undefined) throw new SigningError(`cannot sign with DNSSEC algorithm ${algorithm}`);
  return t;
}

function leftPad(b: Buffer, size: number): Buffer {
  if (b.length >= size) return b;
  return Buffer.concat([Buffer.alloc(size - b.length), b]);
}

/** The DNSKEY public key field for a private key (RFC 3110 2, RFC 6605 4, RFC 8080 3). */
function publicKeyField(privateKey: KeyObject, algorithm: number): Buffer {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const b = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');
  switch (algorithm) {
    case 5: case 7: case 8: case 10: {
      const e = b(jwk.e);
      const n = b(jwk.n);
      // RFC 3110 2: a one-byte exponent length, or zero and a two-byte length past 255.
      const len = e.length <= 255 ? Buffer.from([e.length]) : Buffer.from([0, e.length >> 8, e.length & 0xff]);
      return Buffer.concat([len, e, n]);
    }
    case 13: case 14: {
      const size = algorithm === 13 ? 32 : 48;
      return Buffer.concat([leftPad(b(jwk.x), size), leftPad(b(jwk.y), size)]);
    }
    default:
      return b(jwk.x);
  }
}

function makeKey(owner: Name, algorithm: number, flags: number, privateKey: KeyObject): SigningKey {
  const pub = publicKeyField(privateKey, algorithm);
  const rdata = Buffer.concat([Buffer.from([flags >> 8, flags & 0xff, 3, algorithm]), pub]);
  return { owner, algorithm, flags, rdata, key: parseDnskey(rdata), privateKey };
}

/** New key pair: algorithms 5, 7, 8, 10 (RSA 2048, exponent 65537), 13, 14, 15, 16. flags 257 = KSK, 256 = ZSK. */
export function generateSigningKey(owner: Name, algorithm: number, flags: number): SigningKey {
  const t = keyTypeOf(algorithm);
  let privateKey: KeyObject;
  if (t.type === 'rsa') privateKey = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 }).privateKey;
  else if (t.type === 'ec') privateKey = generateKeyPairSync('ec', { namedCurve: t.curve! }).privateKey;
  else if (t.type === 'ed25519') privateKey = generateKeyPairSync('ed25519').privateKey;
  else privateKey = generateKeyPairSync('ed448').privateKey;
  return makeKey(owner, algorithm, flags, privateKey);
}

/** PKCS#8 PEM of the private key, and back (for keys kept in files). */
export function signingKeyToPem(k: SigningKey): string {
  return k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function signingKeyFromPem(owner: Name, algorithm: number, flags: number, pem: string): SigningKey {
  const t = keyTypeOf(algorithm);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new SigningError(`cannot read the private key: ${(e as Error).message}`);
  }
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (privateKey.asymmetricKeyType !== t.type || (t.curve !== undefined && curve !== t.curve)) {
    throw new SigningError(`a ${privateKey.asymmetricKeyType}${curve ? ` ${curve}` : ''} key cannot be used with DNSSEC algorithm ${algorithm}`);
  }
  return makeKey(owner, algorithm, flags, privateKey);
}

const STAR_LABEL = 0x2a;

/** The RRSIG record over `rrset` (RFC 4034 3): labels = owner label count not counting a leading "*" (RFC 4034 3.1.3), original TTL = rrset TTL, signer = key.owner, TTL of the RRSIG = rrset TTL. */
export function signRrset(rrset: readonly Record[], key: SigningKey, inception: number, expiration: number): Record {
  const first = rrset[0];
  if (first === undefined) throw new SigningError('cannot sign an empty RRset');
  for (const rr of rrset) {
    if (rr.type !== first.type || rr.class !== first.class || !namesEqual(rr.name, first.name)) {
      throw new SigningError('records of one RRset must share owner, type and class');
    }
  }
  const t = keyTypeOf(key.algorithm);
  const owner = first.name;
  const wildcard = owner[0] === 1 && owner[1] === STAR_LABEL;
  const head = Buffer.allocUnsafe(18);
  head.writeUInt16BE(first.type, 0);
  head[2] = key.algorithm;
  head[3] = labelCount(owner) - (wildcard ? 1 : 0);
  head.writeUInt32BE(first.ttl >>> 0, 4);
  head.writeUInt32BE(expiration >>> 0, 8);
  head.writeUInt32BE(inception >>> 0, 12);
  head.writeUInt16BE(key.key.keyTag, 16);
  const prefix = Buffer.concat([head, key.owner]);
  const data = signedData(rrset, parseRrsig(prefix));
  // RFC 6605 4: ECDSA signatures are r | s, fixed size; RSA is PKCS#1 v1.5 (RFC 3110 3, RFC 5702 3).
  const opts = t.type === 'ec' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const } : key.privateKey;
  const signature = sign(t.hash, data, opts);
  return { name: owner, type: Type.RRSIG, class: first.class, ttl: first.ttl, rdata: Buffer.concat([prefix, signature]) };
}

/** DS record for a key (digest type 2 by default). */
export function dsFor(key: SigningKey, digestType = 2, ttl = 3600): Record {
  const digest = dsDigest(key.owner, key.rdata, digestType);
  if (digest === undefined) throw new SigningError(`unsupported DS digest type ${digestType}`);
  const head = Buffer.from([key.key.keyTag >> 8, key.key.keyTag & 0xff, key.algorithm, digestType]);
  return { name: key.owner, type: Type.DS, class: Class.IN, ttl, rdata: Buffer.concat([head, digest]) };
}
