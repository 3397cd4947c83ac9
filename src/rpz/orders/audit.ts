/**
 * The audit trail of court-order enforcement: an append-only JSON-lines file
 * that lets the compliance team prove what was blocked, from when, until
 * when, on whose order, and which version of each order file was in force.
 *
 * One event per line, `ts` first (ISO 8601, from the injected clock, never the
 * real one read here). The file is opened with O_APPEND and each line goes out
 * in one write, so earlier lines are never rewritten and concurrent writers do
 * not interleave within a line; a line torn by a crash is closed with a
 * newline before the next event, so it spoils only itself.
 */
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Order } from './schema.js';
import { orderState } from './state.js';
import type { OrderStateName } from './state.js';

export type AuditEvent =
  /** An order seen for the first time (or again after removal), with its file's hash. */
  | { type: 'loaded'; at: Date; order: string; file: string; sha256: string }
  /** The file of a known order now has other content. */
  | { type: 'changed'; at: Date; order: string; file: string; sha256: string; previousSha256: string }
  /** An order no longer listed. */
  | { type: 'removed'; at: Date; order: string; file: string; sha256: string }
  /** The state of an order at `at` differs from the last one recorded. */
  | { type: 'activated' | 'expired' | 'suspended' | 'lifted' | 'pending' | 'draft'; at: Date; order: string; from?: OrderStateName; note?: string }
  /** A file that failed to load; the previous version (if any) stays in force. */
  | { type: 'rejected'; at: Date; file: string; errors: string[] }
  /** A new zone was compiled (`scope`: the client prefixes of a scope class's zone, issue 17). */
  | { type: 'compiled'; at: Date; zone: string; serial: number; sha256: string; orders: string[]; rules: number; scope?: string[] }
  /** Answers blocked under an order on one day since the previous such event (a delta: sum them). */
  | { type: 'blocked-answers'; at: Date; order: string; day: string; answers: number }
  // Safeguards (issue 16): an automated entry held, and a person's decision on it. `order` is the request's or feed's id.
  | { type: 'held'; at: Date; order: string; name: string; reason: string }
  | { type: 'confirmed'; at: Date; order: string; name: string; by: string }
  | { type: 'entry-rejected'; at: Date; order: string; name: string; by: string };

export interface AuditLine {
  ts: string;
  event: AuditEvent['type'];
  [key: string]: unknown;
}

export class AuditLog {
  private fd: number | undefined;

  /** `fsync`: flush each line to disk before `record` returns (slower; for strict evidence keeping). */
  constructor(readonly path: string, private readonly opts: { fsync?: boolean } = {}) {}

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a+');
    const size = fstatSync(fd).size;
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) writeSync(fd, '\n');
    }
    this.fd = fd;
    return fd;
  }

  record(event: AuditEvent): void {
    const { type, at, ...rest } = event;
    const line: AuditLine = { ts: at.toISOString(), event: type, ...rest };
    const fd = this.open();
    writeSync(fd, JSON.stringify(line) + '\n');
    if (this.opts.fsync) fsyncSync(fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Read an audit file back; lines that are not JSON (a torn last line) are skipped. */
export function readAuditLog(path: string): AuditLine[] {
  const out: AuditLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as AuditLine);
    } catch {
      // a torn line from a crash; the events around it are intact
    }
  }
  return out;
}

/** What the last recorded events said about each order. */
export type AuditSnapshot = Map<string, { file: string; sha256: string; state: OrderStateName }>;

const STATE_EVENT: Record<OrderStateName, 'activated' | 'expired' | 'suspended' | 'lifted' | 'pending' | 'draft'> = {
  active: 'activated', expired: 'expired', suspended: 'suspended', lifted: 'lifted', pending: 'pending', draft: 'draft',
};

/**
 * The events between the last snapshot and `orders` at `now`: loaded, changed,
 * removed, and one state event per order whose state differs (at startup, with
 * no snapshot, every order's current state is recorded). The caller records
 * the events and keeps the returned snapshot for next time (reload, timer).
 */
export function orderEvents(previous: AuditSnapshot | undefined, orders: readonly Order[], now: Date): { events: AuditEvent[]; snapshot: AuditSnapshot } {
  const events: AuditEvent[] = [];
  const snapshot: AuditSnapshot = new Map();
  for (const o of orders) {
    const before = previous?.get(o.id);
    if (!before) events.push({ type: 'loaded', at: now, order: o.id, file: o.file, sha256: o.sha256 });
    else if (before.sha256 !== o.sha256) events.push({ type: 'changed', at: now, order: o.id, file: o.file, sha256: o.sha256, previousSha256: before.sha256 });
    const s = orderState(o, now);
    if (!before || before.state !== s.state) {
      events.push({
        type: STATE_EVENT[s.state], at: now, order: o.id,
        ...(before ? { from: before.state } : {}),
        ...(s.note !== undefined ? { note: s.note } : {}),
      });
    }
    snapshot.set(o.id, { file: o.file, sha256: o.sha256, state: s.state });
  }
  for (const [id, p] of previous ?? []) {
    if (!snapshot.has(id)) events.push({ type: 'removed', at: now, order: id, file: p.file, sha256: p.sha256 });
  }
  return { events, snapshot };
}
