/**
 * Blocked answers per order and per day, for the transparency report (issue
 * 17). Each blocked answer increments `verdict_order_blocked_total{order}` and
 * this tally, at the same call (Verdict.onPolicyHit), so the two never differ.
 * The tally's counts are written to the audit log as `blocked-answers` events,
 * one per order and day, holding the answers counted since the previous one
 * (a delta: the sum over the log survives restarts), every minute and at stop.
 *
 * Days are calendar days in `orders.timezone` (the courts' calendar). The day
 * is found once per day change, not per answer (Intl formatting is slow).
 */
import { addDays, formatInZone, zonedMidnight } from './state.js';

export interface BlockedCount {
  order: string;
  /** YYYY-MM-DD in the tally's time zone. */
  day: string;
  answers: number;
}

/** order -> day -> answers */
export type DailyCounts = Map<string, Map<string, number>>;

export function addCount(into: DailyCounts, order: string, day: string, n: number): void {
  let days = into.get(order);
  if (!days) into.set(order, (days = new Map()));
  days.set(day, (days.get(day) ?? 0) + n);
}

export class BlockedTally {
  private pending: DailyCounts = new Map();
  /** Everything counted since start (the live report when there is no audit log). */
  readonly sinceStart: DailyCounts = new Map();
  private day = '';
  private dayStart = 0;
  private dayEnd = 0;

  constructor(private readonly timezone: string) {}

  private dayOf(now: Date): string {
    const t = now.getTime();
    if (t < this.dayStart || t >= this.dayEnd) {
      this.day = formatInZone(now, this.timezone).slice(0, 10);
      this.dayStart = zonedMidnight(this.day, this.timezone).getTime();
      this.dayEnd = zonedMidnight(addDays(this.day, 1), this.timezone).getTime();
    }
    return this.day;
  }

  /** One blocked answer under each of `orders` (a rule naming two orders counts for both). */
  count(orders: readonly string[], now: Date): void {
    const day = this.dayOf(now);
    for (const id of orders) {
      addCount(this.pending, id, day, 1);
      addCount(this.sinceStart, id, day, 1);
    }
  }

  /** The counts not yet written out, in order then day order; clears them. */
  take(): BlockedCount[] {
    const out: BlockedCount[] = [];
    for (const [order, days] of this.pending) for (const [day, answers] of days) out.push({ order, day, answers });
    this.pending = new Map();
    return out.sort((a, b) => (a.order === b.order ? (a.day < b.day ? -1 : 1) : a.order < b.order ? -1 : 1));
  }

  /** The counts not yet written out, without clearing them. */
  peek(): DailyCounts {
    return this.pending;
  }
}
