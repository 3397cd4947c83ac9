/** Order files: expansion of names, dates resolved to instants, and errors that point at file:line:col and key. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { formatProblem, parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';
import { normalizeDomainName } from '../src/rpz/orders/schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const BASE = `id: t
court: Test court
decision_date: 2020-03-02
parties: { plaintiffs: [P], addressees: [ISP] }
effective: { within_days: 10 }
duration: { months: 1 }
action: nxdomain
`;

function order(yaml: string, file = 'x.yaml'): Order {
  const r = parseOrder(yaml, file);
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

function problems(yaml: string, file = 'config/orders/x.yaml'): string[] {
  const r = parseOrder(yaml, file);
  assert.equal(r.order, undefined, 'a file with errors yields no order');
  return r.errors.map(formatProblem);
}

test('a label with variants expands to one name per variant', () => {
  const o = order(BASE + 'domains:\n  - { label: fifostream, variants: [com, org, net, tv] }\n');
  assert.deepEqual(o.names, ['fifostream.com', 'fifostream.org', 'fifostream.net', 'fifostream.tv']);
});

test('the shipped 2013 order expands to exactly the 16 names of ORDER-2013.md', () => {
  const file = 'config/orders/2013-tgi-paris-allostreaming.yaml';
  const r = parseOrder(readFileSync(ROOT + file, 'utf8'), file);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, [], 'no duplicate within the order');
  const o = r.order!;
  const expected = [
    'fifostream.tv', 'dpstream.tv',
    'allostreaming.com', 'alloshotv.com', 'allomovies.com', 'alloshare.com', 'allomegavideo.com', 'alloseven.com', 'allourls.com',
    'fifostream.com', 'fifostream.org', 'fifostream.net',
    'fifostreaming.com', 'fifostreaming.org', 'fifostreaming.net', 'fifostreaming.tv',
  ];
  assert.equal(o.names.length, 16);
  assert.equal(new Set(o.names).size, 16);
  assert.deepEqual([...o.names].sort(), [...expected].sort());
  // Its real dates: decided 2013-11-28, in place within 15 days, for 12 months, Paris time.
  assert.equal(o.decisionDate, '2013-11-28');
  assert.equal(o.effectiveDate, '2013-12-13');
  assert.equal(o.activeFrom.toISOString(), '2013-12-12T23:00:00.000Z');
  assert.equal(o.lastDay, '2014-12-12');
  assert.equal(o.expiresAt.toISOString(), '2014-12-12T23:00:00.000Z');
  assert.deepEqual(o.action, { type: 'redirect', host: 'notice.verdict.example' });
  assert.equal(o.status, 'active');
  assert.equal(o.history.length, 1);
  assert.match(o.history[0]!.note!, /appeal/i);
  assert.equal(o.history[0]!.at, undefined, 'month-only note: no instant invented');
  assert.deepEqual(o.parties.plaintiffs, ['APC', 'FNDF', 'SEVN']);
  assert.equal(o.example, false);
});

test('the same name written twice in one order counts once, with a warning at both places', () => {
  const r = parseOrder(BASE + 'domains:\n  - fifostream.tv\n  - { label: fifostream, variants: [com, tv] }\n', 'd.yaml');
  assert.deepEqual(r.order!.names, ['fifostream.tv', 'fifostream.com']);
  assert.equal(r.warnings.length, 1);
  assert.equal(formatProblem(r.warnings[0]!), 'd.yaml:10:42: domains[1].variants[1]: fifostream.tv is listed twice in this order (also at d.yaml:9:5); counted once');
});

test('names are canonical: lowercase, no trailing dot, IDNA for non-ASCII', () => {
  const o = order(BASE + 'domains: [WWW.Example.COM., "fifostréam.tv"]\n');
  assert.deepEqual(o.names, ['www.example.com', 'xn--fifostram-h4a.tv']);
  for (const bad of ['com', 'a..b.com', '-a.com', '*.a.com', '1.2.3.4', 'a b.com', 'xn--a.com', 'a'.repeat(64) + '.com']) {
    assert.ok('error' in normalizeDomainName(bad), bad);
  }
});

test('dates: explicit effective date, duration in days, until (inclusive), time zone per order', () => {
  const o = order(BASE.replace('effective: { within_days: 10 }', 'effective: 2020-03-05').replace('duration: { months: 1 }', 'duration: { days: 3 }') + 'domains: [a.example]\n');
  assert.equal(o.activeFrom.toISOString(), '2020-03-04T23:00:00.000Z');
  assert.equal(o.lastDay, '2020-03-07');
  const u = order(BASE.replace('duration: { months: 1 }', 'until: 2020-06-30\ntimezone: America/New_York') + 'domains: [a.example]\n');
  assert.equal(u.activeFrom.toISOString(), '2020-03-12T04:00:00.000Z', 'EDT began on 2020-03-08');
  assert.equal(u.expiresAt.toISOString(), '2020-07-01T04:00:00.000Z');
  // 31 January + 1 month clamps to the end of February.
  const m = order(BASE.replace('decision_date: 2020-03-02', 'decision_date: 2020-01-20').replace('effective: { within_days: 10 }', 'effective: 2020-01-31') + 'domains: [a.example]\n');
  assert.equal(m.lastDay, '2020-02-28');
});

test('a bad file names file:line:col and the key path', () => {
  const yaml = `id: bad
court: Test court
decision_date: 2020-03-02
parties: { plaintiffs: [P], addressees: [ISP] }
effective: { within_days: 10 }
duration: { months: 1 }
action: nxdomain
domains:
  - good.example
  - also-good.example
  - fine.example
  - not..valid.example
`;
  assert.deepEqual(problems(yaml), [
    'config/orders/x.yaml:12:5: domains[3]: not a valid domain name: "not..valid.example" (empty label)',
  ]);
});

test('schema errors point at the offending key, unknown keys at the key itself', () => {
  const yaml = `id: bad
court: Test court
decision_date: 2020-13-02
parties: { plaintiffs: [P], addressees: [ISP] }
effective: { within_days: -1 }
duration: { months: 1 }
action: { redirect: 42 }
domains:
  - { label: fifostream, variants: [com, "c m"] }
colour: blue
`;
  const got = problems(yaml);
  assert.ok(got.includes('config/orders/x.yaml:5:27: effective.within_days: Too small: expected number to be >=0'), got.join('\n'));
  assert.ok(got.includes('config/orders/x.yaml:7:21: action.redirect: Invalid input: expected string, received number'), got.join('\n'));
  assert.ok(got.includes('config/orders/x.yaml:10:1: colour: unknown key'), got.join('\n'));
  // Semantic checks run only once the shape is right, so fix the shape and look again.
  const got2 = problems(yaml.replace('within_days: -1', 'within_days: 1').replace('redirect: 42', 'redirect: notice.example').replace('colour: blue\n', ''));
  assert.deepEqual(got2, [
    'config/orders/x.yaml:3:16: decision_date: 2020-13-02 is not a calendar date',
    'config/orders/x.yaml:9:42: domains[0].variants[1]: not a valid domain name: "fifostream.c m" (invalid characters or punycode)',
  ]);
});

test('missing keys, YAML syntax errors and inconsistent status are reported, not thrown', () => {
  assert.deepEqual(problems('id: x\n'), [
    'config/orders/x.yaml:1:1: court: required key is missing',
    'config/orders/x.yaml:1:1: decision_date: required key is missing',
    'config/orders/x.yaml:1:1: parties: required key is missing',
    'config/orders/x.yaml:1:1: effective: required key is missing',
    'config/orders/x.yaml:1:1: action: required key is missing',
    'config/orders/x.yaml:1:1: domains: required key is missing',
  ]);
  assert.match(problems('id: [unclosed\n')[0]!, /^config\/orders\/x\.yaml:\d+:\d+: /);
  assert.deepEqual(problems(BASE + 'status: lifted\ndomains: [a.example]\n'), [
    'config/orders/x.yaml:8:9: status: status lifted needs a history entry giving its date',
  ]);
  assert.deepEqual(problems(BASE + 'history: [{ date: 2020-04, status: suspended }]\ndomains: [a.example]\n'), [
    'config/orders/x.yaml:8:19: history[0].date: a change of status (active -> suspended) needs a full date YYYY-MM-DD',
  ]);
  assert.deepEqual(problems(BASE + 'status: active\nhistory: [{ date: 2020-04-01, status: suspended }]\ndomains: [a.example]\n'), [
    'config/orders/x.yaml:8:9: status: status is active but the history ends with suspended; add the history entry that changed it',
  ]);
  assert.deepEqual(problems(BASE + 'history:\n  - { date: 2020-05-01, status: suspended }\n  - { date: 2020-04-01, status: active }\nstatus: active\ndomains: [a.example]\n'), [
    'config/orders/x.yaml:10:13: history[1].date: history is not in date order (2020-04-01 after 2020-05-01)',
    'config/orders/x.yaml:11:9: status: status is active but the history ends with suspended; add the history entry that changed it',
  ]);
  // A month-only note may follow a full date in the same month.
  assert.equal(order(BASE + 'history:\n  - { date: 2020-04-15, status: active, note: hearing }\n  - { date: 2020-04, status: active, note: appeal }\ndomains: [a.example]\n').history.length, 2);
  assert.deepEqual(problems(BASE.replace('duration: { months: 1 }\n', '') + 'domains: [a.example]\n'), [
    'config/orders/x.yaml:1:1: an order needs duration ({ months: N } or { days: N }) or until (last day)',
  ]);
});
