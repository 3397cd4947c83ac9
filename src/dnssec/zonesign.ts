/**
 * Sign a zone in memory (RFC 4035 2, RFC 5155 7): the DNSKEY RRset at the
 * apex, an NSEC or NSEC3 chain, and RRSIGs. For the lab and tests, which sign
 * their zones at start so that signatures never expire in the repository.
 *
 * Around delegations (RFC 4035 2.2): NS at a cut and glue are not signed, DS
 * is; the NSEC at a cut lists NS (and DS); NSEC3 opt-out leaves unsigned
 * delegations out of the chain (RFC 5155 7.1). Empty non-terminals get NSEC3
 * records, not NSEC.
 */
import { Class, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { groupRRsets } from '../dns/message.js';
import { compareNames, isSubdomain, labelCount, nameKey, namesEqual, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { base32hexEncode, encodeTypeBitmap, NSEC3_OPT_OUT, nsec3Hash } from './records.js';
import { signRrset } from './sign.js';
import type { SigningKey } from './sign.js';

export type Denial = { kind: 'nsec' } | { kind: 'nsec3'; iterations: number; salt: Buffer; optOut?: boolean };

export interface SignOptions {
  /** Sign the DNSKEY RRset. */
  ksk: SigningKey[];
  /** Sign everything else. */
  zsk: SigningKey[];
  denial: Denial;
  inception: number;
  expiration: number;
  /** The DNSKEY RRset to publish instead of the keys' own (a lab zone whose data keys are missing). */
  dnskeys?: Record[];
  /** DNSKEY records published besides the keys' own (or besides `dnskeys`), e.g. keys that sign nothing. */
  dnskeyExtra?: Record[];
  /** TTL of the DNSKEY RRset and of the NSEC/NSEC3 records (default: the SOA MINIMUM). */
  ttl?: number;
}

export function signZone(apex: Name, records: readonly Record[], o: SignOptions): Record[] {
  const soa = records.find((r) => r.type === Type.SOA && namesEqual(r.name, apex));
  if (!soa) throw new Error('signZone: no SOA at the apex');
  const minimum = soa.rdata.readUInt32BE(soa.rdata.length - 4);
  const ttl = o.ttl ?? Math.min(soa.ttl, minimum);
  const own = o.dnskeys ?? [...o.ksk, ...o.zsk].map((k) => ({ name: apex, type: Type.DNSKEY, class: Class.IN, ttl: 3600, rdata: k.rdata }));
  const dnskeys = [...own, ...(o.dnskeyExtra ?? []).map((r) => ({ ...r, name: apex, ttl: own[0]?.ttl ?? r.ttl }))];
  const zone: Record[] = [...records.filter((r) => r.type !== Type.DNSKEY && r.type !== Type.RRSIG && r.type !== Type.NSEC && r.type !== Type.NSEC3), ...dnskeys];
  const cuts = zone.filter((r) => r.type === Type.NS && !namesEqual(r.name, apex)).map((r) => r.name);
  const cutAt = (name: Name) => cuts.find((c) => isSubdomain(name, c));
  /** Data the zone is not authoritative for: below a cut, or at a cut other than NS, DS and the NSEC (RFC 4035 2.3). */
  const occluded = (r: Record) => {
    const c = cutAt(r.name);
    return c !== undefined && !(namesEqual(r.name, c) && (r.type === Type.NS || r.type === Type.DS || r.type === Type.NSEC));
  };
  const owners = new Map<string, { name: Name; types: Set<number> }>();
  for (const r of zone) {
    if (occluded(r)) continue;
    let o = owners.get(nameKey(r.name));
    if (!o) owners.set(nameKey(r.name), (o = { name: r.name, types: new Set() }));
    o.types.add(r.type);
  }
  /** Unsigned delegation: a cut without DS. */
  const insecureCut = (o: { name: Name; types: Set<number> }) => o.types.has(Type.NS) && !namesEqual(o.name, apex) && !o.types.has(Type.DS);
  const signedTypes = (o: { name: Name; types: Set<number> }) => {
    const t = new Set(o.types);
    if (!insecureCut(o) || t.has(Type.DS)) t.add(Type.RRSIG); // an unsigned cut's NS carries no RRSIG
    return t;
  };
  const chain: Record[] = [];
  if (o.denial.kind === 'nsec') {
    const sorted = [...owners.values()].sort((a, b) => compareNames(a.name, b.name));
    sorted.forEach((x, i) => {
      const next = sorted[(i + 1) % sorted.length]!.name;
      const types = signedTypes(x);
      types.add(Type.NSEC);
      types.add(Type.RRSIG);
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
      const types = e.x.types.size ? signedTypes(e.x) : new Set<number>();
      if (namesEqual(e.x.name, apex)) types.add(Type.NSEC3PARAM);
      const owner = Buffer.concat([Buffer.from([32]), Buffer.from(base32hexEncode(e.h), 'latin1'), apex]);
      chain.push({ name: owner, type: Type.NSEC3, class: Class.IN, ttl, rdata: Buffer.concat([params, Buffer.from([next.length]), next, encodeTypeBitmap(types)]) });
    });
    const p = Buffer.concat([Buffer.from([1, 0, iterations >> 8, iterations & 0xff, salt.length]), salt]);
    zone.push({ name: apex, type: Type.NSEC3PARAM, class: Class.IN, ttl: 0, rdata: p });
  }
  zone.push(...chain);
  const sigs: Record[] = [];
  for (const set of groupRRsets(zone)) {
    const first = set[0]!;
    if (occluded(first)) continue;
    if (first.type === Type.NS && !namesEqual(first.name, apex)) continue; // the child's data
    const keys = first.type === Type.DNSKEY ? o.ksk : o.zsk;
    for (const k of keys) sigs.push(signRrset(set, k, o.inception, o.expiration));
  }
  return [...zone, ...sigs];
}
