/** Text for `verdict orders list | check | explain`. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { formatProblem, loadOrders, parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';
import { checkOrders, explainName, listOrders } from '../src/rpz/orders/report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TODAY = new Date('2026-11-28T12:00:00Z');
const IN_2014 = new Date('2014-06-01T00:00:00Z');

async function shipped(now: Date) {
  return loadOrders(['config/orders/*.yaml'], ROOT, { now });
}

test('list: each order with its state now, days left, names and court', async () => {
  const { orders } = await shipped(TODAY);
  const { rows, text } = listOrders(orders, TODAY);
  assert.deepEqual(rows.map((r) => [r.id, r.state, r.daysLeft, r.names]), [
    ['2013-tgi-paris-allostreaming', 'expired', 0, 16],
    ['example-amendment-mirrors', 'expired', 0, 2],
    ['example-demo-present-day', 'active', 34, 2],
  ]);
  assert.match(text, /^example-demo-present-day \(EXAMPLE\)\s+active\s+34\s+2\s+2026-01-01 \.\. 2026-12-31/m);
  assert.match(text, /^2013-tgi-paris-allostreaming\s+expired\s+-\s+16\s+2013-12-13 \.\. 2014-12-12\s+Tribunal de grande instance de Paris, 2013-11-28$/m);
});

test('check: errors and warnings with file:line, a summary, exit code 1 only on errors', async () => {
  const ok = checkOrders(await shipped(TODAY), TODAY);
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.errors, 0);
  assert.equal(ok.warnings, 3);
  assert.match(ok.text, /^warning: config\/orders\/2013-tgi-paris-allostreaming\.yaml:\d+:\d+: id: order 2013-tgi-paris-allostreaming expired/m);
  assert.match(ok.text, /^3 order\(s\) loaded \(2 expired, 1 active\), 0 error\(s\), 3 warning\(s\)$/m);
  const bad = parseOrder('id: x\ncourt: c\n', 'bad.yaml');
  const failed = checkOrders({ orders: [], errors: bad.errors, warnings: [] }, TODAY);
  assert.equal(failed.exitCode, 1);
  assert.match(failed.text, /^bad\.yaml:1:1: decision_date: required key is missing$/m);
});

test('explain: a subdomain blocked by the order in force, with the rule and the EDE text', async () => {
  const { orders } = await shipped(IN_2014);
  const e = explainName('WWW.dpstream.tv.', orders, IN_2014);
  assert.equal(e.name, 'www.dpstream.tv');
  assert.equal(e.blocked, true);
  assert.deepEqual(e.rule, {
    owner: '*.dpstream.tv.court-orders.rpz',
    action: 'redirect to notice.verdict.example',
    orders: ['2013-tgi-paris-allostreaming'],
    ede: 'blocked by court order: 2013-tgi-paris-allostreaming (Tribunal de grande instance de Paris, 2013-11-28)',
  });
  const m2013 = e.matches.find((m) => m.order === '2013-tgi-paris-allostreaming')!;
  assert.equal(m2013.coverage, 'subdomain');
  assert.equal(m2013.enforced, true);
  const demo = e.matches.find((m) => m.order === 'example-demo-present-day')!;
  assert.equal(demo.state, 'pending');
  assert.match(demo.reason, /pending: decided 2025-12-15, enforced from 2026-01-01 00:00 Europe\/Paris/);
});

test('explain: why not — expired, not listed, a parent listed without subdomains, suspended, lifted', async () => {
  const { orders } = await shipped(TODAY);
  const pw = explainName('dpstream.pw', orders, TODAY);
  assert.equal(pw.blocked, false);
  assert.equal(pw.matches[0]!.state, 'expired');
  assert.match(pw.text, /not blocked: no order covering it is in force\n  - example-amendment-mirrors: lists dpstream\.pw; expired at 2014-12-13 00:00 Europe\/Paris \(last day 2014-12-12\)/);
  assert.match(explainName('dpstream.cc', orders, TODAY).text, /not listed in any order \(nor is any parent domain\)/);
  // Today the same name is blocked by the present-day example order, not by the lapsed 2013 one.
  const tv = explainName('dpstream.tv', orders, TODAY);
  assert.deepEqual(tv.rule?.orders, ['example-demo-present-day']);

  const mk = (extra: string): Order => {
    const r = parseOrder(`id: s
court: C
decision_date: 2026-01-05
parties: { plaintiffs: [P], addressees: [I] }
effective: 2026-01-10
duration: { months: 12 }
action: nxdomain
domains: [s.example]
${extra}`, 's.yaml');
    assert.deepEqual(r.errors.map(formatProblem), []);
    return r.order!;
  };
  const narrow = explainName('www.s.example', [mk('include_subdomains: false\n')], TODAY);
  assert.equal(narrow.blocked, false);
  assert.equal(narrow.matches[0]!.coverage, 'not-covered');
  assert.match(narrow.text, /lists s\.example without subdomains/);
  const susp = explainName('s.example', [mk('status: suspended\nhistory: [{ date: 2026-06-01, status: suspended, note: appeal pending }]\n')], TODAY);
  assert.equal(susp.blocked, false);
  assert.match(susp.text, /suspended since 2026-06-01 00:00 Europe\/Paris \(appeal pending\)/);
  const lifted = explainName('s.example', [mk('status: lifted\nhistory: [{ date: 2026-07-01, status: lifted, note: quashed on appeal }]\n')], TODAY);
  assert.match(lifted.text, /lifted at 2026-07-01 00:00 Europe\/Paris \(quashed on appeal\)/);
  assert.match(explainName('not a name', [], TODAY).text, /not a valid domain name/);
});
