import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Class, Ede, Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { compareNames, nameFromText, nameToText } from '../src/dns/name.js';
import type { Name } from '../src/dns/name.js';
import { nsecCovers, nsecProvesNxdomainFor, proveNoDs, proveNodata, proveNxdomain, proveWildcardAnswer } from '../src/dnssec/denial.js';
import type { Denial, DenialInput } from '../src/dnssec/denial.js';
import { base32hexDecode, base32hexEncode, encodeTypeBitmap, nsec3Hash, parseNsec, parseNsec3 } from '../src/dnssec/records.js';

const { A, AAAA, CNAME, DNAME, DNSKEY, DS, HINFO, MX, NS, NSEC, NSEC3, NSEC3PARAM, RRSIG, SOA, TXT } = Type;
const n = (s: string): Name => nameFromText(s);

// ---------------------------------------------------------------- zones and proofs

/** Owner and types; no types is an empty non-terminal. */
type ZoneData = [string, number[]][];

const ZONE: ZoneData = [
  ['example.', [SOA, NS, DNSKEY]],
  ['a.example.', [A]],
  ['b.example.', []],
  ['x.b.example.', [A]],
  ['cname.example.', [CNAME]],
  ['dname.example.', [DNAME]],
  ['sub.example.', [NS, DS]],
  ['unsigned.example.', [NS]],
  ['w.example.', []],
  ['*.w.example.', [TXT]],
  ['z.example.', [A]],
];

function nsecRecord(owner: string, next: string, types: number[]): Record {
  return { name: n(owner), type: NSEC, class: Class.IN, ttl: 300, rdata: Buffer.concat([n(next), encodeTypeBitmap(types)]) };
}

/** The NSEC chain of a zone (RFC 4034 4.1): names with data, in canonical order, the last pointing back at the apex. */
function nsecChain(zone: ZoneData): Record[] {
  const owners = zone.filter(([, t]) => t.length > 0).sort((x, y) => compareNames(n(x[0]), n(y[0])));
  return owners.map(([o, t], i) => nsecRecord(o, owners[(i + 1) % owners.length]![0], [...t, RRSIG, NSEC]));
}

const at = (chain: Record[], ...owners: string[]): Record[] =>
  owners.map((o) => {
    const r = chain.find((x) => nameToText(x.name) === o);
    assert.ok(r, `no record at ${o}`);
    return r;
  });

interface Params {
  salt: Buffer;
  iterations: number;
  flags?: number;
  algorithm?: number;
}

function nsec3Record(apex: string, owner: Buffer, next: Buffer, types: number[], p: Params): Record {
  const head = Buffer.from([p.algorithm ?? 1, p.flags ?? 0, p.iterations >> 8, p.iterations & 0xff, p.salt.length]);
  const rdata = Buffer.concat([head, p.salt, Buffer.from([next.length]), next, encodeTypeBitmap(types)]);
  return { name: nameFromText(base32hexEncode(owner), n(apex)), type: NSEC3, class: Class.IN, ttl: 300, rdata };
}

/**
 * The NSEC3 chain of a zone (RFC 5155 7.1): every name, empty non-terminals
 * included, hashed and sorted. `skip` leaves names out, as opt-out does with
 * unsigned delegations. RRSIG is listed where the zone signs something.
 */
function nsec3Chain(apex: string, zone: ZoneData, p: Params, skip: string[] = []): Record[] {
  const hashed = zone
    .filter(([o]) => !skip.includes(o))
    .map(([o, t]) => ({ h: nsec3Hash(n(o), p.salt, p.iterations), t }))
    .sort((x, y) => x.h.compare(y.h));
  return hashed.map(({ h, t }, i) => {
    const signed = t.length > 0 && !(t.length === 1 && t[0] === NS);
    return nsec3Record(apex, h, hashed[(i + 1) % hashed.length]!.h, signed ? [...t, RRSIG] : t, p);
  });
}

const ownerHash = (r: Record): string => nameToText(r.name).split('.')[0]!;

/** The record of the chain that matches or covers H(name) (RFC 5155 1.3), found by a plain scan. */
function n3For(chain: Record[], name: string, p: Params): Record {
  const h = base32hexEncode(nsec3Hash(n(name), p.salt, p.iterations));
  for (const r of chain) {
    const owner = ownerHash(r);
    const next = base32hexEncode(parseNsec3(r.rdata).nextHashed);
    if (owner === h) return r;
    if (next <= owner ? h > owner || h < next : h > owner && h < next) return r;
  }
  assert.fail(`nothing matches or covers ${name}`);
}

/** The records proving facts about each of `names`, without duplicates. */
const n3Proof = (chain: Record[], p: Params, ...names: string[]): Record[] => [...new Set(names.map((x) => n3For(chain, x, p)))];

function input(qname: string, qtype: number, records: Record[], more: Partial<DenialInput> = {}): DenialInput {
  return { qname: n(qname), qtype, zone: n('example.'), records, maxIterations: 150, budget: { hashes: 100 }, ...more };
}

function isSecure(d: Denial): void {
  assert.deepEqual(d, { result: 'secure' });
}

function isBogus(d: Denial, why?: RegExp): void {
  assert.equal(d.result, 'bogus', JSON.stringify(d));
  if (why && d.result === 'bogus') assert.match(d.reason, why);
}

function isInsecure(d: Denial, why: RegExp, ede?: number): void {
  assert.equal(d.result, 'insecure', JSON.stringify(d));
  if (d.result === 'insecure') {
    assert.match(d.reason, why);
    assert.equal(d.ede, ede);
  }
}

// ---------------------------------------------------------------- NSEC

const CHAIN = nsecChain(ZONE);

test('NSEC covers: strictly between owner and next, the last NSEC wrapping to the apex', () => {
  assert.ok(nsecCovers(n('a.example.'), n('x.b.example.'), n('aa.example.')));
  assert.ok(nsecCovers(n('a.example.'), n('x.b.example.'), n('b.example.')));
  assert.ok(!nsecCovers(n('a.example.'), n('x.b.example.'), n('a.example.')));
  assert.ok(!nsecCovers(n('a.example.'), n('x.b.example.'), n('x.b.example.')));
  assert.ok(!nsecCovers(n('a.example.'), n('x.b.example.'), n('c.example.')));
  assert.ok(nsecCovers(n('z.example.'), n('example.'), n('zz.example.')));
  assert.ok(nsecCovers(n('z.example.'), n('example.'), n('a.zz.example.')));
  assert.ok(!nsecCovers(n('z.example.'), n('example.'), n('a.example.')));
  // A zone with only its apex: one NSEC pointing at itself covers every name below.
  assert.ok(nsecCovers(n('example.'), n('example.'), n('anything.example.')));
  assert.ok(!nsecCovers(n('example.'), n('example.'), n('example.')));
});

test('NSEC NXDOMAIN: the name and the wildcard at its closest encloser covered (RFC 4035 3.1.3.2)', () => {
  isSecure(proveNxdomain(input('c.example.', A, at(CHAIN, 'x.b.example.', 'example.'))));
  isSecure(proveNxdomain(input('deep.c.example.', A, at(CHAIN, 'x.b.example.', 'example.'))));
  // Case does not matter (RFC 4343).
  isSecure(proveNxdomain(input('C.EXAMPLE.', A, at(CHAIN, 'x.b.example.', 'example.'))));
  // The last NSEC wraps around to the apex.
  isSecure(proveNxdomain(input('zz.example.', A, at(CHAIN, 'z.example.', 'example.'))));
  // The closest encloser is x.b.example: its wildcard sorts right after it.
  isSecure(proveNxdomain(input('q.x.b.example.', A, at(CHAIN, 'x.b.example.'))));

  isBogus(proveNxdomain(input('c.example.', A, at(CHAIN, 'x.b.example.'))), /wildcard/);
  isBogus(proveNxdomain(input('c.example.', A, at(CHAIN, 'example.'))), /covers the name/);
  isBogus(proveNxdomain(input('c.example.', A, at(CHAIN, 'a.example.', 'example.'))), /covers the name/);
  isBogus(proveNxdomain(input('c.example.', A, [])), /no usable/);
});

test('NSEC NXDOMAIN is refused when the name, or a wildcard for it, exists', () => {
  isBogus(proveNxdomain(input('a.example.', A, at(CHAIN, 'a.example.', 'example.'))), /exists/);
  // An empty non-terminal: the NSEC before it ends below it (RFC 4592 2.2.2).
  isBogus(proveNxdomain(input('b.example.', A, at(CHAIN, 'a.example.', 'example.'))), /exists/);
  isBogus(proveNxdomain(input('foo.w.example.', A, at(CHAIN, '*.w.example.'))), /wildcard .*exists/);
  isBogus(proveNxdomain(input('example.', A, CHAIN)), /exists/);
});

test('NSEC NXDOMAIN below a delegation or a DNAME proves nothing (RFC 6840 4.1)', () => {
  isBogus(proveNxdomain(input('host.unsigned.example.', A, at(CHAIN, 'unsigned.example.', 'example.'))), /delegation or DNAME/);
  isBogus(proveNxdomain(input('host.sub.example.', A, at(CHAIN, 'sub.example.', 'example.'))), /delegation or DNAME/);
  isBogus(proveNxdomain(input('x.dname.example.', A, at(CHAIN, 'dname.example.', 'example.'))), /delegation or DNAME/);
});

test('NSEC records outside the zone, or a name outside it, prove nothing', () => {
  isBogus(proveNxdomain(input('c.example.', A, at(CHAIN, 'x.b.example.', 'example.'), { zone: n('other.') })), /not in the zone/);
  const foreign = [nsecRecord('other.', 'z.other.', [SOA, NS]), nsecRecord('a.other.', 'example.', [A])];
  isBogus(proveNxdomain(input('c.example.', A, foreign)), /no usable/);
});

test('NSEC NODATA: the NSEC at the name lacks the type and CNAME (RFC 4035 3.1.3.1)', () => {
  isSecure(proveNodata(input('a.example.', MX, at(CHAIN, 'a.example.'))));
  isSecure(proveNodata(input('example.', MX, at(CHAIN, 'example.'))));
  isBogus(proveNodata(input('a.example.', A, at(CHAIN, 'a.example.'))), /type exists/);
  isBogus(proveNodata(input('cname.example.', A, at(CHAIN, 'cname.example.'))), /CNAME/);
  isBogus(proveNodata(input('cname.example.', CNAME, at(CHAIN, 'cname.example.'))), /type exists/);
  isBogus(proveNodata(input('a.example.', MX, at(CHAIN, 'example.'))), /no NSEC matches or covers/);
  isBogus(proveNodata(input('a.example.', MX, [])), /no usable/);
});

test('NSEC NODATA for an empty non-terminal: the NSEC before it ends below it', () => {
  isSecure(proveNodata(input('b.example.', A, at(CHAIN, 'a.example.'))));
  isSecure(proveNodata(input('w.example.', TXT, at(CHAIN, 'unsigned.example.'))));
  isBogus(proveNodata(input('b.example.', A, at(CHAIN, 'x.b.example.'))), /no NSEC matches or covers/);
});

test('NSEC NODATA at a delegation: only DS can be denied, and only by the parent', () => {
  isBogus(proveNodata(input('unsigned.example.', A, at(CHAIN, 'unsigned.example.'))), /delegation/);
  isSecure(proveNodata(input('unsigned.example.', DS, at(CHAIN, 'unsigned.example.'))));
  isBogus(proveNodata(input('sub.example.', DS, at(CHAIN, 'sub.example.'))), /type exists/);
  // DS at the apex of the proof's zone: the child answering for its parent.
  isBogus(proveNodata(input('example.', DS, at(CHAIN, 'example.'))), /child/);
  const child = [nsecRecord('sub.example.', 'www.sub.example.', [SOA, NS, DNSKEY, RRSIG, NSEC])];
  isBogus(proveNodata(input('sub.example.', DS, child, { zone: n('sub.example.') })), /child/);
  isBogus(proveNodata(input('sub.example.', DS, child)), /child/);
  // The root has no parent: its own NSEC denies its DS.
  isSecure(proveNodata(input('.', DS, [nsecRecord('.', 'com.', [SOA, NS, DNSKEY, RRSIG, NSEC])], { zone: n('.') })));
  isBogus(proveNodata(input('com.', DS, [nsecRecord('com.', 'net.', [SOA, NS, DNSKEY, RRSIG, NSEC])], { zone: n('.') })), /child/);
});

test('NSEC wildcard NODATA: the name covered, the wildcard at its closest encloser without the type (RFC 4035 3.1.3.4)', () => {
  isSecure(proveNodata(input('foo.w.example.', MX, at(CHAIN, '*.w.example.'))));
  isSecure(proveNodata(input('a.foo.w.example.', MX, at(CHAIN, '*.w.example.'))));
  isBogus(proveNodata(input('foo.w.example.', TXT, at(CHAIN, '*.w.example.'))), /wildcard: the type exists/);
  isBogus(proveNodata(input('c.example.', MX, at(CHAIN, 'x.b.example.'))), /wildcard/);
});

test('NSEC wildcard answer: the name covered, with the wildcard parent as closest encloser (RFC 4035 5.3.4)', () => {
  const w = (qname: string, labels: number, records: Record[]) => proveWildcardAnswer({ ...input(qname, TXT, records), wildcardLabels: labels });
  isSecure(w('foo.w.example.', 2, at(CHAIN, '*.w.example.')));
  isSecure(w('a.foo.w.example.', 2, at(CHAIN, '*.w.example.')));
  // Claims *.example, but the NSEC shows w.example exists closer to the name.
  isBogus(w('foo.w.example.', 1, at(CHAIN, '*.w.example.')), /closest encloser/);
  // Claims *.b.example, but x.b.example exists and is closer.
  isBogus(w('y.x.b.example.', 2, at(CHAIN, 'x.b.example.')), /closest encloser/);
  isBogus(w('foo.w.example.', 2, at(CHAIN, 'z.example.')), /does not exist/);
  isBogus(w('foo.w.example.', 3, at(CHAIN, '*.w.example.')), /no wildcard/);
  isBogus(w('foo.w.example.', 0, at(CHAIN, '*.w.example.')), /above the zone/);
});

test('NSEC no-DS proof: the parent\'s NSEC at the cut with NS, without DS and SOA', () => {
  isSecure(proveNoDs(input('unsigned.example.', DS, at(CHAIN, 'unsigned.example.'))));
  isBogus(proveNoDs(input('sub.example.', DS, at(CHAIN, 'sub.example.'))), /type exists/);
  isBogus(proveNoDs(input('a.example.', DS, at(CHAIN, 'a.example.'))), /no NS/);
  isBogus(proveNoDs(input('example.', DS, at(CHAIN, 'example.'))), /own DS/);
  isBogus(proveNoDs(input('c.example.', DS, at(CHAIN, 'x.b.example.', 'example.'))), /no NSEC at the delegation/);
  isBogus(proveNoDs(input('unsigned.example.', DS, [nsecRecord('unsigned.example.', 'w.example.', [SOA, NS, RRSIG, NSEC])])), /child/);
});

test('RFC 8198: which cached NSEC gaps prove NXDOMAIN', () => {
  const links = CHAIN.map((r) => ({ owner: r.name, ...parseNsec(r.rdata) }));
  const pick = (...owners: string[]) => links.filter((l) => owners.includes(nameToText(l.owner)));
  assert.ok(nsecProvesNxdomainFor(links, n('c.example.'), n('example.')));
  assert.ok(nsecProvesNxdomainFor(pick('x.b.example.', 'example.'), n('c.example.'), n('example.')));
  assert.ok(nsecProvesNxdomainFor(pick('z.example.', 'example.'), n('zz.example.'), n('example.')));
  assert.ok(!nsecProvesNxdomainFor(pick('x.b.example.'), n('c.example.'), n('example.')));
  assert.ok(!nsecProvesNxdomainFor(links, n('b.example.'), n('example.')));
  assert.ok(!nsecProvesNxdomainFor(links, n('foo.w.example.'), n('example.')));
  assert.ok(!nsecProvesNxdomainFor(links, n('host.unsigned.example.'), n('example.')));
  assert.ok(!nsecProvesNxdomainFor(links, n('c.example.'), n('other.')));
});

// ---------------------------------------------------------------- NSEC3

const P: Params = { salt: Buffer.from('cafe', 'hex'), iterations: 5 };
const CHAIN3 = nsec3Chain('example.', ZONE, P);

test('NSEC3 NXDOMAIN: closest encloser proof and the wildcard covered (RFC 5155 8.4)', () => {
  const proof = n3Proof(CHAIN3, P, 'example.', 'c.example.', '*.example.');
  const budget = { hashes: 10 };
  isSecure(proveNxdomain(input('c.example.', A, proof, { budget })));
  // H(c.example) once, H(example), H(*.example): each name hashed once.
  assert.equal(budget.hashes, 7);
  // Every record of the proof is needed.
  for (const r of proof) isBogus(proveNxdomain(input('c.example.', A, proof.filter((x) => x !== r))));
  isSecure(proveNxdomain(input('a.b.c.example.', A, n3Proof(CHAIN3, P, 'example.', 'c.example.', '*.example.'))));
  isSecure(proveNxdomain(input('q.x.b.example.', A, n3Proof(CHAIN3, P, 'x.b.example.', 'q.x.b.example.', '*.x.b.example.'))));
  // The other records of the chain do not make a wrong proof right.
  isBogus(proveNxdomain(input('c.example.', A, CHAIN3.filter((r) => !proof.includes(r)))));
});

test('NSEC3 NXDOMAIN is refused when the name or the wildcard exists, or at the apex', () => {
  isBogus(proveNxdomain(input('a.example.', A, CHAIN3)), /exists/);
  isBogus(proveNxdomain(input('b.example.', A, CHAIN3)), /exists/);
  isBogus(proveNxdomain(input('example.', A, CHAIN3)), /exists/);
  isBogus(proveNxdomain(input('foo.w.example.', A, n3Proof(CHAIN3, P, 'w.example.', 'foo.w.example.', '*.w.example.'))), /wildcard .*exists/);
});

test('NSEC3 closest encloser at a delegation or DNAME is from the wrong side of a cut (RFC 5155 8.3)', () => {
  for (const cut of ['unsigned.example.', 'sub.example.', 'dname.example.']) {
    const proof = n3Proof(CHAIN3, P, cut, `host.${cut}`, `*.${cut}`);
    isBogus(proveNxdomain(input(`host.${cut}`, A, proof)), /delegation or DNAME/);
    isBogus(proveNodata(input(`host.${cut}`, A, proof)), /delegation or DNAME/);
  }
});

test('NSEC3 NXDOMAIN through the last record of the chain, which wraps around', () => {
  const hashes = CHAIN3.map(ownerHash).sort();
  let qname = '';
  for (let i = 0; !qname; i++) {
    const h = base32hexEncode(nsec3Hash(n(`n${i}.example.`), P.salt, P.iterations));
    if (h > hashes[hashes.length - 1]! || h < hashes[0]!) qname = `n${i}.example.`;
  }
  const last = n3For(CHAIN3, qname, P);
  assert.equal(ownerHash(last), hashes[hashes.length - 1], 'the covering record is the last of the chain');
  isSecure(proveNxdomain(input(qname, A, n3Proof(CHAIN3, P, 'example.', qname, '*.example.'))));
});

test('NSEC3 opt-out: proven, but insecure (RFC 5155 9.2)', () => {
  const p = { ...P, flags: 1 };
  const chain = nsec3Chain('example.', ZONE, p, ['unsigned.example.']);
  isInsecure(proveNxdomain(input('c.example.', A, n3Proof(chain, p, 'example.', 'c.example.', '*.example.'))), /opt-out/);
  // A name matched by its own NSEC3 is proven whatever the flag.
  isSecure(proveNodata(input('a.example.', MX, n3Proof(chain, p, 'a.example.'))));
});

test('NSEC3 iterations above the limit: insecure with EDE 27, before any hashing (RFC 9276 3.2)', () => {
  const p = { ...P, iterations: 151 };
  const chain = nsec3Chain('example.', ZONE, p);
  const budget = { hashes: 100 };
  isInsecure(proveNxdomain(input('c.example.', A, chain, { budget })), /iterations 151/, Ede.UNSUPPORTED_NSEC3_ITERATIONS);
  isInsecure(proveNodata(input('a.example.', MX, chain, { budget })), /iterations/, Ede.UNSUPPORTED_NSEC3_ITERATIONS);
  isInsecure(proveNoDs(input('unsigned.example.', DS, chain, { budget })), /iterations/, Ede.UNSUPPORTED_NSEC3_ITERATIONS);
  assert.equal(budget.hashes, 100);
  isSecure(proveNxdomain(input('c.example.', A, chain, { maxIterations: 151 })));
});

test('NSEC3 hash budget: one per hash, shared, bogus when exhausted (CVE-2023-50868)', () => {
  const proof = n3Proof(CHAIN3, P, 'example.', 'c.example.', '*.example.');
  const budget = { hashes: 2 };
  isBogus(proveNxdomain(input('c.example.', A, proof, { budget })), /NSEC3 hash budget exhausted/);
  assert.equal(budget.hashes, 0);
  isBogus(proveNodata(input('a.example.', MX, CHAIN3, { budget })), /budget exhausted/);
  // A long name under a short zone costs one hash per label until the closest encloser.
  const long = `${'l.'.repeat(40)}example.`;
  const shared = { hashes: 30 };
  isBogus(proveNxdomain(input(long, A, CHAIN3, { budget: shared })), /budget exhausted/);
  assert.equal(shared.hashes, 0);
});

test('NSEC3 records are usable only as one base32hex label under the zone, SHA-1, flags 0/1, one parameter set', () => {
  const proof = n3Proof(CHAIN3, P, 'example.', 'c.example.', '*.example.');
  const q = (records: Record[]) => proveNxdomain(input('c.example.', A, records));
  const moved = (r: Record, zone: string): Record => ({ ...r, name: nameFromText(ownerHash(r), n(zone)) });
  // Records of another zone, or one label too deep.
  isBogus(q(proof.map((r) => moved(r, 'other.'))), /no usable/);
  isBogus(q(proof.map((r) => moved(r, 'x.example.'))), /no usable/);
  // An owner label that is not a SHA-1 hash in base32hex.
  isBogus(q(proof.map((r) => ({ ...r, name: n(`${'w'.repeat(32)}.example.`) }))), /no usable/);
  // Flags other than 0 and 1 (RFC 5155 8.2), or an unknown hash algorithm (8.1).
  const remade = (r: Record, p: Params, types?: number[]): Record => {
    const x = parseNsec3(r.rdata);
    return nsec3Record('example.', base32hexDecode(ownerHash(r))!, x.nextHashed, types ?? [...x.types], p);
  };
  isBogus(q(proof.map((r) => remade(r, { ...P, flags: 0x80 }))), /no usable/);
  isInsecure(q(proof.map((r) => remade(r, { ...P, algorithm: 2 }))), /algorithm/);
  // NSEC3 of an unknown algorithm beside usable ones is ignored.
  isSecure(q([...proof.map((r) => remade(r, { ...P, algorithm: 2 })), ...proof]));
  // A record with other parameters than the first usable one is ignored.
  const stray = remade(proof[0]!, { ...P, salt: Buffer.from('beef', 'hex') }, [A]);
  isSecure(q([...proof, stray]));
  isBogus(q([stray, ...proof]));
});

test('NSEC3 NODATA: the NSEC3 matching the name (RFC 5155 8.5)', () => {
  isSecure(proveNodata(input('a.example.', MX, n3Proof(CHAIN3, P, 'a.example.'))));
  isSecure(proveNodata(input('example.', MX, n3Proof(CHAIN3, P, 'example.'))));
  isBogus(proveNodata(input('a.example.', A, n3Proof(CHAIN3, P, 'a.example.'))), /type exists/);
  isBogus(proveNodata(input('cname.example.', A, n3Proof(CHAIN3, P, 'cname.example.'))), /CNAME/);
  // An empty non-terminal has an NSEC3 with an empty bitmap.
  isSecure(proveNodata(input('b.example.', A, n3Proof(CHAIN3, P, 'b.example.'))));
  isBogus(proveNodata(input('unsigned.example.', A, n3Proof(CHAIN3, P, 'unsigned.example.'))), /delegation/);
  isSecure(proveNodata(input('unsigned.example.', DS, n3Proof(CHAIN3, P, 'unsigned.example.'))));
  isBogus(proveNodata(input('example.', DS, n3Proof(CHAIN3, P, 'example.'))), /child/);
  // Not matched and no wildcard: a covering NSEC3 alone proves NXDOMAIN, not NODATA.
  isBogus(proveNodata(input('c.example.', A, n3Proof(CHAIN3, P, 'example.', 'c.example.'))), /wildcard/);
  isBogus(proveNodata(input('c.example.', DS, n3Proof(CHAIN3, P, 'example.', 'c.example.'))), /opted out/);
});

test('NSEC3 wildcard NODATA: closest encloser proof and the wildcard matched without the type (RFC 5155 8.7)', () => {
  const proof = n3Proof(CHAIN3, P, 'w.example.', 'foo.w.example.', '*.w.example.');
  isSecure(proveNodata(input('foo.w.example.', MX, proof)));
  isBogus(proveNodata(input('foo.w.example.', TXT, proof)), /wildcard: the type exists/);
  for (const r of proof) isBogus(proveNodata(input('foo.w.example.', MX, proof.filter((x) => x !== r))));
});

test('NSEC3 opt-out NODATA: DS of an unsigned delegation (8.6) and its empty non-terminal parent (errata 3441)', () => {
  const p = { ...P, flags: 1 };
  const zone: ZoneData = [...ZONE, ['ent.example.', []], ['d.ent.example.', [NS]]];
  const chain = nsec3Chain('example.', zone, p, ['unsigned.example.', 'ent.example.', 'd.ent.example.']);
  isInsecure(proveNodata(input('unsigned.example.', DS, n3Proof(chain, p, 'example.', 'unsigned.example.'))), /opt-out/);
  isInsecure(proveNodata(input('ent.example.', A, n3Proof(chain, p, 'example.', 'ent.example.'))), /opt-out/);
  // proveNoDs: the delegation is proven to lack a DS only insecurely when it hides in an opt-out span (RFC 5155 8.6, 9.2).
  isInsecure(proveNoDs(input('unsigned.example.', DS, n3Proof(chain, p, 'example.', 'unsigned.example.'))), /opt-out/);
  isInsecure(proveNoDs(input('d.ent.example.', DS, n3Proof(chain, p, 'example.', 'ent.example.'))), /opt-out/);
  // Without opt-out the same gap proves nothing for DS.
  const plain = nsec3Chain('example.', zone, P, ['unsigned.example.', 'ent.example.', 'd.ent.example.']);
  isBogus(proveNodata(input('unsigned.example.', DS, n3Proof(plain, P, 'example.', 'unsigned.example.'))), /opted out/);
  isBogus(proveNoDs(input('unsigned.example.', DS, n3Proof(plain, P, 'example.', 'unsigned.example.'))), /opted out/);
});

test('NSEC3 wildcard answer: the next closer name covered (RFC 5155 8.8)', () => {
  const w = (qname: string, labels: number, records: Record[]) => proveWildcardAnswer({ ...input(qname, TXT, records), wildcardLabels: labels });
  isSecure(w('foo.w.example.', 2, n3Proof(CHAIN3, P, 'foo.w.example.')));
  isSecure(w('a.foo.w.example.', 2, n3Proof(CHAIN3, P, 'foo.w.example.')));
  isBogus(w('foo.w.example.', 1, n3Proof(CHAIN3, P, 'w.example.')), /next closer name exists/);
  isBogus(w('foo.w.example.', 2, n3Proof(CHAIN3, P, 'a.example.')), /covers the next closer/);
  const p = { ...P, flags: 1 };
  isInsecure(w('foo.w.example.', 2, n3Proof(nsec3Chain('example.', ZONE, p), p, 'foo.w.example.')), /opt-out/);
});

test('NSEC3 no-DS proof: NS without DS and SOA at the name (RFC 5155 8.9)', () => {
  isSecure(proveNoDs(input('unsigned.example.', DS, n3Proof(CHAIN3, P, 'unsigned.example.'))));
  isBogus(proveNoDs(input('sub.example.', DS, n3Proof(CHAIN3, P, 'sub.example.'))), /type exists/);
  isBogus(proveNoDs(input('a.example.', DS, n3Proof(CHAIN3, P, 'a.example.'))), /no NS/);
  isBogus(proveNoDs(input('example.', DS, n3Proof(CHAIN3, P, 'example.'))), /own DS/);
});

// ---------------------------------------------------------------- RFC 5155 appendices A and B

const RFC_P: Params = { salt: Buffer.from('aabbccdd', 'hex'), iterations: 12, flags: 1 };

/** Appendix A, every name that gets an NSEC3 (c.example, an unsigned delegation, is opted out; glue gets none). */
const RFC_ZONE: ZoneData = [
  ['example.', [NS, SOA, MX, DNSKEY, NSEC3PARAM]],
  ['2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.', [A]],
  ['a.example.', [NS, DS]],
  ['ai.example.', [A, HINFO, AAAA]],
  ['ns1.example.', [A]],
  ['ns2.example.', [A]],
  ['w.example.', []],
  ['*.w.example.', [MX]],
  ['x.w.example.', [MX]],
  ['y.w.example.', []],
  ['x.y.w.example.', [MX]],
  ['xx.example.', [A, HINFO, AAAA]],
];

const RFC_HASHES: [string, string][] = [
  ['example.', '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom'],
  ['a.example.', '35mthgpgcu1qg68fab165klnsnk3dpvl'],
  ['ai.example.', 'gjeqe526plbf1g8mklp59enfd789njgi'],
  ['ns1.example.', '2t7b4g4vsa5smi47k61mv5bv1a22bojr'],
  ['ns2.example.', 'q04jkcevqvmu85r014c7dkba38o0ji5r'],
  ['w.example.', 'k8udemvp1j2f7eg6jebps17vp3n8i58h'],
  ['*.w.example.', 'r53bq7cc2uvmubfu5ocmm6pers9tk9en'],
  ['x.w.example.', 'b4um86eghhds6nea196smvmlo4ors995'],
  ['y.w.example.', 'ji6neoaepv8b5o6k4ev33abha8ht9fgc'],
  ['x.y.w.example.', '2vptu5timamqttgl4luu9kg21e0aor3s'],
  ['xx.example.', 't644ebqk9bibcna874givr6joj62mlhv'],
  ['2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.', 'kohar7mbb8dc2ce8a9qvl8hon4k53uhi'],
];

const RFC_CHAIN = nsec3Chain('example.', RFC_ZONE, RFC_P);
/** The same zone without opt-out, to see the proofs secure. */
const RFC_CHAIN_SIGNED = nsec3Chain('example.', RFC_ZONE, { ...RFC_P, flags: 0 });

const byHash = (chain: Record[], ...hashes: string[]): Record[] =>
  hashes.map((h) => {
    const r = chain.find((x) => ownerHash(x) === h);
    assert.ok(r, `no NSEC3 ${h}`);
    return r;
  });

test('RFC 5155 appendix A: the hashed owner names (salt aabbccdd, 12 iterations)', () => {
  for (const [name, hash] of RFC_HASHES) assert.equal(base32hexEncode(nsec3Hash(n(name), RFC_P.salt, RFC_P.iterations)), hash, name);
  assert.equal(base32hexEncode(nsec3Hash(n('EXAMPLE.'), RFC_P.salt, RFC_P.iterations)), '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom');
  assert.deepEqual(RFC_CHAIN.map(ownerHash), RFC_HASHES.map(([, h]) => h).sort());
  // The appendix's first record: example. -> ns1.example., with the apex types.
  const first = parseNsec3(RFC_CHAIN[0]!.rdata);
  assert.equal(base32hexEncode(first.nextHashed), '2t7b4g4vsa5smi47k61mv5bv1a22bojr');
  assert.deepEqual([...first.types].sort((a, b) => a - b), [NS, SOA, MX, RRSIG, DNSKEY, NSEC3PARAM]);
});

test('RFC 5155 B.1: name error for a.c.x.w.example', () => {
  const hashes = ['0p9mhaveqvm6t7vbl5lop2u3t2rp3tom', 'b4um86eghhds6nea196smvmlo4ors995', '35mthgpgcu1qg68fab165klnsnk3dpvl'];
  // Every record of appendix A has the opt-out flag: proven, but no AD (9.2).
  isInsecure(proveNxdomain(input('a.c.x.w.example.', A, byHash(RFC_CHAIN, ...hashes))), /opt-out/);
  const proof = byHash(RFC_CHAIN_SIGNED, ...hashes);
  isSecure(proveNxdomain(input('a.c.x.w.example.', A, proof)));
  for (const r of proof) isBogus(proveNxdomain(input('a.c.x.w.example.', A, proof.filter((x) => x !== r))));
});

test('RFC 5155 B.2 and B.2.1: no data for ns1.example MX and for the empty non-terminal y.w.example', () => {
  isSecure(proveNodata(input('ns1.example.', MX, byHash(RFC_CHAIN, '2t7b4g4vsa5smi47k61mv5bv1a22bojr'))));
  isBogus(proveNodata(input('ns1.example.', A, byHash(RFC_CHAIN, '2t7b4g4vsa5smi47k61mv5bv1a22bojr'))), /type exists/);
  isSecure(proveNodata(input('y.w.example.', A, byHash(RFC_CHAIN, 'ji6neoaepv8b5o6k4ev33abha8ht9fgc'))));
});

test('RFC 5155 B.3: referral to the opt-out unsigned zone c.example', () => {
  const proof = byHash(RFC_CHAIN, '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom', '35mthgpgcu1qg68fab165klnsnk3dpvl');
  isInsecure(proveNoDs(input('c.example.', DS, proof)), /opt-out/);
  isInsecure(proveNodata(input('c.example.', DS, proof)), /opt-out/);
  isBogus(proveNoDs(input('c.example.', DS, proof.slice(1))), /closest encloser/);
  // a.example is a signed delegation: it has a DS.
  isBogus(proveNoDs(input('a.example.', DS, byHash(RFC_CHAIN, '35mthgpgcu1qg68fab165klnsnk3dpvl'))), /type exists/);
});

test('RFC 5155 B.4: wildcard expansion a.z.w.example from *.w.example', () => {
  const hash = 'q04jkcevqvmu85r014c7dkba38o0ji5r';
  const w = (records: Record[], labels = 2) => proveWildcardAnswer({ ...input('a.z.w.example.', MX, records), wildcardLabels: labels });
  isInsecure(w(byHash(RFC_CHAIN, hash)), /opt-out/);
  isSecure(w(byHash(RFC_CHAIN_SIGNED, hash)));
  isBogus(w(byHash(RFC_CHAIN_SIGNED, 'k8udemvp1j2f7eg6jebps17vp3n8i58h')));
});

test('RFC 5155 B.5: wildcard no data for a.z.w.example AAAA', () => {
  const hashes = ['k8udemvp1j2f7eg6jebps17vp3n8i58h', 'q04jkcevqvmu85r014c7dkba38o0ji5r', 'r53bq7cc2uvmubfu5ocmm6pers9tk9en'];
  isInsecure(proveNodata(input('a.z.w.example.', AAAA, byHash(RFC_CHAIN, ...hashes))), /opt-out/);
  const proof = byHash(RFC_CHAIN_SIGNED, ...hashes);
  isSecure(proveNodata(input('a.z.w.example.', AAAA, proof)));
  isBogus(proveNodata(input('a.z.w.example.', MX, proof)), /wildcard: the type exists/);
  for (const r of proof) isBogus(proveNodata(input('a.z.w.example.', AAAA, proof.filter((x) => x !== r))));
});

test('Edge cases: an exact NSEC3 budget, a child-side NSEC3 for DS, and the NSEC wrap-around for NODATA', () => {
  // Exactly enough budget: H(c.example), H(example), H(*.example) = 3 hashes, then 0 left and the next proof is bogus.
  const proof = n3Proof(CHAIN3, P, 'example.', 'c.example.', '*.example.');
  const budget = { hashes: 3 };
  isSecure(proveNxdomain(input('c.example.', A, proof, { budget })));
  assert.equal(budget.hashes, 0);
  isBogus(proveNxdomain(input('c.example.', A, proof, { budget })), /NSEC3 hash budget exhausted/);
  assert.equal(budget.hashes, 0);
  // The NSEC3 at the child apex (SOA bit) cannot deny the DS above it (RFC 4035 5.2, RFC 6840 4.4).
  const child = nsec3Chain('sub.example.', [['sub.example.', [SOA, NS, DNSKEY]], ['www.sub.example.', [A]]], P);
  const sub = { zone: n('sub.example.') };
  isBogus(proveNodata(input('sub.example.', DS, child, sub)), /child/);
  isBogus(proveNoDs(input('sub.example.', DS, child, { zone: n('example.') })), /no usable/);
  // Wildcard NODATA with the last NSEC3 of the chain wrapping around: the names themselves choose the records.
  isSecure(proveNodata(input('foo.w.example.', MX, CHAIN3)));
  // NSEC NODATA for a wildcard match through the last NSEC (z.example -> example).
  const zone: ZoneData = [['example.', [SOA, NS]], ['a.example.', [A]], ['*.example.', [TXT]]];
  const chain = nsecChain(zone);
  isSecure(proveNodata(input('zz.example.', MX, chain)));
  isBogus(proveNodata(input('zz.example.', TXT, chain)), /wildcard: the type exists/);
  isSecure(proveWildcardAnswer({ ...input('zz.example.', TXT, at(chain, 'a.example.')), wildcardLabels: 1 }));
});
