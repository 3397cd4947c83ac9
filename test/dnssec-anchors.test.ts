/** Trust anchors, negative trust anchors, RFC 5011 tracking, the dnssec config section and `verdict check`. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Class, Type } from '../src/dns/constants.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { IANA_ROOT_ANCHORS, loadTrustAnchorFiles, TrustAnchorStore } from '../src/dnssec/anchors.js';
import { ntaControlHandlers } from '../src/dnssec/control.js';
import { parseDs } from '../src/dnssec/records.js';
import { parseDnskey } from '../src/dnssec/records.js';
import { ADD_HOLD_DOWN_MS, KeyTracker, REMOVE_HOLD_DOWN_MS, revokedSelfSigners } from '../src/dnssec/rfc5011.js';
import { dsFor, generateSigningKey, signRrset } from '../src/dnssec/sign.js';
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
  assert.throws(() => loadTrustAnchorFiles([malformed]), /malformed\.txt:1:.*digest of type 2 must be 32 bytes/);
  const revoked = join(dir, 'revoked.txt');
  writeFileSync(revoked, `; a revoked key is no anchor (RFC 5011 2.1)\nx. 3600 IN DNSKEY 385 3 13 ${k.key.publicKey.toString('base64')}\n`);
  assert.throws(() => loadTrustAnchorFiles([revoked]), /revoked\.txt:2:.*REVOKE/);
  const badKey = join(dir, 'badkey.txt');
  writeFileSync(badKey, `x. 3600 IN DNSKEY 257 3 13 AAAA\n`);
  assert.throws(() => loadTrustAnchorFiles([badKey]), /badkey\.txt:1:.*not a valid algorithm 13 key/);
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '; nothing\n');
  assert.throws(() => loadTrustAnchorFiles([file, empty]), /empty\.txt:0:0: no trust anchor/);
  assert.throws(() => loadTrustAnchorFiles([join(dir, 'absent.txt')]), /absent\.txt:0:0: cannot read trust anchor file: ENOENT/);
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
  assert.throws(() => h.nta(['add']), /usage/);
  assert.throws(() => h.nta(['add', 'a..b']), /empty label/);
  assert.deepEqual(h.nta([]), { negative_trust_anchors: ['other.example.'] });
  // The anchor store is by labels too, and the closest anchor wins.
  const nested = new TrustAnchorStore([IANA_ROOT_ANCHORS, { zone: n('lab.example.'), ds: [], dnskey: [] }]);
  assert.equal(nameToText(nested.closestAnchor(n('a.b.lab.example.'))!.zone), 'lab.example.');
  assert.equal(nameToText(nested.closestAnchor(n('xlab.example.'))!.zone), '.');
  assert.equal(nested.anchorAt(n('b.lab.example.')), undefined);
  assert.ok(nested.anchorAt(n('LAB.example.')), 'names compare case-insensitively');
});

test('config: the dnssec section has its defaults and refuses unknown keys', () => {
  const d = parseConfigText('{}\n', 'd.yaml').dnssec;
  assert.equal(d.validation, true);
  assert.equal(d.bogus_ttl, 60);
  assert.equal(d.nsec3_max_iterations, 150);
  assert.equal(d.aggressive_nsec, true);
  assert.equal(d.max_validations_per_query, 64);
  assert.equal(d.trust_anchor_file, undefined);
  assert.equal(d.root_key_state_file, undefined);
  assert.deepEqual(d.negative_trust_anchors, []);
  // 64 rather than 128: a deliberate later choice (see the commit that set it).
  assert.equal(d.max_nsec3_hashes_per_query, 64);
  assert.deepEqual(parseConfigText('dnssec: { trust_anchor_file: [a.ds, b.ds] }\n', 'l.yaml').dnssec.trust_anchor_file, ['a.ds', 'b.ds']);
  assert.throws(() => parseConfigText('dnssec:\n  negative_trust_anchors: [ok.example, "a..b"]\n', 'n.yaml'), /n\.yaml:2:\d+: dnssec\.negative_trust_anchors\[1\]: not a domain name/);
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

const DAY = 86_400_000;
const hex = (rs: readonly { rdata: Buffer }[]) => rs.map((r) => r.rdata.toString('hex')).sort();

/** The key as published with the REVOKE bit (RFC 5011 2.1): same private key, flags | 0x80, so another key tag. */
function revokedForm(k: SigningKey): SigningKey {
  const rdata = Buffer.from(k.rdata);
  rdata.writeUInt16BE(k.flags | 0x80, 0);
  return { ...k, flags: k.flags | 0x80, rdata, key: parseDnskey(rdata) };
}

function dnskeyRecord(k: SigningKey, ttl = 172800) {
  return { name: n('.'), type: Type.DNSKEY, class: Class.IN, ttl, rdata: Buffer.from(k.rdata) };
}

/** A root with KSK-A (the configured anchor, as DS) and a fake clock. */
function rootScenario(stateFile?: string) {
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const kskA = generateSigningKey(n('.'), 13, 257);
  const kskB = generateSigningKey(n('.'), 13, 257);
  const zsk = generateSigningKey(n('.'), 13, 256);
  const initial = { zone: n('.'), ds: [dsFor(kskA)], dnskey: [] };
  const changes: string[][] = [];
  const logs: string[] = [];
  const tracker = new KeyTracker({
    zone: n('.'), initial, ...(stateFile ? { stateFile } : {}), now: () => clock.now,
    onChange: (trusted) => changes.push(hex(trusted)), log: (m) => logs.push(m),
  });
  return { clock, kskA, kskB, zsk, initial, tracker, changes, logs };
}

test('RFC 5011: before any DNSKEY set the configured anchor is used; the first set makes its key Valid, a ZSK is not tracked', () => {
  const { tracker, initial, kskA, zsk, changes } = rootScenario();
  assert.equal(tracker.anchor(), initial);
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(zsk)]);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA]));
  assert.deepEqual(tracker.states().map((s) => s.state), ['Valid']);
  assert.deepEqual(changes, [hex([kskA])]);
});

test('RFC 5011: a new key is AddPend for 30 days of being seen, then Valid; the state file survives a restart', () => {
  const state = join(dir, 'root-keys-add.json');
  const { clock, tracker, kskA, kskB, zsk, initial, changes } = rootScenario(state);
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(zsk)]);
  clock.now += DAY;
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB), dnskeyRecord(zsk)]);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA]), 'kskB pending');
  assert.deepEqual(tracker.states().map((s) => `${s.keyTag} ${s.state}`).sort(), [`${kskA.key.keyTag} Valid`, `${kskB.key.keyTag} AddPend`].sort());
  clock.now += ADD_HOLD_DOWN_MS - 1000;
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA]), 'still within the hold-down');
  clock.now += 1000;
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA, kskB]), 'Valid after 30 days');
  assert.equal(changes.length, 2);
  const saved = JSON.parse(readFileSync(state, 'utf8')) as { zone: string; keys: { keyTag: number; state: string }[] };
  assert.equal(saved.zone, '.');
  assert.deepEqual(saved.keys.map((k) => k.state).sort(), ['Valid', 'Valid']);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temp file left');
  // A restart: the state file, not the configured anchor, says what is trusted.
  const again = new KeyTracker({ zone: n('.'), initial, stateFile: state, now: () => clock.now });
  assert.deepEqual(hex(again.anchor().dnskey), hex([kskA, kskB]));
});

test('RFC 5011: a pending key missing from one validated set starts its hold-down over', () => {
  const { clock, tracker, kskA, kskB } = rootScenario();
  tracker.observe([dnskeyRecord(kskA)]);
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  clock.now += 20 * DAY;
  tracker.observe([dnskeyRecord(kskA)]); // KeyRem: AddPend -> Start
  assert.equal(tracker.states().length, 1);
  clock.now += 1000;
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]); // NewKey again
  clock.now += 20 * DAY;
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA]), '40 days since first seen, but only 20 without a gap');
  clock.now += 10 * DAY;
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA, kskB]));
});

test('RFC 5011 2.4.1: the add hold-down is the set TTL when that is longer than 30 days', () => {
  const { clock, tracker, kskA, kskB } = rootScenario();
  tracker.observe([dnskeyRecord(kskA, 40 * 86400)]);
  tracker.observe([dnskeyRecord(kskA, 40 * 86400), dnskeyRecord(kskB, 40 * 86400)]);
  clock.now += 31 * DAY;
  tracker.observe([dnskeyRecord(kskA, 40 * 86400), dnskeyRecord(kskB, 40 * 86400)]);
  assert.equal(tracker.anchor().dnskey.length, 1);
  clock.now += 9 * DAY;
  tracker.observe([dnskeyRecord(kskA, 40 * 86400), dnskeyRecord(kskB, 40 * 86400)]);
  assert.equal(tracker.anchor().dnskey.length, 2);
});

test('RFC 5011: a trusted key that goes away is Missing and still trusted, and Valid when it comes back', () => {
  const { clock, tracker, kskA, kskB } = rootScenario();
  tracker.observe([dnskeyRecord(kskA)]);
  clock.now += DAY;
  tracker.observe([dnskeyRecord(kskB)]);
  assert.deepEqual(tracker.states().find((s) => s.keyTag === kskA.key.keyTag)?.state, 'Missing');
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA]));
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  assert.deepEqual(tracker.states().find((s) => s.keyTag === kskA.key.keyTag)?.state, 'Valid');
});

test('RFC 5011: a self-signed revoked key is Revoked and trusted no more, then Removed after 30 days unseen', () => {
  const state = join(dir, 'root-keys-revoke.json');
  const { clock, tracker, kskA, kskB, initial, logs } = rootScenario(state);
  tracker.observe([dnskeyRecord(kskA)]);
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  clock.now += ADD_HOLD_DOWN_MS;
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  assert.equal(tracker.anchor().dnskey.length, 2);

  // KSK-A published revoked, the set signed by its revoked form (and by KSK-B, which the validator checked).
  const revA = revokedForm(kskA);
  const set = [dnskeyRecord(revA), dnskeyRecord(kskB)];
  const t = Math.floor(clock.now / 1000);
  const sigs = [signRrset(set, revA, t - 3600, t + 86400), signRrset(set, kskB, t - 3600, t + 86400)];
  const signers = revokedSelfSigners(n('.'), set, sigs, t);
  assert.deepEqual(signers, [revA.key.keyTag]);
  assert.notEqual(revA.key.keyTag, kskA.key.keyTag, 'the REVOKE bit changes the key tag');
  tracker.observe(set, clock.now, signers);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskB]));
  assert.equal(tracker.states().find((s) => s.keyTag === kskA.key.keyTag)?.state, 'Revoked');
  assert.ok(logs.some((l) => /Valid -> Revoked/.test(l)));
  // The unrevoked form coming back does not bring trust back (RFC 5011 2.1).
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskB]));
  // Unpublished for the remove hold-down: Removed.
  tracker.observe([dnskeyRecord(kskB)]);
  clock.now += REMOVE_HOLD_DOWN_MS - 1000;
  tracker.observe([dnskeyRecord(kskB)]);
  assert.equal(tracker.states().find((s) => s.keyTag === kskA.key.keyTag)?.state, 'Revoked');
  clock.now += 1000;
  tracker.observe([dnskeyRecord(kskB)]);
  assert.equal(tracker.states().find((s) => s.keyTag === kskA.key.keyTag)?.state, 'Removed');
  const again = new KeyTracker({ zone: n('.'), initial, stateFile: state, now: () => clock.now });
  assert.deepEqual(hex(again.anchor().dnskey), hex([kskB]), 'the revoked key stays untrusted after a restart');
});

test('RFC 5011 2.1: a REVOKE bit without the key\'s own signature revokes nothing (and the revoked form is never trusted)', () => {
  const { clock, tracker, kskA, kskB } = rootScenario();
  tracker.observe([dnskeyRecord(kskA), dnskeyRecord(kskB)]);
  const revA = revokedForm(kskA);
  const set = [dnskeyRecord(revA), dnskeyRecord(kskB)];
  const t = Math.floor(clock.now / 1000);
  // Signed by KSK-B only: revokedSelfSigners finds no self-signature.
  assert.deepEqual(revokedSelfSigners(n('.'), set, [signRrset(set, kskB, t - 3600, t + 86400)], t), []);
  // A signature by the revoked key over another set does not count either.
  const other = [dnskeyRecord(revA)];
  assert.deepEqual(revokedSelfSigners(n('.'), set, [signRrset(other, revA, t - 3600, t + 86400)], t), []);
  tracker.observe(set, clock.now, []);
  assert.equal(tracker.states().find((s) => s.keyTag === kskA.key.keyTag)?.state, 'Missing', 'absent in its trusted form, not revoked');
  assert.deepEqual(hex(tracker.anchor().dnskey), hex([kskA]));
  assert.ok(!tracker.anchor().dnskey.some((r) => r.rdata.equals(revA.rdata)));
});

test('RFC 5011 5: with every trusted key revoked the trust point holds no key (not the stale configured anchor)', () => {
  const { clock, tracker, kskA, changes, logs } = rootScenario();
  tracker.observe([dnskeyRecord(kskA)]);
  const revA = revokedForm(kskA);
  const set = [dnskeyRecord(revA)];
  const t = Math.floor(clock.now / 1000);
  tracker.observe(set, clock.now, revokedSelfSigners(n('.'), set, [signRrset(set, revA, t - 3600, t + 86400)], t));
  assert.deepEqual(tracker.anchor().dnskey, []);
  assert.deepEqual(tracker.anchor().ds, []);
  assert.deepEqual(changes.at(-1), []);
  assert.ok(logs.some((l) => /trust point is deleted/.test(l)));
});

test('RFC 5011: a set that matches no configured anchor starts no tracking', () => {
  const { tracker, kskB, initial } = rootScenario();
  tracker.observe([dnskeyRecord(kskB)]);
  assert.equal(tracker.anchor(), initial);
  assert.deepEqual(tracker.states(), []);
});

test('RFC 5011: a state file that cannot be read is an error naming it; an unwritable one is logged, tracking goes on', () => {
  const bad = join(dir, 'bad-state.json');
  writeFileSync(bad, '{"zone": ".", "keys": [{"rdata": "AAAA", "state": "Valid", "firstSeen": 0, "lastSeen": 0}]}\n');
  const initial = { zone: n('.'), ds: [], dnskey: [] };
  assert.throws(() => new KeyTracker({ zone: n('.'), initial, stateFile: bad }), (e: Error) => e.message.startsWith(bad) && /keys\[0\]: rdata/.test(e.message));
  writeFileSync(bad, 'not json');
  assert.throws(() => new KeyTracker({ zone: n('.'), initial, stateFile: bad }), /not JSON/);
  writeFileSync(bad, '{"zone": "example.", "keys": []}');
  assert.throws(() => new KeyTracker({ zone: n('.'), initial, stateFile: bad }), /tracks example\./);

  const logs: string[] = [];
  const k = generateSigningKey(n('.'), 13, 257);
  const t = new KeyTracker({ zone: n('.'), initial: { zone: n('.'), ds: [dsFor(k)], dnskey: [] }, stateFile: join(dir, 'no-such-dir', 'state.json'), log: (m) => logs.push(m) });
  t.observe([dnskeyRecord(k)]);
  assert.equal(t.anchor().dnskey.length, 1);
  assert.ok(logs.some((l) => /cannot write .*ENOENT/.test(l)), logs.join('\n'));
});

test('RFC 5011 2.3: the next probe is max(1 hour, min(15 days, TTL/2, time to RRSIG expiry/2))', () => {
  const { tracker } = rootScenario();
  const now = Date.parse('2026-01-01T00:00:00Z');
  const sec = now / 1000;
  assert.equal(tracker.nextProbe(172800, sec + 14 * 86400, now), now + DAY, 'TTL/2 = 1 day');
  assert.equal(tracker.nextProbe(172800, sec + 3600, now), now + 3_600_000, 'never under an hour');
  assert.equal(tracker.nextProbe(3600 * 24 * 100, sec + 86400 * 100, now), now + 15 * DAY, 'never over 15 days');
  assert.equal(tracker.nextProbe(172800, sec + 86400, now), now + DAY / 2, 'half the time left to expiry');
});

test('verdict check: the RFC 5011 state file is read and a broken one is an error', () => {
  const state = join(dir, 'check-state.json');
  writeFileSync(state, '{"keys": 3}');
  const cfg = join(dir, 'check-5011.yaml');
  writeFileSync(cfg, `control: { enabled: false }\ndnssec: { root_key_state_file: ${state} }\n`);
  const r = spawnSync('node', [CLI, 'check', '-c', cfg], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /RFC 5011 state/);
  rmSync(state);
  const ok = spawnSync('node', [CLI, 'check', '-c', cfg], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /none yet/);
});
