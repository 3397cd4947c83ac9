/**
 * QNAME and NSDNAME triggers: exact names and `*.` wildcards, matched against
 * wire-form names, case-insensitively (RFC 4343).
 *
 * Why not a label trie or a `Map<string, …>`: with a million rules a node per
 * label, or a JS string plus a Map entry per rule, costs 100+ bytes a rule and
 * a pointer chase per label. Instead each table is an open-addressing hash
 * table over typed arrays: the names live lowercased, back to back, in one
 * byte arena; a slot holds the record's offset beside the name's full hash,
 * so a probe rejects non-matching slots without touching the arena, and a hit
 * costs two cache misses. About 40 bytes a rule (measured by bench/lookup.ts),
 * none of it small objects the GC must trace.
 *
 * A lookup makes one pass over the name that finds its labels and hashes each
 * (lowercasing on the fly), then combines the label hashes from the root
 * down: the hash of every ancestor suffix falls out for free, so probing the
 * ancestors for wildcards allocates nothing and rereads no bytes. A small bit filter of wildcard
 * bases (and a mask of their label counts) skips most ancestor probes.
 * `NameProbe` holds that work, so several zones' tables reuse one probe.
 */
import type { Name } from '../dns/name.js';
import { MAX_NAME_LENGTH } from '../dns/name.js';
import { Growable } from './growable.js';

const LOWER = new Uint8Array(256);
for (let i = 0; i < 256; i++) LOWER[i] = i >= 0x41 && i <= 0x5a ? i + 0x20 : i;

const FNV_PRIME = 0x01000193;
const FNV_SEED = 0x811c9dc5 | 0;

/** Murmur3's finaliser: spreads the FNV state over all 32 bits. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Suffix hash: the hash of the parent suffix combined with one label's hash. */
function combine(parent: number, label: number): number {
  return Math.imul(parent ^ label, FNV_PRIME) ^ (parent >>> 15);
}

/** Multiplier (2^32 / golden ratio) spreading a mixed hash's bits into the wildcard filter's index. */
const FILTER_MUL = 0x9e3779b1 | 0;

const ROOT_HASH = Math.imul(FNV_SEED ^ 0, FNV_PRIME);

/**
 * A name prepared for lookups: its label starts found and the hash of every
 * ancestor computed, in one pass over the bytes, lowercasing on the fly (no
 * copy). Reused: `prepare()` overwrites it; it refers to the caller's name,
 * which must stay unchanged while the probe is used.
 */
export class NameProbe {
  bytes: Uint8Array = new Uint8Array(1);
  length = 0;
  /** Labels, not counting the root. */
  labels = 0;
  /** starts[i]: offset of the suffix with the first i labels removed; starts[labels] is the root label. */
  readonly starts = new Int32Array(130);
  /** hashes[i]: hash of the suffix at starts[i]. */
  readonly hashes = new Int32Array(130);

  /** Returns false for a malformed name (no match is then possible). `n`: the bytes of `name` to read. */
  prepare(name: Uint8Array, n = name.length): boolean {
    if (n === 0 || n > MAX_NAME_LENGTH) return false;
    const starts = this.starts;
    const hashes = this.hashes;
    let i = 0;
    let l = 0;
    for (;;) {
      const len = name[i]!;
      starts[l] = i;
      if (len === 0) break;
      if (len > 63 || i + len + 1 >= n) return false;
      let h = Math.imul(FNV_SEED ^ len, FNV_PRIME);
      const end = i + len;
      for (let k = i + 1; k <= end; k++) h = Math.imul(h ^ LOWER[name[k]!]!, FNV_PRIME);
      hashes[l] = h;
      i = end + 1;
      l++;
    }
    this.bytes = name;
    this.length = i + 1;
    this.labels = l;
    let h = ROOT_HASH;
    hashes[l] = h;
    for (let k = l - 1; k >= 0; k--) hashes[k] = h = combine(h, hashes[k]!);
    return true;
  }

  /** The suffix at `starts[i]` as a lowercased copy. */
  suffix(i = 0): Buffer {
    const s = this.starts[i]!;
    const out = Buffer.allocUnsafe(this.length - s);
    for (let k = 0; k < out.length; k++) out[k] = LOWER[this.bytes[s + k]!]!;
    return out;
  }
}

/**
 * Names -> values: an open-addressing hash table over one byte arena. Each
 * arena record is the value (4 bytes, little-endian) then the lowercased wire
 * name; a slot is a pair (record offset + 1, full hash) in one cache line, so
 * a hit costs about two cache misses (the slot, the record) and a miss one.
 * Frozen: `NameTableBuilder.freeze()` makes it, with plain arrays of exact
 * length (see growable.ts for why the builder's arrays are not plain).
 */
class NameTable {
  /** `size` records back to back, nothing after them. */
  readonly arena: Uint8Array;
  readonly size: number;
  /** slots[2i]: record offset + 1 (0 = empty); slots[2i + 1]: the name's mixed hash. */
  readonly slots: Uint32Array;
  /** Slot pairs - 1. */
  readonly mask: number;

  constructor(arena: Uint8Array, size: number, slots: Uint32Array) {
    this.arena = arena;
    this.size = size;
    this.slots = slots;
    this.mask = slots.length / 2 - 1;
  }

  /** The record holding the wire name `bytes[start, end)` (compared case-insensitively), or -1. */
  find(bytes: Uint8Array, start: number, end: number, h: number): number {
    return this.findMixed(bytes, start, end, fmix(h) >>> 0);
  }

  /** `find` given the name's mixed hash `fmix(h) >>> 0`. */
  findMixed(bytes: Uint8Array, start: number, end: number, m: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const a = this.arena;
    const len = end - start;
    for (let i = m & mask, guard = 0; guard <= mask; i = (i + 1) & mask, guard++) {
      const o1 = slots[2 * i]!;
      if (o1 === 0) return -1;
      if (slots[2 * i + 1] !== m) continue;
      const o = o1 + 3; // o1 - 1 + 4: the name after the value
      let k = 0;
      // Most queries come lowercase: look the case up only where the bytes differ.
      for (; k < len; k++) {
        const x = bytes[start + k]!;
        const y = a[o + k]!;
        if (x !== y && LOWER[x] !== y) break;
      }
      // Equal up to the query's root label means equal: wire names are self-delimiting.
      if (k === len) return o1 - 1;
    }
    return -1;
  }

  value(rec: number): number {
    const a = this.arena;
    return a[rec]! | (a[rec + 1]! << 8) | (a[rec + 2]! << 16) | (a[rec + 3]! << 24);
  }

  /** End of the wire name starting at `o` in the arena. */
  nameEnd(o: number): number {
    const a = this.arena;
    while (a[o] !== 0) o += a[o]! + 1;
    return o + 1;
  }

  name(rec: number): Buffer {
    return Buffer.from(this.arena.subarray(rec + 4, this.nameEnd(rec + 4)));
  }

  *records(): Generator<number> {
    for (let rec = 0; rec < this.arena.length; rec = this.nameEnd(rec + 4)) yield rec;
  }

  get byteSize(): number {
    return this.arena.byteLength + this.slots.byteLength;
  }
}

const EMPTY_TABLE = new NameTable(new Uint8Array(0), 0, new Uint32Array(2));

/**
 * The same table while names are added. The arena grows in place, outside
 * malloc (growable.ts). The slots stay a plain array, doubled by a rehash into
 * a new one: they are rehashed either way, and on a resizable buffer the
 * rehash at 524,288 names took 25-47 ms instead of 9-25, one stall of the
 * event loop during a reload. Their frees raise glibc's mmap threshold to at
 * most the largest old table (8 MiB for a million names), which the arena and
 * the columns no longer feed; measured, VmRSS after the load is the same.
 * A class of its own, with its own copy of the probe loop, so the lookups of
 * the frozen table only ever see plain arrays (element access on a resizable
 * buffer is slower, and one access site seeing both kinds turns polymorphic).
 */
class NameTableBuilder {
  private readonly arena = new Growable(Uint8Array, 1024);
  private arenaUsed = 0;
  size = 0;
  /** slots[2i]: record offset + 1 (0 = empty); slots[2i + 1]: the name's mixed hash. */
  private slots = new Uint32Array(256);
  private mask = 127;

  /** The record holding the wire name `bytes[start, end)`, or -1. */
  find(bytes: Uint8Array, start: number, end: number, h: number): number {
    const m = fmix(h) >>> 0;
    const slots = this.slots;
    const mask = this.mask;
    const a = this.arena.a;
    const len = end - start;
    for (let i = m & mask, guard = 0; guard <= mask; i = (i + 1) & mask, guard++) {
      const o1 = slots[2 * i]!;
      if (o1 === 0) return -1;
      if (slots[2 * i + 1] !== m) continue;
      let k = 0;
      while (k < len && LOWER[bytes[start + k]!] === a[o1 + 3 + k]) k++;
      if (k === len) return o1 - 1;
    }
    return -1;
  }

  value(rec: number): number {
    const a = this.arena.a;
    return a[rec]! | (a[rec + 1]! << 8) | (a[rec + 2]! << 16) | (a[rec + 3]! << 24);
  }

  /** Add a wire name not yet present (stored lowercased). */
  add(bytes: Uint8Array, start: number, end: number, h: number, value: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const len = end - start;
    if (this.arenaUsed + len + 4 >= 0xffffffff) throw new RangeError('name table over 4 GB');
    const rec = this.arenaUsed;
    let a = this.arena.a;
    if (rec + len + 4 > a.length) a = this.arena.reserve(rec + len + 4);
    a[rec] = value & 0xff;
    a[rec + 1] = (value >>> 8) & 0xff;
    a[rec + 2] = (value >>> 16) & 0xff;
    a[rec + 3] = (value >>> 24) & 0xff;
    for (let k = 0; k < len; k++) a[rec + 4 + k] = LOWER[bytes[start + k]!]!;
    this.arenaUsed += len + 4;
    this.size++;
    const m = fmix(h) >>> 0;
    const slots = this.slots;
    const mask = this.mask;
    let i = m & mask;
    while (slots[2 * i] !== 0) i = (i + 1) & mask;
    slots[2 * i] = rec + 1;
    slots[2 * i + 1] = m;
  }

  /** Double the slots, re-placing each from the hash it holds (no name is reread or rehashed). */
  private grow(): void {
    const o = this.slots;
    const slots = new Uint32Array(o.length * 2);
    const mask = slots.length / 2 - 1;
    for (let j = 0; j < o.length; j += 2) {
      const o1 = o[j]!;
      if (o1 === 0) continue;
      const m = o[j + 1]!;
      let i = m & mask;
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
      slots[2 * i] = o1;
      slots[2 * i + 1] = m;
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** The arena as a plain array of its exact length (set by `freezeArena()`). */
  private frozenArena: Uint8Array | undefined;

  /** Copy the arena into a plain array of its exact length: the first half of `freeze()`. No more adds. */
  freezeArena(): void {
    this.frozenArena ??= this.arena.freeze(this.arenaUsed, true);
  }

  /** The frozen table: plain arrays, the arena cut to its exact length; the builder is empty afterwards. */
  freeze(): NameTable {
    this.freezeArena();
    this.arena.release();
    const t = this.size === 0 ? EMPTY_TABLE : new NameTable(this.frozenArena!, this.size, this.slots);
    this.slots = new Uint32Array(2);
    this.frozenArena = undefined;
    this.arenaUsed = 0;
    this.size = 0;
    return t;
  }
}

/** A match: the caller's value and whether a wildcard (rather than the exact name) matched. */
export interface NameMatch {
  value: number;
  wildcard: boolean;
  /** The trigger's name: the exact name, or the wildcard's base (without the `*` label). */
  name: Name;
}

const scratch = new NameProbe();

/**
 * Exact and wildcard triggers. `*.example.com` is stored as base
 * `example.com` in the wildcard table and matches strict subdomains only.
 * Lookup order: exact name, then the closest enclosing wildcard.
 */
export class NameTrie {
  /** The tables names are added to, until `freeze()` (or its steps) turns them into the frozen ones. */
  private exactBuilder: NameTableBuilder | undefined = new NameTableBuilder();
  private wildBuilder: NameTableBuilder | undefined = new NameTableBuilder();
  /** Lookups read only these, made by `freeze()`. */
  private exact: NameTable = EMPTY_TABLE;
  private wild: NameTable = EMPTY_TABLE;
  /** Bit per (hash of) wildcard base, and bit per label count of a base (31 = 31 or more). */
  private filter = new Uint32Array(2);
  /** 32 - log2(filter bits): a base's bit is the top bits of its mixed hash times a constant. */
  private filterShift = 26;
  private depthMask = 0;
  /** No more inserts: freezing has begun. */
  private sealed = false;
  private frozen = false;

  get size(): number {
    return (this.exactBuilder ?? this.exact).size + (this.wildBuilder ?? this.wild).size;
  }

  get wildcards(): number {
    return (this.wildBuilder ?? this.wild).size;
  }

  /**
   * Find or add `name` (wire form, any case; its first `length` bytes) as an exact or wildcard trigger.
   * Returns the stored value: `value` when added, the earlier one when the
   * trigger was already there.
   */
  insert(name: Uint8Array, wildcard: boolean, value: number, length = name.length): number {
    const t = wildcard ? this.wildBuilder : this.exactBuilder;
    if (this.sealed || !t) throw new Error('NameTrie is frozen');
    const p = scratch;
    if (!p.prepare(name, length)) throw new RangeError('malformed wire name');
    const h = p.hashes[0]!;
    const e = t.find(p.bytes, 0, p.length, h);
    if (e >= 0) return t.value(e);
    t.add(p.bytes, 0, p.length, h, value);
    if (wildcard) this.depthMask |= 1 << Math.min(p.labels, 31);
    return value;
  }

  /**
   * `freeze()` in steps of about 10 ms for a million names, for a caller that
   * yields to the event loop between them: copy the exact table's arena (20-odd
   * MB) into a plain array, release the growable one, then the wildcard table
   * and its filter.
   */
  freezeSteps(): (() => void)[] {
    return [
      () => {
        this.sealed = true;
        this.exactBuilder?.freezeArena();
      },
      () => this.freezeExact(),
      () => void this.freeze(),
    ];
  }

  private freezeExact(): void {
    this.sealed = true;
    if (!this.exactBuilder) return;
    this.exact = this.exactBuilder.freeze();
    this.exactBuilder = undefined;
  }

  /** Freeze the tables and build the wildcard filter; no inserts after this, lookups only from now on. */
  freeze(): this {
    if (this.frozen) return this;
    this.frozen = true;
    this.freezeExact();
    this.wild = this.wildBuilder!.freeze();
    this.wildBuilder = undefined;
    // About 16 bits a wildcard base: ~6% false positives with one hash, in a few hundred KB.
    // The bits come from the mixed hashes the slots already hold: no name is reread.
    let bits = 64;
    while (bits < this.wild.size * 16) bits *= 2;
    this.filter = new Uint32Array(bits / 32);
    this.filterShift = 32 - Math.log2(bits);
    const slots = this.wild.slots;
    for (let j = 0; j < slots.length; j += 2) {
      if (slots[j] === 0) continue;
      const b = Math.imul(slots[j + 1]!, FILTER_MUL) >>> this.filterShift;
      this.filter[b >>> 5]! |= 1 << (b & 31);
    }
    return this;
  }

  /**
   * The most specific trigger for a prepared name: `(value << 1) | 1` for a
   * wildcard, `value << 1` for an exact match, -1 for none. Allocates nothing.
   * Reads the frozen tables only: nothing matches before `freeze()`.
   */
  matchProbe(p: NameProbe): number {
    if (this.exact.size) {
      const e = this.exact.find(p.bytes, 0, p.length, p.hashes[0]!);
      if (e >= 0) return this.exact.value(e) * 2;
    }
    if (this.wild.size === 0) return -1;
    const depths = this.depthMask;
    const filter = this.filter;
    const fshift = this.filterShift;
    const end = p.length;
    for (let l = 1; l <= p.labels; l++) {
      const depth = p.labels - l;
      if ((depths & (1 << Math.min(depth, 31))) === 0) continue;
      const h = p.hashes[l]!;
      const m = fmix(h) >>> 0;
      const b = Math.imul(m, FILTER_MUL) >>> fshift;
      if ((filter[b >>> 5]! & (1 << (b & 31))) === 0) continue;
      const e = this.wild.findMixed(p.bytes, p.starts[l]!, end, m);
      if (e >= 0) return this.wild.value(e) * 2 + 1;
    }
    return -1;
  }

  /** Convenience form of `matchProbe` (prepares a shared scratch probe). */
  match(name: Name): number {
    return scratch.prepare(name) ? this.matchProbe(scratch) : -1;
  }

  /** The full match (value, kind and trigger name) for a prepared name; allocates on a hit only. */
  lookup(p: NameProbe): NameMatch | undefined {
    const r = this.matchProbe(p);
    if (r < 0) return undefined;
    const wildcard = (r & 1) === 1;
    const value = r >> 1;
    if (!wildcard) return { value, wildcard, name: p.suffix(0) };
    for (let l = 1; l <= p.labels; l++) {
      const e = this.wild.find(p.bytes, p.starts[l]!, p.length, p.hashes[l]!);
      if (e >= 0 && this.wild.value(e) === value) return { value, wildcard, name: this.wild.name(e) };
    }
    return { value, wildcard, name: Buffer.from([0]) };
  }

  /** Every trigger, for listing and tests: [name, wildcard, value]. */
  *entries(): Generator<[Name, boolean, number]> {
    for (const rec of this.exact.records()) yield [this.exact.name(rec), false, this.exact.value(rec)];
    for (const rec of this.wild.records()) yield [this.wild.name(rec), true, this.wild.value(rec)];
  }

  /** Bytes held by the frozen typed arrays (the whole footprint: there are no per-rule objects). */
  get byteSize(): number {
    return this.filter.byteLength + this.exact.byteSize + this.wild.byteSize;
  }
}
