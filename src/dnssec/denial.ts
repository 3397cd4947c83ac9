/**
 * Authenticated denial of existence (RFC 4035 3.1.3 and 5.4, RFC 5155 8,
 * RFC 4592, RFC 6840 4), as pure logic: the caller has verified the RRSIGs
 * of every NSEC/NSEC3 record it passes. No I/O, no signature checks.
 */
import { Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { compareNames, concatNames, isSubdomain, labelCount, nameFromText, namesEqual, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { Ede } from '../dns/constants.js';
import { base32hexDecode, nsec3Hash, NSEC3_OPT_OUT, parseNsec, parseNsec3 } from './records.js';
import type { Nsec, Nsec3 } from './records.js';

export interface DenialInput {
  qname: Name;
  qtype: number;
  /** The signer (zone apex) of the proof records; records not at or below it are ignored. */
  zone: Name;
  /** NSEC and NSEC3 records (RRSIGs among them are ignored), signatures already verified. */
  records: readonly Record[];
  /** NSEC3 iterations above this make the answer insecure (RFC 9276). */
  maxIterations: number;
  /** Shared: NSEC3 hash computations left for this client query (CVE-2023-50868). */
  budget: { hashes: number };
}

export type Denial =
  | { result: 'secure' }
  | { result: 'insecure'; reason: string; ede?: number }
  | { result: 'bogus'; reason: string };

const SECURE: Denial = { result: 'secure' };
const bogus = (reason: string): Denial => ({ result: 'bogus', reason });
const WILDCARD = nameFromText('*');

function wildcardOf(ce: Name): Name | undefined {
  try {
    return concatNames(WILDCARD, ce);
  } catch {
    return undefined;
  }
}

/** RFC 4034 6.1: owner < name < next in canonical order; the last NSEC of a zone (next <= owner) covers all after its owner. */
export function nsecCovers(owner: Name, next: Name, name: Name): boolean {
  if (compareNames(owner, name) >= 0) return false;
  if (compareNames(next, owner) <= 0) return true;
  return compareNames(name, next) < 0;
}

// ---------------------------------------------------------------- NSEC

interface NsecRr { owner: Name; nsec: Nsec }

function nsecsOf(input: DenialInput): NsecRr[] {
  const out: NsecRr[] = [];
  for (const r of input.records) {
    if (r.type !== Type.NSEC || !isSubdomain(r.name, input.zone)) continue;
    try {
      out.push({ owner: r.name, nsec: parseNsec(r.rdata) });
    } catch {
      // malformed: proves nothing
    }
  }
  return out;
}

/** The longest ancestor of `qname` shared with the NSEC's owner or next name (RFC 4035 5.4, RFC 6840 4.1 care: not above the zone). */
function closestEncloserNsec(qname: Name, n: NsecRr, zone: Name): Name {
  const common = (a: Name, b: Name): number => {
    const la = labelCount(a);
    const lb = labelCount(b);
    let k = 0;
    for (let i = 1; i <= Math.min(la, lb); i++) {
      if (!namesEqual(parentName(a, la - i), parentName(b, lb - i))) break;
      k = i;
    }
    return k;
  };
  const depth = Math.max(common(qname, n.owner), isSubdomain(n.nsec.next, zone) ? common(qname, n.nsec.next) : 0, labelCount(zone));
  return parentName(qname, labelCount(qname) - Math.min(depth, labelCount(qname)));
}

function coveringNsec(nsecs: NsecRr[], name: Name): NsecRr | undefined {
  return nsecs.find((n) => nsecCovers(n.owner, n.nsec.next, name));
}

function matchingNsec(nsecs: NsecRr[], name: Name): NsecRr | undefined {
  return nsecs.find((n) => namesEqual(n.owner, name));
}

/** An NSEC at a delegation (NS without SOA) speaks for the parent side only (RFC 6840 4.1). */
function isDelegation(types: Set<number>, owner: Name, zone: Name): boolean {
  return types.has(Type.NS) && !types.has(Type.SOA) && !namesEqual(owner, zone);
}

/** NODATA at `name` from a matching NSEC: the type and a CNAME absent (RFC 4035 3.1.3.1). */
function nsecNodataAt(m: NsecRr, qtype: number, zone: Name): Denial {
  const t = m.nsec.types;
  if (t.has(qtype)) return bogus('the NSEC at the name lists the type');
  if (t.has(Type.CNAME) && qtype !== Type.CNAME) return bogus('the NSEC at the name lists a CNAME');
  if (qtype === Type.DS) {
    if (t.has(Type.SOA) && !namesEqual(m.owner, zone)) return bogus('NSEC from the child zone cannot deny its DS');
    if (t.has(Type.SOA) && namesEqual(m.owner, zone) && zone.length > 1) return bogus('NSEC from the child apex cannot deny its DS');
    return SECURE;
  }
  if (isDelegation(t, m.owner, zone)) return bogus('NSEC of a delegation point denies nothing but DS');
  return SECURE;
}

// ---------------------------------------------------------------- NSEC3

interface Nsec3Rr { hash: Buffer; nsec3: Nsec3 }

interface Nsec3Set {
  rrs: Nsec3Rr[];
  salt: Buffer;
  iterations: number;
}

/** Usable NSEC3 records: one label of base32hex directly under the zone, SHA-1, flags 0/1, the first record's parameters (RFC 5155 8.1, 8.2). */
function nsec3sOf(input: DenialInput): Nsec3Set | Denial | undefined {
  let set: Nsec3Set | undefined;
  let unknownAlgorithm = false;
  for (const r of input.records) {
    if (r.type !== Type.NSEC3 || labelCount(r.name) !== labelCount(input.zone) + 1 || !isSubdomain(r.name, input.zone)) continue;
    let n: Nsec3;
    try {
      n = parseNsec3(r.rdata);
    } catch {
      continue;
    }
    if (n.hashAlgorithm !== 1) {
      unknownAlgorithm = true;
      continue;
    }
    if ((n.flags & ~NSEC3_OPT_OUT) !== 0) continue;
    const hash = base32hexDecode(r.name.subarray(1, 1 + r.name[0]!).toString('latin1'));
    if (!hash || hash.length !== 20 || n.nextHashed.length !== 20) continue;
    if (!set) set = { rrs: [], salt: n.salt, iterations: n.iterations };
    else if (!set.salt.equals(n.salt) || set.iterations !== n.iterations) continue;
    set.rrs.push({ hash, nsec3: n });
  }
  if (!set) return unknownAlgorithm ? { result: 'insecure', reason: 'NSEC3 hash algorithm not supported' } : undefined;
  if (set.iterations > input.maxIterations) {
    return { result: 'insecure', reason: `NSEC3 with ${set.iterations} iterations (limit ${input.maxIterations})`, ede: Ede.UNSUPPORTED_NSEC3_ITERATIONS };
  }
  return set;
}

class HashBudgetExhausted extends Error {}

function hashOf(input: DenialInput, set: Nsec3Set, name: Name): Buffer {
  if (input.budget.hashes <= 0) throw new HashBudgetExhausted();
  input.budget.hashes--;
  return nsec3Hash(name, set.salt, set.iterations);
}

function n3Matching(set: Nsec3Set, h: Buffer): Nsec3Rr | undefined {
  return set.rrs.find((r) => r.hash.equals(h));
}

/** RFC 5155 8.3: owner hash < h < next hash, wrapping around at the end of the chain. */
function n3Covering(set: Nsec3Set, h: Buffer): Nsec3Rr | undefined {
  return set.rrs.find((r) => {
    const o = r.hash;
    const n = r.nsec3.nextHashed;
    if (n.compare(o) <= 0) return h.compare(o) > 0 || h.compare(n) < 0;
    return h.compare(o) > 0 && h.compare(n) < 0;
  });
}

interface ClosestEncloser { ce: Name; nextCloser: Name; covering: Nsec3Rr }

/**
 * RFC 5155 8.3 closest encloser proof: the longest ancestor of qname whose
 * hash matches an NSEC3 (and is no delegation or DNAME), with the next closer
 * name covered. Undefined when not proven.
 */
function closestEncloserProof(input: DenialInput, set: Nsec3Set): ClosestEncloser | Denial | undefined {
  const q = input.qname;
  const total = labelCount(q);
  const zoneLabels = labelCount(input.zone);
  let next: Name | undefined;
  for (let drop = 0; drop <= total - zoneLabels; drop++) {
    const candidate = parentName(q, drop);
    const m = n3Matching(set, hashOf(input, set, candidate));
    if (m) {
      if (!next) return undefined; // qname itself exists: not an encloser proof
      const t = m.nsec3.types;
      if ((t.has(Type.NS) && !t.has(Type.SOA)) || t.has(Type.DNAME)) return bogus('closest encloser is a delegation or DNAME (RFC 5155 8.3)');
      const covering = n3Covering(set, hashOf(input, set, next));
      if (!covering) return bogus('next closer name not covered');
      return { ce: candidate, nextCloser: next, covering };
    }
    next = candidate;
  }
  return undefined;
}

function withBudget(f: () => Denial): Denial {
  try {
    return f();
  } catch (e) {
    if (e instanceof HashBudgetExhausted) return bogus('NSEC3 hash budget exhausted');
    throw e;
  }
}

// ---------------------------------------------------------------- proofs

export function proveNxdomain(input: DenialInput): Denial {
  const nsecs = nsecsOf(input);
  if (nsecs.length) {
    const cover = coveringNsec(nsecs, input.qname);
    if (!cover) return bogus('no NSEC covers the name');
    if (isSubdomain(cover.nsec.next, input.qname)) return bogus('the name is an empty non-terminal: it exists');
    if (isDelegation(cover.nsec.types, cover.owner, input.zone) && isSubdomain(input.qname, cover.owner)) return bogus('name is below a delegation');
    const ce = closestEncloserNsec(input.qname, cover, input.zone);
    const w = wildcardOf(ce);
    if (!w) return bogus('wildcard name too long');
    if (matchingNsec(nsecs, w)) return bogus('the wildcard exists');
    if (!coveringNsec(nsecs, w)) return bogus('no NSEC covers the wildcard at the closest encloser');
    return SECURE;
  }
  return withBudget(() => {
    const set = nsec3sOf(input);
    if (!set) return bogus('no NSEC or NSEC3 record');
    if ('result' in set) return set;
    const proof = closestEncloserProof(input, set);
    if (!proof) return bogus('no closest encloser proof');
    if ('result' in proof) return proof;
    const w = wildcardOf(proof.ce);
    if (!w) return bogus('wildcard name too long');
    const wc = n3Covering(set, hashOf(input, set, w));
    // RFC 5155 8.4 / 9.2: opt-out covering the next closer: the name may exist in an unsigned delegation.
    if (proof.covering.nsec3.flags & NSEC3_OPT_OUT) return wc ? { result: 'insecure', reason: 'NSEC3 opt-out' } : bogus('wildcard not covered');
    if (!wc) return bogus('no NSEC3 covers the wildcard at the closest encloser');
    return SECURE;
  });
}

export function proveNodata(input: DenialInput): Denial {
  const nsecs = nsecsOf(input);
  const { qname, qtype, zone } = input;
  if (nsecs.length) {
    const m = matchingNsec(nsecs, qname);
    if (m) return nsecNodataAt(m, qtype, zone);
    // An empty non-terminal: an NSEC whose next name lies below qname covers it (RFC 4035 3.1.3.2, RFC 4592).
    const ent = nsecs.find((n) => nsecCovers(n.owner, n.nsec.next, qname) && isSubdomain(n.nsec.next, qname) && !namesEqual(n.nsec.next, qname));
    if (ent) return SECURE;
    // Wildcard NODATA (RFC 4035 3.1.3.4): qname covered, the wildcard at the closest encloser matched without the type.
    const cover = coveringNsec(nsecs, qname);
    if (cover) {
      const w = wildcardOf(closestEncloserNsec(qname, cover, zone));
      const wm = w && matchingNsec(nsecs, w);
      if (wm) return nsecNodataAt(wm, qtype, zone);
      return bogus('name covered, but no wildcard NODATA proof');
    }
    return bogus('no NSEC matches or covers the name');
  }
  return withBudget(() => {
    const set = nsec3sOf(input);
    if (!set) return bogus('no NSEC or NSEC3 record');
    if ('result' in set) return set;
    const m = n3Matching(set, hashOf(input, set, qname));
    if (m) {
      const t = m.nsec3.types;
      if (t.has(qtype)) return bogus('the NSEC3 at the name lists the type');
      if (t.has(Type.CNAME) && qtype !== Type.CNAME) return bogus('the NSEC3 at the name lists a CNAME');
      if (qtype === Type.DS && t.has(Type.SOA) && !namesEqual(qname, zone)) return bogus('NSEC3 from the child zone cannot deny its DS');
      if (qtype !== Type.DS && t.has(Type.NS) && !t.has(Type.SOA) && !namesEqual(qname, zone)) return bogus('NSEC3 of a delegation point denies nothing but DS');
      return SECURE;
    }
    const proof = closestEncloserProof(input, set);
    if (!proof) return bogus('no NSEC3 matches the name, and no closest encloser proof');
    if ('result' in proof) return proof;
    // RFC 5155 8.6: DS NODATA by an opt-out span over the next closer name.
    if (qtype === Type.DS) {
      return proof.covering.nsec3.flags & NSEC3_OPT_OUT ? { result: 'insecure', reason: 'NSEC3 opt-out (no DS proven for an unsigned delegation)' } : bogus('no NSEC3 matches the DS owner');
    }
    // RFC 5155 8.7: wildcard NODATA.
    const w = wildcardOf(proof.ce);
    const wm = w && n3Matching(set, hashOf(input, set, w));
    if (!wm) return bogus('no NSEC3 matches the name or its wildcard');
    if (wm.nsec3.types.has(qtype) || (wm.nsec3.types.has(Type.CNAME) && qtype !== Type.CNAME)) return bogus('the wildcard has the type');
    return SECURE;
  });
}

export function proveWildcardAnswer(input: DenialInput & { wildcardLabels: number }): Denial {
  const { qname, zone, wildcardLabels } = input;
  const total = labelCount(qname);
  if (wildcardLabels >= total) return bogus('not a wildcard expansion');
  const ce = parentName(qname, total - wildcardLabels);
  if (!isSubdomain(ce, zone)) return bogus('wildcard above the zone');
  const nsecs = nsecsOf(input);
  if (nsecs.length) {
    // RFC 4035 5.3.4: qname itself does not exist.
    return coveringNsec(nsecs, qname) ? SECURE : bogus('no NSEC proves the expanded name does not exist');
  }
  return withBudget(() => {
    const set = nsec3sOf(input);
    if (!set) return bogus('no NSEC or NSEC3 proof for a wildcard answer');
    if ('result' in set) return set;
    // RFC 5155 8.8: the next closer name (one label below the closest encloser) is covered.
    const nextCloser = parentName(qname, total - wildcardLabels - 1);
    const cover = n3Covering(set, hashOf(input, set, nextCloser));
    if (!cover) return bogus('no NSEC3 covers the next closer name');
    return cover.nsec3.flags & NSEC3_OPT_OUT ? { result: 'insecure', reason: 'NSEC3 opt-out' } : SECURE;
  });
}

/** Proven: no DS at qname, a delegation (secure: the child is insecure). */
export function proveNoDs(input: DenialInput): Denial {
  const ds = { ...input, qtype: Type.DS };
  const nsecs = nsecsOf(ds);
  if (nsecs.length) {
    const m = matchingNsec(nsecs, input.qname);
    if (!m || !m.nsec.types.has(Type.NS)) return bogus('no NSEC shows a delegation without DS');
    return nsecNodataAt(m, Type.DS, input.zone);
  }
  const r = proveNodata(ds);
  return r;
}

/** For the RFC 8198 cache: true when the gap proves qname does not exist, wildcard included. */
export function nsecProvesNxdomainFor(nsecs: { owner: Name; next: Name; types: Set<number> }[], qname: Name, zone: Name): boolean {
  const rrs: NsecRr[] = nsecs.map((n) => ({ owner: n.owner, nsec: { next: n.next, types: n.types } }));
  const cover = coveringNsec(rrs, qname);
  if (!cover) return false;
  const w = wildcardOf(closestEncloserNsec(qname, cover, zone));
  return w !== undefined && !matchingNsec(rrs, w) && coveringNsec(rrs, w) !== undefined;
}
