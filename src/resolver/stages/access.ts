/** Only allowed clients may recurse: Verdict is never an open resolver by default. */
import { Ede, Rcode } from '../../dns/constants.js';
import { errorReply } from '../../dns/reply.js';
import type { AccessList } from '../acl.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export class AccessStage implements Stage {
  readonly name = 'access';

  constructor(private acl: AccessList) {}

  /** Swapped whole on reload. */
  setAccessList(acl: AccessList): void {
    this.acl = acl;
  }

  handle(ctx: RequestContext): StageResult {
    if (this.acl.allows(ctx.client.address)) return 'next';
    ctx.wire = errorReply(ctx.query!, Rcode.REFUSED, { code: Ede.PROHIBITED, text: 'recursion not allowed for this client' }, ctx.maxSize);
    return 'answered';
  }
}
