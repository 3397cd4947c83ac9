/** The server's handling of client input, over real sockets; the upstream is a scripted network. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask, tcpExchange, udpExchange } from './helpers/client.js';

/** An upstream that answers every question with one A record, and counts. */
class OneAnswerNet implements Transport {
  count = 0;
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.count++;
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

let v: Verdict;
let port = 0;
const net = new OneAnswerNet();

before(async () => {
  const cfg = parseConfigText('server: { listen: ["127.0.0.1:0"], allow: ["127.0.0.1/32"] }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\n', 'test.yaml');
  v = new Verdict({ config: cfg, file: 'test.yaml', baseDir: '.' }, { transport: net, rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  port = v.server.addresses[0]!.port;
});
after(() => v.stop());

test('a query over UDP and over TCP is answered', async () => {
  const u = await ask('www.example.com.', Type.A, port);
  assert.equal(u.rcode, Rcode.NOERROR);
  assert.equal(u.ra, true);
  assert.deepEqual([...u.answers[0]!.rdata], [192, 0, 2, 1]);
  const t = await ask('www.example.com.', Type.A, port, { tcp: true });
  assert.equal(t.answers.length, 1);
});

test('the reply echoes the question with its case', async () => {
  const m = await ask('WwW.ExAmPle.CoM.', Type.A, port);
  assert.equal(m.questions[0]!.name.toString('latin1').includes('ExAmPle'), true);
});

test('garbage after a readable header gets FORMERR; a short packet is dropped', async () => {
  const bad = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 50, 1, 2]);
  const r = decodeMessage((await udpExchange(bad, port))!);
  assert.equal(r.id, 0x1234);
  assert.equal(r.rcode, Rcode.FORMERR);
  assert.equal(await udpExchange(Buffer.from([1, 2, 3]), port, '127.0.0.1', 300), undefined);
  // A response (QR=1) is never answered.
  const resp = encodeMessage(emptyMessage({ id: 5, qr: true }));
  assert.equal(await udpExchange(resp, port, '127.0.0.1', 300), undefined);
});

test('opcode other than QUERY gets NOTIMP; QDCOUNT other than 1 gets FORMERR', async () => {
  const q = makeQuery(7, nameFromText('example.com.'), Type.SOA);
  q.opcode = 2; // STATUS
  assert.equal(decodeMessage((await udpExchange(encodeMessage(q), port))!).rcode, Rcode.NOTIMP);
  const two = makeQuery(8, nameFromText('a.example.'), Type.A);
  two.questions.push({ name: nameFromText('b.example.'), type: Type.A, class: 1 });
  assert.equal(decodeMessage((await udpExchange(encodeMessage(two), port))!).rcode, Rcode.FORMERR);
  const none = emptyMessage({ id: 9, rd: true });
  assert.equal(decodeMessage((await udpExchange(encodeMessage(none), port))!).rcode, Rcode.FORMERR);
});

test('EDNS: OPT only when asked, BADVERS for version 1', async () => {
  const plain = await ask('e1.example.', Type.A, port);
  assert.equal(plain.edns, undefined);
  const withOpt = await ask('e1.example.', Type.A, port, { edns: makeEdns(4096) });
  assert.equal(withOpt.edns?.udpSize, 1232);
  const v1 = await ask('e1.example.', Type.A, port, { edns: { udpSize: 1232, version: 1, do: false, options: [] } });
  assert.equal(v1.rcode, Rcode.BADVERS);
});

test('RD=0 is answered from the cache only', async () => {
  const before = net.count;
  const miss = await ask('never-asked.example.', Type.A, port, { rd: false });
  assert.equal(miss.answers.length, 0);
  assert.equal(net.count, before, 'no upstream query for RD=0');
  await ask('cached.example.', Type.A, port);
  const hit = await ask('cached.example.', Type.A, port, { rd: false });
  assert.equal(hit.answers.length, 1);
});

test('clients outside the allow-list get REFUSED with an EDE', async () => {
  const cfg = parseConfigText('server: { listen: ["127.0.0.1:0"], allow: ["192.0.2.0/24"] }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\n', 'deny.yaml');
  const closed = new Verdict({ config: cfg, file: 'deny.yaml', baseDir: '.' }, { transport: net });
  await closed.start();
  try {
    const r = await ask('example.com.', Type.A, closed.server.addresses[0]!.port, { edns: makeEdns(1232) });
    assert.equal(r.rcode, Rcode.REFUSED);
    assert.equal(readEde(r)[0]?.code, 18);
  } finally {
    await closed.stop();
  }
});

test('TCP: several queries on one connection, each answered', async () => {
  const qs = [1, 2, 3, 4].map((i) => encodeMessage(makeQuery(100 + i, nameFromText(`t${i}.example.`), Type.A, { rd: true })));
  const replies = (await tcpExchange(qs, port)).map(decodeMessage);
  assert.deepEqual(replies.map((r) => r.id).sort(), [101, 102, 103, 104]);
});

test('ANY over UDP gets the minimal RFC 8482 answer; over TCP it is resolved', async () => {
  const before = net.count;
  const u = await ask('any.example.', Type.ANY, port);
  assert.equal(u.answers.length, 1);
  assert.equal(u.answers[0]!.type, Type.HINFO);
  assert.equal(u.answers[0]!.rdata.subarray(1, 8).toString(), 'RFC8482');
  assert.equal(net.count, before, 'no upstream query');
  await ask('any.example.', Type.ANY, port, { tcp: true });
  assert.ok(net.count > before);
});
