/**
 * Authenticated denial of existence (RFC 4035 3.1.3 and 5.4, RFC 5155 8 with
 * errata 3441, RFC 4592, RFC 6840 4, RFC 9276), as pure logic: the caller has
 * verified the RRSIGs of every NSEC/NSEC3 record it passes. No I/O, no
 * signature checks. A proof is read as NSEC when it holds any usable NSEC at or
 * below the zone, else as NSEC3 (a zone is signed with one or the other).
 *
 * NSEC3 hashing is the costly part (CVE-2023-50868): every hash is paid from a
 * budget shared by the whole client query, and no name is hashed twice per proof.
 */
import { Ede, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { compareNames, concatNames, isSubdomain, labelCount, nameFromText, nameKey, namesEqual, parentName } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { base32hexDecode, nsec3Hash, NSEC3_OPT_OUT, parseNsec, parseNsec3 } from './records.js';

export interface DenialInput {
  qname: Name;
  qtype: number;
  /** Signer (zone apex) of the proof records; records not at or below it are ignored. */
  zone: Name;
  /** NSEC (47) and NSEC3 (50) records, signatures already verified; other types (RRSIGs) are ignored. */
  records: readonly Record[];
  /** NSEC3 iterations above this: insecure, ede 27 (RFC 9276 3.2). */
  maxIterations: number;
  /** Shared, mutable: NSEC3 hashes left for this client query; each nsec3Hash call takes 1, at 0 the proof is bogus. */
  budget: { hashes: number };
}

export type Denial =
  | { result: 'secure' }
  /** Proven but not secure: NSEC3 opt-out (RFC 5155 9.2), iterations above the limit (ede 27), or only unknown NSEC3 hash algorithms. */
  | { result: 'insecure'; reason: string; ede?: number }
  | { result: 'bogus'; reason: string };

const SECURE: Denial = Object.freeze({ result: 'secure' });
const bogus = (reason: string): Denial => ({ result: 'bogus', reason });
const OPT_OUT: Denial = Object.freeze({ result: 'insecure', reason: 'NSEC3 opt-out covers the next closer name' });

const ASTERISK = nameFromText('*');

/** `*.ce`: always fits, the closest encloser having fewer labels than the name it encloses. */
function wildcardAt(ce: Name): Name {
  return concatNames(ASTERISK, ce);
}

// ------------------------------------------------------------------ shared bitmap rules

/**
 * Why the type bitmap of the NSEC/NSEC3 at `owner` does not prove NODATA for
 * `qtype`, or undefined when it does (RFC 4035 3.1.3.1, RFC 5155 8.5 and 8.6).
 */
function bitmapFault(types: Set<number>, qtype: number, owner: Name, zone: Name): string | undefined {
  if (types.has(qtype)) return 'the type exists at the name';
  // RFC 4035 3.1.3.1: the CNAME bit must be clear too, else the answer should have been the CNAME.
  if (types.has(Type.CNAME) && qtype !== Type.CNAME) return 'a CNAME exists at the name';
  if (qtype === Type.DS) {
    // RFC 4035 5.2, RFC 6840 4.4: DS lives on the parent side of a cut; an NSEC with SOA is the child
    // apex speaking, which cannot deny its own DS. The root has no parent.
    if (types.has(Type.SOA) && owner.length > 1) return 'the proof is from the child zone (SOA bit), which cannot deny its DS';
    return undefined;
  }
  // RFC 6840 4.1: NS without SOA below the apex is the parent's side of a delegation; data there is the child's.
  if (!namesEqual(owner, zone) && types.has(Type.NS) && !types.has(Type.SOA)) return 'the name is a delegation: the parent can deny only its DS';
  return undefined;
}

// ------------------------------------------------------------------ NSEC (RFC 4035)

/** One NSEC, as the proofs and the RFC 8198 cache read it. */
export interface NsecLink {
  owner: Name;
  next: Name;
  types: Set<number>;
}

/**
 * RFC 4034 6.1 order, RFC 4035 5.4 "covers": owner < name < next. The last NSEC of a
 * zone (next <= owner: it points back at the apex) covers every name after its owner.
 */
export function nsecCovers(owner: Name, next: Name, name: Name): boolean {
  if (compareNames(owner, name) >= 0) return false;
  if (compareNames(next, owner) <= 0) return true;
  return compareNames(name, next) < 0;
}

/** The NSEC records at or below the zone, parsed; malformed ones prove nothing and are dropped. */
function nsecLinks(records: readonly Record[], zone: Name): NsecLink[] {
  const out: NsecLink[] = [];
  for (const r of records) {
    if (r.type !== Type.NSEC || !isSubdomain(r.name, zone)) continue;
    try {
      const n = parseNsec(r.rdata);
      out.push({ owner: r.name, next: n.next, types: n.types });
    } catch {
      // a malformed NSEC proves nothing
    }
  }
  return out;
}

/**
 * RFC 6840 4.1, RFC 4035 5.4 note: an NSEC at a delegation (NS, no SOA) or at a
 * DNAME says nothing about names below its owner (another zone's, or rewritten).
 */
function speaksBelowCut(link: NsecLink, name: Name): boolean {
  if (!isSubdomain(name, link.owner) || namesEqual(name, link.owner)) return false;
  const t = link.types;
  return (t.has(Type.NS) && !t.has(Type.SOA)) || t.has(Type.DNAME);
}

/** Number of rightmost labels `a` and `b` share. */
function commonLabels(a: Name, b: Name): number {
  const la = labelCount(a);
  const lb = labelCount(b);
  let n = Math.min(la, lb);
  while (n > 0 && !namesEqual(parentName(a, la - n), parentName(b, lb - n))) n--;
  return n;
}

/**
 * The closest encloser of a name an NSEC covers: its longest ancestor shared with
 * the NSEC's owner or next name (RFC 4035 5.4, RFC 4592 3.3.1). Both names exist,
 * and canonical order keeps every name between them inside that ancestor. Never above the zone.
 */
function nsecClosestEncloser(name: Name, cover: NsecLink, zone: Name): Name {
  const depth = Math.max(
    commonLabels(name, cover.owner),
    isSubdomain(cover.next, zone) ? commonLabels(name, cover.next) : 0,
    labelCount(zone),
  );
  const total = labelCount(name);
  return parentName(name, total - Math.min(depth, total));
}

const nsecMatching = (links: readonly NsecLink[], name: Name) => links.find((l) => namesEqual(l.owner, name));
const nsecCovering = (links: readonly NsecLink[], name: Name) => links.find((l) => nsecCovers(l.owner, l.next, name));

/** RFC 4035 3.1.3.2 and 5.4: an NSEC covers qname, another (or the same) covers the wildcard at the closest encloser. */
function nsecNxdomain(qname: Name, zone: Name, links: readonly NsecLink[]): Denial {
  // An owner or next name at or below qname shows it exists, an empty non-terminal at least (RFC 4592 2.2.2).
  for (const l of links) {
    if (isSubdomain(l.owner, qname) || (isSubdomain(l.next, zone) && isSubdomain(l.next, qname))) return bogus('an NSEC shows that the name exists');
  }
  const cover = nsecCovering(links, qname);
  if (!cover) return bogus('no NSEC covers the name');
  if (speaksBelowCut(cover, qname)) return bogus('the NSEC covering the name is at a delegation or DNAME above it');
  const w = wildcardAt(nsecClosestEncloser(qname, cover, zone));
  if (nsecMatching(links, w)) return bogus('the wildcard at the closest encloser exists');
  const wc = nsecCovering(links, w);
  if (!wc) return bogus('no NSEC covers the wildcard at the closest encloser');
  if (speaksBelowCut(wc, w)) return bogus('the closest encloser is a delegation or DNAME');
  return SECURE;
}

/** RFC 4035 3.1.3.1 (NODATA), RFC 4592 2.2.2 (empty non-terminal), RFC 4035 3.1.3.4 (wildcard NODATA). */
function nsecNodata(qname: Name, qtype: number, zone: Name, links: readonly NsecLink[]): Denial {
  const m = nsecMatching(links, qname);
  if (m) {
    const fault = bitmapFault(m.types, qtype, qname, zone);
    return fault ? bogus(fault) : SECURE;
  }
  const cover = nsecCovering(links, qname);
  if (!cover) return bogus('no NSEC matches or covers the name');
  if (speaksBelowCut(cover, qname)) return bogus('the NSEC covering the name is at a delegation or DNAME above it');
  // Empty non-terminal: no NSEC of its own; the NSEC before it (owner < qname) ends below it.
  if (isSubdomain(cover.next, zone) && isSubdomain(cover.next, qname)) return SECURE;
  // Else qname does not exist and the answer came from the wildcard at its closest encloser (3.1.3.4).
  const wm = nsecMatching(links, wildcardAt(nsecClosestEncloser(qname, cover, zone)));
  if (!wm) return bogus('the name does not exist and no NSEC matches the wildcard at its closest encloser');
  const fault = bitmapFault(wm.types, qtype, wm.owner, zone);
  return fault ? bogus(`wildcard: ${fault}`) : SECURE;
}

/**
 * RFC 4035 5.3.4: an answer expanded from `*.ce` needs an NSEC proving qname does
 * not exist, whose closest encloser is `ce` itself: else a closer name exists and
 * the wildcard did not apply (RFC 4592 3.3.1).
 */
function nsecWildcardAnswer(qname: Name, ce: Name, zone: Name, links: readonly NsecLink[]): Denial {
  const cover = nsecCovering(links, qname);
  if (!cover) return bogus('no NSEC proves that the expanded name does not exist');
  if (speaksBelowCut(cover, qname)) return bogus('the NSEC covering the name is at a delegation or DNAME above it');
  if (!namesEqual(nsecClosestEncloser(qname, cover, zone), ce)) return bogus('the NSEC shows a closest encloser other than the wildcard\'s parent');
  return SECURE;
}

/** RFC 4035 5.2, RFC 6840 4.4: the parent's NSEC at the cut, NS set, DS and SOA clear. */
function nsecNoDs(qname: Name, zone: Name, links: readonly NsecLink[]): Denial {
  const m = nsecMatching(links, qname);
  if (!m) return bogus('no NSEC at the delegation point');
  if (!m.types.has(Type.NS)) return bogus('the NSEC at the name shows no delegation (no NS bit)');
  const fault = bitmapFault(m.types, Type.DS, qname, zone);
  return fault ? bogus(fault) : SECURE;
}

// ------------------------------------------------------------------ NSEC3 (RFC 5155)

/** The only hash algorithm defined (RFC 5155 11): SHA-1, 20 bytes. */
const SHA1 = 1;
const SHA1_LENGTH = 20;

interface Link3 {
  hash: Buffer;
  next: Buffer;
  optOut: boolean;
  types: Set<number>;
}

interface Chain {
  salt: Buffer;
  iterations: number;
  links: Link3[];
}

/**
 * The usable NSEC3 records: owner one base32hex label directly under the zone
 * (RFC 5155 3, 8.1 via 8.3), hash algorithm 1 (8.1), flags 0 or 1 (8.2), and the
 * parameters of the first usable one; the others are ignored (7.2: one chain per
 * answer; ignoring strays keeps a proof usable during a chain rollover).
 */
function chainOf(records: readonly Record[], zone: Name, maxIterations: number): Chain | Denial {
  let chain: Chain | undefined;
  let unknownAlgorithm = false;
  const depth = labelCount(zone) + 1;
  for (const r of records) {
    if (r.type !== Type.NSEC3 || labelCount(r.name) !== depth || !isSubdomain(r.name, zone)) continue;
    let n;
    try {
      n = parseNsec3(r.rdata);
    } catch {
      continue; // a malformed NSEC3 proves nothing
    }
    if (n.hashAlgorithm !== SHA1) {
      unknownAlgorithm = true;
      continue;
    }
    if ((n.flags & ~NSEC3_OPT_OUT) !== 0) continue;
    const hash = r.name[0] === 32 ? base32hexDecode(r.name.subarray(1, 33).toString('latin1')) : undefined;
    if (!hash || hash.length !== SHA1_LENGTH || n.nextHashed.length !== SHA1_LENGTH) continue;
    if (!chain) chain = { salt: n.salt, iterations: n.iterations, links: [] };
    else if (n.iterations !== chain.iterations || !n.salt.equals(chain.salt)) continue;
    chain.links.push({ hash, next: n.nextHashed, optOut: (n.flags & NSEC3_OPT_OUT) !== 0, types: n.types });
  }
  if (!chain) {
    // RFC 5155 8.1 ignores unknown algorithms; with nothing else left the zone is as good as unsigned
    // to us (like an unknown DNSKEY algorithm, RFC 4035 5.2): insecure, not bogus.
    if (unknownAlgorithm) return { result: 'insecure', reason: 'NSEC3 hash algorithm not supported' };
    return bogus('no usable NSEC or NSEC3 record');
  }
  // RFC 9276 3.2: above the limit, insecure (RFC 8914 EDE 27), decided before any hashing.
  if (chain.iterations > maxIterations) {
    return { result: 'insecure', reason: `NSEC3 iterations ${chain.iterations} above the limit of ${maxIterations}`, ede: Ede.UNSUPPORTED_NSEC3_ITERATIONS };
  }
  return chain;
}

class BudgetExhausted extends Error {}

/** Hashes names with one chain's parameters; one unit of the shared budget per hash computed, memoised per proof. */
class Hasher {
  private readonly memo = new Map<string, Buffer>();

  constructor(private readonly chain: Chain, private readonly budget: { hashes: number }) {}

  hash(name: Name): Buffer {
    const key = nameKey(name);
    const known = this.memo.get(key);
    if (known) return known;
    if (this.budget.hashes <= 0) throw new BudgetExhausted();
    this.budget.hashes--;
    const h = nsec3Hash(name, this.chain.salt, this.chain.iterations);
    this.memo.set(key, h);
    return h;
  }
}

function n3Matching(chain: Chain, h: Buffer): Link3 | undefined {
  return chain.links.find((l) => l.hash.equals(h));
}

/** RFC 5155 1.3 / 8.3 "covers": owner hash < h < next hash; the last link (next <= owner) wraps around. */
function n3Covering(chain: Chain, h: Buffer): Link3 | undefined {
  return chain.links.find((l) => {
    const afterOwner = Buffer.compare(h, l.hash) > 0;
    const beforeNext = Buffer.compare(h, l.next) < 0;
    return Buffer.compare(l.next, l.hash) <= 0 ? afterOwner || beforeNext : afterOwner && beforeNext;
  });
}

interface EncloserProof {
  ce: Name;
  /** The NSEC3 covering the next closer name: its opt-out flag decides secure or insecure (RFC 5155 9.2). */
  nextCloser: Link3;
}

const isProof = (p: EncloserProof | Denial): p is EncloserProof => 'ce' in p;

/**
 * RFC 5155 8.3: the longest ancestor of qname (down to the zone) matched by an
 * NSEC3 is the closest encloser; the name one label longer (next closer) must be
 * covered. Callers handle an NSEC3 matching qname itself first.
 */
function closestEncloserProof(qname: Name, zone: Name, chain: Chain, hasher: Hasher): EncloserProof | Denial {
  const below = labelCount(qname) - labelCount(zone);
  for (let drop = 1; drop <= below; drop++) {
    const candidate = parentName(qname, drop);
    const m = n3Matching(chain, hasher.hash(candidate));
    if (!m) continue;
    // 8.3: NS without SOA (the parent side of a cut) or DNAME: names below are not this zone's to deny.
    if ((m.types.has(Type.NS) && !m.types.has(Type.SOA)) || m.types.has(Type.DNAME)) {
      return bogus('the closest encloser is a delegation or DNAME');
    }
    const nc = n3Covering(chain, hasher.hash(parentName(qname, drop - 1)));
    if (!nc) return bogus('no NSEC3 covers the next closer name');
    return { ce: candidate, nextCloser: nc };
  }
  return bogus('no NSEC3 matches an ancestor of the name (no closest encloser)');
}

/** Runs a proof over the NSEC3 chain of `input`; an exhausted budget is bogus. */
function withChain(input: DenialInput, prove: (chain: Chain, hasher: Hasher) => Denial): Denial {
  const chain = chainOf(input.records, input.zone, input.maxIterations);
  if (!('links' in chain)) return chain;
  try {
    return prove(chain, new Hasher(chain, input.budget));
  } catch (e) {
    if (e instanceof BudgetExhausted) return bogus('NSEC3 hash budget exhausted');
    throw e;
  }
}

/** RFC 5155 8.4: closest encloser proof, and the wildcard at the closest encloser covered. */
function nsec3Nxdomain(input: DenialInput): Denial {
  const { qname, zone } = input;
  return withChain(input, (chain, hasher) => {
    if (n3Matching(chain, hasher.hash(qname))) return bogus('an NSEC3 matches the name: it exists');
    const p = closestEncloserProof(qname, zone, chain, hasher);
    if (!isProof(p)) return p;
    const wh = hasher.hash(wildcardAt(p.ce));
    if (n3Matching(chain, wh)) return bogus('the wildcard at the closest encloser exists');
    if (!n3Covering(chain, wh)) return bogus('no NSEC3 covers the wildcard at the closest encloser');
    // 9.2: under opt-out the name may exist as an unsigned delegation: proven, but no AD.
    return p.nextCloser.optOut ? OPT_OUT : SECURE;
  });
}

/**
 * RFC 5155 8.5 (NSEC3 matching qname), 8.7 (wildcard NODATA), 8.6 (DS, next
 * closer in an opt-out span: insecure) and errata 3441 on 8.5 (an empty
 * non-terminal made only of opt-out delegations has no NSEC3: insecure likewise).
 */
function nsec3Nodata(input: DenialInput): Denial {
  const { qname, qtype, zone } = input;
  return withChain(input, (chain, hasher) => {
    const m = n3Matching(chain, hasher.hash(qname));
    if (m) {
      const fault = bitmapFault(m.types, qtype, qname, zone);
      return fault ? bogus(fault) : SECURE;
    }
    const p = closestEncloserProof(qname, zone, chain, hasher);
    if (!isProof(p)) return p;
    const w = wildcardAt(p.ce);
    const wm = n3Matching(chain, hasher.hash(w));
    if (wm) {
      // 8.7: the wildcard matched, without the type (and the next closer covered, above).
      const fault = bitmapFault(wm.types, qtype, w, zone);
      if (fault) return bogus(`wildcard: ${fault}`);
      return p.nextCloser.optOut ? OPT_OUT : SECURE;
    }
    if (p.nextCloser.optOut) return OPT_OUT;
    return bogus(qtype === Type.DS ? 'no NSEC3 matches the DS owner, and its next closer name is not opted out' : 'no NSEC3 matches the name or the wildcard at its closest encloser');
  });
}

/** RFC 5155 8.8: an answer expanded from `*.ce` needs an NSEC3 covering the next closer name. */
function nsec3WildcardAnswer(input: DenialInput, ce: Name): Denial {
  const { qname } = input;
  const nextCloser = parentName(qname, labelCount(qname) - labelCount(ce) - 1);
  return withChain(input, (chain, hasher) => {
    const h = hasher.hash(nextCloser);
    if (n3Matching(chain, h)) return bogus('the next closer name exists: the wildcard did not apply');
    const nc = n3Covering(chain, h);
    if (!nc) return bogus('no NSEC3 covers the next closer name');
    return nc.optOut ? OPT_OUT : SECURE;
  });
}

/**
 * RFC 5155 8.9 and 8.6, RFC 6840 4.4: the NSEC3 at the delegation has NS and
 * neither DS nor SOA (secure); or, with no NSEC3 at it, its next closer name lies
 * in an opt-out span, where unsigned delegations go unlisted (insecure).
 */
function nsec3NoDs(input: DenialInput): Denial {
  const { qname, zone } = input;
  return withChain(input, (chain, hasher) => {
    const m = n3Matching(chain, hasher.hash(qname));
    if (m) {
      if (!m.types.has(Type.NS)) return bogus('the NSEC3 at the name shows no delegation (no NS bit)');
      const fault = bitmapFault(m.types, Type.DS, qname, zone);
      return fault ? bogus(fault) : SECURE;
    }
    const p = closestEncloserProof(qname, zone, chain, hasher);
    if (!isProof(p)) return p;
    return p.nextCloser.optOut ? OPT_OUT : bogus('no NSEC3 matches the delegation, and its next closer name is not opted out');
  });
}

// ------------------------------------------------------------------ the API

function outsideZone(input: DenialInput): Denial | undefined {
  return isSubdomain(input.qname, input.zone) ? undefined : bogus('the name is not in the zone of the proof');
}

/**
 * NXDOMAIN: RFC 4035 3.1.3.2 / 5.4 (an NSEC covering qname and one covering the
 * wildcard at the closest encloser), RFC 5155 8.4 (closest encloser proof, the
 * wildcard covered). Opt-out covering the next closer: insecure (RFC 5155 9.2).
 */
export function proveNxdomain(input: DenialInput): Denial {
  const out = outsideZone(input);
  if (out) return out;
  const links = nsecLinks(input.records, input.zone);
  return links.length ? nsecNxdomain(input.qname, input.zone, links) : nsec3Nxdomain(input);
}

/**
 * NODATA: an NSEC/NSEC3 matching qname without qtype and CNAME (RFC 4035 3.1.3.1,
 * RFC 5155 8.5); an empty non-terminal; wildcard NODATA (RFC 4035 3.1.3.4, RFC
 * 5155 8.7); opt-out (RFC 5155 8.6, errata 3441): insecure. A DS denial must come
 * from the parent side (no SOA bit); other types cannot be denied at a delegation.
 */
export function proveNodata(input: DenialInput): Denial {
  const out = outsideZone(input);
  if (out) return out;
  const links = nsecLinks(input.records, input.zone);
  return links.length ? nsecNodata(input.qname, input.qtype, input.zone, links) : nsec3Nodata(input);
}

/**
 * A positive answer synthesised from a wildcard (RRSIG labels < owner labels, RFC
 * 4035 5.3.4): `wildcardLabels` (the RRSIG labels field) gives the closest encloser,
 * the rightmost labels of qname. NSEC covering qname (RFC 4035 5.3.4), NSEC3
 * covering the next closer name (RFC 5155 8.8).
 */
export function proveWildcardAnswer(input: DenialInput & { wildcardLabels: number }): Denial {
  const out = outsideZone(input);
  if (out) return out;
  const { qname, zone, wildcardLabels } = input;
  const total = labelCount(qname);
  if (!Number.isInteger(wildcardLabels) || wildcardLabels < 0 || wildcardLabels >= total) return bogus('the RRSIG labels field shows no wildcard expansion');
  if (wildcardLabels < labelCount(zone)) return bogus('the wildcard would lie above the zone');
  const ce = parentName(qname, total - wildcardLabels);
  const links = nsecLinks(input.records, zone);
  return links.length ? nsecWildcardAnswer(qname, ce, zone, links) : nsec3WildcardAnswer(input, ce);
}

/**
 * Proof that the delegation at qname has no DS (an insecure referral): NSEC at
 * qname with NS, without DS and SOA (RFC 4035 5.2); NSEC3 likewise (RFC 5155 8.9);
 * secure means proven. An opt-out NSEC3 covering the next closer name: insecure
 * (RFC 5155 8.6, 9.2). qtype is ignored.
 */
export function proveNoDs(input: DenialInput): Denial {
  const out = outsideZone(input);
  if (out) return out;
  if (namesEqual(input.qname, input.zone)) return bogus('a zone cannot deny its own DS: the parent must');
  const links = nsecLinks(input.records, input.zone);
  return links.length ? nsecNoDs(input.qname, input.zone, links) : nsec3NoDs(input);
}

/**
 * For RFC 8198 aggressive use of validated NSECs: true when some NSEC covers
 * qname and another covers the wildcard at its closest encloser.
 */
export function nsecProvesNxdomainFor(nsecs: readonly NsecLink[], qname: Name, zone: Name): boolean {
  if (!isSubdomain(qname, zone)) return false;
  return nsecNxdomain(qname, zone, nsecs.filter((n) => isSubdomain(n.owner, zone))).result === 'secure';
}
