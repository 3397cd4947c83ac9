/**
 * An amendment order file drafted from mirror evidence, for the legal team to
 * take to the judge (`verdict mirrors draft`). It is an order file with
 * `status: draft`: it validates like any order, `verdict orders list` shows
 * it, and it is never enforced. Once the judge has ruled, the team sets the
 * decision's dates and reference and `status: active`; only then does
 * Verdict block the names.
 *
 * Its placeholders are chosen so the file validates as written: the decision
 * date is the day of drafting, the measures due within 15 days, and it ends
 * with the order it amends (or lasts 12 months when that order ends sooner).
 */
import type { Order, OrderAction } from '../rpz/orders/schema.js';
import { addDays } from '../rpz/orders/state.js';
import type { Candidate } from './watcher.js';

export interface DraftChoice {
  name: string;
  /** The watcher's evidence, or undefined for a name the team added by hand. */
  candidate?: Candidate;
}

export interface DraftOptions {
  /** The drafting instant (the order clock). */
  now: Date;
  /** Default `<base id>-mirrors-<YYYYMMDD>`. */
  id?: string;
}

/** A YAML double-quoted scalar (JSON's string syntax is a subset of YAML's). */
const q = (s: string) => JSON.stringify(s);
/** Comment text on one line. */
const c = (s: string) => s.replace(/[\r\n]+/g, ' ');

function actionYaml(a: OrderAction): string {
  return a.type === 'redirect' ? `{ redirect: ${q(a.host)} }` : a.type;
}

export function draftId(base: string, now: Date): string {
  const suffix = `-mirrors-${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  return base.slice(0, 100 - suffix.length) + suffix;
}

export function draftAmendment(base: Order, chosen: readonly DraftChoice[], opts: DraftOptions): { id: string; text: string } {
  const today = opts.now.toISOString().slice(0, 10);
  const id = opts.id ?? draftId(base.id, opts.now);
  const effective = addDays(today, 15);
  const endsWithBase = base.lastDay >= effective;
  const L: string[] = [];
  L.push(`# DRAFT amendment to ${c(base.id)} (${c(base.court)}, ${base.decisionDate}). NOT A DECISION:`);
  L.push('# Verdict does not enforce a file with status: draft.');
  L.push(`# Drafted by \`verdict mirrors draft\` at ${opts.now.toISOString()} from Verdict's mirror watch`);
  L.push('# (aggregated resolver traffic; no client addresses are kept). Each name below is a');
  L.push('# candidate mirror with the evidence Verdict observed; check every site, remove those');
  L.push('# that are not mirrors, and take the application to the judge. Once the judge has ruled,');
  L.push('# set decision_date, reference, effective and until/duration from the decision, and');
  L.push('# change status to active (with a history entry if the status changes later): only then');
  L.push('# are the names blocked.');
  L.push(`id: ${id}`);
  L.push(`court: ${q(base.court)}`);
  L.push(`decision_date: ${today}        # placeholder: the date of the judge's decision`);
  L.push('parties:');
  L.push(`  plaintiffs: [${base.parties.plaintiffs.map(q).join(', ')}]`);
  L.push(`  addressees: [${base.parties.addressees.map(q).join(', ')}]`);
  L.push(`amends: ${base.id}`);
  L.push('effective: { within_days: 15 }  # placeholder: as the decision says');
  if (endsWithBase) L.push(`until: ${base.lastDay}              # placeholder: ends with the order it amends`);
  else L.push(`duration: { months: 12 }        # placeholder: ${base.id} ends ${base.lastDay}, before this could take effect`);
  L.push(`timezone: ${base.timezone}`);
  L.push('status: draft');
  L.push(`action: ${actionYaml(base.action)}`);
  L.push(`include_subdomains: ${base.includeSubdomains}`);
  if (base.example) L.push('example: true                   # amends an EXAMPLE order');
  L.push('domains:');
  for (const ch of chosen) {
    const e = ch.candidate;
    if (!e) {
      L.push(`  # ${c(ch.name)}: added by hand; Verdict observed no evidence for it.`);
    } else {
      L.push(`  # ${c(e.name)}: score ${e.score.toFixed(1)} of 100, candidate mirror of ${c(e.mirrorOf)} (${c(e.orders.join(', '))})`);
      for (const s of e.signals) L.push(`  #   ${s.kind} (+${s.points.toFixed(1)}): ${c(s.detail)}`);
      L.push(`  #   seen ${e.firstSeen} .. ${e.lastSeen}, ${e.queries} queries`);
      L.push(`  #   addresses: ${c(e.addresses.join(', ') || '-')}; name servers: ${c(e.nameservers.join(', ') || '-')}`);
    }
    L.push(`  - ${ch.name}`);
  }
  L.push('notes: |');
  L.push(`  DRAFT amendment to ${base.id}, prepared from Verdict's mirror watch on ${today}.`);
  L.push('  Candidate mirrors and the evidence observed by the resolver:');
  for (const ch of chosen) {
    const e = ch.candidate;
    L.push(e
      ? `  - ${e.name}: score ${e.score.toFixed(1)}, mirror of ${e.mirrorOf}; ${e.signals.map((s) => s.kind).join(', ')}; ${e.queries} queries ${e.firstSeen} .. ${e.lastSeen}`
      : `  - ${ch.name}: added by hand, no evidence observed`);
  }
  L.push('  A mirror is blocked only once the judge has ruled and this file says status: active.');
  return { id, text: L.join('\n') + '\n' };
}

/**
 * The same evidence as a regulator request under `base` (issue 16; France,
 * CPI L.331-27: the rights holder reports the mirrors, the authority asks the
 * ISPs named in the decision to block them while the judge's measures run).
 * Written with `status: draft`: enforced only once the authority's request
 * has arrived and the team has filled in its reference and date and set
 * `status: active`. It ends with the parent order (no `until`).
 */
export function draftRequest(base: Order, chosen: readonly DraftChoice[], opts: DraftOptions & { authority?: string }): { id: string; text: string } {
  const today = opts.now.toISOString().slice(0, 10);
  const suffix = `-request-${today.replace(/-/g, '')}`;
  const id = opts.id ?? base.id.slice(0, 100 - suffix.length) + suffix;
  const authority = opts.authority ?? 'Arcom';
  const L: string[] = [];
  L.push(`# DRAFT regulator request under ${c(base.id)} (${c(base.court)}, ${base.decisionDate}). NOT A REQUEST YET:`);
  L.push('# Verdict does not enforce a file with status: draft.');
  L.push(`# Drafted by \`verdict mirrors draft --request\` at ${opts.now.toISOString()} from Verdict's mirror watch`);
  L.push('# (aggregated resolver traffic; no client addresses are kept). Send the evidence to the');
  L.push(`# rights holder / ${c(authority)}; once ${c(authority)}'s request arrives, set reference and date from it`);
  L.push('# and change status to active. It is enforced only while the parent order is, never beyond it,');
  L.push('# and each entry passes the safeguards (protected list, impact check) before it is enforced.');
  L.push('kind: regulator-request');
  L.push(`id: ${id}`);
  L.push(`authority: ${q(authority)}`);
  L.push('reference: "TO BE FILLED FROM THE REQUEST"');
  L.push(`date: ${today}                 # placeholder: the date of the authority's request`);
  L.push(`parent: ${base.id}`);
  L.push('status: draft');
  if (base.example) L.push('example: true                    # under an EXAMPLE order');
  L.push('domains:');
  for (const ch of chosen) {
    const e = ch.candidate;
    if (!e) L.push(`  # ${c(ch.name)}: added by hand; Verdict observed no evidence for it.`);
    else {
      L.push(`  # ${c(e.name)}: score ${e.score.toFixed(1)} of 100, candidate mirror of ${c(e.mirrorOf)} (${c(e.orders.join(', '))})`);
      for (const s of e.signals) L.push(`  #   ${s.kind} (+${s.points.toFixed(1)}): ${c(s.detail)}`);
      L.push(`  #   seen ${e.firstSeen} .. ${e.lastSeen}, ${e.queries} queries`);
    }
    L.push(`  - ${ch.name}`);
  }
  return { id, text: L.join('\n') + '\n' };
}
