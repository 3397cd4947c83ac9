/**
 * The transfer client against a primary that misbehaves on purpose, over
 * real loopback sockets: a connection cut mid-stream, a stall, IXFR not
 * implemented, a lone SOA, truncation, records outside the zone.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Class, Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage } from '../src/dns/message.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import { AccessList } from '../src/resolver/acl.js';
import type { RequestContext, TransportKind } from '../src/resolver/context.js';
import { Pipeline } from '../src/resolver/pipeline.js';
import { DecodeStage } from '../src/resolver/stages/decode.js';
import { fetchZone, querySoa } from '../src/rpz/transfer/client.js';
import { TransferError } from '../src/rpz/transfer/errors.js';
import { TransferStage, ZonePublisher } from '../src/rpz/transfer/primary.js';
import { SecondaryZone } from '../src/rpz/transfer/secondary.js';
import { soaRdata } from '../src/rpz/transfer/zonedata.js';

const Z = nameFromText('feed.rpz.');
const ADDRESS = '127.55.240.5';

function zone(serial: number, rules: string[]): Record[] {
  const soa: Record = {
    name: Z, type: Type.SOA, class: Class.IN, ttl: 60,
    rdata: soaRdata({ mname: nameFromText('ns.feed.rpz.'), rname: nameFromText('admin.feed.rpz.'), serial, refresh: 3600, retry: 600, expire: 86400, minimum: 60 }),
  };
  return [soa, ...rules.map((r) => ({ name: nameFromText(`${r}.feed.rpz.`), type: Type.CNAME, class: Class.IN, ttl: 60, rdata: Buffer.from([0]) }))];
}

type Mode = 'normal' | 'cut' | 'stall' | 'notimp-ixfr' | 'lone-soa' | 'tc' | 'outside';

/** Our own primary stage behind a TCP/UDP front that can misbehave. */
class ScriptedPrimary {
  mode: Mode = 'normal';
  port = 0;
  readonly publisher = new ZonePublisher();
  private readonly pipeline = new Pipeline([new DecodeStage(1232, true), new TransferStage({ publisher: this.publisher, allow: new AccessList(['127.0.0.0/8']) })]);
  private tcp?: Server;
  private udp?: UdpSocket;
  private readonly conns = new Set<Socket>();

  private answer(raw: Buffer, transport: TransportKind, address: string): Buffer[] {
    const ctx: RequestContext = { raw, client: { address, port: 0 }, transport, started: 0, maxSize: 512, notes: {} };
    const w = this.pipeline.run(ctx) as Buffer | undefined;
    return w ? [w, ...(ctx.moreWires ?? [])] : [];
  }

  async start(): Promise<void> {
    this.tcp = createServer((c) => this.onConnection(c));
    await new Promise<void>((r) => this.tcp!.listen(0, ADDRESS, r));
    this.port = (this.tcp.address() as { port: number }).port;
    this.udp = createSocket('udp4');
    this.udp.on('message', (raw, rinfo) => {
      let out = this.answer(raw, 'udp', rinfo.address)[0];
      if (out && this.mode === 'tc') {
        // A truncated reply: header and question only, TC=1 (RFC 1035 4.2.1).
        const m = decodeMessage(out);
        out = encodeMessage({ ...m, answers: [], tc: true });
      }
      if (out) this.udp!.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => this.udp!.bind(this.port, ADDRESS, r));
  }

  private onConnection(c: Socket): void {
    this.conns.add(c);
    c.on('close', () => this.conns.delete(c));
    c.on('error', () => c.destroy());
    let buf = Buffer.alloc(0);
    const send = (w: Buffer) => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(w.length);
      c.write(Buffer.concat([len, w]));
    };
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const raw = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + raw.length);
      const q = decodeMessage(raw);
      const qtype = q.questions[0]!.type;
      const isXfr = qtype === Type.AXFR || qtype === Type.IXFR;
      const wires = this.answer(raw, 'tcp', c.remoteAddress!);
      if (this.mode === 'stall' && isXfr) return;
      if (this.mode === 'cut' && isXfr) {
        send(wires[0]!);
        setImmediate(() => c.destroy()); // the primary dies after the first message
        return;
      }
      if (this.mode === 'notimp-ixfr' && qtype === Type.IXFR) {
        send(encodeMessage(emptyMessage({ id: q.id, qr: true, rcode: Rcode.NOTIMP, questions: q.questions })));
        return;
      }
      if (this.mode === 'lone-soa' && qtype === Type.IXFR) {
        const first = decodeMessage(wires[0]!);
        send(encodeMessage({ ...first, answers: first.answers.slice(0, 1) }));
        setImmediate(() => c.end());
        return;
      }
      if (this.mode === 'outside' && isXfr) {
        const first = decodeMessage(wires[0]!);
        first.answers.splice(1, 0, { name: nameFromText('www.bank.example.'), type: Type.A, class: Class.IN, ttl: 60, rdata: Buffer.from([203, 0, 113, 6]) });
        send(encodeMessage(first));
        for (const w of wires.slice(1)) send(w);
        return;
      }
      for (const w of wires) send(w);
    });
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => this.tcp!.close(() => r()));
    await new Promise<void>((r) => this.udp!.close(() => r()));
  }
}

const rules1 = Array.from({ length: 1200 }, (_, i) => `rule-${i}.example`);
const primary = new ScriptedPrimary();
const opts = () => ({ address: ADDRESS, port: primary.port, zone: Z, timeoutMs: 2000, maxRecords: 10_000 });

function expectCode(code: TransferError['code']) {
  return (e: unknown) => e instanceof TransferError && e.code === code;
}

before(async () => {
  primary.publisher.publish(Z, zone(1, rules1), 1);
  await primary.start();
});
after(() => primary.stop());

test('a normal AXFR over TCP, and the SOA over UDP', async () => {
  primary.mode = 'normal';
  const r = await fetchZone(opts());
  assert.equal(r.kind, 'axfr');
  assert.equal(r.kind === 'axfr' && r.records.length, 1201);
  const soa = await querySoa({ ...opts() });
  assert.equal(soa.serial, 1);
});

test('a primary that dies mid-transfer: CLOSED, and the secondary keeps its zone', async () => {
  primary.mode = 'normal';
  const errors: TransferError[] = [];
  const z = new SecondaryZone({ zone: Z, primary: { address: ADDRESS, port: primary.port }, transferTimeoutMs: 2000, soaTimeoutMs: 1000, onError: (e) => errors.push(e) });
  await z.start();
  await z.idle();
  assert.equal(z.serial, 1);

  // Every rule replaced: the difference is larger than the zone, so IXFR gets the whole zone, over many messages.
  primary.publisher.publish(Z, zone(2, rules1.map((r) => `new-${r}`)), 2);
  primary.mode = 'cut';
  await assert.rejects(fetchZone(opts()), expectCode('VERDICT_ERR_XFR_CLOSED'));
  await z.refresh();
  assert.equal(errors[0]?.code, 'VERDICT_ERR_XFR_CLOSED');
  assert.equal(z.serial, 1, 'the old zone keeps serving');
  assert.equal(z.records!.length, 1201);
  assert.equal(z.counters.transfers.ixfr.failure, 1);

  primary.mode = 'normal';
  await z.refresh();
  assert.equal(z.serial, 2);
  z.stop();
});

test('a primary that stalls: TIMEOUT within the overall limit', async () => {
  primary.mode = 'stall';
  const t0 = Date.now();
  await assert.rejects(fetchZone({ ...opts(), timeoutMs: 300 }), expectCode('VERDICT_ERR_XFR_TIMEOUT'));
  assert.ok(Date.now() - t0 < 1500);
});

test('IXFR not implemented, or a lone newer SOA: fall back to AXFR', async () => {
  primary.mode = 'notimp-ixfr';
  const r = await fetchZone({ ...opts(), serial: 1 });
  assert.equal(r.kind, 'axfr');
  primary.mode = 'lone-soa';
  const r2 = await fetchZone({ ...opts(), serial: 1 });
  assert.equal(r2.kind, 'axfr');
});

test('a record outside the zone fails the whole transfer', async () => {
  primary.mode = 'outside';
  await assert.rejects(fetchZone(opts()), expectCode('VERDICT_ERR_XFR_OUT_OF_ZONE'));
});

test('querySoa retries over TCP when the UDP reply is truncated', async () => {
  primary.mode = 'tc';
  const r = await querySoa(opts());
  assert.equal(r.serial, 2);
});

test('nobody listening: CONNECT', async () => {
  await assert.rejects(fetchZone({ ...opts(), address: '127.55.240.6' }), expectCode('VERDICT_ERR_XFR_CONNECT'));
});
