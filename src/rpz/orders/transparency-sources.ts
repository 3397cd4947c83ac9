/**
 * Where the transparency report's figures come from, for the CLI (files
 * only) and the server (files plus its live counters): the orders, the audit
 * log (blocked-answer counts, held entries), and the mirror watch.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../../config/schema.js';
import { candidatesByOrder } from '../../mirrors/report.js';
import type { MirrorSnapshot } from '../../mirrors/watcher.js';
import type { AuditLine } from './audit.js';
import type { Order } from './schema.js';
import { addCount } from './tally.js';
import type { DailyCounts } from './tally.js';
import { blockedFromAudit, buildTransparencyReport, heldFromAudit } from './transparency.js';
import type { TransparencyReport } from './transparency.js';

/** An audit log read without blocking the event loop; torn lines are skipped. */
export async function readAuditLines(path: string): Promise<AuditLine[]> {
  if (!existsSync(path)) return [];
  const out: AuditLine[] = [];
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as AuditLine);
    } catch {
      // a torn line from a crash
    }
  }
  return out;
}

export interface ReportSources {
  config: Config;
  baseDir: string;
  orders: readonly Order[];
  now: Date;
  /** A running server's counts not yet in the audit log, and all it counted since its start. */
  live?: { pending: DailyCounts; sinceStart: DailyCounts };
  /** The mirror watch's observations (undefined: no mirror watch). */
  mirrors?: MirrorSnapshot;
}

export async function gatherReport(src: ReportSources): Promise<TransparencyReport> {
  const cfg = src.config;
  const auditPath = cfg.orders.audit_log ? resolve(src.baseDir, cfg.orders.audit_log) : undefined;
  const lines = auditPath ? await readAuditLines(auditPath) : [];
  let blocked: DailyCounts;
  let countsSource: TransparencyReport['counts_source'];
  if (auditPath) {
    blocked = blockedFromAudit(lines);
    // Written and not-yet-written counts are disjoint (the flush moves them from one to the other).
    for (const [order, days] of src.live?.pending ?? []) for (const [day, n] of days) addCount(blocked, order, day, n);
    countsSource = 'audit-log';
  } else if (src.live) {
    blocked = src.live.sinceStart;
    countsSource = 'since-start';
  } else {
    blocked = new Map();
    countsSource = 'none';
  }
  const snap = src.mirrors;
  const minScore = cfg.mirrors.min_score;
  return buildTransparencyReport({
    orders: src.orders,
    now: src.now,
    language: cfg.report.language,
    ...(cfg.report.operator ? { operator: cfg.report.operator } : {}),
    timezone: cfg.orders.timezone,
    recentDays: cfg.report.recent_days,
    chartDays: cfg.report.chart_days,
    blocked,
    countsSource,
    held: heldFromAudit(lines),
    ...(snap ? { mirrors: { byOrder: candidatesByOrder(snap, minScore), total: snap.candidates.filter((c) => c.score >= minScore).length } } : {}),
  });
}
