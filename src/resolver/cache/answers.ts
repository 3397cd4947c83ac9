/**
 * The answer cache: whole replies in wire form, keyed by question and the
 * query bits that change a reply (EDNS present, DO, CD, AD). A hit copies the
 * stored bytes and patches ID, flags, the question's case and the TTLs: no
 * decode, no encode, no promise (DESIGN.md "answers from cache in wire form").
 *
 * Only unmodified resolver answers are stored (never policy rewrites), and the
 * whole cache is dropped when the policy set changes, since post-recursion
 * triggers (response IP, NS name/IP) may judge the same answer differently.
 */
import type { LRUCache } from 'lru-cache';
import type { Message } from '../../dns/message.js';
import { nameKey } from '../../dns/name.js';
import { boundedLru } from './cache.js';
import { pack, u16, u48, writeU48 } from './packed.js';

/**
 * A stored reply, one string (packed.ts): the reply's wire bytes, then the
 * byte offset of each TTL field (u16 each, OPT excluded), u16 their count,
 * u48 created and u48 expires (ms since the epoch).
 */
export type AnswerEntry = string;

const ttlCount = (e: AnswerEntry): number => u16(e, e.length - 14);
const createdOf = (e: AnswerEntry): number => u48(e, e.length - 12);
const expiresOf = (e: AnswerEntry): number => u48(e, e.length - 6);
/** Length of the reply at the start of the entry. */
export const replyLength = (e: AnswerEntry): number => e.length - 14 - 2 * ttlCount(e);

/** `scopeClass`: the client's class under scoped court orders (PolicySet.clientClass), 0 otherwise. */
export function answerKey(q: Message, scopeClass = 0): string {
  const question = q.questions[0]!;
  return answerKeyOf(nameKey(question.name), question.type, (q.edns ? 1 : 0) | (q.edns?.do ? 2 : 0) | (q.cd ? 4 : 0) | (q.ad ? 8 : 0) | (scopeClass << 4));
}

/**
 * The key from its parts, for callers that read them off the wire (the fast path):
 * `nameKey` of the question name, QTYPE, and bits 1 = EDNS, 2 = DO, 4 = CD, 8 = AD (each changes the reply: RRSIGs, bogus data, the AD bit),
 * and above them the client's scope class (scoped court orders may answer classes differently).
 */
export function answerKeyOf(nameKey: string, qtype: number, bits: number): string {
  return nameKey + '/' + qtype + '/' + bits;
}

/** Offsets of the TTL fields of all records of a wire message, skipping OPT. */
export function ttlOffsets(wire: Buffer): number[] {
  const out: number[] = [];
  const skipName = (o: number): number => {
    for (;;) {
      const b = wire[o]!;
      if (b === 0) return o + 1;
      if ((b & 0xc0) === 0xc0) return o + 2;
      o += b + 1;
    }
  };
  let o = 12;
  for (let i = wire.readUInt16BE(4); i > 0; i--) o = skipName(o) + 4;
  const records = wire.readUInt16BE(6) + wire.readUInt16BE(8) + wire.readUInt16BE(10);
  for (let i = 0; i < records; i++) {
    o = skipName(o);
    const type = wire.readUInt16BE(o);
    if (type !== 41) out.push(o + 4);
    o += 10 + wire.readUInt16BE(o + 8);
  }
  return out;
}

export class AnswerCache {
  private readonly lru: LRUCache<string, AnswerEntry>;
  hits = 0;

  /** Bounded by entries, bytes or both (see boundedLru). */
  constructor(limit: number | { maxEntries?: number; maxBytes?: number }, private readonly now: () => number = Date.now) {
    const l = typeof limit === 'number' ? { maxEntries: limit } : limit;
    this.lru = boundedLru<AnswerEntry>(l.maxEntries, l.maxBytes);
  }

  get size(): number {
    return this.lru.size;
  }

  /** Bytes the entries take by the cache's own count. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  /** Keep a reply for `ttl` seconds (its smallest record TTL). */
  store(key: string, wire: Buffer, ttl: number): void {
    if (ttl <= 0) return;
    const now = this.now();
    const ttls = ttlOffsets(wire);
    const b = Buffer.allocUnsafe(wire.length + 2 * ttls.length + 14);
    let o = wire.copy(b, 0);
    for (const t of ttls) o = b.writeUInt16BE(t, o);
    o = b.writeUInt16BE(ttls.length, o);
    writeU48(b, now, o);
    writeU48(b, now + ttl * 1000, o + 6);
    this.lru.set(key, pack(b));
  }

  /**
   * The stored reply made the client's own: its ID, its RD bit, its question's
   * case (copied from the raw query, same length), TTLs counted down.
   * Undefined on a miss or when the reply would not fit `maxSize`.
   */
  reply(key: string, raw: Buffer, qname: Buffer, maxSize: number): Buffer | undefined {
    // The question name must sit uncompressed at offset 12 of the raw query (it always
    // does in real queries); otherwise take the ordinary path.
    if (raw.compare(qname, 0, qname.length, 12, 12 + qname.length) !== 0) return undefined;
    return this.replyAt(key, raw, 12 + qname.length, maxSize);
  }

  /** As `reply`, for a raw query whose question name is the bytes 12..qEnd (the fast path). */
  replyAt(key: string, raw: Buffer, qEnd: number, maxSize: number): Buffer | undefined {
    const e = this.lookup(key, maxSize);
    return e === undefined ? undefined : this.patch(e, raw, qEnd);
  }

  /** The live entry for `key` if its reply fits `maxSize`; no side effect but expiry. */
  lookup(key: string, maxSize: number): AnswerEntry | undefined {
    const e = this.lru.get(key);
    if (e === undefined) return undefined;
    if (this.now() >= expiresOf(e)) {
      this.lru.delete(key);
      return undefined;
    }
    return replyLength(e) > maxSize ? undefined : e;
  }

  /** A copy of the entry's reply made the client's own (see `reply`); counts a hit. */
  patch(e: AnswerEntry, raw: Buffer, qEnd: number): Buffer {
    const out = Buffer.allocUnsafe(replyLength(e));
    this.patchInto(e, raw, qEnd, out, 0);
    return out;
  }

  /**
   * As `patch`, written into `out` at `at` (the batched UDP output buffer: no Buffer per reply);
   * the caller makes sure it fits. Returns the reply's length.
   */
  patchInto(e: AnswerEntry, raw: Buffer, qEnd: number, out: Buffer, at: number): number {
    const n = ttlCount(e);
    const len = e.length - 14 - 2 * n;
    out.write(e, at, len, 'latin1');
    out[at] = raw[0]!;
    out[at + 1] = raw[1]!;
    out[at + 2] = (out[at + 2]! & ~0x01) | (raw[2]! & 0x01); // RD echoes the query
    // The question name sits at offset 12 in both, of equal length: take the client's case.
    for (let i = 12; i < qEnd; i++) out[at + i] = raw[i]!;
    const elapsed = Math.floor((this.now() - createdOf(e)) / 1000);
    if (elapsed > 0) {
      for (let i = 0, p = len; i < n; i++, p += 2) {
        const o = at + u16(e, p);
        out.writeUInt32BE(Math.max(0, out.readUInt32BE(o) - elapsed), o);
      }
    }
    this.hits++;
    return len;
  }

  clear(): void {
    this.lru.clear();
  }
}
