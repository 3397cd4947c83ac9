/**
 * One RPZ zone that Verdict pulls from a primary (a feed): the last good copy
 * kept on disk, SOA refresh / retry / expire timers (RFC 1034 4.3.5), NOTIFY
 * (RFC 1996), and IXFR differences applied to the zone held (RFC 1995).
 *
 * Whatever goes wrong with a transfer — a refused or interrupted stream, a
 * corrupt or oversized zone, differences that do not apply — the previous
 * zone keeps serving and the failure is reported; only `expire` without
 * contact takes the zone out of service, through the `expired` event.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, open, rename, stat, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Record } from '../../dns/message.js';
import { Name, nameToText } from '../../dns/name.js';
import { recordToText } from '../../dns/rdata.js';
import { ZoneSyntaxError, parseZoneFile } from '../masterfile.js';
import { fetchZone, querySoa } from './client.js';
import type { FetchOptions, FetchResult, SoaQueryOptions } from './client.js';
import { TransferError } from './errors.js';
import type { TsigKey } from './tsig.js';
import { DiffError, applyDiffs, checkZone, serialGt, soaFields, soaSerial } from './zonedata.js';

// ---------------------------------------------------------------- clock

/** Time and timers, injected so tests move time instead of sleeping (STYLE.md lesson 4). */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

// setTimeout takes at most 2^31-1 ms (about 24.8 days); an expire of weeks is reached in steps.
const MAX_TIMER_MS = 0x7fffffff;

// ---------------------------------------------------------------- disk copy

/** Where a secondary keeps its last good copy. */
export interface ZoneStore {
  /** The saved copy and when it was last confirmed current (ms), or undefined when there is none. */
  load(): Promise<{ records: Record[]; savedAt: number } | undefined>;
  /** Replace the copy atomically; on failure the previous copy stays intact. */
  save(records: readonly Record[], serial: number, at: number): Promise<void>;
  /** Record that the primary confirmed the copy current at `at` (ms). */
  touch(at: number): Promise<void>;
}

/** A file name for a zone: its lowercase name, anything unusual escaped as %XX. */
export function zoneFileName(zone: Name): string {
  const text = nameToText(zone).toLowerCase().replace(/\.$/, '') || 'root';
  return text.replace(/[^a-z0-9._-]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).replace(/^\./, '%2e') + '.zone';
}

/**
 * The copy as a master file (RFC 1035 5) in a state directory, written
 * atomically: a temporary file, fsync, rename over the old copy, fsync of the
 * directory. A crash or a full disk leaves either the old copy or the new
 * one, never a torn file. The file's mtime says when the copy was last known
 * current, as BIND does for its secondary zone files, so `expire` counts
 * across restarts.
 */
export class FileZoneStore implements ZoneStore {
  readonly path: string;

  constructor(readonly dir: string, readonly zone: Name) {
    this.path = join(dir, zoneFileName(zone));
  }

  async load(): Promise<{ records: Record[]; savedAt: number } | undefined> {
    let savedAt: number;
    try {
      savedAt = (await stat(this.path)).mtimeMs;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new TransferError('VERDICT_ERR_XFR_STORE', `cannot read ${this.path}: ${(e as Error).message}`);
    }
    const records: Record[] = [];
    try {
      await parseZoneFile(this.path, (rr) => records.push({ name: rr.name, type: rr.type, class: rr.class, ttl: rr.ttl, rdata: rr.rdata }), { origin: this.zone, allowInclude: false });
    } catch (e) {
      if (e instanceof ZoneSyntaxError) throw new TransferError('VERDICT_ERR_XFR_STORE', `the saved copy is unreadable: ${e.message}`);
      throw e;
    }
    const bad = checkZone(this.zone, records);
    if (bad) throw new TransferError('VERDICT_ERR_XFR_STORE', `the saved copy ${this.path} is not a valid zone: ${bad}`);
    return { records, savedAt };
  }

  async save(records: readonly Record[], serial: number, at: number): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    let fh: FileHandle | undefined;
    try {
      await mkdir(this.dir, { recursive: true });
      fh = await open(tmp, 'wx', 0o644);
      await this.write(fh, Buffer.from(`; Verdict: last good copy of ${nameToText(this.zone)}, serial ${serial}, saved ${new Date(at).toISOString()}\n`, 'latin1'));
      // Chunks of about 1 MiB: a million-rule feed never sits in memory as one string.
      let chunk = '';
      for (const rr of records) {
        chunk += recordToText(rr) + '\n';
        if (chunk.length >= 1 << 20) {
          await this.write(fh, Buffer.from(chunk, 'latin1'));
          chunk = '';
        }
      }
      if (chunk) await this.write(fh, Buffer.from(chunk, 'latin1'));
      await fh.sync();
      await fh.close();
      fh = undefined;
      await utimes(tmp, at / 1000, at / 1000);
      await rename(tmp, this.path);
      await this.syncDir();
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      const err = e as NodeJS.ErrnoException;
      throw new TransferError('VERDICT_ERR_XFR_STORE', `cannot save ${this.path}: ${err.code ?? err.message}; the previous copy is kept`);
    }
  }

  async touch(at: number): Promise<void> {
    try {
      await utimes(this.path, at / 1000, at / 1000);
    } catch (e) {
      throw new TransferError('VERDICT_ERR_XFR_STORE', `cannot touch ${this.path}: ${(e as Error).message}`);
    }
  }

  /** Write a whole buffer (a hook tests override to simulate a full disk). */
  protected async write(fh: FileHandle, data: Buffer): Promise<void> {
    let off = 0;
    while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
  }

  /** The rename is durable only once the directory entry is on disk. */
  private async syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

// ---------------------------------------------------------------- the zone

export interface Limits {
  /** Seconds. */
  min: number;
  max: number;
}

export type UpdateKind = 'axfr' | 'ixfr' | 'disk';
export type TransferKind = 'axfr' | 'ixfr' | 'soa';
export type TransferResult = 'success' | 'failure' | 'uptodate';

export interface SecondaryZoneOptions {
  zone: Name;
  primary: { address: string; port: number };
  tsig?: TsigKey;
  /** Where the last good copy lives; without one nothing survives a restart. */
  store?: ZoneStore;
  /** Records accepted in one transfer (default 1,000,000). */
  maxRecords?: number;
  /** Overall limit of one transfer (default 120 s). */
  transferTimeoutMs?: number;
  /** Limit of one SOA refresh query (default 5 s). */
  soaTimeoutMs?: number;
  /** Clamps on the SOA timers, in seconds (defaults: refresh 60 s..1 d, retry 10 s..1 h, expire 1 h..28 d). */
  refresh?: Limits;
  retry?: Limits;
  expire?: Limits;
  /** Delay between an accepted NOTIFY and the refresh (default 0). */
  notifyDelayMs?: number;
  clock?: Clock;
  /** The network, injectable for tests. */
  net?: {
    fetchZone(opts: FetchOptions): Promise<FetchResult>;
    querySoa(opts: SoaQueryOptions): Promise<{ serial: number; soa: Record }>;
  };
  /** A new complete zone to enforce. */
  onUpdate?(records: readonly Record[], serial: number, kind: UpdateKind): void;
  /** A failed refresh, transfer or save; the previous zone keeps serving. */
  onError?(err: TransferError): void;
  /** The copy on disk now holds `serial` (after a transfer; a failed save calls onError instead). */
  onSaved?(serial: number): void;
  /** `expire` passed without contact with the primary: stop enforcing the zone. */
  onExpired?(): void;
  /** Every refresh outcome, for metrics (verdict_zone_transfers_total{kind,result}). */
  onTransfer?(kind: TransferKind, result: TransferResult): void;
}

const DEFAULTS = {
  refresh: { min: 60, max: 86_400 },
  retry: { min: 10, max: 3_600 },
  expire: { min: 3_600, max: 28 * 86_400 },
  // Before the first SOA is known there are no timers to read: retry after this.
  initialRetry: 60,
};

function clamp(v: number, l: Limits): number {
  return Math.min(Math.max(v, l.min), l.max);
}

function v4mapped(a: string): string {
  return a.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

/**
 * A secondary RPZ zone. Emits 'update' (records, serial, kind), 'expired',
 * and 'transferError' (err) besides calling the option callbacks.
 */
export class SecondaryZone extends EventEmitter {
  private current: Record[] | undefined;
  private currentSerial: number | undefined;
  /** Last time the primary confirmed our copy (ms), for expire. */
  private lastContact = 0;
  private isExpired = false;
  private stopped = true;
  private running: Promise<void> | undefined;
  private again = false;
  /** IXFR differences failed to apply: the next transfer is AXFR (as BIND does). */
  private forceAxfr = false;
  private refreshTimer: unknown;
  private refreshAt = 0;
  private expireTimer: unknown;
  private readonly clock: Clock;
  private readonly net: NonNullable<SecondaryZoneOptions['net']>;

  readonly counters = {
    transfers: { axfr: { success: 0, failure: 0 }, ixfr: { success: 0, failure: 0 } },
    uptodate: 0,
    refreshFailures: 0,
    notifies: { accepted: 0, refused: 0 },
    expirations: 0,
    storeFailures: 0,
  };

  constructor(private readonly opts: SecondaryZoneOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.net = opts.net ?? { fetchZone, querySoa };
  }

  get zone(): Name {
    return this.opts.zone;
  }

  /** The zone being served, SOA first; undefined before the first copy. */
  get records(): readonly Record[] | undefined {
    return this.current;
  }

  get serial(): number | undefined {
    return this.currentSerial;
  }

  get expired(): boolean {
    return this.isExpired;
  }

  /** When the next refresh (or retry) is due, in clock ms; 0 when none is scheduled. */
  get nextRefreshAt(): number {
    return this.refreshAt;
  }

  /**
   * Load the copy on disk (served at once, unless it is past expire), then
   * refresh from the primary in the background. Resolves once the copy is
   * loaded, before any transfer.
   */
  async start(): Promise<void> {
    this.stopped = false;
    const store = this.opts.store;
    if (store) {
      try {
        const saved = await store.load();
        if (saved) this.adoptSaved(saved.records, saved.savedAt);
      } catch (e) {
        this.report(e);
      }
    }
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimer(this.refreshTimer);
    this.clock.clearTimer(this.expireTimer);
    this.refreshAt = 0;
  }

  /** Resolves when no refresh is running (tests, and `verdict ctl transfer` waiting for its outcome). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * A NOTIFY for this zone (RFC 1996 3.11): accepted only from the configured
   * primary; then refresh soon. Returns false when refused (the caller answers REFUSED).
   */
  notify(fromAddress: string): boolean {
    if (v4mapped(fromAddress) !== v4mapped(this.opts.primary.address)) {
      this.counters.notifies.refused++;
      return false;
    }
    this.counters.notifies.accepted++;
    if (this.stopped) return true;
    if (this.running) this.again = true; // RFC 1996 4.4: a change during a transfer needs another look
    else this.scheduleRefresh(this.opts.notifyDelayMs ?? 0);
    return true;
  }

  /** Refresh now (operator's `verdict ctl transfer ZONE`): resolves when done, success or not. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.clock.clearTimer(this.refreshTimer);
    this.refreshAt = 0;
    const run = this.runRefresh().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.scheduleRefresh(0);
      }
    });
    this.running = run;
    return run;
  }

  // ------------------------------------------------------------ internals

  private adoptSaved(records: Record[], savedAt: number): void {
    const expireMs = clamp(soaFields(records[0]!.rdata).expire, this.opts.expire ?? DEFAULTS.expire) * 1000;
    if (this.clock.now() - savedAt >= expireMs) {
      this.report(new TransferError('VERDICT_ERR_XFR_STORE', `the saved copy of ${nameToText(this.zone)} was last confirmed ${new Date(savedAt).toISOString()}, longer ago than expire: not served`));
      return;
    }
    this.current = records;
    this.currentSerial = soaSerial(records[0]!.rdata);
    this.lastContact = savedAt;
    this.armExpire();
    this.emitUpdate('disk');
  }

  private scheduleRefresh(ms: number): void {
    if (this.stopped) return;
    this.clock.clearTimer(this.refreshTimer);
    const at = this.clock.now() + ms;
    this.refreshAt = at;
    const fire = () => {
      const left = at - this.clock.now();
      if (left > 0) {
        this.refreshTimer = this.clock.setTimer(fire, Math.min(left, MAX_TIMER_MS));
        return;
      }
      void this.refresh();
    };
    this.refreshTimer = this.clock.setTimer(fire, Math.min(ms, MAX_TIMER_MS));
  }

  private armExpire(): void {
    this.clock.clearTimer(this.expireTimer);
    if (!this.current) return;
    const at = this.lastContact + clamp(soaFields(this.current[0]!.rdata).expire, this.opts.expire ?? DEFAULTS.expire) * 1000;
    const fire = () => {
      const left = at - this.clock.now();
      if (left > 0) {
        this.expireTimer = this.clock.setTimer(fire, Math.min(left, MAX_TIMER_MS));
        return;
      }
      if (this.isExpired) return;
      // RFC 1034 4.3.5: past expire without a successful refresh the data is no longer authoritative.
      this.isExpired = true;
      this.counters.expirations++;
      this.opts.onExpired?.();
      this.emit('expired');
    };
    this.expireTimer = this.clock.setTimer(fire, Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_MS));
  }

  private timers(): { refresh: number; retry: number } {
    if (!this.current) return { refresh: DEFAULTS.initialRetry, retry: clamp(DEFAULTS.initialRetry, this.opts.retry ?? DEFAULTS.retry) };
    const f = soaFields(this.current[0]!.rdata);
    return { refresh: clamp(f.refresh, this.opts.refresh ?? DEFAULTS.refresh), retry: clamp(f.retry, this.opts.retry ?? DEFAULTS.retry) };
  }

  private async runRefresh(): Promise<void> {
    const o = this.opts;
    const serial = this.current ? this.currentSerial : undefined;
    let kind: 'axfr' | 'ixfr' = serial !== undefined && !this.forceAxfr ? 'ixfr' : 'axfr';
    try {
      if (serial !== undefined && !this.forceAxfr) {
        // RFC 1034 4.3.5: compare serials first; transfer only when the primary's is newer.
        const soa = await this.net.querySoa({ address: o.primary.address, port: o.primary.port, zone: o.zone, tsig: o.tsig, timeoutMs: o.soaTimeoutMs ?? 5_000, now: () => this.clock.now() });
        if (!serialGt(soa.serial, serial)) {
          await this.confirmed();
          o.onTransfer?.('soa', 'uptodate');
          return;
        }
      }
      const result = await this.net.fetchZone({
        address: o.primary.address, port: o.primary.port, zone: o.zone, serial, axfrOnly: this.forceAxfr,
        tsig: o.tsig, timeoutMs: o.transferTimeoutMs ?? 120_000, maxRecords: o.maxRecords ?? 1_000_000, now: () => this.clock.now(),
      });
      if (result.kind === 'uptodate') {
        await this.confirmed();
        o.onTransfer?.(kind, 'uptodate');
        return;
      }
      kind = result.kind;
      let records: Record[];
      if (result.kind === 'axfr') {
        const bad = checkZone(o.zone, result.records);
        if (bad) throw new TransferError('VERDICT_ERR_XFR_MALFORMED', `${nameToText(o.zone)}: ${bad}`);
        records = result.records;
      } else {
        try {
          records = applyDiffs(this.current!, result.diffs);
        } catch (e) {
          if (!(e instanceof DiffError)) throw e;
          this.forceAxfr = true;
          throw new TransferError('VERDICT_ERR_XFR_IXFR_MISMATCH', `${nameToText(o.zone)}: ${e.message}; next transfer is AXFR`);
        }
      }
      this.forceAxfr = false;
      this.current = records;
      this.currentSerial = soaSerial(records[0]!.rdata);
      this.lastContact = this.clock.now();
      this.isExpired = false;
      this.armExpire();
      this.counters.transfers[kind].success++;
      o.onTransfer?.(kind, 'success');
      this.emitUpdate(kind);
      this.scheduleRefresh(this.timers().refresh * 1000);
      if (o.store) {
        try {
          await o.store.save(records, this.currentSerial, this.lastContact);
          o.onSaved?.(this.currentSerial);
        } catch (e) {
          this.counters.storeFailures++;
          this.report(e);
        }
      }
    } catch (e) {
      this.counters.refreshFailures++;
      if (!(e instanceof TransferError && e.code === 'VERDICT_ERR_XFR_STORE')) {
        this.counters.transfers[kind].failure++;
        o.onTransfer?.(kind, 'failure');
      }
      this.report(e);
      // An IXFR that did not apply is retried at once as AXFR; anything else waits for retry.
      this.scheduleRefresh(this.forceAxfr && e instanceof TransferError && e.code === 'VERDICT_ERR_XFR_IXFR_MISMATCH' ? 0 : this.timers().retry * 1000);
    }
  }

  /** The primary has nothing newer: our copy is current as of now. */
  private async confirmed(): Promise<void> {
    this.counters.uptodate++;
    this.lastContact = this.clock.now();
    if (this.isExpired) {
      // Contact again after expiry, and the copy is still current: serve it again.
      this.isExpired = false;
      this.emitUpdate('disk');
    }
    this.armExpire();
    this.scheduleRefresh(this.timers().refresh * 1000);
    try {
      await this.opts.store?.touch(this.lastContact);
    } catch (e) {
      this.report(e);
    }
  }

  private emitUpdate(kind: UpdateKind): void {
    const records = this.current!;
    const serial = this.currentSerial!;
    this.opts.onUpdate?.(records, serial, kind);
    this.emit('update', records, serial, kind);
  }

  private report(e: unknown): void {
    const err = e instanceof TransferError ? e : new TransferError('VERDICT_ERR_XFR_MALFORMED', `${nameToText(this.zone)}: ${(e as Error).message}`);
    this.opts.onError?.(err);
    this.emit('transferError', err);
  }
}
