/**
 * The resolver's record cache: RRsets, negative answers (RFC 2308) and, through
 * cached NS RRsets and their glue, the delegations. Bounded by entry count
 * (lru-cache); expiry is ours so TTLs count down in answers.
 *
 * With serve-stale (RFC 8767, `maxStaleTtl` > 0) an expired entry is kept up to
 * `maxStaleTtl` seconds past its expiry. The ordinary getters never see it; only
 * `getStale()` does, for the iterator's answer of last resort.
 */
import { LRUCache } from 'lru-cache';
import { Type } from '../../dns/constants.js';
import { Security } from '../../dnssec/security.js';
import type { Ede, Verdict } from '../../dnssec/security.js';
import type { Record } from '../../dns/message.js';
import { Name, nameKey } from '../../dns/name.js';
import { ENTRY_OVERHEAD, pack, u16, u48, writeU48 } from './packed.js';

/** Data ranking (RFC 2181 5.4.1): better data replaces worse, never the reverse while it lives. */
export const enum Trust {
  Glue = 1,
  Authority = 2,
  Answer = 3,
  AuthAnswer = 4,
}

/**
 * An entry is one string (packed.ts): its records in wire form (`encodeRecords`:
 * the RRset and, beside it, its RRSIGs, RFC 4035 3.1.1; or the SOA of a negative
 * answer and its proof, 3.1.3), the EDE text in UTF-8 if any, then a trailer:
 *
 *   u8 kind, u8 security, u8 trust, u16 EDE code (0xffff: none), u16 EDE text bytes,
 *   u48 expires, u48 keep-until, u48 stored (ms since the epoch)
 *
 * `expires`: absolute expiry; `keepUntil`: kept (expired, for serve-stale) until
 * then, equal to `expires` when not kept; `stored`: of two stale entries, the
 * later one is the truth.
 */
type Entry = string;

const enum Kind { RRset = 0, NXDomain = 1, NoData = 2 }
const TRAILER = 25;
const kindOf = (e: Entry): Kind => e.charCodeAt(e.length - 25);
const securityOf = (e: Entry): Security => e.charCodeAt(e.length - 24);
const trustOf = (e: Entry): Trust => e.charCodeAt(e.length - 23);
const expiresOf = (e: Entry): number => u48(e, e.length - 18);
const keepUntilOf = (e: Entry): number => u48(e, e.length - 12);
const storedOf = (e: Entry): number => u48(e, e.length - 6);
const negKind = (k: Kind): 'nxdomain' | 'nodata' => (k === Kind.NXDomain ? 'nxdomain' : 'nodata');

function edeOf(e: Entry): Ede | undefined {
  const code = u16(e, e.length - 22);
  if (code === 0xffff) return undefined;
  const n = u16(e, e.length - 20);
  const end = e.length - TRAILER;
  return { code, text: Buffer.from(e.slice(end - n, end), 'latin1').toString('utf8') };
}

interface EntryFields { kind: Kind; security: Security; trust: Trust; ede: Ede | undefined; expires: number; keepUntil: number; stored: number }

function packEntry(wire: Buffer, f: EntryFields): Entry {
  const text = f.ede ? Buffer.from(f.ede.text, 'utf8').subarray(0, 0xffff) : undefined;
  const b = Buffer.allocUnsafe(wire.length + (text?.length ?? 0) + TRAILER);
  let o = wire.copy(b, 0);
  if (text) o += text.copy(b, o);
  b[o++] = f.kind;
  b[o++] = f.security;
  b[o++] = f.trust;
  b.writeUInt16BE(f.ede ? f.ede.code & 0xffff : 0xffff, o);
  b.writeUInt16BE(text?.length ?? 0, o + 2);
  writeU48(b, f.expires, o + 4);
  writeU48(b, f.keepUntil, o + 10);
  writeU48(b, f.stored, o + 16);
  return pack(b);
}

function fieldsOf(e: Entry): EntryFields {
  return { kind: kindOf(e), security: securityOf(e), trust: trustOf(e), ede: edeOf(e), expires: expiresOf(e), keepUntil: keepUntilOf(e), stored: storedOf(e) };
}

/** The entry's records and signatures, as views into one copy of its bytes. */
function recordsOf(e: Entry, ttl: number): { records: Record[]; sigs: Record[] } {
  return decodeRecords(Buffer.from(e, 'latin1'), ttl);
}

/**
 * An entry's records in wire form, in one unpooled buffer sized to the data:
 *
 *   u16 records, u16 signatures, then for each record
 *   u8 owner flag (0: the previous record's owner, 1: an owner follows) [owner], u16 type, u16 class, u16 RDLENGTH, RDATA
 *
 * No object per record while it sits in the cache: Record objects and Buffer
 * views cost more than the data (about 1.2 KB per entry in bench:soak before
 * this form). TTLs are the entry's, not stored per record.
 * RRSIGs (and a wildcard's proof) sit beside the RRset's records.
 */
export function encodeRecords(records: readonly Record[], sigs: readonly Record[] = []): Buffer {
  let total = 4;
  let prev: Name | undefined;
  const all = [...records, ...sigs];
  for (const r of all) {
    total += 1 + 6 + r.rdata.length;
    if (!prev || !(r.name === prev || r.name.equals(prev))) total += r.name.length;
    prev = r.name;
  }
  const out = Buffer.allocUnsafe(total); // copied into the entry's string at once
  out.writeUInt16BE(records.length, 0);
  out.writeUInt16BE(sigs.length, 2);
  let o = 4;
  prev = undefined;
  for (const r of all) {
    if (!prev || !(r.name === prev || r.name.equals(prev))) {
      out[o++] = 1;
      o += r.name.copy(out, o);
    } else {
      out[o++] = 0;
    }
    prev = r.name;
    out.writeUInt16BE(r.type, o);
    out.writeUInt16BE(r.class, o + 2);
    out.writeUInt16BE(r.rdata.length, o + 4);
    o += 6;
    o += r.rdata.copy(out, o);
  }
  return out;
}

/** The records and signatures of an entry, as views into its buffer, every TTL `ttl`. */
export function decodeRecords(wire: Buffer, ttl: number): { records: Record[]; sigs: Record[] } {
  const n = wire.readUInt16BE(0);
  const all = n + wire.readUInt16BE(2);
  const records: Record[] = [];
  const sigs: Record[] = [];
  let o = 4;
  let name: Name = wire.subarray(0, 0);
  for (let i = 0; i < all; i++) {
    if (wire[o++] === 1) {
      const start = o;
      while (wire[o] !== 0) o += wire[o]! + 1;
      o++;
      name = wire.subarray(start, o);
    }
    const rdlen = wire.readUInt16BE(o + 4);
    const r: Record = { name, type: wire.readUInt16BE(o), class: wire.readUInt16BE(o + 2), ttl, rdata: wire.subarray(o + 6, o + 6 + rdlen) };
    o += 6 + rdlen;
    (i < n ? records : sigs).push(r);
  }
  return { records, sigs };
}

export interface CacheOptions {
  /** At most this many entries (lru-cache then preallocates its lists for them); absent: bounded by bytes only. */
  maxEntries?: number;
  /** At most this many bytes of entries (data, keys and bookkeeping; ENTRY_OVERHEAD), the lists growing with the contents. */
  maxBytes?: number;
  maxTtl: number;
  maxNegativeTtl: number;
  /** Seconds an expired entry is kept for serve-stale (RFC 8767 4, "maximum stale timer"); 0 or absent: none. */
  maxStaleTtl?: number;
  now?: () => number;
}

export interface Negative {
  kind: 'nxdomain' | 'nodata';
  soa: Record[];
  proof: Record[];
  security: Security;
  ede?: Ede;
}

/** An RRset with what DNSSEC knows of it. */
export interface CachedRRset {
  records: Record[];
  sigs: Record[];
  security: Security;
  ede?: Ede;
  trust: Trust;
}

/** Expired data kept for serve-stale: an RRset (of the type asked, or a CNAME) or a negative answer. */
export type Stale = { kind: 'rrset'; records: Record[]; sigs: Record[] } | Negative;

/** `name/type` key. */
function key(name: Name, type: number): string {
  return nameKey(name) + '/' + type;
}

/**
 * NXDOMAIN covers every type, so it has a key of its own. Not type 0: a client
 * may ask for QTYPE 0, and its NODATA must not read as "no type at all".
 */
function nxKey(name: Name): string {
  return nameKey(name) + '/nx';
}

export class ResolverCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly now: () => number;
  private readonly keepMs: number;
  hits = 0;
  misses = 0;

  constructor(private readonly opts: CacheOptions) {
    this.lru = boundedLru<Entry>(opts.maxEntries, opts.maxBytes);
    this.now = opts.now ?? Date.now;
    this.keepMs = (opts.maxStaleTtl ?? 0) * 1000;
  }

  get size(): number {
    return this.lru.size;
  }

  /** Bytes the entries take by the cache's own count (`maxBytes`'s measure). */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** A fresh entry; an expired one is deleted unless serve-stale keeps it. */
  private live(k: string): Entry | undefined {
    const e = this.lru.get(k);
    if (e === undefined) return undefined;
    const now = this.now();
    if (expiresOf(e) <= now) {
      if (keepUntilOf(e) <= now) this.lru.delete(k);
      return undefined;
    }
    return e;
  }

  /** An expired entry still kept for serve-stale. */
  private expired(k: string): Entry | undefined {
    const e = this.lru.get(k);
    if (e === undefined) return undefined;
    const now = this.now();
    if (expiresOf(e) > now) return undefined;
    if (keepUntilOf(e) <= now) {
      this.lru.delete(k);
      return undefined;
    }
    return e;
  }

  /**
   * RFC 8767: expired data for `name`/`type`, every TTL set to `ttl`: the RRset,
   * else a CNAME at the name, else a negative answer; of several, the one stored
   * last (a name that became NXDOMAIN is not brought back by its older RRset).
   * Only data good enough to answer with (Trust.Answer and better).
   */
  getStale(name: Name, type: number, ttl: number): Stale | undefined {
    if (this.keepMs === 0) return undefined;
    let e: Entry | undefined;
    const keys = type === Type.CNAME ? [key(name, type), nxKey(name)] : [key(name, type), key(name, Type.CNAME), nxKey(name)];
    for (const k of keys) {
      const x = this.expired(k);
      if (x === undefined || (kindOf(x) === Kind.RRset && trustOf(x) < Trust.Answer)) continue;
      if (e === undefined || storedOf(x) > storedOf(e)) e = x;
    }
    if (e === undefined) return undefined;
    const { records, sigs } = recordsOf(e, ttl);
    const kind = kindOf(e);
    if (kind === Kind.RRset) return { kind: 'rrset', records, sigs };
    return { kind: negKind(kind), soa: records, proof: sigs, security: securityOf(e) };
  }

  /** Keep-until of an entry expiring at `expires` after `ttl` s: TTL 0 data is never kept (it was not to be cached at all). */
  private keepUntil(expires: number, ttl: number): number {
    return ttl > 0 ? expires + this.keepMs : expires;
  }

  /** Records with their remaining TTL; undefined when absent or expired. */
  getRRset(name: Name, type: number, minTrust: Trust = Trust.Glue): Record[] | undefined {
    const e = this.live(key(name, type));
    if (e === undefined || kindOf(e) !== Kind.RRset || trustOf(e) < minTrust) return undefined;
    return recordsOf(e, this.remaining(e)).records;
  }

  /** The RRset with its RRSIGs and security status, TTLs counted down. */
  getSigned(name: Name, type: number, minTrust: Trust = Trust.Glue): CachedRRset | undefined {
    const e = this.live(key(name, type));
    if (e === undefined || kindOf(e) !== Kind.RRset || trustOf(e) < minTrust) return undefined;
    const { records, sigs } = recordsOf(e, this.remaining(e));
    const ede = edeOf(e);
    return { records, sigs, security: securityOf(e), ...(ede ? { ede } : {}), trust: trustOf(e) };
  }

  private remaining(e: Entry): number {
    return Math.max(0, Math.ceil((expiresOf(e) - this.now()) / 1000));
  }

  trustOf(name: Name, type: number): Trust | undefined {
    const e = this.live(key(name, type));
    return e !== undefined && kindOf(e) === Kind.RRset ? trustOf(e) : undefined;
  }

  /** Store one RRset (all records share name and type), with its RRSIGs. */
  putRRset(records: Record[], trust: Trust, sigs: Record[] = [], security: Security = Security.Unchecked): void {
    if (records.length === 0) return;
    const first = records[0]!;
    const k = key(first.name, first.type);
    const old = this.live(k);
    if (old !== undefined && kindOf(old) === Kind.RRset && trustOf(old) > trust) return;
    // RFC 2181 5.2: the TTLs of an RRset are one; use the smallest. RFC 4035 5.3.3: no longer than its signatures' original TTL.
    let ttl = this.opts.maxTtl;
    for (const r of records) if (r.ttl < ttl) ttl = r.ttl;
    for (const r of sigs) if (r.ttl < ttl) ttl = r.ttl;
    const now = this.now();
    const expires = now + ttl * 1000;
    this.lru.set(k, packEntry(encodeRecords(records, sigs), {
      kind: Kind.RRset, security, trust, ede: undefined, expires, keepUntil: this.keepUntil(expires, ttl), stored: now,
    }));
    if (old !== undefined && kindOf(old) !== Kind.RRset) this.lru.delete(nxKey(first.name));
  }

  /**
   * The validator's verdict on a cached RRset or negative answer. A bogus one is
   * kept no longer than `bogusTtl` seconds (Unbound's val-bogus-ttl): a broken
   * zone cannot make us validate for every query, nor stay broken for a day.
   */
  setSecurity(name: Name, type: number, negative: 'nxdomain' | 'nodata' | undefined, v: Verdict, bogusTtl: number): void {
    const k = negative === 'nxdomain' ? nxKey(name) : key(name, type);
    const e = this.live(k);
    if (e === undefined) return;
    const f = fieldsOf(e);
    if (negative ? f.kind === Kind.RRset || negKind(f.kind) !== negative : f.kind !== Kind.RRset) return;
    f.security = v.security;
    f.ede = v.ede;
    if (v.security === Security.Bogus) {
      const until = this.now() + bogusTtl * 1000;
      if (until < f.expires) f.expires = f.keepUntil = until;
    }
    // The records are the entry's leading bytes: everything before the EDE text (its length in the trailer; 0 without one).
    const dataEnd = e.length - TRAILER - u16(e, e.length - 20);
    this.lru.set(k, packEntry(Buffer.from(e.slice(0, dataEnd), 'latin1'), f), { noUpdateTTL: true });
  }

  /** RFC 2308 5: negative TTL is min(SOA TTL, SOA MINIMUM), capped; RFC 8198 5: and no longer than the proof's TTLs. */
  putNegative(name: Name, type: number, kind: 'nxdomain' | 'nodata', soa: Record[], proof: Record[] = [], security: Security = Security.Unchecked): void {
    let ttl = this.opts.maxNegativeTtl;
    const s = soa.find((r) => r.type === Type.SOA);
    if (s && s.rdata.length >= 20) ttl = Math.min(ttl, s.ttl, s.rdata.readUInt32BE(s.rdata.length - 4));
    else ttl = Math.min(ttl, 60); // no SOA: cache briefly (RFC 2308 5 says SHOULD NOT; keep it short)
    for (const r of proof) ttl = Math.min(ttl, r.ttl);
    if (ttl <= 0) return;
    const now = this.now();
    const expires = now + ttl * 1000;
    this.lru.set(kind === 'nxdomain' ? nxKey(name) : key(name, type), packEntry(encodeRecords(soa, proof), {
      kind: kind === 'nxdomain' ? Kind.NXDomain : Kind.NoData, security, trust: Trust.Authority, ede: undefined,
      expires, keepUntil: this.keepUntil(expires, ttl), stored: now,
    }));
  }

  getNegative(name: Name, type: number): Negative | undefined {
    const e = this.live(nxKey(name)) ?? this.live(key(name, type));
    if (e === undefined) return undefined;
    const kind = kindOf(e);
    if (kind === Kind.RRset) return undefined;
    const { records, sigs } = recordsOf(e, this.remaining(e));
    const ede = edeOf(e);
    return { kind: negKind(kind), soa: records, proof: sigs, security: securityOf(e), ...(ede ? { ede } : {}) };
  }

  /** Drop everything, or every entry at or below `name`. */
  flush(name?: Name): number {
    if (!name) {
      const n = this.lru.size;
      this.lru.clear();
      return n;
    }
    const suffix = nameKey(name);
    let n = 0;
    for (const k of [...this.lru.keys()]) {
      const owner = k.slice(0, k.lastIndexOf('/'));
      if (owner === suffix || (owner.endsWith(suffix) && isLabelBoundary(owner, owner.length - suffix.length))) {
        this.lru.delete(k);
        n++;
      }
    }
    return n;
  }
}

/**
 * An LRU of string values bounded by entries, bytes or both. Without `maxEntries`
 * lru-cache grows its lists with the contents instead of allocating them for
 * `max` up front (about 48 MiB at a million entries).
 */
export function boundedLru<V extends string>(maxEntries: number | undefined, maxBytes: number | undefined): LRUCache<string, V> {
  if (!maxEntries && !maxBytes) throw new Error('a cache needs maxEntries or maxBytes');
  const sizeCalculation = (v: V, k: string): number => v.length + k.length + ENTRY_OVERHEAD;
  if (!maxBytes) return new LRUCache<string, V>({ max: maxEntries! });
  return new LRUCache<string, V>({ max: maxEntries ?? 0, maxSize: maxBytes, sizeCalculation });
}

/** True when `pos` in a wire-form key starts a label (walk the length bytes). */
function isLabelBoundary(key: string, pos: number): boolean {
  let i = 0;
  while (i < pos) i += key.charCodeAt(i) + 1;
  return i === pos;
}
