/** The audit log: JSON lines, appended in order, never rewritten; events derived from order changes and dates. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AuditLog, orderEvents, readAuditLog } from '../src/rpz/orders/audit.js';
import { formatProblem, parseOrder } from '../src/rpz/orders/load.js';
import type { Order } from '../src/rpz/orders/schema.js';

const tmp = mkdtempSync(join(tmpdir(), 'verdict-audit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function order(text: string): Order {
  const r = parseOrder(text, 'a.yaml');
  assert.deepEqual(r.errors.map(formatProblem), []);
  return r.order!;
}

const V1 = `id: a
court: Test court
decision_date: 2020-03-02
parties: { plaintiffs: [P], addressees: [ISP] }
effective: 2020-04-01
duration: { months: 6 }
action: nxdomain
domains: [a.example]
`;

test('events are appended in order with ISO timestamps from the injected clock; earlier lines stay as they were', () => {
  const path = join(tmp, 'sub', 'audit.jsonl');
  const log = new AuditLog(path);
  const t1 = new Date('2020-04-01T00:00:00Z');
  log.record({ type: 'loaded', at: t1, order: 'a', file: 'a.yaml', sha256: 'h1' });
  log.record({ type: 'activated', at: t1, order: 'a' });
  const firstTwo = readFileSync(path, 'utf8');
  log.record({ type: 'compiled', at: new Date('2020-04-01T00:00:01Z'), zone: 'court-orders.rpz', serial: 2020040100, sha256: 'z', orders: ['a'], rules: 2 });
  log.close();
  // A second writer (another process, a restart) appends after the first.
  const again = new AuditLog(path, { fsync: true });
  again.record({ type: 'expired', at: new Date('2020-10-01T00:00:00Z'), order: 'a', from: 'active' });
  again.close();
  const text = readFileSync(path, 'utf8');
  assert.ok(text.startsWith(firstTwo), 'earlier lines untouched');
  const lines = readAuditLog(path);
  assert.deepEqual(lines.map((l) => [l.ts, l.event]), [
    ['2020-04-01T00:00:00.000Z', 'loaded'],
    ['2020-04-01T00:00:00.000Z', 'activated'],
    ['2020-04-01T00:00:01.000Z', 'compiled'],
    ['2020-10-01T00:00:00.000Z', 'expired'],
  ]);
  assert.deepEqual(lines[2], { ts: '2020-04-01T00:00:01.000Z', event: 'compiled', zone: 'court-orders.rpz', serial: 2020040100, sha256: 'z', orders: ['a'], rules: 2 });
  assert.equal(text.split('\n').length, 5, 'one line per event and a final newline');
});

test('a line torn by a crash spoils only itself', () => {
  const path = join(tmp, 'torn.jsonl');
  const log = new AuditLog(path);
  log.record({ type: 'loaded', at: new Date('2020-01-01T00:00:00Z'), order: 'a', file: 'a.yaml', sha256: 'h' });
  log.close();
  appendFileSync(path, '{"ts":"2020-01-01T00:00:01.000Z","ev');
  const log2 = new AuditLog(path);
  log2.record({ type: 'removed', at: new Date('2020-01-02T00:00:00Z'), order: 'a', file: 'a.yaml', sha256: 'h' });
  log2.close();
  assert.deepEqual(readAuditLog(path).map((l) => l.event), ['loaded', 'removed']);
});

test('orderEvents: loaded and state at startup, then changed, activated, expired, removed as the clock and files move', () => {
  const v1 = order(V1);
  const start = orderEvents(undefined, [v1], new Date('2020-03-15T00:00:00Z'));
  assert.deepEqual(start.events.map((e) => e.type), ['loaded', 'pending']);
  // Nothing changed: no events.
  assert.deepEqual(orderEvents(start.snapshot, [v1], new Date('2020-03-20T00:00:00Z')).events, []);
  // The start date arrives.
  const on = orderEvents(start.snapshot, [v1], new Date('2020-03-31T22:00:00Z'));
  assert.deepEqual(on.events, [{ type: 'activated', at: new Date('2020-03-31T22:00:00Z'), order: 'a', from: 'pending' }]);
  // The file is edited (a suspension recorded).
  const v2 = order(V1 + 'status: suspended\nhistory: [{ date: 2020-05-01, status: suspended, note: appeal }]\n');
  const edit = orderEvents(on.snapshot, [v2], new Date('2020-05-01T12:00:00Z'));
  assert.deepEqual(edit.events.map((e) => e.type), ['changed', 'suspended']);
  assert.equal((edit.events[0] as { previousSha256: string }).previousSha256, v1.sha256);
  assert.equal((edit.events[1] as { note?: string }).note, 'appeal');
  const end = orderEvents(edit.snapshot, [v2], new Date('2020-10-01T00:00:00Z'));
  assert.deepEqual(end.events.map((e) => e.type), ['expired']);
  assert.deepEqual(orderEvents(end.snapshot, [], new Date('2020-10-02T00:00:00Z')).events.map((e) => e.type), ['removed']);
});
