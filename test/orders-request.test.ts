/**
 * Regulator requests (kind: regulator-request): bound to a parent court order,
 * refused with file:line when the parent cannot carry them, ended by the
 * parent's end; compiled with an EDE naming request and order; address
 * entries as rpz-ip rules.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compileOrdersZone, edeText } from '../src/rpz/orders/compile.js';
import { formatProblem, loadOrders } from '../src/rpz/orders/load.js';
import { cidrFromRpzIp, normalizeAddressEntry, rpzIpOwner } from '../src/rpz/orders/request.js';
import { explainName, listOrders } from '../src/rpz/orders/report.js';
import { nextTransition, orderState } from '../src/rpz/orders/state.js';
import { appliesToClient } from '../src/rpz/orders/scope.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-requests-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** The 2013 order: in force 2013-12-13 .. 2014-12-12 (Paris); suspended from 2014-06-01 when `suspend`. */
const parent = (suspend = false) => `id: 2013-tgi-paris-allostreaming
court: Tribunal de grande instance de Paris
decision_date: 2013-11-28
parties: { plaintiffs: [APC], addressees: [Orange] }
effective: { within_days: 15 }
duration: { months: 12 }
status: ${suspend ? 'suspended' : 'active'}
${suspend ? 'history: [{ date: 2014-06-01, status: suspended, note: appeal }]' : ''}
action: nxdomain
domains: [dpstream.tv]
`;

const request = (extra = '', date = '2014-05-01', id = 'arcom-2014-0001') => `kind: regulator-request
id: ${id}
authority: Arcom
reference: "ARCOM/2014/0001"
date: ${date}
parent: 2013-tgi-paris-allostreaming
domains: [dpstream.net]
${extra}`;

const MAY = new Date('2014-05-10T12:00:00Z');

test('a request binds to its parent: enforced from its date, ends with the parent, EDE and list name the chain', async () => {
  const dir = tree({ 'o/parent.yaml': parent(), 'o/request.yaml': request('addresses: [203.0.113.11, "2001:db8:bad::0/48"]') });
  const r = await loadOrders(['o/*.yaml'], dir, { now: MAY });
  assert.deepEqual(r.errors.map(formatProblem), []);
  const req = r.orders.find((o) => o.id === 'arcom-2014-0001')!;
  assert.equal(req.kind, 'regulator-request');
  assert.equal(req.parentOrder?.id, '2013-tgi-paris-allostreaming');
  assert.equal(req.lastDay, '2014-12-12', 'no until: the parent\'s last day');
  assert.equal(req.activeFrom.toISOString(), '2014-04-30T22:00:00.000Z', '00:00 Paris on the request date');
  assert.deepEqual(req.action, { type: 'nxdomain' }, 'the parent\'s action');
  assert.equal(orderState(req, new Date('2014-04-30T12:00:00Z')).state, 'pending');
  assert.equal(orderState(req, MAY).state, 'active');
  assert.equal(orderState(req, new Date('2014-12-13T12:00:00Z')).state, 'expired');

  const z = compileOrdersZone(r.orders, { now: MAY });
  assert.match(z.text, /^dpstream\.net CNAME \.$/m);
  assert.match(z.text, /^32\.11\.113\.0\.203\.rpz-ip CNAME \.$/m);
  assert.match(z.text, /^48\.zz\.bad\.db8\.2001\.rpz-ip CNAME \.$/m);
  const rule = z.entries.find((e) => e.owner === 'dpstream.net')!;
  assert.equal(edeText(rule.refs), 'blocked by regulator request arcom-2014-0001 (Arcom, 2014-05-01, ARCOM/2014/0001) under court order 2013-tgi-paris-allostreaming (Tribunal de grande instance de Paris, 2013-11-28)');
  // A plain order keeps its text.
  assert.equal(edeText(z.entries.find((e) => e.owner === 'dpstream.tv')!.refs), 'blocked by court order: 2013-tgi-paris-allostreaming (Tribunal de grande instance de Paris, 2013-11-28)');

  const l = listOrders(r.orders, MAY);
  assert.match(l.text, /arcom-2014-0001 +active .*Arcom, 2014-05-01, ARCOM\/2014\/0001 -> 2013-tgi-paris-allostreaming \(Tribunal de grande instance de Paris, 2013-11-28\)/);
  const e = explainName('www.dpstream.net', r.orders, MAY);
  assert.ok(e.blocked);
  assert.match(e.text, /EDE 16 \(Censored\): blocked by regulator request arcom-2014-0001 .* under court order 2013-tgi-paris-allostreaming/);
  assert.match(e.text, /\[regulator request arcom-2014-0001 .* under court order 2013-tgi-paris-allostreaming/);
});

test('refused with file:line: unknown, lapsed, suspended or draft parent; a request that outlives it', async () => {
  const cases: [string, string, string, RegExp][] = [
    ['unknown parent', parent(), request().replace('parent: 2013-tgi-paris-allostreaming', 'parent: no-such-order'), /^o\/request\.yaml:6:9: parent: parent no-such-order is not a loaded court order; this request is not enforced$/],
    ['lapsed', parent(), request('', '2015-01-10'), /^o\/request\.yaml:6:9: parent: parent 2013-tgi-paris-allostreaming had lapsed on the request's date 2015-01-10 .*last day 2014-12-12/],
    ['suspended', parent(true), request('', '2014-06-15'), /^o\/request\.yaml:6:9: parent: parent 2013-tgi-paris-allostreaming was suspended on the request's date 2014-06-15/],
    ['outlives', parent(), request('until: 2015-03-01'), /^o\/request\.yaml:8:8: until: until 2015-03-01 outlives the parent 2013-tgi-paris-allostreaming, whose measures end 2014-12-12/],
    ['draft parent', parent().replace('status: active', 'status: draft'), request(), /parent 2013-tgi-paris-allostreaming is a draft, not a decision/],
    ['no entries', parent(), request().replace('domains: [dpstream.net]', ''), /^o\/request\.yaml:1:1: a request lists at least one domain or address$/],
    ['bad address', parent(), request('addresses: [10.0.0.0/4]'), /^o\/request\.yaml:8:13: addresses\[0\]: not a valid address entry: "10.0.0.0\/4" \(prefix length must be 8..32/],
    ['missing authority', parent(), request().replace('authority: Arcom\n', ''), /^o\/request\.yaml:1:1: authority: required key is missing$/],
  ];
  for (const [what, p, q, want] of cases) {
    const dir = tree({ 'o/parent.yaml': p, 'o/request.yaml': q });
    const r = await loadOrders(['o/*.yaml'], dir, { now: MAY });
    const texts = r.errors.map(formatProblem);
    assert.ok(texts.some((t) => want.test(t)), `${what}: ${JSON.stringify(texts)}`);
    assert.ok(!r.orders.some((o) => o.kind === 'regulator-request'), `${what}: the request is not loaded`);
  }
});

test('the parent\'s later suspension or end ends the request; the transition timer sees it', async () => {
  const dir = tree({ 'o/parent.yaml': parent(true), 'o/request.yaml': request() });
  const r = await loadOrders(['o/*.yaml'], dir, { now: MAY });
  assert.deepEqual(r.errors.map(formatProblem), []);
  const req = r.orders.find((o) => o.id === 'arcom-2014-0001')!;
  assert.equal(orderState(req, MAY).state, 'active');
  const s = orderState(req, new Date('2014-06-02T00:00:00Z'));
  assert.equal(s.state, 'suspended');
  assert.equal(s.note, 'parent order 2013-tgi-paris-allostreaming is suspended');
  const t = nextTransition([req], MAY)!;
  assert.equal(t.at.toISOString(), '2014-05-31T22:00:00.000Z');
  assert.deepEqual(t.changes, [{ id: 'arcom-2014-0001', from: 'active', to: 'suspended' }]);
  assert.equal(compileOrdersZone(r.orders, { now: new Date('2014-06-02T00:00:00Z') }).entries.length, 0);
});

test('address entries: canonical CIDR and rpz-ip owners both ways', () => {
  assert.deepEqual(normalizeAddressEntry('203.0.113.11'), { cidr: '203.0.113.11/32' });
  assert.deepEqual(normalizeAddressEntry('2001:DB8:0:0:0:0:0:1'), { cidr: '2001:db8::1/128' });
  assert.match((normalizeAddressEntry('203.0.113.11/24') as { error: string }).error, /host bits set past \/24/);
  assert.match((normalizeAddressEntry('example.com') as { error: string }).error, /not an IPv4 or IPv6 address/);
  for (const c of ['203.0.113.11/32', '198.51.100.0/24', '2001:db8::1/128', '2001:db8:bad::/48', '2001:db8:1:2:3:4:5:6/128']) {
    assert.equal(cidrFromRpzIp(rpzIpOwner(c).replace(/\.rpz-ip$/, '')), c, c);
  }
  assert.equal(rpzIpOwner('2001:db8::1/128'), '128.1.zz.db8.2001.rpz-ip');
});

test('scope: a request reaches its order\'s clients, or fewer with applies_to/except of its own; never others', async () => {
  const networks = { fr: ['127.0.10.0/24'], be: ['127.0.20.0/24'] };
  const scopedParent = parent().replace('action: nxdomain', 'action: nxdomain\napplies_to: [fr]');
  const addr = (a: string) => Uint8Array.from(a.split('.').map(Number));
  const load = async (req: string) => {
    const dir = tree({ 'o/parent.yaml': scopedParent, 'o/request.yaml': req });
    return loadOrders(['o/*.yaml'], dir, { now: MAY, networks });
  };
  // No scope of its own: the order's.
  let r = await load(request());
  assert.deepEqual(r.errors.map(formatProblem), []);
  let req = r.orders.find((o) => o.id === 'arcom-2014-0001')!;
  assert.ok(appliesToClient(req, addr('127.0.10.5')));
  assert.ok(!appliesToClient(req, addr('127.0.20.5')), 'not the Belgian clients the order does not address');
  // Narrower: half the French network, minus one client.
  r = await load(request('applies_to: ["127.0.10.0/25"]\nexcept: ["127.0.10.7/32"]'));
  assert.deepEqual(r.errors.map(formatProblem), []);
  req = r.orders.find((o) => o.id === 'arcom-2014-0001')!;
  assert.ok(appliesToClient(req, addr('127.0.10.5')));
  assert.ok(!appliesToClient(req, addr('127.0.10.7')), 'its own except');
  assert.ok(!appliesToClient(req, addr('127.0.10.200')), 'outside its own applies_to');
  // Wider than the order: cut to the order's clients.
  r = await load(request('applies_to: ["127.0.0.0/8"]'));
  req = r.orders.find((o) => o.id === 'arcom-2014-0001')!;
  assert.ok(appliesToClient(req, addr('127.0.10.5')));
  assert.ok(!appliesToClient(req, addr('127.0.20.5')), 'a request cannot widen its order');
  // Disjoint: refused at its line, not enforced.
  r = await load(request('applies_to: [be]'));
  assert.ok(!r.orders.some((o) => o.id === 'arcom-2014-0001'));
  assert.match(r.errors.map(formatProblem).join('\n'), /^o\/request\.yaml:2:\d+: applies_to: applies_to \[be\] shares no client network with parent 2013-tgi-paris-allostreaming's applies_to \[fr\]/m);
  // An unknown set name is an error at its line.
  r = await load(request('applies_to: [nl]'));
  assert.match(r.errors.map(formatProblem).join('\n'), /o\/request\.yaml:8:\d+: applies_to\[0\]: .*orders\.networks defines: fr, be/);
});
