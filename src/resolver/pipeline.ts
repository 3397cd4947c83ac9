/**
 * The request path: an ordered list of stages with one interface. The order
 * lives here and nowhere else (DESIGN.md "The request path").
 */
import type { RequestContext, Stage, StageResult } from './context.js';

export class Pipeline {
  constructor(readonly stages: readonly Stage[]) {}

  /**
   * Run the stages in order. Stays synchronous while stages are (a cache hit
   * costs no promise); switches to async at the first stage that waits.
   */
  run(ctx: RequestContext): Buffer | undefined | Promise<Buffer | undefined> {
    return this.from(ctx, 0);
  }

  private from(ctx: RequestContext, start: number): Buffer | undefined | Promise<Buffer | undefined> {
    for (let i = start; i < this.stages.length; i++) {
      const r = this.stages[i]!.handle(ctx);
      if (typeof r !== 'string') return r.then((res) => this.after(ctx, i, res));
      if (r === 'answered') return ctx.wire;
      if (r === 'drop') return undefined;
    }
    return ctx.wire;
  }

  private after(ctx: RequestContext, i: number, r: StageResult): Buffer | undefined | Promise<Buffer | undefined> {
    if (r === 'answered') return ctx.wire;
    if (r === 'drop') return undefined;
    return this.from(ctx, i + 1);
  }
}
