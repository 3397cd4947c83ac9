/**
 * The wire-form fast path (src/resolver/fastpath.ts): it answers only what the
 * pipeline would answer from the same cache entry, and hands everything else
 * on. Units on raw packets, then a real server over UDP and TCP.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import { makeEdns } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import { nameFromText, nameKey, nameToText } from '../src/dns/name.js';
import { parseConfigText } from '../src/config/load.js';
import { parseZoneString } from '../src/rpz/masterfile.js';
import { PolicySet } from '../src/rpz/policy.js';
import { PolicyZoneBuilder } from '../src/rpz/zone.js';
import type { PolicyZoneOptions } from '../src/rpz/zone.js';
import { AnswerCache, answerKey } from '../src/resolver/cache/answers.js';
import { FastPath, fastCountKey } from '../src/resolver/fastpath.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask, tcpExchange, udpExchange } from './helpers/client.js';

const n = (s: string) => nameFromText(s.endsWith('.') ? s : s + '.');

function policy(body: string, opts: PolicyZoneOptions = {}): PolicySet {
  const b = new PolicyZoneBuilder('rpz.test', opts);
  parseZoneString(`$TTL 300\n@ SOA ns.rpz.test. host.rpz.test. 1 3600 600 86400 120\n@ NS localhost.\n${body}\n`, (rr) => b.add(rr), { origin: n('rpz.test') });
  return new PolicySet([b.build()]);
}

/** A cache holding one answer for www.example.com/A (EDNS), and a fast path over it. */
function setup(opts: { set?: PolicySet; admits?: boolean; now?: () => number } = {}) {
  const answers = new AnswerCache(100, opts.now);
  const q = makeQuery(1, n('www.example.com'), Type.A, { rd: true, edns: makeEdns(1232) });
  const m = emptyMessage({ id: 1, qr: true, rd: true, ra: true, questions: q.questions, edns: makeEdns(1232) });
  m.answers = [{ name: n('www.example.com'), type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) }];
  const wire = encodeMessage(m);
  answers.store(answerKey(q), wire, 300);
  const set = opts.set ?? new PolicySet([]);
  const fast = new FastPath({ answers, policy: () => set, admits: () => opts.admits ?? true, maxUdpSize: 1232 });
  return { fast, wire, answers };
}

const query = (name: string, type: number = Type.A, o: { rd?: boolean; edns?: boolean; id?: number; cd?: boolean } = {}) => {
  return encodeMessage(makeQuery(o.id ?? 0x1234, nameFromText(name), type, { rd: o.rd ?? true, cd: o.cd ?? false, ...(o.edns === false ? {} : { edns: makeEdns(4096) }) }));
};

test('a hit is the stored reply with the client\'s ID and question case', () => {
  let now = 1_000_000;
  const { fast } = setup({ now: () => now });
  now += 7_200;
  const out = fast.answer(query('WwW.ExAmPlE.cOm.', Type.A, { id: 0xbeef }), '192.0.2.9', 'udp');
  assert.ok(out, 'answered by the fast path');
  const m = decodeMessage(out);
  assert.equal(m.id, 0xbeef);
  assert.equal(nameToText(m.questions[0]!.name), 'WwW.ExAmPlE.cOm.');
  assert.equal(m.answers[0]!.ttl, 293, 'TTL counted down by whole seconds');
  assert.equal(fast.answered, 1);
  assert.equal(fast.counts.get(fastCountKey(Type.A, 0, 'udp')), 1, 'counted as A/NOERROR/udp');
});

test('its key is the pipeline\'s key, for names of every case', () => {
  const names = ['a.', 'WWW.EXAMPLE.COM.', 'x-Y_z.Example.', 'Mixed.Case.LABELS.with.digits09.'];
  for (const name of names) {
    const answers = new AnswerCache(10);
    const raw = query(name, Type.AAAA);
    const m = emptyMessage({ id: 1, qr: true, rd: true, ra: true, questions: decodeMessage(raw).questions, edns: makeEdns(1232) });
    m.answers = [{ name: n(name), type: Type.AAAA, class: 1, ttl: 60, rdata: Buffer.alloc(16, 1) }];
    answers.store(answerKey(decodeMessage(raw)), encodeMessage(m), 60);
    const fast = new FastPath({ answers, policy: () => new PolicySet([]), admits: () => true, maxUdpSize: 1232 });
    assert.ok(fast.answer(raw, '192.0.2.9', 'udp'), name);
  }
  // nameKey, the key of every map: fast form and byte-by-byte form agree, and latin1 letters stay distinct.
  assert.equal(nameKey(Buffer.from([3, 0x41, 0x62, 0x43, 0])), '\x03abc\x00');
  assert.notEqual(nameKey(Buffer.from([1, 0xc0, 0])), nameKey(Buffer.from([1, 0xe0, 0])));
  assert.equal(nameKey(Buffer.from([2, 0xc0, 0x41, 0])), '\x02\xc0a\x00');
});

test('what it is not sure of goes to the pipeline', () => {
  const { fast } = setup();
  const ok = query('www.example.com.');
  assert.ok(fast.answer(ok, '192.0.2.9', 'udp'));
  const cases: [string, Buffer][] = [
    ['RD=0', query('www.example.com.', Type.A, { rd: false })],
    ['no EDNS: another key, a miss', query('www.example.com.', Type.A, { edns: false })],
    ['CD=1: another key, a miss', query('www.example.com.', Type.A, { cd: true })],
    ['ANY', query('www.example.com.', Type.ANY)],
    ['another name', query('mail.example.com.')],
    ['a trailing byte', Buffer.concat([ok, Buffer.from([0])])],
    ['truncated', ok.subarray(0, ok.length - 3)],
    ['QR=1', Buffer.from(ok).fill(0x81, 2, 3)],
  ];
  const badVersion = Buffer.from(ok);
  badVersion[ok.length - 11 + 6] = 1; // OPT TTL: version 1
  cases.push(['EDNS version 1', badVersion]);
  const chaos = Buffer.from(ok);
  chaos.writeUInt16BE(3, 12 + 17 + 2); // class CH
  cases.push(['class CH', chaos]);
  const twoQ = Buffer.from(ok);
  twoQ.writeUInt16BE(2, 4);
  cases.push(['QDCOUNT 2', twoQ]);
  const badOpt = Buffer.from(ok);
  badOpt.writeUInt16BE(3, ok.length - 2); // RDLENGTH runs past the end
  cases.push(['OPT runs past the end', badOpt]);
  // The same name with a compression pointer in the question.
  const pointer = Buffer.concat([ok.subarray(0, 12), Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 0x0c]), ok.subarray(12 + 17)]);
  cases.push(['compressed question', pointer]);
  const high = query('www.example.com.');
  high[13] = 0xd7; // 'w' -> a latin1 letter: String.toLowerCase would fold it
  cases.push(['a byte above 0x7f', high]);
  for (const [what, raw] of cases) assert.equal(fast.answer(raw, '192.0.2.9', 'udp'), undefined, what);
  assert.equal(fast.answered, 1);
});

test('a reply larger than the client accepts goes to the pipeline (which truncates)', () => {
  const answers = new AnswerCache(10);
  const raw = query('big.example.', Type.TXT);
  const m = emptyMessage({ id: 1, qr: true, rd: true, ra: true, questions: decodeMessage(raw).questions, edns: makeEdns(1232) });
  for (let i = 0; i < 8; i++) m.answers.push({ name: n('big.example'), type: Type.TXT, class: 1, ttl: 60, rdata: Buffer.concat([Buffer.from([200]), Buffer.alloc(200, 0x61 + i)]) });
  answers.store(answerKey(decodeMessage(raw)), encodeMessage(m), 60);
  const fast = new FastPath({ answers, policy: () => new PolicySet([]), admits: () => true, maxUdpSize: 1232 });
  assert.equal(fast.answer(raw, '192.0.2.9', 'udp'), undefined, 'UDP: 1232 is too small');
  assert.ok(fast.answer(raw, '192.0.2.9', 'tcp'), 'TCP: it fits');
});

test('every policy hit, applied or log-only, and a refused client go to the pipeline', () => {
  assert.equal(setup({ set: policy('www.example.com CNAME .') }).fast.answer(query('www.example.com.'), '192.0.2.9', 'udp'), undefined, 'QNAME hit');
  assert.equal(setup({ set: policy('*.example.com CNAME rpz-passthru.') }).fast.answer(query('www.example.com.'), '192.0.2.9', 'udp'), undefined, 'PASSTHRU must still be counted');
  assert.equal(setup({ set: policy('www.example.com CNAME .', { logOnly: true }) }).fast.answer(query('www.example.com.'), '192.0.2.9', 'udp'), undefined, 'log-only hit must be logged');
  assert.equal(setup({ set: policy('32.9.2.0.192.rpz-client-ip CNAME .') }).fast.answer(query('www.example.com.'), '192.0.2.9', 'udp'), undefined, 'client-ip hit');
  assert.ok(setup({ set: policy('32.9.2.0.192.rpz-client-ip CNAME .') }).fast.answer(query('www.example.com.'), '192.0.2.10', 'udp'), 'another client: no hit');
  assert.ok(setup({ set: policy('other.example CNAME .') }).fast.answer(query('www.example.com.'), '192.0.2.9', 'udp'), 'a policy without a hit');
  assert.equal(setup({ admits: false }).fast.answer(query('www.example.com.'), '192.0.2.9', 'udp'), undefined, 'refused or over its rate');
});

class Net implements Transport {
  upstream = 0;
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.upstream++;
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

async function server(o: { server?: string; log?: string } = {}) {
  const net = new Net();
  const cfg = parseConfigText(`server: { listen: ["127.0.0.1:0"]${o.server ?? ''} }\nresolver: { qname_minimisation: false }\nlog: { level: silent${o.log ?? ''} }\ncontrol: { enabled: false }\ndnssec: { validation: false }\n`, 't.yaml');
  const v = new Verdict({ config: cfg, file: 't.yaml', baseDir: '.' }, { transport: net, rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  return { v, net, port: v.server.addresses[0]!.port };
}

test('a real server: repeats are answered by the fast path over UDP and TCP, identical to the pipeline\'s', async () => {
  const { v, net, port } = await server();
  try {
    const fast = (v as unknown as { fastPath: FastPath }).fastPath;
    const first = await udpExchange(query('www.example.org.', Type.A, { id: 7 }), port);
    assert.ok(first);
    assert.equal(fast.answered, 0, 'the first is resolved by the pipeline');
    const upstream = net.upstream;
    const again = await udpExchange(query('www.example.org.', Type.A, { id: 7 }), port);
    assert.equal(fast.answered, 1, 'the repeat is answered by the fast path');
    assert.deepEqual(again, first, 'byte for byte the same reply (same second)');
    const [t1, t2] = await tcpExchange([query('WWW.example.org.', Type.A, { id: 8 }), query('www.EXAMPLE.org.', Type.A, { id: 9 })], port);
    assert.equal(fast.answered, 3);
    assert.equal(decodeMessage(t1!).id, 8);
    assert.equal(nameToText(decodeMessage(t2!).questions[0]!.name), 'www.EXAMPLE.org.');
    assert.equal(net.upstream, upstream, 'no upstream query after the first answer');
    const rd0 = await ask('www.example.org.', Type.A, port, { rd: false });
    assert.equal(rd0.answers.length, 1, 'RD=0 is answered by the pipeline, from its cache');
    assert.equal(fast.answered, 3);
  } finally {
    await v.stop();
  }
});

test('a real server: the rate limit holds on the fast path, and log.queries turns it off', async () => {
  const limited =  await server({ server: ', rate_limit: { qps: 1, burst: 3, limit_loopback: true }' });
  try {
    const fast = (limited.v as unknown as { fastPath: FastPath }).fastPath;
    let answered = 0;
    for (let i = 0; i < 10; i++) if (await udpExchange(query('www.example.net.', Type.A, { id: i }), limited.port, '127.0.0.1', 300)) answered++;
    assert.ok(answered >= 3 && answered <= 5, `burst 3 at 1 q/s: ${answered} of 10 answered`);
    assert.ok(fast.answered <= answered - 1, 'the fast path answered only within the budget');
  } finally {
    await limited.v.stop();
  }
  const logged = await server({ log: ', queries: true' });
  try {
    const fast = (logged.v as unknown as { fastPath: FastPath }).fastPath;
    for (let i = 0; i < 3; i++) assert.ok(await udpExchange(query('www.example.net.', Type.A, { id: i }), logged.port));
    assert.equal(fast.answered, 0, 'with a query log every query goes through the pipeline');
  } finally {
    await logged.v.stop();
  }
});
