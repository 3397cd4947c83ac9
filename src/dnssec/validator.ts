/**
 * The DNSSEC validator (RFC 4033-4035, RFC 5155, RFC 6840): judges each step
 * of a resolution secure, insecure or bogus, from the trust anchors down.
 *
 * Like Unbound's validator module and Knot Resolver's validate layer it sits
 * beside the iterator, not inside it: the iterator hands it what a server said
 * (`Evidence`), and it asks the iterator, through `fetch`, for the DS and
 * DNSKEY RRsets it needs. Chains of trust are built per zone and kept in a key
 * cache (`KeyEntry`: the zone's validated DNSKEYs, or why it has none):
 *
 *   keyFor(zone) = anchor at zone ? DNSKEY matching the anchor, self-signed
 *                : DS(zone) from the parent, itself validated with keyFor(parent)
 *                  absent (proven) -> insecure; present -> DNSKEY matching a DS, self-signed
 *
 * A DS is validated with the keys of a zone strictly above it, so the recursion
 * only climbs and ends at an anchor: no cycle. Work is bounded per client query
 * (`ValidationBudget`): signature checks (KeyTrap, CVE-2023-50387) and NSEC3
 * hashes (CVE-2023-50868).
 *
 * Written by hand on node:crypto: no npm package validates DNSSEC to a
 * resolver's standard (algorithms, NSEC3, wildcards, bounds).
 */
import { LRUCache } from 'lru-cache';
import { Ede as EdeCode, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { groupRRsets } from '../dns/message.js';
import type { Name } from '../dns/name.js';
import { isSubdomain, labelCount, nameKey, namesEqual, nameToText, parentName } from '../dns/name.js';
import type { TrustAnchorStore } from './anchors.js';
import { checkRrsig, dsMatchesKey, SUPPORTED_ALGORITHMS, SUPPORTED_DIGESTS } from './crypto.js';
import type { SigCheck } from './crypto.js';
import { proveNodata, proveNxdomain, proveWildcardAnswer } from './denial.js';
import type { Denial } from './denial.js';
import { DnskeyFlag, parseDnskey, parseDs, parseNsec, parseNsec3, parseRrsig } from './records.js';
import type { Dnskey, Rrsig } from './records.js';
import { Security } from './security.js';
import type { Ede, Verdict } from './security.js';

/** Work left for one client query; shared by every step and key it needs. */
export interface ValidationBudget {
  /** Signature verifications left (KeyTrap). */
  sigs: number;
  /** NSEC3 hash computations left (denial.ts decrements it). */
  nsec3: { hashes: number };
  /** Zones whose keys this query is building: a zone met again inside its own build is a loop (a child answering for its parent). */
  building?: Set<string>;
}

/** What a server said for one step, as the validator judges it. */
export interface Evidence {
  kind: 'answer' | 'cname' | 'nxdomain' | 'nodata';
  qname: Name;
  qtype: number;
  /** answer: the RRset; cname: the CNAME record, or the DNAME it was synthesised from. */
  records: Record[];
  /** RRSIGs of `records`. */
  sigs: Record[];
  /** Negative answers: the SOA. */
  soa: Record[];
  /** Authority records that prove something: RRSIGs of the SOA, NSEC/NSEC3 and their RRSIGs. */
  proof: Record[];
  /** The zone cut whose server gave it (the signer when nothing is signed). */
  zone: Name;
}

/** A step fetched for the validator's own use (DS, DNSKEY). */
export type Fetched =
  | (Evidence & { security: Security; ede?: Ede })
  | { kind: 'servfail'; ede: Ede };

export interface ValidatorOptions<B extends { dnssec: ValidationBudget }> {
  anchors: TrustAnchorStore;
  /** Resolve name/type: judged by this validator when `validate`, as received otherwise. */
  fetch: (name: Name, type: number, budget: B, validate: boolean) => Promise<Fetched>;
  now?: () => number;
  /** Seconds a bogus verdict on a zone's keys is kept (dnssec.bogus_ttl). */
  bogusTtl: number;
  nsec3MaxIterations: number;
  /** A validated DNSKEY RRset of an anchored zone (RFC 5011 tracking). */
  onAnchoredKeys?: (zone: Name, dnskeys: Record[], sigs: Record[]) => void;
  /** Every conclusion, for metrics ('secure', 'insecure', 'bogus'), with the EDE code of a bogus one. */
  onVerdict?: (v: Verdict) => void;
  /** A bogus step, for the log: which RRset and why. */
  onBogus?: (what: string, ede: Ede) => void;
  /**
   * The apex of a forward or stub zone at or above `zone`, if `zone` is one:
   * such a zone is secure only through a trust anchor or a validated DS from
   * its parent; anything else (a proof of no DS, a parent that does not know
   * the name, an upstream failure) makes it insecure, not bogus.
   */
  privateZone?: (zone: Name) => boolean;
}

/** The keys of one zone, or why there are none. */
type KeyEntry =
  | { security: Security.Secure; zone: Name; keys: Dnskey[]; expires: number }
  | { security: Security.Insecure | Security.Bogus; zone: Name; ede?: Ede; expires: number };

const MAX_KEY_ENTRIES = 20_000;
/** Labels walked below a signed zone looking for the unsigned delegation an unsigned answer came from. */
const MAX_UNSIGNED_WALK = 6;

function bogus(code: number, text: string): Verdict {
  return { security: Security.Bogus, ede: { code, text } };
}

function rrsigsOf(sigs: readonly Record[], owner: Name, type: number): { record: Record; sig: Rrsig }[] {
  const out: { record: Record; sig: Rrsig }[] = [];
  for (const r of sigs) {
    if (r.type !== Type.RRSIG || !namesEqual(r.name, owner)) continue;
    try {
      const sig = parseRrsig(r.rdata);
      if (sig.typeCovered === type) out.push({ record: r, sig });
    } catch {
      // a malformed RRSIG proves nothing
    }
  }
  return out;
}

/** Owner labels not counting a leading wildcard label (RFC 4034 3.1.3). */
function sigLabelsOf(owner: Name): number {
  const n = labelCount(owner);
  return owner[0] === 1 && owner[1] === 0x2a ? n - 1 : n;
}

function denialVerdict(d: Denial, what: string): Verdict {
  if (d.result === 'secure') return { security: Security.Secure };
  if (d.result === 'insecure') return { security: Security.Insecure, ...(d.ede !== undefined ? { ede: { code: d.ede, text: `${what}: ${d.reason}` } } : {}) };
  return bogus(EdeCode.NSEC_MISSING, `${what}: ${d.reason}`);
}

export class Validator<B extends { dnssec: ValidationBudget }> {
  private readonly keys = new LRUCache<string, KeyEntry>({ max: MAX_KEY_ENTRIES });
  private readonly pending = new Map<string, Promise<KeyEntry>>();
  private readonly now: () => number;

  constructor(private readonly opts: ValidatorOptions<B>) {
    this.now = opts.now ?? Date.now;
  }

  get anchors(): TrustAnchorStore {
    return this.opts.anchors;
  }

  /** Forget every key entry (after a change of anchors or negative anchors). */
  clear(): void {
    this.keys.clear();
  }

  /** True when some anchor covers `name` and no negative anchor does: only then is there anything to validate. */
  covers(name: Name): boolean {
    const a = this.opts.anchors;
    return !a.isNegative(name) && a.closestAnchor(name) !== undefined;
  }

  /** Judge one step. */
  async validate(e: Evidence, budget: B): Promise<Verdict> {
    const v = await this.judge(e, budget);
    this.opts.onVerdict?.(v);
    if (v.security === Security.Bogus) this.opts.onBogus?.(`${nameToText(e.qname)}/${e.qtype} (${e.kind})`, v.ede!);
    return v;
  }

  private async judge(e: Evidence, budget: B): Promise<Verdict> {
    if (this.opts.anchors.isNegative(e.qname)) return { security: Security.Insecure, ede: { code: EdeCode.OTHER, text: 'negative trust anchor' } };
    if (!this.opts.anchors.closestAnchor(e.qname)) return { security: Security.Insecure };
    if (e.kind === 'answer' || e.kind === 'cname') return this.judgePositive(e, budget);
    return this.judgeNegative(e, budget);
  }

  private async judgePositive(e: Evidence, budget: B): Promise<Verdict> {
    // A DNSKEY RRset at its own apex is judged by the zone's chain of trust itself.
    if (e.kind === 'answer' && e.qtype === Type.DNSKEY && e.records.length && namesEqual(e.records[0]!.name, e.qname)) {
      const k = await this.keyFor(e.qname, budget);
      if (k.security !== Security.Secure) return { security: k.security, ...(k.ede ? { ede: k.ede } : {}) };
      const held = new Set(k.keys.map((x) => x.rdata.toString('hex')));
      return e.records.every((r) => held.has(r.rdata.toString('hex'))) ? { security: Security.Secure } : bogus(EdeCode.DNSSEC_BOGUS, 'DNSKEY RRset differs from the validated one');
    }
    let wildcard: { labels: number; zone: Name } | undefined;
    for (const set of groupRRsets(e.records)) {
      const owner = set[0]!.name;
      const sigs = rrsigsOf(e.sigs, owner, set[0]!.type);
      if (sigs.length === 0) return this.unsignedVerdict(e.zone, owner, budget);
      const signer = sigs[0]!.sig.signerName;
      if (!isSubdomain(owner, signer)) return bogus(EdeCode.DNSSEC_BOGUS, `RRSIG signer ${nameToText(signer)} is not above ${nameToText(owner)}`);
      const k = await this.keyFor(signer, budget);
      if (k.security !== Security.Secure) return { security: k.security, ...(k.ede ? { ede: k.ede } : {}) };
      const checked = this.verifyRrset(set, sigs.filter((s) => namesEqual(s.sig.signerName, signer)), k.keys, budget);
      if ('code' in checked) return { security: Security.Bogus, ede: checked };
      if (checked.labels < sigLabelsOf(owner)) wildcard = { labels: checked.labels, zone: signer };
    }
    if (!wildcard) return { security: Security.Secure };
    // RFC 4035 5.3.4: an answer expanded from a wildcard needs the proof that no closer name exists.
    const proof = await this.verifiedProof(e.proof, wildcard.zone, budget);
    if ('code' in proof) return { security: Security.Bogus, ede: proof };
    return denialVerdict(proveWildcardAnswer({
      qname: e.records[0]!.name, qtype: e.qtype, zone: wildcard.zone, records: proof, maxIterations: this.opts.nsec3MaxIterations,
      budget: budget.dnssec.nsec3, wildcardLabels: wildcard.labels,
    }), 'wildcard answer');
  }

  private async judgeNegative(e: Evidence, budget: B): Promise<Verdict> {
    const soa = e.soa.find((r) => r.type === Type.SOA);
    const zone = soa ? soa.name : e.zone;
    const soaSigs = soa ? rrsigsOf(e.proof, soa.name, Type.SOA) : [];
    const hasNsec = e.proof.some((r) => r.type === Type.NSEC || r.type === Type.NSEC3);
    if (soaSigs.length === 0 && !hasNsec) return this.unsignedVerdict(zone, e.qname, budget, EdeCode.NSEC_MISSING);
    if (soa && !isSubdomain(e.qname, soa.name)) return bogus(EdeCode.DNSSEC_BOGUS, `SOA ${nameToText(soa.name)} is not above ${nameToText(e.qname)}`);
    const k = await this.keyFor(zone, budget);
    if (k.security !== Security.Secure) return { security: k.security, ...(k.ede ? { ede: k.ede } : {}) };
    if (soa) {
      if (soaSigs.length === 0) return bogus(EdeCode.RRSIGS_MISSING, `no RRSIG for the SOA of ${nameToText(zone)}`);
      const checked = this.verifyRrset(e.soa.filter((r) => r.type === Type.SOA), soaSigs, k.keys, budget);
      if ('code' in checked) return { security: Security.Bogus, ede: checked };
    }
    const proof = await this.verifiedProof(e.proof, zone, budget, k);
    if ('code' in proof) return { security: Security.Bogus, ede: proof };
    if (proof.length === 0) return bogus(EdeCode.NSEC_MISSING, `no NSEC or NSEC3 proves the ${e.kind === 'nxdomain' ? 'NXDOMAIN' : 'NODATA'} of ${nameToText(e.qname)}`);
    const input = { qname: e.qname, qtype: e.qtype, zone, records: proof, maxIterations: this.opts.nsec3MaxIterations, budget: budget.dnssec.nsec3 };
    return denialVerdict(e.kind === 'nxdomain' ? proveNxdomain(input) : proveNodata(input), e.kind === 'nxdomain' ? 'NXDOMAIN' : 'NODATA');
  }

  /**
   * The NSEC/NSEC3 records of `proof` whose signatures verify with the keys of
   * `zone`; one that does not makes the whole answer bogus (RFC 4035 5.4).
   */
  private async verifiedProof(proof: readonly Record[], zone: Name, budget: B, known?: KeyEntry): Promise<Record[] | Ede> {
    const denial = proof.filter((r) => (r.type === Type.NSEC || r.type === Type.NSEC3) && isSubdomain(r.name, zone));
    if (denial.length === 0) return [];
    const k = known ?? await this.keyFor(zone, budget);
    if (k.security !== Security.Secure) return k.ede ?? { code: EdeCode.DNSSEC_BOGUS, text: `no keys for ${nameToText(zone)}` };
    for (const set of groupRRsets(denial)) {
      const sigs = rrsigsOf(proof, set[0]!.name, set[0]!.type).filter((s) => namesEqual(s.sig.signerName, zone));
      if (sigs.length === 0) return { code: EdeCode.RRSIGS_MISSING, text: `no RRSIG for the ${set[0]!.type === Type.NSEC ? 'NSEC' : 'NSEC3'} at ${nameToText(set[0]!.name)}` };
      const checked = this.verifyRrset(set, sigs, k.keys, budget);
      if ('code' in checked) return checked;
      // RFC 4035 5.3.4 / 5155 8.8: a proof record must not itself be a wildcard expansion.
      if (checked.labels < sigLabelsOf(set[0]!.name)) return { code: EdeCode.DNSSEC_BOGUS, text: 'NSEC expanded from a wildcard' };
    }
    return denial;
  }

  /**
   * An unsigned step from `zone`: insecure when the chain of trust ends above
   * it; otherwise `owner` may sit below an unsigned delegation the iterator did
   * not see (one server for parent and child): look for its proof, a few labels
   * deep, before calling it bogus (RFC 4035 5.2, 4.7 of RFC 6840 on the walk).
   */
  private async unsignedVerdict(zone: Name, owner: Name, budget: B, missing: number = EdeCode.RRSIGS_MISSING): Promise<Verdict> {
    const k = await this.keyFor(zone, budget);
    if (k.security !== Security.Secure) return { security: k.security, ...(k.ede ? { ede: k.ede } : {}) };
    const below = labelCount(owner) - labelCount(k.zone);
    for (let i = 1; i <= Math.min(below, MAX_UNSIGNED_WALK); i++) {
      const name = parentName(owner, below - i);
      const ds = await this.opts.fetch(name, Type.DS, budget, true);
      if (ds.kind === 'servfail') break;
      if (ds.security === Security.Insecure) return { security: Security.Insecure };
      if (ds.security !== Security.Secure) break;
      if (ds.kind === 'answer') break; // a signed child: its data must be signed
      if (ds.kind === 'nodata' && this.provesDelegation(ds.proof, name)) return { security: Security.Insecure };
      if (ds.kind === 'nxdomain') break;
    }
    return bogus(missing, `${nameToText(owner)} is unsigned in signed zone ${nameToText(k.zone)}`);
  }

  /** An NSEC/NSEC3 (already validated) saying `name` is a delegation (NS bit, no SOA). */
  private provesDelegation(proof: readonly Record[], name: Name): boolean {
    for (const r of proof) {
      try {
        if (r.type === Type.NSEC && namesEqual(r.name, name)) {
          const t = parseNsec(r.rdata).types;
          if (t.has(Type.NS) && !t.has(Type.SOA)) return true;
        }
        if (r.type === Type.NSEC3) {
          // The matching NSEC3 was checked by proveNodata; an opt-out or NS-bit one marks a delegation.
          const n = parseNsec3(r.rdata);
          if ((n.flags & 1) === 1 || (n.types.has(Type.NS) && !n.types.has(Type.SOA))) return true;
        }
      } catch {
        // malformed: proves nothing
      }
    }
    return false;
  }

  /**
   * One RRset against its RRSIGs and the zone's keys: the first signature that
   * verifies wins. Else the most telling reason (RFC 8914 4: 7, 8, 9 before 6).
   */
  private verifyRrset(set: readonly Record[], sigs: { sig: Rrsig }[], keys: readonly Dnskey[], budget: B): { labels: number } | Ede {
    const nowS = Math.floor(this.now() / 1000);
    const owner = set[0]!.name;
    const seen = new Set<SigCheck>();
    let keyless = 0;
    for (const { sig } of sigs) {
      const candidates = keys.filter((k) => k.keyTag === sig.keyTag && k.algorithm === sig.algorithm);
      if (candidates.length === 0) {
        keyless++;
        continue;
      }
      for (const key of candidates) {
        if (budget.dnssec.sigs <= 0) return { code: EdeCode.DNSSEC_BOGUS, text: `too many signatures to check for ${nameToText(owner)} (limit per query reached)` };
        budget.dnssec.sigs--;
        const r = checkRrsig(set, sig, key, nowS);
        if (r === 'valid') return { labels: sig.labels };
        seen.add(r);
      }
    }
    const what = `${nameToText(owner)}`;
    if (seen.has('bad-signature')) return { code: EdeCode.DNSSEC_BOGUS, text: `signature of ${what} does not verify` };
    if (seen.has('expired')) return { code: EdeCode.SIGNATURE_EXPIRED, text: `signature of ${what} expired` };
    if (seen.has('not-yet-valid')) return { code: EdeCode.SIGNATURE_NOT_YET_VALID, text: `signature of ${what} not yet valid` };
    if (keyless === sigs.length) return { code: EdeCode.DNSKEY_MISSING, text: `no DNSKEY matches the RRSIG of ${what}` };
    return { code: EdeCode.DNSSEC_BOGUS, text: `no valid signature for ${what} (${[...seen].join(', ')})` };
  }

  /** The key entry of `zone`, from the key cache or built (one build at a time per zone). */
  private keyFor(zone: Name, budget: B): Promise<KeyEntry> {
    const k = nameKey(zone);
    const cached = this.keys.get(k);
    if (cached && cached.expires > this.now()) return Promise.resolve(cached);
    const building = (budget.dnssec.building ??= new Set());
    if (building.has(k)) {
      return Promise.resolve({ security: Security.Bogus, zone, ede: { code: EdeCode.DNSSEC_BOGUS, text: `the keys of ${nameToText(zone)} depend on themselves` }, expires: this.now() });
    }
    let p = this.pending.get(k);
    if (!p) {
      building.add(k);
      p = this.buildKey(zone, budget).finally(() => building.delete(k)).then((entry) => {
        this.keys.set(k, entry);
        return entry;
      }).finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    return p;
  }

  private async buildKey(zone: Name, budget: B): Promise<KeyEntry> {
    const a = this.opts.anchors;
    const now = this.now();
    const insecure = (text?: string, code: number = EdeCode.OTHER, ttl = 300): KeyEntry => ({ security: Security.Insecure, zone, ...(text ? { ede: { code, text } } : {}), expires: now + ttl * 1000 });
    const bad = (code: number, text: string): KeyEntry => ({ security: Security.Bogus, zone, ede: { code, text }, expires: now + this.opts.bogusTtl * 1000 });
    if (a.isNegative(zone)) return insecure('negative trust anchor');
    const anchor = a.anchorAt(zone);
    let dsRecords: Record[];
    let dsTtl = Infinity;
    if (anchor) {
      dsRecords = anchor.ds;
    } else {
      if (!a.closestAnchor(zone) || zone.length === 1) return insecure();
      const ds = await this.opts.fetch(zone, Type.DS, budget, true);
      // A private zone (forward or stub) has no chain of trust unless its parent proves a DS (Unbound's domain-insecure, implied).
      if (this.opts.privateZone?.(zone) && !(ds.kind === 'answer' && ds.security === Security.Secure)) {
        return insecure(`${nameToText(zone)} is a forward or stub zone without a trust anchor or DS`);
      }
      if (ds.kind === 'servfail') return bad(EdeCode.DNSKEY_MISSING, `no DS for ${nameToText(zone)}: ${ds.ede.text}`);
      // The DS must come from a zone strictly above (else a child answering for its parent).
      const dsSigner = rrsigsOf(ds.sigs, zone, Type.DS)[0]?.sig.signerName;
      if (dsSigner && (namesEqual(dsSigner, zone) || !isSubdomain(zone, dsSigner))) return bad(EdeCode.DNSSEC_BOGUS, `DS of ${nameToText(zone)} signed by ${nameToText(dsSigner)}`);
      if (ds.security === Security.Bogus) return bad(ds.ede?.code ?? EdeCode.DNSSEC_BOGUS, ds.ede?.text ?? `DS of ${nameToText(zone)} is bogus`);
      if (ds.security === Security.Insecure) return insecure(ds.ede?.text, ds.ede?.code);
      if (ds.security !== Security.Secure) return bad(EdeCode.DNSSEC_INDETERMINATE, `DS of ${nameToText(zone)} not validated`);
      if (ds.kind !== 'answer') return insecure(); // proven: no DS, an insecure delegation (RFC 4035 5.2)
      dsRecords = ds.records.filter((r) => r.type === Type.DS);
      dsTtl = Math.min(...dsRecords.map((r) => r.ttl));
    }
    const ds = dsRecords.map((r) => parseDs(r.rdata));
    const usableDs = ds.filter((d) => SUPPORTED_ALGORITHMS.has(d.algorithm) && SUPPORTED_DIGESTS.has(d.digestType));
    const anchorKeys = (anchor?.dnskey ?? []).map((r) => parseDnskey(r.rdata)).filter((k) => SUPPORTED_ALGORITHMS.has(k.algorithm));
    // RFC 4035 5.2, RFC 6840 5.2: a zone whose DS (or anchor) names only algorithms or digests we lack is insecure.
    if (usableDs.length === 0 && anchorKeys.length === 0) {
      const alg = ds.some((d) => !SUPPORTED_ALGORITHMS.has(d.algorithm));
      return insecure(`${nameToText(zone)}: ${alg ? 'DNSKEY algorithm' : 'DS digest type'} not supported`, alg ? EdeCode.UNSUPPORTED_DNSKEY_ALGORITHM : EdeCode.UNSUPPORTED_DS_DIGEST);
    }
    const fetched = await this.opts.fetch(zone, Type.DNSKEY, budget, false);
    if (fetched.kind !== 'answer') return bad(EdeCode.DNSKEY_MISSING, `no DNSKEY RRset for ${nameToText(zone)}`);
    const records = fetched.records.filter((r) => r.type === Type.DNSKEY && namesEqual(r.name, zone));
    const all: Dnskey[] = [];
    for (const r of records) {
      try {
        all.push(parseDnskey(r.rdata));
      } catch {
        // malformed key: ignored
      }
    }
    const zoneKeys = all.filter((k) => (k.flags & DnskeyFlag.ZONE) !== 0 && k.protocol === 3 && (k.flags & DnskeyFlag.REVOKE) === 0);
    const trusted = zoneKeys.filter((k) =>
      usableDs.some((d) => d.keyTag === k.keyTag && dsMatchesKey(zone, d, k)) ||
      anchorKeys.some((x) => x.rdata.equals(k.rdata)));
    if (trusted.length === 0) return bad(EdeCode.DNSKEY_MISSING, `no DNSKEY of ${nameToText(zone)} matches its ${anchor ? 'trust anchor' : 'DS'}`);
    const sigs = rrsigsOf(fetched.sigs, zone, Type.DNSKEY).filter((s) => namesEqual(s.sig.signerName, zone));
    if (sigs.length === 0) return bad(EdeCode.RRSIGS_MISSING, `DNSKEY RRset of ${nameToText(zone)} is unsigned`);
    const checked = this.verifyRrset(records, sigs, trusted, budget);
    if ('code' in checked) return bad(checked.code, checked.text);
    if (anchor) this.opts.onAnchoredKeys?.(zone, records, fetched.sigs);
    const ttl = Math.min(dsTtl, ...records.map((r) => r.ttl), 86_400);
    return { security: Security.Secure, zone, keys: zoneKeys, expires: now + Math.max(ttl, 1) * 1000 };
  }
}

