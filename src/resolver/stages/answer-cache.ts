/** Replies straight from the wire-form answer cache (see cache/answers.ts). */
import { answerKey } from '../cache/answers.js';
import type { AnswerCache } from '../cache/answers.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export class AnswerCacheStage implements Stage {
  readonly name = 'answer-cache';

  constructor(private readonly cache: AnswerCache) {}

  handle(ctx: RequestContext): StageResult {
    const q = ctx.query!;
    // A policy hit waiting for recursion (RPZ qname-wait-recurse) must see the resolution.
    if (!q.rd || ctx.notes.skipAnswerCache) return 'next';
    // Scoped court orders: clients of different scope classes may get different answers
    // (a CNAME chain into a name blocked for one class only), so each class has its own entries.
    const key = answerKey(q, (ctx.notes.scopeClass as number | undefined) ?? 0);
    const wire = this.cache.reply(key, ctx.raw, q.questions[0]!.name, ctx.maxSize);
    if (wire) {
      ctx.wire = wire;
      ctx.notes.cache = 'answer';
      return 'answered';
    }
    ctx.notes.answerKey = key;
    return 'next';
  }
}
