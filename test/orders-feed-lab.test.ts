/**
 * The lab scenario of issue 16: a live feed bound to a court order, from a
 * real Knot DNS primary (NOTIFY, IXFR), applied by a Verdict resolving the
 * lab. During the test the feed adds two real mirrors, one name on the
 * protected list and the name of a busy "CDN" that lab names share:
 * - the mirrors are enforced within 5 s, with EDE 16 naming feed and order;
 * - the two others are held, stay resolvable, are listed by
 *   `verdict orders held`, counted in verdict_orders_held_entries, and
 *   confirmed / rejected with `verdict orders confirm|reject --by` (the real
 *   CLI over the control socket), audit-logged;
 * - `verdict orders impact FILE` reports what a request file would block;
 * - a request file dropped into the watched orders directory is enforced;
 * - a lift propagates as fast as a block;
 * - the parent order's end ends everything derived from it (moved clock).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config/load.js';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import type { Message } from '../src/dns/message.js';
import { rootHintsYaml, startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { readAuditLog } from '../src/rpz/orders/audit.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';
import { hasKnot, startKnot } from './helpers/knot.js';
import type { KnotHandle } from './helpers/knot.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const KNOT = '127.55.241.1';
const VERDICT = '127.55.241.2';
const PORT = 5353;
const skip = !hasKnot();

const dir = mkdtempSync(join(tmpdir(), 'verdict-feed-lab-'));
mkdirSync(join(dir, 'orders'));

const PARENT = `id: 2024-tj-paris-live
court: Tribunal judiciaire de Paris
decision_date: 2024-05-20
reference: RG 24/00001
parties: { plaintiffs: [LFP], addressees: [Orange, Free] }
effective: 2024-05-21
until: 2024-12-31
action: nxdomain
domains: [dpstream.tv]
`;

function feedZone(serial: number, names: string[]): string {
  return `$ORIGIN live.feed.\n$TTL 60\n@ SOA ns.live.feed. admin.live.feed. ${serial} 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n`
    + names.map((n) => `${n} CNAME .\n*.${n} CNAME .\n`).join('');
}

let lab: Lab;
let knot: KnotHandle;
let v: Verdict;
let clock = new Date('2024-06-01T18:00:00Z');
const cfgFile = join(dir, 'verdict.yaml');

before(async () => {
  if (skip) return;
  writeFileSync(join(dir, 'orders/parent.yaml'), PARENT);
  lab = await startLab();
  knot = await startKnot({ address: KNOT, zones: [{ name: 'live.feed', text: feedZone(1, []), notify: { address: VERDICT, port: PORT } }] });
  writeFileSync(cfgFile, `server: { listen: ["${VERDICT}:${PORT}"], allow: ["127.0.0.0/8"] }
${rootHintsYaml(lab.rootHints)}  upstream_timeout_ms: 400
orders:
  files: ["orders/*.yaml"]
  clock: "2024-06-01T18:00:00Z"
  audit_log: audit.jsonl
  protected: ["example.org"]
  safeguards: { max_queries: 20, max_clients: 1000, max_shared_names: 2, state_file: held.json }
  feeds:
    - { id: live-ligue1, zone: live.feed, primary: "${KNOT}", parent: 2024-tj-paris-live, authority: Arcom, reference: "ARCOM/LIVE/2024-06-01" }
control: { socket: run/verdict.sock }
mirrors: { enabled: false }
log: { level: ${process.env.VERDICT_TEST_LOG ?? "silent"} }
dnssec: { trust_anchor_file: ${resolve(ROOT, 'lab/keys/root.ds')} }
`);
  v = new Verdict({ ...loadConfig(cfgFile), baseDir: dir }, { rootHints: lab.rootHints, orderClock: () => clock });
  await v.start();
});

after(async () => {
  await v?.stop();
  await knot?.stop();
  await lab?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const q = (name: string, type = Type.A): Promise<Message> => ask(name, type, PORT, { address: VERDICT, edns: makeEdns(1232) });

// Paths in the config are relative to the working directory (as for `verdict serve`): the CLI runs in `dir`.
/** Poll until `ok(answer)`, every 20 ms, at most `ms`; returns the time it took. */
async function until(name: string, ok: (m: Message) => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < Math.ceil(ms / 20); i++) {
    if (ok(await q(name))) return performance.now() - t0;
    await sleep(20);
  }
  throw new Error(`${name}: not as expected within ${ms} ms`);
}

const blocked = (m: Message) => m.rcode === Rcode.NXDOMAIN && readEde(m).some((e) => e.code === Ede.CENSORED);
const resolves = (m: Message) => m.rcode === Rcode.NOERROR && m.answers.some((r) => r.type === Type.A);

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI, ...args, '-c', cfgFile], { cwd: dir, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const heldGauge = async () => (await v.metrics.registry.getSingleMetric('verdict_orders_held_entries')!.get()).values.reduce((a, x) => a + x.value, 0);

test('lab scenario: mirrors enforced within 5 s of NOTIFY, protected and CDN names held until a person decides', { skip }, async () => {
  // Traffic the impact check will read: the lab names behind the CDN's front end, the CDN itself busy.
  for (const n of ['chain.example.com.', 'www.legacy.example.com.', 'www.example.org.']) assert.ok(resolves(await q(n)), n);
  for (let i = 0; i < 25; i++) assert.ok(resolves(await q('edge.cdn-lab.net.')));
  for (const n of ['dpstream.net.', 'www.dpstream.pw.']) assert.ok(resolves(await q(n)), `${n} resolves before the feed names it`);

  const t0 = performance.now();
  knot.update('live.feed', feedZone(2, ['dpstream.net', 'dpstream.pw', 'example.org', 'cdn-lab.net']));
  await until('www.dpstream.net.', blocked, 5000);
  const blockMs = performance.now() - t0;
  assert.ok(blockMs <= 5000, `enforced ${Math.round(blockMs)} ms after the change at the feed`);
  const m = await q('dpstream.pw.');
  assert.ok(blocked(m));
  assert.equal(readEde(m)[0]!.text, 'blocked by feed live-ligue1 (Arcom, 2024-06-01, ARCOM/LIVE/2024-06-01) under court order 2024-tj-paris-live (Tribunal judiciaire de Paris, 2024-05-20, RG 24/00001)');
  process.stdout.write(`# feed -> enforced: ${Math.round(blockMs)} ms\n`);

  // Held: still resolvable, listed, counted, logged.
  for (const n of ['www.example.org.', 'example.org.', 'edge.cdn-lab.net.', 'chain.example.com.']) assert.ok(!blocked(await q(n)), `${n} is held, not blocked`);
  assert.ok(resolves(await q('www.example.org.')));
  assert.equal(await heldGauge(), 2);
  const held = await cli(['orders', 'held']);
  assert.equal(held.code, 0, held.stderr);
  assert.match(held.stdout, /live-ligue1 +example\.org +\S+ +example\.org is on the protected list/);
  assert.match(held.stdout, /live-ligue1 +cdn-lab\.net +\S+ +.*queries in 24 h \(more than 20\).*other names share its addresses \(more than 2; shared hosting or CDN\): chain\.example\.com, www\.example\.org, www\.legacy\.example\.com/);
  assert.match(held.stdout, /2 held entries \(from the running server\)/);

  // A decision needs a name.
  const noBy = await cli(['orders', 'confirm', 'live-ligue1', 'example.org']);
  assert.equal(noBy.code, 2);
  assert.match(noBy.stderr, /--by WHO/);
  const ok = await cli(['orders', 'confirm', 'live-ligue1', 'example.org', '--by', 'alice@legal']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /example\.org of live-ligue1: confirmed by alice@legal at 2024-06-01T18:00:00\.000Z; enforced now/);
  assert.ok(blocked(await q('www.example.org.')), 'confirmed: enforced at once');
  const no = await cli(['orders', 'reject', 'live-ligue1', 'cdn-lab.net', '--by', 'bob@noc']);
  assert.equal(no.code, 0, no.stderr);
  assert.ok(resolves(await q('edge.cdn-lab.net.')), 'rejected: never enforced');
  const again = await cli(['orders', 'reject', 'live-ligue1', 'cdn-lab.net', '--by', 'bob@noc']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is not held \(it is rejected by bob@noc/);
  assert.equal(await heldGauge(), 0);
  const none = await cli(['orders', 'held']);
  assert.equal(none.code, 0);
  assert.match(none.stdout, /no held entries/);

  const audit = readAuditLog(join(dir, 'audit.jsonl'));
  const mine = audit.filter((l) => ['held', 'confirmed', 'entry-rejected'].includes(l.event)).map((l) => [l.event, l.order, l.name, l.by ?? l.reason !== undefined]);
  assert.deepEqual(mine, [
    ['held', 'live-ligue1', 'cdn-lab.net', true],
    ['held', 'live-ligue1', 'example.org', true],
    ['confirmed', 'live-ligue1', 'example.org', 'alice@legal'],
    ['entry-rejected', 'live-ligue1', 'cdn-lab.net', 'bob@noc'],
  ]);
  const zones = await cli(['ctl', 'zones']);
  assert.match(zones.stdout, /"id": "live-ligue1"[\s\S]*"serial": 2[\s\S]*"names": 4/);
});

test('impact of a request file over the traffic seen; a request dropped into the orders directory is enforced', { skip }, async () => {
  const file = join(dir, 'candidate.yaml');
  writeFileSync(file, `kind: regulator-request
id: arcom-2024-0042
authority: Arcom
reference: "ARCOM/2024/0042"
date: 2024-06-01
parent: 2024-tj-paris-live
domains: [dpstream.cc, cdn-lab.net, www.example.org]
`);
  const r = await cli(['orders', 'impact', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /regulator request arcom-2024-0042 \(Arcom, 2024-06-01, ARCOM\/2024\/0042\) under court order 2024-tj-paris-live/);
  assert.match(r.stdout, /^dpstream\.cc +0 +0 +0 +- +enforced$/m);
  assert.match(r.stdout, /^cdn-lab\.net +(2[5-9]|3\d) +~\d+ +3 +- +held: .*queries in 24 h/m);
  assert.match(r.stdout, /^www\.example\.org +\d+ +~1 +\d+ +example\.org +held: www\.example\.org is under the protected name example\.org/m);
  assert.match(r.stdout, /3 entries, \d+ queries, 1 on the protected list, 2 would be held/);
  assert.doesNotMatch(r.stdout, /127\.0\.0\.1/, 'no client address in the report');

  // The same request, dropped into the watched orders directory (no SIGHUP), for a mirror only.
  assert.ok(resolves(await q('www.dpstream.cc.')));
  const t0 = performance.now();
  writeFileSync(join(dir, 'orders/arcom-2024-0042.yaml'), readFileSync(file, 'utf8').replace('[dpstream.cc, cdn-lab.net, www.example.org]', '[dpstream.cc]'));
  await until('www.dpstream.cc.', blocked, 5000);
  process.stdout.write(`# request file -> enforced: ${Math.round(performance.now() - t0)} ms\n`);
  assert.match(readEde(await q('dpstream.cc.'))[0]!.text, /^blocked by regulator request arcom-2024-0042 \(Arcom, 2024-06-01, ARCOM\/2024\/0042\) under court order 2024-tj-paris-live/);
  const list = await cli(['orders', 'list']);
  assert.match(list.stdout, /arcom-2024-0042 +active .* -> 2024-tj-paris-live \(Tribunal judiciaire de Paris, 2024-05-20, RG 24\/00001\)/);
});

test('a lift at the feed propagates as fast as a block; the parent order\'s end ends everything derived from it', { skip }, async () => {
  const t0 = performance.now();
  knot.update('live.feed', feedZone(3, ['dpstream.net', 'example.org', 'cdn-lab.net']));
  await until('www.dpstream.pw.', resolves, 5000);
  const liftMs = performance.now() - t0;
  process.stdout.write(`# feed -> lifted: ${Math.round(liftMs)} ms\n`);
  assert.ok(liftMs <= 5000);
  assert.ok(blocked(await q('dpstream.net.')), 'the other entries stay');

  // The judge's measures end on 2024-12-31: the feed, the request and the confirmed entry end with them.
  clock = new Date('2025-01-01T12:00:00Z');
  await v.policy.recompileOrders();
  for (const n of ['dpstream.net.', 'www.dpstream.cc.', 'www.example.org.', 'www.dpstream.tv.']) assert.ok(resolves(await q(n)), `${n}: the parent order lapsed`);
  const states = Object.fromEntries(v.policy.orderStates().map((s) => [s.id, s.state]));
  assert.deepEqual(states, { '2024-tj-paris-live': 'expired', 'arcom-2024-0042': 'expired', 'live-ligue1': 'expired' });
});
