/** Turn the resolution into the client's reply (or keep a reply a stage already built). */
import { addEde } from '../../dns/edns.js';
import { encodeMessage } from '../../dns/message.js';
import { replyTo } from '../../dns/reply.js';
import type { AnswerCache } from '../cache/answers.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export class RespondStage implements Stage {
  readonly name = 'respond';

  constructor(private readonly maxUdpSize: number, private readonly answers: AnswerCache) {}

  handle(ctx: RequestContext): StageResult {
    if (!ctx.response) {
      const r = ctx.resolved!;
      const q = ctx.query!;
      const m = replyTo(q, r.rcode, this.maxUdpSize);
      // RFC 4035 3.2.1: RRSIGs, NSEC and NSEC3 only for a client that set DO.
      const dnssecOk = q.edns?.do === true;
      m.answers = dnssecOk && r.dnssec ? r.dnssec.answers : r.answers;
      m.authorities = dnssecOk && r.dnssec ? r.dnssec.authority : r.authority;
      // RFC 4035 3.2.3, RFC 6840 5.7-5.8: AD only when every step is secure, and the client asked (DO or AD).
      m.ad = r.secure === true && (dnssecOk || q.ad);
      // A locally served zone answers as its authoritative server would (RFC 6303 3, as the anchors do).
      if (r.local) m.aa = true;
      if (r.ede) addEde(m, r.ede.code, r.ede.text);
      ctx.response = m;
    }
    const full = encodeMessage(ctx.response);
    ctx.wire = full.length <= ctx.maxSize ? full : encodeMessage(ctx.response, ctx.maxSize);
    // Unmodified resolver answers go to the wire-form answer cache, for their smallest TTL;
    // never one with an EDE (a stale answer, RFC 8767, must not outlive its refresh).
    const key = ctx.notes.answerKey as string | undefined;
    const r = ctx.resolved;
    // Nor a locally served one: it costs no upstream query, and each is counted (verdict_local_answers_total).
    if (key && r && !ctx.notes.rewritten && (r.rcode === 0 || r.rcode === 3) && !r.ede && !r.local) {
      const records = [...ctx.response.answers, ...ctx.response.authorities];
      if (records.length) this.answers.store(key, full, Math.min(...records.map((x) => x.ttl)));
    }
    return 'answered';
  }
}
