/**
 * Rewritten replies, shaped as BIND 9.18 shapes them (checked against named
 * 9.18 on a lab of NSD servers; see test/rpz-rewrite.test.ts):
 *
 * - AA clear, RA set, AD clear (a rewrite cannot validate);
 * - NXDOMAIN / NODATA: no answer, no authority, the policy zone's SOA in the
 *   ADDITIONAL section (BIND's `add-soa yes`), its TTL capped by the SOA
 *   MINIMUM (RFC 2308 3) but not by max-policy-ttl;
 * - local data: the RRsets of the QTYPE, TTL min(rule TTL, max-policy-ttl);
 *   none of that type is NODATA; ANY returns every RRset with BIND's default
 *   policy TTL (5 s, capped by max-policy-ttl); the SOA in ADDITIONAL again;
 * - CNAME redirect (and `CNAME *.suffix`, which answers QNAME.suffix): the
 *   CNAME, then the target resolved normally (without policy: BIND rewrites
 *   once), its rcode and negative SOA included;
 * - a hit on a later name of a CNAME chain keeps the chain up to that name;
 * - DROP: no reply; TCP-ONLY: over UDP an empty reply with TC=1, over TCP the
 *   normal answer;
 * - an Extended DNS Error (RFC 8914) when the query had EDNS: 15 Blocked
 *   naming zone and rule, or the zone's explain() (court orders: 16 Censored).
 */
import { Class, Rcode, Type } from '../dns/constants.js';
import { addEde } from '../dns/edns.js';
import type { Message, Record } from '../dns/message.js';
import { concatNames, Name, NameError } from '../dns/name.js';
import { replyTo } from '../dns/reply.js';
import type { Resolved } from '../resolver/iterator/iterator.js';
import type { PolicyHit } from './policy.js';
import { soaForAdditional } from './zone.js';

/** BIND's DNS_RPZ_TTL_DEFAULT: the TTL of policy answers with no rule TTL to go by (ANY). */
export const RPZ_DEFAULT_TTL = 5;

export interface RewriteInput {
  query: Message;
  transport: 'udp' | 'tcp';
  /** Records of the chain kept before the rewritten name (`chainPrefix`). */
  prefix?: readonly Record[];
  /** Cap on TTLs when the zone sets none (config rpz.max_policy_ttl; BIND's default 5). */
  maxPolicyTtl?: number;
  /** Our EDNS UDP size in the reply's OPT. */
  udpSize?: number;
}

export type Rewrite =
  | { kind: 'passthru' }
  | { kind: 'drop' }
  | { kind: 'reply'; message: Message }
  /** Resolve `target`/`qtype` and hand the result to `completeRedirect`. */
  | { kind: 'redirect'; message: Message; target: Name; qtype: number };

/** The records of `answers` up to and including the CNAME that leads to chain name `k`. */
export function chainPrefix(answers: readonly Record[], k: number): Record[] {
  const out: Record[] = [];
  if (k <= 0) return out;
  let cnames = 0;
  let last: Record | undefined;
  for (const r of answers) {
    // For a DO client the k-th CNAME keeps the RRSIGs that follow it (RFC 4035 3.1.1), as BIND's reply does.
    if (last) {
      if (r.type !== Type.RRSIG || !r.name.equals(last.name)) break;
      out.push(r);
      continue;
    }
    out.push(r);
    if (r.type === Type.CNAME && ++cnames === k) last = r;
  }
  return out;
}

export function rewriteAnswer(hit: PolicyHit, input: RewriteInput): Rewrite {
  const { query, transport } = input;
  const q = query.questions[0]!;
  // The name as the client sees it: the question's spelling for the query name.
  const owner = hit.nameIndex === 0 ? q.name : hit.name;
  const cap = hit.zone.maxPolicyTtl ?? input.maxPolicyTtl ?? RPZ_DEFAULT_TTL;
  const action = hit.action;
  const reply = (rcode: number): Message => {
    const m = replyTo(query, rcode, input.udpSize);
    m.answers = [...(input.prefix ?? [])];
    return m;
  };
  const finish = (m: Message): Message => {
    const soa = soaForAdditional(hit.zone);
    if (soa) m.additionals.push(soa);
    const ede = hit.zone.ede(hit.rule);
    addEde(m, ede.code, ede.text);
    return m;
  };

  switch (action.kind) {
    case 'passthru':
      return { kind: 'passthru' };
    case 'drop':
      return { kind: 'drop' };
    case 'tcp-only': {
      if (transport === 'tcp') return { kind: 'passthru' };
      const m = replyTo(query, Rcode.NOERROR, input.udpSize);
      m.tc = true;
      return { kind: 'reply', message: m };
    }
    case 'nxdomain':
      return { kind: 'reply', message: finish(reply(Rcode.NXDOMAIN)) };
    case 'nodata':
      return { kind: 'reply', message: finish(reply(Rcode.NOERROR)) };
    case 'local-data': {
      const m = reply(Rcode.NOERROR);
      const any = q.type === Type.ANY;
      for (const r of action.records) {
        if (any || r.type === q.type) {
          m.answers.push({ name: owner, type: r.type, class: r.class, ttl: any ? Math.min(RPZ_DEFAULT_TTL, cap) : Math.min(r.ttl, cap), rdata: r.rdata });
        }
      }
      return { kind: 'reply', message: finish(m) };
    }
    case 'cname': {
      let target: Name;
      try {
        target = action.wildcard ? concatNames(owner, action.target) : action.target;
      } catch (e) {
        if (!(e instanceof NameError)) throw e;
        // The synthesised name would pass 255 bytes (as a DNAME would: RFC 6672 2.2 YXDOMAIN).
        return { kind: 'reply', message: finish(reply(6)) };
      }
      const m = reply(Rcode.NOERROR);
      m.answers.push({ name: owner, type: Type.CNAME, class: Class.IN, ttl: Math.min(hit.rule.ttl, cap), rdata: target });
      finish(m);
      if (q.type === Type.CNAME) return { kind: 'reply', message: m };
      return { kind: 'redirect', message: m, target, qtype: q.type };
    }
  }
}

/** Append the redirect target's resolution: its answers, rcode and negative SOA. */
export function completeRedirect(m: Message, resolved: Resolved | undefined): Message {
  if (!resolved) return m;
  if (resolved.rcode !== Rcode.NOERROR && resolved.rcode !== Rcode.NXDOMAIN) {
    m.rcode = resolved.rcode;
    m.answers = [];
    return m;
  }
  m.rcode = resolved.rcode;
  m.answers.push(...resolved.answers);
  m.authorities.push(...resolved.authority);
  return m;
}
