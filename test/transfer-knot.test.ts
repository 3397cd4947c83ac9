/**
 * Verdict as a secondary of a real Knot DNS primary: AXFR, then IXFR after
 * NOTIFY, TSIG right and wrong, and the copy on disk across a restart.
 */
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText, nameKey, nameToText } from '../src/dns/name.js';
import { AccessList } from '../src/resolver/acl.js';
import { Pipeline } from '../src/resolver/pipeline.js';
import { DnsServer } from '../src/resolver/server.js';
import { DecodeStage } from '../src/resolver/stages/decode.js';
import { fetchZone } from '../src/rpz/transfer/client.js';
import { TransferError } from '../src/rpz/transfer/errors.js';
import { TransferStage, ZonePublisher } from '../src/rpz/transfer/primary.js';
import { FileZoneStore, SecondaryZone } from '../src/rpz/transfer/secondary.js';
import type { SecondaryZoneOptions, UpdateKind } from '../src/rpz/transfer/secondary.js';
import { tsigKeyFromConfig, TsigKeyring } from '../src/rpz/transfer/tsig.js';
import { hasKnot, startKnot } from './helpers/knot.js';
import type { KnotHandle } from './helpers/knot.js';

const KNOT = '127.55.240.1';
const LISTENER = { address: '127.55.240.2', port: 5399 };
const SECRET = Buffer.alloc(32, 0x5a).toString('base64');
const keyCfg = { algorithm: 'hmac-sha256', secret: SECRET };
const goodKey = tsigKeyFromConfig('xfr-key', keyCfg);
const wrongKey = tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 1).toString('base64') });

const FEED = nameFromText('feed.rpz.');
const SIGNED = nameFromText('signed.rpz.');

function zoneText(origin: string, serial: number, rules: string[]): string {
  return `$ORIGIN ${origin}.\n$TTL 60\n@ SOA ns.${origin}. admin.${origin}. ${serial} 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n` +
    rules.map((r) => `${r} CNAME .\n`).join('');
}

/** Rule owners in a zone, as text relative to the zone, sorted. */
function rules(records: readonly Record[], origin: string): string[] {
  return records.filter((r) => r.type === Type.CNAME).map((r) => nameToText(r.name).slice(0, -(origin.length + 2))).sort();
}

/** The next 'update' (or other event) of an emitter, within a bounded wait. */
function next<T extends unknown[]>(em: EventEmitter, event: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { em.off(event, on); reject(new Error(`no ${event} within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (...args: unknown[]) => { clearTimeout(t); resolve(args as T); };
    em.once(event, on);
  });
}

const manyRules = Array.from({ length: 3000 }, (_, i) => `blocked-${i}.example`);
let knot: KnotHandle;
let listener: DnsServer;
const secondaries = new Map<string, SecondaryZone>();
const stateRoot = mkdtempSync(join(tmpdir(), 'verdict-secondary-'));
const skip = !hasKnot();

function secondary(zone: ReturnType<typeof nameFromText>, extra: Partial<SecondaryZoneOptions> = {}): SecondaryZone {
  const z = new SecondaryZone({ zone, primary: { address: KNOT, port: 53 }, transferTimeoutMs: 10_000, soaTimeoutMs: 2_000, ...extra });
  secondaries.set(nameKey(zone), z);
  return z;
}

before(async () => {
  if (skip) return;
  knot = await startKnot({
    address: KNOT,
    keys: { 'xfr-key': keyCfg },
    zones: [
      { name: 'feed.rpz', text: zoneText('feed.rpz', 1, ['bad.example', 'worse.example']), notify: LISTENER },
      { name: 'signed.rpz', text: zoneText('signed.rpz', 10, manyRules), key: 'xfr-key' },
    ],
  });
  // NOTIFY arrives on the ordinary DNS listener: decode (with transfers) then the transfer stage.
  const stage = new TransferStage({
    publisher: new ZonePublisher(), allow: new AccessList([]), keys: new TsigKeyring([goodKey]),
    onNotify: (zone, from) => secondaries.get(nameKey(zone))?.notify(from) ?? false,
  });
  const pipeline = new Pipeline([new DecodeStage(1232, true), stage]);
  listener = new DnsServer(() => pipeline, { listen: [{ ...LISTENER, family: 4 }], tcpIdleTimeoutMs: 2000, tcpMaxConnections: 10 });
  await listener.start();
});

after(async () => {
  for (const z of secondaries.values()) z.stop();
  await listener?.stop(100);
  await knot?.stop();
  rmSync(stateRoot, { recursive: true, force: true });
});

test('AXFR from Knot, then a change arrives over IXFR within 2 s of NOTIFY', { skip }, async () => {
  const z = secondary(FEED, { store: new FileZoneStore(join(stateRoot, 'feed'), FEED) });
  const first = next<[Record[], number, UpdateKind]>(z, 'update', 5000);
  await z.start();
  const [records, serial, kind] = await first;
  assert.equal(kind, 'axfr');
  assert.equal(serial, 1);
  assert.deepEqual(rules(records, 'feed.rpz'), ['bad.example', 'worse.example']);
  await z.idle();

  const update = next<[Record[], number, UpdateKind]>(z, 'update', 2000);
  const t0 = performance.now();
  knot.update('feed.rpz', zoneText('feed.rpz', 2, ['bad.example', 'mirror.example'])); // Knot sends NOTIFY to our listener
  const [r2, s2, k2] = await update;
  const ms = performance.now() - t0;
  assert.equal(k2, 'ixfr');
  assert.equal(s2, 2);
  assert.deepEqual(rules(r2, 'feed.rpz'), ['bad.example', 'mirror.example']);
  assert.ok(ms < 2000, `update took ${ms} ms`);
  assert.ok(z.counters.notifies.accepted >= 1, 'the NOTIFY came from Knot through the transfer stage');
  assert.equal(z.counters.transfers.ixfr.success, 1);
  assert.equal(r2[0]!.type, Type.SOA);
  await z.idle();
});

test('the copy on disk is served by a new SecondaryZone before any transfer', { skip }, async () => {
  // The primary is unreachable: only the disk copy can provide the zone.
  const errors: TransferError[] = [];
  const z = new SecondaryZone({
    zone: FEED, primary: { address: '127.55.240.9', port: 53 }, store: new FileZoneStore(join(stateRoot, 'feed'), FEED),
    soaTimeoutMs: 300, transferTimeoutMs: 500, onError: (e) => errors.push(e),
  });
  const loaded = next<[Record[], number, UpdateKind]>(z, 'update', 2000);
  await z.start();
  const [records, serial, kind] = await loaded;
  assert.equal(kind, 'disk');
  assert.equal(serial, 2);
  assert.deepEqual(rules(records, 'feed.rpz'), ['bad.example', 'mirror.example']);
  await z.idle();
  z.stop();
  assert.ok(errors.length >= 1, 'the failed transfer is reported');
  assert.equal(z.serial, 2, 'and the disk copy keeps serving');
});

test('TSIG: the right key transfers a multi-message zone and its IXFR; a wrong key is refused and the old zone kept', { skip }, async () => {
  const z = secondary(SIGNED, { tsig: goodKey, store: new FileZoneStore(join(stateRoot, 'signed'), SIGNED) });
  const first = next<[Record[], number, UpdateKind]>(z, 'update', 8000);
  await z.start();
  const [records, serial, kind] = await first;
  assert.equal(kind, 'axfr');
  assert.equal(serial, 10);
  assert.equal(rules(records, 'signed.rpz').length, 3000);
  // Knot logs the transfer once finished; its stderr may lag a little behind our last message.
  let messages = NaN;
  for (let i = 0; i < 50 && !(messages >= 1); i++) {
    messages = Number(/\[signed\.rpz\.\] AXFR, outgoing.*finished.*?, ([0-9]+) messages/.exec(knot.log())?.[1]);
    if (!(messages >= 1)) await sleep(50);
  }
  assert.ok(messages >= 2, `Knot sent ${messages} messages, each signed and verified in chain`);
  await z.idle();

  knot.update('signed.rpz', zoneText('signed.rpz', 11, [...manyRules.slice(1), 'added.example']));
  const upd = next<[Record[], number, UpdateKind]>(z, 'update', 5000);
  await z.refresh();
  const [r2, s2, k2] = await upd;
  assert.equal(k2, 'ixfr');
  assert.equal(s2, 11);
  const names = rules(r2, 'signed.rpz');
  assert.equal(names.length, 3000);
  assert.ok(names.includes('added.example') && !names.includes('blocked-0.example'));

  // A wrong secret: Knot answers NOTAUTH/BADSIG, the transfer fails with a TSIG error.
  await assert.rejects(fetchZone({ address: KNOT, port: 53, zone: SIGNED, tsig: wrongKey, timeoutMs: 3000, maxRecords: 10_000 }),
    (e: unknown) => e instanceof TransferError && e.code === 'VERDICT_ERR_XFR_TSIG');
  // No key at all: the ACL refuses.
  await assert.rejects(fetchZone({ address: KNOT, port: 53, zone: SIGNED, timeoutMs: 3000, maxRecords: 10_000 }),
    (e: unknown) => e instanceof TransferError && e.code === 'VERDICT_ERR_XFR_RCODE');

  // A secondary that starts from the good copy on disk but holds the wrong key keeps serving that copy.
  const errors: TransferError[] = [];
  const bad = new SecondaryZone({
    zone: SIGNED, primary: { address: KNOT, port: 53 }, tsig: wrongKey, store: new FileZoneStore(join(stateRoot, 'signed'), SIGNED),
    soaTimeoutMs: 1000, onError: (e) => errors.push(e),
  });
  await bad.start();
  await bad.idle();
  bad.stop();
  assert.equal(bad.serial, 11);
  assert.equal(errors[0]?.code, 'VERDICT_ERR_XFR_TSIG');
  assert.equal(bad.counters.refreshFailures, 1);
});

test('IXFR with our serial when the primary has nothing newer is "up to date"', { skip }, async () => {
  const r = await fetchZone({ address: KNOT, port: 53, zone: FEED, serial: 2, timeoutMs: 3000, maxRecords: 100 });
  assert.deepEqual(r, { kind: 'uptodate', serial: 2 });
  // A serial Knot has no history for gets the whole zone, AXFR-style.
  const full = await fetchZone({ address: KNOT, port: 53, zone: FEED, serial: 0, timeoutMs: 3000, maxRecords: 100 });
  assert.equal(full.kind, 'axfr');
  // maxRecords is enforced.
  await assert.rejects(fetchZone({ address: KNOT, port: 53, zone: SIGNED, tsig: goodKey, timeoutMs: 3000, maxRecords: 100 }),
    (e: unknown) => e instanceof TransferError && e.code === 'VERDICT_ERR_XFR_TOO_LARGE');
});
