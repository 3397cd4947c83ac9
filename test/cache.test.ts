import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { decodeRecords, encodeRecords, ResolverCache, Trust } from '../src/resolver/cache/cache.js';
import { decodeMessage, emptyMessage, encodeMessage } from '../src/dns/message.js';
import { AnswerCache, replyLength } from '../src/resolver/cache/answers.js';

const n = (t: string) => nameFromText(t);
const a = (owner: string, ttl: number): Record => ({ name: n(owner), type: Type.A, class: 1, ttl, rdata: Buffer.from([192, 0, 2, 1]) });
function soa(minimum: number, ttl: number): Record {
  const rdata = Buffer.concat([n('ns.example.'), n('host.example.'), Buffer.alloc(20)]);
  rdata.writeUInt32BE(minimum, rdata.length - 4);
  return { name: n('example.'), type: Type.SOA, class: 1, ttl, rdata };
}

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

test('TTLs count down and entries expire', () => {
  const c = clock();
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800, now: c.now });
  cache.putRRset([a('www.example.', 300)], Trust.AuthAnswer);
  assert.equal(cache.getRRset(n('WWW.example.'), Type.A)![0]!.ttl, 300);
  c.advance(100_500);
  assert.equal(cache.getRRset(n('www.example.'), Type.A)![0]!.ttl, 200);
  c.advance(200_000);
  assert.equal(cache.getRRset(n('www.example.'), Type.A), undefined);
});

test('an RRset takes the smallest TTL of its records and the configured maximum', () => {
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 3600, maxNegativeTtl: 10800 });
  cache.putRRset([a('x.example.', 900), a('x.example.', 600)], Trust.AuthAnswer);
  assert.deepEqual(cache.getRRset(n('x.example.'), Type.A)!.map((r) => r.ttl), [600, 600]);
  cache.putRRset([a('y.example.', 999999)], Trust.AuthAnswer);
  assert.equal(cache.getRRset(n('y.example.'), Type.A)![0]!.ttl, 3600);
});

test('glue never replaces authoritative data (RFC 2181 5.4.1)', () => {
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800 });
  cache.putRRset([a('ns.example.', 300)], Trust.AuthAnswer);
  cache.putRRset([{ ...a('ns.example.', 300), rdata: Buffer.from([6, 6, 6, 6]) }], Trust.Glue);
  assert.deepEqual([...cache.getRRset(n('ns.example.'), Type.A)![0]!.rdata], [192, 0, 2, 1]);
  assert.equal(cache.getRRset(n('ns.example.'), Type.A, Trust.Answer)!.length, 1);
  cache.putRRset([a('glue.example.', 300)], Trust.Glue);
  assert.equal(cache.getRRset(n('glue.example.'), Type.A, Trust.Answer), undefined, 'glue is not an answer');
});

test('negative answers are cached for min(SOA TTL, SOA minimum), capped (RFC 2308 5)', () => {
  const c = clock();
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 900, now: c.now });
  cache.putNegative(n('nope.example.'), Type.A, 'nxdomain', [soa(600, 3600)]);
  const neg = cache.getNegative(n('nope.example.'), Type.AAAA);
  assert.equal(neg?.kind, 'nxdomain', 'NXDOMAIN covers every type');
  assert.equal(neg?.soa[0]!.ttl, 600);
  cache.putNegative(n('www.example.'), Type.MX, 'nodata', [soa(3600, 7200)]);
  assert.equal(cache.getNegative(n('www.example.'), Type.MX)?.soa[0]!.ttl, 900, 'capped by max negative TTL');
  assert.equal(cache.getNegative(n('www.example.'), Type.A), undefined, 'NODATA is per type');
  c.advance(601_000);
  assert.equal(cache.getNegative(n('nope.example.'), Type.A), undefined);
});

test('the cache is bounded and flush removes a subtree', () => {
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800 });
  for (let i = 0; i < 500; i++) cache.putRRset([a(`h${i}.example.`, 300)], Trust.Answer);
  assert.equal(cache.size, 100);
  cache.flush();
  cache.putRRset([a('a.sub.example.', 300)], Trust.Answer);
  cache.putRRset([a('sub.example.', 300)], Trust.Answer);
  cache.putRRset([a('notsub.example.', 300)], Trust.Answer);
  assert.equal(cache.flush(n('sub.example.')), 2);
  assert.ok(cache.getRRset(n('notsub.example.'), Type.A));
});

test('serve-stale: expired data is kept max_stale_ttl past expiry, for getStale() only (RFC 8767)', () => {
  const c = clock();
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800, maxStaleTtl: 600, now: c.now });
  cache.putRRset([a('www.example.', 60)], Trust.AuthAnswer);
  assert.equal(cache.getStale(n('www.example.'), Type.A, 30), undefined, 'fresh data is not stale');
  c.advance(61_000);
  assert.equal(cache.getRRset(n('www.example.'), Type.A), undefined, 'expired: not fresh');
  assert.equal(cache.trustOf(n('www.example.'), Type.A), undefined);
  const stale = cache.getStale(n('www.example.'), Type.A, 30);
  assert.equal(stale?.kind, 'rrset');
  assert.deepEqual(stale.kind === 'rrset' && stale.records.map((r) => [r.ttl, [...r.rdata]]), [[30, [192, 0, 2, 1]]], 'TTL is the stale answer TTL');
  c.advance(598_000);
  assert.ok(cache.getStale(n('www.example.'), Type.A, 30), '599 s past expiry: still kept');
  c.advance(1_000);
  assert.equal(cache.getStale(n('www.example.'), Type.A, 30), undefined, '600 s past expiry: gone');
  assert.equal(cache.size, 0);
});

test('serve-stale off (no maxStaleTtl): expired entries are dropped as before', () => {
  const c = clock();
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800, now: c.now });
  cache.putRRset([a('www.example.', 60)], Trust.AuthAnswer);
  c.advance(61_000);
  assert.equal(cache.getRRset(n('www.example.'), Type.A), undefined);
  assert.equal(cache.size, 0);
  assert.equal(cache.getStale(n('www.example.'), Type.A, 30), undefined);
});

test('serve-stale: fresh data replaces stale, whatever its rank; TTL 0 data is never kept', () => {
  const c = clock();
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800, maxStaleTtl: 600, now: c.now });
  cache.putRRset([a('ns.example.', 60)], Trust.AuthAnswer);
  c.advance(61_000);
  cache.putRRset([{ ...a('ns.example.', 60), rdata: Buffer.from([192, 0, 2, 2]) }], Trust.Glue);
  assert.deepEqual([...cache.getRRset(n('ns.example.'), Type.A)![0]!.rdata], [192, 0, 2, 2], 'stale authoritative data does not block fresh glue');
  assert.equal(cache.getStale(n('ns.example.'), Type.A, 30), undefined);
  cache.putRRset([a('zero.example.', 0)], Trust.AuthAnswer);
  c.advance(1);
  assert.equal(cache.getStale(n('zero.example.'), Type.A, 30), undefined, 'TTL 0: not to be cached, so not served stale');
});

test('serve-stale: negative answers are kept too, and the newest of a name\'s stale entries wins', () => {
  const c = clock();
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800, maxStaleTtl: 3600, now: c.now });
  cache.putRRset([a('gone.example.', 60)], Trust.AuthAnswer);
  c.advance(61_000);
  cache.putNegative(n('gone.example.'), Type.A, 'nxdomain', [soa(300, 300)]);
  c.advance(301_000);
  const stale = cache.getStale(n('gone.example.'), Type.A, 30);
  assert.equal(stale?.kind, 'nxdomain', 'the name was deleted after its address was cached');
  assert.deepEqual(stale.kind === 'nxdomain' && stale.soa.map((r) => r.ttl), [30]);
  cache.putRRset([{ ...a('cname.example.', 60), type: Type.CNAME, rdata: n('www.example.') }], Trust.AuthAnswer);
  c.advance(61_000);
  const cname = cache.getStale(n('cname.example.'), Type.A, 30);
  assert.equal(cname?.kind === 'rrset' && cname.records[0]!.type, Type.CNAME, 'a stale CNAME at the name');
  assert.equal(cache.getStale(n('glue.example.'), Type.A, 30), undefined);
  cache.putRRset([a('glue.example.', 60)], Trust.Glue);
  c.advance(61_000);
  assert.equal(cache.getStale(n('glue.example.'), Type.A, 30), undefined, 'glue never answers, fresh or stale');
});

test('serve-stale: stale entries count against max_entries (LRU)', () => {
  const c = clock();
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 10800, maxStaleTtl: 86400, now: c.now });
  for (let i = 0; i < 100; i++) cache.putRRset([a(`old${i}.example.`, 60)], Trust.Answer);
  c.advance(61_000);
  for (let i = 0; i < 50; i++) cache.putRRset([a(`new${i}.example.`, 60)], Trust.Answer);
  assert.equal(cache.size, 100);
  assert.equal(cache.getStale(n('old0.example.'), Type.A, 30), undefined, 'the least recently used stale entries made room');
  assert.ok(cache.getStale(n('old99.example.'), Type.A, 30));
});

test('the wire form of an RRset: one buffer, records as views into it; entries keep no Buffer', () => {
  const m = emptyMessage({ qr: true, questions: [{ name: nameFromText('www.example.com.'), type: Type.A, class: 1 }] });
  for (let i = 1; i <= 3; i++) m.answers.push({ name: nameFromText('www.example.com.'), type: Type.A, class: 1, ttl: 300 + i, rdata: Buffer.from([192, 0, 2, i]) });
  const decoded = decodeMessage(encodeMessage(m)).answers;
  const wire = encodeRecords(decoded);
  assert.equal(wire.length, 4 + (1 + 17 + 6 + 4) + 2 * (1 + 6 + 4), 'the owner once, three RDATA');
  const back = decodeRecords(wire, 60).records;
  for (const r of back) {
    assert.equal(r.name.buffer, wire.buffer);
    assert.equal(r.rdata.buffer, wire.buffer);
    assert.equal(r.ttl, 60);
  }
  assert.deepEqual(back.map((r) => [...r.rdata]), decoded.map((r) => [...r.rdata]));
  assert.deepEqual(back.map((r) => [r.type, r.class, nameToText(r.name)]), decoded.map((r) => [r.type, r.class, nameToText(r.name)]));
  // The answer cache keeps a reply as one string: the reply's bytes, then its TTL offsets and times.
  const answers = new AnswerCache(10);
  const reply = encodeMessage(m);
  answers.store('k', reply, 60);
  const e = answers.lookup('k', 4096)!;
  assert.equal(typeof e, 'string');
  assert.equal(replyLength(e), reply.length);
  assert.equal(e.length, reply.length + 2 * 3 + 14, 'three TTL offsets, their count, two times');
  assert.ok(Buffer.from(e.slice(0, reply.length), 'latin1').equals(reply));
});

test('memory: a small RRset costs under 320 bytes of heap and nothing outside it; the cache is sized in bytes and grows with its contents', () => {
  // The premise of packed.ts: an entry is one string, no Buffer (whose backing store lives
  // outside the V8 heap and cost about 400 bytes more per entry before).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const N = 50_000;
  const measure = () => { gc(); gc(); const m = process.memoryUsage(); return { heap: m.heapUsed, outside: m.external + m.arrayBuffers }; };
  const m0 = measure();
  const cache = new ResolverCache({ maxBytes: 1 << 30, maxTtl: 3600, maxNegativeTtl: 900 });
  assert.ok(measure().heap - m0.heap < 1 << 20, 'nothing preallocated for the 1 GiB budget');
  for (let i = 0; i < N; i++) {
    const name = nameFromText(`n${i.toString(36)}.wild.example.com.`);
    cache.putRRset([{ name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, i & 255]) }], Trust.Answer);
  }
  const m1 = measure();
  assert.equal(cache.size, N);
  const heapPer = (m1.heap - m0.heap) / N;
  const outsidePer = (m1.outside - m0.outside) / N;
  assert.ok(heapPer < 320, `${heapPer.toFixed(0)} heap bytes per entry`);
  assert.ok(outsidePer < 8, `${outsidePer.toFixed(0)} bytes per entry outside the heap`);
  // Its own count is close to the heap it takes (within 25%): max_bytes means what it says.
  assert.ok(Math.abs(cache.bytes / N - heapPer) / heapPer < 0.25, `counted ${(cache.bytes / N).toFixed(0)} per entry, heap ${heapPer.toFixed(0)}`);
  // A byte budget evicts the least recently used entries.
  const small = new ResolverCache({ maxBytes: 100 * 260, maxTtl: 3600, maxNegativeTtl: 900 });
  for (let i = 0; i < 1000; i++) small.putRRset([{ name: nameFromText(`m${i}.example.`), type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) }], Trust.Answer);
  assert.ok(small.size > 50 && small.size <= 130, `${small.size} entries in a 100-entry budget`);
  assert.ok(small.bytes <= 100 * 260);
  assert.ok(small.getRRset(nameFromText('m999.example.'), Type.A), 'the newest stays');
  assert.equal(small.getRRset(nameFromText('m0.example.'), Type.A), undefined, 'the oldest went');
});
