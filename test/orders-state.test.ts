/** Order state over time: the clock is moved, never waited for. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { checkOrderSet, formatProblem, parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';
import { addMonths, nextTransition, orderState, zonedMidnight } from '../src/rpz/orders/state.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function shipped(name: string): Order {
  const file = `config/orders/${name}.yaml`;
  const r = parseOrder(readFileSync(ROOT + file, 'utf8'), file);
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

function order(yaml: string, file = 'x.yaml'): Order {
  const r = parseOrder(yaml, file);
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

const at = (iso: string) => new Date(iso);
const MS = 1;

test('2013 order: pending before the effective instant, active at it and during, expired at expiry and after', () => {
  const o = shipped('2013-tgi-paris-allostreaming');
  // Enforcement starts at 2013-12-13 00:00 Europe/Paris = 2013-12-12T23:00Z.
  const start = at('2013-12-12T23:00:00Z');
  const end = at('2014-12-12T23:00:00Z');
  assert.equal(orderState(o, at('2013-11-28T10:00:00Z')).state, 'pending', 'on the day of the decision');
  const before = orderState(o, new Date(start.getTime() - MS));
  assert.equal(before.state, 'pending');
  assert.equal(before.daysUntilActive, 1);
  const s0 = orderState(o, start);
  assert.equal(s0.state, 'active');
  assert.equal(s0.since?.toISOString(), start.toISOString());
  assert.equal(s0.daysLeft, 365);
  const during = orderState(o, at('2014-01-20T12:00:00Z')); // the appeal month: not suspensive
  assert.equal(during.state, 'active');
  assert.equal(orderState(o, new Date(end.getTime() - MS)).state, 'active');
  assert.equal(orderState(o, new Date(end.getTime() - MS)).daysLeft, 1, 'the last day counts as one');
  const s1 = orderState(o, end);
  assert.equal(s1.state, 'expired');
  assert.equal(s1.daysLeft, 0);
  assert.equal(orderState(o, at('2026-11-28T00:00:00Z')).state, 'expired');
});

const BASE = `id: t
court: Test court
decision_date: 2020-03-02
parties: { plaintiffs: [P], addressees: [ISP] }
effective: 2020-04-01
duration: { months: 6 }
action: nxdomain
domains: [a.example]
`;

test('suspended and lifted come from the history, at 00:00 of each date in the order time zone', () => {
  const o = order(BASE + `status: lifted
history:
  - { date: 2020-05-10, status: suspended, note: appeal with suspensive effect }
  - { date: 2020-06-01, status: active, note: appeal rejected }
  - { date: 2020-07-15, status: lifted, note: quashed }
`);
  const paris = (d: string) => zonedMidnight(d, 'Europe/Paris');
  assert.equal(orderState(o, new Date(paris('2020-05-10').getTime() - MS)).state, 'active');
  const s = orderState(o, paris('2020-05-10'));
  assert.equal(s.state, 'suspended');
  assert.equal(s.note, 'appeal with suspensive effect');
  assert.equal(s.since?.toISOString(), '2020-05-09T22:00:00.000Z');
  const back = orderState(o, paris('2020-06-01'));
  assert.equal(back.state, 'active');
  assert.equal(back.since?.toISOString(), paris('2020-06-01').toISOString(), 'active again since the return');
  assert.equal(orderState(o, paris('2020-07-15')).state, 'lifted');
  assert.equal(orderState(o, paris('2020-07-15')).daysLeft, 0);
  assert.equal(orderState(o, at('2030-01-01T00:00:00Z')).state, 'lifted', 'lifted before its expiry: stays lifted');
});

test('a lifting recorded after the order expired leaves it expired', () => {
  const o = order(BASE + `status: lifted
history: [{ date: 2021-01-10, status: lifted }]
`);
  assert.equal(orderState(o, at('2021-02-01T00:00:00Z')).state, 'expired');
});

test('an amendment adds dpstream.pw with its own dates', () => {
  const base = shipped('2013-tgi-paris-allostreaming');
  const amendment = shipped('example-amendment-mirrors');
  const set = checkOrderSet([base, amendment], at('2014-06-01T00:00:00Z'));
  assert.deepEqual(set.errors, []);
  assert.equal(amendment.amends, base.id);
  assert.ok(amendment.names.includes('dpstream.pw'));
  assert.ok(!base.names.includes('dpstream.pw'));
  // In force from 2014-03-29 (15 days after its own decision of 2014-03-14) to 2014-12-12.
  assert.equal(amendment.activeFrom.toISOString(), '2014-03-28T23:00:00.000Z');
  assert.equal(amendment.expiresAt.toISOString(), '2014-12-12T23:00:00.000Z');
  const t = at('2014-02-01T00:00:00Z');
  assert.equal(orderState(base, t).state, 'active');
  assert.equal(orderState(amendment, t).state, 'pending', 'base in force, mirrors not yet');
  assert.equal(orderState(amendment, at('2014-03-28T23:00:00Z')).state, 'active');
});

test('nextTransition gives the next instant any order changes, and which', () => {
  const base = shipped('2013-tgi-paris-allostreaming');
  const amendment = shipped('example-amendment-mirrors');
  const demo = shipped('example-demo-present-day');
  const all = [base, amendment, demo];
  let t = nextTransition(all, at('2013-12-01T00:00:00Z'))!;
  assert.equal(t.at.toISOString(), '2013-12-12T23:00:00.000Z');
  assert.deepEqual(t.changes, [{ id: base.id, from: 'pending', to: 'active' }]);
  // Exactly at a transition, the next one is the following change (the appeal note changes nothing).
  t = nextTransition(all, t.at)!;
  assert.equal(t.at.toISOString(), '2014-03-28T23:00:00.000Z');
  assert.deepEqual(t.changes, [{ id: amendment.id, from: 'pending', to: 'active' }]);
  t = nextTransition(all, t.at)!;
  assert.equal(t.at.toISOString(), '2014-12-12T23:00:00.000Z');
  assert.deepEqual(t.changes.map((c) => c.id).sort(), [base.id, amendment.id].sort(), 'both end together');
  t = nextTransition(all, t.at)!;
  assert.equal(t.at.toISOString(), '2025-12-31T23:00:00.000Z', 'demo order: 2026-01-01 00:00 Paris');
  t = nextTransition(all, t.at)!;
  assert.equal(t.at.toISOString(), '2026-12-31T23:00:00.000Z');
  assert.equal(nextTransition(all, t.at), undefined, 'nothing left to change');
});

test('history entries are transitions too', () => {
  const o = order(BASE + `status: suspended
history: [{ date: 2020-05-10, status: suspended }]
`);
  const t = nextTransition([o], at('2020-04-15T00:00:00Z'))!;
  assert.equal(t.at.toISOString(), '2020-05-09T22:00:00.000Z');
  assert.deepEqual(t.changes, [{ id: 't', from: 'active', to: 'suspended' }]);
  const t2 = nextTransition([o], t.at)!;
  assert.deepEqual(t2.changes, [{ id: 't', from: 'suspended', to: 'expired' }]);
});

test('calendar months clamp to the end of a shorter month', () => {
  assert.equal(addMonths('2013-12-13', 12), '2014-12-13');
  assert.equal(addMonths('2024-01-31', 1), '2024-02-29');
  assert.equal(addMonths('2023-11-30', 3), '2024-02-29');
});
