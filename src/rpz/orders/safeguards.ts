/**
 * Safeguards for what arrives automatically (regulator requests, feeds): an
 * automated entry is enforced only once it has passed
 * - the protected list (`orders.protected`: a name covers its subdomains):
 *   an entry on it, or one whose block would cover a protected name (an entry
 *   `google.com` covers `drive.usercontent.google.com`), is held until a
 *   person confirms it;
 * - the impact check on the resolver's own last 24 hours (traffic.ts):
 *   queries and distinct clients above `orders.safeguards.max_queries` /
 *   `max_clients`, or more than `max_shared_names` other names resolving to
 *   the entry's addresses (shared hosting, CDN front ends), hold it too.
 * An entry is judged once, when it is first seen in force; the verdict
 * sticks (an enforced entry does not flap back to held as its blocked traffic
 * grows). Held entries are enforced or dropped by `confirm` / `reject`, which
 * record who and when; decisions live in a JSON file (written atomically) so
 * a restart keeps them. Entries that leave their request or feed are
 * forgotten, except decisions a person took.
 *
 * An order loaded by a person from a judgment is enforced as written; its
 * protected-list hits are only reported (`protectedHits`).
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomically } from '../../atomic-file.js';
import { isAutomated } from './schema.js';
import type { Order } from './schema.js';
import { orderState } from './state.js';
import type { TrafficStats } from './traffic.js';

export interface SafeguardLimits {
  maxQueries: number;
  maxClients: number;
  maxSharedNames: number;
}

/** What the check found for one entry (a name, or an address entry in CIDR form). */
export interface Impact {
  entry: string;
  kind: 'name' | 'address';
  /** Queries over the last 24 h for the name and (when covered) its subdomains. */
  queries: number;
  /** Distinct clients over the last 24 h: an estimate, counted, never listed. */
  clients: number;
  /** Addresses the name was seen resolving to. */
  addresses: string[];
  /** How many other names resolve to those addresses (or into the address entry). */
  sharedNames: number;
  /** Up to 10 of them, for the person deciding. */
  sharedExamples: string[];
  /** The protected name the entry hits, if any. */
  protectedBy?: string;
  /** Why it would be held (empty: it passes). */
  reasons: string[];
}

export type DecisionStatus = 'held' | 'confirmed' | 'rejected' | 'admitted';

export interface Decision {
  order: string;
  entry: string;
  status: DecisionStatus;
  /** When the entry was first judged, ISO. */
  since: string;
  /** Why it was held (kept after a confirmation or rejection). */
  reason?: string;
  impact?: Impact;
  by?: string;
  at?: string;
}

export class SafeguardError extends Error {
  readonly code = 'VERDICT_ERR_SAFEGUARD';
}

/** `name` under (or equal to) one of `protectedNames`: the protected name; or a protected name under `name`, when the entry covers subdomains. */
export function protectedHit(name: string, protectedNames: readonly string[], subdomains: boolean): string | undefined {
  for (const p of protectedNames) {
    if (name === p || name.endsWith(`.${p}`)) return p;
    if (subdomains && p.endsWith(`.${name}`)) return p;
  }
  return undefined;
}

/** The protected list as canonical names (lowercase, no final dot). */
export function canonicalProtected(list: readonly string[]): string[] {
  return list.map((p) => p.toLowerCase().replace(/\.$/, '')).filter(Boolean);
}

/** Judge one entry against the protected list and the traffic; `reasons` empty means it passes. */
export function assess(entry: string, kind: Impact['kind'], subdomains: boolean, protectedNames: readonly string[], limits: SafeguardLimits, traffic?: TrafficStats): Impact {
  const reasons: string[] = [];
  const impact: Impact = { entry, kind, queries: 0, clients: 0, addresses: [], sharedNames: 0, sharedExamples: [], reasons };
  if (kind === 'name') {
    const p = protectedHit(entry, protectedNames, subdomains);
    if (p) {
      impact.protectedBy = p;
      reasons.push(p === entry ? `${entry} is on the protected list` : `${entry} ${entry.endsWith(`.${p}`) ? 'is under' : 'covers'} the protected name ${p}`);
    }
  }
  if (traffic) {
    if (kind === 'name') {
      const t = traffic.traffic(entry);
      impact.queries = t.queries;
      impact.clients = t.clients;
      const shared = traffic.sharedWith(entry, subdomains);
      impact.addresses = shared.addresses;
      impact.sharedNames = shared.names.length;
      impact.sharedExamples = shared.names.slice(0, 10);
    } else {
      const names = traffic.namesAt(entry);
      impact.sharedNames = names.length;
      impact.sharedExamples = names.slice(0, 10);
      for (const n of names.slice(0, 100)) {
        const t = traffic.traffic(n);
        impact.queries += t.queries;
        impact.clients = Math.max(impact.clients, t.clients);
      }
      if (kind === 'address') {
        const p = names.map((n) => protectedHit(n, protectedNames, false)).find(Boolean);
        if (p) {
          impact.protectedBy = p;
          reasons.push(`${entry} serves the protected name ${p}`);
        }
      }
    }
    if (impact.queries > limits.maxQueries) reasons.push(`${impact.queries} queries in 24 h (more than ${limits.maxQueries})`);
    if (impact.clients > limits.maxClients) reasons.push(`about ${impact.clients} distinct clients in 24 h (more than ${limits.maxClients})`);
    if (impact.sharedNames > limits.maxSharedNames) {
      reasons.push(`${impact.sharedNames} other names share its addresses (more than ${limits.maxSharedNames}; shared hosting or CDN): ${impact.sharedExamples.slice(0, 3).join(', ')}${impact.sharedNames > 3 ? ', ...' : ''}`);
    }
  }
  return impact;
}

const key = (order: string, entry: string) => `${order}\u0000${entry}`;

export interface SafeguardEvents {
  held?(d: Decision): void;
  confirmed?(d: Decision): void;
  rejected?(d: Decision): void;
}

/** Held entries and decisions, judged and persisted. */
export class Safeguards {
  private decisions = new Map<string, Decision>();

  constructor(private readonly opts: {
    file?: string;
    protectedNames: readonly string[];
    limits: SafeguardLimits;
    traffic?: TrafficStats;
    events?: SafeguardEvents;
  }) {
    if (opts.file) this.load(opts.file);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new SafeguardError(`${file}: cannot read the held entries: ${(e as Error).message}`);
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new SafeguardError(`${file}: not JSON (${(e as Error).message}); fix or remove it`);
    }
    const list = (v as { decisions?: unknown })?.decisions;
    if (!Array.isArray(list)) throw new SafeguardError(`${file}: expected { "decisions": [...] }`);
    for (const d of list as Decision[]) {
      if (typeof d?.order !== 'string' || typeof d.entry !== 'string' || !['held', 'confirmed', 'rejected', 'admitted'].includes(d.status)) continue;
      this.decisions.set(key(d.order, d.entry), d);
    }
  }

  private save(): void {
    const file = this.opts.file;
    if (!file) return;
    writeFileAtomically(file, JSON.stringify({ format: 'verdict-held-entries', decisions: [...this.decisions.values()] }, null, 1) + '\n', { mkdir: true });
  }

  /**
   * The orders as they are to be compiled at `now`: automated entries in
   * force keep only the names and addresses confirmed or admitted. New
   * entries are judged here (held ones reported through `events.held`).
   */
  apply(orders: readonly Order[], now: Date): Order[] {
    const present = new Set<string>();
    let changed = false;
    const out = orders.map((o) => {
      if (!isAutomated(o) || orderState(o, now).state !== 'active') return o;
      const keep = (entry: string, kind: Impact['kind']): boolean => {
        const k = key(o.id, entry);
        present.add(k);
        const d = this.decisions.get(k);
        if (d) return d.status === 'confirmed' || d.status === 'admitted';
        const impact = assess(entry, kind, o.includeSubdomains, this.opts.protectedNames, this.opts.limits, this.opts.traffic);
        const held = impact.reasons.length > 0;
        const nd: Decision = { order: o.id, entry, status: held ? 'held' : 'admitted', since: now.toISOString(), ...(held ? { reason: impact.reasons.join('; '), impact } : {}) };
        this.decisions.set(k, nd);
        changed = true;
        if (held) this.opts.events?.held?.(nd);
        return !held;
      };
      const names = o.names.filter((n) => keep(n, 'name'));
      const addresses = (o.addresses ?? []).filter((a) => keep(a, 'address'));
      return names.length === o.names.length && addresses.length === (o.addresses ?? []).length ? o : { ...o, names, addresses };
    });
    // Forget machine verdicts on entries no longer in force (re-judged if they come back); keep people's decisions.
    for (const [k, d] of this.decisions) {
      if (present.has(k) || d.status === 'confirmed' || d.status === 'rejected') continue;
      const o = orders.find((x) => x.id === d.order);
      if (o && orderState(o, now).state !== 'active' && (o.names.includes(d.entry) || o.addresses?.includes(d.entry))) continue;
      this.decisions.delete(k);
      changed = true;
    }
    if (changed) this.save();
    return out;
  }

  held(): Decision[] {
    return [...this.decisions.values()].filter((d) => d.status === 'held');
  }

  all(): Decision[] {
    return [...this.decisions.values()];
  }

  /** A person's decision on a held entry: `confirmed` enforces it, `rejected` never will. */
  decide(order: string, entry: string, status: 'confirmed' | 'rejected', by: string, now: Date): Decision {
    if (!by.trim()) throw new SafeguardError('say who decides: --by WHO');
    const e = entry.toLowerCase().replace(/\.$/, '');
    const d = this.decisions.get(key(order, e));
    if (!d) throw new SafeguardError(`no entry ${e} of ${order} is known (see \`verdict orders held\`)`);
    if (d.status !== 'held') throw new SafeguardError(`${e} of ${order} is not held (it is ${d.status}${d.by ? ` by ${d.by} at ${d.at}` : ''})`);
    const nd: Decision = { ...d, status, by: by.trim(), at: now.toISOString() };
    this.decisions.set(key(order, e), nd);
    this.save();
    if (status === 'confirmed') this.opts.events?.confirmed?.(nd);
    else this.opts.events?.rejected?.(nd);
    return nd;
  }
}
