/**
 * Aggressive use of DNSSEC-validated cache (RFC 8198): validated NSEC records
 * kept per zone in canonical order, so that a name falling in a known gap is
 * answered NXDOMAIN (or NODATA, for a type the NSEC at the name lacks) without
 * asking. This also blunts random-subdomain floods under signed zones: after
 * a few misses, the gaps answer for the authorities.
 *
 * NSEC only: NSEC3 gaps (RFC 8198 allows them too) would need the hash of each
 * candidate name per query; not done.
 */
import { Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { compareNames, concatNames, isSubdomain, labelCount, nameFromText, nameKey, namesEqual, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { parseNsec } from './records.js';

interface Gap {
  owner: Name;
  next: Name;
  types: Set<number>;
  /** The NSEC and its RRSIGs, for DO clients. */
  records: Record[];
  expires: number;
}

interface ZoneGaps {
  apex: Name;
  /** The zone's SOA and its RRSIGs (RFC 8198 5.1: the negative TTL and the proof's SOA). */
  soa: Record[];
  soaExpires: number;
  /** Sorted by owner, canonical order (RFC 4034 6.1). */
  gaps: Gap[];
}

export interface Synthesised {
  kind: 'nxdomain' | 'nodata';
  soa: Record[];
  /** SOA RRSIGs, the NSECs and their RRSIGs. */
  proof: Record[];
}

const WILDCARD = nameFromText('*');

export class NsecGaps {
  private readonly zones = new Map<string, ZoneGaps>();
  private size = 0;

  constructor(private readonly maxGaps = 100_000, private readonly now: () => number = Date.now) {}

  /**
   * Keep the NSECs of a validated (secure) negative answer of `zone`. `soa` is
   * the SOA with its RRSIGs; `proof` NSEC records with their RRSIGs.
   */
  add(zone: Name, soa: readonly Record[], proof: readonly Record[]): void {
    const soaRr = soa.find((r) => r.type === Type.SOA);
    if (!soaRr) return;
    const now = this.now();
    // RFC 8198 5.4: a synthesised answer lives no longer than min(SOA TTL, SOA MINIMUM) nor the NSEC's TTL.
    const minimum = soaRr.rdata.length >= 20 ? soaRr.rdata.readUInt32BE(soaRr.rdata.length - 4) : 0;
    const soaTtl = Math.min(soaRr.ttl, minimum);
    if (soaTtl <= 0) return;
    const k = nameKey(zone);
    let z = this.zones.get(k);
    if (!z) {
      z = { apex: zone, soa: [...soa], soaExpires: now + soaTtl * 1000, gaps: [] };
      this.zones.set(k, z);
    } else {
      z.soa = [...soa];
      z.soaExpires = now + soaTtl * 1000;
    }
    for (const r of proof) {
      if (r.type !== Type.NSEC || !isSubdomain(r.name, zone)) continue;
      let nsec;
      try {
        nsec = parseNsec(r.rdata);
      } catch {
        continue;
      }
      const sigs = proof.filter((s) => s.type === Type.RRSIG && namesEqual(s.name, r.name) && s.rdata.length >= 2 && s.rdata.readUInt16BE(0) === Type.NSEC);
      const gap: Gap = { owner: r.name, next: nsec.next, types: nsec.types, records: [r, ...sigs], expires: now + Math.min(r.ttl, soaTtl) * 1000 };
      const i = this.search(z.gaps, r.name);
      if (i >= 0) z.gaps[i] = gap;
      else {
        if (this.size >= this.maxGaps) this.evict();
        z.gaps.splice(-i - 1, 0, gap);
        this.size++;
      }
    }
  }

  /** A negative answer for name/type from the gaps, or undefined. */
  synthesise(qname: Name, qtype: number): Synthesised | undefined {
    const z = this.zoneOf(qname);
    if (!z) return undefined;
    const now = this.now();
    if (z.soaExpires <= now) return undefined;
    const soa = z.soa.filter((r) => r.type === Type.SOA);
    const soaSigs = z.soa.filter((r) => r.type === Type.RRSIG);
    const at = this.live(z, qname, now);
    if (at && namesEqual(at.owner, qname)) {
      // NODATA (RFC 4035 3.1.3.1): the name exists without the type, and is no CNAME or delegation.
      if (at.types.has(qtype) || at.types.has(Type.CNAME)) return undefined;
      if (at.types.has(Type.NS) && !at.types.has(Type.SOA)) return undefined;
      if (qtype === Type.DS) return undefined; // DS is the parent's: leave it to the iterator
      return { kind: 'nodata', soa, proof: [...soaSigs, ...at.records] };
    }
    if (!at || !covers(at, qname, z.apex)) return undefined;
    // A gap whose end lies below the name: an empty non-terminal, which exists (RFC 4592 2.2.2).
    if (isSubdomain(at.next, qname)) return qtype === Type.DS ? undefined : { kind: 'nodata', soa, proof: [...soaSigs, ...at.records] };
    // NXDOMAIN (RFC 4035 3.1.3.2): qname in a gap, and no wildcard at its closest encloser.
    const ce = closestEncloser(qname, at);
    let wildcard: Name;
    try {
      wildcard = concatNames(WILDCARD, ce);
    } catch {
      return undefined;
    }
    const w = this.live(z, wildcard, now);
    if (!w || namesEqual(w.owner, wildcard) || !covers(w, wildcard, z.apex)) return undefined;
    const proof = [...soaSigs, ...at.records];
    if (w !== at) proof.push(...w.records);
    return { kind: 'nxdomain', soa, proof };
  }

  get count(): number {
    return this.size;
  }

  clear(): void {
    this.zones.clear();
    this.size = 0;
  }

  private zoneOf(name: Name): ZoneGaps | undefined {
    for (let n = name; ; n = parentName(n)) {
      const z = this.zones.get(nameKey(n));
      if (z) return z;
      if (n.length === 1) return undefined;
    }
  }

  /** The live gap whose owner is the greatest at or before `name`. */
  private live(z: ZoneGaps, name: Name, now: number): Gap | undefined {
    let i = this.search(z.gaps, name);
    if (i < 0) i = -i - 2;
    if (i < 0) return undefined;
    const g = z.gaps[i]!;
    return g.expires > now ? g : undefined;
  }

  /** Index of `owner`, or -(insertion point) - 1. */
  private search(gaps: Gap[], owner: Name): number {
    let lo = 0;
    let hi = gaps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = compareNames(gaps[mid]!.owner, owner);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  /** Bounded memory: drop the zone with the most gaps' expired entries, else half of the largest zone. */
  private evict(): void {
    const now = this.now();
    for (const z of this.zones.values()) {
      const before = z.gaps.length;
      z.gaps = z.gaps.filter((g) => g.expires > now);
      this.size -= before - z.gaps.length;
    }
    if (this.size < this.maxGaps) return;
    let largest: ZoneGaps | undefined;
    for (const z of this.zones.values()) if (!largest || z.gaps.length > largest.gaps.length) largest = z;
    if (!largest) return;
    const drop = Math.ceil(largest.gaps.length / 2);
    largest.gaps.splice(0, drop);
    this.size -= drop;
  }
}

/** RFC 4034 6.1: owner < name < next, the last NSEC (next = apex) covering all after its owner. */
function covers(g: Gap, name: Name, apex: Name): boolean {
  if (compareNames(g.owner, name) >= 0) return false;
  if (namesEqual(g.next, apex) || compareNames(g.next, g.owner) <= 0) return true;
  return compareNames(name, g.next) < 0;
}

/** The longest ancestor of `qname` shared with the NSEC's owner or next name (RFC 4035 5.4). */
function closestEncloser(qname: Name, g: Gap): Name {
  const common = (a: Name, b: Name): number => {
    let n = 0;
    const la = labelCount(a);
    const lb = labelCount(b);
    for (let k = 1; k <= Math.min(la, lb); k++) {
      if (!namesEqual(parentName(a, la - k), parentName(b, lb - k))) break;
      n = k;
    }
    return n;
  };
  const depth = Math.max(common(qname, g.owner), common(qname, g.next));
  return parentName(qname, labelCount(qname) - depth);
}
