/** Answer from the cache or by iterating from the closest known zone cut. */
import type { Iterator } from '../iterator/iterator.js';
import type { RequestContext, Stage } from '../context.js';
import type { StageResult } from '../context.js';

export class ResolveStage implements Stage {
  readonly name = 'resolve';

  constructor(private readonly iterator: Iterator) {}

  handle(ctx: RequestContext): StageResult | Promise<StageResult> {
    const q = ctx.query!;
    const question = q.questions[0]!;
    // RFC 1034 4.3.1: without RD, answer from what we already know.
    return this.iterator.resolve(question.name, question.type, this.iterator.newBudget(), !q.rd).then((r) => {
      ctx.resolved = r;
      return 'next' as const;
    });
  }
}
