/** Trust anchors, negative trust anchors, RFC 5011 tracking, the dnssec config section and `verdict check`. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Class, Type } from '../src/dns/constants.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { IANA_ROOT_ANCHORS, loadTrustAnchorFiles, TrustAnchorStore } from '../src/dnssec/anchors.js';
import { ntaControlHandlers } from '../src/dnssec/control.js';
import { parseDs } from '../src/dnssec/records.js';
import { ADD_HOLD_DOWN_MS, KeyTracker } from '../src/dnssec/rfc5011.js';
import { dsFor, generateSigningKey } from '../src/dnssec/sign.js';
import type { SigningKey } from '../src/dnssec/sign.js';

const n = (s: string) => nameFromText(s);
const dir = mkdtempSync(join(tmpdir(), 'verdict-anchors-'));
const CLI = 'dist/src/cli.js';

test('built-in IANA root anchors: KSK-2017 and KSK-2024, SHA-256 DS', () => {
  const ds = IANA_ROOT_ANCHORS.ds.map((r) => parseDs(r.rdata));
  assert.deepEqual(ds.map((d) => d.keyTag).sort(), [20326, 38696]);
  for (const d of ds) {
    assert.equal(d.algorithm, 8);
    assert.equal(d.digestType, 2);
    assert.equal(d.digest.length, 32);
  }
  assert.equal(IANA_ROOT_ANCHORS.zone.length, 1);
});

test('an anchor file with DS and DNSKEY records for any zone loads; errors carry file:line', () => {
  const k = generateSigningKey(n('lab.example.'), 13, 257);
  const ds = dsFor(k);
  const file = join(dir, 'anchors.txt');
  writeFileSync(file, `; lab anchors\n$ORIGIN example.\nlab 3600 IN DS ${parseDs(ds.rdata).keyTag} 13 2 ${parseDs(ds.rdata).digest.toString('hex')}\nlab2 3600 IN DNSKEY 257 3 13 ${k.key.publicKey.toString('base64')}\n`);
  const anchors = loadTrustAnchorFiles([file]);
  assert.deepEqual(anchors.map((a) => nameToText(a.zone)).sort(), ['lab.example.', 'lab2.example.']);
  assert.equal(anchors.find((a) => nameToText(a.zone) === 'lab.example.')!.ds.length, 1);
  assert.equal(anchors.find((a) => nameToText(a.zone) === 'lab2.example.')!.dnskey.length, 1);

  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, `. 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\nfoo. 3600 IN A 192.0.2.1\n`);
  assert.throws(() => loadTrustAnchorFiles([bad]), (e: Error) => e.message.startsWith(`${bad}:2:`) && /DS or a DNSKEY/.test(e.message));
  const noZoneFlag = join(dir, 'nozone.txt');
  writeFileSync(noZoneFlag, `x. 3600 IN DNSKEY 0 3 13 ${k.key.publicKey.toString('base64')}\n`);
  assert.throws(() => loadTrustAnchorFiles([noZoneFlag]), /nozone\.txt:1:.*zone flag/);
  const malformed = join(dir, 'malformed.txt');
  writeFileSync(malformed, `x. 3600 IN DS 1 8 2 ABCD\n`);
  assert.throws(() => loadTrustAnchorFiles([malformed]), /malformed\.txt:1:/);
});

test('closest anchor and negative trust anchors go by labels, not by string suffix', () => {
  const store = new TrustAnchorStore([{ zone: n('example.com.'), ds: [], dnskey: [] }], [n('broken.example.com.')]);
  assert.ok(store.closestAnchor(n('www.example.com.')));
  assert.equal(store.closestAnchor(n('xexample.com.')), undefined);
  assert.ok(store.isNegative(n('a.broken.example.com.')));
  assert.ok(!store.isNegative(n('notbroken.example.com.')));
  const h = ntaControlHandlers(store, () => undefined);
  assert.deepEqual(h.nta(['list']), { negative_trust_anchors: ['broken.example.com.'] });
  h.nta(['add', 'other.example']);
  assert.ok(store.isNegative(n('www.other.example.')));
  h.nta(['remove', 'broken.example.com']);
  assert.ok(!store.isNegative(n('a.broken.example.com.')));
  assert.throws(() => h.nta(['remove', 'never.example']), /not a negative trust anchor/);
  assert.throws(() => h.nta(['frobnicate']), /usage/);
});

test('config: the dnssec section has its defaults and refuses unknown keys', () => {
  const d = parseConfigText('{}\n', 'd.yaml').dnssec;
  assert.equal(d.validation, true);
  assert.equal(d.bogus_ttl, 60);
  assert.equal(d.nsec3_max_iterations, 150);
  assert.equal(d.aggressive_nsec, true);
  assert.equal(d.max_validations_per_query, 64);
  assert.equal(d.trust_anchor_file, undefined);
  assert.throws(() => parseConfigText('dnssec: { validaton: false }\n', 'x.yaml'), /validaton/);
});

test('verdict check: a broken anchor file is an error with file:line, exit 1; a good one passes', () => {
  const anchor = join(dir, 'check-anchor.ds');
  writeFileSync(anchor, '. 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n. IN DS oops\n');
  const cfg = join(dir, 'check.yaml');
  writeFileSync(cfg, `control: { enabled: false }\ndnssec: { trust_anchor_file: ${anchor} }\n`);
  const r = spawnSync('node', [CLI, 'check', '-c', cfg], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`${anchor.replace(/[.]/g, '\\.')}:2:`));
  writeFileSync(anchor, '. 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n');
  const ok = spawnSync('node', [CLI, 'check', '-c', cfg], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /trust anchors for \./);
});

function dnskeyRecord(k: SigningKey, flags = k.flags) {
  const rdata = Buffer.from(k.rdata);
  rdata.writeUInt16BE(flags, 0);
  return { name: n('.'), type: Type.DNSKEY, class: Class.IN, ttl: 172800, rdata };
}

test('RFC 5011: a new key is trusted after 30 days, a revoked one at once no more; the state survives', () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const ksk1 = generateSigningKey(n('.'), 13, 257);
  const ksk2 = generateSigningKey(n('.'), 13, 257);
  const state = join(dir, 'root-keys.json');
  const initial = { zone: n('.'), ds: [dsFor(ksk1)], dnskey: [] };
  const t = new KeyTracker({ zone: n('.'), initial, stateFile: state, now: () => now });
  assert.equal(t.anchor(), initial, 'before any observation, the configured anchor');
  t.observe([dnskeyRecord(ksk1)]);
  assert.deepEqual(t.anchor().dnskey.map((r) => r.rdata.toString('hex')), [ksk1.rdata.toString('hex')]);
  now += 86_400_000;
  t.observe([dnskeyRecord(ksk1), dnskeyRecord(ksk2)]);
  assert.equal(t.anchor().dnskey.length, 1, 'ksk2 pending');
  now += ADD_HOLD_DOWN_MS - 1000;
  t.observe([dnskeyRecord(ksk1), dnskeyRecord(ksk2)]);
  assert.equal(t.anchor().dnskey.length, 1, 'still within the hold-down');
  now += 2000;
  t.observe([dnskeyRecord(ksk1), dnskeyRecord(ksk2)]);
  assert.equal(t.anchor().dnskey.length, 2, 'ksk2 valid after 30 days');
  // ksk1 revoked (flag 0x80): trusted no more.
  t.observe([dnskeyRecord(ksk1, 257 | 0x80), dnskeyRecord(ksk2)]);
  assert.deepEqual(t.anchor().dnskey.map((r) => r.rdata.toString('hex')), [ksk2.rdata.toString('hex')]);
  const saved = JSON.parse(readFileSync(state, 'utf8')) as { keys: { state: string }[] };
  assert.deepEqual(saved.keys.map((k) => k.state).sort(), ['Revoked', 'Valid']);
  // A new tracker (a restart) reads the state: the built-in anchor no longer decides.
  const again = new KeyTracker({ zone: n('.'), initial, stateFile: state, now: () => now });
  assert.deepEqual(again.anchor().dnskey.map((r) => r.rdata.toString('hex')), [ksk2.rdata.toString('hex')]);
  // A trusted key that disappears stays trusted (Missing).
  again.observe([]);
  assert.equal(again.anchor().dnskey.length, 1);
});
