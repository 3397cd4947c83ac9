/**
 * `verdict mirrors report` as text and as data. Nothing here prints: the CLI
 * writes the text or the JSON.
 */
import type { Candidate, MirrorSnapshot } from './watcher.js';

export interface ReportCandidate extends Candidate {
  rank: number;
  /** Draft orders (status draft) that already list this name. */
  inDrafts: string[];
}

export interface MirrorReport {
  /** Where the observations came from: the running server, a state file, or nothing yet. */
  source: { kind: 'server' | 'state-file' | 'none'; path: string };
  minScore: number;
  generatedAt: string;
  since: string;
  stats: MirrorSnapshot['stats'];
  blocked: MirrorSnapshot['blocked'];
  candidates: ReportCandidate[];
  /** Candidates scoring above 0 but below minScore, left out. */
  belowMinScore: number;
}

export function buildReport(snapshot: MirrorSnapshot, source: MirrorReport['source'], minScore: number, drafts: ReadonlyMap<string, string[]> = new Map()): MirrorReport {
  const kept = snapshot.candidates.filter((c) => c.score >= minScore);
  return {
    source,
    minScore,
    generatedAt: snapshot.generatedAt,
    since: snapshot.since,
    stats: snapshot.stats,
    blocked: snapshot.blocked,
    candidates: kept.map((c, i) => ({ ...c, rank: i + 1, inDrafts: drafts.get(c.name) ?? [] })),
    belowMinScore: snapshot.candidates.length - kept.length,
  };
}

const list = (xs: readonly string[]) => (xs.length ? xs.join(', ') : '-');

export function reportText(r: MirrorReport): string {
  const lines: string[] = [];
  const from = r.source.kind === 'server' ? `the running server (${r.source.path})` : r.source.kind === 'state-file' ? `state file ${r.source.path}` : `nothing yet (no state file at ${r.source.path})`;
  lines.push(`Candidate mirrors of blocked names, observed ${r.since} .. ${r.generatedAt}, from ${from}.`);
  lines.push('Evidence for the legal team, never enforced: a name is blocked only once an active order names it.');
  lines.push('');
  if (r.candidates.length === 0) lines.push(`No candidate scores ${r.minScore} or more.`);
  for (const c of r.candidates) {
    lines.push(`${String(c.rank).padStart(2)}. ${c.name}  score ${c.score.toFixed(1)}  mirror of ${c.mirrorOf} (${c.orders.length > 1 ? 'orders' : 'order'} ${list(c.orders)})${c.inDrafts.length ? `  [in draft ${c.inDrafts.join(', ')}]` : ''}`);
    for (const s of c.signals) lines.push(`      +${s.points.toFixed(1).padStart(4)}  ${s.kind}: ${s.detail}`);
    const others = c.related.slice(1).filter((o) => o.score >= Math.min(10, r.minScore));
    if (others.length) lines.push(`      also related to: ${others.map((o) => `${o.blocked} (${o.score.toFixed(1)})`).join(', ')}`);
    lines.push(`      seen ${c.firstSeen} .. ${c.lastSeen}, ${c.queries} quer${c.queries === 1 ? 'y' : 'ies'}`);
    lines.push(`      addresses: ${list(c.addresses)}`);
    lines.push(`      name servers: ${list(c.nameservers)}${c.nameserverAddresses.length ? ` (${list(c.nameserverAddresses)})` : ''}`);
    if (c.cnameInto.length) lines.push(`      CNAME into: ${list(c.cnameInto)}`);
  }
  lines.push('');
  lines.push(`${r.candidates.length} candidate(s) scoring ${r.minScore} or more (mirrors.min_score), ${r.belowMinScore} below; `
    + `${r.stats.trackedNames} name(s) tracked of at most ${r.stats.maxNames}, ${r.stats.blockedNames} blocked name(s) watched.`);
  if (r.candidates.length) lines.push('Draft an amendment with: verdict mirrors draft --order ORDER-ID [-o FILE] [NAME...]');
  return lines.join('\n') + '\n';
}

/** Candidates scoring at least `minScore`, per order of the blocked name they mirror (for a gauge). */
export function candidatesByOrder(snapshot: MirrorSnapshot, minScore: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of snapshot.candidates) {
    if (c.score < minScore) continue;
    for (const o of c.orders) out.set(o, (out.get(o) ?? 0) + 1);
  }
  return out;
}
