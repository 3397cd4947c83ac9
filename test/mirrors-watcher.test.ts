/** Mirror watch: a scripted week of traffic, the memory bound, persistence, and the scoring pieces. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Class, Type } from '../src/dns/constants.js';
import { nameFromText } from '../src/dns/name.js';
import { formatProblem, parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';
import { candidatesByOrder } from '../src/mirrors/report.js';
import { combine, rarity } from '../src/mirrors/score.js';
import { brandOf, editDistance, labelSimilarity } from '../src/mirrors/similarity.js';
import { PublicSuffixes } from '../src/mirrors/suffix.js';
import { blockedFromOrders, MirrorStateError, MirrorWatcher } from '../src/mirrors/watcher.js';
import type { MirrorSnapshot } from '../src/mirrors/watcher.js';
import { parseConfigText } from '../src/config/load.js';
import type { LoadedConfig } from '../src/config/load.js';
import { MirrorFeed } from '../src/resolver/mirror-feed.js';
import type { RequestContext } from '../src/resolver/context.js';
import { pino } from 'pino';
import { DECOYS, events, MIRRORS, ORDER_ID, ORDER_YAML, registrable, START } from './fixtures/mirrors/scenario.js';

const tmp = mkdtempSync(join(tmpdir(), 'verdict-mirrors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const MIN_SCORE = 15; // the config default (mirrors.min_score)

function baseOrder(): Order {
  const r = parseOrder(ORDER_YAML, `${ORDER_ID}.yaml`);
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

/** Feed the scripted week to a watcher on a clock that follows the events. */
function runScenario(maxNames = 2000): { watcher: MirrorWatcher; clock: { t: number } } {
  const clock = { t: START };
  const watcher = new MirrorWatcher({
    blocked: blockedFromOrders([baseOrder()], new Date(START)),
    maxNames,
    now: () => clock.t,
    sampleIntervalMs: 60_000,
  });
  for (const { at, ev } of events()) {
    clock.t = at;
    watcher.observe(ev);
  }
  return { watcher, clock };
}

function rankOf(s: MirrorSnapshot, name: string): number {
  const i = s.candidates.findIndex((c) => c.name === name);
  return i < 0 ? Infinity : i + 1;
}

test('scenario: every mirror is found, no decoy ranks above a mirror; precision and recall', () => {
  const { watcher } = runScenario();
  const all = watcher.snapshot({ minScore: 0 });
  const reported = all.candidates.filter((c) => c.score >= MIN_SCORE);
  const mirrors = Object.keys(MIRRORS).map(registrable);
  const decoys = Object.keys(DECOYS).map(registrable);

  const lines = all.candidates.filter((c) => c.score > 0).slice(0, 20).map((c, i) => {
    const tag = mirrors.includes(c.name) ? 'MIRROR' : decoys.includes(c.name) ? 'decoy ' : '      ';
    return `  ${String(i + 1).padStart(2)}. ${tag} ${c.score.toFixed(1).padStart(5)}  ${c.name.padEnd(22)} ~ ${c.mirrorOf.padEnd(16)} ${c.signals.map((s) => `${s.kind}+${s.points}`).join(' ')}`;
  });
  const found = reported.filter((c) => mirrors.includes(c.name)).length;
  const precision = reported.length ? found / reported.length : 1;
  const recall = found / mirrors.length;
  console.log(`mirror watch scenario: ${reported.length} reported at min_score ${MIN_SCORE}; precision ${precision.toFixed(2)} (${found}/${reported.length}), recall ${recall.toFixed(2)} (${found}/${mirrors.length})\n${lines.join('\n')}`);

  for (const m of mirrors) assert.ok(reported.some((c) => c.name === m), `mirror ${m} (${MIRRORS[m] ?? MIRRORS[`www.${m}`]}) is reported`);
  const worstMirror = Math.max(...mirrors.map((m) => rankOf(all, m)));
  for (const d of decoys) {
    assert.ok(rankOf(all, d) > worstMirror, `decoy ${d} ranks below every mirror`);
    assert.ok(!reported.some((c) => c.name === d), `decoy ${d} is below min_score`);
  }
  assert.equal(recall, 1);
  assert.equal(precision, 1);

  // The evidence says why, with the signal each mirror was built to show.
  const by = new Map(all.candidates.map((c) => [c.name, c]));
  const kinds = (name: string) => by.get(name)!.signals.map((s) => s.kind);
  assert.ok(kinds('dpstream.pw').includes('same-label-other-tld'));
  assert.equal(by.get('dpstream.pw')!.mirrorOf, 'dpstream.tv');
  assert.ok(kinds('streamzone-vf.net').includes('shared-address'));
  assert.ok(kinds('film-gratuit.cc').includes('shared-nameservers'));
  assert.ok(kinds('watch-fs.org').includes('cname-into-blocked'));
  assert.ok(kinds('fifo-stream.net').includes('similar-label'));
  assert.ok(kinds('fifostreaming2.com').includes('similar-label'));
  const pw = by.get('dpstream.pw')!;
  assert.deepEqual(pw.orders, [ORDER_ID]);
  assert.equal(pw.queries, 25);
  assert.deepEqual(pw.addresses, ['203.0.113.12', '2001:db8:bad::12']);
  assert.deepEqual(pw.nameservers, ['ns1.dnshost.org', 'ns2.dnshost.org']);
  assert.ok(Date.parse(pw.firstSeen) < Date.parse(pw.lastSeen));
  // Blocked names are never candidates.
  for (const c of all.candidates) assert.ok(!/^(dpstream\.tv|fifostream\.|fifostreaming\.|allo(share|movies|streaming)\.com)/.test(c.name), c.name);
  // The real answers of blocked names were learnt.
  const tv = all.blocked.find((b) => b.name === 'dpstream.tv')!;
  assert.deepEqual(tv.addresses, ['203.0.113.10', '2001:db8:bad::10']);
  assert.equal(tv.queries, 100);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(all)));
});

test('memory is bounded: 100,000 random names leave at most maxNames tracked, and a suspect survives the flood', () => {
  const maxNames = 1000;
  let t = START;
  const w = new MirrorWatcher({ blocked: blockedFromOrders([baseOrder()], new Date(START)), maxNames, now: () => t, sampleIntervalMs: 0 });
  const rr = (owner: Buffer, ip: number) => ({ name: owner, type: Type.A, class: Class.IN, ttl: 60, rdata: Buffer.from([198, 18, (ip >> 8) & 255, ip & 255]) });
  const ns = [nameFromText('ns1.dnshost.org.')];
  w.observe({ qname: nameFromText('dpstream.pw.'), qtype: Type.A, answers: [], nsNames: ns, nsAddresses: [] });
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const tlds = ['com', 'net', 'org', 'fr', 'de', 'io', 'co.uk'];
  const flood = Array.from({ length: 100_000 }, (_, i) => {
    const q = nameFromText(`www.${rand().toString(36)}${i}.${tlds[i % tlds.length]}.`);
    return { qname: q, qtype: Type.A, answers: [rr(q, rand() >> 8)], nsNames: ns, nsAddresses: ['127.55.4.1'] };
  });
  const started = process.hrtime.bigint();
  for (const ev of flood) {
    t += 10;
    w.observe(ev);
  }
  const ns_per_op = Number(process.hrtime.bigint() - started) / flood.length;
  const s = w.stats();
  console.log(`memory bound: ${s.trackedNames} tracked (max ${maxNames}), ${s.suspectNames} suspects, ${s.indexedAddresses} addresses and ${s.indexedNameservers} name servers indexed, ${s.evicted} evicted; ${Math.round(ns_per_op)} ns per observe (new name each time, sampled every time)`);
  assert.ok(s.trackedNames <= maxNames, `${s.trackedNames} <= ${maxNames}`);
  assert.ok(s.indexedAddresses <= maxNames * 8);
  assert.ok(s.indexedNameservers <= maxNames * 16);
  assert.equal(s.queries, 100_001);
  assert.ok(w.snapshot().candidates.some((c) => c.name === 'dpstream.pw'), 'the suspect tier kept dpstream.pw');
});

test('save and load: atomic file, the same candidates after a restart, bounded on load', () => {
  const { watcher, clock } = runScenario();
  const path = join(tmp, 'state', 'mirrors.json');
  watcher.save(path);
  assert.deepEqual(readdirSync(join(tmp, 'state')), ['mirrors.json'], 'no temporary file left');
  const saved = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(saved.format, 'verdict-mirrors-state');
  assert.equal(saved.snapshot.candidates[0].name, watcher.snapshot().candidates[0]!.name);
  // Nothing saved names a client: the events carry none, and the state holds only names and infrastructure.
  assert.ok(!/client/i.test(readFileSync(path, 'utf8')));

  const restarted = new MirrorWatcher({ blocked: blockedFromOrders([baseOrder()], new Date(START)), maxNames: 2000, now: () => clock.t });
  assert.equal(restarted.load(path), true);
  const a = watcher.snapshot();
  const b = restarted.snapshot();
  assert.deepEqual(b.candidates.map((c) => [c.name, c.score, c.queries]), a.candidates.map((c) => [c.name, c.score, c.queries]));
  assert.equal(b.since, a.since);

  const small = new MirrorWatcher({ blocked: blockedFromOrders([baseOrder()], new Date(START)), maxNames: 100, now: () => clock.t });
  small.load(path);
  assert.ok(small.stats().trackedNames <= 100);

  assert.equal(new MirrorWatcher({ blocked: [], maxNames: 10 }).load(join(tmp, 'absent.json')), false);
  writeFileSync(join(tmp, 'bad.json'), '{"format":"something else"}');
  assert.throws(() => new MirrorWatcher({ blocked: [], maxNames: 10 }).load(join(tmp, 'bad.json')), MirrorStateError);
});

test('setBlocked: a mirror named by a new order stops being a candidate', () => {
  const { watcher } = runScenario();
  assert.ok(watcher.snapshot().candidates.some((c) => c.name === 'dpstream.pw'));
  watcher.setBlocked([...blockedFromOrders([baseOrder()], new Date(START)), { name: 'dpstream.pw', orders: ['amendment-1'] }]);
  const s = watcher.snapshot();
  assert.ok(!s.candidates.some((c) => c.name === 'dpstream.pw'));
  assert.ok(s.candidates.some((c) => c.name === 'film-gratuit.cc'), 'the rest is kept');
  watcher.setBlocked([]);
  assert.deepEqual(watcher.snapshot().candidates, [], 'nothing blocked, nothing to mirror');
});

test('observe never throws, and a blocked parent covers its subdomains', () => {
  const w = new MirrorWatcher({ blocked: [{ name: 'dpstream.tv', orders: ['o'] }], maxNames: 10, sampleIntervalMs: 0 });
  assert.doesNotThrow(() => w.observe({ qname: Buffer.from([3, 0x61]), qtype: 1, answers: [], nsNames: [], nsAddresses: [] }));
  assert.doesNotThrow(() => w.observe({ qname: Buffer.from([0]), qtype: 1, answers: [], nsNames: [], nsAddresses: [] }));
  w.observe({ qname: nameFromText('Deep.WWW.dpstream.TV.'), qtype: 1, answers: [], nsNames: [], nsAddresses: [] });
  assert.equal(w.stats().blockedQueries, 1);
  assert.equal(w.stats().trackedNames, 0);
});

test('a count-only event (answer-cache hit) counts without using up the sample', () => {
  let t = START;
  const w = new MirrorWatcher({ blocked: [{ name: 'dpstream.tv', orders: ['o'] }], maxNames: 10, now: () => t });
  const q = nameFromText('dpstream.pw.');
  w.observe({ qname: q, qtype: Type.A, answers: [], nsNames: [], nsAddresses: [] });
  t += 1000;
  w.observe({ qname: q, qtype: Type.A, answers: [{ name: q, type: Type.A, class: Class.IN, ttl: 60, rdata: Buffer.from([203, 0, 113, 12]) }], nsNames: [], nsAddresses: [] });
  const c = w.snapshot().candidates[0]!;
  assert.equal(c.queries, 2);
  assert.deepEqual(c.addresses, ['203.0.113.12']);
  assert.deepEqual([...candidatesByOrder(w.snapshot(), 15)], [['o', 1]]);
});

test('registrable domains follow public-suffix rules', () => {
  const p = PublicSuffixes.builtIn();
  assert.equal(p.registrable('www.dpstream.tv'), 'dpstream.tv');
  assert.equal(p.registrable('a.b.example.co.uk'), 'example.co.uk');
  assert.equal(p.registrable('x.y.ck'), 'x.y.ck', 'wildcard *.ck');
  assert.equal(p.registrable('a.www.ck'), 'www.ck', 'exception !www.ck');
  assert.equal(p.registrableOf(nameFromText('WWW.Example.CO.UK.')).name, 'example.co.uk');
  assert.equal(p.registrableOf(nameFromText('tv.')).name, 'tv');
  const sys = PublicSuffixes.system();
  assert.equal(sys.registrable('www.dpstream.tv'), 'dpstream.tv');
  if (existsSync('/usr/share/publicsuffix/public_suffix_list.dat')) assert.equal(sys.registrable('mirror.blogspot.com'), 'mirror.blogspot.com');
});

test('label similarity keeps the brand: fifo-stream and fifostreaming2 are close, upstream and streaming-news are not', () => {
  assert.equal(labelSimilarity('fifo-stream', 'fifostream')?.similarity, 1);
  assert.equal(labelSimilarity('fifostreaming2', 'fifostreaming')?.similarity, 1);
  assert.equal(labelSimilarity('newdpstream', 'dpstream')?.similarity, 0.8);
  assert.ok(labelSimilarity('fifostreams', 'fifostream')!.similarity > 0.6);
  assert.ok(labelSimilarity('upstream', 'dpstream')!.similarity < 0.2, 'brand "dp" lost');
  assert.equal(labelSimilarity('streaming-news', 'fifostreaming'), undefined);
  assert.equal(labelSimilarity('allocine', 'allomovies'), undefined);
  assert.equal(labelSimilarity('dpstream', 'dpstream'), undefined, 'identical labels are the other-TLD signal');
  assert.equal(brandOf('allomegavideo'), 'allo');
  assert.equal(editDistance('dpstraem', 'dpstream', 2), 1, 'a transposition is one edit');
  assert.equal(editDistance('abcdef', 'uvwxyz', 2), 3, 'bounded');
});

test('rarity and combination: rare infrastructure weighs, shared infrastructure does not', () => {
  assert.equal(rarity(1), 1);
  assert.ok(rarity(4) > 0.6 && rarity(4) < 0.7);
  assert.ok(rarity(100) < 0.11);
  assert.ok(rarity(1000) < 0.02);
  assert.equal(combine([40]), 40);
  assert.equal(combine([40, 40]), 64);
  assert.equal(combine([100, 50]), 100);
  assert.equal(combine([]), 0);
});

test('the mirror feed reads a name\'s delegation from the cache only when the watcher samples it', () => {
  // Reading it for every answered query cost about 5% of a cache miss (bench/profile.ts).
  const config = parseConfigText(`mirrors: { state_file: "${join(tmp, 'feed-state.json')}", save_interval_s: 0 }\nlog: { level: silent }\n`, 'feed.yaml');
  let reads = 0;
  const feed = new MirrorFeed({ config, file: join(tmp, 'feed.yaml'), baseDir: tmp } as LoadedConfig, {
    logger: pino({ level: 'silent' }),
    delegations: () => { reads++; return { nsNames: [nameFromText('ns1.streamhost.example.')], nsAddresses: ['192.0.2.53'] }; },
    orders: () => ({ orders: [], now: new Date(START) }),
  });
  const name = nameFromText('www.some-site.example.');
  const answers = [{ name, type: Type.A, class: Class.IN, ttl: 300, rdata: Buffer.from([192, 0, 2, 7]) }];
  for (let i = 0; i < 100; i++) {
    feed.observe({ query: { questions: [{ name, type: Type.A, class: Class.IN }] }, resolved: { rcode: 0, answers }, notes: {} } as unknown as RequestContext);
  }
  assert.equal(feed.watcher.stats().queries, 100, 'every query counted');
  assert.equal(reads, 1, 'one delegation read: the first sample; the other 99 fall in the sampling interval');
});
