/**
 * The signed lab (issue 13 item 9): what the lab's own authoritative server
 * says with DO=1 (RFC 4035 3.1, RFC 5155 7.2), checked with dig, and whether
 * the lab is right, checked by an independent validator: Unbound, anchored at
 * lab/keys/root.ds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText, nameKey, nameToText } from '../src/dns/name.js';
import { recordToText } from '../src/dns/rdata.js';
import { checkRrsig, dsDigest } from '../src/dnssec/crypto.js';
import { base32hexEncode, NSEC3_OPT_OUT, nsec3Hash, parseDnskey, parseDs, parseNsec, parseNsec3, parseRrsig } from '../src/dnssec/records.js';
import { generateSigningKey } from '../src/dnssec/sign.js';
import { dsRrset, signZone, wrongDigestDs } from '../src/dnssec/zonesign.js';
import type { SignOptions } from '../src/dnssec/zonesign.js';
import { parseZoneString } from '../src/rpz/masterfile.js';
import { addDnssec, AuthData, AuthZone } from '../src/lab/authserver.js';
import { LAB_SERVERS, loadLabZones, startLab } from '../src/lab/lab.js';
import { signLabZones } from '../src/lab/signed.js';
import { defaultZonesDir, readZoneFile } from '../src/lab/zones.js';
import type { Lab } from '../src/lab/lab.js';
import { digAsync, hasDig } from './helpers/dig.js';
import type { DigResult } from './helpers/dig.js';
import { hasUnbound, startUnbound } from './helpers/unbound.js';
import type { UnboundHandle } from './helpers/unbound.js';

const skip = hasDig() ? false : 'dig is not installed (apt-get install bind9-dnsutils)';
const skipUnbound = skip || (hasUnbound() ? false : 'unbound is not installed');
let lab: Lab;
let unbound: UnboundHandle | undefined;

before(async () => {
  if (skip) return;
  lab = await startLab();
  if (!skipUnbound) unbound = await startUnbound(lab.rootHints, '127.55.97.1', 53, { trustAnchorFile: resolve('lab/keys/root.ds') });
});
after(async () => {
  await unbound?.stop();
  await lab?.stop();
});

/** dig straight at one lab server (no recursion). */
const at = (server: string, ...args: string[]) => digAsync(['+norec', ...args], server, 53);
const types = (lines: string[]) => lines.map((l) => l.split(' ')[3]!);
const covered = (lines: string[]) => lines.filter((l) => l.split(' ')[3] === 'RRSIG').map((l) => l.split(' ')[4]!);

test('the lab signs every zone at start, fast (< 2 s)', () => {
  // CPU time, not wall time: other work on a shared machine does not count.
  const t = process.cpuUsage();
  const zones = loadLabZones();
  const used = process.cpuUsage(t);
  const ms = (used.user + used.system) / 1000;
  assert.ok(ms < 2000, `signing took ${ms} ms`);
  const root = zones.get('.')!;
  assert.ok(root.signed && !root.usesNsec3);
  assert.ok(zones.get('sec')!.usesNsec3);
  assert.ok(!zones.get('com')!.signed && !zones.get('insecure.sec')!.signed && !zones.get('unsigned.optout.sec')!.signed);
  // The root's KSK is the anchor: its DNSKEY RRset is signed with algorithm 8.
  const sig = root.sigs(nameFromText('.'), Type.DNSKEY)[0]!;
  assert.equal(sig.rdata[2], 8);
});

test('dig +dnssec www.alg8.sec at its server: the A RRset and its RRSIG', { skip }, async () => {
  const r = await at('127.55.8.2', '+dnssec', 'www.alg8.sec', 'A');
  assert.equal(r.status, 'NOERROR');
  assert.ok(r.flags.includes('aa'));
  assert.deepEqual(types(r.answer).sort(), ['A', 'RRSIG']);
  assert.deepEqual(covered(r.answer), ['A']);
  assert.match(r.answer.find((l) => l.includes('RRSIG'))!, / A 8 3 3600 \d{14} \d{14} \d+ alg8\.sec\. /);
});

test('no RRSIG (nor NSEC) without +dnssec', { skip }, async () => {
  for (const [server, name, type] of [['127.55.8.2', 'www.alg8.sec', 'A'], ['127.55.8.2', 'nope.alg13.sec', 'A'], ['127.55.0.1', 'www.alg8.sec', 'A'], ['127.55.8.1', 'www.alg8.sec', 'A'], ['127.55.0.1', 'nope.', 'A']] as const) {
    const r = await at(server, name, type);
    const all = [...r.answer, ...r.authority, ...r.additional];
    assert.ok(!all.some((l) => /\s(RRSIG|NSEC|NSEC3|DS)\s/.test(` ${l} `)), `${name} @${server}: ${r.text}`);
  }
  const any = await digAsync(['+norec', '+tcp', '.', 'ANY'], '127.55.0.1', 53);
  assert.ok(any.answer.length > 0 && !types(any.answer).includes('RRSIG'), any.text);
  // Asked by type, they are data (DNSKEY at the apex, DS on the parent side).
  assert.deepEqual(types((await at('127.55.8.2', 'alg8.sec', 'DNSKEY')).answer), ['DNSKEY', 'DNSKEY']);
  assert.deepEqual(types((await at('127.55.8.1', 'alg8.sec', 'DS')).answer), ['DS']);
});

test('NXDOMAIN with +dnssec: NSEC (alg8, alg15) or NSEC3 (alg13) proofs with their RRSIGs', { skip }, async () => {
  for (const [zone, proof, count] of [['alg8.sec', 'NSEC', 2], ['alg15.sec', 'NSEC', 2], ['alg13.sec', 'NSEC3', 3]] as const) {
    const r = await at('127.55.8.2', '+dnssec', `nope.${zone}`, 'A');
    assert.equal(r.status, 'NXDOMAIN');
    const t = types(r.authority);
    assert.ok(t.includes('SOA'));
    const proofs = t.filter((x) => x === proof).length;
    // NSEC: the name covered + the wildcard covered (one record may do both); NSEC3: encloser, next closer, wildcard.
    assert.ok(proofs >= 1 && proofs <= count, `${zone}: ${r.text}`);
    assert.deepEqual(covered(r.authority).sort(), ['SOA', ...Array(proofs).fill(proof)].sort());
  }
});

test('NODATA, wildcard and empty non-terminal with +dnssec', { skip }, async () => {
  const nodata = await at('127.55.8.2', '+dnssec', 'www.alg8.sec', 'TXT');
  assert.equal(nodata.status, 'NOERROR');
  assert.ok(nodata.authority.some((l) => l.startsWith('www.alg8.sec. ') && l.includes(' NSEC ')));
  const wild = await at('127.55.8.2', '+dnssec', 'foo.wild.alg13.sec', 'A');
  assert.deepEqual(types(wild.answer).sort(), ['A', 'RRSIG']);
  // The RRSIG of *.wild, owner rewritten, labels 3 (RFC 4034 3.1.3), and the NSEC3 covering the next closer.
  assert.match(wild.answer.find((l) => l.includes('RRSIG'))!, /^foo\.wild\.alg13\.sec\. \d+ IN RRSIG A 13 3 /);
  assert.ok(types(wild.authority).includes('NSEC3'));
  const ent = await at('127.55.8.2', '+dnssec', 'a.b.alg13.sec', 'A');
  assert.equal(ent.status, 'NOERROR');
  assert.ok(types(ent.authority).includes('NSEC3'));
});

test('referrals from sec.: DS + RRSIG for alg8.sec, the NSEC3 proof of no DS for insecure.sec', { skip }, async () => {
  const signed = await at('127.55.8.1', '+dnssec', 'www.alg8.sec', 'A');
  assert.ok(!signed.flags.includes('aa'));
  assert.deepEqual(types(signed.authority).sort(), ['DS', 'NS', 'RRSIG']);
  assert.deepEqual(covered(signed.authority), ['DS']);
  const insecure = await at('127.55.8.1', '+dnssec', 'www.insecure.sec', 'A');
  assert.ok(types(insecure.authority).includes('NS'));
  assert.ok(!types(insecure.authority).includes('DS'));
  assert.ok(types(insecure.authority).includes('NSEC3'));
  assert.ok(covered(insecure.authority).includes('NSEC3'));
  // DS at the apex of a zone the server also serves is answered from the parent (RFC 4035 3.1.4.1): lab. is on the root servers.
  const lab = await at('127.55.0.1', '+dnssec', 'lab', 'DS');
  assert.ok(lab.authority.some((l) => l.startsWith('. ') && l.includes(' SOA ')), lab.text);
  assert.ok(lab.authority.some((l) => l.startsWith('lab. ') && l.includes(' NSEC ')), lab.text);
  // The root proves that com. has no DS with an NSEC.
  const com = await at('127.55.0.1', '+dnssec', 'www.example.com', 'A');
  assert.ok(com.authority.some((l) => l.startsWith('com. ') && l.includes(' NSEC ')));
});

test('strip-rrsigs: a signed zone served without any RRSIG', { skip }, async () => {
  const r = await at('127.55.8.4', '+dnssec', 'www.stripped.sec', 'A');
  assert.deepEqual(types(r.answer), ['A']);
  const k = await at('127.55.8.4', '+dnssec', 'stripped.sec', 'DNSKEY');
  assert.deepEqual(types(k.answer), ['DNSKEY', 'DNSKEY']);
});

test('UDP truncation still holds with signatures', { skip }, async () => {
  const plain = await at('127.55.0.1', '+dnssec', '+bufsize=512', '+ignore', '.', 'DNSKEY');
  assert.ok(plain.flags.includes('tc'), plain.text);
  const tcp = await at('127.55.0.1', '+dnssec', '+tcp', '.', 'DNSKEY');
  assert.deepEqual(types(tcp.answer).sort(), ['DNSKEY', 'DNSKEY', 'RRSIG']);
});

const hasVerify = spawnSync('dnssec-verify', ['-V'], { encoding: 'utf8' }).status === 0;
const hasLdns = spawnSync('ldns-verify-zone', ['-v'], { encoding: 'utf8' }).status === 0;

/** The signed lab zones written out in presentation form (recordToText, the RRSIG/NSEC/NSEC3 codecs included). */
function writeSignedZones(dir: string, zones: string[]): Map<string, string> {
  const records = new Map<string, Record[]>();
  for (const s of LAB_SERVERS) for (const z of s.zones) if (!records.has(z)) records.set(z, readZoneFile(defaultZonesDir(), z));
  signLabZones(records);
  const files = new Map<string, string>();
  for (const zone of zones) {
    const file = join(dir, `${zone === '.' ? 'root' : zone}.signed`);
    writeFileSync(file, records.get(zone)!.map(recordToText).join('\n') + '\n');
    files.set(zone, file);
  }
  return files;
}

const SOUND = ['.', 'sec', 'alg8.sec', 'alg13.sec', 'alg15.sec', 'optout.sec', 'signed.optout.sec', 'nsec3hash.sec', 'stripped.sec', 'dsmismatch.sec'];
const BROKEN = ['badsig.sec', 'expired.sec', 'notyet.sec', 'nokey.sec', 'keytrap.sec'];

test('dnssec-verify (BIND) and ldns-verify-zone accept the signed zones as complete, and reject the broken ones', { skip: hasVerify && hasLdns ? false : 'dnssec-verify or ldns-verify-zone is not installed (bind9-dnsutils, ldnsutils)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-zv-'));
  try {
    const files = writeSignedZones(dir, [...SOUND, 'iter.sec', ...BROKEN]);
    for (const zone of SOUND) {
      const r = spawnSync('dnssec-verify', ['-q', '-o', zone, files.get(zone)!], { encoding: 'utf8' });
      assert.equal(r.status, 0, `dnssec-verify ${zone}: ${r.stderr}${r.stdout}`);
    }
    // dnssec-verify refuses more than 150 NSEC3 iterations as policy (RFC 9276 3.2); ldns checks iter.sec too.
    for (const zone of [...SOUND, 'iter.sec']) {
      const r = spawnSync('ldns-verify-zone', [files.get(zone)!], { encoding: 'utf8' });
      assert.equal(r.status, 0, `ldns-verify-zone ${zone}: ${r.stderr}${r.stdout}`);
    }
    // The faults are real: each broken zone fails, for its own reason.
    const reasons: { [zone: string]: RegExp } = {
      'badsig.sec': /Bogus DNSSEC signature for www\.badsig\.sec\.\s+A/,
      'expired.sec': /signature has expired/,
      'notyet.sec': /not incepted yet/,
      'nokey.sec': /No keys with the keytag and algorithm/,
      'keytrap.sec': /Bogus DNSSEC signature for www\.keytrap\.sec\.\s+A/,
    };
    for (const zone of BROKEN) {
      const r = spawnSync('ldns-verify-zone', [files.get(zone)!], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, `ldns-verify-zone accepted ${zone}`);
      assert.match(r.stderr + r.stdout, reasons[zone]!, zone);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the signer alone (src/dnssec/zonesign.ts)

const NOW = 1_800_000_000;
const ZONE = `$ORIGIN t.
$TTL 3600
@ SOA ns.t. h.t. 1 1800 900 604800 300
@ NS ns
ns A 192.0.2.1
www A 192.0.2.2
*.w TXT "wild"
x.a.b TXT "below an empty non-terminal"
insec NS ns.insec
ns.insec A 192.0.2.3
sec NS ns.sec.example.
`;
const apex = nameFromText('t.');
const zoneRecords = (): Record[] => {
  const out: Record[] = [];
  parseZoneString(ZONE, (rr) => out.push({ name: rr.name, type: rr.type, class: rr.class, ttl: rr.ttl, rdata: rr.rdata }), { origin: apex });
  return out;
};
const ksk = generateSigningKey(apex, 13, 257);
const zsk = generateSigningKey(apex, 13, 256);
const childKsk = generateSigningKey(nameFromText('sec.t.'), 13, 257);
const childDs = new Map([[nameKey(nameFromText('sec.t.')), dsRrset([childKsk])]]);
const sign = (extra: Partial<SignOptions> = {}) => signZone(apex, zoneRecords(), { ksk: [ksk], zsk: [zsk], denial: { kind: 'nsec' }, inception: NOW - 3600, expiration: NOW + 86400, childDs, ...extra });
const rrsOf = (rs: Record[], name: string, type: number) => rs.filter((r) => r.type === type && nameToText(r.name) === name);
const sigsOf = (rs: Record[], name: string, type: number) => rrsOf(rs, name, Type.RRSIG).filter((r) => r.rdata.readUInt16BE(0) === type);
/** checkRrsig of every signature of an RRset against the keys published in the zone. */
function check(rs: Record[], name: string, type: number): string[] {
  const keys = rrsOf(rs, 't.', Type.DNSKEY).map((r) => parseDnskey(r.rdata));
  return sigsOf(rs, name, type).map((s) => {
    const sig = parseRrsig(s.rdata);
    const key = keys.find((k) => k.keyTag === sig.keyTag);
    return key ? checkRrsig(rrsOf(rs, name, type), sig, key, NOW) : 'no-key';
  });
}

test('signZone with NSEC: what is signed and what the chain lists around cuts, ENTs and wildcards (RFC 4035 2.2, 2.3)', () => {
  const rs = sign();
  assert.equal(rrsOf(rs, 't.', Type.DNSKEY).length, 2);
  assert.deepEqual(check(rs, 't.', Type.DNSKEY), ['valid']);
  assert.equal(parseRrsig(sigsOf(rs, 't.', Type.DNSKEY)[0]!.rdata).keyTag, ksk.key.keyTag, 'the KSK signs the DNSKEY RRset');
  for (const [name, type] of [['t.', Type.SOA], ['t.', Type.NS], ['www.t.', Type.A], ['sec.t.', Type.DS], ['*.w.t.', Type.TXT], ['x.a.b.t.', Type.TXT], ['insec.t.', Type.NSEC]] as const) {
    assert.deepEqual(check(rs, name, type), ['valid'], `${name} ${type}`);
  }
  assert.equal(parseRrsig(sigsOf(rs, 'www.t.', Type.A)[0]!.rdata).keyTag, zsk.key.keyTag, 'the ZSK signs the data');
  // The NS at a cut and glue are the child's: unsigned.
  for (const [name, type] of [['insec.t.', Type.NS], ['sec.t.', Type.NS], ['ns.insec.t.', Type.A]] as const) assert.equal(sigsOf(rs, name, type).length, 0, `${name} ${type}`);
  // RFC 4034 3.1.3: the wildcard's labels do not count "*".
  assert.equal(parseRrsig(sigsOf(rs, '*.w.t.', Type.TXT)[0]!.rdata).labels, 2);
  const nsec = (name: string) => {
    const r = rrsOf(rs, name, Type.NSEC);
    assert.equal(r.length, 1, `one NSEC at ${name}`);
    const n = parseNsec(r[0]!.rdata);
    return { next: nameToText(n.next), types: [...n.types].sort((a, b) => a - b) };
  };
  assert.deepEqual(nsec('insec.t.').types, [Type.NS, Type.RRSIG, Type.NSEC]);
  assert.deepEqual(nsec('sec.t.').types, [Type.NS, Type.DS, Type.RRSIG, Type.NSEC]);
  assert.deepEqual(nsec('t.').types, [Type.NS, Type.SOA, Type.RRSIG, Type.NSEC, Type.DNSKEY]);
  // Canonical order (RFC 4034 6.1), no NSEC at empty non-terminals (a.b.t., b.t., w.t.) nor below cuts.
  const chain = ['t.', 'x.a.b.t.', 'insec.t.', 'ns.t.', 'sec.t.', '*.w.t.', 'www.t.'];
  chain.forEach((n, i) => assert.equal(nsec(n).next, chain[(i + 1) % chain.length]));
  assert.equal(rs.filter((r) => r.type === Type.NSEC).length, chain.length);
  assert.throws(() => sign({ childDs: new Map([['x', dsRrset([childKsk]).map((r) => ({ ...r, name: nameFromText('www.t.') }))]]) }), /not a delegation/);
});

test('signZone with NSEC3 opt-out: unsigned delegations left out, ENTs in, flags (RFC 5155 7.1, 4.1.2)', () => {
  const salt = Buffer.from('beef', 'hex');
  const rs = sign({ denial: { kind: 'nsec3', iterations: 3, salt, optOut: true } });
  const chain = new Map(rs.filter((r) => r.type === Type.NSEC3).map((r) => [nameToText(r.name).split('.')[0]!, parseNsec3(r.rdata)]));
  const h = (name: string) => base32hexEncode(nsec3Hash(nameFromText(name), salt, 3));
  assert.ok(!chain.has(h('insec.t.')), 'the unsigned delegation is opted out');
  assert.deepEqual([...chain.get(h('sec.t.'))!.types].sort((a, b) => a - b), [Type.NS, Type.DS, Type.RRSIG]);
  for (const ent of ['a.b.t.', 'b.t.', 'w.t.']) assert.equal(chain.get(h(ent))?.types.size, 0, `the empty non-terminal ${ent}`);
  assert.ok(chain.get(h('t.'))!.types.has(Type.NSEC3PARAM));
  assert.ok(!chain.has(h('ns.insec.t.')), 'no NSEC3 for glue');
  // t, ns, www, *.w, x.a.b, sec and the empty non-terminals w, a.b, b; not insec.
  assert.equal(chain.size, 9);
  for (const n of chain.values()) assert.equal(n.flags, NSEC3_OPT_OUT);
  assert.equal(rrsOf(rs, 't.', Type.NSEC3PARAM)[0]!.rdata[1], 0, 'no opt-out flag in NSEC3PARAM');
  // The chain is closed: following "next" from any record visits every record once.
  const first = [...chain.keys()][0]!;
  let cur = first;
  for (let i = 0; i < chain.size; i++) cur = base32hexEncode(chain.get(cur)!.nextHashed);
  assert.equal(cur, first);
});

test('signZone faults: each breaks the zone in its one way, and the parent\'s DS for ds-mismatch', () => {
  const bad = sign({ fault: 'bad-signature', faultAt: { name: nameFromText('www.t.'), type: Type.A } });
  assert.deepEqual(check(bad, 'www.t.', Type.A), ['bad-signature']);
  assert.deepEqual(check(bad, 't.', Type.SOA), ['valid']);
  assert.deepEqual(check(sign({ fault: 'bad-signature' }), 't.', Type.DNSKEY), ['valid'], 'without faultAt, all but the DNSKEY RRset');
  assert.deepEqual(check(sign({ fault: 'bad-signature' }), 't.', Type.SOA), ['bad-signature']);
  for (const [fault, result] of [['expired', 'expired'], ['not-yet-valid', 'not-yet-valid']] as const) {
    const rs = sign({ fault });
    for (const [name, type] of [['t.', Type.DNSKEY], ['www.t.', Type.A], ['t.', Type.NSEC]] as const) assert.deepEqual(check(rs, name, type), [result], `${fault} ${name}`);
  }
  const nokey = sign({ fault: 'dnskey-missing' });
  assert.deepEqual(rrsOf(nokey, 't.', Type.DNSKEY).map((r) => parseDnskey(r.rdata).keyTag), [ksk.key.keyTag]);
  assert.deepEqual(check(nokey, 't.', Type.DNSKEY), ['valid']);
  assert.deepEqual(check(nokey, 'www.t.', Type.A), ['no-key']);
  assert.deepEqual(check(sign({ fault: 'ds-mismatch' }), 'www.t.', Type.A), ['valid'], 'ds-mismatch leaves the zone sound');
  const good = parseDs(dsRrset([childKsk])[0]!.rdata);
  const wrong = parseDs(dsRrset([childKsk], { fault: 'ds-mismatch' })[0]!.rdata);
  assert.equal(wrong.keyTag, good.keyTag);
  assert.equal(wrong.algorithm, good.algorithm);
  assert.ok(!wrong.digest.equals(good.digest));
  assert.ok(!wrong.digest.equals(dsDigest(childKsk.owner, childKsk.rdata, 2)!));
  assert.deepEqual(parseDs(wrongDigestDs(dsRrset([childKsk])[0]!).rdata), wrong);
});

test('lab server engine: a CNAME leading below a cut carries the referral and its DS proof (RFC 4035 3.1.4)', () => {
  const alias = nameFromText('alias.t.');
  const recs = [...zoneRecords(), { name: alias, type: Type.CNAME, class: 1, ttl: 3600, rdata: nameFromText('www.insec.t.') }];
  const zone = new AuthZone(apex, signZone(apex, recs, { ksk: [ksk], zsk: [zsk], denial: { kind: 'nsec' }, inception: NOW - 3600, expiration: NOW + 86400 }));
  const a = new AuthData([zone]).lookup(alias, Type.A)!;
  addDnssec(zone, alias, a);
  assert.deepEqual(a.answers.map((r) => r.type), [Type.CNAME, Type.RRSIG]);
  assert.deepEqual(a.authority.map((r) => `${nameToText(r.name)} ${r.type}`).sort(), ['insec.t. 2', 'insec.t. 46', 'insec.t. 47']);
});

// ---- an independent validator: Unbound anchored at lab/keys/root.ds

const viaUnbound = (...args: string[]): Promise<DigResult> => digAsync(args, '127.55.97.1', 53);

test('Unbound: alg8, alg13, alg15 are secure (ad): data, NXDOMAIN, NODATA, wildcard, CNAME, ENT', { skip: skipUnbound }, async () => {
  for (const zone of ['alg8.sec', 'alg13.sec', 'alg15.sec', 'nsec3hash.sec', 'signed.optout.sec', 'optout.sec']) {
    for (const [name, type, status] of [[`www.${zone}`, 'A', 'NOERROR'], [`nope.${zone}`, 'A', 'NXDOMAIN'], [`www.${zone}`, 'TXT', 'NOERROR'], [`x.wild.${zone}`, 'A', 'NOERROR'], [`x.wild.${zone}`, 'MX', 'NOERROR'], [`cname.${zone}`, 'A', 'NOERROR'], [`a.b.${zone}`, 'A', 'NOERROR'], [`nope.a.b.${zone}`, 'A', 'NXDOMAIN'], [zone, 'MX', 'NOERROR']] as const) {
      if (zone === 'signed.optout.sec' && name !== `www.${zone}` && name !== `nope.${zone}`) continue;
      // Opt-out: a proof resting on an opt-out span (next closer covered) is insecure (RFC 5155 9.2); below.
      if (zone === 'optout.sec' && (name.startsWith('nope.') || name.includes('.wild.'))) continue;
      const r = await viaUnbound('+dnssec', name, type);
      assert.equal(r.status, status, `${name} ${type}: ${r.text}`);
      assert.ok(r.flags.includes('ad'), `${name} ${type} not ad: ${r.text}`);
    }
  }
});

test('Unbound: insecure zones answer without ad', { skip: skipUnbound }, async () => {
  for (const name of ['www.insecure.sec', 'www.unsigned.optout.sec', 'www.example.com', 'www.unknownalg.sec']) {
    const r = await viaUnbound('+dnssec', name, 'A');
    assert.equal(r.status, 'NOERROR', `${name}: ${r.text}`);
    assert.ok(r.answer.length > 0 && !r.flags.includes('ad'), `${name}: ${r.text}`);
  }
  // NXDOMAIN in an opt-out zone: the next closer falls in an opt-out span, so the proof is insecure (RFC 5155 9.2).
  const optout = await viaUnbound('+dnssec', 'nope.optout.sec', 'A');
  assert.equal(optout.status, 'NXDOMAIN', optout.text);
  assert.ok(!optout.flags.includes('ad'), optout.text);
  // More than 150 NSEC3 iterations: Unbound treats the zone as insecure (RFC 9276 3.2).
  const iter = await viaUnbound('+dnssec', 'nope.iter.sec', 'A');
  assert.equal(iter.status, 'NXDOMAIN', iter.text);
  assert.ok(!iter.flags.includes('ad'), iter.text);
  // The root and sec. themselves are secure.
  assert.ok((await viaUnbound('+dnssec', 'sec', 'SOA')).flags.includes('ad'));
  assert.ok((await viaUnbound('+dnssec', 'nope.sec', 'A')).flags.includes('ad'));
  assert.ok((await viaUnbound('+dnssec', 'nope', 'A')).flags.includes('ad'));
});

test('Unbound: every bogus zone is SERVFAIL, and +cd gives the data', { skip: skipUnbound }, async () => {
  for (const zone of ['badsig.sec', 'expired.sec', 'notyet.sec', 'nokey.sec', 'dsmismatch.sec', 'stripped.sec', 'keytrap.sec']) {
    const r = await viaUnbound('+dnssec', `www.${zone}`, 'A');
    assert.equal(r.status, 'SERVFAIL', `www.${zone}: ${r.text}`);
    const cd = await viaUnbound('+dnssec', '+cd', `www.${zone}`, 'A');
    assert.equal(cd.status, 'NOERROR', `www.${zone} +cd: ${cd.text}`);
    assert.ok(types(cd.answer).includes('A'), `www.${zone} +cd: ${cd.text}`);
  }
});
