/**
 * Regulator requests: blocking asked by an authority under a court order
 * still running (France, code de la propriété intellectuelle L.331-27: the
 * rights holder party to the decision reports a service reproducing the
 * blocked one, Arcom asks the ISPs named in the decision to block it, for no
 * longer than the judge's measures have left to run).
 *
 * ```yaml
 * kind: regulator-request
 * id: arcom-2014-0001
 * authority: Arcom
 * reference: "ARCOM/2014/0001"
 * date: 2014-05-01                  # the request's date: enforced from 00:00 (parent's time zone)
 * parent: 2013-tgi-paris-allostreaming
 * domains: [dpstream.net]
 * addresses: [203.0.113.11]         # optional: address entries (rpz-ip), IPv4/IPv6 or CIDR
 * until: 2014-10-31                 # optional last day; never after the parent's; default: the parent's
 * status: active                    # or draft (never enforced, e.g. from `verdict mirrors draft --request`)
 * ```
 *
 * A request becomes an `Order` of kind `regulator-request` whose court is the
 * authority and whose action and subdomain coverage are the parent's. Its
 * dates are bound to the parent by `bindRequests` (called from
 * checkOrderSet): it is refused, with file:line, when the parent is unknown,
 * is itself derived, is a draft, had lapsed or was suspended on the request's
 * date, or ends before the request would outlive it. Once loaded, its state
 * follows the parent's (state.ts): the parent's end, suspension or lifting
 * ends everything derived from it.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { OrderError, OrderWarning, ParsedOrder, ParseOptions } from './load.js';
import { normalizeDomainName, scopeFields } from './schema.js';
import { narrowScope, resolveScope } from './scope.js';
import type { Order, SourcePos } from './schema.js';
import { addDays, formatInZone, isCalendarDate, orderState, zonedMidnight } from './state.js';

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const date = z.string({ error: 'expected a date YYYY-MM-DD' }).regex(DATE_RE, 'expected a date YYYY-MM-DD');

export const requestFileSchema = z.strictObject({
  kind: z.literal('regulator-request'),
  id: z
    .string({ error: 'expected an id (letters, digits, ".", "_", "-")' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected an id of letters, digits, ".", "_", "-" (at most 100)'),
  authority: z.string({ error: 'expected the authority that issued the request (e.g. Arcom)' }).min(1, 'expected the authority that issued the request (e.g. Arcom)'),
  reference: z.string({ error: "expected the authority's reference" }).min(1, "expected the authority's reference"),
  date,
  parent: z.string({ error: 'expected the id of the court order the request derives from' }).min(1),
  domains: z.array(z.string({ error: 'expected a domain name' })).default([]),
  addresses: z.array(z.string({ error: 'expected an address or CIDR prefix' })).default([]),
  until: date.optional(),
  status: z.enum(['active', 'draft']).default('active'),
  example: z.boolean().default(false),
  notes: z.string().optional(),
  /** Client networks (issue 17): a request narrows its order's scope, never widens it (scope.ts narrowScope). */
  applies_to: scopeFields.applies_to,
  except: scopeFields.except,
});

/** True when a parsed document declares itself a request (the loader dispatches on it). */
export function isRequestData(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'regulator-request';
}

/** "203.0.113.11" -> "203.0.113.11/32"; a prefix keeps its length; host bits must be zero. Canonical text. */
export function normalizeAddressEntry(input: string): { cidr: string } | { error: string } {
  const bad = (why: string) => ({ error: `not a valid address entry: ${JSON.stringify(input)} (${why})` });
  const [addr, len, extra] = input.trim().split('/');
  if (extra !== undefined || !addr) return bad('expected ADDRESS or ADDRESS/LENGTH');
  const family = isIP(addr);
  if (family === 0) return bad('not an IPv4 or IPv6 address');
  const max = family === 4 ? 32 : 128;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < (family === 4 ? 8 : 16) || bits > max || (len !== undefined && !/^\d+$/.test(len))) {
    return bad(`prefix length must be ${family === 4 ? 8 : 16}..${max}; a wider block would cut off whole networks`);
  }
  const bytes = addressBytes(addr);
  for (let i = bits; i < max; i++) if (bytes[i >> 3]! & (0x80 >> (i & 7))) return bad(`host bits set past /${bits}`);
  return { cidr: `${formatAddress(bytes)}/${bits}` };
}

/** An IPv4 or IPv6 address as bytes (4 or 16). */
export function addressBytes(addr: string): Uint8Array {
  if (isIP(addr) === 4) return Uint8Array.from(addr.split('.').map(Number));
  const out = new Uint8Array(16);
  let text = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return [...b].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: the longest run (2 or more) of zero groups becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The rpz-ip owner of a canonical CIDR (RPZ draft 4.2): "203.0.113.11/32" -> "32.11.113.0.203.rpz-ip". */
export function rpzIpOwner(cidr: string): string {
  const [addr, len] = cidr.split('/') as [string, string];
  if (isIP(addr) === 4) return `${len}.${addr.split('.').reverse().join('.')}.rpz-ip`;
  const b = addressBytes(addr);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // The longest run of zero groups is written "zz".
  const text = formatAddress(b);
  if (!text.includes('::')) return `${len}.${groups.reverse().join('.')}.rpz-ip`;
  const [head, tail] = text.split('::') as [string, string];
  const parts = [...(head ? head.split(':') : []), 'zz', ...(tail ? tail.split(':') : [])];
  return `${len}.${parts.reverse().join('.')}.rpz-ip`;
}

interface Locate {
  at(path: readonly PropertyKey[]): SourcePos;
}

/**
 * A request file already read as data and checked to say `kind:
 * regulator-request`. Dates are provisional (default time zone, no end)
 * until `bindRequests` ties them to the parent.
 */
export function parseRequestData(data: unknown, text: string, file: string, loc: Locate, opts: ParseOptions,
  zodProblems: (issues: readonly z.core.$ZodIssue[], out: OrderError[]) => void): ParsedOrder {
  const errors: OrderError[] = [];
  const warnings: OrderWarning[] = [];
  const parsed = requestFileSchema.safeParse(data);
  if (!parsed.success) {
    zodProblems(parsed.error.issues, errors);
    return { errors, warnings };
  }
  const f = parsed.data;
  const path = (p: readonly (string | number)[]) => p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('').replace(/^\./, '');
  const err = (p: readonly (string | number)[], message: string, code = 'invalid') => errors.push({ code, file, ...loc.at(p), path: path(p), message });
  if (!isCalendarDate(f.date)) err(['date'], `${f.date} is not a calendar date`, 'date');
  if (f.until !== undefined) {
    if (!isCalendarDate(f.until)) err(['until'], `${f.until} is not a calendar date`, 'date');
    else if (f.until < f.date) err(['until'], `until ${f.until} is before the request's date ${f.date}`, 'date');
  }
  if (f.parent === f.id) err(['parent'], 'a request cannot derive from itself', 'parent');
  const names: string[] = [];
  const positions = new Map<string, SourcePos>();
  f.domains.forEach((d, i) => {
    const n = normalizeDomainName(d);
    if ('error' in n) return err(['domains', i], n.error, 'name');
    if (positions.has(n.name)) {
      warnings.push({ code: 'duplicate-name', file, ...loc.at(['domains', i]), path: `domains[${i}]`, message: `${n.name} is listed twice in this request; counted once`, orders: [f.id] });
      return;
    }
    positions.set(n.name, loc.at(['domains', i]));
    names.push(n.name);
  });
  const addresses: string[] = [];
  f.addresses.forEach((a, i) => {
    const c = normalizeAddressEntry(a);
    if ('error' in c) return err(['addresses', i], c.error, 'address');
    if (!addresses.includes(c.cidr)) addresses.push(c.cidr);
  });
  if (names.length === 0 && addresses.length === 0 && errors.length === 0) err([], 'a request lists at least one domain or address', 'schema');
  const scoped = resolveScope(f.applies_to, f.except, opts.networks ?? {});
  for (const e of scoped.errors) err([e.key, e.index], e.message, 'scope');
  if (errors.length) return { errors, warnings };
  const timezone = opts.timezone ?? 'Europe/Paris';
  const lastDay = f.until ?? '2999-12-31';
  const order: Order = {
    publishNames: false, // the parent's, once bound (below)
    ...(scoped.scope ? { scope: scoped.scope } : {}), // narrowed by the parent's, once bound
    kind: 'regulator-request',
    id: f.id,
    file,
    sha256: createHash('sha256').update(text).digest('hex'),
    court: f.authority,
    authority: f.authority,
    decisionDate: f.date,
    reference: f.reference,
    parties: { plaintiffs: [], addressees: [] },
    timezone,
    effectiveDate: f.date,
    activeFrom: zonedMidnight(f.date, timezone),
    lastDay,
    expiresAt: zonedMidnight(addDays(lastDay, 1), timezone),
    status: f.status,
    history: [],
    action: { type: 'nxdomain' },
    includeSubdomains: true,
    names,
    parent: f.parent,
    addresses,
    example: f.example,
    ...(f.notes !== undefined ? { notes: f.notes } : {}),
    source: { id: loc.at(['id']), names: positions, parentAt: loc.at(['parent']), ...(f.until ? { untilAt: loc.at(['until']) } : {}) } as Order['source'],
  };
  return { order, errors, warnings };
}

type RequestSource = Order['source'] & { parentAt?: SourcePos; untilAt?: SourcePos };

/**
 * Tie each derived entry (request, feed) to its parent: the parent must be a
 * loaded court order, decided, running (or pending) on the request's date,
 * and the request must not outlive it. Returns the orders with requests
 * rebuilt on the parent's time zone, action and coverage; refused requests
 * are left out with an error.
 */
export function bindRequests(byId: Map<string, Order>, errors: OrderError[]): void {
  for (const o of [...byId.values()]) {
    if (o.parent === undefined || o.kind === 'feed') continue;
    const src = o.source as RequestSource;
    const at = src.parentAt ?? o.source.id;
    const refuse = (code: string, message: string, pos: SourcePos = at, path = 'parent') => {
      errors.push({ code, file: o.file, ...pos, path, message: `${message}; this request is not enforced`, orders: [o.id, o.parent!] });
      byId.delete(o.id);
    };
    const p = byId.get(o.parent);
    if (!p) { refuse('unknown-parent', `parent ${o.parent} is not a loaded court order`); continue; }
    if (p.parent !== undefined) { refuse('parent-derived', `parent ${p.id} is itself a ${p.kind ?? 'derived entry'}; a request derives from a court order`); continue; }
    if (p.status === 'draft') { refuse('parent-draft', `parent ${p.id} is a draft, not a decision`); continue; }
    const from = zonedMidnight(o.decisionDate, p.timezone);
    if (o.decisionDate < p.decisionDate) { refuse('parent-later', `the request (${o.decisionDate}) predates the decision of ${p.id} (${p.decisionDate})`); continue; }
    const ps = orderState(p, from);
    if (ps.state === 'expired' || ps.state === 'lifted') {
      refuse('parent-lapsed', `parent ${p.id} had ${ps.state === 'lifted' ? 'been lifted' : 'lapsed'} on the request's date ${o.decisionDate} (${ps.state} since ${formatInZone(ps.since ?? ps.expiresAt, p.timezone)}; last day ${p.lastDay})`);
      continue;
    }
    if (ps.state === 'suspended') { refuse('parent-suspended', `parent ${p.id} was suspended on the request's date ${o.decisionDate}`); continue; }
    const ownUntil = src.untilAt ? o.lastDay : undefined;
    if (ownUntil !== undefined && ownUntil > p.lastDay) {
      refuse('outlives-parent', `until ${ownUntil} outlives the parent ${p.id}, whose measures end ${p.lastDay} (a request lasts no longer than the judge's measures have left to run)`, src.untilAt!, 'until');
      continue;
    }
    const lastDay = ownUntil ?? p.lastDay;
    const expiresAt = zonedMidnight(addDays(lastDay, 1), p.timezone);
    const narrowed = narrowScope(p.scope, o.scope);
    if (o.scope?.include && narrowed?.include?.length === 0) {
      refuse('scope', `applies_to [${o.scope.appliesTo.join(', ')}] shares no client network with parent ${p.id}'s applies_to [${p.scope!.appliesTo.join(', ')}] (a request narrows its order's scope, never widens it)`, o.source.id, 'applies_to');
      continue;
    }
    const { scope: _own, ...unscoped } = o;
    byId.set(o.id, {
      ...unscoped,
      timezone: p.timezone,
      activeFrom: from,
      lastDay,
      expiresAt: expiresAt.getTime() < p.expiresAt.getTime() ? expiresAt : p.expiresAt,
      action: p.action,
      includeSubdomains: p.includeSubdomains,
      parties: p.parties,
      example: o.example || p.example,
      // A request reaches the clients its order does, or fewer (its own applies_to/except), and is
      // published as its order is.
      ...(narrowed ? { scope: narrowed } : {}),
      publishNames: p.publishNames,
      parentOrder: p,
    });
  }
}

/** The inverse of rpzIpOwner for the labels before `rpz-ip` ("32.11.113.0.203" -> "203.0.113.11/32"); undefined when malformed. */
export function cidrFromRpzIp(labels: string): string | undefined {
  const parts = labels.split('.');
  const len = parts.shift();
  if (!len || !/^\d+$/.test(len)) return undefined;
  parts.reverse();
  let addr: string;
  if (parts.length === 4 && parts.every((p) => /^\d+$/.test(p))) addr = parts.join('.');
  else {
    const i = parts.indexOf('zz');
    addr = i < 0 ? parts.join(':') : `${parts.slice(0, i).join(':')}::${parts.slice(i + 1).join(':')}`;
  }
  const c = normalizeAddressEntry(`${addr}/${len}`);
  return 'cidr' in c ? c.cidr : undefined;
}
