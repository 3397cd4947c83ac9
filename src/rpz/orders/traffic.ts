/**
 * What the resolver saw over the last 24 hours, kept for the impact check of
 * automated entries (safeguards.ts) and for `verdict orders impact`: how many
 * queries a name and its subdomains had, how many distinct clients asked, and
 * which other names resolve to the same addresses.
 *
 * Bounded and privacy-preserving by construction:
 * - queries per name: a count-min sketch per hour (24 rings of depth x width
 *   counters). A name's count is never under the truth and over it by at most
 *   e*N/width with probability 1 - e^-depth (Cormode and Muthukrishnan 2005);
 * - distinct clients: a HyperLogLog (Flajolet et al. 2007) of 64 registers per
 *   name bucket per hour. A client address goes in only as a hash salted with
 *   a random key made at start and never written anywhere, so the registers
 *   cannot be tested against a known address, and no address is stored. Names
 *   sharing a bucket share its estimate: the figure can be too high, never
 *   too low, which errs towards holding an entry;
 * - addresses: name -> addresses and address -> names seen in answers, in
 *   two LRU maps of bounded size, each set bounded too. Names and addresses of
 *   servers, never of clients.
 * Memory: about 1.5 MiB of sketches plus the two maps (`maxNames` entries each).
 *
 * Hand-written rather than a library: the sketches are a few lines each, and
 * the npm packages for them either allocate per update or keep no time window.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { addressBytes } from './request.js';

const HOUR_MS = 3_600_000;
const HOURS = 24;
const DEPTH = 4;
const WIDTH = 4096;
const HLL_BUCKETS = 512;
const HLL_REGISTERS = 64;
/** Most addresses kept per name, and names per address. */
const MAX_PER_NAME = 16;
const MAX_PER_ADDRESS = 256;

/** FNV-1a, 32 bits, over the UTF-16 code units of `s` from `start` (names are ASCII/latin1 here). */
function fnv(s: string, start = 0, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = start; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A second, independent-enough hash from the first (murmur3's finaliser). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Presentation name (no final dot, lowercase) -> its suffixes of two labels or more, itself first. */
function suffixes(name: string): string[] {
  const out = [name];
  for (let i = name.indexOf('.'); i >= 0 && name.indexOf('.', i + 1) >= 0; i = name.indexOf('.', i + 1)) out.push(name.slice(i + 1));
  return out;
}

/** A wire-form name key (latin1 of the wire name, lowercase) -> presentation form without the final dot. */
export function keyToName(key: string): string {
  const labels: string[] = [];
  for (let o = 0; o < key.length; ) {
    const l = key.charCodeAt(o);
    if (l === 0) break;
    labels.push(key.slice(o + 1, o + 1 + l));
    o += l + 1;
  }
  return labels.join('.');
}

export interface NameTraffic {
  /** Queries for the name and its subdomains over the window (count-min estimate, never under). */
  queries: number;
  /** Distinct clients (HyperLogLog estimate over the name's bucket). */
  clients: number;
}

export interface TrafficOptions {
  now?: () => number;
  /** Most names (and most addresses) kept in the address maps. */
  maxNames?: number;
}

export class TrafficStats {
  private readonly counts = new Uint32Array(HOURS * DEPTH * WIDTH);
  private readonly hll = new Uint8Array(HOURS * HLL_BUCKETS * HLL_REGISTERS);
  /** The hour each ring slot holds; a slot from an older hour is cleared before use. */
  private readonly slotHour = new Float64Array(HOURS).fill(-1);
  /** The salt's hash, the seed of every client hash (computed once: this runs for every query). */
  private readonly saltSeed = fnv(randomBytes(16).toString('latin1'));
  private readonly now: () => number;
  private readonly byName: LRUCache<string, Set<string>>;
  private readonly byAddress: LRUCache<string, Set<string>>;
  /** Queries counted since start (all names). */
  total = 0;

  constructor(opts: TrafficOptions = {}) {
    this.now = opts.now ?? Date.now;
    const max = opts.maxNames ?? 50_000;
    this.byName = new LRUCache({ max });
    this.byAddress = new LRUCache({ max });
  }

  private slot(): number {
    const hour = Math.floor(this.now() / HOUR_MS);
    const s = hour % HOURS;
    if (this.slotHour[s] !== hour) {
      this.counts.fill(0, s * DEPTH * WIDTH, (s + 1) * DEPTH * WIDTH);
      this.hll.fill(0, s * HLL_BUCKETS * HLL_REGISTERS, (s + 1) * HLL_BUCKETS * HLL_REGISTERS);
      this.slotHour[s] = hour;
    }
    return s;
  }

  /** Slots inside the last 24 hours. */
  private live(): number[] {
    const hour = Math.floor(this.now() / HOUR_MS);
    const out: number[] = [];
    for (let s = 0; s < HOURS; s++) if (this.slotHour[s]! > hour - HOURS) out.push(s);
    return out;
  }

  /**
   * One query for `key` (wire-form name key, as nameKey and the fast path
   * make it) from `client`. Counted for the name and each of its suffixes of
   * two labels or more, so an entry covering subdomains sees their traffic.
   */
  observeQuery(key: string, client: string): void {
    const s = this.slot();
    const ch = mix(fnv(client, 0, this.saltSeed));
    const reg = ch & (HLL_REGISTERS - 1);
    const rank = Math.min(Math.clz32(ch >>> 6) - 5, 27);
    const cBase = s * DEPTH * WIDTH;
    const hBase = s * HLL_BUCKETS * HLL_REGISTERS;
    // Suffixes in wire form: the key from each label start; stop before the TLD.
    let labels = 0;
    for (let o = 0; o < key.length && key.charCodeAt(o) !== 0; o += key.charCodeAt(o) + 1) labels++;
    for (let o = 0, n = labels; n >= 2; o += key.charCodeAt(o) + 1, n--) {
      const h1 = fnv(key, o);
      const h2 = mix(h1) | 1;
      for (let d = 0; d < DEPTH; d++) {
        const i = cBase + d * WIDTH + (((h1 + Math.imul(d, h2)) >>> 0) % WIDTH);
        if (this.counts[i]! < 0xffffffff) this.counts[i]!++;
      }
      const r = hBase + (h1 % HLL_BUCKETS) * HLL_REGISTERS + reg;
      if (this.hll[r]! < rank) this.hll[r] = rank;
    }
    this.total++;
  }

  /** Addresses in an answer for `names` (the query name and the owners of its CNAME chain). */
  observeAnswer(names: readonly string[], addresses: readonly string[]): void {
    if (addresses.length === 0) return;
    for (const raw of names) {
      const name = raw.toLowerCase().replace(/\.$/, '');
      if (!name.includes('.')) continue;
      for (const a of addresses) {
        let ns = this.byAddress.get(a);
        if (!ns) this.byAddress.set(a, (ns = new Set()));
        if (ns.size < MAX_PER_ADDRESS) ns.add(name);
      }
      for (const suffix of suffixes(name)) {
        let as = this.byName.get(suffix);
        if (!as) this.byName.set(suffix, (as = new Set()));
        for (const a of addresses) if (as.size < MAX_PER_NAME) as.add(a);
      }
    }
  }

  /** Queries and distinct clients for `name` (presentation form) and its subdomains over the last 24 h. */
  traffic(name: string): NameTraffic {
    const key = wireKey(name.toLowerCase().replace(/\.$/, ''));
    const h1 = fnv(key);
    const h2 = mix(h1) | 1;
    let queries = 0;
    const regs = new Uint8Array(HLL_REGISTERS);
    for (const s of this.live()) {
      let min = Infinity;
      for (let d = 0; d < DEPTH; d++) min = Math.min(min, this.counts[s * DEPTH * WIDTH + d * WIDTH + (((h1 + Math.imul(d, h2)) >>> 0) % WIDTH)]!);
      queries += min;
      const base = s * HLL_BUCKETS * HLL_REGISTERS + (h1 % HLL_BUCKETS) * HLL_REGISTERS;
      for (let r = 0; r < HLL_REGISTERS; r++) if (this.hll[base + r]! > regs[r]!) regs[r] = this.hll[base + r]!;
    }
    return { queries, clients: queries === 0 ? 0 : Math.min(queries, hllEstimate(regs)) };
  }

  /** Addresses seen in answers for `name` or its subdomains. */
  addressesOf(name: string): string[] {
    return [...(this.byName.get(name.toLowerCase().replace(/\.$/, '')) ?? [])];
  }

  /** Names seen resolving to addresses inside `cidr` (an address or prefix), sorted. */
  namesAt(cidr: string): string[] {
    const [addr, len] = cidr.split('/') as [string, string | undefined];
    const family = isIP(addr);
    const bits = len === undefined ? (family === 4 ? 32 : 128) : Number(len);
    if ((family === 4 && bits === 32) || (family === 6 && bits === 128)) return [...(this.byAddress.get(addr) ?? [])].sort();
    const want = addressBytes(addr);
    const out = new Set<string>();
    for (const [a, names] of this.byAddress.entries()) {
      if (isIP(a) !== family) continue;
      const b = addressBytes(a);
      let inside = true;
      for (let i = 0; i < bits && inside; i++) if ((b[i >> 3]! ^ want[i >> 3]!) & (0x80 >> (i & 7))) inside = false;
      if (inside) for (const n of names) out.add(n);
    }
    return [...out].sort();
  }

  /**
   * Other names sharing addresses with `name` (or its subdomains, when
   * `subdomains`): those neither equal to nor under it. Sorted.
   */
  sharedWith(name: string, subdomains = true): { addresses: string[]; names: string[] } {
    const n = name.toLowerCase().replace(/\.$/, '');
    const addresses = subdomains ? this.addressesOf(n) : [...(this.byAddress.keys())].filter((a) => this.byAddress.get(a)!.has(n));
    const out = new Set<string>();
    for (const a of addresses) for (const other of this.byAddress.get(a) ?? []) {
      if (other !== n && !other.endsWith(`.${n}`)) out.add(other);
    }
    return { addresses: addresses.sort(), names: [...out].sort() };
  }
}

/** Presentation name -> the wire-form key observeQuery is given (nameKey's form, lowercase). */
export function wireKey(name: string): string {
  let out = '';
  for (const l of name.split('.')) if (l) out += String.fromCharCode(l.length) + l;
  return out + '\0';
}

/** HyperLogLog estimate with the small-range (linear counting) correction. */
function hllEstimate(regs: Uint8Array): number {
  const m = regs.length;
  let sum = 0;
  let zeros = 0;
  for (const r of regs) {
    sum += 2 ** -r;
    if (r === 0) zeros++;
  }
  const alpha = 0.709; // m = 64
  const e = (alpha * m * m) / sum;
  if (e <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
  return Math.round(e);
}
