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
import type { Record } from '../../dns/message.js';
import { Name, nameKey } from '../../dns/name.js';

/** Data ranking (RFC 2181 5.4.1): better data replaces worse, never the reverse while it lives. */
export const enum Trust {
  Glue = 1,
  Authority = 2,
  Answer = 3,
  AuthAnswer = 4,
}

interface RRsetEntry {
  kind: 'rrset';
  records: Record[];
  /** Absolute expiry, ms. */
  expires: number;
  /** Kept (expired, for serve-stale) until then, ms; equal to `expires` when not kept. */
  keepUntil: number;
  /** When stored, ms: of two stale entries, the later one is the truth. */
  stored: number;
  trust: Trust;
}

interface NegativeEntry {
  kind: 'nxdomain' | 'nodata';
  soa: Record[];
  expires: number;
  keepUntil: number;
  stored: number;
}

type Entry = RRsetEntry | NegativeEntry;

/**
 * Copies of `records` (TTL set to `ttl`) whose names and RDATA all live in one
 * unpooled buffer. Decoded names and RDATA are small Buffers carved from
 * Node's shared 8 KiB pool, and a cached one kept its whole slab alive: about
 * 3 KiB of resident memory per cache entry in bench:soak, where the data is
 * ~100 bytes. One allocation per entry, sized to the data, pins nothing else.
 * Records with the same owner (every record of an RRset) share its bytes.
 */
export function packRecords(records: readonly Record[], ttl: number): Record[] {
  const same = (a: Name, b: Name | undefined) => b !== undefined && (a === b || a.equals(b));
  let total = 0;
  let prev: Name | undefined;
  for (const r of records) {
    if (!same(r.name, prev)) total += r.name.length;
    prev = r.name;
    total += r.rdata.length;
  }
  const arena = Buffer.allocUnsafeSlow(total);
  let o = 0;
  const put = (b: Buffer): Buffer => {
    b.copy(arena, o);
    o += b.length;
    return arena.subarray(o - b.length, o);
  };
  let name: Name | undefined;
  prev = undefined;
  return records.map((r) => {
    if (!same(r.name, prev)) name = put(r.name);
    prev = r.name;
    return { name: name!, type: r.type, class: r.class, ttl, rdata: put(r.rdata) };
  });
}

export interface CacheOptions {
  maxEntries: number;
  maxTtl: number;
  maxNegativeTtl: number;
  /** Seconds an expired entry is kept for serve-stale (RFC 8767 4, "maximum stale timer"); 0 or absent: none. */
  maxStaleTtl?: number;
  now?: () => number;
}

export interface Negative {
  kind: 'nxdomain' | 'nodata';
  soa: Record[];
}

/** Expired data kept for serve-stale: an RRset (of the type asked, or a CNAME) or a negative answer. */
export type Stale = { kind: 'rrset'; records: Record[] } | Negative;

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
    this.lru = new LRUCache({ max: opts.maxEntries });
    this.now = opts.now ?? Date.now;
    this.keepMs = (opts.maxStaleTtl ?? 0) * 1000;
  }

  get size(): number {
    return this.lru.size;
  }

  /** A fresh entry; an expired one is deleted unless serve-stale keeps it. */
  private live(k: string): Entry | undefined {
    const e = this.lru.get(k);
    if (!e) return undefined;
    const now = this.now();
    if (e.expires <= now) {
      if (e.keepUntil <= now) this.lru.delete(k);
      return undefined;
    }
    return e;
  }

  /** An expired entry still kept for serve-stale. */
  private expired(k: string): Entry | undefined {
    const e = this.lru.get(k);
    if (!e) return undefined;
    const now = this.now();
    if (e.expires > now) return undefined;
    if (e.keepUntil <= now) {
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
      if (!x || (x.kind === 'rrset' && x.trust < Trust.Answer)) continue;
      if (!e || x.stored > e.stored) e = x;
    }
    if (!e) return undefined;
    if (e.kind === 'rrset') return { kind: 'rrset', records: e.records.map((r) => ({ ...r, ttl })) };
    return { kind: e.kind, soa: e.soa.map((r) => ({ ...r, ttl })) };
  }

  /** Keep-until of an entry expiring at `expires` after `ttl` s: TTL 0 data is never kept (it was not to be cached at all). */
  private keepUntil(expires: number, ttl: number): number {
    return ttl > 0 ? expires + this.keepMs : expires;
  }

  /** Records with their remaining TTL; undefined when absent or expired. */
  getRRset(name: Name, type: number, minTrust: Trust = Trust.Glue): Record[] | undefined {
    const e = this.live(key(name, type));
    if (!e || e.kind !== 'rrset' || e.trust < minTrust) return undefined;
    const ttl = Math.max(0, Math.ceil((e.expires - this.now()) / 1000));
    return e.records.map((r) => ({ ...r, ttl }));
  }

  trustOf(name: Name, type: number): Trust | undefined {
    const e = this.live(key(name, type));
    return e && e.kind === 'rrset' ? e.trust : undefined;
  }

  /** Store one RRset (all records share name and type). */
  putRRset(records: Record[], trust: Trust): void {
    if (records.length === 0) return;
    const first = records[0]!;
    const k = key(first.name, first.type);
    const old = this.live(k);
    if (old && old.kind === 'rrset' && old.trust > trust) return;
    // RFC 2181 5.2: the TTLs of an RRset are one; use the smallest.
    const ttl = Math.min(this.opts.maxTtl, ...records.map((r) => r.ttl));
    const now = this.now();
    const expires = now + ttl * 1000;
    this.lru.set(k, { kind: 'rrset', records: packRecords(records, ttl), expires, keepUntil: this.keepUntil(expires, ttl), stored: now, trust });
    if (old && old.kind !== 'rrset') this.lru.delete(nxKey(first.name));
  }

  /** RFC 2308 5: negative TTL is min(SOA TTL, SOA MINIMUM), capped. */
  putNegative(name: Name, type: number, kind: 'nxdomain' | 'nodata', soa: Record[]): void {
    let ttl = this.opts.maxNegativeTtl;
    const s = soa.find((r) => r.type === Type.SOA);
    if (s && s.rdata.length >= 20) ttl = Math.min(ttl, s.ttl, s.rdata.readUInt32BE(s.rdata.length - 4));
    else ttl = Math.min(ttl, 60); // no SOA: cache briefly (RFC 2308 5 says SHOULD NOT; keep it short)
    if (ttl <= 0) return;
    const soaCopy = packRecords(soa, ttl);
    const now = this.now();
    const expires = now + ttl * 1000;
    this.lru.set(kind === 'nxdomain' ? nxKey(name) : key(name, type), { kind, soa: soaCopy, expires, keepUntil: this.keepUntil(expires, ttl), stored: now });
  }

  getNegative(name: Name, type: number): Negative | undefined {
    const e = this.live(nxKey(name)) ?? this.live(key(name, type));
    if (!e || e.kind === 'rrset') return undefined;
    const ttl = Math.max(0, Math.ceil((e.expires - this.now()) / 1000));
    return { kind: e.kind, soa: e.soa.map((r) => ({ ...r, ttl })) };
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

/** True when `pos` in a wire-form key starts a label (walk the length bytes). */
function isLabelBoundary(key: string, pos: number): boolean {
  let i = 0;
  while (i < pos) i += key.charCodeAt(i) + 1;
  return i === pos;
}
