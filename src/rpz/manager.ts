/**
 * Where the policy comes from, and the one place it is swapped.
 *
 * Every configured RPZ zone has a source: a file, a primary (zone transfer),
 * or the court orders (compiled here). Each source builds its PolicyZone off
 * the hot path; when it succeeds the manager assembles a new immutable
 * PolicySet in configured order and swaps it in one assignment (STYLE.md
 * lesson 6), so a query sees the old set or the new one, never a mix. When a
 * source fails, the zone it built last keeps serving and the failure is
 * reported (log, metrics, `verdict ctl zones`).
 *
 * Court orders follow their dates without a restart: after each compile one
 * timer is armed for the next instant an order changes state
 * (`nextTransition`), and the zone is recompiled then.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { dirname, basename, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import type { Config, RpzZoneConfig } from '../config/schema.js';
import type { Record } from '../dns/message.js';
import { nameFromText, nameKey } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import type { Metrics } from '../metrics/metrics.js';
import { parseZoneFile, parseZoneString } from './masterfile.js';
import type { ZoneRecord } from './masterfile.js';
import { AuditLog, orderEvents } from './orders/audit.js';
import type { AuditSnapshot } from './orders/audit.js';
import { orderClock } from './orders/clock.js';
import type { OrderClock } from './orders/clock.js';
import { compileOrdersZone, edeText } from './orders/compile.js';
import type { OrderRef, SerialState } from './orders/compile.js';
import { formatProblem, loadOrders } from './orders/load.js';
import type { Order } from './orders/schema.js';
import { nextTransition, orderState } from './orders/state.js';
import { PolicySet } from './policy.js';
import type { ScopedSlot } from './policy.js';
import { ScopePartition } from './orders/scope.js';
import { BlockedTally } from './orders/tally.js';
import { PolicyZoneBuilder, zoneOptionsFromConfig } from './zone.js';
import type { PolicyZone, PolicyZoneOptions } from './zone.js';
import { soaSerial } from './transfer/zonedata.js';
import { SecondaryZone } from './transfer/secondary.js';
import type { ZonePublisher } from './transfer/primary.js';
import { keyringFromConfig, secondaryOptions } from './transfer/setup.js';
import { Ede } from '../dns/constants.js';
import { feedEntries, feedOrder } from './orders/feed.js';
import type { FeedEntries } from './orders/feed.js';
import { assess, canonicalProtected, protectedHit, Safeguards } from './orders/safeguards.js';
import type { Decision, Impact } from './orders/safeguards.js';
import { isAutomated } from './orders/schema.js';
import type { TrafficStats } from './orders/traffic.js';

/** Node's setTimeout holds at most 2^31-1 ms (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How often blocked-answer counts go to the audit log (and at stop). */
const TALLY_FLUSH_MS = 60_000;

export type SourceKind = 'file' | 'primary' | 'orders';

export interface ZoneStatus {
  zone: string;
  source: SourceKind;
  /** Where from: the file, the primary, or the order files. */
  origin: string;
  serial?: number;
  rules?: number;
  skipped?: number;
  loadedAt?: string;
  ok: boolean;
  error?: string;
  /** Past the SOA's expire without contact with the primary: not enforced. */
  expired?: boolean;
  /** Zones from a primary: serial of the copy in transfer.state_dir (the next start serves it). */
  savedSerial?: number;
  /** Zones from a primary: why the last copy could not be saved (disk full...); cleared by the next save. */
  storeError?: string;
  enforced: boolean;
}

interface Slot {
  cfg: RpzZoneConfig;
  kind: SourceKind;
  name: Name;
  built?: PolicyZone;
  status: ZoneStatus;
  secondary?: SecondaryZone;
  /** The order slot with scoped orders: its zone per client scope class (`built` is class 0's). */
  scoped?: { partition: ScopePartition; byClass: PolicyZone[] };
}

export interface PolicyManagerDeps {
  logger: Logger;
  metrics?: Metrics;
  /** Zones Verdict serves to secondaries (AXFR/IXFR); the compiled order zone is published there. */
  publisher?: ZonePublisher;
  /** Injected for tests; default: `orders.clock` or the real clock. */
  orderClock?: OrderClock;
  /** Called after every swap (the server clears its wire-form answer cache). */
  onSwap?(set: PolicySet): void;
  /** The resolver's recent traffic, read by the impact check of automated entries (issue 16). */
  traffic?: TrafficStats;
}

/** A live feed (orders.feeds): its secondary and the entries of its last transfer. */
interface Feed {
  cfg: Config['orders']['feeds'][number];
  secondary: SecondaryZone;
  entries?: FeedEntries;
  error?: string;
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : name + '.';
}

/**
 * The zones in precedence order (DESIGN.md): rpz.zones as listed; the order
 * zone takes its place there when listed without file or primary, else it
 * comes first, since a court order outranks any other policy.
 */
export function zoneSlots(cfg: Config): RpzZoneConfig[] {
  const ordersZone = fqdn(cfg.orders.zone).toLowerCase();
  const zones = [...cfg.rpz.zones];
  const hasOrders = cfg.orders.files.length > 0;
  if (hasOrders && !zones.some((z) => fqdn(z.name).toLowerCase() === ordersZone)) {
    zones.unshift({ name: cfg.orders.zone, policy: 'given', log_only: false, lenient: false });
  }
  return zones;
}

function kindOf(z: RpzZoneConfig, cfg: Config): SourceKind {
  if (z.file) return 'file';
  if (z.primary) return 'primary';
  if (fqdn(z.name).toLowerCase() === fqdn(cfg.orders.zone).toLowerCase()) return 'orders';
  throw new Error(`rpz zone ${z.name}: needs a file or a primary (or be orders.zone)`);
}

function newBuilder(s: { cfg: RpzZoneConfig; name: Name }, explain?: PolicyZoneOptions['explain']): PolicyZoneBuilder {
  return new PolicyZoneBuilder(s.name, zoneOptionsFromConfig(s.cfg, explain ? { explain } : {}));
}

function serialOf(z: PolicyZone): number | undefined {
  return z.soa ? soaSerial(z.soa.rdata) : undefined;
}

export class PolicyManager {
  private set: PolicySet = PolicySet.EMPTY;
  private slots: Slot[] = [];
  private loaded: LoadedConfig;
  private clock: OrderClock;
  private orderTimer: NodeJS.Timeout | undefined;
  private watchers: FSWatcher[] = [];
  private watchTimer: NodeJS.Timeout | undefined;
  private orderSerial: SerialState | undefined;
  private auditSnapshot: AuditSnapshot | undefined;
  private audit: AuditLog | undefined;
  /** The orders last loaded (for metrics and explanations). */
  orders: Order[] = [];
  /** Rule owner key -> orders behind it, for the rules of the compiled order zone (class 0's). */
  orderRefs: Map<string, OrderRef[]> = new Map();
  /** The same for every order zone built (one per scope class). */
  private refsByZone = new WeakMap<PolicyZone, Map<string, OrderRef[]>>();
  /** Last serial and hash of each scope class's zone, by its orders (class 0: `orderSerial`). */
  private classSerials = new Map<string, SerialState>();
  /** Blocked answers per order and day (transparency report), written to the audit log. */
  readonly blocked: BlockedTally;
  private tallyTimer: NodeJS.Timeout | undefined;
  /** Serialises rebuilds: a reload during a reload runs after it. */
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  // --- issue 16: feeds, safeguards, watched order directories
  private feeds = new Map<string, Feed>();
  private safeguards: Safeguards | undefined;
  private orderWatchers: FSWatcher[] = [];
  private orderWatchTimer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(loaded: LoadedConfig, private readonly deps: PolicyManagerDeps) {
    this.loaded = loaded;
    this.clock = deps.orderClock ?? orderClock(loaded.config);
    this.blocked = new BlockedTally(loaded.config.orders.timezone);
  }

  /** Is `zone` compiled from court orders (for any scope class)? */
  isOrdersZone(zone: PolicyZone): boolean {
    return this.refsByZone.has(zone);
  }

  /** The orders behind a rule of an order zone, earliest decision first. */
  ordersBehind(zone: PolicyZone, ownerKey: string): OrderRef[] | undefined {
    return this.refsByZone.get(zone)?.get(ownerKey);
  }

  /** Count one blocked answer under `orders` (the caller increments verdict_order_blocked_total alike). */
  countBlocked(orders: readonly string[]): void {
    this.blocked.count(orders, this.clock());
  }

  /** Write the blocked-answer counts not yet in the audit log (every minute, and at stop). */
  flushBlocked(): void {
    const file = this.loaded.config.orders.audit_log;
    const counts = this.blocked.take();
    if (!file || counts.length === 0) return;
    try {
      this.audit ??= new AuditLog(resolve(this.loaded.baseDir, file));
      const at = this.clock();
      for (const c of counts) this.audit.record({ type: 'blocked-answers', at, ...c });
    } catch (e) {
      this.deps.logger.error({ err: (e as Error).message, file }, 'cannot write the blocked-answer counts to the order audit log');
    }
  }

  /** The policy in force; stages call this once per query. */
  readonly current = (): PolicySet => this.set;

  get config(): Config {
    return this.loaded.config;
  }

  /**
   * Load every source; resolves once every zone has loaded once or failed
   * (the server's startup gate opens then). Files and orders must load: the
   * server does not start without its configured policy (never fail open).
   * A secondary with a copy on disk serves it at once and transfers in the
   * background; one without waits for its first transfer, which may fail (an
   * unreachable primary: refused at once, or the transfer timeout): the
   * server then starts without that zone, reported as not enforced, and the
   * transfer is retried (docs/CONFIG.md "rpz").
   */
  async start(): Promise<void> {
    this.slots = this.makeSlots(this.loaded.config);
    this.safeguards = this.makeSafeguards(this.loaded.config);
    await this.startFeeds();
    const errors: string[] = [];
    for (const s of this.slots) {
      if (s.kind === 'primary') continue;
      const err = await this.buildSlot(s);
      if (err) errors.push(err);
    }
    if (errors.length) throw new Error(`policy not loaded:\n${errors.join('\n')}`);
    await this.startSecondaries();
    // The first transfer of every zone that has nothing to serve yet, in parallel.
    await Promise.all(this.slots.filter((s) => s.secondary && !s.built).map((s) => s.secondary!.idle()));
    this.swap();
    this.watchFiles();
    this.tallyTimer = setInterval(() => this.flushBlocked(), TALLY_FLUSH_MS);
    this.tallyTimer.unref();
    this.watchOrderDirs();
    this.started = true;
  }

  /** SIGHUP / `verdict ctl reload`: rebuild from a new config; failed zones keep their previous version. */
  reload(next: LoadedConfig): Promise<ZoneStatus[]> {
    const run = this.chain.then(async () => {
      const old = new Map(this.slots.map((s) => [nameKey(s.name), s]));
      this.loaded = next;
      if (!this.deps.orderClock) this.clock = orderClock(next.config);
      const slots = this.makeSlots(next.config);
      this.safeguards = this.makeSafeguards(next.config);
      await this.startFeeds();
      for (const s of slots) {
        const prev = old.get(nameKey(s.name));
        if (prev && prev.kind === s.kind && s.kind === 'primary' && prev.cfg.primary === s.cfg.primary && prev.cfg.tsig === s.cfg.tsig) {
          // Same primary: keep the running secondary and what it holds.
          s.secondary = prev.secondary;
          s.built = prev.built;
          s.status = prev.status;
          old.delete(nameKey(s.name));
          continue;
        }
        if (prev) {
          s.built = prev.built;
          if (prev.scoped) s.scoped = prev.scoped;
        }
        if (s.kind !== 'primary') await this.buildSlot(s);
      }
      for (const gone of old.values()) gone.secondary?.stop();
      this.slots = slots;
      await this.startSecondaries();
      this.swap();
      this.watchFiles();
      this.watchOrderDirs();
      return this.status();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Rebuild the order zone now (the order clock moved, or a timer fired). */
  recompileOrders(): Promise<void> {
    const run = this.chain.then(async () => {
      const s = this.slots.find((x) => x.kind === 'orders');
      if (!s) return;
      await this.buildSlot(s);
      this.swap();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The zone compiled from court orders, as last built. */
  get ordersZone(): PolicyZone | undefined {
    return this.slots.find((s) => s.kind === 'orders')?.built;
  }

  status(): ZoneStatus[] {
    return this.slots.map((s) => ({ ...s.status, enforced: s.built !== undefined && !s.status.expired }));
  }

  /** A NOTIFY for one of our secondary zones (accepted from its primary only). */
  notify(zone: Name, from: string): boolean {
    const s = this.slots.find((x) => x.secondary && nameKey(x.name) === nameKey(zone));
    if (s) return s.secondary?.notify(from) ?? false;
    for (const f of this.feeds.values()) if (nameKey(nameFromText(fqdn(f.cfg.zone))) === nameKey(zone)) return f.secondary.notify(from);
    return false;
  }

  /** `verdict ctl transfer ZONE`. */
  async transfer(zone: string): Promise<ZoneStatus> {
    const s = this.slots.find((x) => nameKey(x.name) === nameKey(nameFromText(fqdn(zone))));
    if (!s?.secondary) throw new Error(`${zone}: not a zone with a primary`);
    await s.secondary.refresh();
    return { ...s.status, enforced: s.built !== undefined && !s.status.expired };
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.tallyTimer);
    this.flushBlocked();
    clearTimeout(this.orderTimer);
    clearTimeout(this.watchTimer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
    for (const s of this.slots) s.secondary?.stop();
    for (const f of this.feeds.values()) f.secondary.stop();
    clearTimeout(this.orderWatchTimer);
    for (const w of this.orderWatchers) w.close();
    this.orderWatchers = [];
    this.audit?.close();
  }

  // ------------------------------------------------------------ internals

  private makeSlots(cfg: Config): Slot[] {
    return zoneSlots(cfg).map((z) => {
      const kind = kindOf(z, cfg);
      const origin = kind === 'file' ? z.file! : kind === 'primary' ? z.primary! : cfg.orders.files.join(', ');
      return { cfg: z, kind, name: nameFromText(fqdn(z.name)), status: { zone: fqdn(z.name), source: kind, origin, ok: false, enforced: false } };
    });
  }

  /** Assemble the set from what each slot holds now, and swap. */
  private swap(): void {
    const zones: PolicyZone[] = [];
    let scoped: ScopedSlot | undefined;
    for (const s of this.slots) {
      if (!s.built || s.status.expired) continue;
      if (s.scoped) {
        const p = s.scoped.partition;
        scoped = { index: zones.length, classOf: (addr) => p.classOf(addr), byClass: s.scoped.byClass };
      }
      zones.push(s.built);
    }
    this.set = new PolicySet(zones, scoped);
    this.deps.onSwap?.(this.set);
  }

  private record(s: Slot, ok: boolean, detail: { serial?: number; rules?: number; skipped?: number; error?: string }): void {
    const m = this.deps.metrics;
    const label = s.status.zone;
    if (ok) {
      s.status = { ...s.status, ok: true, loadedAt: new Date().toISOString(), ...detail };
      delete s.status.error;
      m?.rpzLastLoad.labels(label).set(Date.now() / 1000);
      if (detail.rules !== undefined) m?.rpzRules.labels(label).set(detail.rules);
      if (detail.serial !== undefined) m?.rpzSerial.labels(label).set(detail.serial);
      m?.rpzSkipped.labels(label).set(detail.skipped ?? 0);
    } else {
      s.status = { ...s.status, ok: false, ...(detail.error ? { error: detail.error } : {}) };
      this.deps.logger.error({ zone: label, err: detail.error }, s.built ? 'policy zone load failed; the previous version keeps serving' : 'policy zone load failed');
    }
    m?.rpzLoadSuccess.labels(label).set(ok ? 1 : 0);
  }

  /** Build one file or order zone; on failure keep `built` as it was. Returns the error text. */
  private async buildSlot(s: Slot): Promise<string | undefined> {
    try {
      if (s.kind === 'file') await this.buildFile(s);
      else if (s.kind === 'orders') await this.buildOrders(s);
      return undefined;
    } catch (e) {
      const msg = (e as Error).message;
      this.record(s, false, { error: msg });
      return `${s.status.zone}: ${msg}`;
    }
  }

  private async buildFile(s: Slot): Promise<void> {
    const cfg = this.loaded.config;
    const path = resolve(this.loaded.baseDir, s.cfg.file!);
    const b = newBuilder(s);
    const keep = this.deps.publisher && cfg.transfer.allow.length > 0 ? [] as Record[] : undefined;
    const stats = await parseZoneFile(path, (rr) => {
      b.add(rr);
      keep?.push(rr);
    }, { origin: s.name, lenient: s.cfg.lenient });
    for (const e of stats.skipped) b.noteSkipped(e);
    const zone = await b.buildAsync();
    const serial = serialOf(zone);
    s.built = zone;
    this.record(s, true, { ...(serial !== undefined ? { serial } : {}), rules: zone.ruleCount, skipped: zone.counts.skipped });
    if (zone.counts.skipped) this.deps.logger.warn({ zone: s.status.zone, skipped: zone.skipped.slice(0, 20) }, 'lenient policy zone: bad rules skipped');
    this.deps.logger.info({ zone: s.status.zone, file: s.cfg.file, rules: zone.ruleCount, serial }, 'policy zone loaded');
    if (keep && serial !== undefined) this.publish(s.name, keep, serial);
  }

  private async buildOrders(s: Slot): Promise<void> {
    const cfg = this.loaded.config;
    const now = this.clock();
    const result = await loadOrders(cfg.orders.files, this.loaded.baseDir, { timezone: cfg.orders.timezone, networks: cfg.orders.networks, now });
    for (const w of result.warnings) this.deps.logger.warn({ order: w.orders, where: `${w.file}:${w.line}` }, formatProblem(w));
    if (result.errors.length) throw new Error(result.errors.map(formatProblem).join('\n'));
    const all = [...result.orders, ...this.feedOrders(result.orders, now)];
    this.orders = all;
    // Automated entries pass the safeguards; held ones are left out of the zone (and stay resolvable).
    const enforced = this.safeguards ? this.safeguards.apply(all, now) : all;
    this.reportSafeguards(all, now);
    // One zone per client scope class (src/rpz/orders/scope.ts); without scoped orders, one class.
    const partition = ScopePartition.build(enforced);
    const byId = new Map(enforced.map((o) => [o.id, o]));
    const byClass: PolicyZone[] = [];
    const rulesPerOrder = new Map<string, number>();
    for (const c of partition.classes) {
      const main = c.index === 0;
      const key = c.orders.join('\n');
      const previous = main ? this.orderSerial : this.classSerials.get(key);
      const compiled = compileOrdersZone(c.orders.map((id) => byId.get(id)!), {
        zone: cfg.orders.zone,
        now,
        ...(previous ? { previous } : {}),
        ...(cfg.orders.notice_host ? { noticeHost: cfg.orders.notice_host } : {}),
        ...(cfg.orders.notice_addresses.length ? { noticeAddresses: cfg.orders.notice_addresses } : {}),
        ...(main && cfg.orders.serial_file ? { stateFile: resolve(this.loaded.baseDir, cfg.orders.serial_file) } : {}),
      });
      for (const p of compiled.problems) this.deps.logger.warn({ zone: s.status.zone }, p);
      const state = { serial: compiled.serial, sha256: compiled.sha256 };
      if (main) this.orderSerial = state;
      else this.classSerials.set(key, state);
      const refs = compiled.rules;
      const explain = (ownerKey: string): { code: number; text: string } | undefined => {
        const r: OrderRef[] | undefined = refs.get(ownerKey);
        return r ? { code: Ede.CENSORED, text: edeText(r) } : undefined;
      };
      const b = newBuilder(s, explain);
      const records: ZoneRecord[] = [];
      parseZoneString(compiled.text, (rr) => {
        b.add(rr);
        records.push(rr);
      }, { origin: s.name, file: `${cfg.orders.zone} (compiled from orders${main ? '' : `, scope ${c.prefixes.join(' ')}`})`, allowInclude: false });
      const zone = b.build();
      this.refsByZone.set(zone, refs);
      byClass.push(zone);
      const perOrder = new Map<string, number>();
      for (const e of compiled.entries) for (const r of e.refs) perOrder.set(r.id, (perOrder.get(r.id) ?? 0) + 1);
      for (const [id, n] of perOrder) rulesPerOrder.set(id, Math.max(n, rulesPerOrder.get(id) ?? 0));
      const scope = main ? {} : { scope: c.prefixes };
      if (compiled.changed) this.deps.logger.info({ zone: s.status.zone, ...scope, serial: compiled.serial, orders: compiled.orders, rules: compiled.entries.length }, 'court orders compiled');
      if (main) {
        s.built = zone;
        this.orderRefs = refs;
        this.record(s, true, { serial: compiled.serial, rules: compiled.entries.length });
        this.auditOrders(now, compiled.serial, compiled.sha256, compiled.orders, compiled.entries.length, compiled.changed);
        // Secondaries get the zone of clients outside every scope (docs/ORDERS-SCOPE.md).
        this.publish(s.name, records, compiled.serial);
      } else if (compiled.changed) {
        this.auditCompiled(now, compiled.serial, compiled.sha256, compiled.orders, compiled.entries.length, c.prefixes);
      }
    }
    if (partition.scoped) s.scoped = { partition, byClass };
    else delete s.scoped;
    this.orderMetrics(now, rulesPerOrder);
    this.armOrderTimer(now);
  }

  // ------------------------------------------------ issue 16: feeds and safeguards

  private makeSafeguards(cfg: Config): Safeguards {
    const g = cfg.orders.safeguards;
    return new Safeguards({
      file: resolve(this.loaded.baseDir, g.state_file),
      protectedNames: canonicalProtected(cfg.orders.protected),
      limits: { maxQueries: g.max_queries, maxClients: g.max_clients, maxSharedNames: g.max_shared_names },
      ...(this.deps.traffic && g.traffic_stats ? { traffic: this.deps.traffic } : {}),
      events: {
        held: (d) => {
          this.deps.logger.warn({ order: d.order, name: d.entry, reason: d.reason }, 'automated entry held by the safeguards; not enforced until a person confirms it (verdict orders confirm)');
          this.auditRecord({ type: 'held', at: this.clock(), order: d.order, name: d.entry, reason: d.reason ?? '' });
        },
        confirmed: (d) => this.auditRecord({ type: 'confirmed', at: this.clock(), order: d.order, name: d.entry, by: d.by! }),
        rejected: (d) => this.auditRecord({ type: 'entry-rejected', at: this.clock(), order: d.order, name: d.entry, by: d.by! }),
      },
    });
  }

  private auditRecord(e: Parameters<AuditLog['record']>[0]): void {
    const file = this.loaded.config.orders.audit_log;
    if (!file) return;
    try {
      this.audit ??= new AuditLog(resolve(this.loaded.baseDir, file));
      this.audit.record(e);
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message, file }, 'cannot write the order audit log');
    }
  }

  /** Held-entry gauge, and protected names listed by orders a person loaded (enforced as written, reported). */
  private reportSafeguards(all: readonly Order[], now: Date): void {
    const m = this.deps.metrics;
    if (m && this.safeguards) {
      m.ordersHeld.reset();
      for (const d of this.safeguards.held()) m.ordersHeld.labels(d.order).inc();
    }
    const prot = canonicalProtected(this.loaded.config.orders.protected);
    if (!prot.length) return;
    for (const o of all) {
      if (isAutomated(o) || orderState(o, now).state !== 'active') continue;
      for (const n of o.names) {
        const p = protectedHit(n, prot, o.includeSubdomains);
        if (p) this.deps.logger.warn({ order: o.id, name: n, protected: p }, 'court order lists a protected name; enforced as written (a judgment), reported for review');
      }
    }
  }

  /** Start the secondary of every configured feed not already running; stop those no longer configured. */
  private async startFeeds(): Promise<void> {
    const cfg = this.loaded.config;
    const ring = keyringFromConfig(cfg);
    const wanted = new Map(cfg.orders.feeds.map((f) => [f.id, f]));
    for (const [id, f] of this.feeds) {
      const w = wanted.get(id);
      if (w && w.zone === f.cfg.zone && w.primary === f.cfg.primary && w.tsig === f.cfg.tsig) {
        f.cfg = w;
        continue;
      }
      f.secondary.stop();
      this.feeds.delete(id);
    }
    const fresh: Feed[] = [];
    for (const fc of cfg.orders.feeds) {
      if (this.feeds.has(fc.id)) continue;
      const zoneCfg = { name: fc.zone, primary: fc.primary, policy: 'given' as const, log_only: false, lenient: false, ...(fc.tsig ? { tsig: fc.tsig } : {}), ...(fc.max_records ? { max_records: fc.max_records } : {}) };
      const feed: Feed = { cfg: fc, secondary: undefined as unknown as SecondaryZone };
      feed.secondary = new SecondaryZone({
        ...secondaryOptions(zoneCfg, cfg, this.loaded.baseDir, ring),
        onUpdate: (records, serial, kind) => {
          feed.entries = feedEntries(feed.cfg.zone, records, serial);
          delete feed.error;
          this.deps.logger.info({ feed: feed.cfg.id, serial, kind, names: feed.entries.names.length, addresses: feed.entries.addresses.length, skipped: feed.entries.skipped }, 'feed transferred');
          if (this.started) void this.recompileOrders();
        },
        onError: (err) => {
          feed.error = err.message;
          this.deps.logger.warn({ feed: feed.cfg.id, code: err.code, err: err.message }, feed.entries ? 'feed transfer problem; its last entries stay in force' : 'feed transfer problem; not enforced until a transfer succeeds');
        },
        onExpired: () => {
          delete feed.entries;
          this.deps.logger.error({ feed: feed.cfg.id }, 'feed expired (no contact with the primary within the SOA expire): its entries are no longer enforced');
          if (this.started) void this.recompileOrders();
        },
        onTransfer: (kind, result) => this.deps.metrics?.transfers.labels(`feed:${feed.cfg.id}`, kind, result).inc(),
      });
      this.feeds.set(fc.id, feed);
      fresh.push(feed);
      await feed.secondary.start();
    }
    await Promise.all(fresh.map((f) => f.secondary.idle()));
  }

  /** Every feed with entries, as an order bound to its parent; a feed whose parent is not loaded is not enforced (logged). */
  private feedOrders(orders: readonly Order[], now: Date): Order[] {
    const out: Order[] = [];
    for (const f of this.feeds.values()) {
      if (!f.entries) continue;
      const parent = orders.find((o) => o.id === f.cfg.parent && o.parent === undefined);
      if (!parent || parent.status === 'draft') {
        this.deps.logger.error({ feed: f.cfg.id, parent: f.cfg.parent }, `feed ${f.cfg.id}: parent ${f.cfg.parent} is not a loaded court order; its entries are not enforced`);
        continue;
      }
      out.push(feedOrder(f.cfg, f.entries, parent, now.toISOString().slice(0, 10)));
    }
    return out;
  }

  /** `verdict ctl` / `orders held`: held entries awaiting a decision. */
  heldEntries(): Decision[] {
    return this.safeguards?.held() ?? [];
  }

  /** `orders confirm|reject`: a person's decision, then the zone is rebuilt (a confirmed entry is enforced at once). */
  async decide(order: string, entry: string, status: 'confirmed' | 'rejected', by: string): Promise<Decision> {
    if (!this.safeguards) throw new Error('the policy is not loaded yet');
    const d = this.safeguards.decide(order, entry, status, by, this.clock());
    await this.recompileOrders();
    return d;
  }

  /** `orders impact`: what entries would meet, judged as for an automated entry (nothing is changed). */
  impact(entries: { name?: string; address?: string; subdomains: boolean }[]): Impact[] {
    const cfg = this.loaded.config;
    const g = cfg.orders.safeguards;
    const limits = { maxQueries: g.max_queries, maxClients: g.max_clients, maxSharedNames: g.max_shared_names };
    const traffic = g.traffic_stats ? this.deps.traffic : undefined;
    return entries.map((e) => assess((e.name ?? e.address)!, e.name ? 'name' : 'address', e.subdomains, canonicalProtected(cfg.orders.protected), limits, traffic));
  }

  /** Feeds and their last transfer, for `verdict ctl zones`. */
  feedStatus(): { id: string; zone: string; parent: string; serial?: number; names: number; addresses: number; skipped: number; error?: string }[] {
    return [...this.feeds.values()].map((f) => ({
      id: f.cfg.id, zone: f.cfg.zone, parent: f.cfg.parent,
      ...(f.entries ? { serial: f.entries.serial } : {}),
      names: f.entries?.names.length ?? 0, addresses: f.entries?.addresses.length ?? 0, skipped: f.entries?.skipped ?? 0,
      ...(f.error ? { error: f.error } : {}),
    }));
  }

  /**
   * Watch the directories of orders.files: a request file dropped in (or
   * changed, or removed) is applied without SIGHUP, like a feed.
   */
  private watchOrderDirs(): void {
    for (const w of this.orderWatchers) w.close();
    this.orderWatchers = [];
    if (this.stopped) return;
    const dirs = new Set<string>();
    for (const pattern of this.loaded.config.orders.files) {
      const parts = pattern.split('/');
      const fixed: string[] = [];
      for (const p of parts.slice(0, -1)) {
        if (/[*?[\]{}]/.test(p)) break;
        fixed.push(p);
      }
      dirs.add(resolve(this.loaded.baseDir, fixed.join('/') || '.'));
    }
    for (const d of dirs) {
      try {
        const w = watch(d, (_event, name) => {
          if (name && /\.ya?ml$/i.test(name.toString())) this.scheduleOrderReload();
        });
        w.unref();
        this.orderWatchers.push(w);
      } catch (e) {
        this.deps.logger.warn({ dir: d, err: (e as Error).message }, 'cannot watch the orders directory; reload with SIGHUP');
      }
    }
  }

  private scheduleOrderReload(): void {
    clearTimeout(this.orderWatchTimer);
    this.orderWatchTimer = setTimeout(() => void this.recompileOrders(), 200);
    this.orderWatchTimer.unref();
  }

  /** `counts`: rules in force per order (in the scope class zone where it has the most). */
  private orderMetrics(now: Date, counts: Map<string, number>): void {
    const m = this.deps.metrics;
    if (!m) return;
    m.orderActiveRules.reset();
    m.orderExpiry.reset();
    for (const o of this.orders) {
      m.orderActiveRules.labels(o.id).set(counts.get(o.id) ?? 0);
      m.orderExpiry.labels(o.id).set((o.expiresAt.getTime() - now.getTime()) / 1000);
    }
  }

  private auditOrders(now: Date, serial: number, sha256: string, ids: string[], rules: number, changed: boolean): void {
    const file = this.loaded.config.orders.audit_log;
    if (!file) return;
    try {
      this.audit ??= new AuditLog(resolve(this.loaded.baseDir, file));
      const { events, snapshot } = orderEvents(this.auditSnapshot, this.orders, now);
      this.auditSnapshot = snapshot;
      for (const e of events) this.audit.record(e);
      if (changed || events.length) this.audit.record({ type: 'compiled', at: now, zone: this.loaded.config.orders.zone, serial, sha256, orders: ids, rules });
    } catch (e) {
      this.deps.logger.error({ err: (e as Error).message, file }, 'cannot write the order audit log');
    }
  }

  /** The `compiled` audit event of a scope class's zone (class 0's is written by auditOrders). */
  private auditCompiled(now: Date, serial: number, sha256: string, ids: string[], rules: number, scope: string[]): void {
    const file = this.loaded.config.orders.audit_log;
    if (!file) return;
    try {
      this.audit ??= new AuditLog(resolve(this.loaded.baseDir, file));
      this.audit.record({ type: 'compiled', at: now, zone: this.loaded.config.orders.zone, serial, sha256, orders: ids, rules, scope });
    } catch (e) {
      this.deps.logger.error({ err: (e as Error).message, file }, 'cannot write the order audit log');
    }
  }

  /** One timer for the next state change of any order (clamped to what setTimeout holds). */
  private armOrderTimer(now: Date): void {
    clearTimeout(this.orderTimer);
    if (this.stopped) return;
    const next = nextTransition(this.orders, now);
    if (!next) return;
    const wait = Math.min(Math.max(0, next.at.getTime() - now.getTime()), MAX_TIMER_MS);
    this.orderTimer = setTimeout(() => {
      const at = this.clock();
      if (at.getTime() < next.at.getTime()) {
        this.armOrderTimer(at); // the clamp fell short: wait again
        return;
      }
      this.deps.logger.info({ changes: next.changes }, 'court order state change');
      void this.recompileOrders();
    }, wait);
    this.orderTimer.unref();
  }

  private publish(zone: Name, records: readonly Record[], serial: number): void {
    const p = this.deps.publisher;
    if (!p) return;
    try {
      p.publish(zone, records, serial);
    } catch (e) {
      this.deps.logger.error({ err: (e as Error).message }, 'zone not published to secondaries');
    }
  }

  private async startSecondaries(): Promise<void> {
    const cfg = this.loaded.config;
    const ring = keyringFromConfig(cfg);
    for (const s of this.slots) {
      if (s.kind !== 'primary' || s.secondary) continue;
      const label = s.status.zone;
      const sec = new SecondaryZone({
        ...secondaryOptions(s.cfg, cfg, this.loaded.baseDir, ring),
        onUpdate: (records, serial, kind) => {
          try {
            const b = newBuilder(s);
            for (const rr of records) b.add(rr);
            s.built = b.build();
            s.status.expired = false;
            if (kind === 'disk') s.status.savedSerial = serial;
            this.record(s, true, { serial, rules: s.built.ruleCount, skipped: s.built.counts.skipped });
            this.deps.logger.info({ zone: label, serial, kind, rules: s.built.ruleCount }, 'policy zone transferred');
            this.swap();
          } catch (e) {
            this.record(s, false, { error: (e as Error).message });
          }
        },
        onError: (err) => {
          if (err.code === 'VERDICT_ERR_XFR_STORE' && s.built) {
            // The zone in memory is served; only the copy for the next start is behind.
            s.status = { ...s.status, storeError: err.message };
            this.deps.metrics?.zoneStoreFailures.labels(label).inc();
            this.deps.logger.error({ zone: label, code: err.code, err: err.message }, 'cannot save the zone copy to disk; the zone serves from memory, the previous copy stays on disk');
          } else if (!s.built) {
            this.record(s, false, { error: `${err.message} (not enforced until a transfer succeeds)` });
          } else {
            s.status = { ...s.status, error: err.message };
            this.deps.logger.warn({ zone: label, code: err.code, err: err.message }, 'zone transfer problem; the previous version keeps serving');
          }
        },
        onSaved: (serial) => {
          s.status.savedSerial = serial;
          delete s.status.storeError;
        },
        onExpired: () => {
          s.status.expired = true;
          this.deps.logger.error({ zone: label }, 'policy zone expired (no contact with the primary within the SOA expire): no longer enforced');
          this.swap();
        },
        onTransfer: (kind, result) => this.deps.metrics?.transfers.labels(label, kind, result).inc(),
      });
      s.secondary = sec;
      await sec.start();
    }
  }

  /** Reload file zones when their file is replaced (editors, rsync, `orders compile -o`). */
  private watchFiles(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.stopped) return;
    const files = this.slots.filter((s) => s.kind === 'file').map((s) => resolve(this.loaded.baseDir, s.cfg.file!));
    const dirs = new Map<string, Set<string>>();
    for (const f of files) {
      const d = dirname(f);
      if (!dirs.has(d)) dirs.set(d, new Set());
      dirs.get(d)!.add(basename(f));
    }
    for (const [d, names] of dirs) {
      try {
        // The directory, not the file: a rename-into-place replaces the inode a file watch holds.
        const w = watch(d, (_event, name) => {
          if (name && names.has(name.toString())) this.scheduleFileReload();
        });
        w.unref();
        this.watchers.push(w);
      } catch (e) {
        this.deps.logger.warn({ dir: d, err: (e as Error).message }, 'cannot watch the zone directory; reload with SIGHUP');
      }
    }
  }

  private scheduleFileReload(): void {
    clearTimeout(this.watchTimer);
    // Let a writer finish (several events per replace): rebuild once, shortly after the last.
    this.watchTimer = setTimeout(() => {
      const run = this.chain.then(async () => {
        let changed = false;
        for (const s of this.slots) {
          if (s.kind !== 'file') continue;
          const err = await this.buildSlot(s);
          if (!err) changed = true;
        }
        if (changed) this.swap();
      });
      this.chain = run.catch(() => undefined);
    }, 200);
    this.watchTimer.unref();
  }

  /** Now, by the order clock. */
  orderNow(): Date {
    return this.clock();
  }

  /** For `verdict ctl orders`: state of each order now, by the order clock. */
  orderStates(): { id: string; state: string; kind?: string; parent?: string }[] {
    const now = this.clock();
    return this.orders.map((o) => ({ id: o.id, state: orderState(o, now).state, ...(o.kind ? { kind: o.kind } : {}), ...(o.parent ? { parent: o.parent } : {}) }));
  }
}

/**
 * `verdict check`: build every file zone and compile the orders exactly as
 * the server would, without serving; zones with a primary are only checked
 * for their keys (their data arrives by transfer). Errors name file:line.
 */
export async function checkPolicy(loaded: LoadedConfig): Promise<{ lines: string[]; errors: string[] }> {
  const cfg = loaded.config;
  const lines: string[] = [];
  const errors: string[] = [];
  try {
    keyringFromConfig(cfg);
  } catch (e) {
    errors.push(`${loaded.file}: tsig_keys: ${(e as Error).message}`);
  }
  let slots: RpzZoneConfig[];
  try {
    slots = zoneSlots(cfg);
  } catch (e) {
    errors.push(`${loaded.file}: ${(e as Error).message}`);
    return { lines, errors };
  }
  for (const z of slots) {
    let kind: SourceKind;
    try {
      kind = kindOf(z, cfg);
    } catch (e) {
      errors.push(`${loaded.file}: ${(e as Error).message}`);
      continue;
    }
    const name = nameFromText(fqdn(z.name));
    try {
      if (kind === 'file') {
        const b = newBuilder({ cfg: z, name });
        const stats = await parseZoneFile(resolve(loaded.baseDir, z.file!), (rr) => b.add(rr), { origin: name, lenient: z.lenient });
        for (const e of stats.skipped) b.noteSkipped(e);
        const built = b.build();
        const c = built.counts;
        lines.push(`${fqdn(z.name)}: ${z.file}: ${built.ruleCount} rule(s) (qname ${c.qname}, client-ip ${c.clientIp}, ip ${c.ip}, nsdname ${c.nsdname}, nsip ${c.nsip})${c.skipped ? `, ${c.skipped} bad rule(s) skipped` : ''}`);
        for (const sk of built.skipped) lines.push(`warning: ${sk.file}:${sk.line}: ${sk.reason} (skipped)`);
      } else if (kind === 'primary') {
        secondaryOptions(z, cfg, loaded.baseDir);
        lines.push(`${fqdn(z.name)}: from primary ${z.primary} (transferred at start)`);
      } else {
        const now = orderClock(cfg)();
        const result = await loadOrders(cfg.orders.files, loaded.baseDir, { timezone: cfg.orders.timezone, networks: cfg.orders.networks, now });
        for (const w of result.warnings) lines.push(`warning: ${formatProblem(w)}`);
        for (const e of result.errors) errors.push(formatProblem(e));
        if (!result.errors.length) {
          const compiled = compileOrdersZone(result.orders, {
            zone: cfg.orders.zone, now,
            ...(cfg.orders.notice_host ? { noticeHost: cfg.orders.notice_host } : {}),
            ...(cfg.orders.notice_addresses.length ? { noticeAddresses: cfg.orders.notice_addresses } : {}),
          });
          const b = newBuilder({ cfg: z, name });
          parseZoneString(compiled.text, (rr) => b.add(rr), { origin: name, file: `${cfg.orders.zone} (compiled from orders)`, allowInclude: false });
          b.build();
          lines.push(`${fqdn(z.name)}: ${result.orders.length} order(s), ${compiled.orders.length} in force, ${compiled.entries.length} rule(s)`);
        }
      }
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return { lines, errors };
}
