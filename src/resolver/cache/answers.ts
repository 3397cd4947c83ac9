/**
 * The answer cache: whole replies in wire form, keyed by question and the
 * query bits that change a reply (EDNS present, DO, CD). A hit copies the
 * stored bytes and patches ID, flags, the question's case and the TTLs: no
 * decode, no encode, no promise (DESIGN.md "answers from cache in wire form").
 *
 * Only unmodified resolver answers are stored (never policy rewrites), and the
 * whole cache is dropped when the policy set changes, since post-recursion
 * triggers (response IP, NS name/IP) may judge the same answer differently.
 */
import { LRUCache } from 'lru-cache';
import type { Message } from '../../dns/message.js';
import { nameKey } from '../../dns/name.js';

interface Entry {
  wire: Buffer;
  /** Byte offsets of every TTL field (OPT excluded). */
  ttls: number[];
  created: number;
  expires: number;
}

export function answerKey(q: Message): string {
  const question = q.questions[0]!;
  const bits = (q.edns ? 1 : 0) | (q.edns?.do ? 2 : 0) | (q.cd ? 4 : 0);
  return nameKey(question.name) + '/' + question.type + '/' + bits;
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
  private readonly lru: LRUCache<string, Entry>;
  hits = 0;

  constructor(maxEntries: number, private readonly now: () => number = Date.now) {
    this.lru = new LRUCache({ max: maxEntries });
  }

  get size(): number {
    return this.lru.size;
  }

  /** Keep a reply for `ttl` seconds (its smallest record TTL). */
  store(key: string, wire: Buffer, ttl: number): void {
    if (ttl <= 0) return;
    const now = this.now();
    this.lru.set(key, { wire: Buffer.from(wire), ttls: ttlOffsets(wire), created: now, expires: now + ttl * 1000 });
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
    const e = this.lru.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expires) {
      this.lru.delete(key);
      return undefined;
    }
    if (e.wire.length > maxSize) return undefined;
    const out = Buffer.allocUnsafe(e.wire.length);
    e.wire.copy(out);
    out[0] = raw[0]!;
    out[1] = raw[1]!;
    out[2] = (out[2]! & ~0x01) | (raw[2]! & 0x01); // RD echoes the query
    // The question name sits at offset 12 in both, of equal length: take the client's case.
    qname.copy(out, 12);
    const elapsed = Math.floor((now - e.created) / 1000);
    if (elapsed > 0) for (const o of e.ttls) out.writeUInt32BE(Math.max(0, out.readUInt32BE(o) - elapsed), o);
    this.hits++;
    return out;
  }

  clear(): void {
    this.lru.clear();
  }
}
