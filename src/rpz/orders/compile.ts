/**
 * Orders -> one standard RPZ zone (court-orders.rpz), loadable by Verdict and
 * by any RPZ resolver that pulls it over AXFR (BIND, Unbound, PowerDNS, Knot).
 *
 * Decisions, and why:
 *
 * 1. Only orders *active* at `now` are compiled. RPZ has no notion of dates,
 *    so a zone holding pending or expired rules would be enforced by every
 *    consumer regardless of the calendar. Instead the caller recompiles at each
 *    `nextTransition` (state.ts); the serial goes up and NOTIFY/IXFR carry the
 *    change, so secondaries follow the dates too.
 *
 * 2. A rule owner holds exactly one CNAME, alone: `CNAME .` (NXDOMAIN),
 *    `CNAME *.` (NODATA), `CNAME host.` (redirect). No TXT beside it: a CNAME
 *    excludes all other data at its owner (RFC 1034 3.6.2, RFC 2181 10.1), for
 *    the RPZ action CNAMEs and for a CNAME redirect alike, and named-checkzone
 *    rejects the zone ("CNAME and other data"). Where the order's reference
 *    goes instead:
 *    - always in the Extended DNS Error (RFC 8914, 16 Censored) that Verdict
 *      adds to every blocked answer; `rules` maps each owner to its orders and
 *      `edeText()` formats them;
 *    - for redirect orders, when the notice host's addresses are given
 *      (`noticeAddresses`), the redirect is compiled as RPZ local data instead
 *      of a CNAME: A/AAAA records of the notice host plus one TXT record per
 *      order at the same owner. That is standard RPZ local data (the RPZ draft,
 *      BIND's ARM), so a TXT query for a blocked name returns the order, from
 *      Verdict and from any consumer of the zone;
 *    - as a comment above each rule in the zone file (comments do not travel
 *      over AXFR; they serve people reading the compiled file).
 *
 * 3. When orders overlap on one name (the same name, or a name under another
 *    order's subdomains), there is one rule, and it names every order: refs
 *    are sorted by decision date, earliest first, then id; the earliest
 *    decision's action applies (it came first; any of the actions complies
 *    with every order since each blocks the name); the TXT RRset holds one
 *    record per order and the EDE text lists them earliest first. A more
 *    specific exact rule wins over a wildcard in RPZ, so exact owners list
 *    the orders covering them through a parent's subdomains as well.
 *
 * 4. Serial: YYYYMMDDnn from `now` (UTC), strictly increasing on every change
 *    of content: serial = max(previous + 1, YYYYMMDD00), and unchanged when
 *    the content hash equals the previous one. The previous serial and hash
 *    come from `previous` (in memory) or `stateFile` (JSON, survives restarts).
 *    Without either, two different compiles on one day would share a serial.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomically } from '../../atomic-file.js';
import { isIP } from 'node:net';
import { nameFromText, nameKey, NameError } from '../../dns/name.js';
import { orderLabel } from './schema.js';
import type { Order, OrderAction } from './schema.js';
import { orderState } from './state.js';
import { rpzIpOwner } from './request.js';

export const DEFAULT_ORDERS_ZONE = 'court-orders.rpz';

/** One order behind a rule. */
export interface OrderRef {
  id: string;
  court: string;
  decisionDate: string;
  reference?: string;
  example: boolean;
  file: string;
  /** The name the order lists that produces this rule. */
  listed: string;
  /** `name`: the order lists the rule's name; `subdomains`: it lists a parent with include_subdomains; `address`: an address entry. */
  via: 'name' | 'subdomains' | 'address';
  /** A regulator request or feed entry (issue 16): its kind and the court order it derives from. */
  kind?: 'regulator-request' | 'feed';
  parent?: { id: string; court: string; decisionDate: string; reference?: string; example: boolean };
}

/** What an order contributes to a ref: its identity and, for a derived entry, its parent's. */
function refOf(o: Order, listed: string, via: OrderRef['via']): OrderRef {
  const p = o.parentOrder;
  return {
    id: o.id, court: o.court, decisionDate: o.decisionDate,
    ...(o.reference !== undefined ? { reference: o.reference } : {}),
    example: o.example, file: o.file, listed, via,
    ...(p ? {
      kind: o.kind === 'feed' ? 'feed' as const : 'regulator-request' as const,
      parent: { id: p.id, court: p.court, decisionDate: p.decisionDate, ...(p.reference !== undefined ? { reference: p.reference } : {}), example: p.example },
    } : {}),
  };
}

export interface CompiledRule {
  /** Owner relative to the zone: `dpstream.tv` or `*.dpstream.tv`. */
  owner: string;
  /** The order whose listing put this owner in the zone (it may not be the earliest ref). */
  listedBy: string;
  /** `ruleKey(owner, zone)`: nameKey of the absolute owner, the key of `rules`. */
  key: string;
  wildcard: boolean;
  /** The action applied: the earliest decision's (see decision 3). */
  action: OrderAction;
  /** Earliest decision first. */
  refs: OrderRef[];
}

export interface SerialState {
  serial: number;
  sha256: string;
}

export interface CompileOptions {
  /** Default court-orders.rpz. */
  zone?: string;
  /** The injected clock: which orders are active, and the serial's date. */
  now: Date;
  /** Force this serial (otherwise see decision 4). */
  serial?: number;
  /** The last compile's serial and hash, kept in memory by the caller. */
  previous?: SerialState;
  /** JSON file holding the last serial and hash; read when `previous` is absent, written on change. */
  stateFile?: string;
  /** Replaces the host of every redirect action (the ISP's own notice page). */
  noticeHost?: string;
  /** Addresses of the notice host: redirects become local data A/AAAA + TXT (decision 2). */
  noticeAddresses?: string[];
  /** TTL of rules and of negative answers (SOA minimum); default 60 s. */
  ttl?: number;
}

export interface CompiledZone {
  text: string;
  serial: number;
  /** Hash of the content except the serial and the generation time. */
  sha256: string;
  /** False when the content equals `previous` (same serial). */
  changed: boolean;
  /** Rule owner key (`ruleKey`) -> orders behind it, earliest decision first. */
  rules: Map<string, OrderRef[]>;
  entries: CompiledRule[];
  /** Ids of the orders compiled (active at `now`). */
  orders: string[];
  /** Rules left out, with the reason (a name too long once the zone is appended). */
  problems: string[];
}

export class OrderCompileError extends Error {
  readonly code = 'VERDICT_ERR_ORDERS_COMPILE';
}

function canonicalZone(zone: string): string {
  const z = zone.toLowerCase().replace(/\.$/, '');
  try {
    nameFromText(`${z}.`);
  } catch (e) {
    throw new OrderCompileError(`zone ${JSON.stringify(zone)}: ${(e as Error).message}`);
  }
  return z;
}

/** Key of a rule owner (relative to `zone`) in `CompiledZone.rules`: nameKey of the absolute name. */
export function ruleKey(owner: string, zone: string = DEFAULT_ORDERS_ZONE): string {
  return nameKey(nameFromText(`${owner}.${canonicalZone(zone)}.`));
}

function byDecision(a: { decisionDate: string; id: string }, b: { decisionDate: string; id: string }): number {
  return a.decisionDate < b.decisionDate ? -1 : a.decisionDate > b.decisionDate ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function ancestors(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1)) out.push(name.slice(i + 1));
  return out;
}

/**
 * The rules for the orders active at `now`, in emission order (orders by
 * decision date, names as listed). Shared by the compiler and `explainName`.
 */
export function computeRules(orders: readonly Order[], now: Date, opts: { zone?: string; noticeHost?: string } = {}): CompiledRule[] {
  const zone = canonicalZone(opts.zone ?? DEFAULT_ORDERS_ZONE);
  const active = orders.filter((o) => orderState(o, now).state === 'active').sort(byDecision);
  const exact = new Map<string, Order[]>();
  const subtree = new Map<string, Order[]>();
  const push = (m: Map<string, Order[]>, k: string, o: Order) => {
    const l = m.get(k);
    if (l) l.push(o);
    else m.set(k, [o]);
  };
  const owners: { owner: string; by: string }[] = [];
  const seen = new Set<string>();
  for (const o of active) {
    for (const n of o.names) {
      push(exact, n, o);
      if (o.includeSubdomains) push(subtree, n, o);
      for (const owner of o.includeSubdomains ? [n, `*.${n}`] : [n]) {
        if (!seen.has(owner)) {
          seen.add(owner);
          owners.push({ owner, by: o.id });
        }
      }
    }
  }
  const rules: CompiledRule[] = [];
  for (const { owner, by } of owners) {
    const wildcard = owner.startsWith('*.');
    const base = wildcard ? owner.slice(2) : owner;
    const found = new Map<string, { order: Order; ref: OrderRef }>();
    const take = (o: Order, listed: string, via: OrderRef['via']) => {
      if (found.has(o.id)) return; // the most specific listing of an order is the one reported
      found.set(o.id, { order: o, ref: refOf(o, listed, via) });
    };
    for (const o of (wildcard ? subtree : exact).get(base) ?? []) take(o, base, wildcard ? 'subdomains' : 'name');
    for (const a of ancestors(base)) for (const o of subtree.get(a) ?? []) take(o, a, 'subdomains');
    const sorted = [...found.values()].sort((x, y) => byDecision(x.order, y.order));
    let action = sorted[0]!.order.action;
    if (action.type === 'redirect' && opts.noticeHost) action = { type: 'redirect', host: opts.noticeHost.toLowerCase().replace(/\.$/, '') };
    let key: string;
    try {
      key = ruleKey(owner, zone);
    } catch (e) {
      if (e instanceof NameError) key = '';
      else throw e;
    }
    rules.push({ owner, listedBy: by, key, wildcard, action, refs: sorted.map((s) => s.ref) });
  }
  return rules;
}

/**
 * Address entries (issue 16) -> rpz-ip rules, one per distinct prefix, in
 * the order of the orders' decisions. An answer holding such an address is
 * rewritten (RPZ response-IP trigger).
 */
export function computeAddressRules(orders: readonly Order[], now: Date, opts: { zone?: string; noticeHost?: string } = {}): CompiledRule[] {
  const zone = canonicalZone(opts.zone ?? DEFAULT_ORDERS_ZONE);
  const active = orders.filter((o) => o.addresses?.length && orderState(o, now).state === 'active').sort(byDecision);
  const byOwner = new Map<string, CompiledRule>();
  for (const o of active) {
    for (const cidr of o.addresses!) {
      const owner = rpzIpOwner(cidr);
      const r = byOwner.get(owner);
      if (r) {
        if (!r.refs.some((x) => x.id === o.id)) r.refs.push(refOf(o, cidr, 'address'));
        continue;
      }
      const action = o.action.type === 'redirect' && opts.noticeHost ? { type: 'redirect' as const, host: opts.noticeHost } : o.action;
      byOwner.set(owner, { owner, listedBy: o.id, key: ruleKey(owner, zone), wildcard: false, action, refs: [refOf(o, cidr, 'address')] });
    }
  }
  return [...byOwner.values()];
}

/** EDE EXTRA-TEXT for a rule: every order, earliest decision first; a derived entry names its chain. */
export function edeText(refs: readonly OrderRef[]): string {
  if (!refs.some((r) => r.parent)) return `blocked by court order: ${refs.map((r) => orderLabel(r)).join('; ')}`;
  return `blocked by ${refs.map((r) => (r.parent
    ? `${r.kind === 'feed' ? 'feed' : 'regulator request'} ${orderLabel(r)} under court order ${orderLabel(r.parent)}`
    : `court order ${orderLabel(r)}`)).join('; ')}`;
}

/** A TXT character-string in presentation form: printable ASCII as is, the rest as \DDD. */
function quoted(bytes: Buffer): string {
  let s = '"';
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) s += '\\' + String.fromCharCode(b);
    else if (b < 0x20 || b > 0x7e) s += '\\' + String(b).padStart(3, '0');
    else s += String.fromCharCode(b);
  }
  return s + '"';
}

/** TXT RDATA naming one order: key=value strings, each split at 255 bytes (RFC 1035 3.3.14). */
export function txtForOrder(ref: OrderRef): string {
  const fields = [`order=${ref.id}`, `court=${ref.court}`, `decision=${ref.decisionDate}`];
  if (ref.reference) fields.push(`reference=${ref.reference}`);
  if (ref.example) fields.push('example=not a real decision');
  if (ref.parent) fields.push(`${ref.kind === 'feed' ? 'feed' : 'request'}-under=${ref.parent.id}`);
  const parts: string[] = [];
  for (const f of fields) {
    const bytes = Buffer.from(f, 'utf8');
    for (let i = 0; i < bytes.length; i += 255) parts.push(quoted(bytes.subarray(i, i + 255)));
  }
  return parts.join(' ');
}

function dnsSafe(text: string): string {
  // Comments end at the line's end; keep them on one line.
  return text.replace(/[\r\n]+/g, ' ');
}

/** max(previous + 1, YYYYMMDD00), modulo 2^32 (RFC 1982 serial arithmetic). */
export function nextSerial(now: Date, previous?: number): number {
  const dated = Number(now.toISOString().slice(0, 10).replace(/-/g, '')) * 100;
  if (previous === undefined) return dated;
  const bumped = (previous + 1) % 2 ** 32;
  return bumped > dated ? bumped : dated;
}

function readState(path: string): SerialState | undefined {
  if (!existsSync(path)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new OrderCompileError(`${path}: cannot read the serial state: ${(e as Error).message}`);
  }
  const s = v as Partial<SerialState>;
  if (typeof s?.serial !== 'number' || !Number.isInteger(s.serial) || typeof s.sha256 !== 'string') {
    // A lost serial could go backwards and secondaries would ignore every change: refuse, loudly.
    throw new OrderCompileError(`${path}: serial state is not { "serial": N, "sha256": "..." }; fix or remove it`);
  }
  return { serial: s.serial, sha256: s.sha256 };
}

function writeState(path: string, zone: string, state: SerialState): void {
  writeFileAtomically(path, JSON.stringify({ zone, ...state }) + '\n');
}

export function compileOrdersZone(orders: readonly Order[], options: CompileOptions): CompiledZone {
  const zone = canonicalZone(options.zone ?? DEFAULT_ORDERS_ZONE);
  const ttl = options.ttl ?? 60;
  const { now } = options;
  const addresses = options.noticeAddresses ?? [];
  for (const a of addresses) if (isIP(a) === 0) throw new OrderCompileError(`noticeAddresses: ${JSON.stringify(a)} is not an IP address`);
  const noticeHost = options.noticeHost
    ? options.noticeHost.toLowerCase().replace(/\.$/, '')
    : undefined;
  const entries = [...computeRules(orders, now, { zone, ...(noticeHost ? { noticeHost } : {}) }), ...computeAddressRules(orders, now, { zone, ...(noticeHost ? { noticeHost } : {}) })];
  const byId = new Map(orders.map((o) => [o.id, o]));
  const problems: string[] = [];
  const rules = new Map<string, OrderRef[]>();
  const compiled: string[] = [];
  const body: string[] = [];
  let currentHeader = '';
  for (const r of entries) {
    if (r.key === '') {
      problems.push(`${r.owner}.${zone}: name too long for the zone; rule left out (orders ${r.refs.map((x) => x.id).join(', ')})`);
      continue;
    }
    const first = byId.get(r.listedBy)!;
    if (currentHeader !== first.id) {
      currentHeader = first.id;
      if (!compiled.includes(first.id)) compiled.push(first.id);
      body.push('', dnsSafe(`; ${orderLabel(first)}: ${first.file}`), dnsSafe(`; in force ${first.effectiveDate} to ${first.lastDay} (${first.timezone})${first.amends ? `, amends ${first.amends}` : ''}`));
    }
    for (const ref of r.refs) if (!compiled.includes(ref.id)) compiled.push(ref.id);
    if (r.refs.length > 1 || r.refs[0]!.id !== first.id) body.push(dnsSafe(`; ${r.owner}: ${r.refs.map((x) => x.id).join(', ')} (earliest decision's action)`));
    rules.set(r.key, r.refs);
    const a = r.action;
    if (a.type === 'nxdomain') body.push(`${r.owner} CNAME .`);
    else if (a.type === 'nodata') body.push(`${r.owner} CNAME *.`);
    else if (addresses.length === 0) body.push(`${r.owner} CNAME ${a.host}.`);
    else {
      for (const ip of addresses) body.push(`${r.owner} ${isIP(ip) === 6 ? 'AAAA' : 'A'} ${ip}`);
      for (const ref of r.refs) body.push(`${r.owner} TXT ${txtForOrder(ref)}`);
    }
  }
  const soaTail = `300 60 604800 ${ttl}`; // refresh retry expire minimum: short, secondaries should follow dates
  const content = [`$ORIGIN ${zone}.`, `$TTL ${ttl}`, `@ SOA localhost. hostmaster.${zone}. SERIAL ${soaTail}`, '@ NS localhost.', ...body].join('\n');
  const sha256 = createHash('sha256').update(content).digest('hex');

  const previous = options.previous ?? (options.stateFile ? readState(options.stateFile) : undefined);
  const changed = !previous || previous.sha256 !== sha256;
  const serial = options.serial ?? (changed ? nextSerial(now, previous?.serial) : previous!.serial);
  if (options.stateFile && (changed || options.serial !== undefined || !existsSync(options.stateFile))) {
    writeState(options.stateFile, zone, { serial, sha256 });
  }

  const header = [
    `; ${zone}: court orders compiled by Verdict. Do not edit; regenerate with \`verdict orders compile\`.`,
    `; Orders in force at ${now.toISOString()}: ${compiled.length ? compiled.join(', ') : 'none'}.`,
    '; Only orders active at that instant are here; Verdict recompiles (new serial) whenever an order',
    '; changes state. The order behind each rule is in the comments, in the EDE of each blocked answer,',
    '; and, for redirects compiled as local data, in a TXT record at the rule.',
  ];
  const text = [...header, content.replace('SERIAL', String(serial)), ''].join('\n');
  return { text, serial, sha256, changed, rules, entries: entries.filter((e) => e.key !== ''), orders: compiled, problems };
}
