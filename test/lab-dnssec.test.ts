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
import { nameFromText, nameToText } from '../src/dns/name.js';
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

test('dnssec-verify (BIND) accepts the signed zones as complete', { skip: hasVerify ? false : 'dnssec-verify is not installed (bind9-dnsutils)' }, () => {
  const records = new Map<string, Record[]>();
  for (const s of LAB_SERVERS) for (const z of s.zones) if (!records.has(z)) records.set(z, readZoneFile(defaultZonesDir(), z));
  signLabZones(records);
  const dir = mkdtempSync(join(tmpdir(), 'verdict-zv-'));
  try {
    for (const zone of ['.', 'sec', 'alg8.sec', 'alg13.sec', 'alg15.sec', 'optout.sec', 'signed.optout.sec', 'nsec3hash.sec']) {
      // RFC 3597 generic presentation: every type, no per-type formatter needed.
      const text = records.get(zone)!.map((r) => `${nameToText(r.name)} ${r.ttl} IN TYPE${r.type} \\# ${r.rdata.length} ${r.rdata.toString('hex')}`).join('\n') + '\n';
      const file = join(dir, `${zone === '.' ? 'root' : zone}.signed`);
      writeFileSync(file, text);
      const r = spawnSync('dnssec-verify', ['-q', '-o', zone, file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${zone}: ${r.stderr}${r.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
