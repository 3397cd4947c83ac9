/**
 * RPZ after recursion: QNAME triggers on every name of the CNAME chain,
 * rpz-ip on the answer's addresses, rpz-nsdname / rpz-nsip on the
 * delegations above each name, and a client-ip/QNAME hit kept waiting by the
 * before-stage. Runs after resolve, before respond; when it rewrites it sets
 * `ctx.response` and `ctx.notes.rewritten` (so the reply is never cached).
 *
 * As BIND: nothing is rewritten when the resolution failed (SERVFAIL and the
 * like, even with a pending QNAME hit); NS triggers look only at delegations
 * whose zone has at least `min-ns-dots` + 1 labels (BIND's default 1: a TLD's
 * name servers never trigger); with `break-dnssec no` a signed answer to a DO=1
 * query is left alone.
 */
import { Rcode } from '../../dns/constants.js';
import { labelCount, parentName } from '../../dns/name.js';
import type { Name } from '../../dns/name.js';
import type { Delegations, PolicyHit, PolicySet } from '../../rpz/policy.js';
import { chainPrefix, rewriteAnswer } from '../../rpz/rewrite.js';
import type { RequestContext, Stage, StageResult } from '../context.js';
import { applyRewrite, NOTE, reportHit } from './policy-before.js';
import type { PolicyStageOptions } from './policy-before.js';

export interface PolicyAfterOptions extends PolicyStageOptions {
  /** NS names and addresses of every cached delegation enclosing a name (the iterator's `delegations`). */
  delegations?: (name: Name) => Delegations;
  /** BIND's min-ns-dots (default 1). */
  minNsDots?: number;
  /** BIND's break-dnssec (default false). */
  breakDnssec?: boolean;
  /**
   * Hits that rewrite a signed answer to a DO=1 query whatever break-dnssec says:
   * the court-order zone's (orders are law, not advice; the client is told by EDE 16).
   */
  overridesDnssec?: (hit: PolicyHit) => boolean;
}

export class PolicyAfterStage implements Stage {
  readonly name = 'policy-after';
  private readonly delegations?: (name: Name) => Delegations;

  constructor(private readonly current: () => PolicySet, private readonly opts: PolicyAfterOptions = {}) {
    const d = opts.delegations;
    if (d) {
      const minLabels = (opts.minNsDots ?? 1) + 1;
      this.delegations = (name) => withoutShallowZones(d, name, minLabels);
    }
  }

  handle(ctx: RequestContext): StageResult | Promise<StageResult> {
    if (ctx.notes[NOTE.done] || ctx.notes[NOTE.rewritten] || ctx.response) return 'next';
    const resolved = ctx.resolved;
    const q = ctx.query;
    if (!resolved || !q) return 'next';
    const set = (ctx.notes[NOTE.policy] as PolicySet | undefined) ?? this.current();
    if (set.isEmpty) return 'next';
    if ((this.opts.recursiveOnly ?? true) && !q.rd) return 'next';
    const pending = ctx.notes[NOTE.pending] as PolicyHit | undefined;
    const checked = ctx.notes[NOTE.checked] === true;
    // Nothing left to look at: the before-stage saw the query name, and there is neither a chain nor post triggers.
    if (!pending && checked && !set.hasPostTriggers && resolved.names.length <= 1) return 'next';
    if (resolved.rcode !== Rcode.NOERROR && resolved.rcode !== Rcode.NXDOMAIN) return 'next';
    // BIND's break-dnssec no: a DO=1 query is not rewritten where the matched name's RRset came
    // signed (BIND judges that name, not the whole chain); court orders override (overridesDnssec).
    const protectSigned = !this.opts.breakDnssec && q.edns?.do === true && resolved.signed === true;

    const out = set.after({
      client: ctx.client.address,
      names: resolved.names,
      answers: resolved.answers,
      ...(this.delegations ? { delegations: this.delegations } : {}),
      ...(pending ? { pending } : {}),
      firstNameChecked: checked,
      ...(set.scoped ? { scopeClass: (ctx.notes[NOTE.scopeClass] as number | undefined) ?? set.clientClass(ctx.client.address) } : {}),
    });
    for (const h of out.logged) reportHit(ctx, h, this.opts.onHit);
    const hit = out.hit;
    if (!hit) return 'next';
    if (protectSigned && (resolved.signedNames?.[hit.nameIndex] ?? true) && !this.opts.overridesDnssec?.(hit)) return 'next';
    reportHit(ctx, hit, this.opts.onHit);
    const r = rewriteAnswer(hit, {
      query: q,
      transport: ctx.transport,
      prefix: chainPrefix(q.edns?.do && resolved.dnssec ? resolved.dnssec.answers : resolved.answers, hit.nameIndex),
      maxPolicyTtl: this.opts.maxPolicyTtl,
      udpSize: this.opts.udpSize,
    });
    const applied = applyRewrite(ctx, r, this.opts.resolve);
    if (typeof applied !== 'string') return applied.then(() => 'next' as const);
    return applied === 'drop' ? 'drop' : 'next';
  }
}

/**
 * The delegations above `name`, without those of zones with fewer than
 * `minLabels` labels. The iterator lists them from `name` up to the TLD, so
 * the shallow zones' entries are the tail: what the same call returns for
 * the deepest shallow ancestor.
 */
function withoutShallowZones(d: (name: Name) => Delegations, name: Name, minLabels: number): Delegations {
  const all = d(name);
  const n = labelCount(name);
  if (n < minLabels) return { nsNames: [], nsAddresses: [] };
  const shallow = d(parentName(name, n - (minLabels - 1)));
  return {
    nsNames: all.nsNames.slice(0, all.nsNames.length - shallow.nsNames.length),
    nsAddresses: all.nsAddresses.slice(0, all.nsAddresses.length - shallow.nsAddresses.length),
  };
}
