import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import { ResolverCache, Trust } from '../src/resolver/cache/cache.js';

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
