/**
 * The safeguards' parts on their own: the traffic statistics (count-min
 * sketch, HyperLogLog, address maps; bounded, no client address kept), and
 * the judging of automated entries (protected list, thresholds, decisions
 * kept across restarts, audit events).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { nameFromText, nameKey } from '../src/dns/name.js';
import { parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';
import { assess, protectedHit, Safeguards } from '../src/rpz/orders/safeguards.js';
import type { Decision } from '../src/rpz/orders/safeguards.js';
import { TrafficStats } from '../src/rpz/orders/traffic.js';

const dir = mkdtempSync(join(tmpdir(), 'verdict-safeguards-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const key = (n: string) => nameKey(nameFromText(`${n}.`));

test('traffic: queries per name and its subdomains over 24 hour buckets, distinct clients estimated, old hours forgotten', () => {
  let now = Date.parse('2024-10-19T08:00:00Z');
  const t = new TrafficStats({ now: () => now });
  for (let i = 0; i < 300; i++) t.observeQuery(key('drive.usercontent.google.com'), `10.0.${i % 200}.${i % 7}`);
  for (let i = 0; i < 50; i++) t.observeQuery(key('www.google.com'), '10.9.9.9');
  for (let i = 0; i < 10; i++) t.observeQuery(key('dpstream.net'), '192.0.2.1');
  now += 5 * 3_600_000; // later hours add up
  for (let i = 0; i < 20; i++) t.observeQuery(key('dpstream.net'), '192.0.2.2');

  const drive = t.traffic('drive.usercontent.google.com');
  assert.ok(drive.queries >= 300 && drive.queries < 310, `count-min never under, close over: ${drive.queries}`);
  assert.ok(t.traffic('google.com').queries >= 350, 'a parent counts its subdomains');
  // 300 queries from 200 distinct /24-ish hosts x 7: HyperLogLog with 64 registers is within ~30 %.
  const distinct = new Set(Array.from({ length: 300 }, (_, i) => `10.0.${i % 200}.${i % 7}`)).size;
  assert.ok(Math.abs(drive.clients - distinct) / distinct < 0.35, `about ${distinct} clients, estimated ${drive.clients}`);
  const dp = t.traffic('dpstream.net');
  assert.ok(dp.queries >= 30 && dp.queries < 35, `${dp.queries}`);
  assert.ok(dp.clients >= 1 && dp.clients <= 3, `two clients, estimated ${dp.clients}`);
  assert.equal(t.traffic('never-seen.example').queries, 0);

  now += 20 * 3_600_000; // 25 h after the first hour: it has left the window
  const later = t.traffic('drive.usercontent.google.com');
  assert.equal(later.queries, 0);
  assert.ok(t.traffic('dpstream.net').queries >= 20 && t.traffic('dpstream.net').queries < 25);
});

test('traffic: no client address is kept anywhere in the statistics', () => {
  const t = new TrafficStats();
  t.observeQuery(key('a.example.com'), '198.51.100.77');
  t.observeAnswer(['a.example.com'], ['192.0.2.10']);
  const inside = JSON.stringify(Object.values(t).map((v) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer).toString('latin1') : v instanceof Map ? [...v] : String(v))));
  assert.ok(!inside.includes('198.51.100.77'));
  // Server addresses and names are kept: they make the shared-address check.
  assert.deepEqual(t.namesAt('192.0.2.10'), ['a.example.com']);
});

test('traffic: names sharing addresses (CDN front end) and address entries', () => {
  const t = new TrafficStats();
  t.observeAnswer(['edge.cdn-lab.net'], ['198.51.100.80', '198.51.100.81']);
  for (const n of ['www.example.org', 'shop.example.com', 'news.example.org', 'api.example.net']) t.observeAnswer([n, 'edge.cdn-lab.net'], ['198.51.100.80']);
  t.observeAnswer(['dpstream.net', 'www.dpstream.net'], ['203.0.113.11']);
  assert.deepEqual(t.sharedWith('cdn-lab.net').names, ['api.example.net', 'news.example.org', 'shop.example.com', 'www.example.org']);
  assert.deepEqual(t.sharedWith('dpstream.net').names, [], 'its own subdomains do not count');
  assert.deepEqual(t.namesAt('198.51.100.0/24'), ['api.example.net', 'edge.cdn-lab.net', 'news.example.org', 'shop.example.com', 'www.example.org']);
});

test('protected list: a name covers its subdomains; an entry covering a protected name is caught too', () => {
  const p = ['google.com', 'usercontent.example'];
  assert.equal(protectedHit('drive.usercontent.google.com', p, true), 'google.com');
  assert.equal(protectedHit('google.com', p, false), 'google.com');
  assert.equal(protectedHit('example', p, true), 'usercontent.example', 'blocking a parent with its subdomains would block it');
  assert.equal(protectedHit('example', p, false), undefined);
  assert.equal(protectedHit('notgoogle.com', p, true), undefined);
});

function request(names: string[]): Order {
  const parent = parseOrder('id: p\ncourt: C\ndecision_date: 2024-01-01\nparties: { plaintiffs: [A] }\neffective: 2024-01-01\nduration: { months: 12 }\naction: nxdomain\ndomains: [blocked.example]\n', 'p.yaml').order!;
  const r = parseOrder(`kind: regulator-request\nid: r1\nauthority: AGCOM\nreference: T-1\ndate: 2024-10-19\nparent: p\ndomains: [${names.join(', ')}]\n`, 'r.yaml').order!;
  return { ...r, parentOrder: parent, activeFrom: parent.activeFrom, expiresAt: parent.expiresAt };
}

test('safeguards: protected and high-impact entries are held, the rest enforced; decisions survive a restart and are audited', () => {
  const t = new TrafficStats();
  for (let i = 0; i < 40; i++) t.observeQuery(key('busy.example'), `10.1.${i}.1`);
  for (const n of ['a.example', 'b.example', 'c.example']) t.observeAnswer([n], ['192.0.2.99']);
  t.observeAnswer(['front.cdn.example'], ['192.0.2.99']);
  const events: string[] = [];
  const file = join(dir, 'held.json');
  const make = () => new Safeguards({
    file, protectedNames: ['google.com'], limits: { maxQueries: 30, maxClients: 1000, maxSharedNames: 2 }, traffic: t,
    events: { held: (d: Decision) => events.push(`held ${d.entry}`), confirmed: (d) => events.push(`confirmed ${d.entry} by ${d.by}`), rejected: (d) => events.push(`rejected ${d.entry} by ${d.by}`) },
  });
  const g = make();
  const now = new Date('2024-10-19T10:00:00Z');
  const req = request(['mirror.example', 'drive.usercontent.google.com', 'busy.example', 'cdn.example']);
  const out = g.apply([req], now);
  assert.deepEqual(out[0]!.names, ['mirror.example']);
  assert.deepEqual(g.held().map((d) => d.entry).sort(), ['busy.example', 'cdn.example', 'drive.usercontent.google.com']);
  const why = Object.fromEntries(g.held().map((d) => [d.entry, d.reason]));
  assert.match(why['drive.usercontent.google.com']!, /is under the protected name google\.com/);
  assert.match(why['busy.example']!, /40 queries in 24 h \(more than 30\)/);
  assert.match(why['cdn.example']!, /3 other names share its addresses \(more than 2; shared hosting or CDN\): a\.example, b\.example, c\.example/);
  assert.deepEqual(events.sort(), ['held busy.example', 'held cdn.example', 'held drive.usercontent.google.com']);

  assert.throws(() => g.decide('r1', 'busy.example', 'confirmed', ' ', now), /--by WHO/);
  assert.throws(() => g.decide('r1', 'mirror.example', 'confirmed', 'alice', now), /is not held \(it is admitted\)/);
  g.decide('r1', 'busy.example', 'confirmed', 'alice', now);
  g.decide('r1', 'cdn.example', 'rejected', 'bob', now);
  // A restart: the decisions come back from the file.
  const g2 = make();
  const out2 = g2.apply([req], now);
  assert.deepEqual(out2[0]!.names, ['mirror.example', 'busy.example']);
  assert.deepEqual(g2.held().map((d) => d.entry), ['drive.usercontent.google.com']);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { decisions: Decision[] };
  assert.deepEqual(saved.decisions.find((d) => d.entry === 'cdn.example')?.by, 'bob');
  assert.deepEqual(events.slice(3), ['confirmed busy.example by alice', 'rejected cdn.example by bob']);

  // An entry dropped by its request is forgotten (judged again if it returns); a person's decision is kept.
  g2.apply([{ ...req, names: ['busy.example'] }], now);
  assert.deepEqual(g2.all().map((d) => `${d.entry}:${d.status}`).sort(), ['busy.example:confirmed', 'cdn.example:rejected']);
});

test('impact of an address entry counts the names behind it', () => {
  const t = new TrafficStats();
  for (const n of ['a.example', 'b.example', 'www.google.com']) t.observeAnswer([n], ['192.0.2.50']);
  const i = assess('192.0.2.0/24', 'address', false, ['google.com'], { maxQueries: 1e9, maxClients: 1e9, maxSharedNames: 1 }, t);
  assert.equal(i.sharedNames, 3);
  assert.equal(i.protectedBy, 'google.com');
  assert.equal(i.reasons.length, 2);
});
