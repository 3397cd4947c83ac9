/**
 * The policy set: the ordered policy zones (first = highest precedence),
 * immutable, swapped whole on reload.
 *
 * Which rule rewrites an answer, as BIND 9 chooses (ARM "Response Policy Zone
 * (RPZ) Rewriting"):
 *   1. the triggered rule in the zone listed first;
 *   2. within a zone, CLIENT-IP before QNAME before IP before NSDNAME before NSIP;
 *   3. among NSDNAME triggers, the one matching the LARGEST name in DNSSEC order: the ARM
 *      says the smallest, but named 9.18 picks the largest whatever the NS order
 *      (test/fixtures/rpz-diff cases nsdname-smallest-name, nsdname-two-other-order);
 *      BIND is the reference for behaviour, so we follow what it does;
 *   4. among IP or NSIP triggers, the longest prefix, then the smallest address.
 * An exact QNAME/NSDNAME trigger beats a wildcard, and the closest wildcard a
 * farther one. A CNAME chain is checked name by name, as BIND does on each
 * restart: the first name with a hit is rewritten, the chain before it kept.
 * PASSTHRU is a hit that rewrites nothing (later zones are not consulted);
 * hits in disabled or log-only zones are reported and the search goes on.
 */
import { Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { compareNames, Name, namesEqual, nameToText } from '../dns/name.js';
import { ipToBytes } from '../resolver/acl.js';
import { compareAddresses } from './cidrtrie.js';
import { NameProbe } from './nametrie.js';
import type { RpzZoneConfig } from '../config/schema.js';
import { loadPolicyZone } from './zone.js';
import type { Action, PolicyRule, PolicyZone, PolicyZoneOptions, TriggerType } from './zone.js';

export interface PolicyHit {
  zone: PolicyZone;
  /** Index of the zone in the set (0 = highest precedence). */
  zoneIndex: number;
  rule: PolicyRule;
  /** The action that applies: the zone's `policy` override, else the rule's. */
  action: Action;
  /** The name the hit rewrites: the query name or a later name of its CNAME chain. */
  name: Name;
  /** Its index in the chain (0 = the query name). */
  nameIndex: number;
  /** What triggered it, in presentation form: the name, address or NS name. */
  matched: string;
  /** The zone is disabled or log-only: report the hit, change nothing. */
  logOnly: boolean;
}

export interface PolicyOutcome {
  /** The hit that decides the answer (PASSTHRU included), if any. */
  hit?: PolicyHit;
  /** Hits in disabled / log-only zones met before the deciding one (or none). */
  logged: PolicyHit[];
}

export interface Delegations {
  nsNames: Name[];
  nsAddresses: string[];
}

export interface AfterInput {
  /** Client address (for client-ip triggers when `firstNameChecked` is false). */
  client?: string;
  /** The chain's names, the query name first (`Resolved.names`). */
  names: readonly Name[];
  /** The chain and the final RRset (`Resolved.answers`). */
  answers: readonly Record[];
  /** NS names and addresses of the delegations above a name (rpz-nsdname, rpz-nsip). */
  delegations?: (name: Name) => Delegations;
  /** A client-ip/QNAME hit on the query name found before recursion, kept waiting for it (qname-wait-recurse). */
  pending?: PolicyHit;
  /** `before()` already checked (and reported) client-ip and QNAME triggers for the query name. */
  firstNameChecked?: boolean;
  /** The client's scope class, when the caller has it (`clientClass`); else computed from `client`. */
  scopeClass?: number;
}

/**
 * A zone that depends on who asks (court orders with `applies_to`,
 * src/rpz/orders/scope.ts): one zone per client scope class, chosen by one
 * longest-prefix match on the client address, so a query still does one name
 * lookup per zone slot.
 */
export interface ScopedSlot {
  /** Index in the set's zones of the slot that varies. */
  index: number;
  /** The class of a client address (4 or 16 bytes); 0 for clients outside every scope. */
  classOf(addr: Uint8Array): number;
  /** The slot's zone for each class; `[0]` is the one given in `zones`. */
  byClass: readonly PolicyZone[];
}

/** Client addresses whose scope class is remembered (then forgotten all at once). */
const CLASS_MEMO_MAX = 65_536;

const NONE: PolicyOutcome = Object.freeze({ logged: Object.freeze([]) as unknown as PolicyHit[] });

export class PolicySet {
  static readonly EMPTY = new PolicySet([]);

  readonly zones: readonly PolicyZone[];
  /** Some zone holds rpz-ip, rpz-nsdname or rpz-nsip triggers. */
  readonly hasPostTriggers: boolean;
  /** postBefore[i]: a zone before index i holds such triggers. */
  private readonly postBefore: boolean[];
  private readonly anyClientIp: boolean;
  private readonly anyQname: boolean;
  private readonly anyNs: boolean;
  private readonly probe = new NameProbe();
  /** Per scope class, the zones a client of that class sees (absent: no scoped slot). */
  private readonly classZones?: readonly (readonly PolicyZone[])[];
  private readonly classOf?: (addr: Uint8Array) => number;
  private readonly classMemo = new Map<string, number>();

  constructor(zones: readonly PolicyZone[], scoped?: ScopedSlot) {
    this.zones = Object.freeze([...zones]);
    let every: readonly PolicyZone[] = this.zones;
    if (scoped && scoped.byClass.length > 1) {
      this.classZones = scoped.byClass.map((z) => {
        const list = [...this.zones];
        list[scoped.index] = z;
        return Object.freeze(list);
      });
      this.classOf = scoped.classOf;
      every = [...this.zones, ...scoped.byClass];
    }
    this.postBefore = [];
    let seen = false;
    for (let i = 0; i < this.zones.length; i++) {
      this.postBefore.push(seen);
      seen ||= this.zones[i]!.hasPostTriggers || (this.classZones?.some((c) => c[i]!.hasPostTriggers) ?? false);
    }
    this.postBefore.push(seen);
    this.hasPostTriggers = seen;
    this.anyClientIp = every.some((z) => z.hasClientIp);
    this.anyQname = every.some((z) => z.hasQname);
    this.anyNs = every.some((z) => z.hasNsdname || z.hasNsip);
  }

  /** Some zone depends on the client's scope class. */
  get scoped(): boolean {
    return this.classZones !== undefined;
  }

  /** The client's scope class: 0 when nothing is scoped or the address is unknown. */
  clientClass(client: string | undefined): number {
    if (!this.classOf || !client) return 0;
    // Clients come back: remember their class rather than parse the address text per query
    // (parsing cost about 1 us a query; bounded, and dropped with the set at each swap).
    let c = this.classMemo.get(client);
    if (c === undefined) {
      const b = ipToBytes(client);
      c = b ? this.classOf(b) : 0;
      if (this.classMemo.size >= CLASS_MEMO_MAX) this.classMemo.clear();
      this.classMemo.set(client, c);
    }
    return c;
  }

  /** The zones a client of class `cls` sees, in precedence order. */
  zonesFor(cls: number): readonly PolicyZone[] {
    return this.classZones?.[cls] ?? this.zones;
  }

  get isEmpty(): boolean {
    return this.zones.length === 0;
  }

  /**
   * Whether a zone before index `i` holds IP, NSDNAME or NSIP triggers: then a
   * client-ip/QNAME hit in zone `i` may still lose to them after recursion
   * (BIND's qname-wait-recurse reasoning).
   */
  postTriggersBefore(i: number): boolean {
    return this.postBefore[Math.min(i, this.postBefore.length - 1)]!;
  }

  /**
   * Before recursion: client-ip, then QNAME, zone by zone, in the zones of
   * the client's scope class (`cls`, computed from `client` when not given).
   */
  before(client: string | undefined, qname: Name, cls?: number): PolicyOutcome {
    if (this.zones.length === 0) return NONE;
    const zones = this.classZones ? this.zonesFor(cls ?? this.clientClass(client)) : this.zones;
    const addr = this.anyClientIp && client ? ipToBytes(client) : undefined;
    const probe = this.probe;
    const named = this.anyQname && probe.prepare(qname);
    let logged: PolicyHit[] | undefined;
    for (let i = 0; i < zones.length; i++) {
      const z = zones[i]!;
      let rule: PolicyRule | undefined;
      let matched = '';
      if (addr && z.hasClientIp) {
        rule = z.matchAddress('client-ip', addr);
        if (rule) matched = client!;
      }
      if (!rule && named && z.hasQname) {
        rule = z.matchQname(probe);
        if (rule) matched = nameToText(qname);
      }
      if (!rule) continue;
      const hit = this.hit(z, i, rule, qname, 0, matched);
      if (hit.logOnly) {
        (logged ??= []).push(hit);
        continue;
      }
      return { hit, logged: logged ?? [] };
    }
    return logged ? { logged } : NONE;
  }

  /**
   * After recursion: for each name of the chain in order, the zones in order,
   * each trigger type in precedence order. With `pending`, the query name's
   * zones after the pending hit's are not consulted (it wins there).
   */
  after(input: AfterInput): PolicyOutcome {
    if (this.zones.length === 0) return NONE;
    const { names, answers, pending } = input;
    const zones = this.classZones ? this.zonesFor(input.scopeClass ?? this.clientClass(input.client)) : this.zones;
    let logged: PolicyHit[] | undefined;
    const addr = this.anyClientIp && input.client && !input.firstNameChecked ? ipToBytes(input.client) : undefined;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const preChecked = k === 0 && (input.firstNameChecked === true || pending !== undefined);
      const named = !preChecked && this.anyQname && this.probe.prepare(name);
      const addresses = this.hasPostTriggers ? answerAddresses(answers, name) : [];
      let ns: Delegations | undefined;
      let nsProbes: NameProbe[] | undefined;
      for (let i = 0; i < zones.length; i++) {
        if (k === 0 && pending && i === pending.zoneIndex) return { hit: pending, logged: logged ?? [] };
        const z = zones[i]!;
        let rule: PolicyRule | undefined;
        let matched = '';
        if (!preChecked) {
          if (k === 0 && addr && z.hasClientIp) {
            rule = z.matchAddress('client-ip', addr);
            if (rule) matched = input.client!;
          }
          if (!rule && named && z.hasQname) {
            rule = z.matchQname(this.probe);
            if (rule) matched = nameToText(name);
          }
        }
        if (!rule && z.hasIp && addresses.length) [rule, matched] = bestAddress(z, 'ip', addresses);
        if (!rule && (z.hasNsdname || z.hasNsip) && input.delegations && this.anyNs) {
          ns ??= input.delegations(name);
          if (z.hasNsdname && ns.nsNames.length) {
            nsProbes ??= ns.nsNames.map((n) => {
              const p = new NameProbe();
              return p.prepare(n) ? p : undefined;
            }).filter((p): p is NameProbe => p !== undefined);
            let best: Name | undefined;
            for (let j = 0; j < nsProbes.length; j++) {
              const r = z.matchNsdname(nsProbes[j]!);
              if (!r) continue;
              const nsName = nsProbes[j]!.suffix(0);
              if (!best || compareNames(nsName, best) > 0) {
                rule = r;
                best = nsName;
              }
            }
            if (best) matched = nameToText(best);
          }
          if (!rule && z.hasNsip && ns.nsAddresses.length) {
            [rule, matched] = bestAddress(z, 'nsip', ns.nsAddresses.map(parseAddress).filter((a): a is ParsedAddress => a !== undefined));
          }
        }
        if (!rule) continue;
        const hit = this.hit(z, i, rule, name, k, matched);
        if (hit.logOnly) {
          (logged ??= []).push(hit);
          continue;
        }
        return { hit, logged: logged ?? [] };
      }
    }
    return logged ? { logged } : NONE;
  }

  private hit(z: PolicyZone, zoneIndex: number, rule: PolicyRule, name: Name, nameIndex: number, matched: string): PolicyHit {
    return { zone: z, zoneIndex, rule, action: z.effectiveAction(rule), name, nameIndex, matched, logOnly: z.logOnly };
  }
}

interface ParsedAddress {
  text: string;
  bytes: Uint8Array;
}

function parseAddress(text: string): ParsedAddress | undefined {
  const bytes = ipToBytes(text);
  return bytes ? { text, bytes } : undefined;
}

/** A and AAAA addresses of the answer's RRset owned by `name` (only those reach the client). */
function answerAddresses(answers: readonly Record[], name: Name): ParsedAddress[] {
  const out: ParsedAddress[] = [];
  for (const r of answers) {
    if (r.type === Type.A && r.rdata.length === 4 && namesEqual(r.name, name)) {
      out.push({ text: `${r.rdata[0]}.${r.rdata[1]}.${r.rdata[2]}.${r.rdata[3]}`, bytes: Uint8Array.from(r.rdata) });
    } else if (r.type === Type.AAAA && r.rdata.length === 16 && namesEqual(r.name, name)) {
      const g: string[] = [];
      for (let i = 0; i < 16; i += 2) g.push(r.rdata.readUInt16BE(i).toString(16));
      out.push({ text: g.join(':'), bytes: Uint8Array.from(r.rdata) });
    }
  }
  return out;
}

/** Longest prefix, then the smallest address (BIND ARM precedence rules 4 and 5). */
function bestAddress(z: PolicyZone, kind: 'ip' | 'nsip', addresses: readonly ParsedAddress[]): [PolicyRule | undefined, string] {
  let best: PolicyRule | undefined;
  let bestAddr: ParsedAddress | undefined;
  for (const a of addresses) {
    const r = z.matchAddress(kind, a.bytes);
    if (!r) continue;
    const better = !best || r.prefix!.len > best.prefix!.len ||
      (r.prefix!.len === best.prefix!.len && compareAddresses(a.bytes, bestAddr!.bytes) < 0);
    if (better) {
      best = r;
      bestAddr = a;
    }
  }
  return [best, bestAddr?.text ?? ''];
}

/** Presentation of a hit for logs and metrics (`ctx.notes.rpz`). */
export interface HitNote {
  zone: string;
  trigger: TriggerType;
  rule: string;
  action: string;
  logOnly: boolean;
  /** The name rewritten (query name or a CNAME target). */
  name: string;
  matched: string;
}

export function hitNote(h: PolicyHit): HitNote {
  return {
    zone: h.zone.label,
    trigger: h.rule.trigger,
    rule: h.zone.ruleText(h.rule),
    action: h.action.kind === 'cname' ? `cname ${h.action.wildcard ? '*.' : ''}${nameToText(h.action.target)}` : h.action.kind,
    logOnly: h.logOnly,
    name: nameToText(h.name),
    matched: h.matched,
  };
}

/**
 * The set the config describes: `rpz.zones` in order. Zones with a `file` are
 * loaded here; the others (the court-order zone, zones pulled from a primary)
 * come from `provided`, by zone name; a zone neither loaded nor provided is
 * left out (say, a secondary not transferred yet).
 */
export async function policySetFromConfig(
  rpz: { zones: readonly RpzZoneConfig[] },
  baseDir: string,
  provided: (z: RpzZoneConfig) => PolicyZone | undefined = () => undefined,
  explain: (z: RpzZoneConfig) => PolicyZoneOptions['explain'] | undefined = () => undefined,
): Promise<PolicySet> {
  const zones: PolicyZone[] = [];
  for (const z of rpz.zones) {
    const ex = explain(z);
    const zone = z.file ? await loadPolicyZone({ ...z, file: z.file }, baseDir, ex ? { explain: ex } : {}) : provided(z);
    if (zone) zones.push(zone);
  }
  return new PolicySet(zones);
}
