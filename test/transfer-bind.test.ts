/**
 * Verdict as a primary, BIND 9 (named) as its secondary: named pulls our
 * zone over AXFR, then after a publish and our NOTIFY asks IXFR and gets the
 * difference; the same with TSIG over a zone of many messages.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Class, Rcode, Type } from '../src/dns/constants.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import { AccessList } from '../src/resolver/acl.js';
import { Pipeline } from '../src/resolver/pipeline.js';
import { DnsServer } from '../src/resolver/server.js';
import { DecodeStage } from '../src/resolver/stages/decode.js';
import { fetchZone } from '../src/rpz/transfer/client.js';
import { TransferError } from '../src/rpz/transfer/errors.js';
import { TransferStage, ZonePublisher } from '../src/rpz/transfer/primary.js';
import type { NotifyOutcome } from '../src/rpz/transfer/primary.js';
import { tsigKeyFromConfig, TsigKeyring } from '../src/rpz/transfer/tsig.js';
import { soaRdata } from '../src/rpz/transfer/zonedata.js';
import { hasNamed, startNamed } from './helpers/bind.js';
import type { NamedHandle } from './helpers/bind.js';
import { dig, hasDig } from './helpers/dig.js';

const PRIMARY_PORT = 5393;
const NAMED_PORT = 5392;
const SECRET = Buffer.alloc(32, 0x33).toString('base64');
const key = tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha256', secret: SECRET });

const COURT = nameFromText('court.rpz.');
const SIGNED = nameFromText('signed.rpz.');

function zone(origin: string, rules: string[]): Record[] {
  const apex = nameFromText(`${origin}.`);
  const soa: Record = {
    name: apex, type: Type.SOA, class: Class.IN, ttl: 60,
    rdata: soaRdata({ mname: nameFromText(`ns.${origin}.`), rname: nameFromText(`admin.${origin}.`), serial: 0, refresh: 3600, retry: 600, expire: 86400, minimum: 60 }),
  };
  const ns: Record = { name: apex, type: Type.NS, class: Class.IN, ttl: 60, rdata: nameFromText(`ns.${origin}.`) };
  const a: Record = { name: nameFromText(`ns.${origin}.`), type: Type.A, class: Class.IN, ttl: 60, rdata: Buffer.from([127, 0, 0, 1]) };
  return [soa, ns, a, ...rules.map((r) => ({ name: nameFromText(`${r}.${origin}.`), type: Type.CNAME, class: Class.IN, ttl: 60, rdata: Buffer.from([0]) }))];
}

const skip = !hasNamed() || !hasDig();
const many = Array.from({ length: 2500 }, (_, i) => `blocked-${i}.example`);
const kinds: string[] = [];
/** Every transfer served, never cleared. */
const all: string[] = [];
/** Most messages one transfer of each kind took. */
const messages = new Map<string, number>();
const notified: NotifyOutcome[][] = [];
let publisher: ZonePublisher;
let server: DnsServer;
let named: NamedHandle;

function serialOnNamed(z: string): number | undefined {
  const r = dig([z, 'SOA', '+norec'], '127.0.0.1', NAMED_PORT);
  if (r.status !== 'NOERROR' || r.answer.length === 0) return undefined;
  return Number(r.answer[0]!.split(' ')[6]);
}

async function waitSerial(z: string, serial: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (let i = 0; i < 200 && Date.now() < until; i++) {
    if (serialOnNamed(z) === serial) return;
    await sleep(100);
  }
  assert.fail(`named did not reach serial ${serial} for ${z} within ${ms} ms (has ${serialOnNamed(z)})`);
}

before(async () => {
  if (skip) return;
  publisher = new ZonePublisher({
    notify: [{ address: '127.0.0.1', port: NAMED_PORT }],
    notifyOptions: { timeoutMs: 300, retries: 3 },
    onNotifyResult: (_z, out) => notified.push(out),
  });
  publisher.publish(COURT, zone('court.rpz', ['bad.example', 'worse.example']), 1);
  publisher.publish(SIGNED, zone('signed.rpz', many), 100, { tsig: key.name });
  const stage = new TransferStage({ publisher, allow: new AccessList(['127.0.0.0/8']), keys: new TsigKeyring([key]) });
  const pipeline = new Pipeline([new DecodeStage(1232, true), stage]);
  server = new DnsServer(() => pipeline, { listen: [{ address: '127.0.0.1', port: PRIMARY_PORT, family: 4 }], tcpIdleTimeoutMs: 5000, tcpMaxConnections: 20 }, {
    onAnswer: (ctx) => {
      if (typeof ctx.notes.transferKind !== 'string') return;
      const k = `${ctx.notes.transferKind}${ctx.notes.tsigKey ? '+tsig' : ''}`;
      kinds.push(k);
      all.push(k);
      messages.set(k, Math.max(messages.get(k) ?? 0, 1 + (ctx.moreWires?.length ?? 0)));
    },
  });
  await server.start();
  named = await startNamed({
    port: NAMED_PORT,
    rootHints: [{ name: 'a.root.test', address: '127.55.240.9' }],
    extraZones: `
key "xfr-key" { algorithm hmac-sha256; secret "${SECRET}"; };
zone "court.rpz" { type secondary; primaries { 127.0.0.1 port ${PRIMARY_PORT}; }; file "court.rpz.db"; };
zone "signed.rpz" { type secondary; primaries { 127.0.0.1 port ${PRIMARY_PORT} key xfr-key; }; file "signed.rpz.db"; };
`,
  });
});

after(async () => {
  await named?.stop();
  if (named) rmSync(named.dir, { recursive: true, force: true });
  await server?.stop(100);
});

test('named pulls our zone over AXFR', { skip }, async () => {
  await waitSerial('court.rpz', 1, 10_000);
  assert.ok(kinds.includes('axfr'), `transfers seen: ${kinds.join(', ')}`);
  const r = dig(['bad.example.court.rpz', 'CNAME', '+norec'], '127.0.0.1', NAMED_PORT);
  assert.equal(r.status, 'NOERROR');
  assert.ok(r.flags.includes('aa'));
  assert.match(r.answer[0]!, /CNAME \.$/);
});

test('after publish and NOTIFY, named asks IXFR and gets the difference', { skip }, async () => {
  await waitSerial('court.rpz', 1, 10_000);
  kinds.length = 0;
  publisher.publish(COURT, zone('court.rpz', ['bad.example', 'mirror.example']), 2);
  await waitSerial('court.rpz', 2, 10_000);
  assert.ok(kinds.includes('ixfr'), `transfers seen: ${kinds.join(', ')}`);
  assert.equal(dig(['mirror.example.court.rpz', 'CNAME', '+norec'], '127.0.0.1', NAMED_PORT).status, 'NOERROR');
  assert.equal(dig(['worse.example.court.rpz', 'CNAME', '+norec'], '127.0.0.1', NAMED_PORT).status, 'NXDOMAIN');
  const sent = notified.at(-1)!;
  assert.equal(sent[0]!.ok, true, `NOTIFY answered: ${JSON.stringify(sent)}`);
});

test('with TSIG: named verifies our signed multi-message AXFR and then a signed IXFR', { skip }, async () => {
  await waitSerial('signed.rpz', 100, 15_000);
  assert.ok(all.includes('axfr+tsig'), `transfers seen: ${all.join(', ')}`);
  assert.ok(messages.get('axfr+tsig')! >= 4, `the signed AXFR took ${messages.get('axfr+tsig')} messages`);
  assert.equal(dig(['blocked-2499.example.signed.rpz', 'CNAME', '+norec'], '127.0.0.1', NAMED_PORT).status, 'NOERROR');
  kinds.length = 0;
  publisher.publish(SIGNED, zone('signed.rpz', [...many.slice(1), 'added.example']), 101, { tsig: key.name });
  await waitSerial('signed.rpz', 101, 10_000);
  assert.ok(kinds.includes('ixfr+tsig'), `transfers seen: ${kinds.join(', ')}`);
  assert.equal(dig(['added.example.signed.rpz', 'CNAME', '+norec'], '127.0.0.1', NAMED_PORT).status, 'NOERROR');
  assert.equal(dig(['blocked-0.example.signed.rpz', 'CNAME', '+norec'], '127.0.0.1', NAMED_PORT).status, 'NXDOMAIN');
  // Without the key, our primary refuses the transfer.
  await assert.rejects(fetchZone({ address: '127.0.0.1', port: PRIMARY_PORT, zone: SIGNED, timeoutMs: 3000, maxRecords: 10_000 }),
    (e: unknown) => e instanceof TransferError && e.code === 'VERDICT_ERR_XFR_RCODE' && e.detail.rcode === Rcode.REFUSED);
  // With it, our own client reads our own stream.
  const r = await fetchZone({ address: '127.0.0.1', port: PRIMARY_PORT, zone: SIGNED, tsig: key, serial: 100, timeoutMs: 3000, maxRecords: 10_000 });
  assert.equal(r.kind, 'ixfr');
});
