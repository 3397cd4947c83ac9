/**
 * The DNSSEC crypto core against published examples (RFC 4034, 4509, 5702,
 * 6605, 8080), against zones signed by BIND's and ldns's signers, and our own
 * signer against BIND's and ldns's zone verifiers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { Name, compareNames, nameFromText, nameKey, namesEqual } from '../src/dns/name.js';
import { recordToText } from '../src/dns/rdata.js';
import {
  SUPPORTED_ALGORITHMS, SUPPORTED_DIGESTS, canonicalRdata, checkRrsig, dsDigest, dsMatchesKey, publicKeyOf, signedData, verifySignature,
} from '../src/dnssec/crypto.js';
import { Dnskey, Rrsig, encodeTypeBitmap, keyTagOf, parseDnskey, parseDs, parseRrsig } from '../src/dnssec/records.js';
import { SigningKey, dsFor, generateSigningKey, signRrset, signingKeyFromPem, signingKeyToPem } from '../src/dnssec/sign.js';
import { parseZoneString } from '../src/rpz/masterfile.js';

const T = { timeout: 30_000 };
const dir = mkdtempSync(join(tmpdir(), 'verdict-dnssec-crypto-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Records from master-file text, read by the project's own zone parser. */
function rrs(text: string, origin = '.'): Record[] {
  const out: Record[] = [];
  parseZoneString(text, (rr) => out.push({ name: rr.name, type: rr.type, class: rr.class, ttl: rr.ttl, rdata: rr.rdata }), { origin: nameFromText(origin) });
  return out;
}
const one = (text: string): Record => rrs(text)[0]!;
const keyOf = (text: string): Dnskey => parseDnskey(one(text).rdata);
const sigOf = (text: string): Rrsig => parseRrsig(one(text).rdata);

function flipLast(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[c.length - 1]! ^= 1;
  return c;
}
const withSignature = (sig: Rrsig, signature: Buffer): Rrsig => ({ ...sig, signature });

// ---------------------------------------------------------------- published examples

// RFC 4034 5.4 (and RFC 4509 2.3, same key).
const DSKEY = 'dskey.example.com. 86400 IN DNSKEY 256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZ' +
  ' DRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==';

// RFC 6605 6.1 and 6.2: example.net keys and their RRSIGs over www.example.net A 192.0.2.1.
const P256 = {
  key: 'example.net. 3600 IN DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==',
  ds: 'example.net. 3600 IN DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17',
  data: 'www.example.net. 3600 IN A 192.0.2.1',
  sig: 'www.example.net. 3600 IN RRSIG A 13 3 3600 20100909100439 20100812100439 55648 example.net. ' +
    'qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXA yGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==',
};
const P384 = {
  key: 'example.net. 3600 IN DNSKEY 257 3 14 xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1 w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8 /uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40',
  ds: 'example.net. 3600 IN DS 10771 14 4 72d7b62976ce06438e9c0bf319013cf801f09ecc84b8d7e9 495f27e305c6a9b0563a9b5f4d288405c3008a946df983d6',
  data: 'www.example.net. 3600 IN A 192.0.2.1',
  sig: 'www.example.net. 3600 IN RRSIG A 14 3 3600 20100909102025 20100812102025 10771 example.net. ' +
    '/L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP 95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuz WTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm',
};
// RFC 5702 6.1 and 6.2: 512 and 1024 bit RSA keys, www.example.net A 192.0.2.91.
const RSA256 = {
  key: 'example.net. 3600 IN DNSKEY 256 3 8 AwEAAcFcGsaxxdgiuuGmCkVImy4h99CqT7jwY3pexPGcnUFt R2Fh36BponcwtkZ4cAgtvd4Qs8PkxUdp6p/DlUmObdk=',
  data: 'www.example.net. 3600 IN A 192.0.2.91',
  sig: 'www.example.net. 3600 IN RRSIG A 8 3 3600 20300101000000 20000101000000 9033 example.net. ' +
    'kRCOH6u7l0QGy9qpC9l1sLncJcOKFLJ7GhiUOibu4teY p5VE9RncriShZNz85mwlMgNEacFYK/lPtPiVYP4bwg==',
};
const RSA512 = {
  key: 'example.net. 3600 IN DNSKEY 256 3 10 AwEAAdHoNTOW+et86KuJOWRDp1pndvwb6Y83nSVXXyLA 3DLroROUkN6X0O6pnWnjJQujX/AyhqFDxj13tOnD9u/1 ' +
    'kTg7cV6rklMrZDtJCQ5PCl/D7QNPsgVsMu1J2Q8gpMpz tNFLpPBz1bWXjDtaR7ZQBlZ3PFY12ZTSncorffcGmhOL',
  data: 'www.example.net. 3600 IN A 192.0.2.91',
  sig: 'www.example.net. 3600 IN RRSIG A 10 3 3600 20300101000000 20000101000000 3740 example.net. ' +
    'tsb4wnjRUDnB1BUi+t6TMTXThjVnG+eCkWqjvvjhzQL1 d0YRoOe0CbxrVDYd0xDtsuJRaeUw1ep94PzEWzr0iGYg ' +
    'ZBWm/zpq+9fOuagYJRfDqfReKBzMweOLDiNa8iP5g9vM hpuv6OPlvpXwm9Sa9ZXIbNl1MBGk0fthPgxdDLw=',
};
// RFC 8080 6.1 with the RRSIGs of verified erratum 4935 (the RFC prints Labels 3 for
// the two-label example.com, and signatures made that way); 6.2 for Ed448.
const ED25519 = [
  {
    priv: 'ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=',
    key: 'example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=',
    ds: 'example.com. 3600 IN DS 3613 15 2 3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b',
    sig: 'example.com. 3600 IN RRSIG MX 15 2 3600 1440021600 1438207200 3613 example.com. ' +
      'oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==',
  },
  {
    priv: 'DSSF3o0s0f+ElWzj9E/Osxw8hLpk55chkmx0LYN5WiY=',
    key: 'example.com. 3600 IN DNSKEY 257 3 15 zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=',
    ds: 'example.com. 3600 IN DS 35217 15 2 401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c6614c',
    sig: 'example.com. 3600 IN RRSIG MX 15 2 3600 1440021600 1438207200 35217 example.com. ' +
      'zXQ0bkYgQTEFyfLyi9QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQoSm5poJ7gD7AQR0O7KuI5k2pcBg==',
  },
];
const ED448 = {
  priv: 'xZ+5Cgm463xugtkY5B0Jx6erFTXp13rYegst0qRtNsOYnaVpMx0Z/c5EiA9x8wWbDDct/U3FhYWA',
  key: 'example.com. 3600 IN DNSKEY 257 3 16 3kgROaDjrh0H2iuixWBrc8g2EpBBLCdGzHmn+G2MpTPhpj/OiBVHHSfPodx1FYYUcJKm1MDpJtIA',
  ds: 'example.com. 3600 IN DS 9713 16 2 6ccf18d5bc5d7fc2fceb1d59d17321402f2aa8d368048db93dd811f5cb2b19c7',
};
const MX_EXAMPLE_COM = 'example.com. 3600 IN MX 10 mail.example.com.';

/** An RFC 8080 private key (the raw RFC 8032 seed) as PKCS#8 PEM. */
function edPem(algorithm: 15 | 16, seed: string): string {
  // RFC 8410 7: SEQUENCE { version 0, AlgorithmIdentifier { id-Ed25519 / id-Ed448 }, OCTET STRING { OCTET STRING seed } }.
  const prefix = algorithm === 15 ? '302e020100300506032b657004220420' : '3047020100300506032b6571043b0439';
  const der = Buffer.concat([Buffer.from(prefix, 'hex'), Buffer.from(seed, 'base64')]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

test('key tags and DS digests match RFC 4034 5.4, RFC 4509 2.3, RFC 6605 6 and RFC 8080 6', T, () => {
  const owner = nameFromText('dskey.example.com.');
  const key = keyOf(DSKEY);
  assert.equal(key.keyTag, 60485);
  assert.equal(dsDigest(owner, key.rdata, 1)!.toString('hex').toUpperCase(), '2BB183AF5F22588179A53B0A98631FAD1A292118');
  assert.equal(dsDigest(owner, key.rdata, 2)!.toString('hex').toUpperCase(), 'D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A');
  // The owner is hashed in canonical (lowercase) form, RFC 4034 5.1.4.
  assert.deepEqual(dsDigest(nameFromText('DSKEY.Example.COM.'), key.rdata, 1), dsDigest(owner, key.rdata, 1));
  const ds = parseDs(one('dskey.example.com. 86400 IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118').rdata);
  assert.equal(dsMatchesKey(owner, ds, key), true);
  assert.equal(dsMatchesKey(nameFromText('other.example.com.'), ds, key), false);
  assert.equal(dsMatchesKey(owner, { ...ds, digest: flipLast(ds.digest) }, key), false);
  assert.equal(dsMatchesKey(owner, { ...ds, keyTag: 60486 }, key), false);
  assert.equal(dsMatchesKey(owner, { ...ds, algorithm: 8 }, key), false);
  // RFC 4034 5.2: the key must be a zone key.
  assert.equal(dsMatchesKey(owner, ds, { ...key, flags: 0 }), false);
  // GOST (3) is not supported: no digest, no match.
  assert.equal(dsDigest(owner, key.rdata, 3), undefined);
  assert.equal(dsMatchesKey(owner, { ...ds, digestType: 3 }, key), false);
  assert.deepEqual([...SUPPORTED_DIGESTS].sort(), [1, 2, 4]);

  const published: [string, string, number][] = [
    [P256.key, P256.ds, 55648], [P384.key, P384.ds, 10771], [ED25519[0]!.key, ED25519[0]!.ds, 3613],
    [ED25519[1]!.key, ED25519[1]!.ds, 35217], [ED448.key, ED448.ds, 9713],
  ];
  for (const [k, d, tag] of published) {
    const rr = one(k);
    const key = parseDnskey(rr.rdata);
    assert.equal(key.keyTag, tag, k);
    assert.equal(dsMatchesKey(rr.name, parseDs(one(d).rdata), key), true, d);
  }
});

test('RFC 6605 ECDSA and RFC 5702 RSA examples verify in their window and fail when a byte or the time is wrong', T, () => {
  const now = 1283000000; // 2010-08-28, inside every example's window
  for (const ex of [P256, P384, RSA256, RSA512]) {
    const key = keyOf(ex.key);
    const rrset = [one(ex.data)];
    const sig = sigOf(ex.sig);
    assert.equal(checkRrsig(rrset, sig, key, now), 'valid', ex.sig);
    assert.equal(checkRrsig(rrset, withSignature(sig, flipLast(sig.signature)), key, now), 'bad-signature');
    const other = { ...rrset[0]!, rdata: flipLast(rrset[0]!.rdata) };
    assert.equal(checkRrsig([other], sig, key, now), 'bad-signature');
    // The window is inclusive at both ends (RFC 4035 5.3.1).
    assert.equal(checkRrsig(rrset, sig, key, sig.expiration), 'valid');
    assert.equal(checkRrsig(rrset, sig, key, sig.inception), 'valid');
    assert.equal(checkRrsig(rrset, sig, key, sig.expiration + 1), 'expired');
    assert.equal(checkRrsig(rrset, sig, key, sig.inception - 1), 'not-yet-valid');
    // Canonical form: the owner's case, and the TTL left in a cache, do not matter; duplicates are dropped.
    const upper = { ...rrset[0]!, name: nameFromText('WWW.Example.NET.'), ttl: 17 };
    assert.equal(checkRrsig([upper, rrset[0]!], sig, key, now), 'valid');
    // Cheap refusals before any cryptography.
    assert.equal(checkRrsig(rrset, { ...sig, keyTag: sig.keyTag ^ 1 }, key, now), 'key-mismatch');
    assert.equal(checkRrsig(rrset, sig, { ...key, flags: key.flags & ~0x0100 }, now), 'key-mismatch');
    assert.equal(checkRrsig(rrset, sig, { ...key, protocol: 2 }, now), 'key-mismatch');
    assert.equal(checkRrsig(rrset, { ...sig, algorithm: 12 }, { ...key, algorithm: 12 }, now), 'unsupported-algorithm');
    assert.equal(checkRrsig(rrset, { ...sig, labels: 4 }, key, now), 'bad-labels');
    assert.equal(checkRrsig([], sig, key, now), 'bad-signature');
    assert.equal(checkRrsig([{ ...rrset[0]!, type: Type.TXT }], sig, key, now), 'bad-signature');
    // The raw check alone.
    assert.equal(verifySignature(sig, key, signedData(rrset, sig)), true);
    assert.equal(verifySignature(sig, key, flipLast(signedData(rrset, sig))), false);
  }
  // An ECDSA signature of the wrong size never verifies (RFC 6605 4: r and s of 32 bytes each).
  const p = sigOf(P256.sig);
  assert.equal(verifySignature(withSignature(p, p.signature.subarray(0, 63)), keyOf(P256.key), signedData([one(P256.data)], p)), false);
});

test('RFC 8080 Ed25519 examples (erratum 4935) verify, and our signer reproduces them byte for byte', T, () => {
  const now = 1439000000;
  const mx = [one(MX_EXAMPLE_COM)];
  for (const ex of ED25519) {
    const key = keyOf(ex.key);
    const sigRr = one(ex.sig);
    const sig = parseRrsig(sigRr.rdata);
    assert.equal(checkRrsig(mx, sig, key, now), 'valid');
    assert.equal(checkRrsig(mx, withSignature(sig, flipLast(sig.signature)), key, now), 'bad-signature');
    assert.equal(checkRrsig([{ ...mx[0]!, rdata: Buffer.concat([Buffer.from([0, 11]), mx[0]!.rdata.subarray(2)]) }], sig, key, now), 'bad-signature');
    assert.equal(checkRrsig(mx, sig, key, sig.expiration + 1), 'expired');
    assert.equal(checkRrsig(mx, sig, key, sig.inception - 1), 'not-yet-valid');
    // As printed in the RFC, with Labels 3 for a two-label owner: refused before any cryptography.
    assert.equal(checkRrsig(mx, { ...sig, labels: 3 }, key, now), 'bad-labels');
    // Ed25519 is deterministic: the RFC's private key must give the same public key and RRSIG.
    const signer = signingKeyFromPem(nameFromText('example.com.'), 15, 257, edPem(15, ex.priv));
    assert.equal(signer.rdata.toString('hex'), key.rdata.toString('hex'));
    assert.equal(signRrset(mx, signer, 1438207200, 1440021600).rdata.toString('hex'), sigRr.rdata.toString('hex'));
  }
  // Ed448: the RFC's key pair, signed here (the RFC's Ed448 RRSIGs carry the same Labels error).
  const key = keyOf(ED448.key);
  const signer = signingKeyFromPem(nameFromText('example.com.'), 16, 257, edPem(16, ED448.priv));
  assert.equal(signer.rdata.toString('hex'), key.rdata.toString('hex'));
  assert.equal(signer.key.keyTag, 9713);
  const sig = parseRrsig(signRrset(mx, signer, 1438207200, 1440021600).rdata);
  assert.equal(sig.labels, 2);
  assert.equal(sig.signature.length, 114);
  assert.equal(checkRrsig(mx, sig, key, now), 'valid');
  assert.equal(checkRrsig(mx, withSignature(sig, flipLast(sig.signature)), key, now), 'bad-signature');
});

// ---------------------------------------------------------------- canonical form

test('canonical RDATA lowercases names only in the RFC 4034 6.2 / RFC 6840 5.1 types, and only the names', T, () => {
  const lower = (text: string): string => {
    const rr = one(text);
    return recordToText({ ...rr, rdata: canonicalRdata(rr.type, rr.rdata) }).split('\t').slice(3).join(' ');
  };
  assert.equal(lower('x. 1 IN MX 10 Mail.EXAMPLE.com.'), 'MX 10 mail.example.com.');
  assert.equal(lower('x. 1 IN CNAME WWW.Example.'), 'CNAME www.example.');
  assert.equal(lower('x. 1 IN SRV 0 5 80 WWW.Example.'), 'SRV 0 5 80 www.example.');
  assert.equal(lower('x. 1 IN RP Admin.Example. TXT.Example.'), 'RP admin.example. txt.example.');
  // Bytes that look like capitals in fixed fields stay: the SOA serial 0x41424344, the MX preference 0x41.
  assert.equal(lower('x. 1 IN SOA NS.Example. Host.Example. 1094861636 1 2 3 4'), 'SOA ns.example. host.example. 1094861636 1 2 3 4');
  assert.equal(lower('x. 1 IN MX 65 M.X.'), 'MX 65 m.x.');
  // NAPTR: only the replacement; flags and regexp keep their case.
  assert.equal(lower('x. 1 IN NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:Info@Example.com!" Repl.Example.'),
    'NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:Info@Example.com!" repl.example.');
  // Not lowercased: NSEC and RRSIG (RFC 6840 5.1), and types without names. DNAME is in the list.
  assert.equal(lower('x. 1 IN NSEC Next.Example. A NSEC'), 'NSEC Next.Example. A NSEC');
  assert.equal(lower('x. 1 IN RRSIG A 8 1 1 0 0 1 Signer.Example. AAAA'), 'RRSIG A 8 1 1 19700101000000 19700101000000 1 Signer.Example. AAAA');
  assert.equal(lower('x. 1 IN HINFO "INTEL" "Linux"'), 'HINFO "INTEL" "Linux"');
  assert.equal(lower('x. 1 IN TXT "ABC"'), 'TXT "ABC"');
  assert.equal(lower('x. 1 IN DNAME Target.Example.'), 'DNAME target.example.');
  const rr = one('x. 1 IN A 65.66.67.68');
  assert.equal(canonicalRdata(rr.type, rr.rdata), rr.rdata);
});

test('signed data: canonical owner, wildcard owner, original TTL, sorted RDATA without duplicates (RFC 4034 3.1.8.1, 6.2, 6.3)', T, () => {
  const sig = sigOf('a.b.w.example. 1 IN RRSIG TXT 13 2 300 0 0 1 Example. AAAA');
  const set = rrs('A.b.w.example. 60 IN TXT "b"\na.b.w.example. 60 IN TXT "a"\na.b.w.example. 60 IN TXT "b"');
  const data = signedData(set, sig);
  const expectRr = (txt: string): Buffer => Buffer.concat([
    nameFromText('*.w.example.'), Buffer.from([0, Type.TXT, 0, 1, 0, 0, 0x01, 0x2c, 0, 2, 1]), Buffer.from(txt),
  ]);
  const prefix = Buffer.concat([sig.signedPrefix.subarray(0, 18), nameFromText('example.')]);
  assert.equal(data.toString('hex'), Buffer.concat([prefix, expectRr('a'), expectRr('b')]).toString('hex'));
  // Same owner as signed when Labels equals the owner's count: lowercased, not starred.
  const exact = signedData(set, { ...sig, labels: 4 });
  assert.ok(exact.includes(nameFromText('a.b.w.example.')));
  assert.ok(!exact.includes(Buffer.from('*')));
  // Order of the records does not change the data.
  assert.deepEqual(signedData([...set].reverse(), sig), data);
});

// ---------------------------------------------------------------- public keys

test('DNSKEY public keys: RFC 3110 long exponent form, malformed keys refused, imports cached', T, () => {
  const k = generateSigningKey(nameFromText('example.'), 8, 256);
  const rrset = rrs('example. 60 IN A 192.0.2.1');
  const sig = parseRrsig(signRrset(rrset, k, 0, 0x7fffffff).rdata);
  const pk = k.key.publicKey;
  assert.equal(pk[0], 3); // 65537 in 3 bytes, short form
  // RFC 3110 2: a zero length byte and a two-byte length mean the same key.
  const long = Buffer.concat([Buffer.from([0, 0, 3]), pk.subarray(1)]);
  const longKey = parseDnskey(Buffer.concat([k.rdata.subarray(0, 4), long]));
  assert.ok(publicKeyOf(longKey));
  assert.equal(verifySignature(sig, longKey, signedData(rrset, sig)), true);

  // Built by hand: parseDnskey itself refuses a key field of zero bytes.
  const rdataOf = (alg: number, key: Buffer): Dnskey => {
    const rdata = Buffer.concat([Buffer.from([1, 0, 3, alg]), key]);
    return { flags: 256, protocol: 3, algorithm: alg, publicKey: key, keyTag: keyTagOf(rdata), rdata };
  };
  const bad: [string, Dnskey][] = [
    ['RSA, empty', rdataOf(8, Buffer.alloc(0))],
    ['RSA, exponent past the end', rdataOf(8, Buffer.from([200, 1, 0, 1]))],
    ['RSA, no modulus', rdataOf(8, pk.subarray(0, 4))],
    ['RSA, 256-bit modulus', rdataOf(8, Buffer.concat([pk.subarray(0, 4), pk.subarray(4, 36)]))],
    ['RSA, 9-byte exponent', rdataOf(8, Buffer.concat([Buffer.from([9]), Buffer.alloc(9, 0xff), pk.subarray(4)]))],
    ['P-256, 63 bytes', rdataOf(13, keyOf(P256.key).publicKey.subarray(1))],
    ['P-256, point off the curve', rdataOf(13, Buffer.alloc(64, 1))],
    ['P-384 key under algorithm 13', rdataOf(13, keyOf(P384.key).publicKey)],
    ['Ed25519, 31 bytes', rdataOf(15, Buffer.alloc(31, 1))],
    ['Ed448, 32 bytes', rdataOf(16, Buffer.alloc(32, 1))],
    ['DSA (3), unsupported', rdataOf(3, Buffer.alloc(64, 1))],
  ];
  for (const [what, key] of bad) assert.equal(publicKeyOf(key), undefined, what);
  // A key that cannot be imported makes a supported signature bad, not valid.
  assert.equal(checkRrsig(rrset, { ...sig, keyTag: bad[3]![1].keyTag }, bad[3]![1], 1000), 'bad-signature');

  // One import per RDATA while it stays in the bounded cache; the oldest go first.
  const p256 = keyOf(P256.key);
  const first = publicKeyOf(p256);
  assert.ok(first);
  assert.equal(publicKeyOf(parseDnskey(Buffer.from(p256.rdata))), first);
  for (let i = 0; i < 600; i++) {
    const raw = Buffer.alloc(32, 7);
    raw.writeUInt16BE(i, 0);
    publicKeyOf(rdataOf(15, raw));
  }
  const again = publicKeyOf(p256);
  assert.ok(again);
  assert.notEqual(again, first);
  assert.equal(publicKeyOf(p256), again);
  assert.deepEqual([...SUPPORTED_ALGORITHMS].sort((a, b) => a - b), [5, 7, 8, 10, 13, 14, 15, 16]);
});

// ---------------------------------------------------------------- our signer

const ALGORITHMS = [5, 7, 8, 10, 13, 14, 15, 16];

test('sign.ts: every algorithm signs what checkRrsig accepts; PEM round trip; DS for the key', T, () => {
  const owner = nameFromText('Example.TEST.');
  const set = rrs('example.test. 300 IN MX 10 Mail.Example.TEST.\nexample.test. 300 IN MX 20 backup.example.test.');
  for (const alg of ALGORITHMS) {
    const k = generateSigningKey(owner, alg, 256);
    assert.equal(k.key.algorithm, alg);
    assert.equal(k.key.flags, 256);
    const sigRr = signRrset(set, k, 1_700_000_000, 1_800_000_000);
    assert.equal(sigRr.type, Type.RRSIG);
    assert.equal(sigRr.ttl, 300);
    const sig = parseRrsig(sigRr.rdata);
    assert.equal(sig.labels, 2);
    assert.equal(sig.originalTtl, 300);
    assert.ok(namesEqual(sig.signerName, owner));
    const now = 1_750_000_000;
    assert.equal(checkRrsig(set, sig, k.key, now), 'valid', `algorithm ${alg}`);
    // Another order, other case in the RDATA names, another TTL: the same canonical RRset.
    const lowered = set.map((r) => ({ ...r, ttl: 5, rdata: canonicalRdata(r.type, r.rdata) })).reverse();
    assert.equal(checkRrsig(lowered, sig, k.key, now), 'valid', `algorithm ${alg}, canonical`);
    assert.equal(checkRrsig(set.slice(1), sig, k.key, now), 'bad-signature', `algorithm ${alg}, a record missing`);
    assert.equal(checkRrsig(set, withSignature(sig, flipLast(sig.signature)), k.key, now), 'bad-signature');

    const pem = signingKeyToPem(k);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
    const back = signingKeyFromPem(owner, alg, 256, pem);
    assert.deepEqual(back.rdata, k.rdata);
    assert.equal(checkRrsig(set, parseRrsig(signRrset(set, back, 1_700_000_000, 1_800_000_000).rdata), k.key, now), 'valid');

    for (const digestType of [1, 2, 4]) {
      const ds = dsFor(k, digestType);
      assert.equal(ds.type, Type.DS);
      assert.equal(dsMatchesKey(owner, parseDs(ds.rdata), k.key), true, `algorithm ${alg}, digest ${digestType}`);
    }
  }
  // A key of one kind does not load under another algorithm.
  const ec = generateSigningKey(owner, 13, 256);
  assert.throws(() => signingKeyFromPem(owner, 14, 256, signingKeyToPem(ec)), /cannot be used with DNSSEC algorithm 14/);
  assert.throws(() => signingKeyFromPem(owner, 8, 256, signingKeyToPem(ec)), /cannot be used/);
  assert.throws(() => generateSigningKey(owner, 3, 256), /cannot sign with DNSSEC algorithm 3/);
  assert.throws(() => dsFor(ec, 3), /unsupported DS digest type 3/);
  assert.throws(() => signRrset([], ec, 0, 1), /empty RRset/);
  assert.throws(() => signRrset([...set, ...rrs('other.test. 300 IN MX 1 x.')], ec, 0, 1), /share owner, type and class/);
});

test('sign.ts: wildcards sign with Labels not counting "*", and verify for any name they expand to (RFC 4035 5.3.2)', T, () => {
  const k = generateSigningKey(nameFromText('example.'), 13, 256);
  const wild = rrs('*.w.example. 60 IN TXT "wild"');
  const sig = parseRrsig(signRrset(wild, k, 0, 0x7fffffff).rdata);
  assert.equal(sig.labels, 2);
  const now = 1_000_000;
  assert.equal(checkRrsig(wild, sig, k.key, now), 'valid');
  for (const name of ['x.w.example.', 'a.b.W.example.']) {
    assert.equal(checkRrsig(wild.map((r) => ({ ...r, name: nameFromText(name) })), sig, k.key, now), 'valid', name);
  }
  // The wildcard's own parent does not match it, nor a name elsewhere with as many labels.
  assert.equal(checkRrsig(wild.map((r) => ({ ...r, name: nameFromText('w.example.') })), sig, k.key, now), 'bad-signature');
  assert.equal(checkRrsig(wild.map((r) => ({ ...r, name: nameFromText('x.v.example.') })), sig, k.key, now), 'bad-signature');
  assert.equal(checkRrsig(wild.map((r) => ({ ...r, name: nameFromText('example.') })), sig, k.key, now), 'bad-labels');
});

test('signature times use serial arithmetic: a window across the 2106 wrap (RFC 4034 3.1.5)', T, () => {
  const k = generateSigningKey(nameFromText('example.'), 15, 256);
  const set = rrs('example. 60 IN A 192.0.2.1');
  // Inception late in 2105, expiration early in 2106 after the 32-bit wrap: expiration < inception as integers.
  const inception = 0xfff00000;
  const expiration = 0x00100000;
  const sig = parseRrsig(signRrset(set, k, inception, expiration).rdata);
  assert.equal(checkRrsig(set, sig, k.key, 0xfff80000), 'valid');
  assert.equal(checkRrsig(set, sig, k.key, 2 ** 32 + 0x00080000), 'valid');
  assert.equal(checkRrsig(set, sig, k.key, 2 ** 32 + 0x00100001), 'expired');
  assert.equal(checkRrsig(set, sig, k.key, 0xffe00000), 'not-yet-valid');
});

// ---------------------------------------------------------------- Debian's tools

function haveTool(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  return r.error === undefined;
}
const haveBind = haveTool('dnssec-keygen', ['-V']) && haveTool('dnssec-signzone', ['-V']) && haveTool('dnssec-verify', ['-V']);
const haveLdns = haveTool('ldns-keygen', ['-v']) && haveTool('ldns-signzone', ['-v']) && haveTool('ldns-verify-zone', ['-v']);
const NO_BIND = 'BIND 9 tools (dnssec-keygen, dnssec-signzone, dnssec-verify) are not installed; scripts/deps.sh installs them';
const NO_LDNS = 'ldns tools (ldns-keygen, ldns-signzone, ldns-verify-zone) are not installed; scripts/deps.sh installs them';

const ZONE = `$TTL 300
$ORIGIN example.test.
@ IN SOA ns1.Example.TEST. Hostmaster.example.test. 1 3600 900 604800 300
@ NS ns1
@ MX 10 Mail.EXAMPLE.test.
ns1 A 192.0.2.1
www A 192.0.2.2
www AAAA 2001:db8::2
mail A 192.0.2.3
alias CNAME WWW.Example.Test.
*.w TXT "wild"
srv._tcp SRV 0 5 80 WWW.example.test.
`;
const APEX = nameFromText('example.test.');

/** Runs a tool to completion; returns stdout, and fails the test with all its output when it exits non-zero. */
function run(cmd: string, args: string[], cwd: string): { stdout: string; all: string } {
  const r = spawnSync(cmd, args, { cwd, timeout: 30_000, encoding: 'utf8' });
  const all = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${all}`);
  return { stdout: r.stdout, all };
}

const rrsetKey = (name: Name, type: number): string => `${nameKey(name)}/${type}`;

/**
 * Every RRSIG of a signed zone checked against the zone's DNSKEYs with checkRrsig.
 * Returns the number of valid ones and the RRsets by owner/type, and fails on any other outcome.
 */
function verifyZone(records: Record[], now: number, what: string): { valid: number; sets: Map<string, Record[]>; sigs: Record[]; keys: Dnskey[] } {
  const keys = records.filter((r) => r.type === Type.DNSKEY && namesEqual(r.name, APEX)).map((r) => parseDnskey(r.rdata));
  const sets = new Map<string, Record[]>();
  for (const r of records) {
    if (r.type === Type.RRSIG) continue;
    const k = rrsetKey(r.name, r.type);
    const list = sets.get(k);
    if (list) list.push(r);
    else sets.set(k, [r]);
  }
  const sigs = records.filter((r) => r.type === Type.RRSIG);
  let valid = 0;
  for (const s of sigs) {
    const sig = parseRrsig(s.rdata);
    const set = sets.get(rrsetKey(s.name, sig.typeCovered));
    assert.ok(set, `${what}: an RRSIG without its RRset: ${recordToText(s)}`);
    const key = keys.find((k) => k.keyTag === sig.keyTag && k.algorithm === sig.algorithm);
    assert.ok(key, `${what}: no DNSKEY ${sig.keyTag}`);
    assert.equal(checkRrsig(set, sig, key, now), 'valid', `${what}: ${recordToText(s)}`);
    valid++;
  }
  return { valid, sets, sigs, keys };
}

/** Checks on one signed zone beyond "every RRSIG verifies": case in RDATA, wildcard expansion, altered data. */
function probeZone(records: Record[], now: number, what: string): void {
  const z = verifyZone(records, now, what);
  // Every authoritative RRset is signed: SOA NS MX DNSKEY at the apex, and the rest.
  assert.ok(z.valid >= 11, `${what}: only ${z.valid} RRSIGs`);
  const sigFor = (name: string, type: number): [Record[], Rrsig, Dnskey] => {
    const owner = nameFromText(name);
    const set = z.sets.get(rrsetKey(owner, type))!;
    const s = z.sigs.find((r) => namesEqual(r.name, owner) && parseRrsig(r.rdata).typeCovered === type)!;
    const sig = parseRrsig(s.rdata);
    return [set, sig, z.keys.find((k) => k.keyTag === sig.keyTag)!];
  };
  // The MX target was written Mail.EXAMPLE.test: lowercasing it keeps the signature valid (RFC 4034 6.2).
  const [mx, mxSig, mxKey] = sigFor('example.test.', Type.MX);
  assert.equal(checkRrsig(mx.map((r) => ({ ...r, rdata: canonicalRdata(r.type, r.rdata) })), mxSig, mxKey, now), 'valid', what);
  // ...but another preference does not.
  assert.equal(checkRrsig(mx.map((r) => ({ ...r, rdata: Buffer.concat([Buffer.from([0, 11]), r.rdata.subarray(2)]) })), mxSig, mxKey, now), 'bad-signature', what);
  const [cname, cnameSig, cnameKey] = sigFor('alias.example.test.', Type.CNAME);
  assert.equal(checkRrsig(cname.map((r) => ({ ...r, rdata: nameFromText('www.example.test.') })), cnameSig, cnameKey, now), 'valid', what);
  assert.equal(checkRrsig(cname.map((r) => ({ ...r, rdata: nameFromText('ww.example.test.') })), cnameSig, cnameKey, now), 'bad-signature', what);
  // One altered address.
  const [a, aSig, aKey] = sigFor('www.example.test.', Type.A);
  assert.equal(checkRrsig(a.map((r) => ({ ...r, rdata: Buffer.from([192, 0, 2, 9]) })), aSig, aKey, now), 'bad-signature', what);
  // The wildcard's RRSIG (Labels 3) serves any name below w.
  const [wild, wildSig, wildKey] = sigFor('*.w.example.test.', Type.TXT);
  assert.equal(wildSig.labels, 3, what);
  assert.equal(checkRrsig(wild.map((r) => ({ ...r, name: nameFromText('Host.w.example.test.') })), wildSig, wildKey, now), 'valid', what);
  assert.equal(checkRrsig(wild.map((r) => ({ ...r, rdata: Buffer.from('\x05tame!') })), wildSig, wildKey, now), 'bad-signature', what);
}

function readZone(path: string): Record[] {
  return rrs(readFileSync(path, 'latin1'), 'example.test.');
}

test('zones signed by BIND dnssec-signzone verify with checkRrsig, every algorithm', { ...T, timeout: 90_000 }, (t) => {
  if (!haveBind) return t.skip(NO_BIND);
  const now = Date.now() / 1000;
  // [algorithm, dnssec-keygen name, NSEC3 or NSEC]: RSASHA1 (5) only with NSEC (RFC 5155 2).
  const plan: [number, string, boolean][] = [
    [5, 'RSASHA1', false], [7, 'NSEC3RSASHA1', true], [8, 'RSASHA256', true], [10, 'RSASHA512', false],
    [13, 'ECDSAP256SHA256', true], [14, 'ECDSAP384SHA384', false], [15, 'ED25519', false], [16, 'ED448', true],
  ];
  for (const [alg, name, nsec3] of plan) {
    const d = join(dir, `bind-${alg}`);
    mkdirSync(d);
    writeFileSync(join(d, 'zone'), ZONE);
    const size = alg <= 10 ? ['-b', '1024'] : [];
    run('dnssec-keygen', ['-q', '-a', name, ...size, '-f', 'KSK', 'example.test'], d);
    run('dnssec-keygen', ['-q', '-a', name, ...size, 'example.test'], d);
    run('dnssec-signzone', ['-S', '-K', '.', ...(nsec3 ? ['-3', 'aabbccdd', '-H', '0'] : []), '-o', 'example.test', '-f', 'signed', 'zone'], d);
    const records = readZone(join(d, 'signed'));
    assert.ok(records.some((r) => r.type === (nsec3 ? Type.NSEC3 : Type.NSEC)), `${name}: the denial records are read`);
    probeZone(records, now, `BIND ${name}${nsec3 ? ' NSEC3' : ''}`);
  }
});

test('zones signed by ldns-signzone verify with checkRrsig', { ...T, timeout: 90_000 }, (t) => {
  if (!haveLdns) return t.skip(NO_LDNS);
  const plan: [number, string, boolean][] = [[8, 'RSASHA256', true], [13, 'ECDSAP256SHA256', false], [15, 'ED25519', true], [16, 'ED448', false]];
  for (const [alg, name, nsec3] of plan) {
    const d = join(dir, `ldns-${alg}`);
    mkdirSync(d);
    writeFileSync(join(d, 'zone'), ZONE);
    const size = alg <= 10 ? ['-b', '1024'] : [];
    const ksk = run('ldns-keygen', ['-a', name, ...size, '-k', 'example.test'], d).stdout.trim();
    const zsk = run('ldns-keygen', ['-a', name, ...size, 'example.test'], d).stdout.trim();
    run('ldns-signzone', [...(nsec3 ? ['-n', '-s', 'aabbccdd', '-t', '0'] : []), 'zone', ksk, zsk], d);
    const records = readZone(join(d, 'zone.signed'));
    assert.ok(records.some((r) => r.type === (nsec3 ? Type.NSEC3 : Type.NSEC)), `${name}: the denial records are read`);
    // ldns dates the inception at the second it signs (no backdating): read the clock after it.
    probeZone(records, Date.now() / 1000 + 1, `ldns ${name}${nsec3 ? ' NSEC3' : ''}`);
  }
});

/** A zone signed with sign.ts: KSK over DNSKEY, ZSK over the rest, and a hand-built NSEC chain (RFC 4034 4). */
function signWithOurs(alg: number, now: number): { text: string; records: Record[]; ksk: SigningKey } {
  const base = rrs(ZONE, 'example.test.');
  const ksk = generateSigningKey(APEX, alg, 257);
  const zsk = generateSigningKey(APEX, alg, 256);
  const dnskeys = [ksk, zsk].map((k) => ({ name: APEX, type: Type.DNSKEY, class: 1, ttl: 300, rdata: k.rdata }));
  const data = [...base, ...dnskeys];
  const owners = [...new Map(data.map((r) => [nameKey(r.name), r.name])).values()].sort(compareNames);
  const nsecs: Record[] = owners.map((owner, i) => {
    const types = new Set(data.filter((r) => namesEqual(r.name, owner)).map((r) => r.type));
    types.add(Type.RRSIG).add(Type.NSEC);
    const next = owners[(i + 1) % owners.length]!;
    // RFC 4034 4: the NSEC TTL is the SOA minimum (300 here).
    return { name: owner, type: Type.NSEC, class: 1, ttl: 300, rdata: Buffer.concat([next, encodeTypeBitmap(types)]) };
  });
  const all = [...data, ...nsecs];
  const groups = new Map<string, Record[]>();
  for (const r of all) {
    const k = rrsetKey(r.name, r.type);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const inception = Math.floor(now) - 3600;
  const expiration = Math.floor(now) + 7 * 86400;
  const sigs: Record[] = [];
  for (const set of groups.values()) {
    sigs.push(signRrset(set, set[0]!.type === Type.DNSKEY ? ksk : zsk, inception, expiration));
    if (set[0]!.type === Type.DNSKEY) sigs.push(signRrset(set, zsk, inception, expiration));
  }
  const records = [...all, ...sigs];
  // SOA first, as a master file wants it.
  records.sort((x, y) => (x.type === Type.SOA ? -1 : y.type === Type.SOA ? 1 : compareNames(x.name, y.name)));
  return { text: records.map(recordToText).join('\n') + '\n', records, ksk };
}

test('zones signed by sign.ts pass BIND dnssec-verify and ldns-verify-zone, and read back byte for byte', { ...T, timeout: 90_000 }, (t) => {
  if (!haveBind && !haveLdns) return t.skip(`${NO_BIND}; ${NO_LDNS}`);
  const now = Date.now() / 1000;
  for (const alg of ALGORITHMS) {
    const { text, records, ksk } = signWithOurs(alg, now);
    const d = join(dir, `ours-${alg}`);
    mkdirSync(d);
    const file = join(d, 'signed');
    writeFileSync(file, text);
    // The presentation codecs (RRSIG, NSEC, DNSKEY) read back the exact wire bytes.
    const back = readZone(file);
    assert.equal(back.length, records.length);
    for (let i = 0; i < back.length; i++) assert.equal(recordToText(back[i]!), recordToText(records[i]!));
    assert.deepEqual(back.map((r) => r.rdata.toString('hex')), records.map((r) => r.rdata.toString('hex')));
    verifyZone(back, now, `sign.ts algorithm ${alg}`);
    if (haveBind) {
      const out = run('dnssec-verify', ['-o', 'example.test', file], d).all;
      assert.match(out, /Zone fully signed/, `dnssec-verify, algorithm ${alg}: ${out}`);
    }
    if (haveLdns) {
      const out = run('ldns-verify-zone', [file], d).all;
      assert.match(out, /Zone is verified and complete/, `ldns-verify-zone, algorithm ${alg}: ${out}`);
      // And a tampered copy is refused: one A record changed after signing.
      const bad = join(d, 'tampered');
      writeFileSync(bad, text.replace(/\tA\t192\.0\.2\.2\n/, '\tA\t192.0.2.99\n'));
      assert.notEqual(readFileSync(bad, 'latin1'), text);
      const r = spawnSync('ldns-verify-zone', [bad], { cwd: d, timeout: 30_000, encoding: 'utf8' });
      assert.notEqual(r.status, 0, `ldns-verify-zone accepted a tampered zone, algorithm ${alg}`);
    }
    // The DS of the KSK is what dnssec-dsfromkey would publish.
    if (haveBind) {
      const keyFile = join(d, 'ksk.key');
      writeFileSync(keyFile, recordToText({ name: APEX, type: Type.DNSKEY, class: 1, ttl: 300, rdata: ksk.rdata }) + '\n');
      const line = run('dnssec-dsfromkey', ['-2', '-f', keyFile, 'example.test'], d).stdout.trim();
      assert.equal(recordToText(one(line)).split('\t').pop(), recordToText(dsFor(ksk, 2)).split('\t').pop());
    }
  }
});
