/**
 * Order files -> validated `Order`s, with every problem located as
 * `file:line:column: key.path: reason`.
 *
 * A bad file is reported and skipped; the others still load. `parseOrder` is
 * pure (text in, order or problems out) so that a caller reloading orders can
 * keep the previously loaded version of a file that is now broken, then run
 * `checkOrderSet` over the mix.
 *
 * Cross-file rules (checkOrderSet):
 * - two files with one id: the first in path order is kept, the later is an
 *   error (a resolver must never enforce two different texts under one id);
 * - an amendment whose `amends` is unknown, or that amends itself through a
 *   chain, is an error (the file is skipped like any bad file);
 * - the same name in two orders whose periods overlap, or a name already
 *   covered by another order's subdomains, is a warning naming both places
 *   (legal, but the team should know two decisions cover one site);
 * - an order that has expired but is still listed is a warning, as is an
 *   amendment in force while the order it amends is suspended or lifted, and
 *   an order marked `example: true` that is in force.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { glob } from 'tinyglobby';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { MIB, nestingProblem, readTextBoundedAsync, toJSBounded, YamlLimitError } from '../../config/yaml-limits.js';
import { normalizeDomainName, orderFileSchema } from './schema.js';
import type { DeclaredStatus, Order, OrderAction, OrderFile, SourcePos, StatusChange } from './schema.js';
import { resolveNetworkSets, resolveScope } from './scope.js';
import type { NetworkSets } from './scope.js';
import { addDays, addMonths, formatInZone, isCalendarDate, isTimeZone, orderState, zonedMidnight } from './state.js';
import { bindRequests, isRequestData, parseRequestData } from './request.js';

export const DEFAULT_TIMEZONE = 'Europe/Paris';

/** An order lists its names, some thousands at most: a file far bigger is refused unread. */
export const MAX_ORDER_BYTES = 4 * MIB;

/** One problem with an order file. `line` is 0 when it concerns the whole file. */
export interface OrderProblem {
  /** Stable code, e.g. `schema`, `name`, `duplicate-id`, `name-in-two-orders`. */
  code: string;
  file: string;
  line: number;
  column: number;
  /** Key path inside the file, e.g. `domains[3]` or `history[1].status`; '' for the file. */
  path: string;
  message: string;
  /** Ids of the orders concerned, when several are (overlaps, duplicates). */
  orders?: string[];
}
export type OrderError = OrderProblem;
export type OrderWarning = OrderProblem;

export function formatProblem(p: OrderProblem): string {
  const at = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.path ? `${at}: ${p.path}: ${p.message}` : `${at}: ${p.message}`;
}

export interface ParseOptions {
  /** Time zone for orders without `timezone` (config `orders.timezone`). Default Europe/Paris. */
  timezone?: string;
  /** `orders.networks`: the sets `applies_to` and `except` may name (issue 17). */
  networks?: NetworkSets;
}

export interface ParsedOrder {
  /** Present exactly when `errors` is empty. */
  order?: Order;
  errors: OrderError[];
  warnings: OrderWarning[];
}

type Path = readonly (string | number)[];

function pathText(path: readonly PropertyKey[]): string {
  return path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
}

/** Locates nodes of one parsed file. */
class Locator {
  constructor(private readonly doc: Document, private readonly lc: LineCounter) {}

  /** Position of the node at `path`, or of its nearest existing ancestor. */
  at(path: readonly PropertyKey[]): SourcePos {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return this.pos(node.range[0]);
    }
    return { line: 1, column: 1 };
  }

  /** Position of the key `key` in the mapping at `path` (for unknown keys). */
  key(path: readonly PropertyKey[], key: string): SourcePos {
    const map = this.doc.getIn(path as unknown[], true);
    if (isMap(map)) {
      const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (pair && isScalar(pair.key) && pair.key.range) return this.pos(pair.key.range[0]);
    }
    return this.at(path);
  }

  has(path: readonly PropertyKey[]): boolean {
    return this.doc.hasIn(path as unknown[]);
  }

  pos(offset: number): SourcePos {
    const p = this.lc.linePos(offset);
    return { line: p.line, column: p.col };
  }
}

/**
 * Flatten zod issues into located problems. For a union whose value had the
 * right type for one branch (an object where `{ redirect: HOST }` was
 * expected), that branch's own issues say more than "expected one of".
 */
function zodProblems(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[], loc: Locator, file: string, out: OrderError[]): void {
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if ((issue.code === 'invalid_union' || issue.code === 'invalid_type') && !loc.has(path)) {
      out.push({ code: 'schema', file, ...loc.at(path), path: pathText(path), message: 'required key is missing' });
      continue;
    }
    if (issue.code === 'invalid_union') {
      const branch = issue.errors.find((errs) => errs.length > 0 && !errs.some((e) => e.code === 'invalid_type' && e.path.length === 0) && !errs.some((e) => e.code === 'invalid_value' && e.path.length === 0));
      if (branch) {
        zodProblems(branch, path, loc, file, out);
        continue;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const p = loc.key(path, k);
        out.push({ code: 'unknown-key', file, ...p, path: pathText([...path, k]), message: 'unknown key' });
      }
      continue;
    }
    out.push({ code: 'schema', file, ...loc.at(path), path: pathText(path), message: issue.message });
  }
}

/**
 * Parse and validate one order file. Pure: no I/O, no clock. `file` is only
 * used to name the file in problems and in the resulting order.
 */
export function parseOrder(text: string, file: string, opts: ParseOptions = {}): ParsedOrder {
  const errors: OrderError[] = [];
  const warnings: OrderWarning[] = [];
  const deep = nestingProblem(text, file);
  if (deep) return { errors: [{ code: 'yaml', file, line: deep.line, column: deep.col, path: '', message: deep.reason }], warnings };
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const loc = new Locator(doc, lc);
  for (const e of doc.errors) {
    errors.push({ code: 'yaml', file, ...loc.pos(e.pos[0]), path: '', message: e.message.split('\n')[0]! });
  }
  if (errors.length) return { errors, warnings };
  if (!isMap(doc.contents)) {
    errors.push({ code: 'schema', file, line: 1, column: 1, path: '', message: 'expected a mapping (one order per file)' });
    return { errors, warnings };
  }
  // Alias expansion past the limit ("billion laughs"): a reported error, not a crash.
  let data: unknown;
  try {
    data = toJSBounded(doc, lc, file);
  } catch (e) {
    const at = e instanceof YamlLimitError ? { line: e.line, column: e.col, message: e.reason } : { line: 1, column: 1, message: `cannot expand the document: ${(e as Error).message}` };
    errors.push({ code: 'yaml', file, path: '', ...at });
    return { errors, warnings };
  }
  // Regulator requests (issue 16): their own schema, bound to their parent in checkOrderSet.
  if (isRequestData(data)) return parseRequestData(data, text, file, loc, opts, (issues, out) => zodProblems(issues, [], loc, file, out));
  const parsed = orderFileSchema.safeParse(data);
  if (!parsed.success) {
    zodProblems(parsed.error.issues, [], loc, file, errors);
    return { errors, warnings };
  }
  const f: OrderFile = parsed.data;
  const err = (path: Path, message: string, code = 'invalid') => errors.push({ code, file, ...loc.at(path), path: pathText(path), message });

  // --- time zone and dates
  let timezone = f.timezone ?? opts.timezone ?? DEFAULT_TIMEZONE;
  if (!isTimeZone(timezone)) {
    err(f.timezone ? ['timezone'] : [], `unknown time zone ${JSON.stringify(timezone)} (expected an IANA name such as Europe/Paris)`, 'timezone');
    timezone = DEFAULT_TIMEZONE;
  }
  const dateOk = (path: Path, d: string) => {
    if (isCalendarDate(d)) return true;
    err(path, `${d} is not a calendar date`, 'date');
    return false;
  };
  const decisionOk = dateOk(['decision_date'], f.decision_date);
  let effectiveDate = typeof f.effective === 'string' ? f.effective : decisionOk ? addDays(f.decision_date, f.effective.within_days) : f.decision_date;
  if (typeof f.effective === 'string' && dateOk(['effective'], f.effective) && decisionOk && f.effective < f.decision_date) {
    err(['effective'], `effective date ${f.effective} is before the decision (${f.decision_date})`, 'date');
  }
  if (!isCalendarDate(effectiveDate)) effectiveDate = f.decision_date;
  let lastDay = effectiveDate;
  if (f.duration && f.until) err(['until'], 'give either duration or until, not both', 'date');
  else if (!f.duration && !f.until) err([], 'an order needs duration ({ months: N } or { days: N }) or until (last day)', 'date');
  else if (f.until) {
    if (dateOk(['until'], f.until)) {
      if (f.until < effectiveDate) err(['until'], `until ${f.until} is before the effective date ${effectiveDate}`, 'date');
      lastDay = f.until;
    }
  } else if (f.duration) {
    const end = 'months' in f.duration ? addMonths(effectiveDate, f.duration.months) : addDays(effectiveDate, f.duration.days);
    lastDay = addDays(end, -1);
  }

  // --- status history: chronological, month-only entries are notes, `status` is where it ends
  const history: StatusChange[] = [];
  let current: DeclaredStatus = 'active';
  let previousDate = '';
  f.history.forEach((h, i) => {
    const monthOnly = h.date.length === 7;
    const valid = monthOnly ? isCalendarDate(`${h.date}-01`) : isCalendarDate(h.date);
    if (!valid) return err(['history', i, 'date'], `${h.date} is not a calendar date`, 'date');
    // A month-only note may sit anywhere in its month: it is in order unless the whole month is past.
    if (h.date < (monthOnly ? f.decision_date.slice(0, 7) : f.decision_date)) {
      return err(['history', i, 'date'], `${h.date} is before the decision (${f.decision_date})`, 'date');
    }
    if ((monthOnly ? `${h.date}-31` : h.date) < previousDate) {
      return err(['history', i, 'date'], `history is not in date order (${h.date} after ${previousDate})`, 'date');
    }
    const earliest = monthOnly ? `${h.date}-01` : h.date;
    if (earliest > previousDate) previousDate = earliest;
    if (monthOnly && h.status !== current) {
      return err(['history', i, 'date'], `a change of status (${current} -> ${h.status}) needs a full date YYYY-MM-DD`, 'status');
    }
    current = h.status;
    history.push({
      date: h.date,
      at: monthOnly ? undefined : zonedMidnight(h.date, timezone),
      status: h.status,
      ...(h.note !== undefined ? { note: h.note } : {}),
    });
  });
  // A draft is not a decision: its history (if any) says nothing about its own status.
  if (f.status !== 'draft' && f.status !== current) {
    err(['status'], f.history.length
      ? `status is ${f.status} but the history ends with ${current}; add the history entry that changed it`
      : `status ${f.status} needs a history entry giving its date`, 'status');
  }

  // --- action
  let action: OrderAction;
  if (typeof f.action === 'string') action = { type: f.action };
  else {
    const host = normalizeDomainName(f.action.redirect);
    if ('error' in host) err(['action', 'redirect'], host.error, 'name');
    action = { type: 'redirect', host: 'name' in host ? host.name : f.action.redirect };
  }

  // --- domains: expand variants, canonicalise, find duplicates within the order
  const names: string[] = [];
  const positions = new Map<string, SourcePos>();
  const add = (raw: string, path: Path) => {
    const n = normalizeDomainName(raw);
    if ('error' in n) return err(path, n.error, 'name');
    const here = loc.at(path);
    const first = positions.get(n.name);
    if (first) {
      warnings.push({
        code: 'duplicate-name', file, ...here, path: pathText(path),
        message: `${n.name} is listed twice in this order (also at ${file}:${first.line}:${first.column}); counted once`,
        orders: [f.id],
      });
      return;
    }
    positions.set(n.name, here);
    names.push(n.name);
  };
  f.domains.forEach((d, i) => {
    if (typeof d === 'string') return add(d, ['domains', i]);
    const label = d.label.trim().replace(/\.$/, '');
    if (label === '' || label.startsWith('.')) return err(['domains', i, 'label'], `not a valid label: ${JSON.stringify(d.label)}`, 'name');
    d.variants.forEach((v, k) => add(`${label}.${v.trim().replace(/^\./, '')}`, ['domains', i, 'variants', k]));
  });

  if (f.amends !== undefined && f.amends === f.id) err(['amends'], 'an order cannot amend itself', 'amends');

  // --- scope (issue 17): applies_to / except -> prefixes
  const scoped = resolveScope(f.applies_to, f.except, opts.networks ?? {});
  for (const e of scoped.errors) err([e.key, e.index], e.message, 'scope');
  if (errors.length) return { errors, warnings };

  const activeFrom = zonedMidnight(effectiveDate, timezone);
  const order: Order = {
    id: f.id,
    file,
    sha256: createHash('sha256').update(text).digest('hex'),
    court: f.court,
    decisionDate: f.decision_date,
    ...(f.reference !== undefined ? { reference: f.reference } : {}),
    parties: { plaintiffs: f.parties.plaintiffs, addressees: f.parties.addressees },
    timezone,
    effectiveDate,
    activeFrom,
    lastDay,
    expiresAt: zonedMidnight(addDays(lastDay, 1), timezone),
    status: f.status,
    history,
    action,
    includeSubdomains: f.include_subdomains,
    names,
    ...(f.amends !== undefined ? { amends: f.amends } : {}),
    example: f.example,
    ...(f.notes !== undefined ? { notes: f.notes } : {}),
    ...(scoped.scope ? { scope: scoped.scope } : {}),
    publishNames: f.publish_names,
    source: {
      id: loc.at(['id']),
      ...(f.amends !== undefined ? { amends: loc.at(['amends']) } : {}),
      names: positions,
    },
  };
  return { order, errors, warnings };
}

export interface OrderSetResult {
  orders: Order[];
  errors: OrderError[];
  warnings: OrderWarning[];
}

function overlaps(a: Order, b: Order): boolean {
  return a.activeFrom.getTime() < b.expiresAt.getTime() && b.activeFrom.getTime() < a.expiresAt.getTime();
}

/**
 * Checks across orders (see the file comment). `orders` should be in a stable
 * order (the loader sorts by file path): on a duplicate id the first is kept.
 * `now` is used for the expiry and amendment-status warnings.
 */
export function checkOrderSet(input: readonly Order[], now: Date): OrderSetResult {
  const errors: OrderError[] = [];
  const warnings: OrderWarning[] = [];
  const at = (o: Order, p: SourcePos | undefined) => `${o.file}:${p?.line ?? 1}:${p?.column ?? 1}`;

  const byId = new Map<string, Order>();
  for (const o of input) {
    const first = byId.get(o.id);
    if (first) {
      errors.push({ code: 'duplicate-id', file: o.file, ...o.source.id, path: 'id', message: `duplicate id ${o.id}, already used by ${at(first, first.source.id)}; this file is skipped`, orders: [o.id] });
      continue;
    }
    byId.set(o.id, o);
  }

  // Amendments: drop those whose base is unknown, until stable (a dropped base orphans its amendments).
  for (let changed = true; changed; ) {
    changed = false;
    for (const o of [...byId.values()]) {
      if (o.amends === undefined || byId.has(o.amends)) continue;
      errors.push({ code: 'unknown-amends', file: o.file, ...(o.source.amends ?? o.source.id), path: 'amends', message: `amends ${o.amends}, which is not a loaded order; this file is skipped`, orders: [o.id] });
      byId.delete(o.id);
      changed = true;
    }
  }
  // Regulator requests: refused unless their parent order is known and running on their date (request.ts).
  bindRequests(byId, errors);
  for (const o of [...byId.values()]) {
    const seen = new Set<string>([o.id]);
    for (let cur = o.amends; cur !== undefined; cur = byId.get(cur)?.amends) {
      if (!seen.has(cur)) {
        seen.add(cur);
        continue;
      }
      errors.push({ code: 'amends-cycle', file: o.file, ...(o.source.amends ?? o.source.id), path: 'amends', message: `amendments form a cycle (${[...seen].join(' -> ')} -> ${cur}); this file is skipped`, orders: [...seen] });
      break;
    }
  }
  const cyclic = new Set(errors.filter((e) => e.code === 'amends-cycle').map((e) => e.orders![0]!));
  const orders = [...byId.values()].filter((o) => !cyclic.has(o.id));

  // Names in two orders (same period), and names under another order's subdomains.
  const listing = new Map<string, Order[]>();
  for (const o of orders) for (const n of o.names) {
    const l = listing.get(n);
    if (l) l.push(o);
    else listing.set(n, [o]);
  }
  for (const [name, list] of listing) {
    for (let j = 1; j < list.length; j++) for (let i = 0; i < j; i++) {
      const [a, b] = [list[i]!, list[j]!];
      if (!overlaps(a, b)) continue;
      warnings.push({
        code: 'name-in-two-orders', file: b.file, ...b.source.names.get(name)!, path: 'domains',
        message: `${name} is in two orders in force at the same time: ${a.id} (${at(a, a.source.names.get(name))}) and ${b.id} (${at(b, b.source.names.get(name))}); the rule names both`,
        orders: [a.id, b.id],
      });
    }
  }
  for (const o of orders) for (const n of o.names) {
    for (let dot = n.indexOf('.'); dot >= 0 && n.indexOf('.', dot + 1) >= 0; dot = n.indexOf('.', dot + 1)) {
      const ancestor = n.slice(dot + 1);
      for (const p of listing.get(ancestor) ?? []) {
        if (p === o || !p.includeSubdomains || !overlaps(o, p)) continue;
        warnings.push({
          code: 'name-covered', file: o.file, ...o.source.names.get(n)!, path: 'domains',
          message: `${n} (order ${o.id}) is also covered by ${ancestor} and its subdomains in order ${p.id} (${at(p, p.source.names.get(ancestor))}); the rule names both`,
          orders: [p.id, o.id],
        });
      }
    }
  }

  for (const o of orders) {
    const s = orderState(o, now);
    if (s.state === 'expired') {
      warnings.push({ code: 'expired-listed', file: o.file, ...o.source.id, path: 'id', message: `order ${o.id} expired at ${formatInZone(o.expiresAt, o.timezone)} (last day ${o.lastDay}) but is still listed; it is not enforced`, orders: [o.id] });
    }
    if (o.example && s.state === 'active') {
      // Shipped examples make the demo block something today; a production fleet must not enforce them by accident.
      warnings.push({ code: 'example-enforced', file: o.file, ...o.source.id, path: 'id', message: `order ${o.id} is an EXAMPLE, not a real decision, and is enforced now; remove it from orders.files outside demos and tests`, orders: [o.id] });
    }
    if (o.amends !== undefined) {
      const base = byId.get(o.amends)!;
      if (o.decisionDate < base.decisionDate) {
        warnings.push({ code: 'amendment-before-base', file: o.file, ...(o.source.amends ?? o.source.id), path: 'amends', message: `amendment decided ${o.decisionDate}, before the order it amends (${base.id}, ${base.decisionDate})`, orders: [o.id, base.id] });
      }
      const bs = orderState(base, now).state;
      if (s.state === 'active' && (bs === 'suspended' || bs === 'lifted')) {
        warnings.push({ code: 'amendment-base-inactive', file: o.file, ...(o.source.amends ?? o.source.id), path: 'amends', message: `amendment ${o.id} is enforced while the order it amends (${base.id}) is ${bs}; record the decision in this file's history if it applies here too`, orders: [o.id, base.id] });
      }
    }
  }
  return { orders, errors, warnings };
}

export interface LoadOptions extends ParseOptions {
  /** The clock for expiry warnings; read once here when absent. */
  now?: Date;
}

export interface LoadResult extends OrderSetResult {
  /** Every file the patterns matched, relative to baseDir, sorted. */
  files: string[];
}

/**
 * Load every file matching `patterns` (globs relative to `baseDir`). Files
 * are read in sorted path order, so results do not depend on the file
 * system's listing order. Never throws for a bad file: it lands in `errors`.
 */
export async function loadOrders(patterns: string[], baseDir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const now = opts.now ?? new Date();
  const files = (await glob(patterns, { cwd: baseDir, onlyFiles: true, absolute: false, expandDirectories: false })).sort();
  const errors: OrderError[] = [];
  const warnings: OrderWarning[] = [];
  const parsed: Order[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readTextBoundedAsync(resolve(baseDir, file), MAX_ORDER_BYTES);
    } catch (e) {
      errors.push({ code: 'read', file, line: 0, column: 0, path: '', message: e instanceof YamlLimitError ? e.reason : `cannot read: ${(e as Error).message}` });
      continue;
    }
    const r = parseOrder(text, file, opts);
    errors.push(...r.errors);
    warnings.push(...r.warnings);
    if (r.order) parsed.push(r.order);
  }
  // A bad prefix in orders.networks would silently narrow every order naming the set: an error.
  for (const message of resolveNetworkSets(opts.networks ?? {}).errors) {
    errors.push({ code: 'networks', file: 'config', line: 0, column: 0, path: '', message });
  }
  const set = checkOrderSet(parsed, now);
  return { files, orders: set.orders, errors: [...errors, ...set.errors], warnings: [...warnings, ...set.warnings] };
}
