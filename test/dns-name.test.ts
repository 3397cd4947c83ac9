import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareNames, isSubdomain, labelCount, nameFromText, nameKey, namesEqual, nameToText, parentName, randomizeCase, replaceSuffix, ROOT,
} from '../src/dns/name.js';

test('names parse to wire form and print back', () => {
  const n = nameFromText('www.Example.COM.');
  assert.deepEqual([...n], [3, 0x77, 0x77, 0x77, 7, ...Buffer.from('Example'), 3, ...Buffer.from('COM'), 0]);
  assert.equal(nameToText(n), 'www.Example.COM.');
  assert.equal(nameToText(ROOT), '.');
  assert.equal(labelCount(n), 3);
});

test('relative names take the origin', () => {
  assert.equal(nameToText(nameFromText('www', nameFromText('example.com.'))), 'www.example.com.');
  assert.equal(nameToText(nameFromText('@', nameFromText('example.com.'))), 'example.com.');
});

test('a label with a dot or a high byte survives a round trip unchanged (RFC 4343)', () => {
  const n = nameFromText('a\\.b.\\200x.example.');
  assert.equal(labelCount(n), 3);
  assert.equal(n[1], 0x61);
  assert.equal(n[2], 0x2e);
  assert.equal(n[5], 200);
  assert.equal(nameToText(n), 'a\\.b.\\200x.example.');
  assert.ok(nameFromText(nameToText(n)).equals(n));
});

test('comparison ignores ASCII case only', () => {
  assert.ok(namesEqual(nameFromText('WWW.example.com.'), nameFromText('www.EXAMPLE.com.')));
  assert.equal(nameKey(nameFromText('WwW.Ex.')), nameKey(nameFromText('www.ex.')));
  assert.ok(!namesEqual(nameFromText('\\200.ex.'), nameFromText('\\201.ex.')));
  // 0xC0 is not an uppercase letter: it must not fold to 0xE0.
  assert.ok(!namesEqual(nameFromText('\\192.ex.'), nameFromText('\\224.ex.')));
});

test('subdomain tests walk label boundaries', () => {
  const zone = nameFromText('example.com.');
  assert.ok(isSubdomain(nameFromText('a.b.EXAMPLE.com.'), zone));
  assert.ok(isSubdomain(zone, zone));
  assert.ok(isSubdomain(zone, ROOT));
  assert.ok(!isSubdomain(nameFromText('badexample.com.'), zone));
  assert.ok(!isSubdomain(nameFromText('com.'), zone));
  assert.equal(nameToText(parentName(nameFromText('a.b.c.'), 2)), 'c.');
});

test('DNAME substitution replaces the suffix', () => {
  const out = replaceSuffix(nameFromText('www.old.example.'), nameFromText('old.example.'), nameFromText('new.example.net.'));
  assert.equal(nameToText(out), 'www.new.example.net.');
});

test('over-long names and labels are rejected', () => {
  assert.throws(() => nameFromText('x'.repeat(64) + '.com.'), /label/);
  assert.throws(() => nameFromText(Array(130).fill('a').join('.') + '.'), /255/);
  assert.throws(() => nameFromText('a..b.'), /empty label/);
});

test('canonical order sorts by reversed labels', () => {
  const names = ['b.example.', 'example.', 'a.example.', 'Z.a.example.'].map((t) => nameFromText(t));
  assert.deepEqual(names.sort(compareNames).map(nameToText), ['example.', 'a.example.', 'Z.a.example.', 'b.example.']);
});

test('0x20 randomisation changes only the case of letters', () => {
  const n = nameFromText('www-1.example.com.');
  const r = randomizeCase(n, Buffer.from([0xff, 0x00, 0xaa]));
  assert.ok(namesEqual(n, r));
  assert.notDeepEqual([...r], [...n]);
  assert.equal(r[4], 0x2d); // '-' untouched
});
