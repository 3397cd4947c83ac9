/**
 * An order's state over time, from its dates and status history, against an
 * injected clock: callers pass `now`, nothing here reads the real clock, so
 * tests move time instead of sleeping and the audit log records the instant
 * the decision was taken on.
 *
 * State at `now`, in order of precedence:
 * - `draft`     the file says `status: draft`: not a decision, never enforced
 * - `lifted`    the status in force at `now` (from the history) is lifted,
 *               and it was lifted before it expired; lifting is final
 * - `expired`   now >= expiresAt (a suspension does not extend the duration)
 * - `suspended` the status in force is suspended (e.g. on appeal)
 * - `pending`   now < activeFrom (decided, compliance deadline not reached)
 * - `active`    enforced: compiled into the zone
 *
 * An amendment is an order with its own dates and history; a suspension or
 * lifting of the order it amends must be recorded in its own history too (the
 * loader warns when an amendment is active while its base order is not).
 */
import type { DeclaredStatus, Order } from './schema.js';

export type OrderStateName = 'draft' | 'pending' | 'active' | 'expired' | 'suspended' | 'lifted';

export interface OrderState {
  state: OrderStateName;
  activeFrom: Date;
  expiresAt: Date;
  /**
   * Whole days until `expiresAt`, rounded up (1 on the last day); 0 once
   * expired or lifted. For a pending order, counted from now as well.
   */
  daysLeft: number;
  /** For a pending order: whole days until `activeFrom`, rounded up. */
  daysUntilActive?: number;
  /** When the current state began, when known (undefined while pending). */
  since?: Date;
  /** The note of the history entry that set the current status, if any. */
  note?: string;
}

const DAY_MS = 86_400_000;

/** The declared status in force at `t`, and the history entry that set it. */
export function statusAt(order: Order, t: Date): { status: DeclaredStatus; since?: Date; note?: string } {
  let status: DeclaredStatus = 'active';
  let since: Date | undefined;
  let note: string | undefined;
  for (const h of order.history) {
    if (h.at === undefined) continue; // month-only notes never change the status (checked at load)
    if (h.at.getTime() > t.getTime()) break;
    if (h.status !== status) {
      status = h.status;
      since = h.at;
      note = h.note;
    }
  }
  return { status, ...(since ? { since } : {}), ...(note !== undefined ? { note } : {}) };
}

export function orderState(order: Order, now: Date): OrderState {
  const own = ownState(order, now);
  // A request or feed entry (issue 16) is enforced only while its parent order is: the parent's
  // pending, suspended, lifted or expired state is the derived entry's too.
  const p = order.parentOrder;
  if (!p || own.state !== 'active') return own;
  const ps = orderState(p, now);
  if (ps.state === 'active') return own;
  const note = `parent order ${p.id} is ${ps.state}`;
  return { ...own, state: ps.state === 'draft' ? 'pending' : ps.state, daysLeft: ps.state === 'pending' ? own.daysLeft : 0, ...(ps.since ? { since: ps.since } : {}), note };
}

function ownState(order: Order, now: Date): OrderState {
  const t = now.getTime();
  const { activeFrom, expiresAt } = order;
  const st = statusAt(order, now);
  const base = { activeFrom, expiresAt, ...(st.note !== undefined ? { note: st.note } : {}) };
  const left = Math.max(0, Math.ceil((expiresAt.getTime() - t) / DAY_MS));
  if (order.status === 'draft') return { activeFrom, expiresAt, state: 'draft', daysLeft: 0 };
  // A lifting after the order had already expired changes nothing: it stays expired.
  const liftedInTime = st.status === 'lifted' && (st.since === undefined || st.since.getTime() < expiresAt.getTime());
  if (liftedInTime) return { ...base, state: 'lifted', daysLeft: 0, ...(st.since ? { since: st.since } : {}) };
  if (t >= expiresAt.getTime()) return { activeFrom, expiresAt, state: 'expired', daysLeft: 0, since: expiresAt };
  if (st.status === 'suspended') return { ...base, state: 'suspended', daysLeft: left, ...(st.since ? { since: st.since } : {}) };
  if (t < activeFrom.getTime()) {
    return { ...base, state: 'pending', daysLeft: left, daysUntilActive: Math.ceil((activeFrom.getTime() - t) / DAY_MS) };
  }
  // Active since the later of the start and the last return to active (after a suspension).
  const since = st.since && st.since.getTime() > activeFrom.getTime() ? st.since : activeFrom;
  return { ...base, state: 'active', daysLeft: left, since };
}

export interface Transition {
  /** The earliest instant after `now` at which some order changes state. */
  at: Date;
  /** Every order that changes at that instant. */
  changes: { id: string; from: OrderStateName; to: OrderStateName }[];
}

/** Instants at which the state of `order` may change. */
function candidates(order: Order): number[] {
  const out = [order.activeFrom.getTime(), order.expiresAt.getTime()];
  for (const h of order.history) if (h.at) out.push(h.at.getTime());
  if (order.parentOrder) out.push(...candidates(order.parentOrder));
  return [...new Set(out)].sort((a, b) => a - b);
}

/**
 * The next instant after `now` at which any order changes state, so that the
 * caller can arm one timer and recompile then (enforcement follows the dates
 * without a restart). States are constant between candidate instants, so the
 * first candidate whose state differs from the state at `now` is exact.
 * Node's setTimeout holds at most 2^31-1 ms (about 24.8 days): arm for
 * min(at - now, that) and ask again when it fires.
 */
export function nextTransition(orders: readonly Order[], now: Date): Transition | undefined {
  const t = now.getTime();
  let best: Transition | undefined;
  for (const o of orders) {
    const from = orderState(o, now).state;
    for (const c of candidates(o)) {
      if (c <= t) continue;
      if (best && c > best.at.getTime()) break;
      const to = orderState(o, new Date(c)).state;
      if (to === from) continue;
      if (!best || c < best.at.getTime()) best = { at: new Date(c), changes: [] };
      best.changes.push({ id: o.id, from, to });
      break;
    }
  }
  return best;
}

// ------------------------------------------------------------------ calendar

/** True for a real date YYYY-MM-DD between 1900 and 2999. */
export function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1900 || y > 2999 || mo < 1 || mo > 12 || d < 1) return false;
  return d <= daysInMonth(y, mo);
}

function daysInMonth(y: number, month1: number): number {
  return new Date(Date.UTC(y, month1, 0)).getUTCDate();
}

function split(date: string): [number, number, number] {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return [y, m, d];
}

function ymd(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function addDays(date: string, n: number): string {
  const [y, m, d] = split(date);
  return ymd(Date.UTC(y, m - 1, d + n));
}

/** Calendar months; a day the target month lacks clamps to its last day. */
export function addMonths(date: string, n: number): string {
  const [y, m, d] = split(date);
  const total = y * 12 + (m - 1) + n;
  const ty = Math.floor(total / 12);
  const tm = (total % 12) + 1;
  return ymd(Date.UTC(ty, tm - 1, Math.min(d, daysInMonth(ty, tm))));
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock fields of `ms` in `timeZone`, read back as if they were UTC. */
function wallAsUtc(ms: number, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
}

/**
 * The instant of 00:00 on `date` in `timeZone`. The offset is read at a first
 * guess and again at the result, which settles DST changes; where midnight
 * does not exist (a DST gap at 00:00) this gives the first instant after it.
 */
export function zonedMidnight(date: string, timeZone: string): Date {
  const [y, m, d] = split(date);
  const wall = Date.UTC(y, m - 1, d);
  let t = wall - (wallAsUtc(wall, timeZone) - wall);
  const offset2 = wallAsUtc(t, timeZone) - t;
  if (wall - offset2 !== t) t = wall - offset2;
  return new Date(t);
}

/** "2013-12-13 00:00 Europe/Paris": an instant as the court's calendar shows it. */
export function formatInZone(instant: Date, timeZone: string): string {
  const w = new Date(wallAsUtc(instant.getTime(), timeZone)).toISOString();
  return `${w.slice(0, 10)} ${w.slice(11, 16)} ${timeZone}`;
}
