/**
 * The secondary zone's life with a fake clock and a scripted primary:
 * refresh / retry / expire from the SOA (RFC 1034 4.3.5) with clamps, NOTIFY
 * (RFC 1996), IXFR that does not apply, failures that keep the old zone, and
 * the copy on disk (atomic, and intact when the disk is full).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Class, Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import type { FetchOptions, FetchResult } from '../src/rpz/transfer/client.js';
import { TransferError } from '../src/rpz/transfer/errors.js';
import { FileZoneStore, SecondaryZone, zoneFileName } from '../src/rpz/transfer/secondary.js';
import type { Clock, SecondaryZoneOptions, UpdateKind } from '../src/rpz/transfer/secondary.js';
import { computeDiff, soaRdata, soaSerial } from '../src/rpz/transfer/zonedata.js';

const Z = nameFromText('feed.rpz.');
const PRIMARY = { address: '192.0.2.53', port: 53 };
const S = 1000; // ms per second

interface Timers { refresh: number; retry: number; expire: number }
const STD: Timers = { refresh: 3600, retry: 600, expire: 86400 };

function version(serial: number, rules: string[], t: Timers = STD): Record[] {
  const soa: Record = {
    name: Z, type: Type.SOA, class: Class.IN, ttl: 60,
    rdata: soaRdata({ mname: nameFromText('ns.feed.rpz.'), rname: nameFromText('admin.feed.rpz.'), serial, ...t, minimum: 60 }),
  };
  return [soa, ...rules.map((r) => ({ name: nameFromText(`${r}.feed.rpz.`), type: Type.CNAME, class: Class.IN, ttl: 60, rdata: Buffer.from([0]) }))];
}

/** Timers that fire only when the test moves time. */
class FakeClock implements Clock {
  t = 1_700_000_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimer(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Move time forward, firing due timers in order; `settle` runs after each (let the refresh finish). */
  async advance(ms: number, settle: () => Promise<void>): Promise<void> {
    const end = this.t + ms;
    for (let i = 0; i < 10_000; i++) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await settle();
    }
    this.t = end;
  }
}

/** A scripted primary: versions by serial, failures on demand, calls recorded. */
class FakePrimary {
  versions = new Map<number, Record[]>();
  serial = 0;
  fail: TransferError | undefined;
  soaQueries = 0;
  fetches: FetchOptions[] = [];
  /** Replace the next IXFR answer (to script broken differences). */
  nextIxfr: FetchResult | undefined;

  set(serial: number, records: Record[]): void {
    this.versions.set(serial, records);
    this.serial = serial;
  }

  get current(): Record[] {
    return this.versions.get(this.serial)!;
  }

  net = {
    querySoa: async () => {
      this.soaQueries++;
      if (this.fail) throw this.fail;
      return { serial: this.serial, soa: this.current[0]! };
    },
    fetchZone: async (o: FetchOptions): Promise<FetchResult> => {
      this.fetches.push(o);
      if (this.fail) throw this.fail;
      if (o.serial !== undefined && !o.axfrOnly) {
        if (this.nextIxfr) {
          const r = this.nextIxfr;
          this.nextIxfr = undefined;
          return r;
        }
        if (o.serial === this.serial) return { kind: 'uptodate', serial: this.serial };
        const old = this.versions.get(o.serial);
        if (old) return { kind: 'ixfr', soa: this.current[0]!, diffs: [computeDiff(old, this.current)] };
      }
      return { kind: 'axfr', soa: this.current[0]!, records: this.current };
    },
  };
}

interface Harness {
  clock: FakeClock;
  primary: FakePrimary;
  zone: SecondaryZone;
  updates: [number, UpdateKind][];
  errors: TransferError[];
  expired: number;
  advance(seconds: number): Promise<void>;
}

function harness(extra: Partial<SecondaryZoneOptions> = {}, first: Record[] = version(1, ['a', 'b'])): Harness {
  const clock = new FakeClock();
  const primary = new FakePrimary();
  primary.set(soaSerial(first[0]!.rdata), first);
  const h = { clock, primary, updates: [], errors: [], expired: 0 } as unknown as Harness;
  h.zone = new SecondaryZone({
    zone: Z, primary: PRIMARY, clock, net: primary.net,
    onUpdate: (_r, serial, kind) => h.updates.push([serial, kind]),
    onError: (e) => h.errors.push(e),
    onExpired: () => h.expired++,
    ...extra,
  });
  h.advance = (seconds) => clock.advance(seconds * S, () => h.zone.idle());
  return h;
}

test('start transfers the zone, then refreshes every SOA refresh interval', async () => {
  const h = harness();
  await h.zone.start();
  await h.zone.idle();
  assert.deepEqual(h.updates, [[1, 'axfr']]);
  assert.equal(h.primary.fetches[0]!.serial, undefined, 'no zone yet: AXFR');
  assert.equal(h.zone.nextRefreshAt - h.clock.now(), 3600 * S);

  await h.advance(3599);
  assert.equal(h.primary.soaQueries, 0);
  await h.advance(1);
  assert.equal(h.primary.soaQueries, 1, 'refresh: an SOA query');
  assert.equal(h.primary.fetches.length, 1, 'same serial: no transfer');
  assert.equal(h.zone.counters.uptodate, 1);

  h.primary.set(2, version(2, ['a', 'c']));
  await h.advance(3600);
  assert.deepEqual(h.updates.at(-1), [2, 'ixfr']);
  assert.equal(h.primary.fetches.at(-1)!.serial, 1, 'IXFR from our serial');
  assert.equal(h.zone.counters.transfers.ixfr.success, 1);
  h.zone.stop();
});

test('failures retry at the SOA retry interval, keep the zone, and past expire emit expired once', async () => {
  const h = harness();
  await h.zone.start();
  await h.zone.idle();
  h.primary.fail = new TransferError('VERDICT_ERR_XFR_TIMEOUT', 'primary down');
  await h.advance(3600);
  assert.equal(h.errors.length, 1);
  assert.equal(h.zone.nextRefreshAt - h.clock.now(), 600 * S, 'retry interval');
  assert.equal(h.zone.records!.length, 3, 'the zone keeps serving');
  await h.advance(86400 - 3600 - 1);
  assert.equal(h.expired, 0);
  assert.equal(h.zone.expired, false);
  await h.advance(1);
  assert.equal(h.expired, 1, 'expire counts from the last contact');
  assert.equal(h.zone.expired, true);
  await h.advance(7200);
  assert.equal(h.expired, 1, 'emitted once');
  // The primary comes back with something new: the zone is served again.
  h.primary.fail = undefined;
  h.primary.set(3, version(3, ['z']));
  await h.advance(600);
  assert.equal(h.zone.expired, false);
  assert.deepEqual(h.updates.at(-1), [3, 'ixfr']);
  assert.equal(h.zone.serial, 3);
  h.zone.stop();
});

test('SOA timers are clamped', async () => {
  const tiny = version(1, ['a'], { refresh: 1, retry: 1, expire: 5 });
  const h = harness({ refresh: { min: 60, max: 3600 }, retry: { min: 30, max: 600 }, expire: { min: 7200, max: 86400 } }, tiny);
  await h.zone.start();
  await h.zone.idle();
  assert.equal(h.zone.nextRefreshAt - h.clock.now(), 60 * S, 'refresh 1 s raised to the minimum');
  h.primary.fail = new TransferError('VERDICT_ERR_XFR_CONNECT', 'down');
  await h.advance(60);
  assert.equal(h.zone.nextRefreshAt - h.clock.now(), 30 * S, 'retry 1 s raised to the minimum');
  await h.advance(7200 - 60 - 1);
  assert.equal(h.expired, 0, 'expire 5 s raised to two hours');
  await h.advance(1);
  assert.equal(h.expired, 1);
  h.zone.stop();

  const huge = version(1, ['a'], { refresh: 10_000_000, retry: 10_000_000, expire: 100_000_000 });
  const g = harness({}, huge);
  await g.zone.start();
  await g.zone.idle();
  assert.equal(g.zone.nextRefreshAt - g.clock.now(), 86400 * S, 'refresh capped at a day by default');
  g.primary.fail = new TransferError('VERDICT_ERR_XFR_CONNECT', 'down');
  await g.advance(28 * 86400 - 1);
  assert.equal(g.expired, 0);
  await g.advance(1);
  assert.equal(g.expired, 1, 'expire capped at 28 days, past the 24.8-day limit of one timer');
  g.zone.stop();
});

test('NOTIFY is accepted only from the primary, and refreshes soon', async () => {
  const h = harness({ notifyDelayMs: 500 });
  await h.zone.start();
  await h.zone.idle();
  assert.equal(h.zone.notify('198.51.100.1'), false, 'a stranger: REFUSED');
  assert.equal(h.zone.counters.notifies.refused, 1);
  h.primary.set(2, version(2, ['a', 'b', 'c']));
  assert.equal(h.zone.notify('::ffff:192.0.2.53'), true, 'the primary, even IPv4-mapped');
  await h.advance(0.499);
  assert.equal(h.updates.length, 1);
  await h.advance(0.001);
  assert.deepEqual(h.updates.at(-1), [2, 'ixfr']);
  h.zone.stop();
});

test('a NOTIFY during a transfer brings another refresh after it', async () => {
  const h = harness();
  await h.zone.start(); // transfer in flight
  assert.equal(h.zone.notify(PRIMARY.address), true);
  await h.zone.idle();
  await h.advance(0);
  assert.equal(h.primary.soaQueries, 1, 'refreshed again after the transfer');
  h.zone.stop();
});

test('IXFR differences that do not apply: the old zone stays, and AXFR follows at once', async () => {
  const h = harness();
  await h.zone.start();
  await h.zone.idle();
  h.primary.set(2, version(2, ['a', 'c']));
  const bogus = computeDiff(version(1, ['x', 'y']), version(2, ['a', 'c']));
  h.primary.nextIxfr = { kind: 'ixfr', soa: h.primary.current[0]!, diffs: [bogus] };
  await h.advance(3600);
  assert.equal(h.errors[0]!.code, 'VERDICT_ERR_XFR_IXFR_MISMATCH');
  assert.equal(h.primary.fetches.at(-1)!.axfrOnly, true, 'the retry is a full transfer');
  assert.deepEqual(h.updates.at(-1), [2, 'axfr']);
  assert.equal(h.zone.counters.transfers.ixfr.failure, 1);
  h.zone.stop();
});

test('an oversized or corrupt transfer keeps the previous zone', async () => {
  const h = harness();
  await h.zone.start();
  await h.zone.idle();
  h.primary.set(2, version(2, ['a', 'b', 'c']));
  h.primary.fail = new TransferError('VERDICT_ERR_XFR_TOO_LARGE', 'too many');
  await h.advance(3600);
  assert.equal(h.zone.serial, 1);
  assert.equal(h.errors[0]!.code, 'VERDICT_ERR_XFR_TOO_LARGE');
  // An AXFR whose records are not a valid zone (a second SOA) is refused too.
  h.primary.fail = undefined;
  h.primary.fetches = [];
  h.primary.nextIxfr = { kind: 'axfr', soa: h.primary.current[0]!, records: [...h.primary.current, version(9, [])[0]!] };
  await h.advance(600);
  assert.equal(h.zone.serial, 1);
  assert.equal(h.errors[1]!.code, 'VERDICT_ERR_XFR_MALFORMED');
  h.zone.stop();
});

// ---------------------------------------------------------------- the copy on disk

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'verdict-store-'));
  dirs.push(d);
  return d;
}

/** A disk that fills up after the first write. */
class FullDiskStore extends FileZoneStore {
  full = false;
  protected override async write(fh: FileHandle, data: Buffer): Promise<void> {
    if (this.full) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    await super.write(fh, data);
  }
}

test('the copy on disk round-trips, and a new zone serves it before any transfer', async () => {
  const dir = tempDir();
  const h = harness({ store: new FileZoneStore(dir, Z) }, version(7, ['bad.example', 'x\\.y', 'txt']));
  await h.zone.start();
  await h.zone.idle();
  const file = join(dir, zoneFileName(Z));
  assert.equal(zoneFileName(Z), 'feed.rpz.zone');
  assert.match(readFileSync(file, 'latin1'), /^; Verdict: last good copy of feed\.rpz\., serial 7/);
  h.zone.stop();

  const again = harness({ store: new FileZoneStore(dir, Z) }, version(8, ['other']));
  again.primary.fail = new TransferError('VERDICT_ERR_XFR_CONNECT', 'down');
  await again.zone.start();
  assert.deepEqual(again.updates, [[7, 'disk']], 'served from disk before the transfer');
  assert.deepEqual(again.zone.records, h.zone.records);
  await again.zone.idle();
  assert.equal(again.zone.serial, 7, 'the failed transfer leaves it');
  again.zone.stop();
});

test('a copy older than expire is not served', async () => {
  const dir = tempDir();
  const h = harness({ store: new FileZoneStore(dir, Z) });
  await h.zone.start();
  await h.zone.idle();
  h.zone.stop();
  const old = (h.clock.now() - 2 * 86400 * S) / 1000;
  utimesSync(join(dir, zoneFileName(Z)), old, old);
  const g = harness({ store: new FileZoneStore(dir, Z) });
  g.primary.fail = new TransferError('VERDICT_ERR_XFR_CONNECT', 'down');
  await g.zone.start();
  await g.zone.idle();
  assert.deepEqual(g.updates, []);
  assert.equal(g.errors[0]!.code, 'VERDICT_ERR_XFR_STORE');
  g.zone.stop();
});

test('a full disk is reported and leaves the previous copy intact', async () => {
  const dir = tempDir();
  const store = new FullDiskStore(dir, Z);
  const h = harness({ store });
  await h.zone.start();
  await h.zone.idle();
  const file = join(dir, zoneFileName(Z));
  const before = readFileSync(file);
  store.full = true;
  h.primary.set(2, version(2, ['a', 'b', 'c']));
  await h.advance(3600);
  assert.equal(h.zone.serial, 2, 'the new zone is served from memory');
  assert.equal(h.errors[0]!.code, 'VERDICT_ERR_XFR_STORE');
  assert.match(h.errors[0]!.message, /ENOSPC/);
  assert.deepEqual(readFileSync(file), before, 'the old copy is intact');
  assert.deepEqual(readdirSync(dir), [zoneFileName(Z)], 'no temporary file left behind');
  assert.equal(h.zone.counters.storeFailures, 1);
  assert.ok(existsSync(file));
  h.zone.stop();
});
