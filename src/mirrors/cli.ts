/**
 * `verdict mirrors report [--json]` and `verdict mirrors draft --order ID [-o OUT] [NAME...]`,
 * each with `-c FILE`.
 *
 * Observations come from the running server through the control channel
 * (command `mirrors`) when its socket answers, else from the state file the
 * server saves (`mirrors.state_file`, default var/lib/verdict/mirrors.json),
 * re-scored against the orders as they are now. Nothing here blocks anything:
 * `draft` writes an order file with status draft, which is never enforced.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomically } from '../atomic-file.js';
import type { LoadedConfig } from '../config/load.js';
import { controlRequest } from '../control/client.js';
import { orderClock } from '../rpz/orders/clock.js';
import { loadOrders } from '../rpz/orders/load.js';
import { normalizeDomainName } from '../rpz/orders/schema.js';
import type { Order } from '../rpz/orders/schema.js';
import { draftAmendment, draftRequest } from './draft.js';
import type { DraftChoice } from './draft.js';
import { buildReport, reportText } from './report.js';
import type { MirrorReport } from './report.js';
import { blockedFromOrders, MirrorWatcher } from './watcher.js';
import type { MirrorSnapshot } from './watcher.js';

export interface MirrorsCliOptions {
  json?: boolean;
  /** `draft`: the order the amendment amends. */
  order?: string;
  /** `draft`: the file to write (default: stdout). */
  output?: string;
  /** `draft`: the names to put in the amendment (default: every candidate of the order scoring min_score or more). */
  names?: string[];
  /** `draft`: write a regulator request under the order (kind: regulator-request) instead of an amendment. */
  request?: boolean;
  /** `draft --request`: the authority (default Arcom). */
  authority?: string;
}

export interface CliOutput {
  stdout: string;
  stderr: string;
  code: number;
}

const USAGE = 'usage: verdict mirrors report [--json] | draft --order ID [--request [--authority NAME]] [-o OUT] [NAME...]  [-c FILE]\n';

export const DEFAULT_MIRRORS_STATE_FILE = 'var/lib/verdict/mirrors.json';

function isSnapshot(v: unknown): v is MirrorSnapshot {
  const s = v as Partial<MirrorSnapshot> | null;
  return typeof s === 'object' && s !== null && s.format === 'verdict-mirrors-snapshot' && Array.isArray(s.candidates);
}

/** The observations: the running server's, else the saved state re-scored with `orders`. */
export async function observations(loaded: LoadedConfig, orders: readonly Order[], now: Date): Promise<{ snapshot: MirrorSnapshot; source: MirrorReport['source']; warning: string }> {
  const cfg = loaded.config;
  const m = cfg.mirrors;
  let warning = '';
  if (cfg.control.enabled) {
    const socket = resolve(loaded.baseDir, cfg.control.socket);
    if (existsSync(socket)) {
      try {
        const r = await controlRequest(socket, 'mirrors');
        if (r.status === 200 && isSnapshot(r.body)) return { snapshot: r.body, source: { kind: 'server', path: socket }, warning };
        warning = `the server at ${socket} gave no mirror snapshot (HTTP ${r.status}); reading the state file instead\n`;
      } catch (e) {
        warning = `${(e as Error).message}; reading the state file instead\n`;
      }
    }
  }
  const path = resolve(loaded.baseDir, m.state_file || DEFAULT_MIRRORS_STATE_FILE);
  const watcher = new MirrorWatcher({ blocked: blockedFromOrders(orders, now), maxNames: m.max_names, now: () => now.getTime() });
  const found = watcher.load(path);
  return { snapshot: watcher.snapshot(), source: { kind: found ? 'state-file' : 'none', path }, warning };
}

/** Name -> ids of draft orders listing it. */
function draftsByName(orders: readonly Order[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const o of orders) {
    if (o.status !== 'draft') continue;
    for (const n of o.names) m.set(n, [...(m.get(n) ?? []), o.id]);
  }
  return m;
}

/** `id` and every order amending it, directly or through other amendments. */
function family(orders: readonly Order[], id: string): Set<string> {
  const out = new Set([id]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const o of orders) if (o.amends !== undefined && out.has(o.amends) && !out.has(o.id)) { out.add(o.id); grew = true; }
  }
  return out;
}

export async function mirrorsCommand(loaded: LoadedConfig, args: string[], opts: MirrorsCliOptions = {}): Promise<CliOutput> {
  const cfg = loaded.config;
  const minScore = cfg.mirrors.min_score;
  const now = orderClock(cfg)();
  const [sub, ...rest] = args;
  const out = (stdout: string, code = 0, stderr = ''): CliOutput => ({ stdout, stderr, code });
  if (sub !== 'report' && sub !== 'draft') return out('', 2, USAGE);

  const result = await loadOrders(cfg.orders.files, loaded.baseDir, { timezone: cfg.orders.timezone, networks: cfg.orders.networks, now });
  const loadNote = result.errors.length ? `warning: ${result.errors.length} order file(s) failed to load; see \`verdict orders check\`\n` : '';
  const { snapshot, source, warning } = await observations(loaded, result.orders, now);
  const report = buildReport(snapshot, source, minScore, draftsByName(result.orders));

  if (sub === 'report') {
    if (rest.length) return out('', 2, USAGE);
    return out(opts.json ? JSON.stringify(report, null, 2) + '\n' : reportText(report), 0, loadNote + warning);
  }

  // draft
  const id = opts.order;
  if (!id) return out('', 2, `verdict mirrors draft: --order ID is required (the order the amendment amends)\n${USAGE}`);
  const base = result.orders.find((o) => o.id === id);
  if (!base) return out('', 1, `${loadNote}verdict mirrors draft: no loaded order ${JSON.stringify(id)} (see \`verdict orders list\`)\n`);
  const byName = new Map(report.candidates.map((c) => [c.name, c]));
  // Every observed candidate, whatever its score, may back a hand-picked name.
  const allByName = new Map(snapshot.candidates.map((c) => [c.name, c]));
  const blocked = new Set(blockedFromOrders(result.orders, now).map((b) => b.name));
  const chosen: DraftChoice[] = [];
  const notes: string[] = [];
  const handPicked = [...(opts.names ?? []), ...rest];
  if (handPicked.length) {
    for (const raw of handPicked) {
      const n = normalizeDomainName(raw);
      if ('error' in n) return out('', 2, `verdict mirrors draft: ${n.error}\n`);
      if (chosen.some((c) => c.name === n.name)) continue;
      if (blocked.has(n.name)) {
        notes.push(`${n.name} is already listed by an order in force or pending; left out\n`);
        continue;
      }
      const candidate = byName.get(n.name) ?? allByName.get(n.name);
      if (!candidate) notes.push(`${n.name}: no evidence observed; listed as added by hand\n`);
      chosen.push(candidate ? { name: n.name, candidate } : { name: n.name });
    }
  } else {
    const fam = family(result.orders, id);
    for (const c of report.candidates) if (c.orders.some((o) => fam.has(o))) chosen.push({ name: c.name, candidate: c });
  }
  if (chosen.length === 0) {
    return out('', 1, `${loadNote}${warning}${notes.join('')}verdict mirrors draft: no candidate to draft for ${id} (none scores ${minScore} or more; name some by hand)\n`);
  }
  if (opts.request && base.parent !== undefined) return out('', 1, `verdict mirrors draft: ${id} is itself a ${base.kind}; a request derives from a court order\n`);
  const d = opts.request ? draftRequest(base, chosen, { now, ...(opts.authority ? { authority: opts.authority } : {}) }) : draftAmendment(base, chosen, { now });
  const summary = `${d.id}: draft ${opts.request ? 'regulator request under' : 'amendment to'} ${id} with ${chosen.length} name(s): ${chosen.map((c) => c.name).join(', ')}; status draft, not enforced\n`;
  if (!opts.output) return out(d.text, 0, loadNote + warning + notes.join('') + summary);
  const target = resolve(opts.output);
  if (existsSync(target)) return out('', 1, `verdict mirrors draft: ${opts.output} exists; not overwritten (legal drafts are edited by hand)\n`);
  writeFileAtomically(target, d.text);
  return out('', 0, `${loadNote}${warning}${notes.join('')}${summary}written to ${opts.output}\n`);
}
