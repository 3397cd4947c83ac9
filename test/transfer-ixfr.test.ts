/**
 * IXFR differences (computed by the publisher, applied by the secondary),
 * the transfer stage's answers, and the reader of transfer streams.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Class, Ede, Opcode, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message, Record } from '../src/dns/message.js';
import { nameFromText, nameKey } from '../src/dns/name.js';
import { AccessList } from '../src/resolver/acl.js';
import type { RequestContext, TransportKind } from '../src/resolver/context.js';
import { Pipeline } from '../src/resolver/pipeline.js';
import { DecodeStage } from '../src/resolver/stages/decode.js';
import { XfrReader } from '../src/rpz/transfer/client.js';
import { TransferError } from '../src/rpz/transfer/errors.js';
import { PublishError, TransferStage, ZonePublisher } from '../src/rpz/transfer/primary.js';
import { findTsig, signRequest, tsigKeyFromConfig, TsigKeyring, TsigRcode, TsigVerifier } from '../src/rpz/transfer/tsig.js';
import { applyDiffs, computeDiff, DiffError, serialGt, soaRdata, soaSerial } from '../src/rpz/transfer/zonedata.js';
import type { ZoneDiff } from '../src/rpz/transfer/zonedata.js';

const Z = nameFromText('feed.rpz.');
const n = (s: string) => nameFromText(s, Z);

function soa(serial: number, zone = Z): Record {
  return { name: zone, type: Type.SOA, class: Class.IN, ttl: 60, rdata: soaRdata({ mname: n('ns'), rname: n('admin'), serial, refresh: 3600, retry: 600, expire: 86400, minimum: 60 }) };
}
function cname(owner: string, ttl = 60): Record {
  return { name: n(owner), type: Type.CNAME, class: Class.IN, ttl, rdata: Buffer.from([0]) };
}
function a(owner: string, last: number): Record {
  return { name: n(owner), type: Type.A, class: Class.IN, ttl: 60, rdata: Buffer.from([192, 0, 2, last]) };
}
const owners = (rs: readonly Record[]) => rs.slice(1).map((r) => `${nameKey(r.name).length}:${r.type}:${r.rdata.toString('hex')}`).sort();

// ---------------------------------------------------------------- serials and diffs

test('serial arithmetic wraps (RFC 1982)', () => {
  assert.equal(serialGt(2, 1), true);
  assert.equal(serialGt(1, 2), false);
  assert.equal(serialGt(0, 0xffffffff), true, 'wrap-around');
  assert.equal(serialGt(5, 5), false);
  assert.equal(serialGt(0x80000000, 0), false, 'exactly half way is undefined: not later');
});

test('differences apply to exact records, owners compared without case', () => {
  const v1 = [soa(1), cname('bad.example'), a('host', 1), a('host', 2)];
  const diff: ZoneDiff = {
    from: 1, to: 2,
    deleted: [soa(1), { ...cname('BAD.Example'), ttl: 999 }, a('HOST', 2)], // TTL is not part of the identity (RFC 2181 5)
    added: [soa(2), cname('mirror.example'), a('host', 3)],
  };
  const v2 = applyDiffs(v1, [diff]);
  assert.equal(soaSerial(v2[0]!.rdata), 2);
  assert.deepEqual(owners(v2), owners([soa(2), a('host', 1), cname('mirror.example'), a('host', 3)]));
  assert.equal(v1.length, 4, 'the input is not modified');
});

test('differences that do not fit the zone are refused', () => {
  const v1 = [soa(1), cname('bad.example')];
  const d = (deleted: Record[], added: Record[], from = 1, to = 2): ZoneDiff => ({ from, to, deleted: [soa(from), ...deleted], added: [soa(to), ...added] });
  assert.throws(() => applyDiffs(v1, [d([cname('absent.example')], [])]), DiffError, 'deleting what is not there');
  assert.throws(() => applyDiffs(v1, [d([], [cname('bad.example')])]), DiffError, 'adding what is there');
  assert.throws(() => applyDiffs(v1, [d([], [], 5, 6)]), DiffError, 'starting from another serial');
  assert.throws(() => applyDiffs(v1, [d([a('x', 1)], [])]), DiffError, 'RDATA must match exactly');
  assert.throws(() => applyDiffs(v1, [d([{ ...cname('bad.example'), class: Class.CH }], [])]), DiffError, 'class IN only');
  // Two sequences in a row apply in order.
  const v3 = applyDiffs(v1, [d([], [cname('one')]), d([cname('one')], [cname('two')], 2, 3)]);
  assert.deepEqual(owners(v3), owners([soa(3), cname('bad.example'), cname('two')]));
});

test('computeDiff gives what applyDiffs needs; a TTL change is a delete and an add', () => {
  const v1 = [soa(1), cname('keep'), cname('gone'), cname('ttl', 60)];
  const v2 = [soa(2), cname('keep'), cname('new'), cname('ttl', 300)];
  const diff = computeDiff(v1, v2);
  assert.equal(diff.from, 1);
  assert.equal(diff.to, 2);
  assert.equal(diff.deleted[0]!.type, Type.SOA);
  assert.equal(diff.added[0]!.type, Type.SOA);
  assert.deepEqual(diff.deleted.slice(1).map((r) => r.name), [n('gone'), n('ttl')]);
  assert.deepEqual(diff.added.slice(1).map((r) => r.name), [n('new'), n('ttl')]);
  const applied = applyDiffs(v1, [diff]);
  assert.equal(applied.find((r) => r.name.equals(n('ttl')))!.ttl, 300);
  assert.deepEqual(owners(applied), owners(v2));
});

// ---------------------------------------------------------------- publisher

test('the publisher keeps versions, refuses going back, and bounds its history', () => {
  const p = new ZonePublisher({ historySize: 2 });
  p.publish(Z, [soa(0), cname('a'), cname('a')], 1);
  assert.equal(p.get(Z)!.records.length, 2, 'duplicates dropped, SOA first');
  assert.equal(soaSerial(p.get(Z)!.records[0]!.rdata), 1, 'the serial is the one published');
  assert.equal(p.publish(Z, [cname('a'), soa(7)], 1), p.get(Z), 'same serial, same content: nothing changes');
  assert.throws(() => p.publish(Z, [soa(0), cname('b')], 1), PublishError, 'same serial, other content');
  assert.throws(() => p.publish(Z, [soa(0), cname('b')], 0), PublishError, 'older serial');
  assert.throws(() => p.publish(Z, [cname('b')], 2), PublishError, 'no SOA');
  assert.throws(() => p.publish(Z, [soa(0), { ...cname('x'), name: nameFromText('elsewhere.') }], 2), PublishError, 'outside the zone');
  for (let s = 2; s <= 4; s++) p.publish(Z, [soa(0), cname('a'), cname(`v${s}`)], s);
  const z = p.get(Z)!;
  assert.deepEqual(z.history.map((d) => [d.from, d.to]), [[2, 3], [3, 4]]);
});

// ---------------------------------------------------------------- the stage

const key = tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 3).toString('base64') });
const big = Array.from({ length: 1500 }, (_, i) => cname(`rule-${i}.example`));

function publisherWithHistory(): ZonePublisher {
  const p = new ZonePublisher();
  p.publish(Z, [soa(0), ...big], 1);
  p.publish(Z, [soa(0), ...big.slice(1), cname('mirror-1.example')], 2);
  p.publish(Z, [soa(0), ...big.slice(2), cname('mirror-1.example'), cname('mirror-2.example')], 3);
  p.publish(nameFromText('signed.rpz.'), [soa(0, nameFromText('signed.rpz.')), { ...cname('x'), name: nameFromText('x.signed.rpz.') }], 9, { tsig: key.name });
  return p;
}

interface Run {
  ctx: RequestContext;
  result: Buffer | undefined;
  messages: Message[];
}

function run(stage: TransferStage, query: Buffer, transport: TransportKind = 'tcp', address = '127.0.0.1'): Run {
  const ctx: RequestContext = { raw: query, client: { address, port: 5555 }, transport, started: 0, maxSize: 512, notes: {} };
  const result = new Pipeline([new DecodeStage(1232, true), stage]).run(ctx) as Buffer | undefined;
  const wires = result ? [result, ...(ctx.moreWires ?? [])] : [];
  return { ctx, result, messages: wires.map((w) => decodeMessage(w)) };
}

function ixfrQuery(serial: number, id = 99): Buffer {
  const q = makeQuery(id, Z, Type.IXFR);
  q.authorities.push(soa(serial));
  return encodeMessage(q);
}

function allRecords(ms: Message[]): Record[] {
  return ms.flatMap((m) => m.answers);
}

test('AXFR streams the zone in messages of at most 16 KiB, SOA first and last', () => {
  const stage = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']) });
  const r = run(stage, encodeMessage(makeQuery(7, Z, Type.AXFR)));
  assert.ok(r.messages.length >= 2, `${r.messages.length} messages`);
  for (const w of [r.result!, ...r.ctx.moreWires!]) assert.ok(w.length <= 16384, `message of ${w.length} bytes`);
  const rrs = allRecords(r.messages);
  assert.equal(rrs.length, 1502, 'SOA, 1500 rules (2 of them replaced by mirrors), SOA');
  assert.equal(rrs[0]!.type, Type.SOA);
  assert.equal(rrs.at(-1)!.type, Type.SOA);
  assert.equal(soaSerial(rrs[0]!.rdata), 3);
  assert.ok(r.messages.every((m) => m.id === 7 && m.qr && m.aa && m.rcode === 0));
  assert.equal(r.messages[0]!.questions.length, 1, 'the question in the first message');
  // Our own reader accepts the stream.
  const reader = new XfrReader(Z, Type.AXFR, 7, undefined, 10_000);
  const done = r.messages.map((m) => reader.push(m));
  assert.deepEqual(done.slice(0, -1).every((d) => !d), true);
  assert.equal(done.at(-1), true);
  const res = reader.result();
  assert.equal(res.kind === 'axfr' && res.records.length, 1501);
});

test('IXFR from a serial in the history gets the difference sequence; from an unknown one the whole zone', () => {
  const stage = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']) });
  const r = run(stage, ixfrQuery(1));
  assert.equal(r.ctx.notes.transferKind, 'ixfr');
  const rrs = allRecords(r.messages);
  assert.deepEqual(rrs.filter((x) => x.type === Type.SOA).map((x) => soaSerial(x.rdata)), [3, 1, 2, 2, 3, 3]);
  const reader = new XfrReader(Z, Type.IXFR, 99, 1, 10_000);
  r.messages.forEach((m) => reader.push(m));
  const res = reader.result();
  assert.equal(res.kind, 'ixfr');
  if (res.kind !== 'ixfr') return;
  assert.deepEqual(res.diffs.map((d) => [d.from, d.to, d.deleted.length, d.added.length]), [[1, 2, 2, 2], [2, 3, 2, 2]]);

  const unknown = run(stage, ixfrQuery(0)); // older than the history reaches
  assert.equal(unknown.ctx.notes.transferKind, 'ixfr-axfr');
  assert.equal(allRecords(unknown.messages).length, 1502);

  const current = run(stage, ixfrQuery(3));
  assert.equal(current.messages.length, 1);
  assert.equal(current.messages[0]!.answers.length, 1, 'up to date: the SOA alone');
});

test('every transfer request is reported with its kind and result (verdict_zone_transfers_served_total)', () => {
  const seen: string[] = [];
  const stage = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']), onTransfer: (_z, kind, result) => seen.push(`${kind}/${result}`) });
  run(stage, encodeMessage(makeQuery(7, Z, Type.AXFR)));
  run(stage, ixfrQuery(1));
  run(stage, ixfrQuery(3));
  run(stage, ixfrQuery(0));
  run(stage, ixfrQuery(1), 'udp');
  run(stage, encodeMessage(makeQuery(1, Z, Type.AXFR)), 'udp');
  run(stage, encodeMessage(makeQuery(1, Z, Type.AXFR)), 'tcp', '192.0.2.1');
  run(stage, encodeMessage(makeQuery(1, nameFromText('other.example.'), Type.AXFR)));
  assert.deepEqual(seen, ['axfr/axfr', 'ixfr/ixfr', 'ixfr/ixfr-uptodate', 'ixfr/ixfr-axfr', 'ixfr/ixfr-udp', 'axfr/formerr', 'axfr/refused', 'axfr/notauth']);
});

test('transfers over UDP: IXFR gets the SOA alone, AXFR is FORMERR', () => {
  const stage = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']) });
  const ixfr = run(stage, ixfrQuery(1), 'udp');
  assert.equal(ixfr.messages.length, 1);
  assert.equal(ixfr.messages[0]!.answers.length, 1);
  assert.equal(soaSerial(ixfr.messages[0]!.answers[0]!.rdata), 3);
  const axfr = run(stage, encodeMessage(makeQuery(1, Z, Type.AXFR)), 'udp');
  assert.equal(axfr.messages[0]!.rcode, Rcode.FORMERR);
});

test('transfers are refused outside transfer.allow, NOTAUTH for unknown zones, FORMERR for IXFR without SOA', () => {
  const stage = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']) });
  const q = makeQuery(1, Z, Type.AXFR, { edns: makeEdns(1232) });
  const refused = run(stage, encodeMessage(q), 'tcp', '192.0.2.1');
  assert.equal(refused.messages[0]!.rcode, Rcode.REFUSED);
  assert.equal(readEde(refused.messages[0]!)[0]!.code, Ede.PROHIBITED);
  const other = run(stage, encodeMessage(makeQuery(1, nameFromText('other.rpz.'), Type.AXFR)));
  assert.equal(other.messages[0]!.rcode, 9);
  const noSoa = run(stage, encodeMessage(makeQuery(1, Z, Type.IXFR)));
  assert.equal(noSoa.messages[0]!.rcode, Rcode.FORMERR);
});

test('a zone with a key needs a request signed with it; the answer is signed message by message', () => {
  const stage = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']), keys: new TsigKeyring([key]) });
  const S = nameFromText('signed.rpz.');
  const unsigned = run(stage, encodeMessage(makeQuery(1, S, Type.AXFR)));
  assert.equal(unsigned.messages[0]!.rcode, Rcode.REFUSED);

  const req = signRequest(encodeMessage(makeQuery(2, S, Type.AXFR)), key);
  const ok = run(stage, req.wire);
  const v = new TsigVerifier(key, req.mac);
  const wires = [ok.result!, ...(ok.ctx.moreWires ?? [])];
  const stripped = wires.map((w) => v.verify(w));
  v.end();
  assert.equal(decodeMessage(stripped[0]!).answers.length, 3);

  // transfer.tsig: a key required for every zone without its own.
  const strict = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']), keys: new TsigKeyring([key]), requireTsig: key.name });
  assert.equal(run(strict, encodeMessage(makeQuery(1, Z, Type.AXFR))).messages[0]!.rcode, Rcode.REFUSED);
  assert.equal(run(strict, signRequest(encodeMessage(makeQuery(1, Z, Type.AXFR)), key).wire).ctx.notes.transferKind, 'axfr');

  // A bad signature: NOTAUTH with the TSIG error, unsigned (RFC 8945 5.3.2).
  const wrong = tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 4).toString('base64') });
  const bad = run(stage, signRequest(encodeMessage(makeQuery(3, S, Type.AXFR)), wrong).wire);
  assert.equal(bad.result![3]! & 0xf, 9);
  assert.equal(findTsig(bad.result!)!.fields.error, TsigRcode.BADSIG);
});

test('NOTIFY: accepted -> NOERROR with AA; refused -> REFUSED; ordinary queries pass through', () => {
  const seen: [string, string, number | undefined][] = [];
  const stage = new TransferStage({
    publisher: new ZonePublisher(), allow: new AccessList([]),
    onNotify: (zone, from, serial) => { seen.push([nameKey(zone), from, serial]); return from === '127.0.0.1'; },
  });
  const notify = emptyMessage({ id: 11, opcode: Opcode.NOTIFY, aa: true, questions: [{ name: Z, type: Type.SOA, class: Class.IN }], answers: [soa(42)] });
  const ok = run(stage, encodeMessage(notify), 'udp');
  assert.equal(ok.messages[0]!.rcode, Rcode.NOERROR);
  assert.equal(ok.messages[0]!.aa, true);
  assert.equal(ok.messages[0]!.opcode, Opcode.NOTIFY);
  assert.equal(ok.messages[0]!.id, 11);
  assert.deepEqual(seen[0], [nameKey(Z), '127.0.0.1', 42]);
  const no = run(stage, encodeMessage(notify), 'udp', '192.0.2.7');
  assert.equal(no.messages[0]!.rcode, Rcode.REFUSED);
  const plain = run(stage, encodeMessage(makeQuery(5, nameFromText('www.example.'), Type.A)), 'udp');
  assert.equal(plain.result, undefined, 'no answer from decode + transfer: the query went on');
  assert.equal(plain.ctx.notes.transfer, undefined);
});

test('SOA queries for a published zone are answered authoritatively to transfer clients only', () => {
  const stage = new TransferStage({ publisher: publisherWithHistory(), allow: new AccessList(['127.0.0.0/8']) });
  const r = run(stage, encodeMessage(makeQuery(1, Z, Type.SOA)), 'udp');
  assert.equal(r.messages[0]!.aa, true);
  assert.equal(soaSerial(r.messages[0]!.answers[0]!.rdata), 3);
  const stranger = run(stage, encodeMessage(makeQuery(1, Z, Type.SOA)), 'udp', '192.0.2.1');
  assert.equal(stranger.result, undefined, 'others go on to the resolver');
});

// ---------------------------------------------------------------- the reader

function msg(id: number, records: Record[], question = true, qtype: number = Type.AXFR): Message {
  return emptyMessage({ id, qr: true, aa: true, questions: question ? [{ name: Z, type: qtype, class: Class.IN }] : [], answers: records });
}

function expectXfr(fn: () => unknown, code: TransferError['code']): void {
  assert.throws(fn, (e: unknown) => e instanceof TransferError && e.code === code, code);
}

test('the reader checks the stream strictly', () => {
  const reader = () => new XfrReader(Z, Type.AXFR, 1, undefined, 5);
  expectXfr(() => reader().push(msg(1, [cname('a')])), 'VERDICT_ERR_XFR_MALFORMED');
  expectXfr(() => reader().push(msg(2, [soa(1)])), 'VERDICT_ERR_XFR_MALFORMED');
  expectXfr(() => reader().push(msg(1, [soa(1), { ...cname('a'), name: nameFromText('evil.example.') }])), 'VERDICT_ERR_XFR_OUT_OF_ZONE');
  expectXfr(() => reader().push(msg(1, [soa(1), cname('a'), soa(2)])), 'VERDICT_ERR_XFR_MALFORMED');
  expectXfr(() => reader().push(msg(1, [soa(1), cname('a'), soa(1), cname('b')])), 'VERDICT_ERR_XFR_MALFORMED');
  expectXfr(() => reader().push(msg(1, [soa(1), cname('a'), cname('b'), cname('c'), cname('d'), cname('e')])), 'VERDICT_ERR_XFR_TOO_LARGE');
  expectXfr(() => reader().push(msg(1, [soa(1), { ...cname('a'), class: Class.CH }])), 'VERDICT_ERR_XFR_MALFORMED');
  expectXfr(() => reader().push({ ...msg(1, []), rcode: Rcode.REFUSED }), 'VERDICT_ERR_XFR_RCODE');
  const r = reader();
  r.push(msg(1, [soa(1), cname('a')]));
  expectXfr(() => r.result(), 'VERDICT_ERR_XFR_MALFORMED');
  assert.equal(r.push(msg(1, [cname('b'), soa(1)], false)), true);
  expectXfr(() => r.push(msg(1, [cname('c')], false)), 'VERDICT_ERR_XFR_MALFORMED');
});

test('the reader tells IXFR, AXFR-style and up to date apart (RFC 1995 4)', () => {
  const upToDate = new XfrReader(Z, Type.IXFR, 1, 5, 100);
  assert.equal(upToDate.push(msg(1, [soa(5)], true, Type.IXFR)), true);
  assert.deepEqual(upToDate.result(), { kind: 'uptodate', serial: 5 });

  const axfrStyle = new XfrReader(Z, Type.IXFR, 1, 5, 100);
  assert.equal(axfrStyle.push(msg(1, [soa(6), cname('a'), soa(6)], true, Type.IXFR)), true);
  assert.equal(axfrStyle.result().kind, 'axfr');

  const lone = new XfrReader(Z, Type.IXFR, 1, 5, 100);
  assert.equal(lone.push(msg(1, [soa(6)], true, Type.IXFR)), false);
  assert.equal(lone.loneNewerSoa, true, 'a lone newer SOA: wait for more, or fall back to AXFR');

  const broken = new XfrReader(Z, Type.IXFR, 1, 5, 100);
  expectXfr(() => broken.push(msg(1, [soa(7), soa(5), cname('x'), soa(6), soa(5)], true, Type.IXFR)), 'VERDICT_ERR_XFR_MALFORMED');
});
