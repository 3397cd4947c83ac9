/**
 * Target (b): upstream responses. Every reply the iterator receives is fuzzed
 * (mutated captures, generated answers/referrals/chains, then mutated bytes).
 * The bytes go through decodeMessage first, as the transport does: it must
 * return or throw WireError, and what it returns must re-encode and decode.
 * What decodes is fed to a real Iterator through a scripted transport: the
 * resolution must end in an answer, NXDOMAIN/NODATA or SERVFAIL, within its
 * time bound, within its query budget, and its result must encode as a reply.
 */
import { Class, Rcode, Type } from '../../src/dns/constants.js';
import { makeEdns } from '../../src/dns/edns.js';
import { decodeMessage, encodeMessage, makeQuery, WireError } from '../../src/dns/message.js';
import type { Message } from '../../src/dns/message.js';
import { nameFromText } from '../../src/dns/name.js';
import type { Name } from '../../src/dns/name.js';
import { replyTo } from '../../src/dns/reply.js';
import { ResolverCache } from '../../src/resolver/cache/cache.js';
import { Iterator } from '../../src/resolver/iterator/iterator.js';
import type { IteratorOptions } from '../../src/resolver/iterator/iterator.js';
import { ServerSelection } from '../../src/resolver/selection.js';
import { UpstreamError } from '../../src/resolver/transport.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../../src/resolver/transport.js';
import { inputRng } from '../rng.js';
import type { Rng } from '../rng.js';
import { describe, within } from '../target.js';
import type { Counters, Finding, Target, TargetContext } from '../target.js';
import { genName, genResponse, mutateWire, tryEncode } from '../wire.js';

const ZONES = ['example.com.', 'fuzz.test.', 'a.b.c.d.test.', 'com.', '.'].map((z) => nameFromText(z));
const QTYPES = [Type.A, Type.A, Type.AAAA, Type.NS, Type.CNAME, Type.MX, Type.TXT, Type.SOA, Type.ANY, Type.DNAME, Type.SRV];

export const RESPONSE_OPTIONS: IteratorOptions = {
  rootHints: [{ name: 'a.root.fuzz', address: '198.51.100.1' }],
  qnameMinimisation: true, upstreamTimeoutMs: 100, maxQueries: 30, maxDepth: 16, maxCnameHops: 12,
  queryTimeoutMs: 2000, maxNsPerReferral: 8,
};

class DecodeProblem extends Error {}

/**
 * What the transport does with upstream bytes: decode (WireError = ignored, as
 * a malformed datagram is), then the checks of NetTransport (QR, same question).
 */
export function acceptReply(wire: Buffer, q: UpstreamQuestion): Message {
  let m: Message;
  try {
    m = decodeMessage(wire);
  } catch (e) {
    if (e instanceof WireError) throw new UpstreamError('VERDICT_ERR_TIMEOUT', `malformed: ${e.message}`);
    throw new DecodeProblem(`decodeMessage threw ${describe(e)}`);
  }
  let again: Buffer;
  try {
    again = encodeMessage(m);
    decodeMessage(again);
  } catch (e) {
    throw new DecodeProblem(`decoded message does not re-encode: ${describe(e)}`);
  }
  const qq = m.questions[0];
  if (!m.qr || m.questions.length !== 1 || qq!.type !== q.type || !qq!.name.equals(q.name)) throw new UpstreamError('VERDICT_ERR_TIMEOUT', 'mismatched');
  return m;
}

/** The fuzzed internet: every server answers with what the input's generator says. */
export class FuzzedUpstream implements Transport {
  sent = 0;
  readonly wires: Buffer[] = [];
  problem?: string;

  constructor(private readonly rng: Rng, private readonly corpus: Buffer[]) {}

  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.sent++;
    const rng = this.rng;
    // A macrotask per query: a resolution that loops forever still lets the time bound fire.
    await new Promise((r) => setImmediate(r));
    if (rng.chance(0.05)) throw new UpstreamError('VERDICT_ERR_TIMEOUT', 'scripted loss');
    let wire: Buffer | undefined;
    if (rng.chance(0.3)) {
      wire = mutateWire(rng, rng.pick(this.corpus), rng.pick(this.corpus));
    } else {
      const zone = ZONES.find((z) => q.name.length >= z.length && q.name.subarray(q.name.length - z.length).equals(z)) ?? ZONES[4]!;
      wire = tryEncode(genResponse(rng, q.name, q.type, zone));
      if (wire && rng.chance(0.3)) wire = mutateWire(rng, wire, rng.pick(this.corpus));
    }
    if (!wire) throw new UpstreamError('VERDICT_ERR_TIMEOUT', 'nothing to send');
    // Most servers echo the question: patch it in so the fuzzed body reaches the iterator.
    if (rng.chance(0.85)) wire = patchQuestion(wire, q.name, q.type) ?? wire;
    this.wires.push(wire);
    try {
      const message = acceptReply(wire, q);
      return { message, rttMs: rng.int(200), sentName: q.name, tcp: false };
    } catch (e) {
      if (e instanceof DecodeProblem) this.problem ??= e.message;
      throw e instanceof UpstreamError ? e : new UpstreamError('VERDICT_ERR_BAD_REPLY', (e as Error).message);
    }
  }
}

/** Replace the question of a wire message (kept when the question cannot be read). */
function patchQuestion(wire: Buffer, name: Name, type: number): Buffer | undefined {
  if (wire.length < 12 || wire.readUInt16BE(4) !== 1) return undefined;
  let o = 12;
  for (let guard = 0; guard < 128; guard++) {
    if (o >= wire.length) return undefined;
    const b = wire[o]!;
    if (b === 0) { o++; break; }
    if ((b & 0xc0) === 0xc0) { o += 2; break; }
    if ((b & 0xc0) !== 0) return undefined;
    o += b + 1;
  }
  if (o + 4 > wire.length) return undefined;
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(Class.IN, 2);
  const head = Buffer.from(wire.subarray(0, 12));
  head[2] = head[2]! | 0x80;
  // Pointers into the rest shift with the new question: a further lie the parser must survive.
  return Buffer.concat([head, name, q, wire.subarray(o + 4)]);
}

export interface ResponseOutcome {
  ok: boolean;
  kind?: Finding['kind'];
  problem?: string;
  wires: Buffer[];
  rcode?: number;
}

export async function runResponseInput(ctx: TargetContext, index: number): Promise<ResponseOutcome> {
  const rng = inputRng(ctx.seed, index);
  const up = new FuzzedUpstream(rng, ctx.corpus.responses);
  const opts = { ...RESPONSE_OPTIONS, qnameMinimisation: rng.chance(0.5) };
  const it = new Iterator(opts, up, new ResolverCache({ maxEntries: 500, maxTtl: 86400, maxNegativeTtl: 3600 }), new ServerSelection(Date.now, () => 0.5), Date.now);
  const qname = genName(rng, rng.pick(ZONES));
  const qtype = rng.pick(QTYPES);
  let r;
  try {
    r = await within(it.resolve(qname, qtype, it.newBudget()), ctx.inputTimeoutMs);
  } catch (e) {
    return { ok: false, kind: 'crash', problem: `resolve() rejected: ${describe(e)}`, wires: up.wires };
  }
  if (r === 'timeout') return { ok: false, kind: 'hang', problem: `no result in ${ctx.inputTimeoutMs} ms after ${up.sent} queries`, wires: up.wires };
  if (up.problem) return { ok: false, kind: 'crash', problem: up.problem, wires: up.wires };
  if (r.rcode !== Rcode.NOERROR && r.rcode !== Rcode.NXDOMAIN && r.rcode !== Rcode.SERVFAIL) return { ok: false, kind: 'invalid', problem: `rcode ${r.rcode}`, wires: up.wires };
  // The budget is a hard limit (priming included).
  if (up.sent > opts.maxQueries) return { ok: false, kind: 'invalid', problem: `${up.sent} upstream queries for a budget of ${opts.maxQueries}`, wires: up.wires };
  // The client's reply, as the respond stage builds it, must encode and decode.
  try {
    const m = replyTo(makeQuery(7, qname, qtype, { rd: true, edns: makeEdns(1232) }), r.rcode);
    m.answers = r.answers;
    m.authorities = r.authority;
    const wire = encodeMessage(m, 1232);
    decodeMessage(wire);
  } catch (e) {
    return { ok: false, kind: 'crash', problem: `the resolution does not encode as a reply: ${describe(e)}`, wires: up.wires };
  }
  return { ok: true, wires: up.wires, rcode: r.rcode };
}

export async function responseTarget(ctx: TargetContext): Promise<Target> {
  return {
    batchSize: 200,
    async batch(first, count, mark, report: (f: Finding) => void, c: Counters) {
      for (let i = first; i < first + count; i++) {
        mark(i);
        const o = await runResponseInput(ctx, i);
        c.inputs++;
        c.replies += o.wires.length;
        if (o.ok) {
          if (o.rcode === Rcode.SERVFAIL) c.rejected++;
          else c.accepted++;
        } else {
          report({ kind: o.kind!, target: 'response', index: i, detail: o.problem!, input: JSON.stringify(o.wires.map((w) => w.toString('base64'))) });
        }
      }
    },
    async close() {},
  };
}
