/** Loading a directory of order files: bad files skipped, cross-file checks. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { formatProblem, loadOrders } from '../src/rpz/orders/load.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-orders-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const order = (id: string, names: string[], extra = '', dates = 'decision_date: 2020-03-02\neffective: 2020-04-01\nduration: { months: 6 }') => `id: ${id}
court: Test court
${dates}
parties: { plaintiffs: [P], addressees: [ISP] }
action: nxdomain
domains:
${names.map((n) => `  - ${n}`).join('\n')}
${extra}`;

const NOW = new Date('2020-05-01T00:00:00Z');

test('the shipped orders load without errors; the lapsed ones are flagged as expired today', async () => {
  const r = await loadOrders(['config/orders/*.yaml'], ROOT, { now: new Date('2026-11-28T12:00:00Z') });
  assert.deepEqual(r.errors.map(formatProblem), []);
  assert.deepEqual(r.orders.map((o) => o.id).sort(), ['2013-tgi-paris-allostreaming', 'example-amendment-mirrors', 'example-demo-present-day']);
  assert.deepEqual(r.warnings.map((w) => [w.code, w.orders]), [
    ['expired-listed', ['2013-tgi-paris-allostreaming']],
    ['expired-listed', ['example-amendment-mirrors']],
    ['example-enforced', ['example-demo-present-day']],
  ]);
  // In 2014 the only warning is the example amendment in force (dpstream.tv in the 2013 and demo orders never overlaps in time).
  const then = await loadOrders(['config/orders/*.yaml'], ROOT, { now: new Date('2014-06-01T00:00:00Z') });
  assert.deepEqual(then.warnings.map((w) => w.code), ['example-enforced']);
  assert.deepEqual(then.warnings[0]!.orders, ['example-amendment-mirrors']);
});

test('a bad file is reported with file:line:col and skipped; the others still load', async () => {
  const dir = tree({
    'orders/a.yaml': order('a', ['a.example']),
    'orders/b.yaml': order('b', ['b.example', 'bad_-.example', 'not valid.example']),
    'orders/c.yaml': order('c', ['c.example']),
    'orders/notes.txt': 'not an order',
  });
  const r = await loadOrders(['orders/*.yaml'], dir, { now: NOW });
  assert.deepEqual(r.files, ['orders/a.yaml', 'orders/b.yaml', 'orders/c.yaml']);
  assert.deepEqual(r.orders.map((o) => o.id), ['a', 'c']);
  assert.deepEqual(r.errors.map(formatProblem), [
    'orders/b.yaml:10:5: domains[1]: not a valid domain name: "bad_-.example" (label "bad_-" starts or ends with "-")',
    'orders/b.yaml:11:5: domains[2]: not a valid domain name: "not valid.example" (invalid characters or punycode)',
  ]);
});

test('duplicate ids: the first file in path order is kept, the later one is an error', async () => {
  const dir = tree({ '1.yaml': order('same', ['a.example']), '2.yaml': order('same', ['b.example']) });
  const r = await loadOrders(['*.yaml'], dir, { now: NOW });
  assert.deepEqual(r.orders.map((o) => o.file), ['1.yaml']);
  assert.deepEqual(r.errors.map(formatProblem), ['2.yaml:1:5: id: duplicate id same, already used by 1.yaml:1:5; this file is skipped']);
});

test('an amendment of an unknown order is an error; its orphans go with it; a known base is fine', async () => {
  const dir = tree({
    'base.yaml': order('base', ['a.example']),
    'ok.yaml': order('ok', ['m1.example'], 'amends: base\n'),
    'lost.yaml': order('lost', ['m2.example'], 'amends: nowhere\n'),
    'orphan.yaml': order('orphan', ['m3.example'], 'amends: lost\n'),
  });
  const r = await loadOrders(['*.yaml'], dir, { now: NOW });
  assert.deepEqual(r.orders.map((o) => o.id).sort(), ['base', 'ok']);
  assert.deepEqual(r.errors.map(formatProblem), [
    'lost.yaml:10:9: amends: amends nowhere, which is not a loaded order; this file is skipped',
    'orphan.yaml:10:9: amends: amends lost, which is not a loaded order; this file is skipped',
  ]);
});

test('amendments in a cycle are errors', async () => {
  const dir = tree({ 'p.yaml': order('p', ['p.example'], 'amends: q\n'), 'q.yaml': order('q', ['q.example'], 'amends: p\n') });
  const r = await loadOrders(['*.yaml'], dir, { now: NOW });
  assert.deepEqual(r.orders, []);
  assert.deepEqual(r.errors.map((e) => e.code), ['amends-cycle', 'amends-cycle']);
});

test('one name in two orders in force at the same time: a warning naming both places', async () => {
  const dir = tree({
    'first.yaml': order('first', ['x.example', 'shared.example']),
    'second.yaml': order('second', ['shared.example', 'www.x.example']),
    // Same name, but in force only after the others end: a renewal, no warning.
    'later.yaml': order('later', ['shared.example'], '', 'decision_date: 2021-01-02\neffective: 2021-01-05\nduration: { months: 6 }'),
  });
  const r = await loadOrders(['*.yaml'], dir, { now: NOW });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings.map(formatProblem), [
    'second.yaml:9:5: domains: shared.example is in two orders in force at the same time: first (first.yaml:10:5) and second (second.yaml:9:5); the rule names both',
    'second.yaml:10:5: domains: www.x.example (order second) is also covered by x.example and its subdomains in order first (first.yaml:9:5); the rule names both',
  ]);
  assert.deepEqual(r.warnings[0]!.orders, ['first', 'second']);
});

test('an expired order still listed is a warning, not an error', async () => {
  const dir = tree({ 'old.yaml': order('old', ['old.example']) });
  const r = await loadOrders(['*.yaml'], dir, { now: new Date('2021-01-01T00:00:00Z') });
  assert.equal(r.orders.length, 1);
  assert.deepEqual(r.warnings.map(formatProblem), [
    'old.yaml:1:5: id: order old expired at 2020-10-01 00:00 Europe/Paris (last day 2020-09-30) but is still listed; it is not enforced',
  ]);
});

test('an unreadable match is an error for that file only', async () => {
  const dir = tree({ 'ok.yaml': order('ok', ['ok.example']), 'broken.yaml': '' });
  const r = await loadOrders(['*.yaml'], dir, { now: NOW });
  assert.deepEqual(r.orders.map((o) => o.id), ['ok']);
  assert.deepEqual(r.errors.map(formatProblem), ['broken.yaml:1:1: expected a mapping (one order per file)']);
});

test('hostile files: an alias bomb, deep nesting and an oversized file are errors for that file only, found at once', async () => {
  const bomb = ['x0: &x0 [a.example, a.example, a.example, a.example, a.example, a.example, a.example, a.example, a.example, a.example]'];
  for (let i = 1; i <= 9; i++) bomb.push(`x${i}: &x${i} [${Array(10).fill(`*x${i - 1}`).join(', ')}]`);
  const dir = tree({
    'ok.yaml': order('ok', ['ok.example']),
    'bomb.yaml': order('bomb', ['bomb.example']).replace('domains:\n  - bomb.example', `${bomb.join('\n')}\ndomains: *x9`),
    'deep.yaml': order('deep', ['deep.example']) + `notes: ${'['.repeat(300_000)}${']'.repeat(300_000)}\n`,
    // 5 MiB of comments: valid YAML, refused for its size alone, without being read whole.
    'huge.yaml': order('huge', ['huge.example']) + '# padding padding padding padding padding padding\n'.repeat(100_000),
  });
  const started = performance.now();
  const r = await loadOrders(['*.yaml'], dir, { now: NOW });
  const ms = performance.now() - started;
  assert.deepEqual(r.orders.map((o) => o.id), ['ok']);
  assert.deepEqual(r.errors.map(formatProblem), [
    'bomb.yaml:9:10: aliases expand to more than 100 nodes (an alias bomb, "billion laughs"?); refused',
    'deep.yaml:10:72: collections nested more than 64 levels deep; refused',
    'huge.yaml: larger than 4 MiB, the most this file may hold; refused unread',
  ]);
  assert.ok(ms < 2000, `loaded in ${Math.round(ms)} ms`);
});
