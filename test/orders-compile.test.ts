/** Orders -> one standard RPZ zone: read back with our master-file parser and checked by BIND's named-checkzone. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { typeToText } from '../src/dns/constants.js';
import { nameToText } from '../src/dns/name.js';
import { rdataToText } from '../src/dns/rdata.js';
import { parseZoneString } from '../src/rpz/masterfile.js';
import { compileOrdersZone, edeText, nextSerial, ruleKey } from '../src/rpz/orders/compile.js';
import type { CompileOptions } from '../src/rpz/orders/compile.js';
import { formatProblem, parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ZONE = 'court-orders.rpz';
const tmp = mkdtempSync(join(tmpdir(), 'verdict-compile-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const HAS_CHECKZONE = spawnSync('named-checkzone', ['-v'], { encoding: 'utf8' }).status === 0;
const NO_CHECKZONE = HAS_CHECKZONE ? false : 'named-checkzone not installed (Debian: apt-get install bind9-utils)';

function shipped(name: string): Order {
  const file = `config/orders/${name}.yaml`;
  const r = parseOrder(readFileSync(ROOT + file, 'utf8'), file);
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

function order(id: string, decision: string, names: string[], extra = 'action: nxdomain\n'): Order {
  const r = parseOrder(`id: ${id}
court: Tribunal judiciaire de Créteil
decision_date: ${decision}
reference: "RG ${id}/1"
parties: { plaintiffs: [P], addressees: [ISP] }
effective: ${decision}
duration: { months: 12 }
domains: [${names.join(', ')}]
${extra}`, `${id}.yaml`);
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

/** The zone read back: "owner TYPE rdata" lines, owners absolute. */
function records(text: string): string[] {
  const out: string[] = [];
  parseZoneString(text, (rr) => out.push(`${nameToText(rr.name)} ${typeToText(rr.type)} ${rdataToText(rr.type, rr.rdata)}`));
  return out;
}

function checkzone(text: string): { ok: boolean; output: string } {
  const file = join(tmp, `zone-${Math.random().toString(36).slice(2)}.db`);
  writeFileSync(file, text);
  const r = spawnSync('named-checkzone', [ZONE, file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

const IN_2014 = new Date('2014-06-01T00:00:00Z');
const NOTICE: Partial<CompileOptions> = { noticeAddresses: ['192.0.2.80', '2001:db8::80'] };

test('the 2013 order and its amendment, in force in 2014, compile to local-data redirects with a TXT naming the order', () => {
  const orders = [shipped('2013-tgi-paris-allostreaming'), shipped('example-amendment-mirrors'), shipped('example-demo-present-day')];
  const z = compileOrdersZone(orders, { zone: ZONE, now: IN_2014, ...NOTICE });
  const rr = records(z.text);
  assert.ok(rr.some((l) => l.startsWith(`${ZONE}. SOA localhost. hostmaster.${ZONE}. 2014060100 `)), rr[0]);
  assert.ok(rr.includes(`${ZONE}. NS localhost.`));
  assert.ok(rr.includes(`dpstream.tv.${ZONE}. A 192.0.2.80`));
  assert.ok(rr.includes(`dpstream.tv.${ZONE}. AAAA 2001:db8::80`));
  assert.ok(rr.includes(`*.dpstream.tv.${ZONE}. A 192.0.2.80`), 'subdomains');
  assert.ok(rr.includes(`dpstream.tv.${ZONE}. TXT "order=2013-tgi-paris-allostreaming" "court=Tribunal de grande instance de Paris" "decision=2013-11-28"`));
  assert.ok(rr.includes(`dpstream.pw.${ZONE}. TXT "order=example-amendment-mirrors" "court=Tribunal de grande instance de Paris" "decision=2014-03-14" "example=not a real decision"`));
  // 16 names of the order + 2 of the amendment, each exact and wildcard; the demo order is pending in 2014.
  assert.equal(z.rules.size, 36);
  assert.deepEqual(z.orders, ['2013-tgi-paris-allostreaming', 'example-amendment-mirrors']);
  assert.equal(rr.filter((l) => l.includes(' TXT ')).length, 36);
  assert.ok(!rr.some((l) => l.startsWith('demo-blocked.example.')));
  assert.deepEqual(z.rules.get(ruleKey('*.fifostream.tv', ZONE))!.map((r) => r.id), ['2013-tgi-paris-allostreaming']);
  assert.deepEqual(z.problems, []);
});

test('the compiled zones are accepted by named-checkzone', { skip: NO_CHECKZONE }, () => {
  const orders = [shipped('2013-tgi-paris-allostreaming'), shipped('example-amendment-mirrors'), shipped('example-demo-present-day')];
  const cases = [
    compileOrdersZone(orders, { now: IN_2014, ...NOTICE }), // local data + TXT
    compileOrdersZone(orders, { now: IN_2014 }), // CNAME redirect, alone at its owner
    compileOrdersZone(orders, { now: new Date('2026-11-28T12:00:00Z') }),
    compileOrdersZone(orders, { now: new Date('2010-01-01T00:00:00Z') }), // nothing in force: SOA and NS only
    compileOrdersZone([order('a', '2020-01-10', ['shared.example', 'x.example']), order('b', '2020-02-10', ['shared.example', 'www.x.example'], 'action: nodata\ninclude_subdomains: false\n')],
      { now: new Date('2020-03-01T00:00:00Z') }),
    compileOrdersZone([order('c', '2020-01-10', ['c.example'], 'action: { redirect: notice.example }\n')], { now: new Date('2020-03-01T00:00:00Z'), ...NOTICE }),
  ];
  for (const z of cases) {
    const r = checkzone(z.text);
    assert.ok(r.ok, `${r.output}\n${z.text}`);
    assert.match(r.output, new RegExp(`loaded serial ${z.serial}\\b`));
  }
});

test('without notice addresses a redirect is a CNAME alone: no TXT beside it (RFC 2181 10.1)', () => {
  const z = compileOrdersZone([shipped('2013-tgi-paris-allostreaming')], { now: IN_2014, noticeHost: 'blocked.isp.example.' });
  const rr = records(z.text);
  assert.ok(rr.includes(`dpstream.tv.${ZONE}. CNAME blocked.isp.example.`), 'noticeHost replaces the order\'s host');
  assert.ok(rr.includes(`*.allourls.com.${ZONE}. CNAME blocked.isp.example.`));
  assert.equal(rr.filter((l) => l.includes(' TXT ')).length, 0);
  assert.match(z.text, /^; 2013-tgi-paris-allostreaming \(Tribunal de grande instance de Paris, 2013-11-28\)/m, 'the order is named in a comment');
});

test('NXDOMAIN is CNAME ., NODATA is CNAME *.; include_subdomains: false gives no wildcard owner', () => {
  const z = compileOrdersZone([
    order('nx', '2020-01-10', ['nx.example']),
    order('nd', '2020-01-10', ['nd.example'], 'action: nodata\ninclude_subdomains: false\n'),
  ], { now: new Date('2020-03-01T00:00:00Z') });
  const rr = records(z.text).filter((l) => !/ (SOA|NS) /.test(l));
  assert.deepEqual(rr.sort(), [
    `*.nx.example.${ZONE}. CNAME .`,
    `nd.example.${ZONE}. CNAME *.`,
    `nx.example.${ZONE}. CNAME .`,
  ]);
});

test('two orders on one name: one rule naming both, earliest decision first and its action applied', () => {
  const early = order('early', '2020-01-10', ['shared.example', 'x.example'], 'action: { redirect: notice.example }\n');
  const late = order('late', '2020-02-10', ['shared.example', 'www.x.example']);
  const z = compileOrdersZone([late, early], { now: new Date('2020-03-01T00:00:00Z'), ...NOTICE });
  const rr = records(z.text);
  const txt = (owner: string) => rr.filter((l) => l.startsWith(`${owner}.${ZONE}. TXT `)).map((l) => /order=([^"]+)/.exec(l)![1]).sort();
  assert.deepEqual(txt('shared.example'), ['early', 'late']);
  assert.ok(rr.includes(`shared.example.${ZONE}. A 192.0.2.80`), 'the earliest decision (a redirect) wins over the later NXDOMAIN');
  assert.ok(!rr.includes(`shared.example.${ZONE}. CNAME .`));
  const refs = z.rules.get(ruleKey('shared.example', ZONE))!;
  assert.deepEqual(refs.map((r) => r.id), ['early', 'late']);
  assert.equal(edeText(refs), 'blocked by court order: early (Tribunal judiciaire de Créteil, 2020-01-10, RG early/1); late (Tribunal judiciaire de Créteil, 2020-02-10, RG late/1)');
  // www.x.example is listed by `late` and covered by `early` through x.example's subdomains; the exact rule wins in RPZ, so it names both.
  assert.deepEqual(z.rules.get(ruleKey('www.x.example', ZONE))!.map((r) => [r.id, r.via, r.listed]), [['early', 'subdomains', 'x.example'], ['late', 'name', 'www.x.example']]);
  assert.deepEqual(txt('www.x.example'), ['early', 'late']);
  // Non-ASCII in TXT is escaped as \DDD (UTF-8 bytes).
  assert.match(z.text, /"court=Tribunal judiciaire de Cr\\195\\169teil"/);
});

test('the serial goes up on every change of content and only then; the state file survives restarts', () => {
  const state = join(tmp, 'serial.json');
  const a = order('a', '2020-01-10', ['a.example']);
  const b = order('b', '2020-02-20', ['b.example']);
  const day1 = new Date('2020-03-01T08:00:00Z');
  const z1 = compileOrdersZone([a, b], { now: day1, stateFile: state });
  assert.equal(z1.serial, 2020030100);
  assert.equal(z1.changed, true);
  // Same content an hour later: same serial, not changed (the generation time is not content).
  const z2 = compileOrdersZone([a, b], { now: new Date('2020-03-01T09:00:00Z'), stateFile: state });
  assert.equal(z2.serial, 2020030100);
  assert.equal(z2.changed, false);
  assert.notEqual(z2.text, z1.text, 'the header says when it was compiled');
  // A change the same day: previous + 1.
  const c = order('c', '2020-02-25', ['c.example']);
  const z3 = compileOrdersZone([a, b, c], { now: new Date('2020-03-01T10:00:00Z'), stateFile: state });
  assert.equal(z3.serial, 2020030101);
  assert.deepEqual(JSON.parse(readFileSync(state, 'utf8')), { zone: ZONE, serial: 2020030101, sha256: z3.sha256 });
  // A date makes `a` expire the next year: the content changes, the serial takes the new date.
  const z4 = compileOrdersZone([a, b, c], { now: new Date('2021-01-15T00:00:00Z'), stateFile: state });
  assert.equal(z4.serial, 2021011500);
  assert.ok(!z4.text.includes('a.example'));
  // In memory, without a file: the same rule.
  const z5 = compileOrdersZone([a], { now: day1, previous: { serial: z4.serial, sha256: z4.sha256 } });
  assert.equal(z5.serial, 2021011501, 'never backwards, even when the clock is');
  assert.equal(compileOrdersZone([a, b, c], { now: day1, serial: 7 }).serial, 7);
  assert.equal(nextSerial(new Date('2020-03-01T00:00:00Z'), 4294967295), 2020030100);
});
