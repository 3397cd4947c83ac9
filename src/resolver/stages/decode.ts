/**
 * Decode and sanity-check a client query (RFC 1035 4.1.1, RFC 6891).
 * Malformed input never throws out of here: FORMERR when the header can be
 * read, silence when it cannot, and silence for anything with QR=1 (answering
 * responses would let two servers bounce packets at each other).
 */
import { Class, Ede, Opcode, Rcode, Type } from '../../dns/constants.js';
import { decodeMessage, WireError } from '../../dns/message.js';
import { errorReply, headerOnlyReply } from '../../dns/reply.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export class DecodeStage implements Stage {
  readonly name = 'decode';

  /** With `transfers`, NOTIFY and AXFR/IXFR go on to the transfer stage (ctx.notes.transfer). */
  constructor(private readonly maxUdpSize: number, private readonly transfers = false) {}

  handle(ctx: RequestContext): StageResult {
    const raw = ctx.raw;
    if (raw.length < 12 || (raw[2]! & 0x80) !== 0) return 'drop';
    let q;
    try {
      q = decodeMessage(raw);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      ctx.wire = headerOnlyReply(raw, Rcode.FORMERR);
      ctx.notes.error = e.message;
      return 'answered';
    }
    ctx.query = q;
    if (q.edns) {
      // RFC 6891 6.2.5: honour the client's size, never below 512, capped by ours.
      ctx.maxSize = ctx.transport === 'tcp' ? 65535 : Math.min(Math.max(q.edns.udpSize, 512), this.maxUdpSize);
      if (q.edns.version > 0) {
        // RFC 6891 6.1.3: BADVERS, answered with the highest version we support (0).
        ctx.wire = errorReply({ ...q, questions: [] }, Rcode.BADVERS);
        return 'answered';
      }
    } else {
      ctx.maxSize = ctx.transport === 'tcp' ? 65535 : 512;
    }
    if (q.questions.length !== 1) return this.fail(ctx, q.opcode === Opcode.QUERY || q.opcode === Opcode.NOTIFY ? Rcode.FORMERR : Rcode.NOTIMP);
    const question = q.questions[0]!;
    if (this.transfers && (q.opcode === Opcode.NOTIFY || (q.opcode === Opcode.QUERY && (question.type === Type.AXFR || question.type === Type.IXFR)))) {
      ctx.notes.transfer = true;
      return 'next';
    }
    if (q.opcode !== Opcode.QUERY) return this.fail(ctx, Rcode.NOTIMP);
    if (question.class !== Class.IN) return this.fail(ctx, Rcode.REFUSED, { code: Ede.NOT_SUPPORTED, text: 'only class IN is served' });
    if (question.type === Type.AXFR || question.type === Type.IXFR || question.type === Type.OPT) {
      return this.fail(ctx, Rcode.REFUSED, { code: Ede.NOT_SUPPORTED, text: 'zone transfers and meta types are not served here' });
    }
    return 'next';
  }

  private fail(ctx: RequestContext, rcode: number, ede?: { code: number; text: string }): StageResult {
    ctx.wire = errorReply(ctx.query!, rcode, ede, ctx.maxSize);
    return 'answered';
  }
}
