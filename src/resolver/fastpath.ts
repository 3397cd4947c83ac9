/**
 * The wire-form fast path (issue 6): a cached answer straight from the query's
 * bytes, before any pipeline stage runs.
 *
 * It reads the header, the one question and the OPT record where they sit in
 * the packet, builds the answer cache's key from the question's bytes, checks
 * access and the pre-recursion policy triggers, and copies the stored reply
 * with ID, RD, the question's case and the TTLs patched (AnswerCache). No
 * Message object, no request context, no promise, no closure, no log line.
 *
 * Anything it is not sure of returns undefined, and the ordinary pipeline
 * (DESIGN.md "The request path") handles the packet as if the fast path did not
 * exist: a malformed or unusual packet, RD=0, a type other than a plain
 * question (ANY, transfers, meta types), class other than IN, EDNS version
 * above 0, a compressed or trailing-byte packet, a client the ACL refuses or the
 * rate limiter counts, any policy hit (applied or log-only), a cache miss, an
 * answer too big for the client. So the fast path can only ever give the
 * answer the pipeline would have given from the same cache entry.
 */
import type { PolicySet } from '../rpz/policy.js';
import { answerKeyOf } from './cache/answers.js';
import type { AnswerCache, AnswerEntry } from './cache/answers.js';
import type { Channel, TransportKind } from './context.js';

const CHANNELS: readonly Channel[] = ['udp', 'tcp', 'dot', 'doh'];

/** The key of FastPath.counts: query type, rcode and channel in one number. */
export function fastCountKey(qtype: number, rcode: number, channel: Channel): number {
  return qtype * 64 + rcode * 4 + CHANNELS.indexOf(channel);
}

export function fromFastCountKey(k: number): { qtype: number; rcode: number; channel: Channel } {
  return { qtype: Math.floor(k / 64), rcode: (k >> 2) & 0xf, channel: CHANNELS[k & 3]! };
}

export interface FastPathDeps {
  answers: AnswerCache;
  policy: () => PolicySet;
  /** True when the client may recurse and is within its rate (AccessStage.admits; may take a token). */
  admits: (address: string, transport: TransportKind) => boolean;
  /** Largest UDP reply we send (server.max_udp_size). */
  maxUdpSize: number;
  /** Each answer given here: the question's name key and the client (traffic statistics; keeps no address). */
  observe?: (nameKey: string, address: string) => void;
}

/** Types answered only by the pipeline: ANY (RFC 8482 stage), AXFR, IXFR, MAILA/MAILB, OPT. */
function slowType(t: number): boolean {
  return t === 255 || t === 252 || t === 251 || t === 254 || t === 253 || t === 41;
}

export class FastPath {
  /**
   * Answers given here, by fastCountKey(qtype, rcode, channel); pushed to Prometheus when
   * scraped. They are not timed: an answer given here takes microseconds, all of it inside the
   * histogram's first bucket, and prom-client's observe() alone cost 4% of the CPU per query.
   */
  readonly counts = new Map<number, number>();
  /** All answers given here (verdict_fast_answers_total). */
  answered = 0;

  constructor(private readonly deps: FastPathDeps) {}

  /** The reply for `raw`, or undefined to let the pipeline handle it. DoT and DoH are streams: TCP's rules. */
  answer(raw: Buffer, address: string, channel: Channel): Buffer | undefined {
    const entry = this.match(raw, address, channel === 'udp' ? 'udp' : 'tcp');
    if (entry === undefined) return undefined;
    const wire = this.deps.answers.patch(entry, raw, this.qEnd);
    this.count(wire[3]!, channel, address);
    return wire;
  }

  /**
   * The reply to a UDP query written into `out` at `at` (the batched listener's output buffer,
   * udp-batch.ts), which must have room for maxUdpSize bytes there; its length, or 0 to let the
   * pipeline handle it.
   */
  answerInto(raw: Buffer, address: string, out: Buffer, at: number): number {
    const entry = this.match(raw, address, 'udp');
    if (entry === undefined) return 0;
    const len = this.deps.answers.patchInto(entry, raw, this.qEnd, out, at);
    this.count(out[at + 3]!, 'udp', address);
    return len;
  }

  private count(flags: number, channel: Channel, address: string): void {
    const k = fastCountKey(this.qtype, flags & 0xf, channel);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    this.answered++;
    this.deps.observe?.(this.nameKey, address);
  }

  /** Of the last matched query (set by `match`: no tuple per query): where its question ends, its type, its name key. */
  private qEnd = 0;
  private qtype = 0;
  private nameKey = '';

  /** The cache entry that answers `raw` as the pipeline would, or undefined. */
  private match(raw: Buffer, address: string, transport: TransportKind): AnswerEntry | undefined {
    const len = raw.length;
    // Header: QR=0, OPCODE=QUERY, RD=1; QDCOUNT=1, ANCOUNT=NSCOUNT=0, ARCOUNT 0 or 1.
    if (len < 17 || (raw[2]! & 0xf9) !== 0x01) return undefined;
    if (raw[4] !== 0 || raw[5] !== 1 || raw[6] !== 0 || raw[7] !== 0 || raw[8] !== 0 || raw[9] !== 0 || raw[10] !== 0) return undefined;
    const arcount = raw[11]!;
    if (arcount > 1) return undefined;
    // The question name, uncompressed. The key is its bytes as latin1, lowercased (nameKey's
    // form); a name with bytes above 0x7f goes the ordinary way, since String.toLowerCase
    // would fold latin1 letters that DNS keeps distinct (RFC 4343: ASCII only).
    let o = 12;
    let upper = false;
    for (;;) {
      const l = raw[o]!;
      if (l === 0) break;
      if (l > 63 || o + 1 + l >= len) return undefined;
      for (let i = o + 1; i <= o + l; i++) {
        const b = raw[i]!;
        if (b > 0x7f) return undefined;
        if (b >= 0x41 && b <= 0x5a) upper = true;
      }
      o += l + 1;
    }
    const qEnd = o + 1;
    if (qEnd - 12 > 255 || qEnd + 4 > len) return undefined;
    const qtype = (raw[qEnd]! << 8) | raw[qEnd + 1]!;
    if (raw[qEnd + 2] !== 0 || raw[qEnd + 3] !== 1 || slowType(qtype)) return undefined;
    o = qEnd + 4;
    let maxSize = transport === 'tcp' ? 65535 : 512;
    let bits = 0;
    if (arcount === 1) {
      // OPT (RFC 6891 6.1.2): root owner, type 41, class = UDP size, TTL = ext-rcode, version, DO.
      if (o + 11 > len || raw[o] !== 0 || raw[o + 1] !== 0 || raw[o + 2] !== 41) return undefined;
      if (raw[o + 6] !== 0) return undefined; // version > 0: BADVERS from the pipeline
      const udpSize = (raw[o + 3]! << 8) | raw[o + 4]!;
      bits = 1 | ((raw[o + 7]! & 0x80) !== 0 ? 2 : 0);
      if (transport === 'udp') maxSize = Math.min(Math.max(udpSize, 512), this.deps.maxUdpSize);
      const rdlen = (raw[o + 9]! << 8) | raw[o + 10]!;
      o += 11;
      const end = o + rdlen;
      if (end !== len) return undefined;
      // Options are not used by a cached answer, but must be well-formed (else FORMERR from the pipeline).
      while (o < end) {
        if (o + 4 > end) return undefined;
        o += 4 + ((raw[o + 2]! << 8) | raw[o + 3]!);
      }
      if (o !== end) return undefined;
    } else if (o !== len) {
      return undefined;
    }
    if ((raw[3]! & 0x10) !== 0) bits |= 4; // CD
    if ((raw[3]! & 0x20) !== 0) bits |= 8; // AD (RFC 6840 5.7: asks for the AD bit without DO)
    const set = this.deps.policy();
    if (!set.isEmpty) {
      // Scoped court orders: the client's class picks the zones it sees and its cache entries.
      const cls = set.scoped ? set.clientClass(address) : 0;
      bits |= cls << 4;
      const out = set.before(address, raw.subarray(12, qEnd), cls);
      if (out.hit || out.logged.length) return undefined;
    }
    const name = raw.toString('latin1', 12, qEnd);
    const key = upper ? name.toLowerCase() : name;
    const entry = this.deps.answers.lookup(answerKeyOf(key, qtype, bits), maxSize);
    // Access last: it may take a rate-limit token, which must only be spent on a query answered here.
    if (entry === undefined || !this.deps.admits(address, transport)) return undefined;
    this.qEnd = qEnd;
    this.qtype = qtype;
    this.nameKey = key;
    return entry;
  }
}
