import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import { addEde, makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery, readName, WireError } from '../src/dns/message.js';
import type { Record } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';

const n = (t: string) => nameFromText(t);
const a = (owner: string, ip: string, ttl = 300): Record => ({ name: n(owner), type: Type.A, class: 1, ttl, rdata: Buffer.from(ip.split('.').map(Number)) });
const cname = (owner: string, target: string): Record => ({ name: n(owner), type: Type.CNAME, class: 1, ttl: 300, rdata: n(target) });

test('encode compresses owner names and names inside CNAME/MX/SOA RDATA', () => {
  const m = emptyMessage({ id: 7, qr: true, questions: [{ name: n('www.example.com.'), type: Type.A, class: 1 }] });
  m.answers = [cname('www.example.com.', 'web.example.com.'), a('web.example.com.', '192.0.2.1'), a('web.example.com.', '192.0.2.2')];
  const wire = encodeMessage(m);
  // Uncompressed, each of the 4 names would cost 17+ bytes; with pointers, far less.
  assert.ok(wire.length < 12 + 21 + 4 * 16 + 2 * 4 + 10, `length ${wire.length}`);
  const back = decodeMessage(wire);
  assert.equal(back.answers.length, 3);
  assert.equal(nameToText(back.answers[0]!.rdata), 'web.example.com.');
  assert.equal(nameToText(back.answers[2]!.name), 'web.example.com.');
});

test('decode rejects pointer loops, forward pointers and truncation', () => {
  const loop = Buffer.from([0xc0, 0x00]);
  assert.throws(() => readName(loop, 0), WireError);
  const fwd = Buffer.from([0xc0, 0x05, 0, 0, 0, 1, 97, 0]);
  assert.throws(() => readName(fwd, 0), WireError);
  const q = encodeMessage(makeQuery(1, n('example.com.'), Type.A));
  assert.throws(() => decodeMessage(q.subarray(0, q.length - 1)), WireError);
  assert.throws(() => decodeMessage(Buffer.concat([q, Buffer.from([0])])), WireError);
});

test('EDNS round trip with extended rcode, DO bit and EDE text', () => {
  const m = emptyMessage({ id: 9, qr: true, rcode: 16, edns: makeEdns(1232, true), questions: [] });
  addEde(m, 16, 'TGI Paris 2013-11-28');
  const back = decodeMessage(encodeMessage(m));
  assert.equal(back.rcode, 16);
  assert.equal(back.edns?.udpSize, 1232);
  assert.equal(back.edns?.do, true);
  assert.deepEqual(readEde(back), [{ code: 16, text: 'TGI Paris 2013-11-28' }]);
});

test('a reply too large for the client is cut cleanly with TC', () => {
  const m = emptyMessage({ id: 3, qr: true, questions: [{ name: n('big.example.'), type: Type.TXT, class: 1 }] });
  for (let i = 0; i < 20; i++) m.answers.push({ name: n('big.example.'), type: Type.TXT, class: 1, ttl: 60, rdata: Buffer.concat([Buffer.from([100]), Buffer.alloc(100, 0x61)]) });
  const cut = decodeMessage(encodeMessage(m, 512));
  assert.equal(cut.tc, true);
  assert.equal(cut.answers.length, 0);
  assert.equal(cut.questions.length, 1);
  const whole = decodeMessage(encodeMessage(m, 65535));
  assert.equal(whole.tc, false);
  assert.equal(whole.answers.length, 20);
});

test('additional records are dropped before the answer is truncated', () => {
  const m = emptyMessage({ id: 3, qr: true, questions: [{ name: n('x.example.'), type: Type.A, class: 1 }] });
  m.answers = [a('x.example.', '192.0.2.1')];
  for (let i = 0; i < 40; i++) m.additionals.push(a(`ns${i}.example.`, '192.0.2.9'));
  const out = decodeMessage(encodeMessage(m, 512));
  assert.equal(out.tc, false);
  assert.equal(out.answers.length, 1);
  assert.equal(out.additionals.length, 0);
});

test('unknown types pass through byte for byte (RFC 3597)', () => {
  const rr: Record = { name: n('x.example.'), type: 65280, class: 1, ttl: 5, rdata: Buffer.from([1, 2, 3, 0xc0, 0]) };
  const m = emptyMessage({ answers: [rr] });
  assert.deepEqual(decodeMessage(encodeMessage(m)).answers[0]!.rdata, rr.rdata);
});
