/**
 * One response policy zone: its rules, classified by trigger, immutable once
 * built (BIND ARM "Response Policy Zone (RPZ) Rewriting"; draft-vixie-dnsop-dns-rpz).
 *
 * A `PolicyZoneBuilder` is fed records one at a time, so a master file, a zone
 * transfer and the court-order compiler all build zones the same way. Owners
 * are classified relative to the apex by the label just above it:
 *
 *   *.rpz-client-ip   client address prefix   32.1.0.0.127.rpz-client-ip
 *   *.rpz-ip          address in the answer   24.0.2.0.192.rpz-ip
 *   *.rpz-nsdname     name server name        ns.example.net.rpz-nsdname
 *   *.rpz-nsip        name server address     32.53.2.0.192.rpz-nsip
 *   anything else     the query name          example.com, *.example.com
 *
 * and the records there give the action: CNAME `.` NXDOMAIN, CNAME `*.`
 * NODATA, CNAME `rpz-passthru.` (or, the old way, a CNAME to the trigger name
 * itself) PASSTHRU, CNAME `rpz-drop.` DROP, CNAME `rpz-tcp-only.` TCP-ONLY,
 * CNAME `*.suffix.` a redirect to QNAME.suffix, any other CNAME a redirect, and
 * any other records local data. The apex SOA and NS are not rules.
 *
 * Storage is columnar (typed arrays indexed by rule number) so a million
 * rules cost tens of bytes each; a `PolicyRule` object exists only for a hit.
 */
import { Class, Ede, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { labelCount, Name, nameFromText, nameKey, namesEqual, nameToText, parentName, ROOT } from '../dns/name.js';
import type { RpzZoneConfig } from '../config/schema.js';
import { resolve } from 'node:path';
import { parseZoneFile } from './masterfile.js';
import type { ZoneRecord, ZoneSyntaxError } from './masterfile.js';
import { CidrError, CidrTrie, parseRpzPrefix, prefixToRpz, prefixToText } from './cidrtrie.js';
import type { Prefix } from './cidrtrie.js';
import { Growable } from './growable.js';
import { NameTrie } from './nametrie.js';
import type { NameProbe } from './nametrie.js';

export type TriggerType = 'client-ip' | 'qname' | 'ip' | 'nsdname' | 'nsip';

/** Records of a local-data rule, without their owner (it is the name being answered). */
export interface LocalRecord {
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
}

export type Action =
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'nodata' }
  | { readonly kind: 'passthru' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'tcp-only' }
  /** `wildcard`: the target was `*.suffix`, the answer is QNAME.suffix. */
  | { readonly kind: 'cname'; readonly target: Name; readonly wildcard: boolean }
  | { readonly kind: 'local-data'; readonly records: readonly LocalRecord[] };

export type ActionKind = Action['kind'];

const NXDOMAIN: Action = Object.freeze({ kind: 'nxdomain' });
const NODATA: Action = Object.freeze({ kind: 'nodata' });
const PASSTHRU: Action = Object.freeze({ kind: 'passthru' });
const DROP: Action = Object.freeze({ kind: 'drop' });
const TCP_ONLY: Action = Object.freeze({ kind: 'tcp-only' });

/** The zone-wide `policy` option (BIND's names). */
export type PolicyOverride = 'given' | 'disabled' | 'passthru' | 'nxdomain' | 'nodata' | 'drop' | 'tcp-only' | { cname: Name };

export interface PolicyZoneOptions {
  policy?: PolicyOverride;
  /** Cap on the TTL of rewritten records (undefined: the set-wide default). */
  maxPolicyTtl?: number;
  /** Count and log what the zone would do, change no answer; later zones still apply. */
  logOnly?: boolean;
  /** Skip and count bad rules (with file:line) instead of rejecting the zone. */
  lenient?: boolean;
  /** The EDE for a hit on a rule, by the owner's `nameKey` (court orders: 16 Censored + the order). */
  explain?: (ownerKey: string) => { code: number; text: string } | undefined;
}

export class PolicyZoneError extends Error {
  readonly code = 'VERDICT_ERR_RPZ_RULE';
  override readonly name = 'PolicyZoneError';
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

export interface SkippedRule {
  file: string;
  line: number;
  reason: string;
}

export interface RuleCounts {
  clientIp: number;
  qname: number;
  ip: number;
  nsdname: number;
  nsip: number;
  /** Bad rules skipped (lenient), including unreadable lines the parser skipped. */
  skipped: number;
}

/** A rule that matched, materialised for the hit only. */
export interface PolicyRule {
  trigger: TriggerType;
  /** Absolute owner in the policy zone, e.g. `*.example.com.rpz.` */
  owner: Name;
  /** `nameKey(owner)`, the key `explain()` and court orders use. */
  ownerKey: string;
  wildcard: boolean;
  /** IP triggers: the prefix. */
  prefix?: Prefix;
  /** The action the zone data encodes (before the zone's `policy` override). */
  given: Action;
  /** TTL of the rule's records. */
  ttl: number;
}

/** Parse the config form of the override: `given`, …, `cname NAME`. */
export function parsePolicyOverride(text: string): PolicyOverride {
  const t = text.trim();
  const m = /^cname\s+(\S+)$/i.exec(t);
  if (m) return { cname: nameFromText(m[1]!.endsWith('.') ? m[1]! : m[1]! + '.') };
  switch (t.toLowerCase()) {
    case 'given': case 'disabled': case 'passthru': case 'nxdomain': case 'nodata': case 'drop': case 'tcp-only':
      return t.toLowerCase() as PolicyOverride;
  }
  throw new Error(`unknown RPZ policy ${JSON.stringify(text)}`);
}

export function zoneOptionsFromConfig(z: RpzZoneConfig, extra: Pick<PolicyZoneOptions, 'explain'> = {}): PolicyZoneOptions {
  return {
    policy: parsePolicyOverride(z.policy),
    ...(z.max_policy_ttl !== undefined ? { maxPolicyTtl: z.max_policy_ttl } : {}),
    logOnly: z.log_only,
    lenient: z.lenient,
    ...extra,
  };
}

// Action codes in the columns.
const A_NXDOMAIN = 0;
const A_NODATA = 1;
const A_PASSTHRU = 2;
const A_DROP = 3;
const A_TCP_ONLY = 4;
const A_CNAME = 5;
const A_WILDCNAME = 6;
const A_LOCAL = 7;

const FIXED: Action[] = [NXDOMAIN, NODATA, PASSTHRU, DROP, TCP_ONLY];

const RPZ_PASSTHRU = nameFromText('rpz-passthru.');
const RPZ_DROP = nameFromText('rpz-drop.');
const RPZ_TCP_ONLY = nameFromText('rpz-tcp-only.');

const TYPE_LABELS = new Map<string, TriggerType>([
  ['rpz-client-ip', 'client-ip'], ['rpz-ip', 'ip'], ['rpz-nsdname', 'nsdname'], ['rpz-nsip', 'nsip'],
]);
const TYPE_LABEL_OF: { [t in TriggerType]: string } = { 'client-ip': 'rpz-client-ip', qname: '', ip: 'rpz-ip', nsdname: 'rpz-nsdname', nsip: 'rpz-nsip' };

const LOWER = new Uint8Array(256);
for (let i = 0; i < 256; i++) LOWER[i] = i >= 0x41 && i <= 0x5a ? i + 0x20 : i;

/** Label starts of the owner being classified (a name has at most 127 labels). */
const LABEL_STARTS = new Int32Array(130);
/** The trigger name being inserted, absolute. */
const TRIGGER_SCRATCH = new Uint8Array(256);

/** `a[ai, ai + n)` equals `b[bi, bi + n)`, ASCII case-insensitively. */
function sameBytes(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (LOWER[a[ai + k]!] !== LOWER[b[bi + k]!]) return false;
  return true;
}

const TYPE_LABEL_BYTES: [Uint8Array, TriggerType][] = [...TYPE_LABELS].map(([text, t]) => [Buffer.from(text, 'latin1'), t]);

/**
 * The trigger type the label at `name[at]` names (`rpz-ip`, …, in any case),
 * else `qname`. Only ASCII letters fold: no other latin1 byte lowercases to
 * ASCII, so this agrees with `toLowerCase()` of the label's text.
 */
function triggerOfLabel(name: Uint8Array, at: number): TriggerType {
  const len = name[at]!;
  if (len < 6 || (name[at + 1] !== 0x72 && name[at + 1] !== 0x52)) return 'qname';
  for (const [bytes, t] of TYPE_LABEL_BYTES) {
    if (bytes.length === len && sameBytes(name, at + 1, bytes, 0, len)) return t;
  }
  return 'qname';
}

/**
 * The rule columns while rules are added: action, TTL and data index per
 * rule, in growable arrays (growable.ts says why not plain ones). Each column
 * is kept in the form it freezes into, so that freezing is a copy: TTLs as an
 * index into the zone's distinct TTLs while there are at most 256 of them,
 * data indexes + 1 (0: none); and each notes whether its values vary.
 */
class ColumnBuilder {
  size = 0;
  private readonly actions = new Growable(Uint8Array, 1024);
  /** Data index + 1; 0 for none. */
  private readonly datas = new Growable(Uint32Array, 1024);
  /** TTLs as indexes into `ttlValues`, until a 257th TTL; then `rawTtls`. */
  private ttlIndexes: Growable<Uint8Array> | undefined = new Growable(Uint8Array, 1024);
  private rawTtls: Growable<Uint32Array> | undefined;
  private readonly ttlValues: number[] = [];
  private readonly ttlIndex = new Map<number, number>();
  private lastTtl = -1;
  private lastTtlIndex = 0;
  /** The first rule's values, and whether another rule's differ (a column of one value freezes into that value). */
  private firstAction = 0;
  private firstTtl = 0;
  private firstData = 0;
  private actionsVary = false;
  private ttlsVary = false;
  private datasVary = false;

  push(action: number, ttl: number, data: number): number {
    const id = this.size++;
    if (id === this.actions.a.length) {
      // All columns have the same length, so one test covers them.
      this.actions.reserve(this.size);
      this.datas.reserve(this.size);
      this.ttlIndexes?.reserve(this.size);
      this.rawTtls?.reserve(this.size);
    }
    const d = data + 1;
    this.actions.a[id] = action;
    this.datas.a[id] = d;
    if (id === 0) {
      this.firstAction = action;
      this.firstTtl = ttl;
      this.firstData = d;
    } else {
      if (action !== this.firstAction) this.actionsVary = true;
      if (ttl !== this.firstTtl) this.ttlsVary = true;
      if (d !== this.firstData) this.datasVary = true;
    }
    if (this.rawTtls) {
      this.rawTtls.a[id] = ttl;
      return id;
    }
    if (ttl !== this.lastTtl) {
      let i = this.ttlIndex.get(ttl);
      if (i === undefined) {
        if (this.ttlValues.length === 256) {
          this.widenTtls(id);
          this.rawTtls!.a[id] = ttl;
          return id;
        }
        i = this.ttlValues.push(ttl) - 1;
        this.ttlIndex.set(ttl, i);
      }
      this.lastTtl = ttl;
      this.lastTtlIndex = i;
    }
    this.ttlIndexes!.a[id] = this.lastTtlIndex;
    return id;
  }

  /** A 257th distinct TTL: from now on the column holds the TTLs themselves. */
  private widenTtls(n: number): void {
    const raw = new Growable(Uint32Array, this.actions.a.length);
    const index = this.ttlIndexes!.a;
    for (let i = 0; i < n; i++) raw.a[i] = this.ttlValues[index[i]!]!;
    this.ttlIndexes!.release();
    this.ttlIndexes = undefined;
    this.rawTtls = raw;
  }

  action(id: number): number {
    return this.actions.a[id]!;
  }

  data(id: number): number {
    return this.datas.a[id]! - 1;
  }

  /**
   * The frozen columns, each as narrow as its values allow, and a single
   * value when every rule has the same: feeds give most rules one action,
   * one TTL and no data (`CNAME .`), so a million such rules take nothing
   * here instead of 9 MB.
   */
  freeze(dataCount: number): Columns {
    const n = this.size;
    const ttlValues = this.rawTtls ? undefined : Uint32Array.from(this.ttlValues);
    const cols = new Columns(
      this.actionsVary ? narrowColumn(this.actions.a, n, 0xff) : new Column(undefined, this.firstAction),
      this.ttlsVary
        ? this.rawTtls ? narrowColumn(this.rawTtls.a, n, 0xffffffff) : narrowColumn(this.ttlIndexes!.a, n, 0xff)
        : new Column(undefined, ttlValues ? 0 : this.firstTtl),
      ttlValues,
      this.datasVary ? narrowColumn(this.datas.a, n, dataCount) : new Column(undefined, this.firstData),
    );
    this.actions.release();
    this.datas.release();
    this.ttlIndexes?.release();
    this.rawTtls?.release();
    return cols;
  }
}

/** A frozen column: a value per rule, or one value for all. */
class Column {
  constructor(private readonly values: Uint8Array | Uint16Array | Uint32Array | undefined, private readonly constant: number) {}

  get(id: number): number {
    return this.values ? this.values[id]! : this.constant;
  }

  get byteLength(): number {
    return this.values?.byteLength ?? 0;
  }
}

/** `values[0, n)` copied into the narrowest array that holds `max`. */
function narrowColumn(values: Uint8Array | Uint32Array, n: number, max: number): Column {
  const out = max <= 0xff ? new Uint8Array(n) : max <= 0xffff ? new Uint16Array(n) : new Uint32Array(n);
  out.set(values.subarray(0, n));
  return new Column(out, 0);
}

/** The frozen rule columns: action, TTL and data index per rule. */
class Columns {
  constructor(
    private readonly actions: Column,
    /** The TTL, or with `ttlValues` its index there. */
    private readonly ttls: Column,
    private readonly ttlValues: Uint32Array | undefined,
    /** Index in the zone's data list + 1; 0 for none. */
    private readonly datas: Column,
  ) {}

  action(id: number): number {
    return this.actions.get(id);
  }

  ttl(id: number): number {
    const t = this.ttls.get(id);
    return this.ttlValues ? this.ttlValues[t]! : t;
  }

  data(id: number): number {
    return this.datas.get(id) - 1;
  }

  get byteSize(): number {
    return this.actions.byteLength + this.ttls.byteLength + (this.ttlValues?.byteLength ?? 0) + this.datas.byteLength;
  }
}

/** Feeds records into a zone; `build()` freezes it. */
export class PolicyZoneBuilder {
  private readonly cols = new ColumnBuilder();
  /** Made by the first step of `buildAsync()`, or by `build()`. */
  private frozenCols: Columns | undefined;
  /** Redirect targets (deduplicated: feeds redirect many names to one page) and local data. */
  private readonly data: (Name | LocalRecord[])[] = [];
  private readonly targetIndex = new Map<string, number>();
  private readonly qname = new NameTrie();
  private readonly nsdname = new NameTrie();
  private readonly clientIp = new CidrTrie();
  private readonly ip = new CidrTrie();
  private readonly nsip = new CidrTrie();
  private readonly apexLabels: number;
  private soa?: Record;
  private readonly skipped: SkippedRule[] = [];
  private readonly counts: RuleCounts = { clientIp: 0, qname: 0, ip: 0, nsdname: 0, nsip: 0, skipped: 0 };
  private built = false;
  readonly apex: Name;

  constructor(apex: Name | string, private readonly options: PolicyZoneOptions = {}) {
    this.apex = typeof apex === 'string' ? nameFromText(apex.endsWith('.') ? apex : apex + '.') : apex;
    this.apexLabels = labelCount(this.apex);
  }

  /** Record a line the master-file parser skipped (lenient loads). */
  noteSkipped(e: ZoneSyntaxError): void {
    this.skipped.push({ file: e.file, line: e.line, reason: e.reason });
    this.counts.skipped++;
  }

  /** Add one record. Throws PolicyZoneError for a bad rule unless the zone is lenient. */
  add(rr: Record & Partial<Pick<ZoneRecord, 'file' | 'line'>>): void {
    if (this.built) throw new Error('PolicyZoneBuilder: add after build');
    try {
      this.classify(rr);
    } catch (e) {
      const reason = e instanceof CidrError || e instanceof RuleError ? e.message : e instanceof RangeError ? `bad name: ${e.message}` : undefined;
      if (reason === undefined) throw e;
      const file = rr.file ?? '<records>';
      const line = rr.line ?? 0;
      const full = `${nameToText(rr.name)}: ${reason}`;
      if (!this.options.lenient) throw new PolicyZoneError(file, line, full);
      this.skipped.push({ file, line, reason: full });
      this.counts.skipped++;
    }
  }

  /**
   * Works on the owner's wire bytes by offset: no label views, strings or
   * concatenated names per record (a million-rule load would allocate
   * millions of them); the trigger name is copied once into a scratch buffer
   * for the name table.
   */
  private classify(rr: Record): void {
    const name = rr.name;
    const apex = this.apex;
    // Label starts of the owner, in one pass.
    const starts = LABEL_STARTS;
    let n = 0;
    let i = 0;
    for (; i < name.length && name[i] !== 0; i += name[i]! + 1) starts[n++] = i;
    starts[n] = i;
    const rel = n - this.apexLabels;
    // The owner must end with the apex, at a label boundary (isSubdomain).
    if (rel < 0 || name.length - starts[rel]! !== apex.length || !sameBytes(name, starts[rel]!, apex, 0, apex.length)) {
      throw new RuleError(`owner is outside the policy zone ${nameToText(apex)}`);
    }
    if (rr.class !== Class.IN) throw new RuleError('class is not IN');
    if (rel === 0) {
      // The apex SOA and NS make it a zone; they are not rules (nor is anything else there).
      if (rr.type === Type.SOA) this.soa = rr;
      return;
    }
    if (rr.type === Type.SOA) throw new RuleError('SOA below the apex');
    const trigger = triggerOfLabel(name, starts[rel - 1]!);
    // The trigger's labels are name[0, end): the owner minus the zone (and minus the type label).
    const end = trigger === 'qname' ? starts[rel]! : starts[rel - 1]!;
    if (end === 0) throw new RuleError(`${TYPE_LABEL_OF[trigger]} with no trigger before it`);
    const wildcard = name[0] === 1 && name[1] === 0x2a;

    const data = this.action(rr, name, end);
    const code = this.actionCode;
    if (trigger === 'qname' || trigger === 'nsdname') {
      const trie = trigger === 'qname' ? this.qname : this.nsdname;
      // The trigger name, absolute; a wildcard's base without its `*` label.
      const from = wildcard ? starts[1]! : 0;
      const len = end - from;
      const t = TRIGGER_SCRATCH;
      for (let k = 0; k < len; k++) t[k] = name[from + k]!;
      t[len] = 0;
      const id = this.cols.size;
      const got = trie.insert(t, wildcard, id, len + 1);
      if (got === id) {
        this.cols.push(code, rr.ttl, data);
        this.counts[trigger === 'qname' ? 'qname' : 'nsdname']++;
      } else {
        this.merge(got, rr, code, data);
      }
      return;
    }
    if (wildcard) throw new RuleError(`wildcard ${TYPE_LABEL_OF[trigger]} triggers do not exist`);
    const parts: string[] = [];
    for (let l = 0; starts[l]! < end; l++) parts.push(name.toString('latin1', starts[l]! + 1, starts[l + 1]!));
    const prefix = parseRpzPrefix(parts);
    const trie = trigger === 'client-ip' ? this.clientIp : trigger === 'ip' ? this.ip : this.nsip;
    const id = this.cols.size;
    const got = trie.insert(prefix, id);
    if (got === id) {
      this.cols.push(code, rr.ttl, data);
      this.counts[trigger === 'client-ip' ? 'clientIp' : trigger]++;
    } else {
      this.merge(got, rr, code, data);
    }
  }

  /** A second record at an owner: more local data, or a conflict. */
  private merge(id: number, rr: Record, code: number, data: number): void {
    if (this.cols.action(id) === A_LOCAL && code === A_LOCAL) {
      const list = this.data[this.cols.data(id)] as LocalRecord[];
      const more = (this.data[data] as LocalRecord[])[0]!;
      this.data.pop(); // `data` was the last one pushed
      // The same RR twice is one RR (RFC 2181 5): kept once, as a zone load would.
      if (!list.some((r) => r.type === more.type && r.rdata.equals(more.rdata))) list.push(more);
      return;
    }
    if (code !== A_LOCAL && this.cols.action(id) === code && this.cols.data(id) === data) return; // the same CNAME again
    throw new RuleError(rr.type === Type.CNAME ? 'CNAME and other data (or a second CNAME) at one owner' : 'CNAME and other data at one owner');
  }

  /** Action code of the record `action()` last read. */
  private actionCode = A_NXDOMAIN;

  /**
   * The data index of a record (-1 for none); its action code goes to
   * `actionCode`. `self` is the trigger name: `owner[0, selfEnd)` and the root.
   */
  private action(rr: Record, owner: Name, selfEnd: number): number {
    if (rr.type !== Type.CNAME) {
      this.data.push([{ type: rr.type, class: rr.class, ttl: rr.ttl, rdata: rr.rdata }]);
      this.actionCode = A_LOCAL;
      return this.data.length - 1;
    }
    const t = rr.rdata;
    this.actionCode = A_NXDOMAIN;
    if (t.length === 1) return -1;
    this.actionCode = A_NODATA;
    if (t.length === 3 && t[0] === 1 && t[1] === 0x2a && t[2] === 0) return -1;
    this.actionCode = A_PASSTHRU;
    if (namesEqual(t, RPZ_PASSTHRU) || (t.length === selfEnd + 1 && t[selfEnd] === 0 && sameBytes(t, 0, owner, 0, selfEnd))) return -1;
    this.actionCode = A_DROP;
    if (namesEqual(t, RPZ_DROP)) return -1;
    this.actionCode = A_TCP_ONLY;
    if (namesEqual(t, RPZ_TCP_ONLY)) return -1;
    const wild = t[0] === 1 && t[1] === 0x2a;
    const target = wild ? Buffer.from(parentName(t)) : t;
    const k = nameKey(target);
    let idx = this.targetIndex.get(k);
    if (idx === undefined) {
      this.data.push(target);
      idx = this.data.length - 1;
      this.targetIndex.set(k, idx);
    }
    // Merging relies on local data being the last pushed; a CNAME pushes nothing new when deduplicated.
    this.actionCode = wild ? A_WILDCNAME : A_CNAME;
    return idx;
  }

  /**
   * `build()` with a turn of the event loop between its steps (copies of a few
   * to a dozen milliseconds each on a million rules), for a load beside a
   * serving resolver: done in one go it stalled the server for 30-40 ms.
   */
  async buildAsync(): Promise<PolicyZone> {
    this.built = true;
    const steps = [
      () => this.freezeColumns(), ...this.qname.freezeSteps(),
      () => this.nsdname.freeze(), () => this.clientIp.compact(), () => this.ip.compact(), () => this.nsip.compact(),
    ];
    for (const step of steps) {
      step();
      await new Promise<void>((r) => setImmediate(r));
    }
    return this.build();
  }

  build(): PolicyZone {
    this.built = true;
    return new PolicyZone(this.apex, this.options, {
      cols: this.freezeColumns(), ruleCount: this.cols.size, data: this.data,
      qname: this.qname.freeze(), nsdname: this.nsdname.freeze(),
      clientIp: this.clientIp.compact(), ip: this.ip.compact(), nsip: this.nsip.compact(),
      soa: this.soa, counts: { ...this.counts }, skipped: this.skipped,
    });
  }

  private freezeColumns(): Columns {
    return (this.frozenCols ??= this.cols.freeze(this.data.length));
  }
}

class RuleError extends Error {}

interface ZoneParts {
  cols: Columns;
  ruleCount: number;
  data: (Name | LocalRecord[])[];
  qname: NameTrie;
  nsdname: NameTrie;
  clientIp: CidrTrie;
  ip: CidrTrie;
  nsip: CidrTrie;
  soa: Record | undefined;
  counts: RuleCounts;
  skipped: SkippedRule[];
}

/** An immutable policy zone. Build it with `PolicyZoneBuilder`. */
export class PolicyZone {
  /** Presentation name without the final dot, as in logs and config. */
  readonly label: string;
  readonly soa: Record | undefined;
  readonly counts: Readonly<RuleCounts>;
  readonly skipped: readonly SkippedRule[];
  readonly policy: PolicyOverride;
  readonly maxPolicyTtl: number | undefined;
  /** Disabled or log-only: hits are counted and logged, answers unchanged, later zones still apply. */
  readonly logOnly: boolean;
  /** Holds rpz-ip, rpz-nsdname or rpz-nsip triggers, which need the resolution's results. */
  readonly hasPostTriggers: boolean;
  private readonly p: ZoneParts;
  private readonly overrideAction: Action | undefined;

  constructor(readonly name: Name, private readonly options: PolicyZoneOptions, parts: ZoneParts) {
    this.p = parts;
    this.label = nameToText(name).replace(/\.$/, '') || '.';
    this.soa = parts.soa;
    this.counts = Object.freeze(parts.counts);
    this.skipped = Object.freeze(parts.skipped);
    this.policy = options.policy ?? 'given';
    this.maxPolicyTtl = options.maxPolicyTtl;
    this.logOnly = options.logOnly === true || this.policy === 'disabled';
    this.hasPostTriggers = parts.ip.size + parts.nsdname.size + parts.nsip.size > 0;
    const pol = this.policy;
    this.overrideAction = typeof pol === 'object'
      ? (pol.cname[0] === 1 && pol.cname[1] === 0x2a ? { kind: 'cname', target: Buffer.from(parentName(pol.cname)), wildcard: true } : { kind: 'cname', target: pol.cname, wildcard: false })
      : pol === 'given' || pol === 'disabled' ? undefined : FIXED[['nxdomain', 'nodata', 'passthru', 'drop', 'tcp-only'].indexOf(pol)];
  }

  get hasClientIp(): boolean {
    return this.p.clientIp.size > 0;
  }

  get hasQname(): boolean {
    return this.p.qname.size > 0;
  }

  get hasIp(): boolean {
    return this.p.ip.size > 0;
  }

  get hasNsdname(): boolean {
    return this.p.nsdname.size > 0;
  }

  get hasNsip(): boolean {
    return this.p.nsip.size > 0;
  }

  get ruleCount(): number {
    return this.p.ruleCount;
  }

  /**
   * Whether a QNAME trigger matches, without building the rule: the trie's
   * encoded match (`rule << 1 | wildcard`) or -1. Allocates nothing.
   */
  matchQnameValue(probe: NameProbe): number {
    return this.p.qname.size === 0 ? -1 : this.p.qname.matchProbe(probe);
  }

  /** QNAME trigger for a prepared name: exact, else the closest wildcard. */
  matchQname(probe: NameProbe): PolicyRule | undefined {
    return this.matchName(this.p.qname, probe, 'qname');
  }

  matchNsdname(probe: NameProbe): PolicyRule | undefined {
    return this.matchName(this.p.nsdname, probe, 'nsdname');
  }

  /** Longest-prefix IP trigger of the given kind for a 4- or 16-byte address. */
  matchAddress(kind: 'client-ip' | 'ip' | 'nsip', addr: Uint8Array): PolicyRule | undefined {
    const trie = kind === 'client-ip' ? this.p.clientIp : kind === 'ip' ? this.p.ip : this.p.nsip;
    if (trie.size === 0) return undefined;
    const m = trie.match(addr);
    if (!m) return undefined;
    const bytes = new Uint8Array(addr.length);
    const full = m.len >> 3;
    bytes.set(addr.subarray(0, full));
    if (m.len & 7) bytes[full] = addr[full]! & (0xff << (8 - (m.len & 7)));
    const prefix = { bytes, len: m.len };
    const owner = nameFromText(`${prefixToRpz(prefix)}.${TYPE_LABEL_OF[kind]}`, this.name);
    return this.rule(m.value, kind, owner, false, prefix);
  }

  private matchName(trie: NameTrie, probe: NameProbe, kind: 'qname' | 'nsdname'): PolicyRule | undefined {
    if (trie.size === 0) return undefined;
    const m = trie.lookup(probe);
    if (!m) return undefined;
    let owner = m.name.subarray(0, m.name.length - 1);
    if (m.wildcard) owner = Buffer.concat([Buffer.from([1, 0x2a]), owner]);
    if (kind === 'nsdname') owner = Buffer.concat([owner, Buffer.from([11]), Buffer.from('rpz-nsdname', 'latin1')]);
    return this.rule(m.value, kind, Buffer.concat([owner, this.name]), m.wildcard);
  }

  private rule(id: number, trigger: TriggerType, owner: Name, wildcard: boolean, prefix?: Prefix): PolicyRule {
    return { trigger, owner, ownerKey: nameKey(owner), wildcard, ...(prefix ? { prefix } : {}), given: this.actionOf(id), ttl: this.p.cols.ttl(id) };
  }

  private actionOf(id: number): Action {
    const code = this.p.cols.action(id);
    if (code < A_CNAME) return FIXED[code]!;
    const d = this.p.data[this.p.cols.data(id)]!;
    if (code === A_LOCAL) return { kind: 'local-data', records: d as LocalRecord[] };
    return { kind: 'cname', target: d as Name, wildcard: code === A_WILDCNAME };
  }

  /** The action a hit on `rule` takes: the zone's `policy` override, else the rule's own. */
  effectiveAction(rule: PolicyRule): Action {
    return this.overrideAction ?? rule.given;
  }

  /** The rule in presentation form, relative to the zone: `*.example.com`, `24.0.2.0.192.rpz-ip`. */
  ruleText(rule: PolicyRule): string {
    const t = nameToText(Buffer.concat([rule.owner.subarray(0, rule.owner.length - this.name.length), ROOT]));
    return t === '.' ? '@' : t.replace(/\.$/, '');
  }

  /** Extended DNS Error for a rewrite by `rule` (RFC 8914): the zone's explain(), else 15 Blocked. */
  ede(rule: PolicyRule): { code: number; text: string } {
    const e = this.options.explain?.(rule.ownerKey);
    if (e) return e;
    const what = rule.prefix ? `${rule.trigger} ${prefixToText(rule.prefix)}` : `${rule.trigger} ${this.ruleText(rule)}`;
    return { code: Ede.BLOCKED, text: `blocked by ${this.label}: ${what}` };
  }

  /** Every rule (for listing and tests): trigger, owner, action. Not for the hot path. */
  *rules(): Generator<PolicyRule> {
    for (const [name, wildcard, id] of this.p.qname.entries()) {
      let owner = name.subarray(0, name.length - 1);
      if (wildcard) owner = Buffer.concat([Buffer.from([1, 0x2a]), owner]);
      yield this.rule(id, 'qname', Buffer.concat([owner, this.name]), wildcard);
    }
    for (const [name, wildcard, id] of this.p.nsdname.entries()) {
      let owner = name.subarray(0, name.length - 1);
      if (wildcard) owner = Buffer.concat([Buffer.from([1, 0x2a]), owner]);
      yield this.rule(id, 'nsdname', Buffer.concat([owner, Buffer.from([11]), Buffer.from('rpz-nsdname'), this.name]), wildcard);
    }
    for (const kind of ['client-ip', 'ip', 'nsip'] as const) {
      const trie = kind === 'client-ip' ? this.p.clientIp : kind === 'ip' ? this.p.ip : this.p.nsip;
      for (const [prefix, id] of trie.entries()) {
        yield this.rule(id, kind, nameFromText(`${prefixToRpz(prefix)}.${TYPE_LABEL_OF[kind]}`, this.name), false, prefix);
      }
    }
  }

  /** Bytes held by the rule tables (typed arrays; local data and redirect targets not included). */
  get tableBytes(): number {
    return this.p.qname.byteSize + this.p.nsdname.byteSize + this.p.clientIp.byteSize + this.p.ip.byteSize + this.p.nsip.byteSize +
      this.p.cols.byteSize;
  }
}

/** Build a zone from records (a file's, a transfer's, the order compiler's). */
export function buildPolicyZone(apex: Name | string, records: Iterable<Record & Partial<Pick<ZoneRecord, 'file' | 'line'>>>, options: PolicyZoneOptions = {}): PolicyZone {
  const b = new PolicyZoneBuilder(apex, options);
  for (const rr of records) b.add(rr);
  return b.build();
}

/** The SOA to show in the additional section (BIND `add-soa yes`): TTL capped by its MINIMUM (RFC 2308 3). */
export function soaForAdditional(zone: PolicyZone): Record | undefined {
  const soa = zone.soa;
  if (!soa) return undefined;
  const d = soa.rdata;
  const minimum = d.length >= 4 ? d.readUInt32BE(d.length - 4) : soa.ttl;
  return { name: zone.name, type: Type.SOA, class: Class.IN, ttl: Math.min(soa.ttl, minimum), rdata: d };
}

/**
 * Load a zone from its master file as the config describes it (`rpz.zones[]`
 * with `file`). Lenient zones count the lines the parser skipped too.
 */
export async function loadPolicyZone(z: RpzZoneConfig & { file: string }, baseDir = '.', extra: Pick<PolicyZoneOptions, 'explain'> = {}): Promise<PolicyZone> {
  const apex = nameFromText(z.name.endsWith('.') ? z.name : z.name + '.');
  const b = new PolicyZoneBuilder(apex, zoneOptionsFromConfig(z, extra));
  const stats = await parseZoneFile(resolve(baseDir, z.file), (rr) => b.add(rr), { origin: apex, lenient: z.lenient });
  for (const e of stats.skipped) b.noteSkipped(e);
  return b.buildAsync();
}
