/**
 * The lab's DNSSEC (issue 13): which zones are signed, how, and how each
 * bogus zone is broken. Zones are signed in memory at lab start with keys
 * kept in the repository (PEM files in lab/keys/, listed by
 * lab/keys/index.json; made once by `keygen.ts`), so signatures are always
 * fresh and the trust anchor never changes: the root KSK's DS is
 * lab/keys/root.ds.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Class, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { nameFromText, nameKey, namesEqual } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { keyTagOf } from '../dnssec/records.js';
import { dsFor, signingKeyFromPem } from '../dnssec/sign.js';
import type { SigningKey } from '../dnssec/sign.js';
import { dsRrset, signZone } from '../dnssec/zonesign.js';
import type { Denial, ZoneFault } from '../dnssec/zonesign.js';
import { fqdn } from './zones.js';

/** The signer's faults, and two the lab makes itself (KeyTrap keys and signatures; an unknown algorithm). */
export type Fault = ZoneFault | 'keytrap' | 'unknown-algorithm';

export interface SignedZoneSpec {
  zone: string;
  algorithm: number;
  denial: Denial;
  fault?: Fault;
}

const NSEC: Denial = { kind: 'nsec' };
const nsec3 = (iterations: number, salt = '', optOut = false): Denial => ({ kind: 'nsec3', iterations, salt: Buffer.from(salt, 'hex'), optOut });

/** Signed zones of the lab; the others are unsigned (and their parents prove they have no DS). */
export const SIGNED_ZONES: readonly SignedZoneSpec[] = [
  { zone: '.', algorithm: 8, denial: NSEC },
  { zone: 'sec', algorithm: 13, denial: nsec3(0) },
  { zone: 'alg8.sec', algorithm: 8, denial: NSEC },
  { zone: 'alg13.sec', algorithm: 13, denial: nsec3(5, 'aabbccdd') },
  { zone: 'alg15.sec', algorithm: 15, denial: NSEC },
  { zone: 'optout.sec', algorithm: 13, denial: nsec3(0, '', true) },
  { zone: 'signed.optout.sec', algorithm: 13, denial: NSEC },
  { zone: 'iter.sec', algorithm: 13, denial: nsec3(200, 'ab') },
  { zone: 'nsec3hash.sec', algorithm: 13, denial: nsec3(150, 'cd') },
  { zone: 'badsig.sec', algorithm: 13, denial: NSEC, fault: 'bad-signature' },
  { zone: 'expired.sec', algorithm: 13, denial: NSEC, fault: 'expired' },
  { zone: 'notyet.sec', algorithm: 13, denial: NSEC, fault: 'not-yet-valid' },
  { zone: 'nokey.sec', algorithm: 13, denial: NSEC, fault: 'dnskey-missing' },
  { zone: 'dsmismatch.sec', algorithm: 13, denial: NSEC, fault: 'ds-mismatch' },
  { zone: 'stripped.sec', algorithm: 13, denial: NSEC },
  { zone: 'keytrap.sec', algorithm: 13, denial: NSEC, fault: 'keytrap' },
  { zone: 'unknownalg.sec', algorithm: 253, denial: NSEC, fault: 'unknown-algorithm' },
];

/** KeyTrap (CVE-2023-50387): DNSKEYs sharing one key tag, and as many signatures with that tag. */
export const KEYTRAP_KEYS = 32;

/** lab/keys/index.json: per zone, its algorithm and the PEM files (PKCS#8) of its keys, relative to lab/keys/. */
export interface LabKeyIndex {
  [zone: string]: { algorithm: number; ksk: string; zsk: string; /** nokey.sec: the ZSK that signs but is not published */ hidden?: string; /** keytrap.sec: an RSA key whose modulus makes the colliding keys */ trap?: string };
}

/** File name of a zone's key in lab/keys/ ("." -> root.ksk.pem). */
export function keyFileName(zone: string, role: 'ksk' | 'zsk' | 'hidden' | 'trap'): string {
  return `${zone === '.' ? 'root' : zone}.${role}.pem`;
}

export function defaultKeysDir(): string {
  return fileURLToPath(new URL('../../../lab/keys/', import.meta.url));
}

interface ZoneKeys { ksk: SigningKey; zsk: SigningKey; hidden?: SigningKey; trap?: SigningKey }

function loadKeys(dir: string): Map<string, ZoneKeys> {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as LabKeyIndex;
  const pem = (f: string) => readFileSync(join(dir, f), 'utf8');
  const out = new Map<string, ZoneKeys>();
  for (const [zone, k] of Object.entries(index)) {
    const owner = nameFromText(fqdn(zone));
    out.set(zone, {
      ksk: signingKeyFromPem(owner, k.algorithm, 257, pem(k.ksk)),
      zsk: signingKeyFromPem(owner, k.algorithm, 256, pem(k.zsk)),
      ...(k.hidden ? { hidden: signingKeyFromPem(owner, k.algorithm, 256, pem(k.hidden)) } : {}),
      ...(k.trap ? { trap: signingKeyFromPem(owner, 8, 256, pem(k.trap)) } : {}),
    });
  }
  return out;
}

const parentOf = (zone: string): string => (zone.includes('.') ? zone.slice(zone.indexOf('.') + 1) : '.');
const labels = (zone: string): number => (zone === '.' ? 0 : zone.split('.').length);

/**
 * DNSKEYs with one key tag (RFC 4034 B): adding 1 to one even-offset byte of
 * the modulus and taking 1 from the next even-offset byte keeps every 16-bit
 * word sum, so the tag, while each key differs.
 */
export function collidingKeys(base: Buffer, count: number): Buffer[] {
  const out = [base];
  const start = 40; // inside the modulus of a 2048-bit key (flags 2, protocol 1, algorithm 1, exponent 4)
  for (let i = 1; out.length < count && start + 2 * i + 2 < base.length; i++) {
    const k = Buffer.from(base);
    const a = start + 2 * i;
    if (k[a]! === 0xff || k[a + 2]! === 0) continue;
    k[a]! += 1;
    k[a + 2]! -= 1;
    out.push(k);
  }
  if (out.some((k) => keyTagOf(k) !== keyTagOf(base))) throw new Error('collidingKeys: key tags differ');
  return out;
}

/**
 * Sign the lab zones present in `zones` (origin -> records), deepest first so
 * that each parent gets its children's DS (or, for fault zones, the wrong one).
 * Good signatures are valid from an hour ago (clocks differ a little) for 30
 * days. `now` in seconds.
 */
export function signLabZones(zones: Map<string, Record[]>, now = Math.floor(Date.now() / 1000), keysDir = defaultKeysDir()): void {
  const specs = SIGNED_ZONES.filter((s) => zones.has(s.zone)).sort((a, b) => labels(b.zone) - labels(a.zone));
  if (specs.length === 0) return;
  const keys = loadKeys(keysDir);
  /** Per parent origin: the DS RRsets of its children, by nameKey of the child apex. */
  const childDs = new Map<string, Map<string, Record[]>>();
  const publishDs = (zone: string, apex: Name, ds: Record[]) => {
    const parent = parentOf(zone);
    if (!childDs.has(parent)) childDs.set(parent, new Map());
    childDs.get(parent)!.set(nameKey(apex), ds);
  };
  for (const spec of specs) {
    const records = zones.get(spec.zone)!;
    const apex = nameFromText(fqdn(spec.zone));
    if (spec.fault === 'unknown-algorithm') {
      // RFC 4035 5.2: a DS naming only algorithms a validator lacks makes the zone insecure.
      const key = Buffer.concat([Buffer.from([1, 1, 3, 253]), createHash('sha256').update('verdict lab opaque key').digest()]);
      records.push({ name: apex, type: Type.DNSKEY, class: Class.IN, ttl: 3600, rdata: key });
      const digest = createHash('sha256').update(Buffer.concat([apex, key])).digest();
      const ds = Buffer.concat([Buffer.from([keyTagOf(key) >> 8, keyTagOf(key) & 0xff, 253, 2]), digest]);
      publishDs(spec.zone, apex, [{ name: apex, type: Type.DS, class: Class.IN, ttl: 3600, rdata: ds }]);
      continue;
    }
    const k = keys.get(spec.zone);
    if (!k) throw new Error(`lab/keys/index.json has no keys for ${spec.zone} (run: node dist/src/lab/keygen.js)`);
    const dnskey = (rdata: Buffer): Record => ({ name: apex, type: Type.DNSKEY, class: Class.IN, ttl: 3600, rdata });
    const fault = spec.fault === 'keytrap' ? undefined : spec.fault;
    const trap = spec.fault === 'keytrap' ? collidingKeys(k.trap!.rdata, KEYTRAP_KEYS) : [];
    const www = nameFromText(spec.zone === '.' ? 'www.' : `www.${fqdn(spec.zone)}`);
    let signed = signZone(apex, records, {
      ksk: [k.ksk],
      // nokey.sec: the data is signed by a ZSK the DNSKEY set does not hold; the published ZSK signs nothing.
      zsk: [fault === 'dnskey-missing' ? k.hidden! : k.zsk],
      denial: spec.denial,
      inception: now - 3600,
      expiration: now + 30 * 86400,
      ...(fault ? { fault, faultAt: { name: www, type: Type.A } } : {}),
      ...(childDs.has(spec.zone) ? { childDs: childDs.get(spec.zone)! } : {}),
      ...(fault === 'dnskey-missing' ? { dnskeyExtra: [dnskey(k.zsk.rdata)] } : {}),
      ...(trap.length ? { dnskeyExtra: trap.map(dnskey) } : {}),
    });
    if (spec.fault === 'keytrap') {
      // Every signature of www A names the shared tag with algorithm 8, and none verifies.
      const isWwwASig = (r: Record) => r.type === Type.RRSIG && namesEqual(r.name, www) && r.rdata.readUInt16BE(0) === Type.A;
      const real = signed.find(isWwwASig)!;
      const tag = keyTagOf(trap[0]!);
      signed = signed.filter((r) => !isWwwASig(r));
      for (let i = 0; i < KEYTRAP_KEYS; i++) {
        // A 2048-bit RSA signature's length (256 bytes) of junk.
        const junk = Buffer.concat(['a', 'b', 'c', 'd'].map((x) => createHash('sha512').update(`keytrap ${i} ${x}`).digest()));
        const rdata = Buffer.concat([Buffer.from(real.rdata.subarray(0, 18)), apex, junk]);
        rdata[2] = 8;
        rdata.writeUInt16BE(tag, 16);
        signed.push({ ...real, rdata });
      }
    }
    zones.set(spec.zone, signed);
    if (spec.zone !== '.') publishDs(spec.zone, apex, dsRrset([k.ksk], fault ? { fault } : {}));
  }
}

/** The root KSK's DS as a master-file line: the lab's trust anchor. */
export function labRootDs(keysDir = defaultKeysDir()): string {
  const k = loadKeys(keysDir).get('.')!;
  const ds = dsFor(k.ksk, 2, 3600);
  const tag = ds.rdata.readUInt16BE(0);
  return `. 3600 IN DS ${tag} ${ds.rdata[2]} ${ds.rdata[3]} ${ds.rdata.subarray(4).toString('hex').toUpperCase()}\n`;
}
