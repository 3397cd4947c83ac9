/**
 * Abuse limits of the iterator against a scripted internet: NXNSAttack
 * referrals, CNAME loops and long chains, deep delegation chains, a
 * random-subdomain flood, 30% packet loss. Each scenario asserts the bound
 * (queries sent, time taken, cache size), not only the rcode.
 * (Existing coverage not repeated here: test/iterator.test.ts has the
 * two-name CNAME loop, the query budget and all-servers-down with scripted
 * timeouts; test/limits.test.ts has the rate limit and the recursion cap.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rcode, Type } from '../src/dns/constants.js';
import { emptyMessage } from '../src/dns/message.js';
import { nameToText } from '../src/dns/name.js';
import { ResolverCache } from '../src/resolver/cache/cache.js';
import { Iterator, rdataToIp } from '../src/resolver/iterator/iterator.js';
import type { IteratorOptions } from '../src/resolver/iterator/iterator.js';
import { ServerSelection } from '../src/resolver/selection.js';
import { UpstreamError } from '../src/resolver/transport.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { authoritative, n, rr, ScriptedNet } from './helpers/scripted-net.js';
import type { Handler, Zone } from './helpers/scripted-net.js';

const ROOT = '198.51.100.1';
const TLD = '198.51.100.2';
const ATTACKER = '198.51.100.66';
const VICTIM = '198.51.100.77';
const GOOD = '198.51.100.3';

const OPTS: IteratorOptions = {
  rootHints: [{ name: 'a.root.test', address: ROOT }],
  qnameMinimisation: true, upstreamTimeoutMs: 100, maxQueries: 100, maxDepth: 16, maxCnameHops: 12, queryTimeoutMs: 5000, maxNsPerReferral: 8,
};

function iterator(net: Transport, opts: Partial<IteratorOptions> = {}, maxEntries = 10_000) {
  const cache = new ResolverCache({ maxEntries, maxTtl: 86400, maxNegativeTtl: 10800 });
  return new Iterator({ ...OPTS, ...opts }, net, cache, new ServerSelection(Date.now, () => 0.99), Date.now);
}

const root: Zone = {
  apex: '.', records: [
    rr('.', 'SOA', 'a.root.test'), rr('.', 'NS', 'a.root.test'), rr('a.root.test', 'A', ROOT),
    rr('com', 'NS', 'a.gtld.test'), rr('net', 'NS', 'a.gtld.test'), rr('a.gtld.test', 'A', TLD),
  ],
};
const good: Zone = {
  apex: 'good.com', records: [rr('good.com', 'SOA', 'ns.good.com'), rr('www.good.com', 'A', '192.0.2.1')],
};

// ------------------------------------------------------------------ NXNSAttack

/** attack.com delegates every name below it to 50 NS names under victim.net, none with glue. */
function nxnsWorld(): ScriptedNet {
  const tld: Zone = {
    apex: 'com', records: [
      rr('com', 'SOA', 'a.gtld.test'),
      rr('attack.com', 'NS', 'ns.attack.com'), rr('ns.attack.com', 'A', ATTACKER),
      rr('good.com', 'NS', 'ns.good.com'), rr('ns.good.com', 'A', GOOD),
    ],
  };
  const net: Zone = { apex: 'net', records: [rr('net', 'SOA', 'a.gtld.test'), rr('victim.net', 'NS', 'ns.victim.net'), rr('ns.victim.net', 'A', VICTIM)] };
  const attacker: Handler = (q) => {
    // A referral for whatever is asked, one label below attack.com, to 50 fresh names under victim.net.
    const m = emptyMessage({ qr: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    const child = nameToText(q.name).split('.').slice(-4).join('.') || 'x.attack.com.';
    for (let i = 0; i < 50; i++) m.authorities.push(rr(child, 'NS', `r${i}-${Math.random().toString(36).slice(2, 8)}.victim.net`));
    return m;
  };
  const victim: Zone = { apex: 'victim.net', records: [rr('victim.net', 'SOA', 'ns.victim.net'), rr('ns.victim.net', 'A', VICTIM)] };
  return new ScriptedNet(new Map<string, Handler>([
    [ROOT, authoritative([root])], [TLD, authoritative([tld, net])], [ATTACKER, attacker],
    [VICTIM, authoritative([victim])], [GOOD, authoritative([good])],
  ]));
}

test('NXNSAttack: a referral to 50 glueless NS names resolves at most max_ns_per_referral of them', async () => {
  const w = nxnsWorld();
  const it = iterator(w, { maxNsLookups: 100 }); // the per-referral cap alone
  const r = await it.resolve(n('www.x.attack.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  const victimQueries = w.asked(VICTIM);
  assert.ok(victimQueries >= 1, 'the glueless names were looked up');
  assert.ok(victimQueries <= 8, `victim asked ${victimQueries} times, cap is 8`);
  // Total upstream work of the client query: priming, root, TLD, attacker, victim lookups.
  assert.ok(w.log.length <= 8 + 6, `${w.log.length} upstream queries for one client query`);
});

test('NXNSAttack: max_ns_lookups caps glueless lookups per client query across referrals', async () => {
  const w = nxnsWorld();
  const it = iterator(w, { maxNsLookups: 3 });
  const r = await it.resolve(n('www.x.attack.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.ok(w.asked(VICTIM) <= 3, `victim asked ${w.asked(VICTIM)} times, cap is 3`);
  assert.ok(w.log.length <= 3 + 6, `${w.log.length} upstream queries`);
  // A legitimate glueless delegation still resolves within the cap.
  const ok = await it.resolve(n('www.good.com'), Type.A, it.newBudget());
  assert.deepEqual(ok.answers.map(rdataToIp), ['192.0.2.1']);
});

test('NXNSAttack: 100 client queries cost at most 8 victim lookups each (amplification bounded)', async () => {
  const w = nxnsWorld();
  const it = iterator(w);
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => it.resolve(n(`q${i}.x${i}.attack.com`), Type.A, it.newBudget())));
  assert.ok(rs.every((r) => r.rcode === Rcode.SERVFAIL));
  const perQuery = w.asked(VICTIM) / 100;
  assert.ok(perQuery <= 8, `${perQuery} victim queries per client query`);
});

// ------------------------------------------------------------------ CNAME chains and loops

/** Zones c0.com .. c29.com, each with one CNAME to the next zone (a chain across 30 zones). */
function chainWorld(length: number, loopBackTo?: number): ScriptedNet {
  const tldRecords = [rr('com', 'SOA', 'a.gtld.test')];
  const zones: Zone[] = [];
  for (let i = 0; i < length; i++) {
    tldRecords.push(rr(`c${i}.com`, 'NS', `ns.c${i}.com`), rr(`ns.c${i}.com`, 'A', GOOD));
    const next = i + 1 < length ? `www.c${i + 1}.com` : loopBackTo !== undefined ? `www.c${loopBackTo}.com` : undefined;
    zones.push({
      apex: `c${i}.com`,
      records: [rr(`c${i}.com`, 'SOA', `ns.c${i}.com`), next ? rr(`www.c${i}.com`, 'CNAME', next) : rr(`www.c${i}.com`, 'A', '192.0.2.9')],
    });
  }
  return new ScriptedNet(new Map<string, Handler>([
    [ROOT, authoritative([root])], [TLD, authoritative([{ apex: 'com', records: tldRecords }])], [GOOD, authoritative(zones)],
  ]));
}

test('a 30-long CNAME chain ends in SERVFAIL at max_cname_hops, in bounded queries and time', async () => {
  const w = chainWorld(30);
  const it = iterator(w);
  const t0 = performance.now();
  const r = await it.resolve(n('www.c0.com'), Type.A, it.newBudget());
  const ms = performance.now() - t0;
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.match(r.ede!.text, /CNAME chain longer than 12/);
  assert.ok(w.log.length <= 12 * 3 + 3, `${w.log.length} upstream queries`);
  assert.ok(ms < 2000, `${ms} ms`);
  // A chain within the limit resolves.
  const short = await iterator(chainWorld(5)).resolve(n('www.c0.com'), Type.A, iterator(chainWorld(5)).newBudget());
  assert.equal(short.rcode, Rcode.NOERROR);
});

test('a CNAME loop across zones (c0 -> ... -> c5 -> c2) ends in SERVFAIL in bounded time', async () => {
  const w = chainWorld(6, 2);
  const it = iterator(w);
  const t0 = performance.now();
  const r = await it.resolve(n('www.c0.com'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.match(r.ede!.text, /loop/);
  assert.ok(performance.now() - t0 < 2000);
  assert.ok(w.log.length <= 6 * 3 + 3, `${w.log.length} upstream queries`);
});

// ------------------------------------------------------------------ deep delegation

test('a 40-deep delegation chain ends in SERVFAIL at max_depth', async () => {
  // deep.com delegates l1.deep.com, which delegates l2.l1.deep.com ... 40 levels, each zone on its own server.
  const zoneName = (d: number) => Array.from({ length: d }, (_, i) => `l${d - i}`).concat('deep.com').join('.');
  const addr = (d: number) => `198.51.101.${d + 1}`;
  const servers: [string, Handler][] = [];
  for (let d = 0; d <= 40; d++) {
    const z = zoneName(d);
    const records = [rr(z, 'SOA', 'ns.' + z)];
    if (d < 40) records.push(rr(zoneName(d + 1), 'NS', 'ns.' + zoneName(d + 1)), rr('ns.' + zoneName(d + 1), 'A', addr(d + 1)));
    else records.push(rr('www.' + z, 'A', '192.0.2.40'));
    servers.push([addr(d), authoritative([{ apex: z, records }])]);
  }
  const tld: Zone = { apex: 'com', records: [rr('com', 'SOA', 'a.gtld.test'), rr('deep.com', 'NS', 'ns.deep.com'), rr('ns.deep.com', 'A', addr(0))] };
  const world = () => new ScriptedNet(new Map<string, Handler>([[ROOT, authoritative([root])], [TLD, authoritative([tld])], ...servers]));
  const w = world();
  const it = iterator(w, { qnameMinimisation: false });
  const t0 = performance.now();
  const r = await it.resolve(n('www.' + zoneName(40)), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.match(r.ede!.text, /delegation chain too deep/);
  assert.ok(w.log.length <= 16 + 4, `${w.log.length} upstream queries`);
  assert.ok(performance.now() - t0 < 2000);
  // The limit is what stops it: with max_depth above 40 the same chain resolves.
  const it2 = iterator(world(), { qnameMinimisation: false, maxDepth: 45 });
  assert.equal((await it2.resolve(n('www.' + zoneName(40)), Type.A, it2.newBudget())).rcode, Rcode.NOERROR);
});

// ------------------------------------------------------------------ random-subdomain flood

test('a random-subdomain flood (100,000 names) keeps the cache under its bound; other names keep resolving', async () => {
  const victim: Zone = { apex: 'victim.com', records: [rr('victim.com', 'SOA', 'ns.victim.com')] };
  const tld: Zone = {
    apex: 'com', records: [
      rr('com', 'SOA', 'a.gtld.test'), rr('victim.com', 'NS', 'ns.victim.com'), rr('ns.victim.com', 'A', VICTIM),
      rr('good.com', 'NS', 'ns.good.com'), rr('ns.good.com', 'A', GOOD),
    ],
  };
  const w = new ScriptedNet(new Map<string, Handler>([[ROOT, authoritative([root])], [TLD, authoritative([tld])], [VICTIM, authoritative([victim])], [GOOD, authoritative([good])]]));
  w.log.push = () => 0; // 100,000 log lines are not the point here
  const MAX = 2000;
  const it = iterator(w, {}, MAX);
  let maxSize = 0;
  let goodAnswers = 0;
  const t0 = performance.now();
  for (let batch = 0; batch < 100; batch++) {
    const flood = Array.from({ length: 1000 }, (_, i) => it.resolve(n(`${(batch * 1000 + i).toString(36)}x.victim.com`), Type.A, it.newBudget()));
    // A client of another domain, during the flood.
    const other = it.resolve(n('www.good.com'), Type.A, it.newBudget());
    const [rs, o] = await Promise.all([Promise.all(flood), other]);
    assert.ok(rs.every((r) => r.rcode === Rcode.NXDOMAIN));
    if (o.rcode === Rcode.NOERROR && rdataToIp(o.answers[0]!) === '192.0.2.1') goodAnswers++;
    maxSize = Math.max(maxSize, it.cache.size);
    assert.ok(performance.now() - t0 < 60_000, 'flood took too long');
  }
  assert.ok(maxSize <= MAX, `cache reached ${maxSize} entries, bound ${MAX}`);
  assert.equal(maxSize, MAX, 'the flood did fill the cache (the bound was exercised)');
  assert.equal(goodAnswers, 100, 'www.good.com resolved during every batch of the flood');
});

// ------------------------------------------------------------------ packet loss

/** Loses a fraction of queries (seeded), waiting the whole timeout first as a real loss does. */
class LossyNet implements Transport {
  sent = 0;
  lost = 0;
  private s: number;
  constructor(private readonly inner: ScriptedNet, private readonly loss: number, seed: number) {
    this.s = seed;
  }
  private random(): number {
    this.s = (Math.imul(this.s, 1103515245) + 12345) >>> 0;
    return this.s / 0x1_0000_0000;
  }
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.sent++;
    if (this.random() < this.loss) {
      this.lost++;
      await new Promise((r) => setTimeout(r, q.timeoutMs));
      throw new UpstreamError('VERDICT_ERR_TIMEOUT', `lost (scripted) ${q.address}`);
    }
    return this.inner.query(q);
  }
}

test('30% upstream packet loss: every query answers or SERVFAILs within the time bound', async () => {
  // Two servers per zone, as zones have; each loss costs the full upstream timeout (50 ms).
  const tld: Zone = {
    apex: 'com', records: [
      rr('com', 'SOA', 'a.gtld.test'),
      rr('good.com', 'NS', 'ns1.good.com'), rr('ns1.good.com', 'A', GOOD),
      rr('good.com', 'NS', 'ns2.good.com'), rr('ns2.good.com', 'A', '198.51.100.4'),
    ],
  };
  const rootZ: Zone = { apex: '.', records: [...root.records, rr('com', 'NS', 'b.gtld.test'), rr('b.gtld.test', 'A', '198.51.100.5')] };
  const names: Zone = { apex: 'good.com', records: [rr('good.com', 'SOA', 'ns1.good.com'), ...Array.from({ length: 200 }, (_, i) => rr(`h${i}.good.com`, 'A', '192.0.2.2'))] };
  const inner = new ScriptedNet(new Map<string, Handler>([
    [ROOT, authoritative([rootZ])], [TLD, authoritative([tld])], ['198.51.100.5', authoritative([tld])],
    [GOOD, authoritative([names])], ['198.51.100.4', authoritative([names])],
  ]));
  const net = new LossyNet(inner, 0.3, 42);
  const QUERY_TIMEOUT = 1500;
  const it = iterator(net, { upstreamTimeoutMs: 50, queryTimeoutMs: QUERY_TIMEOUT });
  const outcomes = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const t0 = performance.now();
    const r = await it.resolve(n(`h${i}.good.com`), Type.A, it.newBudget());
    return { rcode: r.rcode, ms: performance.now() - t0 };
  }));
  assert.ok(net.lost > 30, `loss was exercised (${net.lost} of ${net.sent})`);
  for (const o of outcomes) {
    assert.ok(o.rcode === Rcode.NOERROR || o.rcode === Rcode.SERVFAIL, `rcode ${o.rcode}`);
    assert.ok(o.ms < QUERY_TIMEOUT + 500, `${o.ms} ms`);
  }
  const ok = outcomes.filter((o) => o.rcode === Rcode.NOERROR).length;
  assert.ok(ok >= 180, `only ${ok} of 200 answered with 30% loss and two servers per zone`);
});
