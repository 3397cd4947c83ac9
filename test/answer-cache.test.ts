import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import { makeEdns } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { AnswerCache, answerKey, ttlOffsets } from '../src/resolver/cache/answers.js';

function answerFor(qname: string) {
  const q = makeQuery(1, nameFromText(qname), Type.A, { rd: true, edns: makeEdns(1232) });
  const m = emptyMessage({ id: 1, qr: true, rd: true, ra: true, questions: q.questions, edns: makeEdns(1232) });
  m.answers = [
    { name: nameFromText('www.example.com.'), type: Type.CNAME, class: 1, ttl: 300, rdata: nameFromText('web.example.com.') },
    { name: nameFromText('web.example.com.'), type: Type.A, class: 1, ttl: 60, rdata: Buffer.from([192, 0, 2, 1]) },
  ];
  return { q, wire: encodeMessage(m) };
}

test('TTL offsets skip the OPT record', () => {
  const { wire } = answerFor('www.example.com.');
  const offs = ttlOffsets(wire);
  assert.equal(offs.length, 2);
  assert.deepEqual(offs.map((o) => wire.readUInt32BE(o)), [300, 60]);
});

test('a hit carries the client\'s ID, RD bit and question case, with TTLs counted down', () => {
  let now = 0;
  const cache = new AnswerCache(100, () => now);
  const { q, wire } = answerFor('www.example.com.');
  cache.store(answerKey(q), wire, 60);
  now = 10_500;
  const client = makeQuery(0xbeef, nameFromText('WWW.Example.COM.'), Type.A, { rd: true, edns: makeEdns(4096) });
  const raw = encodeMessage(client);
  const out = decodeMessage(cache.reply(answerKey(client), raw, client.questions[0]!.name, 1232)!);
  assert.equal(out.id, 0xbeef);
  assert.equal(nameToText(out.questions[0]!.name), 'WWW.Example.COM.');
  assert.deepEqual(out.answers.map((r) => r.ttl), [290, 50]);
  assert.equal(out.rd, true);
  now = 61_000;
  assert.equal(cache.reply(answerKey(client), raw, client.questions[0]!.name, 1232), undefined, 'expired');
});

test('a reply larger than the client accepts is a miss (the slow path truncates it)', () => {
  const cache = new AnswerCache(100);
  const { q, wire } = answerFor('www.example.com.');
  cache.store(answerKey(q), wire, 60);
  const raw = encodeMessage(q);
  assert.equal(cache.reply(answerKey(q), raw, q.questions[0]!.name, wire.length - 1), undefined);
  assert.ok(cache.reply(answerKey(q), raw, q.questions[0]!.name, wire.length));
});

test('queries without EDNS or with DO set are different entries', () => {
  const a = makeQuery(1, nameFromText('x.example.'), Type.A, { rd: true });
  const b = makeQuery(1, nameFromText('x.example.'), Type.A, { rd: true, edns: makeEdns(1232) });
  const c = makeQuery(1, nameFromText('X.example.'), Type.A, { rd: true, edns: makeEdns(1232, true) });
  assert.equal(new Set([answerKey(a), answerKey(b), answerKey(c)]).size, 3);
});
