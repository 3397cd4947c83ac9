/**
 * The lab's authoritative server, asked directly (RD=0) as a resolver would:
 * RFC 1034 4.3.2 answers, referrals, wildcards, negative answers, truncation;
 * the edge servers; and the zone files agreeing with the server table.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Rcode, Type } from '../src/dns/constants.js';
import { makeEdns } from '../src/dns/edns.js';
import { decodeMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { AuthData, AuthZone } from '../src/lab/authserver.js';
import type { AuthAnswer } from '../src/lab/authserver.js';
import { LAB_SERVERS, startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { rdataToIp } from '../src/resolver/iterator/iterator.js';
import { parseZoneString } from '../src/rpz/masterfile.js';
import { ask, udpExchange } from './helpers/client.js';
import { answerLines, record } from './helpers/lab.js';

let lab: Lab;
before(async () => { lab = await startLab(); });
after(() => lab?.stop());

const EX = '127.55.2.1';
const q = (name: string, type: number, address: string, opts: { tcp?: boolean; edns?: number } = {}) =>
  ask(name, type, 53, { address, rd: false, tcp: opts.tcp ?? false, ...(opts.edns ? { edns: makeEdns(opts.edns) } : {}) });

test('data: AA set, RA clear, the question echoed byte for byte (0x20)', async () => {
  const raw = encodeMessage(makeQuery(77, nameFromText('wWw.ExAmple.COM.'), Type.A));
  const m = decodeMessage((await udpExchange(raw, 53, EX))!);
  assert.equal(m.aa, true);
  assert.equal(m.ra, false);
  assert.equal(m.id, 77);
  assert.equal(m.questions[0]!.name.toString('latin1'), '\x03wWw\x07ExAmple\x03COM\x00');
  assert.deepEqual(answerLines(m), ['www.example.com. A 192.0.2.10']);
});

test('referral: NS in authority, in-bailiwick glue in additional, AA clear', async () => {
  const m = await q('www.example.com.', Type.A, '127.55.1.1');
  assert.equal(m.rcode, Rcode.NOERROR);
  assert.equal(m.aa, false);
  assert.equal(m.answers.length, 0);
  assert.deepEqual(m.authorities.map(record).sort(), ['example.com. NS ns1.example.com.', 'example.com. NS ns2.example.com.']);
  assert.deepEqual(m.additionals.map(record).sort(), ['ns1.example.com. A 127.55.2.1', 'ns2.example.com. A 127.55.2.2']);
  const glueless = await q('www.glueless.com.', Type.A, '127.55.1.1');
  assert.deepEqual(glueless.authorities.map(record), ['glueless.com. NS ns1.dnshost.org.']);
  assert.equal(glueless.additionals.length, 0, 'no glue for a name in another zone');
});

test('a server serving parent and child answers from the child (root and lab.)', async () => {
  const m = await q('a.gtld.lab.', Type.A, '127.55.0.1');
  assert.equal(m.aa, true);
  assert.deepEqual(answerLines(m), ['a.gtld.lab. A 127.55.1.1']);
});

test('REFUSED outside the zones served', async () => {
  assert.equal((await q('www.example.org.', Type.A, EX)).rcode, Rcode.REFUSED);
  assert.equal((await q('www.example.org.', Type.A, EX, { tcp: true })).rcode, Rcode.REFUSED);
});

test('NXDOMAIN and NODATA carry the SOA, its TTL the SOA minimum (RFC 2308 3)', async () => {
  const nx = await q('nope.example.com.', Type.A, EX);
  assert.equal(nx.rcode, Rcode.NXDOMAIN);
  assert.equal(nx.aa, true);
  assert.equal(nx.authorities.length, 1);
  assert.equal(nx.authorities[0]!.type, Type.SOA);
  assert.equal(nx.authorities[0]!.ttl, 300);
  const nodata = await q('v4only.example.com.', Type.AAAA, EX);
  assert.equal(nodata.rcode, Rcode.NOERROR);
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authorities[0]!.type, Type.SOA);
  const ent = await q('ent.example.com.', Type.A, EX);
  assert.equal(ent.rcode, Rcode.NOERROR, 'an empty non-terminal exists');
});

test('wildcards: synthesised with the query name, not over existing names (RFC 4592)', async () => {
  const w = await q('x.y.wild.example.com.', Type.A, EX);
  assert.deepEqual(answerLines(w), ['x.y.wild.example.com. A 192.0.2.50']);
  const exists = await q('exists.wild.example.com.', Type.TXT, EX);
  assert.equal(exists.rcode, Rcode.NOERROR);
  assert.equal(exists.answers.length, 0);
  const below = await q('a.exists.wild.example.com.', Type.A, EX);
  assert.equal(below.rcode, Rcode.NXDOMAIN, 'the closest encloser is exists.wild, which has no wildcard child');
});

test('CNAME followed inside the zone, not into another; DNAME synthesises a CNAME', async () => {
  assert.deepEqual(answerLines(await q('alias.example.com.', Type.A, EX)), ['alias.example.com. CNAME www.example.com.', 'www.example.com. A 192.0.2.10']);
  assert.deepEqual(answerLines(await q('chain.example.com.', Type.A, EX)), ['chain.example.com. CNAME www.example.org.']);
  assert.deepEqual(answerLines(await q('alias.example.com.', Type.CNAME, EX)), ['alias.example.com. CNAME www.example.com.']);
  assert.deepEqual(answerLines(await q('www.legacy.example.com.', Type.A, EX)), ['legacy.example.com. DNAME example.org.', 'www.legacy.example.com. CNAME www.example.org.']);
});

test('UDP: 512 bytes without EDNS, the EDNS size when given; TCP: everything', async () => {
  const plain = await q('bigtxt.example.com.', Type.TXT, EX);
  assert.equal(plain.tc, true);
  assert.equal(plain.answers.length, 0);
  const e1232 = await q('bigtxt.example.com.', Type.TXT, EX, { edns: 1232 });
  assert.equal(e1232.tc, true);
  assert.ok(e1232.edns, 'OPT in the reply to an EDNS query');
  const e4096 = await q('bigtxt.example.com.', Type.TXT, EX, { edns: 4096 });
  assert.equal(e4096.tc, false);
  assert.equal(e4096.answers.length, 6);
  const tcp = await q('bigtxt.example.com.', Type.TXT, EX, { tcp: true });
  assert.equal(tcp.tc, false);
  assert.equal(tcp.answers.length, 6);
});

test('edge servers: REFUSED, a non-AA referral upwards, added out-of-bailiwick records', async () => {
  assert.equal((await q('www.lame.net.', Type.A, '127.55.5.2')).rcode, Rcode.REFUSED);
  const up = await q('www.lame.org.', Type.A, '127.55.5.4');
  assert.equal(up.aa, false);
  assert.deepEqual(up.authorities.map(record).sort(), ['. NS a.root.lab.', '. NS b.root.lab.']);
  const p = await q('www.poisoner.net.', Type.A, '127.55.7.1');
  assert.deepEqual(answerLines(p), ['www.example.com. A 203.0.113.66', 'www.poisoner.net. A 198.51.100.66']);
  assert.ok(p.authorities.some((r) => nameToText(r.name) === 'example.com.'));
});

test('the zone files agree with the server table', () => {
  const byName = new Map(LAB_SERVERS.map((s) => [s.name, s]));
  for (const s of LAB_SERVERS) {
    for (const origin of s.zones) {
      const zone = lab.zones.get(origin)!;
      const ns = zone.rrset(zone.apex, Type.NS)!.map((r) => nameToText(r.rdata));
      assert.ok(ns.includes(s.name + '.'), `${s.name} serves ${origin} but is not in its NS set`);
      for (const target of ns) assert.ok(byName.has(target.slice(0, -1)), `${origin} NS ${target}: not in the server table`);
    }
  }
  // Every address any zone gives a lab server is that server's address.
  for (const [origin, zone] of lab.zones) {
    for (const s of LAB_SERVERS) {
      for (const r of zone.addresses(nameFromText(s.name + '.'))) assert.equal(rdataToIp(r), s.address, `${origin}: ${s.name}`);
    }
  }
  for (const s of LAB_SERVERS) assert.match(s.address, /^127\.55\.[0-9]\.[0-9]+$/, 'lab servers stay in 127.55.0-9.x');
});

test('the answer engine alone: DNAME at an apex, CNAME loops, DS at a cut, ANY', () => {
  const records: Record[] = [];
  parseZoneString(`$ORIGIN old.test.
@ 300 IN SOA ns hostmaster 1 2 3 4 60
@ IN NS ns
@ IN DNAME new.test.
ns IN A 192.0.2.1
`, (r) => records.push(r), { origin: nameFromText('old.test.') });
  const other: Record[] = [];
  parseZoneString(`$ORIGIN new.test.
@ 300 IN SOA ns hostmaster 1 2 3 4 60
@ IN NS ns
ns IN A 192.0.2.2
loop1 IN CNAME loop2
loop2 IN CNAME loop1
child IN NS ns.child
ns.child IN A 192.0.2.3
www IN A 192.0.2.4
www IN TXT "x"
`, (r) => other.push(r), { origin: nameFromText('new.test.') });
  const data = new AuthData([new AuthZone(nameFromText('old.test.'), records), new AuthZone(nameFromText('new.test.'), other)]);
  const lines = (a: AuthAnswer | undefined) => a!.answers.map(record).sort();
  // DNAME at the apex rewrites names below it; the target zone is another zone, so the chain stops there.
  assert.deepEqual(lines(data.lookup(nameFromText('www.old.test.'), Type.A)), ['old.test. DNAME new.test.', 'www.old.test. CNAME www.new.test.']);
  assert.deepEqual(lines(data.lookup(nameFromText('old.test.'), Type.A)), [], 'the apex itself is not rewritten');
  // A CNAME loop ends after each name once.
  assert.deepEqual(lines(data.lookup(nameFromText('loop1.new.test.'), Type.A)), ['loop1.new.test. CNAME loop2.new.test.', 'loop2.new.test. CNAME loop1.new.test.']);
  // Below a cut: referral with glue; DS at the cut: the parent answers (NODATA here).
  const ref = data.lookup(nameFromText('www.child.new.test.'), Type.A)!;
  assert.equal(ref.aa, false);
  assert.deepEqual(ref.additional.map(record), ['ns.child.new.test. A 192.0.2.3']);
  const ds = data.lookup(nameFromText('child.new.test.'), Type.DS)!;
  assert.equal(ds.aa, true);
  assert.equal(ds.authority[0]!.type, Type.SOA);
  assert.deepEqual(lines(data.lookup(nameFromText('www.new.test.'), Type.ANY)), ['www.new.test. A 192.0.2.4', 'www.new.test. TXT "x"']);
  assert.equal(data.lookup(nameFromText('elsewhere.test.'), Type.A), undefined, 'REFUSED outside the zones');
});
