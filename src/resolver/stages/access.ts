/** Only allowed clients may recurse: Verdict is never an open resolver by default. */
import { Ede, Rcode } from '../../dns/constants.js';
import { errorReply } from '../../dns/reply.js';
import { isLoopback } from '../acl.js';
import type { AccessList } from '../acl.js';
import type { RateLimiter } from '../ratelimit.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export class AccessStage implements Stage {
  readonly name = 'access';

  constructor(private acl: AccessList, private limiter?: RateLimiter, private limitLoopback = false) {}

  /** Swapped whole on reload. */
  setAccessList(acl: AccessList, limiter?: RateLimiter, limitLoopback = false): void {
    this.acl = acl;
    this.limiter = limiter;
    this.limitLoopback = limitLoopback;
  }

  handle(ctx: RequestContext): StageResult {
    if (this.acl.allows(ctx.client.address)) {
      if (!this.limiter || ctx.transport === 'tcp' || (!this.limitLoopback && isLoopback(ctx.client.address))) return 'next';
      if (this.limiter.take(ctx.client.address)) return 'next';
      ctx.notes.dropReason = 'ratelimit';
      return 'drop'; // over its rate: silence, so a spoofed flood gets no reflection
    }
    ctx.wire = errorReply(ctx.query!, Rcode.REFUSED, { code: Ede.PROHIBITED, text: 'recursion not allowed for this client' }, ctx.maxSize);
    return 'answered';
  }
}
