/**
 * The RPZ policy engine as data: name trie, CIDR trie, zone classification,
 * and which rule wins (BIND ARM "Response Policy Zone (RPZ) Rewriting").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { CidrError, CidrTrie, parseRpzPrefix, prefixToRpz, prefixToText } from '../src/rpz/cidrtrie.js';
import { parseZoneString } from '../src/rpz/masterfile.js';
import { NameTrie } from '../src/rpz/nametrie.js';
import { PolicySet } from '../src/rpz/policy.js';
import type { AfterInput, PolicyOutcome } from '../src/rpz/policy.js';
import { PolicyZoneBuilder, PolicyZoneError, parsePolicyOverride } from '../src/rpz/zone.js';
import type { PolicyZone, PolicyZoneOptions } from '../src/rpz/zone.js';

const n = (s: string) => nameFromText(s.endsWith('.') ? s : s + '.');

/** A policy zone from the body of its master file (SOA and NS added). */
function zone(name: string, body: string, opts: PolicyZoneOptions = {}): PolicyZone {
  const b = new PolicyZoneBuilder(name, opts);
  const text = `$TTL 300\n@ SOA ns.${name}. host.${name}. 1 3600 600 86400 120\n@ NS localhost.\n${body}\n`;
  parseZoneString(text, (rr) => b.add(rr), { origin: n(name), file: `${name}.rpz` });
  return b.build();
}

/** Records from master-file text (absolute names). */
function recs(text: string): Record[] {
  const out: Record[] = [];
  parseZoneString(`$TTL 3600\n${text}\n`, (rr) => out.push(rr));
  return out;
}

/** "zone trigger rule action" of an outcome's deciding hit, or "miss". */
function show(o: PolicyOutcome): string {
  const h = o.hit;
  if (!h) return 'miss';
  return `${h.zone.label} ${h.rule.trigger} ${h.zone.ruleText(h.rule)} ${h.action.kind}${h.nameIndex ? ` @${h.nameIndex}` : ''}`;
}

// ------------------------------------------------------------------ name trie

test('name trie: exact, wildcard of strict subdomains only, closest wildcard, exact before wildcard, any case', () => {
  const t = new NameTrie();
  t.insert(n('example.com'), false, 1);
  t.insert(n('example.com'), true, 2); // *.example.com
  t.insert(n('b.example.com'), true, 3); // *.b.example.com
  t.insert(n('x.b.example.com'), false, 4);
  assert.equal(t.insert(n('EXAMPLE.com'), false, 99), 1, 'a duplicate returns the first value');
  t.freeze();
  const m = (s: string) => t.match(n(s));
  assert.equal(m('example.com'), 1 * 2, 'exact');
  assert.equal(m('ExAmPlE.CoM'), 1 * 2, 'case-insensitive');
  assert.equal(m('www.example.com'), 2 * 2 + 1, 'wildcard');
  assert.equal(m('a.b.c.example.com'), 2 * 2 + 1, 'wildcard, deep');
  assert.equal(m('b.example.com'), 2 * 2 + 1, '*.example.com covers b.example.com; *.b.example.com does not');
  assert.equal(m('y.b.example.com'), 3 * 2 + 1, 'the closest wildcard wins');
  assert.equal(m('x.b.example.com'), 4 * 2, 'exact before wildcard');
  assert.equal(m('z.x.b.example.com'), 3 * 2 + 1, 'an exact rule does not cover its subdomains');
  assert.equal(m('com'), -1);
  assert.equal(m('example.org'), -1);
  assert.equal(m('notexample.com'), -1, 'labels, not string suffixes');
  assert.equal(t.size, 4);
  assert.equal(t.wildcards, 2);
});

test('name trie: a wildcard at the root matches every name but the root', () => {
  const t = new NameTrie();
  t.insert(nameFromText('.'), true, 7);
  t.freeze();
  assert.equal(t.match(n('anything.example')), 15);
  assert.equal(t.match(nameFromText('.')), -1);
});

test('name trie: agrees with a Map on 20,000 random names and 20,000 probes', () => {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const label = () => 'abcdefghij'.slice(0, 1 + Math.floor(rnd() * 3)) + Math.floor(rnd() * 50).toString(36);
  const nameOf = (k: number) => Array.from({ length: k }, label).join('.');
  const exact = new Map<string, number>();
  const wild = new Map<string, number>();
  const t = new NameTrie();
  for (let i = 0; i < 20_000; i++) {
    const s = nameOf(1 + Math.floor(rnd() * 4));
    const w = rnd() < 0.1;
    const map = w ? wild : exact;
    if (!map.has(s)) map.set(s, i);
    t.insert(n(s), w, i);
  }
  t.freeze();
  let hits = 0;
  for (let i = 0; i < 20_000; i++) {
    const s = nameOf(1 + Math.floor(rnd() * 5));
    let want = exact.has(s) ? exact.get(s)! * 2 : -1;
    if (want < 0) {
      const parts = s.split('.');
      for (let k = 1; k < parts.length && want < 0; k++) {
        const base = parts.slice(k).join('.');
        if (wild.has(base)) want = wild.get(base)! * 2 + 1;
      }
    }
    const mixed = s.replace(/[a-j]/g, (c) => (rnd() < 0.5 ? c.toUpperCase() : c));
    assert.equal(t.match(n(mixed)), want, s);
    if (want >= 0) hits++;
  }
  assert.ok(hits > 100, `enough hits to mean something (${hits})`);
});

// ------------------------------------------------------------------ CIDR

test('RPZ IP encodings: valid IPv4 and IPv6 forms', () => {
  const p = (s: string) => prefixToText(parseRpzPrefix(s.split('.')));
  assert.equal(p('32.1.2.0.192'), '192.0.2.1/32');
  assert.equal(p('24.0.2.0.192'), '192.0.2.0/24');
  assert.equal(p('8.0.0.0.10'), '10.0.0.0/8');
  assert.equal(p('128.1.zz.db8.2001'), '2001:db8::1/128');
  assert.equal(p('48.zz.1.db8.2001'), '2001:db8:1::/48');
  assert.equal(p('64.zz.2.1.DB8.2001'), '2001:db8:1:2::/64', 'hex in either case');
  assert.equal(p('128.8.7.6.5.4.3.2.1'), '1:2:3:4:5:6:7:8/128', 'eight groups, no zz');
  assert.equal(p('128.1.zz'), '::1/128', 'zz leading');
  assert.equal(p('128.zz.2001'), '2001::/128', 'zz trailing');
  for (const s of ['32.1.2.0.192', '24.0.2.0.192', '128.1.zz.db8.2001', '48.zz.1.db8.2001']) {
    assert.equal(prefixToRpz(parseRpzPrefix(s.split('.'))), s, 'round trip');
  }
});

test('RPZ IP encodings: BIND rejects these, and so do we, saying why', () => {
  const bad: [string, RegExp][] = [
    ['33.1.2.0.192', /prefix length 33/],
    ['0.0.0.0.0', /prefix length 0/],
    ['24.1.2.0.192', /bits set beyond \/24/],
    ['16.0.1.0.10', /bits set beyond \/16/],
    ['129.1.zz.db8.2001', /prefix length 129/],
    ['32.1.zz.db8.2001', /bits set beyond \/32/],
    ['128.1.zz.zz.2001', /only once/],
    ['128.1.g.db8.2001', /not an IPv4 or IPv6/],
    ['128.1.2.3.db8.2001', /8 groups/],
    ['128.1.2.3.4.5.6.7.8.9', /8 groups/],
    ['x.1.2.0.192', /not a number/],
    ['32.1.2.0.256', /.*/],
    ['32', /expected/],
  ];
  for (const [s, re] of bad) assert.throws(() => parseRpzPrefix(s.split('.')), (e: unknown) => e instanceof CidrError && re.test(e.message), s);
});

test('CIDR trie: longest prefix wins, per family; IPv4-mapped IPv6 clients count as IPv4', () => {
  const t = new CidrTrie();
  const add = (s: string, v: number) => t.insert(parseRpzPrefix(s.split('.')), v);
  add('8.0.0.0.10', 1);
  add('16.0.0.1.10', 2);
  add('24.0.1.1.10', 3);
  add('32.7.1.1.10', 4);
  add('32.zz.db8.2001', 5);
  add('64.zz.db8.2001', 6);
  assert.equal(add('16.0.0.1.10', 99), 2, 'duplicate prefix keeps the first');
  const m = (a: string) => t.matchText(a);
  assert.deepEqual(m('10.1.1.7'), { value: 4, len: 32 });
  assert.deepEqual(m('10.1.1.8'), { value: 3, len: 24 });
  assert.deepEqual(m('10.1.2.8'), { value: 2, len: 16 });
  assert.deepEqual(m('10.2.2.8'), { value: 1, len: 8 });
  assert.equal(m('11.0.0.1'), undefined);
  assert.deepEqual(m('::ffff:10.1.1.7'), { value: 4, len: 32 });
  assert.deepEqual(m('2001:db8:1::2'), { value: 5, len: 32 });
  assert.deepEqual(m('2001:db8::9'), { value: 6, len: 64 });
  assert.equal(m('2001:db9::1'), undefined);
  assert.equal(t.ipv4, 4);
  assert.equal(t.ipv6, 2);
  assert.equal([...t.entries()].length, 6);
});

test('CIDR trie: agrees with a linear scan on 2,000 random prefixes', () => {
  let seed = 11;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const t = new CidrTrie();
  const list: { bytes: Uint8Array; len: number; v: number }[] = [];
  for (let i = 0; i < 2000; i++) {
    const len = 8 + Math.floor(rnd() * 25);
    const b = Uint8Array.from([10, Math.floor(rnd() * 4), Math.floor(rnd() * 256), Math.floor(rnd() * 256)]);
    for (let k = len; k < 32; k++) b[k >> 3]! &= ~(0x80 >> (k & 7));
    if (t.insert({ bytes: b, len }, i) === i) list.push({ bytes: b, len, v: i });
  }
  for (let i = 0; i < 5000; i++) {
    const a = Uint8Array.from([10, Math.floor(rnd() * 4), Math.floor(rnd() * 256), Math.floor(rnd() * 256)]);
    let best: { len: number; v: number } | undefined;
    for (const p of list) {
      let ok = true;
      for (let k = 0; k < p.len && ok; k++) ok = ((a[k >> 3]! ^ p.bytes[k >> 3]!) & (0x80 >> (k & 7))) === 0;
      if (ok && (!best || p.len > best.len)) best = p;
    }
    const got = t.match(a);
    assert.deepEqual(got && { len: got.len, v: got.value }, best && { len: best.len, v: best.v });
  }
});

// ------------------------------------------------------------------ zones

test('zone: owners classified by the label above the apex; the apex SOA/NS are no rules', () => {
  const z = zone('rpz.test', `
32.1.0.0.127.rpz-client-ip CNAME .
a.example CNAME .
*.a.example CNAME *.
24.0.2.0.192.rpz-ip CNAME .
128.1.zz.db8.2001.rpz-ip CNAME .
ns.bad.example.rpz-nsdname CNAME .
*.bad.example.rpz-nsdname CNAME .
32.53.2.0.192.rpz-nsip CNAME .
rpz-ip.example CNAME .`);
  assert.deepEqual({ ...z.counts }, { clientIp: 1, qname: 3, ip: 2, nsdname: 2, nsip: 1, skipped: 0 });
  assert.equal(z.ruleCount, 9);
  assert.equal(nameToText(z.soa!.name), 'rpz.test.');
  const owners = [...z.rules()].map((r) => `${r.trigger}:${z.ruleText(r)}`).sort();
  assert.deepEqual(owners, [
    'client-ip:32.1.0.0.127.rpz-client-ip', 'ip:128.1.zz.db8.2001.rpz-ip', 'ip:24.0.2.0.192.rpz-ip',
    'nsdname:*.bad.example.rpz-nsdname', 'nsdname:ns.bad.example.rpz-nsdname', 'nsip:32.53.2.0.192.rpz-nsip',
    'qname:*.a.example', 'qname:a.example', 'qname:rpz-ip.example',
  ]);
  assert.equal(z.hasPostTriggers, true);
});

test('zone: actions from the CNAME target, and local data of several types', () => {
  const z = zone('rpz.test', `
nx.example CNAME .
nodata.example CNAME *.
pass.example CNAME rpz-passthru.
legacy.example CNAME legacy.example.
drop.example CNAME rpz-drop.
tcp.example CNAME rpz-tcp-only.
redir.example CNAME walled.example.net.
wild.example CNAME *.walled.example.net.
relative.example CNAME rpz-passthru
local.example A 10.0.0.1
local.example A 10.0.0.2
local.example TXT "why"
local.example MX 10 mail.example.net.`);
  const by = new Map([...z.rules()].map((r) => [z.ruleText(r), r]));
  const kind = (o: string) => by.get(o)!.given.kind;
  assert.equal(kind('nx.example'), 'nxdomain');
  assert.equal(kind('nodata.example'), 'nodata');
  assert.equal(kind('pass.example'), 'passthru');
  assert.equal(kind('legacy.example'), 'passthru', 'the old PASSTHRU: a CNAME to the trigger name itself');
  assert.equal(kind('drop.example'), 'drop');
  assert.equal(kind('tcp.example'), 'tcp-only');
  const redir = by.get('redir.example')!.given;
  assert.ok(redir.kind === 'cname' && !redir.wildcard && nameToText(redir.target) === 'walled.example.net.');
  const wild = by.get('wild.example')!.given;
  assert.ok(wild.kind === 'cname' && wild.wildcard && nameToText(wild.target) === 'walled.example.net.');
  const rel = by.get('relative.example')!.given;
  assert.ok(rel.kind === 'cname' && nameToText(rel.target) === 'rpz-passthru.rpz.test.', 'rpz-passthru without its dot is a redirect, as in BIND');
  const local = by.get('local.example')!.given;
  assert.ok(local.kind === 'local-data');
  assert.deepEqual(local.records.map((r) => r.type), [Type.A, Type.A, Type.TXT, Type.MX]);
  assert.equal(z.counts.qname, 10);
});

test('zone: CNAME beside other data is an error with file:line; lenient skips and counts it', () => {
  const body = `ok.example CNAME .\nmixed.example A 10.0.0.1\nmixed.example CNAME .\n24.1.2.0.192.rpz-ip CNAME .\n*.24.0.2.0.192.rpz-ip CNAME .\ntwo.example CNAME .\ntwo.example CNAME *.`;
  assert.throws(() => zone('rpz.test', body), (e: unknown) => {
    assert.ok(e instanceof PolicyZoneError);
    assert.equal(e.code, 'VERDICT_ERR_RPZ_RULE');
    assert.equal(`${e.file}:${e.line}`, 'rpz.test.rpz:6');
    assert.match(e.reason, /mixed\.example\.rpz\.test\.: CNAME and other data/);
    return true;
  });
  const z = zone('rpz.test', body, { lenient: true });
  assert.equal(z.counts.skipped, 4);
  assert.deepEqual(z.skipped.map((s) => `${s.file}:${s.line}`), ['rpz.test.rpz:6', 'rpz.test.rpz:7', 'rpz.test.rpz:8', 'rpz.test.rpz:10']);
  assert.match(z.skipped[1]!.reason, /bits set beyond \/24/);
  assert.match(z.skipped[2]!.reason, /wildcard rpz-ip/);
  assert.equal(z.counts.qname, 3);
});

test('zone: records outside the zone are refused', () => {
  const b = new PolicyZoneBuilder('rpz.test');
  assert.throws(() => b.add({ ...recs('x.other. CNAME .')[0]!, file: 'f', line: 3 }), /f:3: x\.other\.: owner is outside/);
});

// ------------------------------------------------------------------ precedence

const A = (name: string, ...ips: string[]) => recs(ips.map((ip) => `${name} ${ip.includes(':') ? 'AAAA' : 'A'} ${ip}`).join('\n'));

test('precedence: an earlier zone wins over any trigger type of a later zone', () => {
  const z1 = zone('one', '32.7.2.0.192.rpz-ip CNAME .');
  const z2 = zone('two', '32.1.0.0.127.rpz-client-ip CNAME *.\nwww.example CNAME *.');
  const set = new PolicySet([z1, z2]);
  const input: AfterInput = { client: '127.0.0.1', names: [n('www.example')], answers: A('www.example.', '192.0.2.7') };
  assert.equal(show(set.after(input)), 'one ip 32.7.2.0.192.rpz-ip nxdomain');
  assert.equal(show(set.before('127.0.0.1', n('www.example'))), 'two client-ip 32.1.0.0.127.rpz-client-ip nodata');
  assert.equal(set.postTriggersBefore(0), false);
  assert.equal(set.postTriggersBefore(1), true, 'zone two must wait for zone one\'s IP triggers');
});

test('precedence: within a zone CLIENT-IP > QNAME > IP > NSDNAME > NSIP', () => {
  const rules = [
    '32.1.0.0.127.rpz-client-ip CNAME .',
    'www.example CNAME *.',
    '32.7.2.0.192.rpz-ip CNAME rpz-drop.',
    'ns.example.net.rpz-nsdname CNAME rpz-tcp-only.',
    '32.53.2.0.192.rpz-nsip CNAME rpz-passthru.',
  ];
  const want = ['client-ip', 'qname', 'ip', 'nsdname', 'nsip'];
  const delegations = () => ({ nsNames: [n('ns.example.net')], nsAddresses: ['192.0.2.53'] });
  for (let i = 0; i < rules.length; i++) {
    const set = new PolicySet([zone('z', rules.slice(i).join('\n'))]);
    const o = set.after({ client: '127.0.0.1', names: [n('www.example')], answers: A('www.example.', '192.0.2.7'), delegations });
    assert.equal(o.hit?.rule.trigger, want[i], `with ${rules.slice(i).length} rules`);
  }
});

test('precedence: among IP triggers the longest prefix, then the smallest address; NSDNAME the largest name (as named 9.18 does, see policy.ts)', () => {
  const z = zone('z', `
24.0.2.0.192.rpz-ip CNAME .
32.9.2.0.192.rpz-ip CNAME *.
32.8.2.0.192.rpz-ip CNAME rpz-drop.
16.0.0.1.10.rpz-nsip CNAME .
24.0.1.1.10.rpz-nsip CNAME *.
aa.example.rpz-nsdname CNAME *.
zz.example.rpz-nsdname CNAME .`);
  const set = new PolicySet([z]);
  const ip = set.after({ names: [n('w.example')], answers: A('w.example.', '192.0.2.200', '192.0.2.9', '192.0.2.8') });
  assert.equal(show(ip), 'z ip 32.8.2.0.192.rpz-ip drop');
  assert.equal(ip.hit!.matched, '192.0.2.8');
  const nsip = set.after({ names: [n('w.example')], answers: [], delegations: () => ({ nsNames: [], nsAddresses: ['10.1.9.9', '10.1.1.1'] }) });
  assert.equal(show(nsip), 'z nsip 24.0.1.1.10.rpz-nsip nodata');
  const nsd = set.after({ names: [n('w.example')], answers: [], delegations: () => ({ nsNames: [n('zz.example'), n('aa.example')], nsAddresses: [] }) });
  assert.equal(show(nsd), 'z nsdname zz.example.rpz-nsdname nxdomain');
  assert.equal(nsd.hit!.matched, 'zz.example.');
});

test('precedence: exact before wildcard inside a zone, but an earlier zone\'s wildcard beats a later exact rule', () => {
  const z1 = zone('one', '*.example CNAME .');
  const z2 = zone('two', 'www.example CNAME *.\n*.example CNAME rpz-drop.');
  assert.equal(show(new PolicySet([z2]).before(undefined, n('www.example'))), 'two qname www.example nodata');
  assert.equal(show(new PolicySet([z2]).before(undefined, n('ftp.example'))), 'two qname *.example drop');
  assert.equal(show(new PolicySet([z1, z2]).before(undefined, n('www.example'))), 'one qname *.example nxdomain');
  assert.equal(show(new PolicySet([z1, z2]).before(undefined, n('example'))), 'miss', 'the wildcard does not cover its base');
});

test('precedence: PASSTHRU in an earlier zone stops the search', () => {
  const allow = zone('allow', 'www.example CNAME rpz-passthru.');
  const block = zone('block', '*.example CNAME .');
  const o = new PolicySet([allow, block]).before(undefined, n('www.example'));
  assert.equal(show(o), 'allow qname www.example passthru');
  assert.equal(show(new PolicySet([allow, block]).before(undefined, n('ftp.example'))), 'block qname *.example nxdomain');
});

test('precedence: log-only and disabled zones report their hit and the search goes on', () => {
  const watch = zone('watch', 'www.example CNAME .', { logOnly: true });
  const off = zone('off', 'www.example CNAME rpz-drop.', { policy: 'disabled' });
  const block = zone('block', 'www.example CNAME *.');
  const o = new PolicySet([watch, off, block]).before(undefined, n('www.example'));
  assert.equal(show(o), 'block qname www.example nodata');
  assert.deepEqual(o.logged.map((h) => `${h.zone.label} ${h.action.kind} ${h.logOnly}`), ['watch nxdomain true', 'off drop true']);
  const alone = new PolicySet([watch]).before(undefined, n('www.example'));
  assert.equal(alone.hit, undefined);
  assert.equal(alone.logged.length, 1);
});

test('precedence: a CNAME chain is checked name by name; the first name with a hit is rewritten', () => {
  const z1 = zone('one', 'target.example CNAME .');
  const z2 = zone('two', 'mid.example CNAME *.');
  const set = new PolicySet([z1, z2]);
  const answers = recs('start.example. CNAME mid.example.\nmid.example. CNAME target.example.\ntarget.example. A 192.0.2.1');
  const names = [n('start.example'), n('mid.example'), n('target.example')];
  assert.equal(show(set.after({ names, answers })), 'two qname mid.example nodata @1', 'mid comes first in the chain, whatever the zone order');
  assert.equal(show(new PolicySet([z1]).after({ names, answers })), 'one qname target.example nxdomain @2');
  const ipz = zone('ipz', '32.1.2.0.192.rpz-ip CNAME .');
  assert.equal(show(new PolicySet([ipz]).after({ names, answers })), 'ipz ip 32.1.2.0.192.rpz-ip nxdomain @2', 'the address belongs to the last name');
});

test('precedence: a pending QNAME hit wins over later zones but loses to an earlier zone\'s IP trigger', () => {
  const z1 = zone('one', '32.7.2.0.192.rpz-ip CNAME .');
  const z2 = zone('two', 'www.example CNAME *.');
  const set = new PolicySet([z1, z2]);
  const pre = set.before(undefined, n('www.example'));
  assert.equal(show(pre), 'two qname www.example nodata');
  const after = (ip: string) => show(set.after({ names: [n('www.example')], answers: A('www.example.', ip), pending: pre.hit!, firstNameChecked: true }));
  assert.equal(after('192.0.2.7'), 'one ip 32.7.2.0.192.rpz-ip nxdomain');
  assert.equal(after('192.0.2.8'), 'two qname www.example nodata');
});

test('policy overrides replace every rule\'s action in the zone', () => {
  const body = 'local.example A 10.0.0.1\nnx.example CNAME .\npass.example CNAME rpz-passthru.';
  const act = (policy: string, q: string) => {
    const z = zone('z', body, { policy: parsePolicyOverride(policy) });
    const h = new PolicySet([z]).before(undefined, n(q)).hit;
    if (!h) return 'miss';
    return h.action.kind === 'cname' ? `cname ${h.action.wildcard ? '*.' : ''}${nameToText(h.action.target)}` : h.action.kind;
  };
  assert.equal(act('given', 'local.example'), 'local-data');
  assert.equal(act('nxdomain', 'local.example'), 'nxdomain');
  assert.equal(act('nodata', 'nx.example'), 'nodata');
  assert.equal(act('passthru', 'nx.example'), 'passthru');
  assert.equal(act('drop', 'pass.example'), 'drop');
  assert.equal(act('tcp-only', 'nx.example'), 'tcp-only');
  assert.equal(act('cname walled.example.net', 'nx.example'), 'cname walled.example.net.');
  assert.equal(act('cname *.walled.example.net.', 'nx.example'), 'cname *.walled.example.net.');
  assert.equal(act('disabled', 'nx.example'), 'miss');
  assert.throws(() => parsePolicyOverride('block'), /unknown RPZ policy/);
});

test('config: policySetFromConfig loads file zones in order and takes the others from the caller', async () => {
  const { policySetFromConfig } = await import('../src/rpz/policy.js');
  const { fileURLToPath } = await import('node:url');
  const base = fileURLToPath(new URL('../../test/fixtures/rpz/', import.meta.url));
  const orders = zone('court-orders.rpz', 'dpstream.tv CNAME .');
  const cfg = (name: string, more: object = {}) => ({ name, policy: 'given', log_only: false, lenient: false, ...more });
  const set = await policySetFromConfig({
    zones: [cfg('court-orders.rpz'), cfg('rpz1', { file: 'rpz1.rpz', max_policy_ttl: 30 }), cfg('rpz3', { file: 'rpz3.rpz', policy: 'cname www.example.' }), cfg('feed.rpz', { primary: '192.0.2.53' })],
  }, base, (z) => (z.name === 'court-orders.rpz' ? orders : undefined));
  assert.deepEqual(set.zones.map((z) => z.label), ['court-orders.rpz', 'rpz1', 'rpz3'], 'a secondary not transferred yet is left out');
  assert.equal(set.zones[1]!.maxPolicyTtl, 30);
  assert.equal(show(set.before(undefined, n('dpstream.tv'))), 'court-orders.rpz qname dpstream.tv nxdomain');
  assert.equal(show(set.before(undefined, n('nx.example'))), 'rpz1 qname nx.example nxdomain');
  assert.equal(show(set.before(undefined, n('anyname.other'))), 'rpz3 qname anyname.other cname');
  assert.equal(set.postTriggersBefore(2), true, 'rpz1 holds rpz-ip and rpz-nsdname triggers');
});
