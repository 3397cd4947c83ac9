/**
 * The transparency report's data (issue 17): which orders are in force or
 * recently ended, on whose decision, since and until when, how many names,
 * how many answers they blocked per day, held entries and their outcome, and
 * how many candidate mirrors the mirror watch saw. `verdict orders report
 * --json` and `/transparency.json` give this object; the HTML page
 * (transparency-html.ts) renders it and nothing else, so both say the same.
 *
 * What is published, and what never is (docs/TRANSPARENCY.md): no client data
 * at all (no address, no query, no per-client count: counts are per order and
 * day); an order's names only when its file says `publish_names: true`
 * (default: their number); candidate mirrors as a count, never their names
 * (they are suspicions, not decisions); held entries as counts.
 *
 * The schema is zod (`transparencyReportSchema`), exported as JSON Schema in
 * docs/transparency.schema.json for those who aggregate reports of several ISPs.
 */
import { z } from 'zod';
import type { AuditLine } from './audit.js';
import { addCount } from './tally.js';
import type { DailyCounts } from './tally.js';
import type { Order } from './schema.js';
import { addDays, formatInZone, orderState } from './state.js';
import type { OrderStateName } from './state.js';

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).describe('a calendar date YYYY-MM-DD');
const count = z.number().int().min(0);

export const reportOrderSchema = z.object({
  id: z.string().describe('the order\'s id, as in its file and in the EDE of blocked answers'),
  kind: z.string().describe('"order" (a court decision) or "regulator-request"'),
  authority: z.string().describe('the court or authority that decided'),
  reference: z.string().nullable().describe('case number or reference, when known'),
  decision_date: date,
  effective_date: date.describe('first day of blocking (00:00 in the order\'s time zone)'),
  last_day: date.describe('last day of blocking as decided (inclusive)'),
  ended_on: date.nullable().describe('the day blocking ended early (lifted), or the day after last_day once expired; null while not ended'),
  timezone: z.string(),
  state: z.enum(['pending', 'active', 'suspended', 'expired', 'lifted']),
  amends: z.string().nullable(),
  example: z.boolean().describe('true for a made-up order (demonstrations), not a real decision'),
  action: z.enum(['redirect', 'nxdomain', 'nodata']),
  scope: z.object({
    applies_to: z.array(z.string()).describe('network sets or prefixes of the operator; empty = every client'),
    except: z.array(z.string()),
  }).nullable().describe('null: applies to every client of the operator'),
  names_count: count,
  publish_names: z.boolean(),
  names: z.array(z.string()).nullable().describe('the names, only when publish_names is true'),
  history: z.array(z.object({ date: z.string(), status: z.string(), note: z.string().nullable() })),
  blocked_answers: z.object({
    total: count.describe('every blocked answer counted for this order (all days recorded)'),
    per_day: z.array(z.object({ date, answers: count })).describe('each day of the report window, zeros included'),
  }),
  held_entries: z.object({
    held: count.describe('distinct names ever held for confirmation'),
    confirmed: count,
    rejected: count,
    pending: count.describe('still held, no outcome yet'),
  }),
  mirror_candidates: count.nullable().describe('candidate mirrors of its names seen by the mirror watch (names never published); null without a mirror watch'),
});

export const transparencyReportSchema = z.object({
  format: z.literal('verdict-transparency-report'),
  version: z.literal(1),
  generated_at: z.string().describe('ISO 8601 instant, by the order clock'),
  language: z.enum(['en', 'fr']),
  operator: z.string().nullable(),
  timezone: z.string().describe('time zone of the days counted'),
  window: z.object({
    from: date.describe('first day of per_day counts'),
    to: date.describe('last day of per_day counts (today)'),
    recent_days: count.describe('orders ended this many days ago or less are listed'),
  }),
  counts_source: z.enum(['audit-log', 'since-start', 'none']).describe('where blocked-answer counts come from: the audit log (plus counts not yet written, on a live server), the server since its start (no audit log), or nowhere'),
  orders: z.array(reportOrderSchema),
  totals: z.object({
    orders_in_force: count,
    orders_listed: count,
    names_in_force: count,
    blocked_answers_in_window: count,
    held_pending: count,
    mirror_candidates: count.nullable(),
  }),
});

export type TransparencyReport = z.infer<typeof transparencyReportSchema>;
export type ReportOrder = z.infer<typeof reportOrderSchema>;

/** Sum of the `blocked-answers` events of an audit log, per order and day. */
export function blockedFromAudit(lines: readonly AuditLine[]): DailyCounts {
  const out: DailyCounts = new Map();
  for (const l of lines) {
    if (l.event !== 'blocked-answers') continue;
    const { order, day, answers } = l as { order?: unknown; day?: unknown; answers?: unknown };
    if (typeof order !== 'string' || typeof day !== 'string' || typeof answers !== 'number' || !Number.isInteger(answers) || answers < 0) continue;
    addCount(out, order, day, answers);
  }
  return out;
}

export interface HeldOutcomes {
  held: number;
  confirmed: number;
  rejected: number;
  pending: number;
}

/**
 * Held entries per order from the audit log's `held`, `confirmed` and
 * `entry-rejected` events (written by the regulator-request workflow): the
 * last event of each (order, name) is its outcome. Read generically: lines of
 * other shapes are ignored.
 */
export function heldFromAudit(lines: readonly AuditLine[]): Map<string, HeldOutcomes> {
  const last = new Map<string, Map<string, string>>();
  for (const l of lines) {
    const event: string = l.event; // events of other writers (issue 16) are read as plain strings
    if (event !== 'held' && event !== 'confirmed' && event !== 'entry-rejected') continue;
    const { order, name } = l as { order?: unknown; name?: unknown };
    if (typeof order !== 'string' || typeof name !== 'string') continue;
    let names = last.get(order);
    if (!names) last.set(order, (names = new Map()));
    // An outcome for a name never recorded as held still counts it as held once.
    names.set(name.toLowerCase().replace(/\.$/, ''), event);
  }
  const out = new Map<string, HeldOutcomes>();
  for (const [order, names] of last) {
    const h: HeldOutcomes = { held: names.size, confirmed: 0, rejected: 0, pending: 0 };
    for (const e of names.values()) {
      if (e === 'confirmed') h.confirmed++;
      else if (e === 'entry-rejected') h.rejected++;
      else h.pending++;
    }
    out.set(order, h);
  }
  return out;
}

export interface ReportInput {
  orders: readonly Order[];
  now: Date;
  language: 'en' | 'fr';
  operator?: string;
  /** Time zone of the days (orders.timezone). */
  timezone: string;
  recentDays: number;
  chartDays: number;
  blocked: DailyCounts;
  countsSource: TransparencyReport['counts_source'];
  held: ReadonlyMap<string, HeldOutcomes>;
  /** Candidates at or above the mirror watch's min score, per order; undefined without a mirror watch. */
  mirrors?: { byOrder: ReadonlyMap<string, number>; total: number };
}

const SHOWN: readonly OrderStateName[] = ['pending', 'active', 'suspended', 'expired', 'lifted'];

/** The day an order stopped being enforced, when it has (YYYY-MM-DD in its time zone). */
function endedOn(o: Order, state: ReturnType<typeof orderState>): string | null {
  if (state.state === 'expired') return addDays(o.lastDay, 1);
  if (state.state === 'lifted') return state.since ? formatInZone(state.since, o.timezone).slice(0, 10) : o.decisionDate;
  return null;
}

export function buildTransparencyReport(input: ReportInput): TransparencyReport {
  const { now } = input;
  const today = formatInZone(now, input.timezone).slice(0, 10);
  const from = addDays(today, -(input.chartDays - 1));
  const days: string[] = [];
  for (let d = from; d <= today; d = addDays(d, 1)) days.push(d);
  const oldestEnd = addDays(today, -input.recentDays);
  const orders: ReportOrder[] = [];
  const sorted = [...input.orders].sort((a, b) => (a.decisionDate === b.decisionDate ? (a.id < b.id ? -1 : 1) : a.decisionDate < b.decisionDate ? -1 : 1));
  for (const o of sorted) {
    const st = orderState(o, now);
    if (!SHOWN.includes(st.state)) continue; // drafts are not decisions
    const ended = endedOn(o, st);
    if (ended !== null && ended < oldestEnd) continue;
    const perDayMap = input.blocked.get(o.id);
    let total = 0;
    for (const n of perDayMap?.values() ?? []) total += n;
    const kind = (o as { kind?: unknown }).kind;
    orders.push({
      id: o.id,
      kind: typeof kind === 'string' ? kind : 'order',
      authority: o.court,
      reference: o.reference ?? null,
      decision_date: o.decisionDate,
      effective_date: o.effectiveDate,
      last_day: o.lastDay,
      ended_on: ended,
      timezone: o.timezone,
      state: st.state as ReportOrder['state'],
      amends: o.amends ?? null,
      example: o.example,
      action: o.action.type,
      scope: o.scope ? { applies_to: [...o.scope.appliesTo], except: [...o.scope.except] } : null,
      names_count: o.names.length,
      publish_names: o.publishNames,
      names: o.publishNames ? [...o.names] : null,
      history: o.history.map((h) => ({ date: h.date, status: h.status, note: h.note ?? null })),
      blocked_answers: { total, per_day: days.map((d) => ({ date: d, answers: perDayMap?.get(d) ?? 0 })) },
      held_entries: input.held.get(o.id) ?? { held: 0, confirmed: 0, rejected: 0, pending: 0 },
      mirror_candidates: input.mirrors ? input.mirrors.byOrder.get(o.id) ?? 0 : null,
    });
  }
  const inForce = orders.filter((o) => o.state === 'active');
  return {
    format: 'verdict-transparency-report',
    version: 1,
    generated_at: now.toISOString(),
    language: input.language,
    operator: input.operator ?? null,
    timezone: input.timezone,
    window: { from, to: today, recent_days: input.recentDays },
    counts_source: input.countsSource,
    orders,
    totals: {
      orders_in_force: inForce.length,
      orders_listed: orders.length,
      names_in_force: inForce.reduce((n, o) => n + o.names_count, 0),
      blocked_answers_in_window: orders.reduce((n, o) => n + o.blocked_answers.per_day.reduce((m, d) => m + d.answers, 0), 0),
      held_pending: orders.reduce((n, o) => n + o.held_entries.pending, 0),
      mirror_candidates: input.mirrors ? input.mirrors.total : null,
    },
  };
}

/** The JSON Schema of the report (draft 2020-12), as published in docs/transparency.schema.json. */
export function transparencyJsonSchema(): object {
  return {
    $id: 'https://verdict.example/schemas/transparency-report-v1.json',
    title: 'Verdict transparency report, version 1',
    ...z.toJSONSchema(transparencyReportSchema),
  };
}
