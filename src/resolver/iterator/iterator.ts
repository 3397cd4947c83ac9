/**
 * Iterative resolution (RFC 1034 5.3.3) as an explicit state machine.
 *
 * One `Resolution` follows one question: its states have names, as in
 * Unbound's iterator, and a trace of it reads like the RFC. The iterator does
 * no I/O of its own: it asks a `Transport` (injected: real sockets in the
 * server, a scripted internet in tests) to send a question to an address.
 *
 *   INIT_REQUEST   look in the cache; if not there, find the closest known zone cut
 *   QUERY_TARGETS  pick the next server of the zone (glue, or resolve glueless NS names)
 *   QUERY_RESP     classify the reply: answer, CNAME/DNAME, referral, NXDOMAIN,
 *                  NODATA, or lame (then back to QUERY_TARGETS)
 *   FINISHED       a final step, cached and returned to the caller
 *
 * CNAME chains are followed by `resolve()`, one Resolution per name, sharing one
 * `Budget` per client query (queries sent, depth, deadline; hard limits as in
 * hickory-dns). Identical concurrent questions share one Resolution (Unbound's mesh).
 *
 * Serve-stale (RFC 8767, `IteratorOptions.serveStale`) wraps a client's
 * resolution: expired data kept by the cache answers when resolution fails or
 * is slow. It never feeds the iterator's own lookups (zone cuts, NS addresses).
 */
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { Class, Ede, Rcode, Type } from '../../dns/constants.js';
import type { Message, Record } from '../../dns/message.js';
import { groupRRsets } from '../../dns/message.js';
import { isSubdomain, labelCount, Name, nameFromText, nameKey, namesEqual, nameToText, parentName, replaceSuffix, ROOT } from '../../dns/name.js';
import { isLoopback } from '../acl.js';
import { ResolverCache, Trust } from '../cache/cache.js';
import { Security } from '../../dnssec/security.js';
import type { Ede as SecEde } from '../../dnssec/security.js';
import type { Evidence, Fetched, ValidationBudget, Validator } from '../../dnssec/validator.js';
import type { NsecGaps } from '../../dnssec/aggressive.js';
import type { ServerSelection } from '../selection.js';
import type { Transport } from '../transport.js';
import { UpstreamError } from '../transport.js';
import { ZoneRoutes } from '../routes.js';
import type { Route, Upstream } from '../routes.js';

export interface RootHint {
  name: string;
  address: string;
}

export interface IteratorOptions {
  rootHints: RootHint[];
  qnameMinimisation: boolean;
  upstreamTimeoutMs: number;
  maxQueries: number;
  maxDepth: number;
  maxCnameHops: number;
  queryTimeoutMs: number;
  maxNsPerReferral: number;
  /**
   * NS names without glue resolved per client query, over every referral
   * (NXNSAttack, Afek et al. 2020: a referral to many glueless names turns one
   * query into many). Default 16.
   */
  maxNsLookups?: number;
  /** Upstream port (53 on the internet; tests may use another). */
  port?: number;
  /** Serve-stale (RFC 8767); absent: off. The cache must keep expired data (CacheOptions.maxStaleTtl). */
  serveStale?: ServeStaleOptions;
  /** DNSSEC (src/dnssec/): absent, nothing is validated (data is still kept and given to DO clients). */
  dnssec?: DnssecOptions;
  /** Locally served, forward and stub zones (src/resolver/routes.ts); absent: every name from the root. */
  routes?: ZoneRoutes;
  /** A step answered by a local zone, or a query sent to a forward or stub zone's server (metrics). */
  onRoute?: (kind: 'local' | 'forward' | 'stub', zone: string) => void;
}

export interface DnssecOptions {
  validator: Validator<Budget>;
  /** Seconds bogus data stays cached (dnssec.bogus_ttl). */
  bogusTtl: number;
  /** Signature checks per client query (KeyTrap). */
  maxValidations: number;
  /** NSEC3 hash computations per client query (CVE-2023-50868). */
  maxNsec3Hashes: number;
  /** Aggressive use of validated NSEC (RFC 8198, dnssec.aggressive_nsec); absent: off. */
  gaps?: NsecGaps;
  /** A negative answer synthesised from the gaps (for metrics). */
  onAggressive?: (kind: 'nxdomain' | 'nodata') => void;
}

/** The timers of RFC 8767 5 that are the iterator's (the cache keeps the "maximum stale timer"). */
export interface ServeStaleOptions {
  /** TTL of stale records in replies, seconds (RFC 8767 4: 30). */
  answerTtl: number;
  /** "Client response timer", ms: past it, stale data answers while the resolution goes on. */
  clientTimeoutMs: number;
  /** "Failure recheck timer", ms: after a failed refresh, stale data answers at once, nothing is asked. */
  failureRecheckMs: number;
}

/** Shared by every step of one client query. */
export interface Budget {
  queries: number;
  deadline: number;
  /** NS names being resolved (glueless), to break cycles. */
  resolvingNs: Set<string>;
  /** Glueless NS name lookups left (IteratorOptions.maxNsLookups). */
  nsLookups: number;
  /** DNSSEC work left (signature checks, NSEC3 hashes). */
  dnssec: ValidationBudget;
  /** The client set CD (RFC 4035 3.2.2): bogus data is given, not refused. */
  cd?: boolean;
  trace?: string[];
}

/** What DNSSEC knows of a step: its signatures and proofs, where it came from, and the verdict. */
export interface Proven {
  /** RRSIGs of the answer records (of the CNAME, and of the DNAME that synthesised it). */
  sigs: Record[];
  /** Negative and wildcard answers: SOA RRSIGs, NSEC/NSEC3 and their RRSIGs. */
  proof: Record[];
  /** The zone cut whose server gave it. */
  zone: Name;
  security: Security;
  ede?: SecEde;
  /** Answered by a locally served zone (AA in the reply). */
  local?: boolean;
}

export type Step =
  | ({ kind: 'answer'; records: Record[] } & Proven)
  | ({ kind: 'cname'; record: Record; /** a DNAME that synthesised it */ dname?: Record } & Proven)
  | ({ kind: 'nxdomain'; soa: Record[] } & Proven)
  | ({ kind: 'nodata'; soa: Record[] } & Proven)
  | { kind: 'servfail'; ede: { code: number; text: string } };

/** Unvalidated, unsigned DNSSEC fields (data from outside the validator's view). */
function unproven(zone: Name = ROOT): Proven {
  return { sigs: [], proof: [], zone, security: Security.Unchecked };
}

export interface Resolved {
  rcode: number;
  /** CNAME/DNAME chain, then the final RRset. */
  answers: Record[];
  /** SOA of a negative answer. */
  authority: Record[];
  ede?: { code: number; text: string };
  /** Names of the chain, first the query name (for RPZ QNAME triggers on each). */
  names: Name[];
  /** Every step validated secure: AD may be set (RFC 4035 3.2.3). */
  secure?: boolean;
  /** Some step came signed. */
  signed?: boolean;
  /** Per name of `names`: its step came signed (RPZ break-dnssec judges the matched name, as BIND). */
  signedNames?: boolean[];
  /** The answer and authority sections for a DO client: with RRSIGs, NSEC and NSEC3 (RFC 4035 3.2.1). */
  dnssec?: { answers: Record[]; authority: Record[] };
  /** Every step came from a locally served zone: the reply is authoritative (AA), and not kept in the answer cache. */
  local?: boolean;
}

/** A chain that stopped at a name its step source knew nothing of: what was gathered until then. */
interface Unfinished {
  unfinished: true;
  answers: Record[];
  names: Name[];
}

/** Most questions remembered with a failed refresh (serve-stale); the least recent are forgotten. */
const MAX_REFRESH_FAILURES = 10_000;

export class ResolveError extends Error {
  constructor(readonly ede: { code: number; text: string }) {
    super(ede.text);
  }
}

type State = 'INIT_REQUEST' | 'QUERY_TARGETS' | 'QUERY_RESP' | 'FINISHED';

const ADDRESS_TYPES = [Type.A, Type.AAAA];
/** Insecure verdicts a client is told of by EDE: unsupported algorithm or digest, too many NSEC3 iterations. */
const INSECURE_EDES = new Set<number>([Ede.UNSUPPORTED_DNSKEY_ALGORITHM, Ede.UNSUPPORTED_DS_DIGEST, Ede.UNSUPPORTED_NSEC3_ITERATIONS]);
/** Attempts per server address and zone cut when it only times out (Unbound retries too). */
const MAX_TRIES = 3;

/** Where a resolution starts: a zone and its NS names, or the servers a forward or stub zone gives. */
export interface Cut {
  zone: Name;
  ns: Name[];
  route?: Route;
}

export class Iterator {
  private routes: ZoneRoutes;
  private readonly inflight = new Map<string, Promise<Step>>();
  private readonly judging = new Map<string, Promise<Step>>();
  private readonly rootNs: Name[];
  private readonly allowLoopback: boolean;
  private nextPrime = 0;
  /** Serve-stale: `name/type` of client questions whose refresh failed -> when it may be tried again (ms). */
  private readonly refreshFailed?: LRUCache<string, number>;

  constructor(
    private readonly opts: IteratorOptions,
    private readonly transport: Transport,
    readonly cache: ResolverCache,
    private readonly selection: ServerSelection,
    private readonly now: () => number = Date.now,
  ) {
    this.rootNs = opts.rootHints.map((h) => nameFromText(h.name.endsWith('.') ? h.name : h.name + '.'));
    // DESIGN.md: loopback name servers are used only in a lab whose roots are on loopback.
    this.allowLoopback = opts.rootHints.length > 0 && opts.rootHints.every((h) => isLoopback(h.address));
    if (opts.serveStale) this.refreshFailed = new LRUCache({ max: MAX_REFRESH_FAILURES });
    this.routes = opts.routes ?? ZoneRoutes.empty();
  }

  newBudget(cd = false): Budget {
    const d = this.opts.dnssec;
    return {
      queries: this.opts.maxQueries, deadline: this.now() + this.opts.queryTimeoutMs, resolvingNs: new Set(), nsLookups: this.opts.maxNsLookups ?? 16,
      dnssec: { sigs: d?.maxValidations ?? 64, nsec3: { hashes: d?.maxNsec3Hashes ?? 64 } },
      ...(cd ? { cd } : {}),
    };
  }

  /**
   * Resolve a client's question, following CNAME/DNAME chains; `cacheOnly` for
   * RD=0 queries. With serve-stale, stale data may answer (EDE 3).
   */
  resolve(qname: Name, qtype: number, budget: Budget, cacheOnly = false): Promise<Resolved> {
    if (cacheOnly) return this.fromCacheChain(qname, qtype, budget.cd).then((r) => ('unfinished' in r ? notInCache(r) : r));
    const stale = this.opts.serveStale;
    if (stale && qtype !== Type.ANY) return this.resolveOrStale(qname, qtype, budget, stale);
    return this.chase(qname, qtype, budget);
  }

  /** The whole answer if the cache holds every step of it (fresh data only), else undefined. No upstream query. */
  async cached(qname: Name, qtype: number, cd = false): Promise<Resolved | undefined> {
    const r = await this.fromCacheChain(qname, qtype, cd);
    return 'unfinished' in r ? undefined : r;
  }

  /** The chain from fresh cache data alone, as far as it goes. */
  private fromCacheChain(qname: Name, qtype: number, cd = false): Promise<Resolved | Unfinished> {
    // Only steps already judged: a cache-only answer asks nothing upstream, not even for keys.
    return this.follow(qname, qtype, (name) => {
      const local = this.localStep(name, qtype);
      if (local) return local;
      const s = this.fromCache(name, qtype);
      return s && s.kind !== 'servfail' && s.security === Security.Unchecked && this.opts.dnssec ? undefined : s;
    }, cd);
  }

  /** Resolve from the cache and upstream, fresh data only (also the iterator's own lookups of NS names). */
  chase(qname: Name, qtype: number, budget: Budget): Promise<Resolved> {
    // lookup() always has a step, so the chain always finishes.
    return this.follow(qname, qtype, (name) => this.lookup(name, qtype, budget), budget.cd) as Promise<Resolved>;
  }

  /** Follow the chain from `qname`, each name's step from `next`; unfinished where `next` has none. */
  private async follow(qname: Name, qtype: number, next: (name: Name) => Step | undefined | Promise<Step>, cd = false): Promise<Resolved | Unfinished> {
    const answers: Record[] = [];
    const names: Name[] = [qname];
    const seen = new Set<string>([nameKey(qname)]);
    // DNSSEC: the sections as a DO client sees them, and whether every step is secure.
    const doAnswers: Record[] = [];
    let secure = true;
    let signed = false;
    const signedNames: boolean[] = [];
    // An insecure verdict worth telling the client (RFC 8914: 1, 2, 27), on an answer that is still given.
    let note: { code: number; text: string } | undefined;
    let local = true;
    const done = (rcode: number, authority: Record[], proof: Record[]): Resolved => ({
      rcode, answers, authority, names, secure, signed, signedNames, dnssec: { answers: doAnswers, authority: [...authority, ...proof] }, ...(note ? { ede: note } : {}),
      ...(local ? { local } : {}),
    });
    let name = qname;
    for (let hop = 0; ; hop++) {
      const step = await next(name);
      if (!step) return { unfinished: true, answers, names };
      if (step.kind !== 'servfail') {
        // RFC 4035 5.5: bogus data is never given to a client that did not set CD.
        if (step.security === Security.Bogus && !cd) {
          return { rcode: Rcode.SERVFAIL, answers: [], authority: [], names, ede: step.ede ?? { code: Ede.DNSSEC_BOGUS, text: 'DNSSEC validation failed' } };
        }
        secure &&= step.security === Security.Secure;
        local &&= step.local === true;
        const stepSigned = step.sigs.length > 0 || step.proof.length > 0;
        signedNames.push(stepSigned);
        signed ||= stepSigned;
        if (step.security === Security.Insecure && step.ede && INSECURE_EDES.has(step.ede.code)) note ??= step.ede;
      }
      switch (step.kind) {
        case 'answer':
          answers.push(...step.records);
          doAnswers.push(...step.records, ...step.sigs);
          // A wildcard expansion's proof rides in the authority section (RFC 4035 3.1.3.3).
          return done(Rcode.NOERROR, [], step.proof);
        case 'nxdomain':
          return done(Rcode.NXDOMAIN, step.soa, step.proof);
        case 'nodata':
          return done(Rcode.NOERROR, step.soa, step.proof);
        case 'servfail':
          return { rcode: Rcode.SERVFAIL, answers: [], authority: [], names, ede: step.ede };
        case 'cname': {
          if (step.dname) answers.push(step.dname);
          answers.push(step.record);
          // RFC 6672 5.3.1: the DNAME with its RRSIG, then the synthesised (unsigned) CNAME.
          if (step.dname) doAnswers.push(step.dname, ...step.sigs, step.record);
          else doAnswers.push(step.record, ...step.sigs);
          if (qtype === Type.CNAME && !step.dname) return done(Rcode.NOERROR, [], step.proof);
          const target = step.record.rdata;
          const k = nameKey(target);
          if (seen.has(k)) return { rcode: Rcode.SERVFAIL, answers: [], authority: [], names, ede: { code: Ede.OTHER, text: `CNAME loop at ${nameToText(target)}` } };
          if (hop + 1 >= this.opts.maxCnameHops) return { rcode: Rcode.SERVFAIL, answers: [], authority: [], names, ede: { code: Ede.OTHER, text: `CNAME chain longer than ${this.opts.maxCnameHops}` } };
          seen.add(k);
          names.push(target);
          name = target;
        }
      }
    }
  }

  /**
   * RFC 8767 5: expired data answers when the resolution fails, when it is still
   * going as the client response timer fires (it goes on and refreshes the
   * cache), and at once while a failed refresh's recheck timer runs. Fresh data
   * always wins: stale data is read only where the cache has no fresh step.
   */
  private async resolveOrStale(qname: Name, qtype: number, budget: Budget, o: ServeStaleOptions): Promise<Resolved> {
    const cached = this.fromCache(qname, qtype);
    // A fresh final answer, or nothing stale to fall back on: plain resolution.
    if ((cached && cached.kind !== 'cname') || (!cached && !this.cache.getStale(qname, qtype, o.answerTtl))) return this.chase(qname, qtype, budget);
    const k = nameKey(qname) + '/' + qtype;
    const failures = this.refreshFailed!;
    const retryAt = failures.get(k);
    if (retryAt !== undefined && this.now() < retryAt) {
      const stale = await this.staleAnswer(qname, qtype, `refresh failed, next attempt in ${Math.ceil((retryAt - this.now()) / 1000)} s`);
      if (stale) return stale;
    }
    const fresh = this.chase(qname, qtype, budget).then((r) => {
      if (r.rcode === Rcode.SERVFAIL) failures.set(k, this.now() + o.failureRecheckMs);
      else failures.delete(k);
      return r;
    });
    fresh.catch(() => undefined); // still awaited below, unless stale data has answered first
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((done) => { timer = setTimeout(() => done(undefined), o.clientTimeoutMs); });
    let r = await Promise.race([fresh, late]).finally(() => clearTimeout(timer));
    if (!r) {
      const stale = await this.staleAnswer(qname, qtype, `no answer after ${o.clientTimeoutMs} ms, still resolving`);
      if (stale) return stale;
      r = await fresh;
    }
    if (r.rcode !== Rcode.SERVFAIL) return r;
    return (await this.staleAnswer(qname, qtype, r.ede?.text ?? 'resolution failed')) ?? r;
  }

  /**
   * The chain from the cache, each step fresh if it can be, else stale (TTLs
   * set to the stale answer TTL, RFC 8767 4), with EDE 3 (RFC 8914 4.4).
   * Undefined when a step is missing or the chain is broken.
   */
  private async staleAnswer(qname: Name, qtype: number, why: string): Promise<Resolved | undefined> {
    const ttl = this.opts.serveStale!.answerTtl;
    let usedStale = false;
    const r = await this.follow(qname, qtype, (name): Step | undefined => {
      const fresh = this.fromCache(name, qtype);
      if (fresh) return fresh;
      const s = this.cache.getStale(name, qtype, ttl);
      if (!s) return undefined;
      usedStale = true;
      // Stale data is never called secure: its signatures may have lapsed (RFC 8767 leaves it unvalidated).
      if (s.kind !== 'rrset') return { kind: s.kind, soa: s.soa, ...unproven(), proof: s.proof };
      const cname = s.records[0]!.type === Type.CNAME && qtype !== Type.CNAME;
      return cname ? { kind: 'cname', record: s.records[0]!, ...unproven(), sigs: s.sigs } : { kind: 'answer', records: s.records, ...unproven(), sigs: s.sigs };
    });
    if ('unfinished' in r || r.rcode === Rcode.SERVFAIL) return undefined;
    return usedStale ? { ...r, ede: { code: Ede.STALE_ANSWER, text: why } } : r;
  }

  /** A step answered from the cache alone, or undefined. */
  fromCache(name: Name, type: number): Step | undefined {
    const c = this.cache;
    const proven = (sigs: Record[], proof: Record[], security: Security, ede?: SecEde): Proven =>
      ({ sigs, proof, zone: this.closestCut(name, type).zone, security, ...(ede ? { ede } : {}) });
    const rr = c.getSigned(name, type, Trust.Answer);
    if (rr) {
      // Beside the RRSIGs of the set may be the proof of a wildcard expansion (see queryResp).
      const sigs = sigsFor(rr.sigs, name, type);
      return { kind: 'answer', records: rr.records, ...proven(sigs, sigs.length === rr.sigs.length ? [] : rr.sigs.filter((r) => !sigs.includes(r)), rr.security, rr.ede) };
    }
    if (type !== Type.CNAME) {
      const cname = c.getSigned(name, Type.CNAME, Trust.Answer);
      if (cname) return { kind: 'cname', record: cname.records[0]!, ...proven(cname.sigs, [], cname.security, cname.ede) };
    }
    const neg = c.getNegative(name, type);
    if (neg) return { kind: neg.kind, soa: neg.soa, ...proven([], neg.proof, neg.security, neg.ede) };
    return undefined;
  }

  /** One step, judged by the validator when there is one. */
  private lookup(name: Name, type: number, budget: Budget): Promise<Step> {
    const local = this.localStep(name, type);
    if (local) return Promise.resolve(local);
    return this.judge(this.rawLookup(name, type, budget), name, type, budget);
  }

  /**
   * The step a locally served zone gives (RFC 6303, 6761, 7686, 8375), or
   * undefined. Never validated: the data is ours, and asking for a DS would
   * send the name out (it counts as insecure, so no AD).
   */
  private localStep(name: Name, type: number): Step | undefined {
    const a = this.routes.local(name, type);
    if (!a) return undefined;
    this.opts.onRoute?.('local', a.zone);
    const p: Proven = { sigs: [], proof: [], zone: a.soa[0]?.name ?? name, security: Security.Insecure, local: true };
    if (a.rcode === Rcode.NXDOMAIN) return { kind: 'nxdomain', soa: a.soa, ...p };
    return a.answers.length ? { kind: 'answer', records: a.answers, ...p } : { kind: 'nodata', soa: a.soa, ...p };
  }

  /** Swap the zone table (a reload): queries see the old one or the new one, never half of each. */
  setRoutes(routes: ZoneRoutes): void {
    this.routes = routes;
  }

  get zoneRoutes(): ZoneRoutes {
    return this.routes;
  }

  /** One step as the servers gave it (or the cache holds it), not judged. */
  private rawLookup(name: Name, type: number, budget: Budget): Promise<Step> {
    const cached = type === Type.ANY ? undefined : this.fromCache(name, type);
    if (cached) {
      this.cache.hits++;
      return Promise.resolve(cached);
    }
    const d = this.opts.dnssec;
    // Not inside a forward or stub zone: the public tree's proof that `internal.` does not exist says nothing of a private corp.internal.
    const gap = d?.gaps && type !== Type.ANY && d.validator.covers(name) && !this.routes.route(name) ? d.gaps.synthesise(name, type) : undefined;
    if (gap) {
      // RFC 8198: a name inside a validated NSEC gap needs no question.
      d!.onAggressive?.(gap.kind);
      this.cache.hits++;
      return Promise.resolve({ kind: gap.kind, soa: gap.soa, proof: gap.proof, sigs: [], zone: gap.soa[0]?.name ?? ROOT, security: Security.Secure });
    }
    this.cache.misses++;
    const k = nameKey(name) + '/' + type;
    const shared = this.inflight.get(k);
    if (shared) return this.bounded(shared, budget);
    // A resolution of our own keeps to our budget by itself (its deadline is checked before every
    // upstream query, whose timeout is what remains of it): no race with a timer needed.
    const p = this.resolution(name, type, budget).finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  /** One step from the servers: forwarded, stubbed or iterated from the root (routes.ts decides). */
  private async resolution(name: Name, type: number, budget: Budget): Promise<Step> {
    const step = await new Resolution(this, name, type, budget).run();
    if (step.kind !== 'servfail') return step;
    // BIND's `forward first`, Unbound's `forward-first: yes`: when the forwarders fail, iterate.
    const route = this.routeFor(name, type);
    if (route?.kind !== 'forward' || !route.first) return step;
    budget.trace?.push(`forwarders of ${route.label} failed (${step.ede.text}); resolving from the root`);
    return new Resolution(this, name, type, budget, true).run();
  }

  /**
   * The forward or stub zone that a question for `name`/`type` goes to. A DS
   * RRset belongs to the parent (RFC 4035 3.1.4.1): at a zone's apex it is
   * asked above it, as Unbound does.
   */
  routeFor(name: Name, type: number): Route | undefined {
    const r = this.routes.route(name);
    if (r && type === Type.DS && namesEqual(r.zone, name)) return name.length > 1 ? this.routes.route(parentName(name)) : undefined;
    return r;
  }

  /**
   * Wait for a resolution no longer than the budget's deadline. Resolutions
   * shared between client queries can wait on each other (x needs NS y, y needs
   * NS x, started by two clients); the first deadline to pass breaks the cycle.
   */
  private bounded(p: Promise<Step>, budget: Budget): Promise<Step> {
    const ms = Math.max(0, Math.min(budget.deadline - this.now(), this.opts.queryTimeoutMs));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Step>((r) => {
      timer = setTimeout(() => r({ kind: 'servfail', ede: { code: Ede.OTHER, text: 'resolution timed out (waiting on another resolution)' } }), ms);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  /**
   * The validator's verdict on a step not judged yet, written back to the cache
   * beside the data (one validation per cached RRset, not per query).
   * Identical steps judged at once share one validation.
   */
  private async judge(raw: Promise<Step>, name: Name, type: number, budget: Budget): Promise<Step> {
    const step = await raw;
    const d = this.opts.dnssec;
    if (!d || step.kind === 'servfail' || step.security !== Security.Unchecked) return step;
    if (!d.validator.covers(name)) return { ...step, security: Security.Insecure };
    const k = nameKey(name) + '/' + type;
    let p = this.judging.get(k);
    if (!p) {
      p = d.validator.validate(evidenceOf(step, name, type), budget).then((v) => {
        const negative = step.kind === 'nxdomain' || step.kind === 'nodata' ? step.kind : undefined;
        const owner = step.kind === 'cname' ? (step.dname ?? step.record).name : name;
        const rtype = step.kind === 'cname' ? (step.dname ? Type.DNAME : Type.CNAME) : type;
        this.cache.setSecurity(owner, rtype, negative, v, d.bogusTtl);
        if ((step.kind === 'nxdomain' || step.kind === 'nodata') && v.security === Security.Secure && d.gaps && step.soa.length) {
          d.gaps.add(step.soa[0]!.name, [...step.soa, ...step.proof.filter((r) => r.type === Type.RRSIG && r.rdata.readUInt16BE(0) === Type.SOA)], step.proof);
        }
        return { ...step, security: v.security, ...(v.ede ? { ede: v.ede } : {}) } as Step;
      }).finally(() => this.judging.delete(k));
      this.judging.set(k, p);
    }
    return p;
  }

  /** The validator's view of the network: DS and DNSKEY lookups, judged or raw. */
  fetchForValidator(name: Name, type: number, budget: Budget, validate: boolean): Promise<Fetched> {
    const p = validate ? this.lookup(name, type, budget) : this.rawLookup(name, type, budget);
    return p.then((step): Fetched => {
      if (step.kind === 'servfail') return { kind: 'servfail', ede: step.ede };
      return { ...evidenceOf(step, name, type), security: step.security, ...(step.ede ? { ede: step.ede } : {}) };
    }, (e: Error): Fetched => ({ kind: 'servfail', ede: { code: Ede.OTHER, text: e.message } }));
  }

  // ---- helpers used by Resolution

  get options(): IteratorOptions {
    return this.opts;
  }

  get sel(): ServerSelection {
    return this.selection;
  }

  get net(): Transport {
    return this.transport;
  }

  clock(): number {
    return this.now();
  }

  usableAddress(address: string): boolean {
    if (isIP(address) === 0) return false;
    return this.allowLoopback || !isLoopback(address);
  }

  /**
   * The closest enclosing zone cut with a cached NS RRset (or the root); for DS,
   * strictly above the name (RFC 4035 3.1.4.1: DS is the parent's). Inside a
   * forward zone, its forwarders; inside a stub zone, its servers unless a
   * deeper cut below it is cached. `noForward`: as if no forward zone held the
   * name (forward first, after the forwarders failed).
   */
  closestCut(name: Name, type = 0, noForward = false): Cut {
    const route = this.routeFor(name, type);
    if (route?.kind === 'forward' && !noForward) return { zone: route.zone, ns: [], route };
    for (let z = type === Type.DS && name.length > 1 ? parentName(name) : name; ; z = parentName(z)) {
      if (route?.kind === 'stub' && namesEqual(z, route.zone)) return { zone: route.zone, ns: [], route };
      const ns = this.cache.getRRset(z, Type.NS);
      if (ns && ns.length) return { zone: z, ns: ns.map((r) => r.rdata) };
      if (z.length === 1) break;
    }
    return { zone: ROOT, ns: this.rootNs };
  }

  /** Known addresses of a name server, from the cache or the root hints. */
  cachedAddresses(ns: Name): string[] {
    const out: string[] = [];
    for (const t of ADDRESS_TYPES) {
      for (const r of this.cache.getRRset(ns, t) ?? []) out.push(rdataToIp(r));
    }
    if (out.length === 0) {
      for (const h of this.opts.rootHints) {
        if (namesEqual(nameFromText(h.name.endsWith('.') ? h.name : h.name + '.'), ns)) out.push(h.address);
      }
    }
    return out;
  }

  /** Root priming (RFC 8109): ask a hint for the root NS set once, cache it with glue. */
  async prime(budget: Budget): Promise<void> {
    if (this.cache.getRRset(ROOT, Type.NS) || this.now() < this.nextPrime) return;
    // One attempt at a time and, after a failure, not again for 30 s: the hints still work.
    this.nextPrime = this.now() + 30_000;
    for (const h of this.opts.rootHints) {
      if (!this.usableAddress(h.address) || budget.queries <= 0) continue;
      budget.queries--;
      try {
        const r = await this.transport.query({ address: h.address, port: this.opts.port, name: ROOT, type: Type.NS, timeoutMs: this.opts.upstreamTimeoutMs });
        const ns = r.message.answers.filter((x) => x.type === Type.NS && x.name.length === 1);
        if (r.message.rcode !== Rcode.NOERROR || ns.length === 0) continue;
        this.cache.putRRset(ns, Trust.AuthAnswer);
        cacheGlue(this.cache, r.message, ROOT, ns.map((x) => x.rdata));
        return;
      } catch {
        // try the next hint
      }
    }
  }

  /** NS names and their known addresses of every cached delegation enclosing `name` (for RPZ NSDNAME/NSIP). */
  delegations(name: Name): { nsNames: Name[]; nsAddresses: string[] } {
    const nsNames: Name[] = [];
    const nsAddresses: string[] = [];
    for (let z = name; z.length > 1; z = parentName(z)) {
      for (const r of this.cache.getRRset(z, Type.NS) ?? []) {
        nsNames.push(r.rdata);
        nsAddresses.push(...this.cachedAddresses(r.rdata));
      }
    }
    return { nsNames, nsAddresses };
  }
}

/** What an RD=0 query gets when the cache cannot finish its chain. */
function notInCache(u: Unfinished): Resolved {
  if (u.answers.length) return { rcode: Rcode.NOERROR, answers: u.answers, authority: [], names: u.names };
  return { rcode: Rcode.REFUSED, answers: [], authority: [], names: u.names, ede: { code: Ede.OTHER, text: 'not in cache (recursion not desired)' } };
}

export function rdataToIp(r: Record): string {
  if (r.type === Type.A) return `${r.rdata[0]}.${r.rdata[1]}.${r.rdata[2]}.${r.rdata[3]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(r.rdata.readUInt16BE(i).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** What the validator judges of a step. */
function evidenceOf(step: Exclude<Step, { kind: 'servfail' }>, qname: Name, qtype: number): Evidence {
  const base = { qname, qtype, sigs: step.sigs, proof: step.proof, zone: step.zone };
  switch (step.kind) {
    case 'answer':
      return { kind: 'answer', records: step.records, soa: [], ...base };
    case 'cname':
      // A synthesised CNAME is judged through its DNAME (RFC 6672 5.3.1).
      return { kind: 'cname', records: [step.dname ?? step.record], soa: [], ...base };
    default:
      return { kind: step.kind, records: [], soa: step.soa, ...base };
  }
}

/** RRSIGs among `records` covering `type` at `owner`. */
function sigsFor(records: readonly Record[], owner: Name, type: number): Record[] {
  return records.filter((r) => r.type === Type.RRSIG && r.rdata.length >= 2 && r.rdata.readUInt16BE(0) === type && namesEqual(r.name, owner));
}

/** Authority records that prove a negative or wildcard answer: NSEC, NSEC3, and the RRSIGs of those and of the SOA. */
function proofOf(authority: readonly Record[]): Record[] {
  return authority.filter((r) => {
    if (r.type === Type.NSEC || r.type === Type.NSEC3) return true;
    if (r.type !== Type.RRSIG || r.rdata.length < 2) return false;
    const covered = r.rdata.readUInt16BE(0);
    return covered === Type.NSEC || covered === Type.NSEC3 || covered === Type.SOA;
  });
}

/** Cache in-bailiwick address records for the NS names of a referral (RFC 1034 4.2.1 glue). */
function cacheGlue(cache: ResolverCache, m: Message, zone: Name, nsNames: Name[]): void {
  for (const ns of nsNames) {
    if (!isSubdomain(ns, zone)) continue; // out-of-bailiwick glue is never trusted
    for (const t of ADDRESS_TYPES) {
      const rrs = m.additionals.filter((r) => r.type === t && r.class === Class.IN && namesEqual(r.name, ns));
      if (rrs.length) cache.putRRset(rrs, Trust.Glue);
    }
  }
}

class Resolution {
  private state: State = 'INIT_REQUEST';
  private zone: Name = ROOT;
  private nsNames: Name[] = [];
  private candidates: string[] = [];
  private tried = new Set<string>();
  /** Timeouts per address at this zone cut: a lost datagram is retried (bounded by MAX_TRIES and the budget). */
  private timeouts = new Map<string, number>();
  private minimise: boolean;
  /** The name sent in the current query (QNAME minimisation, RFC 9156). */
  private sname: Name;
  private stype: number;
  private reply?: Message;
  private replyFrom = '';
  private result?: Step;
  private depth = 0;
  private lastError = '';
  /** The servers a forward or stub zone gives, by candidate key (`address#port`); empty at an ordinary cut. */
  private fixed = new Map<string, Upstream>();
  /** The current servers are forwarders (recursion desired, their answer final); and the zone they serve. */
  private forwarding?: Route;

  constructor(private readonly it: Iterator, private readonly name: Name, private readonly type: number, private readonly budget: Budget, private readonly noForward = false) {
    this.minimise = it.options.qnameMinimisation;
    this.sname = name;
    this.stype = type;
  }

  /** A line of the resolution's trace (`verdict ctl trace`-style debugging); the text is only built when tracing. */
  private trace(msg: string | (() => string)): void {
    if (!this.budget.trace) return;
    this.budget.trace.push(`${this.state} ${nameToText(this.name)}/${this.type}: ${typeof msg === 'string' ? msg : msg()}`);
  }

  private finish(step: Step): void {
    this.result = step;
    this.state = 'FINISHED';
  }

  private servfail(text: string, code: number = Ede.NO_REACHABLE_AUTHORITY): void {
    this.finish({ kind: 'servfail', ede: { code, text } });
  }

  async run(): Promise<Step> {
    for (let guard = 0; guard < 10_000; guard++) {
      switch (this.state) {
        case 'INIT_REQUEST':
          await this.initRequest();
          break;
        case 'QUERY_TARGETS':
          await this.queryTargets();
          break;
        case 'QUERY_RESP':
          this.queryResp();
          break;
        case 'FINISHED':
          return this.result!;
      }
    }
    return { kind: 'servfail', ede: { code: Ede.OTHER, text: 'iterator did not finish' } };
  }

  private async initRequest(): Promise<void> {
    let cut = this.it.closestCut(this.name, this.type, this.noForward);
    // A forward or stub zone needs nothing from the root: not even priming leaves for its names.
    if (!cut.route) {
      await this.it.prime(this.budget);
      cut = this.it.closestCut(this.name, this.type, this.noForward);
    }
    this.setCut(cut);
    this.state = 'QUERY_TARGETS';
  }

  private setCut(cut: Cut): void {
    this.zone = cut.zone;
    this.nsNames = cut.ns.slice(0, Math.max(this.it.options.maxNsPerReferral, 1));
    this.candidates = [];
    this.tried.clear();
    this.timeouts.clear();
    this.fixed = new Map((cut.route?.servers ?? []).map((u) => [`${u.address}#${u.port}`, u]));
    this.forwarding = cut.route?.kind === 'forward' ? cut.route : undefined;
    this.chooseSname();
    const route = cut.route;
    if (route) this.trace(() => `${route.kind} zone ${route.label}: ${[...this.fixed.keys()].join(' ')}`);
    else this.trace(() => `zone cut ${nameToText(this.zone)} NS ${this.nsNames.map(nameToText).join(' ')}`);
  }

  /** RFC 9156 2.3: ask for one more label than the zone cut, with QTYPE A (never of a forwarder: it resolves the name itself). */
  private chooseSname(): void {
    const want = labelCount(this.zone) + 1;
    const have = labelCount(this.name);
    if (this.minimise && !this.forwarding && want < have) {
      this.sname = parentName(this.name, have - want);
      this.stype = Type.A;
    } else {
      this.sname = this.name;
      this.stype = this.type;
    }
  }

  private async addresses(): Promise<string[]> {
    // The servers of a forward or stub zone are the operator's: used as given, loopback included.
    if (this.fixed.size) return [...this.fixed.keys()];
    const out: string[] = [];
    const glueless: Name[] = [];
    for (const ns of this.nsNames) {
      const a = this.it.cachedAddresses(ns).filter((x) => this.it.usableAddress(x));
      if (a.length) out.push(...a);
      else glueless.push(ns);
    }
    if (out.filter((a) => !this.tried.has(a)).length > 0) return out;
    // Glueless delegation: resolve the NS names themselves (bounded, cycle-safe). The name
    // being resolved counts as in progress too: a cycle back to it would wait on itself.
    const self = nameKey(this.name);
    const selfAdded = !this.budget.resolvingNs.has(self);
    if (selfAdded) this.budget.resolvingNs.add(self);
    try {
      await this.resolveGlueless(glueless, out);
    } finally {
      if (selfAdded) this.budget.resolvingNs.delete(self);
    }
    return out.filter((x) => this.it.usableAddress(x));
  }

  private async resolveGlueless(glueless: Name[], out: string[]): Promise<void> {
    for (const ns of glueless) {
      const k = nameKey(ns);
      if (this.budget.resolvingNs.has(k) || this.budget.queries <= 0) continue;
      if (isSubdomain(ns, this.name) && isSubdomain(ns, this.zone) && !namesEqual(this.zone, ROOT)) continue; // needs glue we lack
      if (this.budget.nsLookups <= 0) {
        this.lastError = 'too many NS names without glue for one query';
        break;
      }
      this.budget.nsLookups--;
      this.budget.resolvingNs.add(k);
      try {
        const r = await this.it.chase(ns, Type.A, this.budget);
        for (const rr of r.answers) if (rr.type === Type.A && namesEqual(rr.name, r.names[r.names.length - 1]!)) out.push(rdataToIp(rr));
      } catch {
        // that NS name is unusable; try the next
      } finally {
        this.budget.resolvingNs.delete(k);
      }
      if (out.some((a) => !this.tried.has(a) && this.it.usableAddress(a))) break;
    }
  }

  private async queryTargets(): Promise<void> {
    if (this.budget.queries <= 0) return this.servfail('query budget exhausted', Ede.OTHER);
    if (this.it.clock() > this.budget.deadline) return this.servfail('resolution timed out', Ede.OTHER);
    if (this.candidates.filter((a) => !this.tried.has(a)).length === 0) {
      this.candidates = this.it.sel.order(await this.addresses());
    }
    // Every address asked once: ask again those whose only fault was a timeout (packet loss).
    const address = this.candidates.find((a) => !this.tried.has(a)) ??
      this.candidates.find((a) => { const t = this.timeouts.get(a); return t !== undefined && t < MAX_TRIES; });
    if (!address) return this.servfail(`no reachable authority for ${nameToText(this.zone)}${this.lastError ? ': ' + this.lastError : ''}`);
    // Again: resolving glueless NS names above may have spent the budget or the time.
    if (this.budget.queries <= 0) return this.servfail('query budget exhausted', Ede.OTHER);
    if (this.it.clock() > this.budget.deadline) return this.servfail('resolution timed out', Ede.OTHER);
    this.tried.add(address);
    this.budget.queries--;
    const timeoutMs = Math.max(1, Math.min(this.it.options.upstreamTimeoutMs, this.budget.deadline - this.it.clock()));
    this.trace(() => `ask ${address} ${nameToText(this.sname)}/${this.stype}`);
    const fixed = this.fixed.get(address);
    if (fixed) this.it.options.onRoute?.(this.forwarding ? 'forward' : 'stub', nameToText(this.zone));
    try {
      const r = await this.it.net.query(fixed
        ? { address: fixed.address, port: fixed.port, name: this.sname, type: this.stype, timeoutMs, ...(this.forwarding ? { rd: true } : {}), ...(fixed.tls ? { tls: fixed.tls } : {}) }
        : { address, port: this.it.options.port, name: this.sname, type: this.stype, timeoutMs });
      this.it.sel.recordRtt(address, r.rttMs);
      this.reply = r.message;
      this.replyFrom = address;
      this.state = 'QUERY_RESP';
    } catch (e) {
      if (e instanceof UpstreamError && e.code === 'VERDICT_ERR_TIMEOUT') {
        this.it.sel.recordTimeout(address);
        this.timeouts.set(address, (this.timeouts.get(address) ?? 0) + 1);
      } else {
        this.it.sel.recordBadAnswer(address);
        this.timeouts.delete(address);
      }
      this.lastError = (e as Error).message;
      this.trace(this.lastError);
    }
  }

  private lame(why: string): void {
    this.it.sel.recordBadAnswer(this.replyFrom);
    this.timeouts.delete(this.replyFrom);
    this.lastError = `${this.replyFrom} ${why}`;
    this.trace(this.lastError);
    this.state = 'QUERY_TARGETS';
  }

  /** Records the server is entitled to tell us about: those at or below its zone. */
  private inZone(records: Record[]): Record[] {
    return records.filter((r) => r.class === Class.IN && isSubdomain(r.name, this.zone));
  }

  private queryResp(): void {
    const m = this.reply!;
    const minimised = !namesEqual(this.sname, this.name);
    const rcode = m.rcode;
    if (rcode !== Rcode.NOERROR && rcode !== Rcode.NXDOMAIN) return this.lame(`answered ${rcode}`);
    const answers = this.inZone(m.answers);
    const authority = this.inZone(m.authorities);
    const soa = authority.filter((r) => r.type === Type.SOA);
    const ns = authority.filter((r) => r.type === Type.NS);

    if (this.forwarding) {
      // A forwarder resolves: an empty reply with NS and no SOA is a referral, so it did not recurse for us.
      if (answers.length === 0 && ns.length && soa.length === 0) return this.lame('sent a referral, not an answer (does it offer recursion to us?)');
    } else if (answers.length === 0 && ns.length && !m.aa) {
      // Referral: NS for a zone strictly below the current cut that encloses our name (RFC 1034 4.3.2).
      const child = ns[0]!.name;
      const nsSet = ns.filter((r) => namesEqual(r.name, child));
      if (labelCount(child) <= labelCount(this.zone) || !isSubdomain(this.sname, child)) {
        return this.lame(`sent a referral to ${nameToText(child)} that does not lead down from ${nameToText(this.zone)}`);
      }
      if (++this.depth > this.it.options.maxDepth) return this.servfail('delegation chain too deep', Ede.OTHER);
      this.it.cache.putRRset(nsSet, Trust.Authority);
      cacheGlue(this.it.cache, m, this.zone, nsSet.map((r) => r.rdata));
      // RFC 4035 3.1.4: a signed parent says in the referral whether the child is signed: keep
      // its DS (authoritative parent data), or the NSEC/NSEC3 proof of no DS, to spare a DS query.
      const ds = authority.filter((r) => r.type === Type.DS && namesEqual(r.name, child));
      if (ds.length) this.it.cache.putRRset(ds, Trust.Answer, sigsFor(authority, child, Type.DS));
      else if (authority.some((r) => r.type === Type.NSEC || r.type === Type.NSEC3)) this.it.cache.putNegative(child, Type.DS, 'nodata', [], proofOf(authority));
      this.trace(() => `referral to ${nameToText(child)}`);
      this.setCut({ zone: child, ns: nsSet.map((r) => r.rdata) });
      this.state = 'QUERY_TARGETS';
      return;
    }

    if (minimised) {
      if (!m.aa && answers.length === 0 && rcode === Rcode.NOERROR) return this.lame('is not authoritative (lame delegation)');
      if (rcode === Rcode.NXDOMAIN) {
        // RFC 9156 2.3 permits stopping here (RFC 8020), but some servers answer NXDOMAIN
        // for empty non-terminals: ask again with the full name, as relaxed resolvers do.
        this.minimise = false;
        this.sname = this.name;
        this.stype = this.type;
        this.tried.delete(this.replyFrom);
        this.trace('NXDOMAIN to a minimised query: retrying with the full name');
        this.state = 'QUERY_TARGETS';
        return;
      }
      // Data, NODATA or an empty non-terminal: no cut at this label; go one label deeper.
      const have = labelCount(this.name);
      const next = labelCount(this.sname) + 1;
      this.sname = next >= have ? this.name : parentName(this.name, have - next);
      this.stype = next >= have ? this.type : Type.A;
      this.tried.delete(this.replyFrom);
      this.state = 'QUERY_TARGETS';
      return;
    }

    // A forwarder's answers are not authoritative (AA=0) and need not be.
    if (!m.aa && answers.length === 0 && !this.forwarding) return this.lame('is not authoritative (lame delegation)');

    const proof = proofOf(authority);
    const proven = (sigs: Record[], p: Record[] = proof): Proven => ({ sigs, proof: p, zone: this.zone, security: Security.Unchecked });
    if (rcode === Rcode.NXDOMAIN) {
      // The DS of a forward or stub zone's apex, asked of the public tree, which may not know the
      // name: kept as "no DS" only, never as an NXDOMAIN that would shadow the zone's own data.
      const privateApex = this.type === Type.DS && this.it.zoneRoutes.route(this.name) !== undefined;
      this.it.cache.putNegative(this.name, this.type, privateApex ? 'nodata' : 'nxdomain', soa, proof);
      // A CNAME chain inside the answer still counts up to where it ends.
      const cname = this.chainStep(answers);
      return this.finish(cname ?? { kind: 'nxdomain', soa, ...proven([]) });
    }

    const exact = answers.filter((r) => namesEqual(r.name, this.name) && (r.type === this.type || this.type === Type.ANY));
    if (exact.length) {
      const trust = m.aa ? Trust.AuthAnswer : Trust.Answer;
      if (this.type === Type.ANY) {
        for (const set of groupRRsets(exact)) this.it.cache.putRRset(set, trust);
        return this.finish({ kind: 'answer', records: exact, ...proven([], []) });
      }
      const sigs = sigsFor(answers, this.name, this.type);
      // A wildcard expansion's proof (RFC 4035 5.3.4) exists only in this reply: it is cached with
      // the RRSIGs, and fromCache() tells them apart again.
      const wildcardProof = proof.filter((r) => r.type !== Type.RRSIG || !r.name.equals(this.name));
      this.it.cache.putRRset(exact, trust, [...sigs, ...wildcardProof]);
      return this.finish({ kind: 'answer', records: exact, ...proven(sigs, wildcardProof) });
    }
    const step = this.chainStep(answers);
    if (step) return this.finish(step);
    if (answers.length === 0) {
      this.it.cache.putNegative(this.name, this.type, 'nodata', soa, proof);
      return this.finish({ kind: 'nodata', soa, ...proven([]) });
    }
    return this.lame('answered with records that do not match the question');
  }

  /** CNAME at the name, or a DNAME above it (RFC 6672 3.2); cache the rest of an in-zone chain. */
  private chainStep(answers: Record[]): Step | undefined {
    const trust = this.reply!.aa ? Trust.AuthAnswer : Trust.Answer;
    // The server may add the chain's further records; cache those within its zone so
    // the next hops are answered from the cache rather than asked again.
    const dname = answers.find((r) => r.type === Type.DNAME && isSubdomain(this.name, r.name) && !namesEqual(this.name, r.name));
    // A CNAME the server synthesised from a DNAME is not cached: the DNAME is the data (RFC 6672 3.4).
    const synthesised = (r: Record) => dname !== undefined && r.type === Type.CNAME && isSubdomain(r.name, dname.name);
    for (const set of groupRRsets(answers.filter((r) => !synthesised(r) && r.type !== Type.RRSIG))) {
      this.it.cache.putRRset(set, trust, sigsFor(answers, set[0]!.name, set[0]!.type));
    }
    const proven = (owner: Name, type: number): Proven => ({ sigs: sigsFor(answers, owner, type), proof: [], zone: this.zone, security: Security.Unchecked });
    if (dname) {
      let target: Name;
      try {
        target = replaceSuffix(this.name, dname.name, dname.rdata);
      } catch {
        return { kind: 'servfail', ede: { code: Ede.OTHER, text: 'DNAME substitution overflows a name (YXDOMAIN)' } };
      }
      const synth: Record = { name: this.name, type: Type.CNAME, class: Class.IN, ttl: dname.ttl, rdata: target };
      return { kind: 'cname', record: synth, dname, ...proven(dname.name, Type.DNAME) };
    }
    const cname = answers.find((r) => r.type === Type.CNAME && namesEqual(r.name, this.name));
    if (cname) return { kind: 'cname', record: cname, ...proven(cname.name, Type.CNAME) };
    return undefined;
  }
}
