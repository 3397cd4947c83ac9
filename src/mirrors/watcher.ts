/**
 * The mirror watcher: fed by the resolver's own traffic, it scores names as
 * candidate mirrors of blocked sites, for a person to take to court. It never
 * blocks anything: it has no path to policy, and nothing it finds is enforced
 * until an order file with `status: active` names it (shared/ORDER-2013.md:
 * the court refused automatic blocking of mirrors found by software).
 *
 * What it keeps (aggregated, never a client address):
 * - per blocked name listed in an order (a "profile"): the addresses it
 *   really resolved to (Verdict resolves a blocked name before rewriting the
 *   answer) and the name servers of its zone;
 * - per other registrable domain (a "tracked name"): query count, first and
 *   last seen, a few addresses, name servers, and CNAMEs into blocked names;
 * - per address and name server, how many tracked names use it (for rarity).
 *
 * Memory is bounded: at most `maxNames` tracked names, in two LRU tiers. Names
 * that showed a sign of relation to a blocked name (a rare shared address or
 * name server, a CNAME into it, the same or normalised-same label) live in
 * the "suspect" tier (at most a quarter of maxNames) so that a flood of
 * unrelated names cannot push them out; the rest share the other tier. Every
 * list inside an entry is capped, and the rarity counts only count entries.
 *
 * The hot path (`observe`) does one registrable-domain computation and one map
 * lookup per query; the answer, name servers and CNAMEs of a name are sampled
 * at most once per `sampleIntervalMs` (default one minute). Scoring (string
 * similarity, rarity) happens in `snapshot()`, off the hot path.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomically } from '../atomic-file.js';
import { Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { isSubdomain, nameFromText } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import type { Order } from '../rpz/orders/schema.js';
import { orderState } from '../rpz/orders/state.js';
import type { OrderStateName } from '../rpz/orders/state.js';
import { combine, points, rarity } from './score.js';
import type { SignalKind } from './score.js';
import { labelSimilarity, normalizeLabel } from './similarity.js';
import { PublicSuffixes, splitRegistrable, textFrom } from './suffix.js';

/** A name the orders list (lowercase, no trailing dot) and the orders listing it. */
export interface BlockedName {
  name: string;
  orders: readonly string[];
}

/** One resolved client query, as the resolver saw it after recursion. */
export interface ObserveEvent {
  /** The query name, wire form. */
  qname: Name;
  qtype: number;
  /**
   * The real resolved answer (CNAME/DNAME chain, then the final RRset), even when policy rewrote
   * what the client got. Empty (with empty nsNames) for an answer-cache hit: the query only counts.
   */
  answers: readonly Record[];
  /** Name servers of the zone(s) enclosing qname, deepest first (the iterator's `delegations`, without the TLD's). */
  nsNames: readonly Name[];
  nsAddresses: readonly string[];
  /** Set when policy rewrote the answer; the orders named by the rule, if any. */
  blocked?: { orderIds: readonly string[] };
}

export interface MirrorWatcherOptions {
  blocked: readonly BlockedName[];
  /** Most tracked names (bounded memory). */
  maxNames: number;
  /** Milliseconds since the epoch (injected clock). */
  now?: () => number;
  /** Sample a name's answer at most this often (default 60,000 ms; 0: every query). */
  sampleIntervalMs?: number;
  suffixes?: PublicSuffixes;
}

export interface Signal {
  kind: SignalKind;
  /** Points this signal contributes (0..its weight). */
  points: number;
  /** The blocked name it relates the candidate to. */
  blocked: string;
  detail: string;
}

export interface Candidate {
  /** Registrable domain, lowercase, no trailing dot. */
  name: string;
  /** 0..100 */
  score: number;
  /** The blocked name it most resembles, and the orders listing that name. */
  mirrorOf: string;
  orders: string[];
  /** The evidence towards `mirrorOf`, strongest first. */
  signals: Signal[];
  /** Every blocked name it relates to, with the score towards each, best first. */
  related: { blocked: string; score: number; orders: string[] }[];
  queries: number;
  firstSeen: string;
  lastSeen: string;
  addresses: string[];
  nameservers: string[];
  nameserverAddresses: string[];
  cnameInto: string[];
}

export interface BlockedEvidence {
  name: string;
  orders: string[];
  queries: number;
  firstSeen?: string;
  lastSeen?: string;
  addresses: string[];
  nameservers: string[];
}

export interface MirrorSnapshot {
  format: 'verdict-mirrors-snapshot';
  version: 1;
  generatedAt: string;
  /** Observations since (start of the watcher, or of the state it loaded). */
  since: string;
  stats: WatcherStats;
  blocked: BlockedEvidence[];
  /** Ranked by score, then queries, then name. */
  candidates: Candidate[];
}

export interface WatcherStats {
  maxNames: number;
  trackedNames: number;
  suspectNames: number;
  blockedNames: number;
  indexedAddresses: number;
  indexedNameservers: number;
  queries: number;
  blockedQueries: number;
  evicted: number;
}

export class MirrorStateError extends Error {
  readonly code = 'VERDICT_ERR_MIRRORS_STATE';
}

const MAX_ADDRS = 8;
const MAX_NS = 8;
const MAX_CNAME = 4;
const MAX_PROFILE_ADDRS = 16;
/** A shared address or name server makes a name a suspect only while few names use it (a CDN edge does not). */
const SUSPECT_MAX_DF = 8;

interface Entry {
  name: string;
  label: string;
  suffix: string;
  queries: number;
  first: number;
  last: number;
  sampled: number;
  addrs: string[];
  ns: string[];
  nsAddrs: string[];
  cnameInto: string[];
  suspect: boolean;
  /** LRU neighbours in its tier (older, newer). */
  older: Entry | undefined;
  newer: Entry | undefined;
}

/**
 * One LRU tier: an intrusive doubly-linked list, oldest first. (A Map's
 * insertion order would do, but finding its oldest entry walks over every
 * deleted slot V8 has not compacted yet: O(n) per eviction under churn.)
 */
class Tier {
  size = 0;
  private oldestEntry: Entry | undefined;
  private newestEntry: Entry | undefined;

  get oldest(): Entry | undefined {
    return this.oldestEntry;
  }

  append(e: Entry): void {
    e.older = this.newestEntry;
    e.newer = undefined;
    if (this.newestEntry) this.newestEntry.newer = e;
    else this.oldestEntry = e;
    this.newestEntry = e;
    this.size++;
  }

  unlink(e: Entry): void {
    if (e.older) e.older.newer = e.newer;
    else this.oldestEntry = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.newestEntry = e.older;
    e.older = e.newer = undefined;
    this.size--;
  }

  touch(e: Entry): void {
    if (this.newestEntry === e) return;
    this.unlink(e);
    this.append(e);
  }

  *values(): IterableIterator<Entry> {
    for (let e = this.oldestEntry; e; e = e.newer) yield e;
  }
}

interface Profile {
  name: string;
  wire: Name;
  label: string;
  suffix: string;
  orders: string[];
  queries: number;
  first: number;
  last: number;
  sampled: number;
  addrs: string[];
  ns: string[];
  nsAddrs: string[];
}

function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function dec(m: Map<string, number>, k: string): void {
  const v = (m.get(k) ?? 0) - 1;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
}

/** Append `item` unless present; past `max`, the oldest goes (and its count in `df`). */
function addBounded(list: string[], item: string, max: number, df?: Map<string, number>): void {
  if (list.includes(item)) return;
  if (list.length >= max) {
    const old = list.shift()!;
    if (df) dec(df, old);
  }
  list.push(item);
  if (df) inc(df, item);
}

function ipText(r: Record): string | undefined {
  const d = r.rdata;
  if (r.type === Type.A && d.length === 4) return `${d[0]}.${d[1]}.${d[2]}.${d[3]}`;
  if (r.type !== Type.AAAA || d.length !== 16) return undefined;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(d.readUInt16BE(i));
  // RFC 5952: compress the longest run of two or more zero groups.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * The names the watcher treats as blocked, from orders: those of orders
 * decided and not over at `now` (active, pending or suspended; not drafts,
 * expired or lifted orders). A name in several orders lists them all.
 */
export function blockedFromOrders(orders: readonly Order[], now: Date, states: readonly OrderStateName[] = ['active', 'pending', 'suspended']): BlockedName[] {
  const byName = new Map<string, string[]>();
  for (const o of orders) {
    if (!states.includes(orderState(o, now).state)) continue;
    for (const n of o.names) {
      const l = byName.get(n);
      if (l) { if (!l.includes(o.id)) l.push(o.id); } else byName.set(n, [o.id]);
    }
  }
  return [...byName].map(([name, ids]) => ({ name, orders: ids }));
}

export class MirrorWatcher {
  readonly maxNames: number;
  private readonly now: () => number;
  private readonly sampleMs: number;
  private readonly suffixes: PublicSuffixes;
  private readonly suspectCap: number;
  /** Every tracked name; each is in exactly one LRU tier (recency of its last sample). */
  private readonly entries = new Map<string, Entry>();
  private readonly plain = new Tier();
  private readonly suspects = new Tier();
  /** Distinct tracked names per address / name server / name-server address. */
  private readonly addrDf = new Map<string, number>();
  private readonly nsDf = new Map<string, number>();
  private readonly nsAddrDf = new Map<string, number>();
  // Blocked names and what was learnt about them.
  private profiles = new Map<string, Profile>();
  private byRegistrable = new Map<string, Profile[]>();
  /** Listed names that are public suffixes themselves (rare): checked by walking up. */
  private aboveRegistrable: Profile[] = [];
  private blockedLabels = new Set<string>();
  private blockedNormLabels = new Set<string>();
  private readonly blockedAddr = new Map<string, number>();
  private readonly blockedNs = new Map<string, number>();
  private since: number;
  private counters = { queries: 0, blockedQueries: 0, evicted: 0 };

  constructor(opts: MirrorWatcherOptions) {
    if (!Number.isInteger(opts.maxNames) || opts.maxNames < 1) throw new RangeError('maxNames must be a positive integer');
    this.maxNames = opts.maxNames;
    this.now = opts.now ?? Date.now;
    this.sampleMs = opts.sampleIntervalMs ?? 60_000;
    this.suffixes = opts.suffixes ?? PublicSuffixes.builtIn();
    this.suspectCap = Math.max(1, Math.floor(opts.maxNames / 4));
    this.since = this.now();
    this.setBlocked(opts.blocked);
  }

  /**
   * Replace the set of blocked names (on reload). What was learnt about a name
   * still listed is kept; tracked names that are now blocked stop being
   * candidates and are dropped.
   */
  setBlocked(blocked: readonly BlockedName[]): void {
    for (const p of this.profiles.values()) this.forgetProfileIndex(p);
    const old = this.profiles;
    this.profiles = new Map();
    this.byRegistrable = new Map();
    this.aboveRegistrable = [];
    this.blockedLabels = new Set();
    this.blockedNormLabels = new Set();
    for (const b of blocked) {
      const name = b.name.toLowerCase().replace(/\.$/, '');
      if (name === '') continue;
      const prev = this.profiles.get(name);
      if (prev) {
        for (const id of b.orders) if (!prev.orders.includes(id)) prev.orders.push(id);
        continue;
      }
      let wire: Name;
      try {
        wire = nameFromText(name + '.');
      } catch {
        continue; // not a name we could ever see in a query
      }
      const reg = this.suffixes.registrable(name);
      const { label, suffix } = splitRegistrable(reg);
      const was = old.get(name);
      const p: Profile = was
        ? { ...was, orders: [...b.orders] }
        : { name, wire, label, suffix, orders: [...b.orders], queries: 0, first: 0, last: 0, sampled: -Infinity, addrs: [], ns: [], nsAddrs: [] };
      this.profiles.set(name, p);
      this.indexProfile(p);
      if (reg === name && this.suffixes.isSuffix(name)) this.aboveRegistrable.push(p);
      else {
        const l = this.byRegistrable.get(reg);
        if (l) l.push(p); else this.byRegistrable.set(reg, [p]);
      }
      this.blockedLabels.add(label);
      this.blockedNormLabels.add(normalizeLabel(label));
    }
    for (const e of [...this.entries.values()]) if (this.isBlockedDomain(e.name)) this.remove(e);
  }

  /** Record one resolved query. Never throws; cheap (see the file comment). */
  observe(ev: ObserveEvent): void {
    try {
      this.counters.queries++;
      const reg = this.suffixes.registrableOf(ev.qname);
      if (reg.isSuffix) return; // a TLD or the like: no site to mirror
      const t = this.now();
      const profile = this.profileFor(ev.qname, reg.name);
      if (profile) {
        this.counters.blockedQueries++;
        this.learnBlocked(profile, ev, t);
        return;
      }
      let e = this.entries.get(reg.name);
      if (!e) {
        // Rewritten by a policy that is not a court order (another RPZ feed): not a mirror question.
        if (ev.blocked && !this.chainIntoBlocked(ev.answers)) return;
        e = this.insert(reg.name, t);
      }
      e.queries++;
      e.last = t;
      // An event without answer or name servers (an answer-cache hit) only counts.
      if (t - e.sampled < this.sampleMs || (ev.answers.length === 0 && ev.nsNames.length === 0)) return;
      e.sampled = t;
      this.sample(e, ev);
    } catch {
      // The watcher must never disturb an answer.
    }
  }

  stats(): WatcherStats {
    return {
      maxNames: this.maxNames,
      trackedNames: this.entries.size,
      suspectNames: this.suspects.size,
      blockedNames: this.profiles.size,
      indexedAddresses: this.addrDf.size,
      indexedNameservers: this.nsDf.size + this.nsAddrDf.size,
      ...this.counters,
    };
  }

  /** Candidates scoring at least `minScore` (default: any signal), ranked; JSON-serialisable. */
  snapshot(opts: { minScore?: number; limit?: number } = {}): MirrorSnapshot {
    const minScore = opts.minScore ?? 0.1;
    const byAddr = new Map<string, Profile[]>();
    const byNs = new Map<string, Profile[]>();
    const byNsAddr = new Map<string, Profile[]>();
    const byLabel = new Map<string, Profile[]>();
    const push = (m: Map<string, Profile[]>, k: string, p: Profile) => {
      const l = m.get(k);
      if (l) { if (!l.includes(p)) l.push(p); } else m.set(k, [p]);
    };
    for (const p of this.profiles.values()) {
      for (const a of p.addrs) push(byAddr, a, p);
      for (const n of p.ns) push(byNs, n, p);
      for (const a of p.nsAddrs) push(byNsAddr, a, p);
      push(byLabel, p.label, p);
    }
    const candidates: Candidate[] = [];
    for (const e of [...this.suspects.values(), ...this.plain.values()]) {
      if (this.isBlockedDomain(e.name)) continue;
      const signals = new Map<Profile, Signal[]>();
      const add = (p: Profile, kind: SignalKind, strength: number, detail: string) => {
        const pts = points(kind, strength);
        if (pts <= 0) return;
        const l = signals.get(p);
        const s: Signal = { kind, points: pts, blocked: p.name, detail };
        if (l) l.push(s); else signals.set(p, [s]);
      };
      for (const id of e.cnameInto) {
        const p = this.profiles.get(id);
        if (p) add(p, 'cname-into-blocked', 1, `${e.name} is an alias (CNAME) into ${p.name}`);
      }
      const seenAddr = new Map<Profile, { a: string; r: number; df: number }>();
      for (const a of e.addrs) {
        const df = this.addrDf.get(a) ?? 1;
        const r = rarity(df);
        for (const p of byAddr.get(a) ?? []) {
          const best = seenAddr.get(p);
          if (!best || r > best.r) seenAddr.set(p, { a, r, df });
        }
      }
      for (const [p, { a, r, df }] of seenAddr) {
        add(p, 'shared-address', r, `resolves to ${a}, an address ${p.name} resolved to; ${df} observed name(s) use it (rarity ${r.toFixed(2)})`);
      }
      const nsRelated = new Set<Profile>();
      for (const n of e.ns) for (const p of byNs.get(n) ?? []) nsRelated.add(p);
      for (const a of e.nsAddrs) for (const p of byNsAddr.get(a) ?? []) nsRelated.add(p);
      for (const p of nsRelated) {
        const share = (mine: string[], theirs: string[], df: Map<string, number>) => {
          const shared = mine.filter((x) => theirs.includes(x));
          const strength = theirs.length ? shared.reduce((s, x) => s + rarity(df.get(x) ?? 1), 0) / theirs.length : 0;
          return { shared, strength };
        };
        const byName = share(e.ns, p.ns, this.nsDf);
        const byAddress = share(e.nsAddrs, p.nsAddrs, this.nsAddrDf);
        const use = byName.strength >= byAddress.strength ? { ...byName, what: 'name servers', df: this.nsDf, all: p.ns } : { ...byAddress, what: 'name server addresses', df: this.nsAddrDf, all: p.nsAddrs };
        const users = use.shared.map((x) => use.df.get(x) ?? 1);
        add(p, 'shared-nameservers', use.strength,
          `shares ${use.shared.length} of ${p.name}'s ${use.all.length} ${use.what} (${use.shared.join(', ')}); used by ${Math.min(...users)}-${Math.max(...users)} observed name(s)`);
      }
      for (const p of byLabel.get(e.label) ?? []) {
        if (p.suffix !== e.suffix) add(p, 'same-label-other-tld', 1, `"${e.label}" under .${e.suffix}, as ${p.name} under .${p.suffix}`);
      }
      for (const [label, ps] of byLabel) {
        const m = labelSimilarity(e.label, label);
        if (!m) continue;
        for (const p of ps) add(p, 'similar-label', m.similarity, `label "${e.label}" close to "${label}" of ${p.name} (${m.how})`);
      }
      if (signals.size === 0) continue;
      const related = [...signals].map(([p, s]) => ({ p, s: s.sort((a, b) => b.points - a.points), score: combine(s.map((x) => x.points)) }))
        .sort((a, b) => b.score - a.score || b.p.queries - a.p.queries || (a.p.name < b.p.name ? -1 : 1));
      const best = related[0]!;
      if (best.score < minScore) continue;
      candidates.push({
        name: e.name,
        score: best.score,
        mirrorOf: best.p.name,
        orders: [...best.p.orders],
        signals: best.s,
        related: related.map((r) => ({ blocked: r.p.name, score: r.score, orders: [...r.p.orders] })),
        queries: e.queries,
        firstSeen: iso(e.first),
        lastSeen: iso(e.last),
        addresses: [...e.addrs],
        nameservers: [...e.ns],
        nameserverAddresses: [...e.nsAddrs],
        cnameInto: [...e.cnameInto],
      });
    }
    candidates.sort((a, b) => b.score - a.score || b.queries - a.queries || (a.name < b.name ? -1 : 1));
    const blocked: BlockedEvidence[] = [...this.profiles.values()].filter((p) => p.queries > 0).map((p) => ({
      name: p.name, orders: [...p.orders], queries: p.queries, firstSeen: iso(p.first), lastSeen: iso(p.last),
      addresses: [...p.addrs], nameservers: [...p.ns],
    }));
    return {
      format: 'verdict-mirrors-snapshot',
      version: 1,
      generatedAt: iso(this.now()),
      since: iso(this.since),
      stats: this.stats(),
      blocked,
      candidates: opts.limit !== undefined ? candidates.slice(0, opts.limit) : candidates,
    };
  }

  /** Write the state (and a snapshot for readers) to `path`: a temporary file beside it, then rename (atomic). */
  save(path: string): void {
    const entries = [...this.entries.values()].sort((a, b) => a.last - b.last);
    const state = {
      format: 'verdict-mirrors-state',
      version: 1,
      savedAt: iso(this.now()),
      since: this.since,
      counters: this.counters,
      names: entries.map((e) => ({
        name: e.name, queries: e.queries, first: e.first, last: e.last,
        addrs: e.addrs, ns: e.ns, nsAddrs: e.nsAddrs, cnameInto: e.cnameInto, suspect: e.suspect,
      })),
      blocked: [...this.profiles.values()].filter((p) => p.queries > 0).map((p) => ({
        name: p.name, queries: p.queries, first: p.first, last: p.last, addrs: p.addrs, ns: p.ns, nsAddrs: p.nsAddrs,
      })),
      snapshot: this.snapshot(),
    };
    writeFileAtomically(path, JSON.stringify(state) + '\n', { mode: 0o600, mkdir: true });
  }

  /**
   * Merge the state saved at `path` into this watcher (at start, or to report
   * on it). Returns false when there is no such file; throws MirrorStateError
   * when it is not a state file. Names beyond maxNames are dropped, oldest first.
   */
  load(path: string): boolean {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new MirrorStateError(`${path}: cannot read: ${(e as Error).message}`);
    }
    let v: SavedState;
    try {
      v = JSON.parse(text) as SavedState;
    } catch (e) {
      throw new MirrorStateError(`${path}: not JSON: ${(e as Error).message}`);
    }
    if (v?.format !== 'verdict-mirrors-state' || v.version !== 1 || !Array.isArray(v.names) || !Array.isArray(v.blocked)) {
      throw new MirrorStateError(`${path}: not a Verdict mirrors state file (format verdict-mirrors-state, version 1)`);
    }
    const strs = (x: unknown, max: number) => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string').slice(-max) : []);
    const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
    if (typeof v.since === 'number' && v.since < this.since) this.since = v.since;
    if (v.counters) {
      this.counters.queries += num(v.counters.queries);
      this.counters.blockedQueries += num(v.counters.blockedQueries);
    }
    for (const s of v.blocked) {
      const p = typeof s?.name === 'string' ? this.profiles.get(s.name) : undefined;
      if (!p) continue;
      this.forgetProfileIndex(p);
      p.queries += num(s.queries);
      p.first = p.first ? Math.min(p.first, num(s.first)) : num(s.first);
      p.last = Math.max(p.last, num(s.last));
      for (const a of strs(s.addrs, MAX_PROFILE_ADDRS)) addBounded(p.addrs, a, MAX_PROFILE_ADDRS);
      for (const n of strs(s.ns, MAX_NS)) addBounded(p.ns, n, MAX_NS);
      for (const a of strs(s.nsAddrs, MAX_NS)) addBounded(p.nsAddrs, a, MAX_NS);
      this.indexProfile(p);
    }
    for (const s of v.names) {
      if (typeof s?.name !== 'string' || s.name === '' || this.isBlockedDomain(s.name)) continue;
      let e = this.entries.get(s.name);
      if (!e) e = this.insert(s.name, num(s.first));
      else e.first = Math.min(e.first, num(s.first));
      e.queries += num(s.queries);
      e.last = Math.max(e.last, num(s.last));
      for (const a of strs(s.addrs, MAX_ADDRS)) addBounded(e.addrs, a, MAX_ADDRS, this.addrDf);
      for (const n of strs(s.ns, MAX_NS)) addBounded(e.ns, n, MAX_NS, this.nsDf);
      for (const a of strs(s.nsAddrs, MAX_NS)) addBounded(e.nsAddrs, a, MAX_NS, this.nsAddrDf);
      for (const c of strs(s.cnameInto, MAX_CNAME)) if (this.profiles.has(c)) addBounded(e.cnameInto, c, MAX_CNAME);
      if (s.suspect === true && !e.suspect) this.promote(e);
    }
    return true;
  }

  // ------------------------------------------------------------ internals

  private isBlockedDomain(domain: string): boolean {
    if (this.byRegistrable.has(domain)) return true;
    if (this.profiles.has(domain)) return true;
    for (const p of this.aboveRegistrable) if (domain.endsWith('.' + p.name)) return true;
    return false;
  }

  /** The profile of the listed name covering `wire` (itself or a parent), if any. */
  private profileFor(wire: Name, registrable: string): Profile | undefined {
    const list = this.byRegistrable.get(registrable);
    if (list) for (const p of list) if (isSubdomain(wire, p.wire)) return p;
    for (const p of this.aboveRegistrable) if (isSubdomain(wire, p.wire)) return p;
    return undefined;
  }

  private profileOfName(wire: Name): Profile | undefined {
    const reg = this.suffixes.registrableOf(wire);
    return reg.name === '' ? undefined : this.profileFor(wire, reg.name);
  }

  private chainIntoBlocked(answers: readonly Record[]): boolean {
    for (const r of answers) if (r.type === Type.CNAME && this.profileOfName(r.rdata)) return true;
    return false;
  }

  private indexProfile(p: Profile): void {
    for (const a of p.addrs) inc(this.blockedAddr, a);
    for (const n of p.ns) inc(this.blockedNs, n);
  }

  private forgetProfileIndex(p: Profile): void {
    for (const a of p.addrs) dec(this.blockedAddr, a);
    for (const n of p.ns) dec(this.blockedNs, n);
  }

  private learnBlocked(p: Profile, ev: ObserveEvent, t: number): void {
    if (p.queries++ === 0) p.first = t;
    p.last = t;
    if (t - p.sampled < this.sampleMs || (ev.answers.length === 0 && ev.nsNames.length === 0)) return;
    p.sampled = t;
    this.forgetProfileIndex(p);
    for (const r of ev.answers) {
      const ip = ipText(r);
      if (ip) addBounded(p.addrs, ip, MAX_PROFILE_ADDRS);
    }
    for (let i = 0; i < ev.nsNames.length && i < MAX_NS; i++) addBounded(p.ns, textFrom(ev.nsNames[i]!, 0), MAX_NS);
    for (let i = 0; i < ev.nsAddresses.length && i < MAX_NS; i++) addBounded(p.nsAddrs, ev.nsAddresses[i]!, MAX_NS);
    this.indexProfile(p);
  }

  private sample(e: Entry, ev: ObserveEvent): void {
    let suspect = false;
    for (const r of ev.answers) {
      if (r.type === Type.CNAME) {
        const p = this.profileOfName(r.rdata);
        if (p) {
          addBounded(e.cnameInto, p.name, MAX_CNAME);
          suspect = true;
        }
        continue;
      }
      const ip = ipText(r);
      if (!ip) continue;
      addBounded(e.addrs, ip, MAX_ADDRS, this.addrDf);
      if (this.blockedAddr.has(ip) && (this.addrDf.get(ip) ?? 0) <= SUSPECT_MAX_DF) suspect = true;
    }
    for (let i = 0; i < ev.nsNames.length && i < MAX_NS; i++) {
      const n = textFrom(ev.nsNames[i]!, 0);
      addBounded(e.ns, n, MAX_NS, this.nsDf);
      if (this.blockedNs.has(n) && (this.nsDf.get(n) ?? 0) <= SUSPECT_MAX_DF) suspect = true;
    }
    for (let i = 0; i < ev.nsAddresses.length && i < MAX_NS; i++) addBounded(e.nsAddrs, ev.nsAddresses[i]!, MAX_NS, this.nsAddrDf);
    if (suspect && !e.suspect) this.promote(e);
    else (e.suspect ? this.suspects : this.plain).touch(e);
  }

  private insert(name: string, t: number): Entry {
    if (this.entries.size >= this.maxNames) {
      this.remove((this.plain.oldest ?? this.suspects.oldest)!);
      this.counters.evicted++;
    }
    const { label, suffix } = splitRegistrable(name);
    const e: Entry = {
      name, label, suffix, queries: 0, first: t, last: t, sampled: -Infinity,
      addrs: [], ns: [], nsAddrs: [], cnameInto: [], suspect: false, older: undefined, newer: undefined,
    };
    this.entries.set(name, e);
    // The same label, or the same once hyphens and trailing digits go: worth keeping through a flood.
    if (this.blockedLabels.has(label) || this.blockedNormLabels.has(normalizeLabel(label))) this.promote(e);
    else this.plain.append(e);
    return e;
  }

  /** Into the suspect tier (from the plain one, or new); its oldest goes when it is full. */
  private promote(e: Entry): void {
    if (!e.suspect && (e.older || e.newer || this.plain.oldest === e)) this.plain.unlink(e);
    if (this.suspects.size >= this.suspectCap) {
      this.remove(this.suspects.oldest!);
      this.counters.evicted++;
    }
    e.suspect = true;
    this.suspects.append(e);
  }

  private remove(e: Entry): void {
    (e.suspect ? this.suspects : this.plain).unlink(e);
    this.entries.delete(e.name);
    for (const a of e.addrs) dec(this.addrDf, a);
    for (const n of e.ns) dec(this.nsDf, n);
    for (const a of e.nsAddrs) dec(this.nsAddrDf, a);
  }
}

interface SavedState {
  format?: string;
  version?: number;
  since?: number;
  counters?: { queries?: number; blockedQueries?: number };
  names: { name?: unknown; queries?: unknown; first?: unknown; last?: unknown; addrs?: unknown; ns?: unknown; nsAddrs?: unknown; cnameInto?: unknown; suspect?: unknown }[];
  blocked: { name?: unknown; queries?: unknown; first?: unknown; last?: unknown; addrs?: unknown; ns?: unknown; nsAddrs?: unknown }[];
}
