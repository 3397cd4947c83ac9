/** Only allowed clients may recurse: Verdict is never an open resolver by default. */
import { Ede, Rcode } from '../../dns/constants.js';
import { errorReply } from '../../dns/reply.js';
import { isLoopback } from '../acl.js';
import type { AccessList } from '../acl.js';
import type { RateLimiter } from '../ratelimit.js';
import type { RequestContext, Stage, StageResult, TransportKind } from '../context.js';

export class AccessStage implements Stage {
  readonly name = 'access';

  constructor(private acl: AccessList, private limiter?: RateLimiter, private limitLoopback = false) {}

  /** Swapped whole on reload. */
  setAccessList(acl: AccessList, limiter?: RateLimiter, limitLoopback = false): void {
    this.acl = acl;
    this.limiter = limiter;
    this.limitLoopback = limitLoopback;
  }

  /** The fast path's check: allowed and within its rate (takes a token when a limit applies). */
  admits(address: string, transport: TransportKind): boolean {
    return this.acl.allows(address) && this.withinRate(address, transport);
  }

  /** TCP proves the source address, and loopback is exempt unless configured: no limit there. */
  private withinRate(address: string, transport: TransportKind): boolean {
    if (!this.limiter || transport === 'tcp' || (!this.limitLoopback && isLoopback(address))) return true;
    return this.limiter.take(address);
  }

  handle(ctx: RequestContext): StageResult {
    if (this.acl.allows(ctx.client.address)) {
      if (this.withinRate(ctx.client.address, ctx.transport)) return 'next';
      ctx.notes.dropReason = 'ratelimit';
      return 'drop'; // over its rate: silence, so a spoofed flood gets no reflection
    }
    ctx.wire = errorReply(ctx.query!, Rcode.REFUSED, { code: Ede.PROHIBITED, text: 'recursion not allowed for this client' }, ctx.maxSize);
    return 'answered';
  }
}
