/**
 * The validator and the iterator together against a scripted signed internet
 * (no sockets, no clock but the one given): a signed root, a signed child with
 * NSEC, one with NSEC3, an unsigned child, and children broken on purpose.
 * Each scenario: the verdict (secure / insecure / bogus with its EDE), and the
 * records a DO client would get.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { emptyMessage } from '../src/dns/message.js';
import type { Message, Record } from '../src/dns/message.js';
import { compareNames, isSubdomain, labelCount, nameKey, namesEqual, parentName } from '../src/dns/name.js';
import type { Name } from '../src/dns/name.js';
import { TrustAnchorStore } from '../src/dnssec/anchors.js';
import { NsecGaps } from '../src/dnssec/aggressive.js';
import { base32hexEncode, encodeTypeBitmap, nsec3Hash } from '../src/dnssec/records.js';
import { dsFor, generateSigningKey, signRrset } from '../src/dnssec/sign.js';
import type { SigningKey } from '../src/dnssec/sign.js';
import { Validator } from '../src/dnssec/validator.js';
import { ResolverCache } from '../src/resolver/cache/cache.js';
import { Iterator } from '../src/resolver/iterator/iterator.js';
import type { Budget, Resolved } from '../src/resolver/iterator/iterator.js';
import { ServerSelection } from '../src/resolver/selection.js';
import { n, rr, ScriptedNet } from './helpers/scripted-net.js';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const S = Math.floor(NOW / 1000);

interface SignedZone {
  apex: Name;
  records: Record[];
  nsec3?: { salt: Buffer; iterations: number };
  /** Signature window override (expired zones). */
  window?: [number, number];
  ksk: SigningKey;
  zsk: SigningKey;
}

const groupKey = (r: Record) => nameKey(r.name) + '/' + r.type;

/** Sign a zone the simple way a test needs: DNSKEY by the KSK, everything authoritative by the ZSK, an NSEC or NSEC3 chain. */
function sign(z: SignedZone): Record[] {
  const out: Record[] = [...z.records, { name: z.apex, type: Type.DNSKEY, class: 1, ttl: 3600, rdata: z.ksk.rdata }, { name: z.apex, type: Type.DNSKEY, class: 1, ttl: 3600, rdata: z.zsk.rdata }];
  const cuts = out.filter((r) => r.type === Type.NS && !namesEqual(r.name, z.apex)).map((r) => r.name);
  const glue = (r: Record) => cuts.some((c) => isSubdomain(r.name, c) && !(namesEqual(r.name, c) && (r.type === Type.NS || r.type === Type.DS || r.type === Type.NSEC)));
  const owners = new Map<string, { name: Name; types: Set<number> }>();
  for (const r of out) {
    if (glue(r)) continue;
    const o = owners.get(nameKey(r.name)) ?? { name: r.name, types: new Set<number>() };
    o.types.add(r.type);
    owners.set(nameKey(r.name), o);
  }
  const chain: Record[] = [];
  if (z.nsec3) {
    const { salt, iterations } = z.nsec3;
    // Empty non-terminals get NSEC3 too (RFC 5155 7.1).
    for (const o of [...owners.values()]) {
      for (let p = parentName(o.name); labelCount(p) > labelCount(z.apex); p = parentName(p)) if (!owners.has(nameKey(p))) owners.set(nameKey(p), { name: p, types: new Set() });
    }
    const hashed = [...owners.values()].map((o) => ({ h: nsec3Hash(o.name, salt, iterations), o })).sort((a, b) => a.h.compare(b.h));
    hashed.forEach((x, i) => {
      const next = hashed[(i + 1) % hashed.length]!.h;
      const types = new Set(x.o.types);
      if (types.size && !(types.has(Type.NS) && !namesEqual(x.o.name, z.apex) && !types.has(Type.DS))) types.add(Type.RRSIG);
      if (namesEqual(x.o.name, z.apex)) types.add(51);
      const rdata = Buffer.concat([Buffer.from([1, 0, iterations >> 8, iterations & 0xff, salt.length]), salt, Buffer.from([20]), next, encodeTypeBitmap(types)]);
      chain.push({ name: Buffer.concat([Buffer.from([32]), Buffer.from(base32hexEncode(x.h)), z.apex]), type: Type.NSEC3, class: 1, ttl: 300, rdata });
    });
    const p = Buffer.concat([Buffer.from([1, 0, iterations >> 8, iterations & 0xff, salt.length]), salt]);
    out.push({ name: z.apex, type: 51, class: 1, ttl: 300, rdata: p });
  } else {
    const sorted = [...owners.values()].sort((a, b) => compareNames(a.name, b.name));
    sorted.forEach((o, i) => {
      const next = sorted[(i + 1) % sorted.length]!.name;
      chain.push({ name: o.name, type: Type.NSEC, class: 1, ttl: 300, rdata: Buffer.concat([next, encodeTypeBitmap([...o.types, Type.NSEC, Type.RRSIG])]) });
    });
  }
  out.push(...chain);
  const [inc, exp] = z.window ?? [S - 3600, S + 30 * 86400];
  const sets = new Map<string, Record[]>();
  for (const r of out) {
    if (glue(r) || (r.type === Type.NS && !namesEqual(r.name, z.apex))) continue;
    const k = groupKey(r);
    sets.set(k, [...(sets.get(k) ?? []), r]);
  }
  for (const set of sets.values()) out.push(signRrset(set, set[0]!.type === Type.DNSKEY ? z.ksk : z.zsk, inc, exp));
  return out;
}

/** A DNSSEC-aware authoritative answer over signed zones (enough for the scenarios; the lab's server is the full one). */
function server(zones: { apex: Name; records: Record[] }[], opts: { strip?: boolean } = {}) {
  return (q: { name: Name; type: number }): Message => {
    const zone = zones.filter((z) => isSubdomain(q.name, z.apex) && !(q.type === Type.DS && namesEqual(q.name, z.apex) && z.apex.length > 1))
      .sort((a, b) => b.apex.length - a.apex.length)[0]!;
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    const R = zone.records;
    const sigsOf = (set: Record[]) => opts.strip ? [] : R.filter((r) => r.type === Type.RRSIG && namesEqual(r.name, set[0]!.name) && r.rdata.readUInt16BE(0) === set[0]!.type);
    const withSigs = (set: Record[]) => [...set, ...sigsOf(set)];
    const proof = () => R.filter((r) => r.type === Type.NSEC || r.type === Type.NSEC3 || (r.type === Type.RRSIG && ([Type.NSEC, Type.NSEC3] as number[]).includes(r.rdata.readUInt16BE(0)))).filter((r) => !opts.strip || r.type !== Type.RRSIG);
    const soa = () => withSigs(R.filter((r) => r.type === Type.SOA));
    const cut = R.find((r) => r.type === Type.NS && !namesEqual(r.name, zone.apex) && isSubdomain(q.name, r.name) && !(q.type === Type.DS && namesEqual(q.name, r.name)));
    if (cut) {
      m.aa = false;
      const ds = R.filter((r) => r.type === Type.DS && namesEqual(r.name, cut.name));
      m.authorities = [...R.filter((r) => r.type === Type.NS && namesEqual(r.name, cut.name)), ...(ds.length ? withSigs(ds) : proof())];
      m.additionals = R.filter((r) => r.type === Type.A && m.authorities.some((ns) => ns.type === Type.NS && namesEqual(ns.rdata, r.name)));
      return m;
    }
    const at = R.filter((r) => namesEqual(r.name, q.name) && r.type !== Type.RRSIG);
    const data = at.filter((r) => r.type === q.type);
    if (data.length) {
      m.answers = withSigs(data);
      return m;
    }
    const cname = at.filter((r) => r.type === Type.CNAME);
    if (cname.length) {
      m.answers = withSigs(cname);
      return m;
    }
    const exists = R.some((r) => isSubdomain(r.name, q.name) && r.type !== Type.NSEC3);
    if (!exists) {
      // Wildcard at the closest encloser?
      for (let p = parentName(q.name); isSubdomain(p, zone.apex); p = parentName(p)) {
        const wname = Buffer.concat([Buffer.from([1, 0x2a]), p]);
        const w = R.filter((r) => namesEqual(r.name, wname) && r.type === q.type);
        if (w.length) {
          m.answers = [...w.map((r) => ({ ...r, name: q.name })), ...sigsOf(w).map((r) => ({ ...r, name: q.name }))];
          m.authorities = proof();
          return m;
        }
        if (R.some((r) => isSubdomain(r.name, p) && !namesEqual(r.name, p)) || R.some((r) => namesEqual(r.name, p))) break;
      }
      m.rcode = Rcode.NXDOMAIN;
    }
    m.authorities = [...soa(), ...proof()];
    return m;
  };
}

function world() {
  const k = (owner: string, alg: number) => ({ ksk: generateSigningKey(n(owner), alg, 257), zsk: generateSigningKey(n(owner), alg, 256) });
  const rootK = k('.', 13);
  const exK = k('example.', 15);
  const n3K = k('nsec3.', 13);
  const badK = k('bad.', 13);
  const oldK = k('old.', 13);
  const soa = (z: string) => rr(z, 'SOA', `ns.${z === '.' ? '' : z}`.replace(/\.$/, '') + '.', 300);
  const ex = sign({
    apex: n('example.'), ...exK, records: [
      soa('example.'), rr('example.', 'NS', 'ns.example.'), rr('ns.example.', 'A', '10.0.0.2'),
      rr('www.example.', 'A', '192.0.2.1'), rr('alias.example.', 'CNAME', 'www.example.'), rr('*.wild.example.', 'A', '192.0.2.9'),
      rr('x.ent.example.', 'TXT', 'below an empty non-terminal'),
    ],
  });
  const n3 = sign({
    apex: n('nsec3.'), ...n3K, nsec3: { salt: Buffer.from('aabb', 'hex'), iterations: 3 }, records: [
      soa('nsec3.'), rr('nsec3.', 'NS', 'ns.nsec3.'), rr('ns.nsec3.', 'A', '10.0.0.3'), rr('www.nsec3.', 'A', '192.0.2.3'),
      rr('*.wild.nsec3.', 'TXT', 'wild'),
    ],
  });
  const unsigned = [soa('plain.'), rr('plain.', 'NS', 'ns.plain.'), rr('ns.plain.', 'A', '10.0.0.4'), rr('www.plain.', 'A', '192.0.2.4')];
  const bad = sign({ apex: n('bad.'), ...badK, records: [soa('bad.'), rr('bad.', 'NS', 'ns.bad.'), rr('ns.bad.', 'A', '10.0.0.5'), rr('www.bad.', 'A', '192.0.2.5')] });
  // Corrupt the signature of www.bad. A.
  const sig = bad.find((r) => r.type === Type.RRSIG && namesEqual(r.name, n('www.bad.')))!;
  sig.rdata = Buffer.from(sig.rdata);
  sig.rdata[sig.rdata.length - 1]! ^= 0xff;
  const old = sign({ apex: n('old.'), ...oldK, window: [S - 20 * 86400, S - 86400], records: [soa('old.'), rr('old.', 'NS', 'ns.old.'), rr('ns.old.', 'A', '10.0.0.6'), rr('www.old.', 'A', '192.0.2.6')] });
  const root = sign({
    apex: n('.'), ...rootK, records: [
      rr('.', 'SOA', 'ns.root.', 300), rr('.', 'NS', 'ns.root.'), rr('ns.root.', 'A', '10.0.0.1'),
      ...['example', 'nsec3', 'plain', 'bad', 'old', 'stripped'].flatMap((t, i) => [rr(`${t}.`, 'NS', `ns.${t}.`), rr(`ns.${t}.`, 'A', `10.0.0.${i + 2}`)]),
      dsFor(exK.ksk), dsFor(n3K.ksk), dsFor(badK.ksk), dsFor(oldK.ksk),
    ].map((r) => (r.type === Type.DS ? { ...r, ttl: 3600 } : r)),
  });
  const strippedK = k('stripped.', 13);
  const stripped = sign({ apex: n('stripped.'), ...strippedK, records: [soa('stripped.'), rr('stripped.', 'NS', 'ns.stripped.'), rr('ns.stripped.', 'A', '10.0.0.7'), rr('www.stripped.', 'A', '192.0.2.7')] });
  root.push(...sign({ apex: n('.'), ...rootK, records: [dsFor(strippedK.ksk)] }).filter((r) => r.type === Type.DS || (r.type === Type.RRSIG && r.rdata.readUInt16BE(0) === Type.DS)));
  const net = new ScriptedNet(new Map([
    ['10.0.0.1', server([{ apex: n('.'), records: root }])],
    ['10.0.0.2', server([{ apex: n('example.'), records: ex }])],
    ['10.0.0.3', server([{ apex: n('nsec3.'), records: n3 }])],
    ['10.0.0.4', server([{ apex: n('plain.'), records: unsigned }])],
    ['10.0.0.5', server([{ apex: n('bad.'), records: bad }])],
    ['10.0.0.6', server([{ apex: n('old.'), records: old }])],
    ['10.0.0.7', server([{ apex: n('stripped.'), records: stripped }], { strip: true })],
  ]));
  const anchors = new TrustAnchorStore([{ zone: n('.'), ds: [dsFor(rootK.ksk)], dnskey: [] }]);
  let it!: Iterator;
  const validator = new Validator<Budget>({ anchors, fetch: (name, type, b, v) => it.fetchForValidator(name, type, b, v), now: () => NOW, bogusTtl: 60, nsec3MaxIterations: 150 });
  const cache = new ResolverCache({ maxEntries: 10_000, maxTtl: 86400, maxNegativeTtl: 3600, now: () => NOW });
  const gaps = new NsecGaps(1000, () => NOW);
  it = new Iterator({
    rootHints: [{ name: 'ns.root.', address: '10.0.0.1' }], qnameMinimisation: false, upstreamTimeoutMs: 100, maxQueries: 200, maxDepth: 16,
    maxCnameHops: 8, queryTimeoutMs: 5000, maxNsPerReferral: 8,
    dnssec: { validator, bogusTtl: 60, maxValidations: 64, maxNsec3Hashes: 128, gaps },
  }, net, cache, new ServerSelection(() => NOW), () => NOW);
  const resolve = (name: string, type: number, cd = false): Promise<Resolved> => it.resolve(n(name), type, it.newBudget(cd));
  return { resolve, net, anchors, validator, cache, it };
}

const w = world();
const types = (rs: Record[]) => rs.map((r) => r.type);

test('secure answers: an RRset with its RRSIG, through a CNAME, over NSEC and NSEC3 zones', async () => {
  const a = await w.resolve('www.example.', Type.A);
  assert.equal(a.rcode, Rcode.NOERROR);
  assert.equal(a.secure, true);
  assert.deepEqual(types(a.dnssec!.answers), [Type.A, Type.RRSIG]);
  assert.deepEqual(types(a.answers), [Type.A], 'the plain answer has no RRSIG');
  const c = await w.resolve('alias.example.', Type.A);
  assert.equal(c.secure, true);
  assert.deepEqual(types(c.answers), [Type.CNAME, Type.A]);
  const b = await w.resolve('www.nsec3.', Type.A);
  assert.equal(b.secure, true);
});

test('secure denial: NXDOMAIN and NODATA by NSEC and NSEC3, empty non-terminals, wildcards', async () => {
  for (const [name, type, rcode] of [
    ['nope.example.', Type.A, Rcode.NXDOMAIN], ['www.example.', Type.TXT, Rcode.NOERROR], ['ent.example.', Type.A, Rcode.NOERROR],
    ['nope.nsec3.', Type.A, Rcode.NXDOMAIN], ['www.nsec3.', Type.TXT, Rcode.NOERROR], ['a.b.nsec3.', Type.A, Rcode.NXDOMAIN],
  ] as const) {
    const r = await w.resolve(name, type);
    assert.equal(r.rcode, rcode, name);
    assert.equal(r.secure, true, `${name} secure`);
    assert.ok(r.dnssec!.authority.some((x) => x.type === Type.NSEC || x.type === Type.NSEC3), `${name}: proof for DO clients`);
  }
  const wild = await w.resolve('anything.wild.example.', Type.A);
  assert.equal(wild.secure, true, 'wildcard answer (NSEC)');
  assert.ok(wild.dnssec!.authority.some((x) => x.type === Type.NSEC));
  const wild3 = await w.resolve('anything.wild.nsec3.', Type.TXT);
  assert.equal(wild3.secure, true, 'wildcard answer (NSEC3)');
});

test('an unsigned child with no DS is insecure; the DS absence is proven by the parent', async () => {
  const r = await w.resolve('www.plain.', Type.A);
  assert.equal(r.rcode, Rcode.NOERROR, r.ede?.text);
  assert.equal(r.secure, false);
  assert.equal(r.answers.length, 1);
});

test('bogus: bad signature (EDE 6), expired (EDE 7), RRSIGs stripped (EDE 10); CD gives the data', async () => {
  for (const [name, ede] of [['www.bad.', Ede.DNSSEC_BOGUS], ['www.old.', Ede.SIGNATURE_EXPIRED], ['www.stripped.', Ede.RRSIGS_MISSING]] as const) {
    const r = await w.resolve(name, Type.A);
    assert.equal(r.rcode, Rcode.SERVFAIL, name);
    assert.equal(r.ede?.code, ede, `${name}: ${r.ede?.text}`);
    const cd = await w.resolve(name, Type.A, true);
    assert.equal(cd.rcode, Rcode.NOERROR, `${name} with CD`);
    assert.equal(cd.secure, false);
    assert.equal(cd.answers.length, 1);
  }
});

test('a negative trust anchor makes a bogus zone insecure', async () => {
  w.anchors.addNegative(n('bad.'));
  w.validator.clear();
  w.cache.flush(n('bad.'));
  const r = await w.resolve('www.bad.', Type.A);
  assert.equal(r.rcode, Rcode.NOERROR);
  assert.equal(r.secure, false);
  w.anchors.removeNegative(n('bad.'));
});

test('RFC 8198: a name in a validated NSEC gap is answered without a query', async () => {
  await w.resolve('aaa.example.', Type.A);
  const before = w.net.log.length;
  const r = await w.resolve('aab.example.', Type.A);
  assert.equal(r.rcode, Rcode.NXDOMAIN);
  assert.equal(r.secure, true);
  assert.equal(w.net.log.length, before, 'no upstream query');
});

test('a validated RRset is validated once: the second lookup checks no signature', async () => {
  await w.resolve('www.nsec3.', Type.A);
  const budget = w.it.newBudget();
  const r = await w.it.resolve(n('www.nsec3.'), Type.A, budget);
  assert.equal(r.secure, true);
  assert.equal(budget.dnssec.sigs, 64, 'no signature checked again');
});
