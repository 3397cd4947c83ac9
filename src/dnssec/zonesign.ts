/**
 * Sign a zone in memory (RFC 4035 2, RFC 5155 7): the DNSKEY RRset at the
 * apex, an NSEC or NSEC3 chain, and RRSIGs. For the lab and tests, which sign
 * their zones at start so that signatures never expire in the repository.
 *
 * Around delegations (RFC 4035 2.2): NS at a cut and glue are not signed, DS
 * is; the NSEC at a cut lists NS (and DS); NSEC3 opt-out leaves unsigned
 * delegations out of the chain (RFC 5155 7.1). Empty non-terminals get NSEC3
 * records, not NSEC. Wildcard RRSIGs do not count the `*` label (RFC 4034
 * 3.1.3; signRrset does it).
 *
 * Faults break a zone on purpose, each in one way a validator must catch
 * (RFC 4035 5.3.1 and 5.2), for bogus test zones.
 */
import { Class, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { groupRRsets } from '../dns/message.js';
import { compareNames, isSubdomain, labelCount, nameKey, namesEqual, nameToText, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { base32hexEncode, encodeTypeBitmap, NSEC3_OPT_OUT, nsec3Hash } from './records.js';
import { dsFor, signRrset } from './sign.js';
import type { SigningKey } from './sign.js';

export type Denial = { kind: 'nsec' } | { kind: 'nsec3'; iterations: number; salt: Buffer; optOut?: boolean };

/**
 * - bad-signature: the signatures of one RRset (`faultAt`, default every RRset
 *   but the DNSKEY RRset) have their last byte altered
 * - expired / not-yet-valid: every signature's window moved wholly before /
 *   after the given one (see FAULT_SHIFT)
 * - dnskey-missing: the ZSKs sign the data but are left out of the DNSKEY RRset
 * - ds-mismatch: the zone is sound; its parent's DS does not match
 *   (dsRrset with this fault, or wrongDigestDs)
 */
export type ZoneFault = 'bad-signature' | 'expired' | 'not-yet-valid' | 'dnskey-missing' | 'ds-mismatch';

/**
 * How far a time fault moves the validity window: well past the clock skew a
 * validator may allow (RFC 4035 5.3.1 leaves it to local policy; Unbound
 * allows 10% of the window, at most a day).
 */
export const FAULT_SHIFT = 10 * 86400;

export interface SignOptions {
  /** Sign the DNSKEY RRset. */
  ksk: SigningKey[];
  /** Sign everything else. */
  zsk: SigningKey[];
  denial: Denial;
  inception: number;
  expiration: number;
  /** DS RRsets to publish at the zone's delegations, by nameKey of the child apex (RFC 4035 2.4). */
  childDs?: Map<string, Record[]>;
  /** DNSKEY records published besides the keys' own, e.g. keys that sign nothing. */
  dnskeyExtra?: Record[];
  /** TTL of the NSEC/NSEC3 records (default: min(SOA TTL, SOA MINIMUM), RFC 9077 3). */
  ttl?: number;
  fault?: ZoneFault;
  /** The RRset a 'bad-signature' fault corrupts. */
  faultAt?: { name: Name; type: number };
}

const DNSKEY_TTL = 3600;

export function signZone(apex: Name, records: readonly Record[], o: SignOptions): Record[] {
  const soa = records.find((r) => r.type === Type.SOA && namesEqual(r.name, apex));
  if (!soa) throw new Error('signZone: no SOA at the apex');
  if (o.ksk.length === 0 || o.zsk.length === 0) throw new Error('signZone: at least one KSK and one ZSK');
  const minimum = soa.rdata.readUInt32BE(soa.rdata.length - 4);
  const ttl = o.ttl ?? Math.min(soa.ttl, minimum);
  // dnskey-missing: the data keys sign but are not published (RFC 4035 5.3.1 finds no key).
  const published = o.fault === 'dnskey-missing' ? o.ksk : [...o.ksk, ...o.zsk];
  const dnskeys = [...published.map((k) => k.rdata), ...(o.dnskeyExtra ?? []).map((r) => r.rdata)]
    .map((rdata): Record => ({ name: apex, type: Type.DNSKEY, class: Class.IN, ttl: DNSKEY_TTL, rdata }));
  const zone: Record[] = [...records.filter((r) => r.type !== Type.DNSKEY && r.type !== Type.RRSIG && r.type !== Type.NSEC && r.type !== Type.NSEC3 && r.type !== Type.NSEC3PARAM), ...dnskeys];
  const cuts = zone.filter((r) => r.type === Type.NS && !namesEqual(r.name, apex)).map((r) => r.name);
  for (const ds of o.childDs?.values() ?? []) {
    for (const r of ds) {
      if (!cuts.some((c) => namesEqual(c, r.name))) throw new Error(`signZone: DS for ${nameToText(r.name)}, which is not a delegation of ${nameToText(apex)}`);
      zone.push(r);
    }
  }
  const cutAt = (name: Name) => cuts.find((c) => isSubdomain(name, c));
  /** Data the zone is not authoritative for: below a cut, or at a cut other than NS, DS and the NSEC (RFC 4035 2.3). */
  const occluded = (r: Record) => {
    const c = cutAt(r.name);
    return c !== undefined && !(namesEqual(r.name, c) && (r.type === Type.NS || r.type === Type.DS || r.type === Type.NSEC));
  };
  const owners = new Map<string, { name: Name; types: Set<number> }>();
  for (const r of zone) {
    if (occluded(r)) continue;
    let x = owners.get(nameKey(r.name));
    if (!x) owners.set(nameKey(r.name), (x = { name: r.name, types: new Set() }));
    x.types.add(r.type);
  }
  /** Unsigned delegation: a cut without DS. */
  const insecureCut = (x: { name: Name; types: Set<number> }) => x.types.has(Type.NS) && !namesEqual(x.name, apex) && !x.types.has(Type.DS);
  const chain: Record[] = [];
  if (o.denial.kind === 'nsec') {
    // RFC 4034 4.1.2: each NSEC lists the types at its owner, NSEC and RRSIG included (the NSEC is signed even at an unsigned cut).
    const sorted = [...owners.values()].sort((a, b) => compareNames(a.name, b.name));
    sorted.forEach((x, i) => {
      const next = sorted[(i + 1) % sorted.length]!.name;
      const types = new Set([...x.types, Type.NSEC, Type.RRSIG]);
      chain.push({ name: x.name, type: Type.NSEC, class: Class.IN, ttl, rdata: Buffer.concat([next, encodeTypeBitmap(types)]) });
    });
  } else {
    const { iterations, salt, optOut } = o.denial;
    // Empty non-terminals between owners and the apex get NSEC3 records (RFC 5155 7.1).
    for (const x of [...owners.values()]) {
      for (let p = parentName(x.name); labelCount(p) > labelCount(apex); p = parentName(p)) {
        if (!owners.has(nameKey(p))) owners.set(nameKey(p), { name: p, types: new Set() });
      }
    }
    const included = [...owners.values()].filter((x) => !(optOut && insecureCut(x)));
    const hashed = included.map((x) => ({ h: nsec3Hash(x.name, salt, iterations), x })).sort((a, b) => a.h.compare(b.h));
    const params = Buffer.concat([Buffer.from([1, optOut ? NSEC3_OPT_OUT : 0, iterations >> 8, iterations & 0xff, salt.length]), salt]);
    hashed.forEach((e, i) => {
      const next = hashed[(i + 1) % hashed.length]!.h;
      // The types at the original owner: an unsigned cut's NS carries no RRSIG; an empty non-terminal has none (RFC 5155 7.1).
      const types = new Set(e.x.types);
      if (types.size && !insecureCut(e.x)) types.add(Type.RRSIG);
      if (namesEqual(e.x.name, apex)) types.add(Type.NSEC3PARAM);
      const owner = Buffer.concat([Buffer.from([32]), Buffer.from(base32hexEncode(e.h), 'latin1'), apex]);
      chain.push({ name: owner, type: Type.NSEC3, class: Class.IN, ttl, rdata: Buffer.concat([params, Buffer.from([next.length]), next, encodeTypeBitmap(types)]) });
    });
    // RFC 5155 4.1.2: the opt-out flag is zero in NSEC3PARAM.
    const p = Buffer.concat([Buffer.from([1, 0, iterations >> 8, iterations & 0xff, salt.length]), salt]);
    zone.push({ name: apex, type: Type.NSEC3PARAM, class: Class.IN, ttl: 0, rdata: p });
  }
  zone.push(...chain);
  let [inception, expiration] = [o.inception, o.expiration];
  const span = expiration - inception;
  if (o.fault === 'expired') [inception, expiration] = [o.inception - FAULT_SHIFT - span, o.inception - FAULT_SHIFT];
  if (o.fault === 'not-yet-valid') [inception, expiration] = [o.inception + FAULT_SHIFT, o.inception + FAULT_SHIFT + span];
  const sigs: Record[] = [];
  for (const set of groupRRsets(zone)) {
    const first = set[0]!;
    if (occluded(first)) continue;
    if (first.type === Type.NS && !namesEqual(first.name, apex)) continue; // the child's data
    const keys = first.type === Type.DNSKEY ? o.ksk : o.zsk;
    const corrupt = o.fault === 'bad-signature' && (o.faultAt ? namesEqual(first.name, o.faultAt.name) && first.type === o.faultAt.type : first.type !== Type.DNSKEY);
    for (const k of keys) {
      const sig = signRrset(set, k, inception, expiration);
      sigs.push(corrupt ? corruptSignature(sig) : sig);
    }
  }
  return [...zone, ...sigs];
}

/** The RRSIG with the last byte of its signature altered: well formed, never valid. */
function corruptSignature(sig: Record): Record {
  const rdata = Buffer.from(sig.rdata);
  rdata[rdata.length - 1]! ^= 0x5a;
  return { ...sig, rdata };
}

/**
 * A DS that names the same key (tag, algorithm) with a digest no key has:
 * the DS RRset then authenticates no DNSKEY (RFC 4035 5.2), so the zone is bogus.
 */
export function wrongDigestDs(ds: Record): Record {
  const rdata = Buffer.from(ds.rdata);
  rdata[rdata.length - 1]! ^= 0xff;
  return { ...ds, rdata };
}

/** The DS RRset a parent publishes for these KSKs (RFC 4035 2.4); with 'ds-mismatch', each with a wrong digest. */
export function dsRrset(ksk: readonly SigningKey[], opts: { digestType?: number; ttl?: number; fault?: ZoneFault } = {}): Record[] {
  return ksk.map((k) => {
    const ds = dsFor(k, opts.digestType ?? 2, opts.ttl ?? 3600);
    return opts.fault === 'ds-mismatch' ? wrongDigestDs(ds) : ds;
  });
}
