/**
 * Text and plain data for `verdict orders list | check | explain NAME`.
 * Nothing here prints or exits: the CLI writes `text` and uses `exitCode`.
 */
import { computeRules, DEFAULT_ORDERS_ZONE, edeText } from './compile.js';
import type { CompiledRule } from './compile.js';
import { formatProblem } from './load.js';
import type { OrderSetResult } from './load.js';
import { actionToText, chainLabel, normalizeDomainName } from './schema.js';
import type { Order } from './schema.js';
import { formatInZone, orderState } from './state.js';
import { ipToBytes } from '../../resolver/acl.js';
import { appliesToClient, scopeReason } from './scope.js';
import type { OrderState, OrderStateName } from './state.js';

export interface OrderRow {
  id: string;
  state: OrderStateName;
  daysLeft: number;
  names: number;
  court: string;
  decisionDate: string;
  reference?: string;
  effectiveDate: string;
  lastDay: string;
  action: string;
  amends?: string;
  example: boolean;
  file: string;
  /** Requests and feeds (issue 16): their kind and the court order they derive from. */
  kind?: string;
  parent?: string;
  /** request -> order (court), in words. */
  chain?: string;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** One row per order, sorted by decision date then id. */
export function listOrders(orders: readonly Order[], now: Date): { rows: OrderRow[]; text: string } {
  const rows: OrderRow[] = [...orders]
    .sort((a, b) => (a.decisionDate === b.decisionDate ? (a.id < b.id ? -1 : 1) : a.decisionDate < b.decisionDate ? -1 : 1))
    .map((o) => {
      const s = orderState(o, now);
      return {
        id: o.id, state: s.state, daysLeft: s.daysLeft, names: o.names.length, court: o.court,
        decisionDate: o.decisionDate, ...(o.reference !== undefined ? { reference: o.reference } : {}),
        effectiveDate: o.effectiveDate, lastDay: o.lastDay, action: actionToText(o.action),
        ...(o.amends !== undefined ? { amends: o.amends } : {}), example: o.example, file: o.file,
        ...(o.parentOrder ? { kind: o.kind, parent: o.parentOrder.id, chain: chainLabel(o) } : {}),
      };
    });
  const text = table(
    ['ID', 'STATE', 'DAYS LEFT', 'NAMES', 'IN FORCE', 'DECISION'],
    rows.map((r) => [
      r.id + (r.example ? ' (EXAMPLE)' : ''),
      r.state,
      r.state === 'expired' || r.state === 'lifted' || r.state === 'draft' ? '-' : String(r.daysLeft),
      String(r.names),
      `${r.effectiveDate} .. ${r.lastDay}`,
      `${r.court}, ${r.decisionDate}${r.reference ? `, ${r.reference}` : ''}${r.amends ? ` (amends ${r.amends})` : ''}`
        + (r.parent ? ` -> ${orderChainTail(orders, r.parent)}` : ''),
    ]),
  );
  return { rows, text: `${text}\n${rows.length} order(s) at ${now.toISOString()}\n` };
}

/** "parent-id (court, date)" for the DECISION column of a request's row. */
function orderChainTail(orders: readonly Order[], id: string): string {
  const p = orders.find((o) => o.id === id);
  return p ? `${p.id} (${p.court}, ${p.decisionDate}${p.reference ? `, ${p.reference}` : ''})` : id;
}

/** Errors and warnings of a load, with a summary; exit code 1 when any file failed. */
export function checkOrders(result: OrderSetResult, now: Date): { text: string; exitCode: 0 | 1; errors: number; warnings: number } {
  const lines: string[] = [];
  for (const e of result.errors) lines.push(`${formatProblem(e)}`);
  for (const w of result.warnings) lines.push(`warning: ${formatProblem(w)}`);
  const counts = new Map<OrderStateName, number>();
  for (const o of result.orders) {
    const s = orderState(o, now).state;
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  const states = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  lines.push(`${result.orders.length} order(s) loaded${states ? ` (${states})` : ''}, ${result.errors.length} error(s), ${result.warnings.length} warning(s)`);
  return { text: lines.join('\n') + '\n', exitCode: result.errors.length ? 1 : 0, errors: result.errors.length, warnings: result.warnings.length };
}

export interface NameMatch {
  order: string;
  /** The name the order lists that covers (or would cover) the queried name. */
  listed: string;
  /** exact: the order lists the name; subdomain: under a listed name with include_subdomains; not-covered: under a listed name without it. */
  coverage: 'exact' | 'subdomain' | 'not-covered';
  state: OrderStateName;
  enforced: boolean;
  reason: string;
  /** With a client: whether the order applies to it (`applies_to` / `except`), and why. */
  appliesToClient?: boolean;
  scope?: string;
}

export interface Explanation {
  name: string;
  /** The client judged for (scoped orders), when one was given. */
  client?: string;
  at: string;
  blocked: boolean;
  /** The rule that matches now (RPZ: the exact owner first, then the closest wildcard). */
  rule?: { owner: string; action: string; orders: string[]; ede: string };
  matches: NameMatch[];
  text: string;
}

function stateReason(o: Order, s: OrderState): string {
  const when = (d: Date) => formatInZone(d, o.timezone);
  switch (s.state) {
    case 'draft': return `draft: not a decision, never enforced (set status: active once the judge has ruled)`;
    case 'active': return `active since ${when(s.since ?? s.activeFrom)}, ${s.daysLeft} day(s) left (last day ${o.lastDay})`;
    case 'pending': return `pending: decided ${o.decisionDate}, enforced from ${when(s.activeFrom)} (in ${s.daysUntilActive} day(s))`;
    case 'expired': return `expired at ${when(s.expiresAt)} (last day ${o.lastDay})`;
    case 'suspended': return `suspended since ${s.since ? when(s.since) : 'the decision'}${s.note ? ` (${s.note})` : ''}`;
    case 'lifted': return `lifted at ${s.since ? when(s.since) : 'the decision'}${s.note ? ` (${s.note})` : ''}`;
  }
}

/** The RPZ rule a QNAME hits among `rules`: exact owner, else the closest enclosing wildcard. */
function matchRule(name: string, rules: readonly CompiledRule[]): CompiledRule | undefined {
  const byOwner = new Map(rules.map((r) => [r.owner, r]));
  const exact = byOwner.get(name);
  if (exact) return exact;
  for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1)) {
    const w = byOwner.get(`*.${name.slice(i + 1)}`);
    if (w) return w;
  }
  return undefined;
}

/**
 * Which orders concern `name` now, and why each blocks it or not: listed
 * exactly or through a parent's subdomains (or a parent listed without
 * them), and the order's state. The rule shown is what the compiled zone
 * does with the name at `now`.
 */
export function explainName(name: string, orders: readonly Order[], now: Date, opts: { zone?: string; noticeHost?: string; client?: string } = {}): Explanation {
  const at = now.toISOString();
  const n = normalizeDomainName(name);
  if ('error' in n) {
    return { name, at, blocked: false, matches: [], text: `${name}: ${n.error}\n` };
  }
  // With a client, only the orders that apply to it make its rules (as the server's scope class zone).
  const client = opts.client;
  const addr = client !== undefined ? ipToBytes(client) : undefined;
  if (client !== undefined && !addr) {
    return { name: n.name, client, at, blocked: false, matches: [], text: `--client ${JSON.stringify(client)}: not an IPv4 or IPv6 address\n` };
  }
  const applying = addr ? orders.filter((o) => appliesToClient(o, addr)) : orders;
  const q = n.name;
  const parents = [q];
  for (let i = q.indexOf('.'); i >= 0; i = q.indexOf('.', i + 1)) parents.push(q.slice(i + 1));
  const matches: NameMatch[] = [];
  for (const o of orders) {
    const listed = parents.find((p) => o.names.includes(p));
    if (!listed) continue;
    const coverage: NameMatch['coverage'] = listed === q ? 'exact' : o.includeSubdomains ? 'subdomain' : 'not-covered';
    const s = orderState(o, now);
    const applies = addr ? appliesToClient(o, addr) : true;
    const enforced = coverage !== 'not-covered' && s.state === 'active' && applies;
    const scope = addr ? scopeReason(o, client!, addr) : undefined;
    const chain = o.parentOrder ? ` [${chainLabel(o)}]` : '';
    const reason = coverage === 'not-covered'
      ? `lists ${listed} without subdomains (include_subdomains: false); ${q} is not covered`
      : `${coverage === 'exact' ? `lists ${q}` : `lists ${listed} with its subdomains`}; ${stateReason(o, s)}${chain}${scope ? `; ${scope}` : o.scope ? `; scoped: applies_to [${o.scope.appliesTo.join(', ') || 'every client'}]${o.scope.except.length ? `, except [${o.scope.except.join(', ')}]` : ''} (give --client ADDR)` : ''}`;
    matches.push({ order: o.id, listed, coverage, state: s.state, enforced, reason, ...(addr ? { appliesToClient: applies, scope: scope! } : {}) });
  }
  const zone = opts.zone ?? DEFAULT_ORDERS_ZONE;
  const rule = matchRule(q, computeRules(applying, now, { zone, ...(opts.noticeHost ? { noticeHost: opts.noticeHost } : {}) }));
  const lines = [`${q}${client !== undefined ? ` for client ${client}` : ''} at ${at}:`];
  if (rule) {
    lines.push(`  BLOCKED by rule ${rule.owner}.${zone} (${actionToText(rule.action)})`);
    lines.push(`  EDE 16 (Censored): ${edeText(rule.refs)}`);
    if (rule.refs.some((r) => r.parent)) lines.push('  note: entries of regulator requests and feeds pass the safeguards on the running server first; a held one is not enforced (`verdict orders held`)');
  } else {
    lines.push(!matches.length ? '  not blocked: not listed in any order (nor is any parent domain)'
      : addr && matches.some((m) => m.coverage !== 'not-covered' && m.state === 'active')
        ? `  not blocked for ${client}: no order covering it in force applies to this client`
        : '  not blocked: no order covering it is in force');
  }
  for (const m of matches) lines.push(`  - ${m.order}: ${m.reason}`);
  return {
    name: q, ...(client !== undefined ? { client } : {}), at, blocked: rule !== undefined,
    ...(rule ? { rule: { owner: `${rule.owner}.${zone}`, action: actionToText(rule.action), orders: rule.refs.map((r) => r.id), ede: edeText(rule.refs) } } : {}),
    matches, text: lines.join('\n') + '\n',
  };
}
