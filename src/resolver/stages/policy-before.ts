/**
 * RPZ before recursion: rpz-client-ip and QNAME triggers (DESIGN.md "The
 * request path"). Runs after access control, before the answer cache.
 *
 * It captures the current PolicySet in `ctx.notes.policy`, so the after-stage
 * applies the same set: a query sees the old policy or the new, never both.
 *
 * When to answer at once (BIND's qname-wait-recurse, ARM "Response Policy
 * Zone (RPZ) Rewriting"): with `qname_wait_recurse: yes` (BIND's default) BIND
 * resolves the name first and only then applies a QNAME or client-IP rule; if
 * that resolution fails (SERVFAIL, timeouts) there is no rewrite and the client
 * gets SERVFAIL (checked against named 9.18). So the hit is kept pending
 * (`ctx.notes.policyPending`) and the after-stage applies it. With `no`, a hit
 * in zone i is applied at once unless a zone before i holds IP, NSDNAME or
 * NSIP triggers, which could only be decided after recursion.
 *
 * Only queries with RD=1 are rewritten, as BIND's default `recursive-only yes`.
 */
import { encodeMessage } from '../../dns/message.js';
import type { Name } from '../../dns/name.js';
import type { PolicyHit, PolicySet } from '../../rpz/policy.js';
import { hitNote } from '../../rpz/policy.js';
import { completeRedirect, rewriteAnswer } from '../../rpz/rewrite.js';
import type { Rewrite } from '../../rpz/rewrite.js';
import type { Resolved } from '../iterator/iterator.js';
import type { RequestContext, Stage, StageResult } from '../context.js';

export interface PolicyStageOptions {
  /** BIND's qname-wait-recurse (default true, as BIND). */
  qnameWaitRecurse?: boolean;
  /** TTL cap for zones without their own max_policy_ttl (default 5 s, BIND's). */
  maxPolicyTtl?: number;
  /** Called for every hit, applied or log-only (logs, metrics). */
  onHit?: (ctx: RequestContext, hit: PolicyHit) => void;
  /** Resolves a CNAME redirect's target (the server passes the iterator's); without it the CNAME alone is returned. */
  resolve?: (name: Name, type: number) => Promise<Resolved>;
  /** Rewrite only RD=1 queries (BIND's `recursive-only yes`, the default). */
  recursiveOnly?: boolean;
  /** Our EDNS UDP size advertised in rewritten replies. */
  udpSize?: number;
}

/** Notes the two stages leave on the context (read by respond, logs and metrics). */
export const NOTE = {
  /** The PolicySet this query uses. */
  policy: 'policy',
  /** A hit waiting for recursion (qname-wait-recurse). */
  pending: 'policyPending',
  /** The before-stage checked client-ip and QNAME triggers of the query name. */
  checked: 'policyChecked',
  /** The decision is taken (PASSTHRU, or a rewrite): the after-stage does nothing. */
  done: 'policyDone',
  /** The answer cache must not answer (a pending hit must see the resolution). */
  skipAnswerCache: 'skipAnswerCache',
  /** The reply is rewritten: never stored in the answer cache. */
  rewritten: 'rewritten',
  /** `HitNote` of the applied hit (else of the first log-only one); all log-only ones are in `rpzLogOnly`. */
  rpz: 'rpz',
  /** The client's scope class (scoped court orders): the answer cache keeps one answer per class. */
  scopeClass: 'scopeClass',
} as const;

/** Shared by both stages: report a hit and record it in the notes. */
export function reportHit(ctx: RequestContext, hit: PolicyHit, onHit?: (ctx: RequestContext, hit: PolicyHit) => void): void {
  const note = hitNote(hit);
  if (hit.logOnly) {
    const list = (ctx.notes.rpzLogOnly as ReturnType<typeof hitNote>[] | undefined) ?? [];
    list.push(note);
    ctx.notes.rpzLogOnly = list;
    // Shown as the query's hit only when nothing applied: logs then say what would have happened.
    if (!ctx.notes[NOTE.rpz]) ctx.notes[NOTE.rpz] = note;
  } else {
    ctx.notes[NOTE.rpz] = note;
  }
  onHit?.(ctx, hit);
}

/**
 * Apply a rewrite to the context: 'drop', 'next' (passthru: the answer goes
 * on unchanged) or 'done' with `ctx.response` set. Redirects resolve their
 * target first (a promise only then).
 */
export function applyRewrite(
  ctx: RequestContext,
  r: Rewrite,
  resolve: ((name: Name, type: number) => Promise<Resolved>) | undefined,
): 'drop' | 'next' | 'done' | Promise<'done'> {
  ctx.notes[NOTE.done] = true;
  switch (r.kind) {
    case 'passthru':
      return 'next';
    case 'drop':
      ctx.notes.dropReason = 'policy';
      return 'drop';
    case 'reply':
      ctx.response = r.message;
      ctx.notes[NOTE.rewritten] = true;
      return 'done';
    case 'redirect':
      ctx.notes[NOTE.rewritten] = true;
      if (!resolve) {
        ctx.response = r.message;
        return 'done';
      }
      return resolve(r.target, r.qtype).then(
        (res) => res,
        () => undefined,
      ).then((res) => {
        ctx.response = completeRedirect(r.message, res ?? { rcode: 2, answers: [], authority: [], names: [r.target] });
        return 'done' as const;
      });
  }
}

export class PolicyBeforeStage implements Stage {
  readonly name = 'policy-before';

  constructor(private readonly current: () => PolicySet, private readonly opts: PolicyStageOptions = {}) {}

  handle(ctx: RequestContext): StageResult | Promise<StageResult> {
    const set = this.current();
    ctx.notes[NOTE.policy] = set;
    if (set.isEmpty) return 'next';
    const cls = set.scoped ? set.clientClass(ctx.client.address) : 0;
    if (cls !== 0) ctx.notes[NOTE.scopeClass] = cls;
    const q = ctx.query!;
    if ((this.opts.recursiveOnly ?? true) && !q.rd) return 'next';
    const question = q.questions[0]!;
    const out = set.before(ctx.client.address, question.name, cls);
    ctx.notes[NOTE.checked] = true;
    for (const h of out.logged) reportHit(ctx, h, this.opts.onHit);
    const hit = out.hit;
    if (!hit) return 'next';
    if ((this.opts.qnameWaitRecurse ?? true) || set.postTriggersBefore(hit.zoneIndex)) {
      ctx.notes[NOTE.pending] = hit;
      ctx.notes[NOTE.skipAnswerCache] = true;
      return 'next';
    }
    reportHit(ctx, hit, this.opts.onHit);
    const r = rewriteAnswer(hit, { query: q, transport: ctx.transport, maxPolicyTtl: this.opts.maxPolicyTtl, udpSize: this.opts.udpSize });
    const applied = applyRewrite(ctx, r, this.opts.resolve);
    if (typeof applied !== 'string') return applied.then(() => this.answer(ctx));
    if (applied === 'done') return this.answer(ctx);
    return applied;
  }

  private answer(ctx: RequestContext): StageResult {
    ctx.wire = encodeMessage(ctx.response!, ctx.maxSize);
    return 'answered';
  }
}
