/**
 * Minimal answers to ANY over UDP (RFC 8482 4.2): one synthesised HINFO
 * "RFC8482" record instead of every RRset, so Verdict is no amplifier. Over
 * TCP (no spoofed source possible) ANY is resolved as usual.
 */
import { Type } from '../../dns/constants.js';
import { encodeMessage } from '../../dns/message.js';
import { replyTo } from '../../dns/reply.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

const HINFO = Buffer.concat([Buffer.from([7]), Buffer.from('RFC8482'), Buffer.from([0])]);

export class AnyStage implements Stage {
  readonly name = 'any';

  handle(ctx: RequestContext): StageResult {
    const q = ctx.query!;
    const question = q.questions[0]!;
    if (question.type !== Type.ANY || ctx.transport === 'tcp') return 'next';
    // A policy hit waiting for recursion answers ANY with its local data, as BIND does.
    if (ctx.notes.policyPending) return 'next';
    const m = replyTo(q);
    m.answers = [{ name: question.name, type: Type.HINFO, class: 1, ttl: 3789, rdata: HINFO }];
    ctx.response = m;
    ctx.wire = encodeMessage(m, ctx.maxSize);
    return 'answered';
  }
}
