/**
 * `verdict mirrors report | draft` through mirrorsCommand(), and the rule
 * that matters most: a candidate never changes an answer, and a drafted
 * amendment is enforced only once its status is active.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import type { LoadedConfig } from '../src/config/load.js';
import { ControlServer } from '../src/control/server.js';
import { mirrorsCommand } from '../src/mirrors/cli.js';
import type { MirrorReport } from '../src/mirrors/report.js';
import { blockedFromOrders, MirrorWatcher } from '../src/mirrors/watcher.js';
import { compileOrdersZone } from '../src/rpz/orders/compile.js';
import { formatProblem, loadOrders, parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';
import { explainName } from '../src/rpz/orders/report.js';
import { orderState } from '../src/rpz/orders/state.js';
import { events, MIRRORS, ORDER_ID, ORDER_YAML, START } from './fixtures/mirrors/scenario.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'verdict-mirrors-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The CLI's order clock: inside the scenario's week. */
const CLOCK = '2026-02-10T12:00:00Z';

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

function baseOrder(): Order {
  const r = parseOrder(ORDER_YAML, `${ORDER_ID}.yaml`);
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

function watched(orders: readonly Order[]): MirrorWatcher {
  let t = START;
  const w = new MirrorWatcher({ blocked: blockedFromOrders(orders, new Date(START)), maxNames: 5000, now: () => t });
  for (const { at, ev } of events()) {
    t = at;
    w.observe(ev);
  }
  return w;
}

/** A directory with a config, the order and (optionally) a saved state; relative paths resolve against it. */
function site(name: string, mirrorsBlock: string, withState: boolean): LoadedConfig {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'orders'), { recursive: true });
  writeFileSync(join(dir, 'orders', `${ORDER_ID}.yaml`), ORDER_YAML);
  const text = `orders:
  files: ["orders/*.yaml"]
  clock: "${CLOCK}"
control:
  socket: run/verdict.sock
${mirrorsBlock}`;
  writeFileSync(join(dir, 'verdict.yaml'), text);
  if (withState) watched([baseOrder()]).save(join(dir, 'var/lib/verdict/mirrors.json'));
  return { config: parseConfigText(text, 'verdict.yaml'), file: join(dir, 'verdict.yaml'), baseDir: dir };
}

test('report: text and JSON from the state file at its default path', async () => {
  const loaded = site('default', '', true);
  const text = await mirrorsCommand(loaded, ['report'], {});
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /from state file .*var\/lib\/verdict\/mirrors\.json/);
  assert.match(text.stdout, /never enforced/);
  assert.match(text.stdout, / 1\. watch-fs\.org {2}score 78\.0 {2}mirror of fifostream\.com \(order test-tj-paris-streaming\)/);
  assert.match(text.stdout, /dpstream\.pw {2}score 40\.0 {2}mirror of dpstream\.tv/);
  assert.match(text.stdout, /same-label-other-tld: "dpstream" under \.pw, as dpstream\.tv under \.tv/);
  assert.match(text.stdout, /addresses: 203\.0\.113\.12, 2001:db8:bad::12/);
  assert.match(text.stdout, /6 candidate\(s\) scoring 15 or more/);
  assert.doesNotMatch(text.stdout, /cinema-paradiso|upstream\.com/, 'decoys are below min_score');

  const json = await mirrorsCommand(loaded, ['report'], { json: true });
  assert.equal(json.code, 0);
  const r = JSON.parse(json.stdout) as MirrorReport;
  assert.equal(r.source.kind, 'state-file');
  assert.equal(r.minScore, 15);
  assert.deepEqual(r.candidates.map((c) => c.name).sort(), Object.keys(MIRRORS).map((m) => m.replace(/^www\./, '')).sort());
  const pw = r.candidates.find((c) => c.name === 'dpstream.pw')!;
  assert.deepEqual(pw.signals.map((s) => s.kind), ['same-label-other-tld']);
  assert.equal(pw.queries, 25);
  assert.ok(pw.firstSeen && pw.lastSeen && pw.nameservers.length === 2);
  assert.deepEqual(r.candidates.map((c) => c.rank), [1, 2, 3, 4, 5, 6]);
});

test('report: min_score from the config; no state yet is not an error', async () => {
  const strict = site('strict', 'mirrors:\n  min_score: 50\n', true);
  const r = JSON.parse((await mirrorsCommand(strict, ['report'], { json: true })).stdout) as MirrorReport;
  assert.deepEqual(r.candidates.map((c) => c.name), ['watch-fs.org']);
  assert.equal(r.belowMinScore > 0, true);

  const empty = site('empty', 'mirrors:\n  state_file: state/m.json\n', false);
  const out = await mirrorsCommand(empty, ['report'], {});
  assert.equal(out.code, 0);
  assert.match(out.stdout, /nothing yet \(no state file at .*state\/m\.json\)/);
  assert.match(out.stdout, /No candidate scores 15 or more/);
  assert.equal((await mirrorsCommand(empty, ['bogus'], {})).code, 2);
});

test('report: from the running server through the control channel when it answers', async () => {
  const loaded = site('live', '', false);
  const w = watched([baseOrder()]);
  const control = new ControlServer(join(loaded.baseDir, 'run/verdict.sock'), { mirrors: () => w.snapshot() });
  await control.start();
  try {
    const r = JSON.parse((await mirrorsCommand(loaded, ['report'], { json: true })).stdout) as MirrorReport;
    assert.equal(r.source.kind, 'server');
    assert.equal(r.candidates.length, 6);
  } finally {
    await control.stop();
  }
  // A server without the command: the state file (absent here) is read instead, with a warning.
  const old = new ControlServer(join(loaded.baseDir, 'run/verdict.sock'), { status: () => ({}) });
  await old.start();
  try {
    const out = await mirrorsCommand(loaded, ['report'], {});
    assert.equal(out.code, 0);
    assert.match(out.stderr, /gave no mirror snapshot \(HTTP 404\)/);
    assert.match(out.stdout, /nothing yet/);
  } finally {
    await old.stop();
  }
});

test('draft: an amendment that validates, lists the evidence, and is not enforced until active', async () => {
  const loaded = site('draft', '', true);
  const file = join(loaded.baseDir, 'orders', 'draft-mirrors.yaml');
  const out = await mirrorsCommand(loaded, ['draft'], { order: ORDER_ID, output: file });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stderr, /status draft, not enforced/);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^# DRAFT amendment to test-tj-paris-streaming/);
  assert.match(text, /^status: draft$/m);
  assert.match(text, /^amends: test-tj-paris-streaming$/m);
  assert.match(text, /# dpstream\.pw: score 40\.0 of 100, candidate mirror of dpstream\.tv/);
  assert.match(text, /#   same-label-other-tld \(\+40\.0\): "dpstream" under \.pw/);
  assert.match(text, /#   seen 2026-02-01T\d\d:\d\d:00\.000Z \.\. 2026-02-\d\dT\d\d:\d\d:00\.000Z, 25 queries/);

  const parsed = parseOrder(text, 'orders/draft-mirrors.yaml');
  assert.deepEqual(parsed.errors.map(formatProblem), []);
  const draft = parsed.order!;
  assert.equal(draft.status, 'draft');
  assert.deepEqual([...draft.names].sort(), Object.keys(MIRRORS).map((m) => m.replace(/^www\./, '')).sort());

  // Loaded beside the order it amends: no error, listed as a draft, never compiled, whatever the date.
  const later = new Date('2026-06-01T12:00:00Z');
  const set = await loadOrders(['orders/*.yaml'], loaded.baseDir, { now: later });
  assert.deepEqual(set.errors.map(formatProblem), []);
  assert.equal(orderState(set.orders.find((o) => o.id === draft.id)!, later).state, 'draft');
  for (const now of [new Date(CLOCK), later, new Date('2026-12-30T12:00:00Z')]) {
    const z = compileOrdersZone(set.orders, { now });
    assert.ok(!z.orders.includes(draft.id), `not compiled at ${now.toISOString()}`);
    assert.ok(!/dpstream\.pw/.test(z.text));
    assert.equal(explainName('dpstream.pw', set.orders, now).blocked, false);
  }
  assert.match(explainName('dpstream.pw', set.orders, later).text, /draft: not a decision, never enforced/);

  // The judge rules; the team sets the status to active: now it is enforced (from its effective date).
  writeFileSync(file, text.replace(/^status: draft$/m, 'status: active'));
  const ruled = await loadOrders(['orders/*.yaml'], loaded.baseDir, { now: later });
  assert.deepEqual(ruled.errors.map(formatProblem), []);
  const active = ruled.orders.find((o) => o.id === draft.id)!;
  assert.equal(active.status, 'active');
  assert.equal(orderState(active, later).state, 'active');
  const z = compileOrdersZone(ruled.orders, { now: later });
  assert.ok(z.orders.includes(draft.id));
  assert.match(z.text, /^dpstream\.pw CNAME notice\.verdict\.example\.$/m);
  assert.equal(explainName('www.dpstream.pw', ruled.orders, later).blocked, true);

  // Never overwrites a file the legal team may have edited.
  assert.equal((await mirrorsCommand(loaded, ['draft'], { order: ORDER_ID, output: file })).code, 1);
});

test('draft: chosen names, to stdout; names with no evidence are marked; errors', async () => {
  const loaded = site('draft-names', '', true);
  const out = await mirrorsCommand(loaded, ['draft', 'dpstream.pw'], { order: ORDER_ID, names: ['Hand-Picked.example.', 'dpstream.tv'] });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stderr, /dpstream\.tv is already listed/);
  assert.match(out.stderr, /hand-picked\.example: no evidence observed/);
  const parsed = parseOrder(out.stdout, 'x.yaml');
  assert.deepEqual(parsed.errors.map(formatProblem), []);
  assert.deepEqual(parsed.order!.names, ['hand-picked.example', 'dpstream.pw']);
  assert.match(out.stdout, /# hand-picked\.example: added by hand; Verdict observed no evidence for it\./);

  assert.equal((await mirrorsCommand(loaded, ['draft'], {})).code, 2, '--order is required');
  assert.equal((await mirrorsCommand(loaded, ['draft'], { order: 'no-such-order' })).code, 1);
  assert.equal((await mirrorsCommand(loaded, ['draft', 'not a name!'], { order: ORDER_ID })).code, 2);
  const none = site('draft-none', '', false);
  assert.equal((await mirrorsCommand(none, ['draft'], { order: ORDER_ID })).code, 1, 'nothing observed, nothing to draft');
});

test('draft of an expired order (the 2013 one) still validates: it lasts 12 months instead', async () => {
  const r = parseOrder(readFileSync(ROOT + 'config/orders/2013-tgi-paris-allostreaming.yaml', 'utf8'), 'x.yaml');
  const { draftAmendment } = await import('../src/mirrors/draft.js');
  const d = draftAmendment(r.order!, [{ name: 'dpstream.pw' }], { now: new Date('2026-02-10T12:00:00Z') });
  assert.equal(d.id, '2013-tgi-paris-allostreaming-mirrors-20260210');
  const p = parseOrder(d.text, 'd.yaml');
  assert.deepEqual(p.errors.map(formatProblem), []);
  assert.equal(p.order!.lastDay, '2027-02-24');
});

test('a candidate never changes an answer: observe() leaves the compiled orders zone identical', () => {
  const orders = deepFreeze([baseOrder()]);
  const now = new Date(START);
  const before = compileOrdersZone(orders, { now, serial: 1 });
  const w = watched(orders);
  assert.ok(w.snapshot().candidates.length >= 6);
  w.save(join(tmp, 'policy-state.json'));
  const afterZone = compileOrdersZone(orders, { now, serial: 1 });
  assert.equal(afterZone.text, before.text);
  assert.equal(afterZone.sha256, before.sha256);
  assert.deepEqual([...afterZone.rules.keys()], [...before.rules.keys()]);
});

test('the watcher has no path to policy: src/mirrors imports nothing that builds or applies rules', () => {
  const dir = join(ROOT, 'src/mirrors');
  const forbidden = /from '\.\.\/(rpz\/(policy|rewrite|zone|nametrie|cidrtrie|transfer\/[^']*)|resolver\/[^']*)\.js'|orders\/compile\.js'/;
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const src = readFileSync(join(dir, f), 'utf8');
    for (const line of src.split('\n').filter((l) => /^import /.test(l))) assert.doesNotMatch(line, forbidden, `${f}: ${line}`);
  }
  assert.ok(existsSync(join(ROOT, 'docs/MIRRORS.md')), 'documented');
});

test('draft --request: a regulator request under the order (issue 16), draft until the authority has asked', async () => {
  const loaded = site('draft-request', '', true);
  const file = join(loaded.baseDir, 'orders', 'draft-request.yaml');
  const out = await mirrorsCommand(loaded, ['draft'], { order: ORDER_ID, output: file, request: true, authority: 'Arcom' });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stderr, /draft regulator request under test-tj-paris-streaming with \d+ name\(s\)/);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^kind: regulator-request$/m);
  assert.match(text, /^parent: test-tj-paris-streaming$/m);
  assert.match(text, /^authority: "Arcom"$/m);
  assert.match(text, /^status: draft$/m);
  assert.match(text, /# dpstream\.pw: score 40\.0 of 100, candidate mirror of dpstream\.tv/);
  const set = await loadOrders(['orders/*.yaml'], loaded.baseDir, { now: new Date(CLOCK) });
  assert.deepEqual(set.errors.map(formatProblem), []);
  const req = set.orders.find((o) => o.kind === 'regulator-request')!;
  assert.equal(req.parentOrder?.id, ORDER_ID);
  assert.equal(orderState(req, new Date(CLOCK)).state, 'draft');
  assert.ok(!compileOrdersZone(set.orders, { now: new Date(CLOCK) }).orders.includes(req.id), 'a draft request is never enforced');
  // The authority's request arrives: reference and date filled in, status active -> bound and enforced.
  writeFileSync(file, text.replace(/^status: draft$/m, 'status: active').replace('TO BE FILLED FROM THE REQUEST', 'ARCOM/2026/0007'));
  const live = await loadOrders(['orders/*.yaml'], loaded.baseDir, { now: new Date(CLOCK) });
  assert.deepEqual(live.errors.map(formatProblem), []);
  assert.equal(orderState(live.orders.find((o) => o.kind === 'regulator-request')!, new Date(CLOCK)).state, 'active');
});
