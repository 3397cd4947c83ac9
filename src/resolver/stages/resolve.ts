/** Answer from the cache or by iterating from the closest known zone cut. */
import { Ede, Rcode } from '../../dns/constants.js';
import type { Iterator } from '../iterator/iterator.js';
import type { RequestContext, Stage } from '../context.js';
import type { StageResult } from '../context.js';

export class ResolveStage implements Stage {
  readonly name = 'resolve';

  private active = 0;

  constructor(private readonly iterator: Iterator, private readonly maxConcurrent: number) {}

  handle(ctx: RequestContext): StageResult | Promise<StageResult> {
    const q = ctx.query!;
    const question = q.questions[0]!;
    if (this.active >= this.maxConcurrent) {
      // Past the cap only recursion is refused: what the record cache holds whole is still answered
      // (a name can be there without a wire-form answer, e.g. asked before with other EDNS bits).
      return this.iterator.cached(question.name, question.type, q.cd).then((r) => {
        ctx.resolved = r ?? { rcode: Rcode.SERVFAIL, answers: [], authority: [], names: [question.name], ede: { code: Ede.OTHER, text: 'resolver busy: too many concurrent recursions' } };
        return 'next' as const;
      });
    }
    this.active++;
    // RFC 1034 4.3.1: without RD, answer from what we already know.
    return this.iterator.resolve(question.name, question.type, this.iterator.newBudget(q.cd), !q.rd).then((r) => {
      ctx.resolved = r;
      return 'next' as const;
    }).finally(() => { this.active--; });
  }
}
