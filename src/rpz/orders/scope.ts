/**
 * Whom an order applies to (issue 17): `applies_to` and `except` in an order
 * file name client networks, as sets defined once in the config
 * (`orders.networks`) or as literal prefixes.
 *
 * How scope is enforced, and why this way (docs/ORDERS-SCOPE.md):
 * RPZ's own client trigger (rpz-client-ip, which Verdict supports) says "for
 * this client, apply this action to every name"; a zone's triggers are ORed,
 * never ANDed, so no standard RPZ zone can say "block this name for these
 * clients only". Instead the client address space is cut into *scope classes*:
 * every prefix any order names, plus "outside all of them". Clients whose
 * longest matching prefix is the same are in exactly the same scopes (a
 * listed prefix either contains that prefix, is disjoint from it, or is more
 * specific and so is another class), so one class = one set of orders. Each
 * class gets its own compiled order zone (a standard RPZ zone), and a query
 * does one CIDR lookup for its class and then one name lookup in that class's
 * zone: never a second policy lookup. Classes with the same orders share one
 * zone. Without scoped orders there is one class and nothing changes.
 */
import { ipToBytes } from '../../resolver/acl.js';
import { CidrTrie, compareAddresses } from '../cidrtrie.js';
import type { Prefix } from '../cidrtrie.js';
import type { Order, OrderScope } from './schema.js';

/** `orders.networks`: set name -> prefixes. */
export type NetworkSets = Readonly<Record<string, readonly string[]>>;

export function parsePrefix(text: string): Prefix | { error: string } {
  const [addr, len, more] = text.trim().split('/');
  if (more !== undefined) return { error: `${JSON.stringify(text)} is not a prefix` };
  const bytes = addr ? ipToBytes(addr) : undefined;
  if (!bytes) return { error: `${JSON.stringify(text)} is neither a network set (orders.networks) nor an IP address or prefix` };
  const max = bytes.length * 8;
  const bits = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return { error: `${JSON.stringify(text)}: prefix length out of range 0..${max}` };
  for (let i = 0; i < bytes.length * 8; i++) {
    if (i >= bits && (bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0) {
      return { error: `${JSON.stringify(text)}: address bits set beyond the prefix length (write the network address)` };
    }
  }
  return { bytes, len: bits };
}

export function prefixText(p: Prefix): string {
  if (p.bytes.length === 4) return `${[...p.bytes].join('.')}/${p.len}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((p.bytes[i]! << 8) | p.bytes[i + 1]!).toString(16));
  // The longest run of zero groups becomes '::' (RFC 5952 4.2.3).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  const text = best < 0 ? g.join(':') : `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
  return `${text}/${p.len}`;
}

/** Does `outer` contain `inner` (same family, shorter or equal length, same leading bits)? */
export function prefixContains(outer: Prefix, inner: { bytes: Uint8Array; len?: number }): boolean {
  if (outer.bytes.length !== inner.bytes.length) return false;
  if (inner.len !== undefined && inner.len < outer.len) return false;
  const full = outer.len >> 3;
  for (let i = 0; i < full; i++) if (outer.bytes[i] !== inner.bytes[i]) return false;
  const rem = outer.len & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (outer.bytes[full]! & mask) === (inner.bytes[full]! & mask);
}

/** Check and resolve one network set from the config; returns its prefixes or the problems. */
export function resolveNetworkSets(sets: NetworkSets): { prefixes: Map<string, Prefix[]>; errors: string[] } {
  const prefixes = new Map<string, Prefix[]>();
  const errors: string[] = [];
  for (const [name, list] of Object.entries(sets)) {
    const out: Prefix[] = [];
    list.forEach((t, i) => {
      const p = parsePrefix(t);
      if ('error' in p) errors.push(`orders.networks.${name}[${i}]: ${p.error}`);
      else out.push(p);
    });
    prefixes.set(name, out);
  }
  return { prefixes, errors };
}

/**
 * `applies_to` / `except` as written -> an OrderScope, or a problem per item
 * (index, message). A name is looked up in `sets` first, then read as a prefix.
 */
export function resolveScope(
  appliesTo: readonly string[] | undefined,
  except: readonly string[],
  sets: NetworkSets,
): { scope?: OrderScope; errors: { key: 'applies_to' | 'except'; index: number; message: string }[] } {
  const errors: { key: 'applies_to' | 'except'; index: number; message: string }[] = [];
  if (appliesTo === undefined && except.length === 0) return { errors };
  const resolveList = (key: 'applies_to' | 'except', list: readonly string[]): Prefix[] => {
    const out: Prefix[] = [];
    list.forEach((item, index) => {
      const set = Object.prototype.hasOwnProperty.call(sets, item) ? sets[item] : undefined;
      if (set) {
        for (const t of set) {
          const p = parsePrefix(t);
          if (!('error' in p)) out.push(p); // a bad prefix in the config is the config's error
        }
        return;
      }
      const p = parsePrefix(item);
      if ('error' in p) {
        const known = Object.keys(sets);
        const hint = /^[0-9a-fA-F:.]+(\/\d+)?$/.test(item) ? '' : ` (orders.networks defines: ${known.length ? known.join(', ') : 'none'})`;
        errors.push({ key, index, message: `${p.error}${hint}` });
      } else {
        out.push(p);
      }
    });
    return out;
  };
  const include = appliesTo === undefined ? undefined : resolveList('applies_to', appliesTo);
  const exclude = resolveList('except', except);
  return { scope: { appliesTo: appliesTo ?? [], except, ...(include ? { include } : {}), exclude }, errors };
}

/**
 * The clients both scopes reach: a regulator request with an `applies_to` of its own narrows its
 * order's scope, never widens it (a request derives its authority from the order). Two prefixes
 * meet in the longer one when one holds the other, else not at all; the exceptions add up.
 */
export function narrowScope(parent: OrderScope | undefined, own: OrderScope | undefined): OrderScope | undefined {
  if (!own) return parent;
  if (!parent) return own;
  let include: Prefix[] | undefined;
  if (parent.include === undefined) include = own.include ? [...own.include] : undefined;
  else if (own.include === undefined) include = [...parent.include];
  else {
    include = [];
    for (const a of parent.include) {
      for (const b of own.include) {
        if (a.bytes.length !== b.bytes.length) continue;
        if (prefixContains(a, b)) include.push(b);
        else if (prefixContains(b, a)) include.push(a);
      }
    }
  }
  return {
    appliesTo: own.include ? own.appliesTo : parent.appliesTo,
    except: [...parent.except, ...own.except],
    ...(include ? { include } : {}),
    exclude: [...parent.exclude, ...own.exclude],
  };
}

/** Does the order apply to a client at `addr` (4 or 16 bytes)? An unscoped order applies to all. */
export function appliesToClient(order: Pick<Order, 'scope'>, addr: Uint8Array | undefined): boolean {
  const s = order.scope;
  if (!s) return true;
  if (!addr) return s.include === undefined; // no address known: only orders for every client
  if (s.include && !s.include.some((p) => prefixContains(p, { bytes: addr }))) return false;
  return !s.exclude.some((p) => prefixContains(p, { bytes: addr }));
}

/** Why an order applies to a client or not, for `verdict orders explain --client`. */
export function scopeReason(order: Pick<Order, 'scope'>, address: string, addr: Uint8Array): string {
  const s = order.scope;
  if (!s) return 'applies to every client';
  const hit = (list: readonly Prefix[]) => list.find((p) => prefixContains(p, { bytes: addr }));
  const ex = hit(s.exclude);
  if (s.include) {
    const inc = hit(s.include);
    if (!inc) return `does not apply to ${address}: outside applies_to [${s.appliesTo.join(', ')}]`;
    if (ex) return `does not apply to ${address}: in applies_to (${prefixText(inc)}) but excepted (${prefixText(ex)}, except [${s.except.join(', ')}])`;
    return `applies to ${address}: in ${prefixText(inc)} (applies_to [${s.appliesTo.join(', ')}])`;
  }
  if (ex) return `does not apply to ${address}: excepted (${prefixText(ex)}, except [${s.except.join(', ')}])`;
  return `applies to ${address}: not in except [${s.except.join(', ')}]`;
}

/** One scope class: the clients whose longest listed prefix is the same, and the orders they get. */
export interface ScopeClass {
  /** Index (0: clients outside every listed prefix). */
  index: number;
  /** Ids of the orders that apply to the class, in input order. */
  orders: string[];
  /** The listed prefixes whose clients fall in this class (empty for class 0's default region). */
  prefixes: string[];
}

/**
 * The client address space cut into classes by every prefix the orders name
 * (see the file comment). `classOf` is the only per-query work: one
 * longest-prefix match. Classes are deduplicated by their set of orders.
 */
export class ScopePartition {
  private constructor(private readonly trie: CidrTrie | undefined, readonly classes: readonly ScopeClass[]) {}

  /** True when some order is scoped (else every client is class 0 and `classOf` is never needed). */
  get scoped(): boolean {
    return this.trie !== undefined;
  }

  classOf(addr: Uint8Array): number {
    return this.trie?.match(addr)?.value ?? 0;
  }

  classOfAddress(address: string): number {
    const b = ipToBytes(address);
    return b ? this.classOf(b) : 0;
  }

  static build(orders: readonly Pick<Order, 'id' | 'scope'>[]): ScopePartition {
    const listed = new Map<string, Prefix>();
    for (const o of orders) {
      if (!o.scope) continue;
      for (const p of [...(o.scope.include ?? []), ...o.scope.exclude]) listed.set(prefixText(p), p);
    }
    const memberOf = (region: Prefix | undefined) => orders.filter((o) => {
      const s = o.scope;
      if (!s) return true;
      if (!region) return s.include === undefined; // outside every listed prefix: no except applies either
      if (s.include && !s.include.some((p) => prefixContains(p, region))) return false;
      return !s.exclude.some((p) => prefixContains(p, region));
    }).map((o) => o.id);
    const classes: ScopeClass[] = [{ index: 0, orders: memberOf(undefined), prefixes: [] }];
    if (listed.size === 0) return new ScopePartition(undefined, classes);
    const byOrders = new Map<string, ScopeClass>([[classes[0]!.orders.join('\n'), classes[0]!]]);
    const trie = new CidrTrie();
    const sorted = [...listed.values()].sort((a, b) => a.bytes.length - b.bytes.length || compareAddresses(a.bytes, b.bytes) || a.len - b.len);
    for (const p of sorted) {
      const ids = memberOf(p);
      const key = ids.join('\n');
      let c = byOrders.get(key);
      if (!c) {
        c = { index: classes.length, orders: ids, prefixes: [] };
        classes.push(c);
        byOrders.set(key, c);
      }
      c.prefixes.push(prefixText(p));
      trie.insert(p, c.index);
    }
    return new ScopePartition(trie.compact(), classes);
  }
}
