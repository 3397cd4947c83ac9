/** dig (Debian's bind9-dnsutils) against Verdict resolving from the lab, as a person would try it. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { hasDig } from './helpers/dig.js';
import { digAsync, startVerdict } from './helpers/lab.js';
import type { VerdictOnLab } from './helpers/lab.js';

const skip = hasDig() ? false : 'dig is not installed (apt-get install bind9-dnsutils)';
let lab: Lab;
let v: VerdictOnLab;

before(async () => {
  if (skip) return;
  lab = await startLab();
  v = await startVerdict(lab.rootHints);
});
after(async () => {
  await v?.stop();
  await lab?.stop();
});

/** dig's record lines without the TTL: "name CLASS TYPE data". */
const noTtl = (lines: string[]) => lines.map((l) => l.split(' ').filter((_, i) => i !== 1).join(' ')).sort();
const run = (...args: string[]) => digAsync(args, '127.0.0.1', v.port);
const upstreamQueries = () => lab.servers.reduce((s, x) => s + x.queries, 0);

test('A', { skip }, async () => {
  const r = await run('www.example.com', 'A');
  assert.equal(r.status, 'NOERROR');
  assert.ok(r.flags.includes('ra') && r.flags.includes('rd'));
  assert.deepEqual(noTtl(r.answer), ['www.example.com. IN A 192.0.2.10']);
});

test('AAAA', { skip }, async () => {
  assert.deepEqual(noTtl((await run('www.example.com', 'AAAA')).answer), ['www.example.com. IN AAAA 2001:db8::10']);
});

test('MX', { skip }, async () => {
  assert.deepEqual(noTtl((await run('example.com', 'MX')).answer), ['example.com. IN MX 10 mail.example.com.', 'example.com. IN MX 20 mail2.example.org.']);
});

test('TXT', { skip }, async () => {
  assert.deepEqual(noTtl((await run('example.com', 'TXT')).answer), ['example.com. IN TXT "v=spf1 mx -all"', 'example.com. IN TXT "verdict lab: example.com"']);
});

test('a CNAME chain across three zones', { skip }, async () => {
  const r = await run('chain.example.com', 'A');
  assert.equal(r.status, 'NOERROR');
  assert.deepEqual(noTtl(r.answer), [
    'chain.example.com. IN CNAME www.example.org.',
    'edge.cdn-lab.net. IN A 198.51.100.80',
    'edge.cdn-lab.net. IN A 198.51.100.81',
    'www.example.org. IN CNAME edge.cdn-lab.net.',
  ]);
});

test('NXDOMAIN with the SOA', { skip }, async () => {
  const r = await run('nonexistent.example.com', 'A');
  assert.equal(r.status, 'NXDOMAIN');
  assert.deepEqual(r.answer, []);
  assert.match(r.authority[0] ?? '', /^example\.com\. \d+ IN SOA ns1\.example\.com\. hostmaster\.example\.com\. 2024010101 /);
});

test('NODATA with the SOA', { skip }, async () => {
  const r = await run('v4only.example.com', 'AAAA');
  assert.equal(r.status, 'NOERROR');
  assert.deepEqual(r.answer, []);
  assert.match(r.authority[0] ?? '', /^example\.com\. \d+ IN SOA /);
});

test('+tcp', { skip }, async () => {
  const r = await run('www.dpstream.tv', 'A', '+tcp');
  assert.equal(r.status, 'NOERROR');
  assert.deepEqual(noTtl(r.answer), ['www.dpstream.tv. IN A 203.0.113.10']);
  assert.match(r.text, /\(TCP\)/);
});

test('+bufsize=512 forces TC; +tcp then gets the whole answer; plain dig retries by itself', { skip }, async () => {
  const cut = await run('bigtxt.example.com', 'TXT', '+bufsize=512', '+ignore');
  assert.equal(cut.status, 'NOERROR');
  assert.ok(cut.flags.includes('tc'), `flags: ${cut.flags.join(' ')}`);
  assert.deepEqual(cut.answer, []);
  const whole = await run('bigtxt.example.com', 'TXT', '+tcp');
  assert.equal(whole.answer.length, 6);
  assert.ok(!whole.flags.includes('tc'));
  assert.ok(whole.answer.every((l) => l.startsWith('bigtxt.example.com. ') && l.includes('too large for a UDP reply')));
  const retried = await run('bigtxt.example.com', 'TXT', '+bufsize=512');
  assert.match(retried.text, /Truncated, retrying in TCP mode/);
  assert.equal(retried.answer.length, 6);
});

test('+norec: answered from the cache only, never resolved', { skip }, async () => {
  await run('www.allostreaming.com', 'A');
  const before = upstreamQueries();
  const cached = await run('www.allostreaming.com', 'A', '+norec');
  assert.equal(cached.status, 'NOERROR');
  assert.ok(!cached.flags.includes('rd'));
  assert.deepEqual(noTtl(cached.answer), ['www.allostreaming.com. IN A 198.51.100.20']);
  const uncached = await run('www.alloseven.com', 'A', '+norec');
  assert.deepEqual(uncached.answer, []);
  assert.notEqual(uncached.status, 'NO-ANSWER');
  assert.equal(upstreamQueries(), before, 'no lab server was asked');
});

test('wildcard, unknown type, lame and dead servers', { skip }, async () => {
  assert.deepEqual(noTtl((await run('whatever.wild.example.com', 'A')).answer), ['whatever.wild.example.com. IN A 192.0.2.50']);
  assert.deepEqual(noTtl((await run('unknown.example.com', 'TYPE65400')).answer), ['unknown.example.com. IN TYPE65400 \\# 6 766572646963']);
  assert.deepEqual(noTtl((await run('www.lame.net', 'A')).answer), ['www.lame.net. IN A 192.0.2.80']);
  assert.deepEqual(noTtl((await run('www.lame.org', 'A')).answer), ['www.lame.org. IN A 192.0.2.81']);
  assert.deepEqual(noTtl((await run('www.dead.com', 'A')).answer), ['www.dead.com. IN A 192.0.2.90']);
});
