/** Turn the resolution into the client's reply (or keep a reply a stage already built). */
import { addEde } from '../../dns/edns.js';
import { encodeMessage } from '../../dns/message.js';
import { replyTo } from '../../dns/reply.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export class RespondStage implements Stage {
  readonly name = 'respond';

  constructor(private readonly maxUdpSize: number) {}

  handle(ctx: RequestContext): StageResult {
    if (!ctx.response) {
      const r = ctx.resolved!;
      const m = replyTo(ctx.query!, r.rcode, this.maxUdpSize);
      m.answers = r.answers;
      m.authorities = r.authority;
      if (r.ede) addEde(m, r.ede.code, r.ede.text);
      ctx.response = m;
    }
    ctx.wire = encodeMessage(ctx.response, ctx.maxSize);
    return 'answered';
  }
}
