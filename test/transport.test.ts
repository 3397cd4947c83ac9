/** Upstream transport over real loopback sockets: spoofing resistance, TC -> TCP, EDNS fallback. */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { after, test } from 'node:test';
import { Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText, namesEqual } from '../src/dns/name.js';
import { NetTransport } from '../src/resolver/transport.js';

const ADDR = '127.55.250.1';
const open: (UdpSocket | Server)[] = [];
after(() => { for (const s of open) s.close(); });

function answerFor(q: Message, ip: number[]): Message {
  const m = emptyMessage({ id: q.id, qr: true, aa: true, questions: q.questions });
  m.answers.push({ name: q.questions[0]!.name, type: Type.A, class: 1, ttl: 60, rdata: Buffer.from(ip) });
  return m;
}

async function udpServer(handler: (q: Message, raw: Buffer, reply: (b: Buffer) => void, rinfo: { address: string; port: number }) => void, port = 0): Promise<number> {
  const s = createSocket('udp4');
  open.push(s);
  s.on('message', (raw, rinfo) => handler(decodeMessage(raw), raw, (b) => s.send(b, rinfo.port, rinfo.address), rinfo));
  await new Promise<void>((r) => s.bind(port, ADDR, r));
  return s.address().port;
}

test('forged replies (wrong ID, wrong case, wrong port) are ignored; the real one is taken', async () => {
  const forger = createSocket('udp4');
  open.push(forger);
  await new Promise<void>((r) => forger.bind(0, ADDR, r));
  let sentName: Buffer | undefined;
  const port = await udpServer((q, _raw, reply, rinfo) => {
    sentName = q.questions[0]!.name;
    const forged = answerFor(q, [203, 0, 113, 66]);
    // 1) guessed IDs from the right address and port
    for (let i = 0; i < 200; i++) reply(encodeMessage({ ...forged, id: (q.id + 1 + i) & 0xffff }));
    // 2) right ID but the question in another case (0x20 check)
    const lower = { ...forged, questions: [{ ...q.questions[0]!, name: Buffer.from(q.questions[0]!.name.toString('latin1').toLowerCase(), 'latin1') }] };
    if (!lower.questions[0]!.name.equals(q.questions[0]!.name)) reply(encodeMessage(lower));
    // 3) right ID and question from another port (off-path sender on the same host)
    forger.send(encodeMessage(forged), rinfo.port, rinfo.address);
    // 4) then the real answer
    setTimeout(() => reply(encodeMessage(answerFor(q, [192, 0, 2, 1]))), 20);
  });
  const t = new NetTransport();
  const r = await t.query({ address: ADDR, port, name: nameFromText('WwW.Example.com.'), type: Type.A, timeoutMs: 2000 });
  assert.deepEqual([...r.message.answers[0]!.rdata], [192, 0, 2, 1]);
  assert.ok(t.stats.mismatched >= 201, `mismatched ${t.stats.mismatched}`);
  assert.ok(sentName && namesEqual(sentName, nameFromText('www.example.com.')));
});

test('off-path flood: 0 forged answers accepted in 10,000 attempts', async () => {
  // Each upstream query is raced by a burst of 100 forgeries with random IDs sent to the
  // query's source port (the attacker is granted the port, the hardest case); 100 queries.
  const forger = createSocket('udp4');
  open.push(forger);
  await new Promise<void>((r) => forger.bind(0, ADDR, r));
  let serverPort = 0;
  serverPort = await udpServer((q, _raw, reply, rinfo) => {
    const forged = answerFor(q, [203, 0, 113, 66]);
    for (let i = 0; i < 100; i++) {
      // Forgeries carry the server's address in real attacks; here they come from the same
      // address but a different port, plus guessed IDs from the real port.
      // Random wrong IDs: a guess that hits the real ID (1 in 65,536) is the attack's cost, not a defect.
      const m = encodeMessage({ ...forged, id: (q.id + 1 + Math.floor(Math.random() * 65535)) & 0xffff });
      if (i % 2) reply(m);
      else forger.send(m, rinfo.port, rinfo.address);
    }
    setTimeout(() => reply(encodeMessage(answerFor(q, [192, 0, 2, 1]))), 5);
  });
  const t = new NetTransport();
  let forgedAccepted = 0;
  for (let i = 0; i < 100; i++) {
    const r = await t.query({ address: ADDR, port: serverPort, name: nameFromText(`q${i}.example.com.`), type: Type.A, timeoutMs: 2000 });
    if (r.message.answers[0]!.rdata[0] === 203) forgedAccepted++;
  }
  assert.equal(forgedAccepted, 0);
  // The figure: every one of the 10,000 forgeries reached the query's socket before the real
  // answer and was counted as not matching (none was lost on the way, none was taken).
  assert.equal(t.stats.mismatched, 10_000);
});

test('blind off-path flood: 10,000 forgeries with any ID (the real one included) but not the 0x20 case: 0 accepted', async () => {
  // An attacker who cannot see the query guesses the ID from all 65,536 values and writes the
  // name in lower case; here it is even granted the source port. A guessed ID that matches is
  // still refused: the question must come back byte for byte as sent, in the mixed case of
  // the query (0x20, draft-vixie-dnsext-dns0x20).
  let idHits = 0;
  const serverPort = await udpServer((q, _raw, reply) => {
    const lower = { ...q.questions[0]!, name: Buffer.from(q.questions[0]!.name.toString('latin1').toLowerCase(), 'latin1') };
    const forged = { ...answerFor(q, [203, 0, 113, 66]), questions: [lower] };
    for (let i = 0; i < 100; i++) {
      // Every 25th guess is the real ID, as a lucky attacker's would be.
      const id = i % 25 === 0 ? q.id : Math.floor(Math.random() * 65536);
      if (id === q.id) idHits++;
      reply(encodeMessage({ ...forged, id }));
    }
    setTimeout(() => reply(encodeMessage(answerFor(q, [192, 0, 2, 1]))), 5);
  });
  const t = new NetTransport();
  let forgedAccepted = 0;
  let caseless = 0;
  for (let i = 0; i < 100; i++) {
    // 14 letters per name: 2^14 case patterns. When the sent name happens to be all lower case
    // (1 in 16,384) the attacker guessed the case too; that is the attack's cost, not a defect.
    const r = await t.query({ address: ADDR, port: serverPort, name: nameFromText(`q${i}abcdef.example.`), type: Type.A, timeoutMs: 2000 });
    const guessable = r.sentName.equals(nameFromText(`q${i}abcdef.example.`));
    if (guessable) caseless++;
    else if (r.message.answers[0]!.rdata[0] === 203) forgedAccepted++;
  }
  assert.ok(idHits >= 400, `${idHits} forgeries carried the real ID`);
  assert.equal(forgedAccepted, 0);
  if (caseless === 0) assert.equal(t.stats.mismatched, 10_000);
});

test('a truncated UDP answer is retried over TCP', async () => {
  let tcpPort = 0;
  const udpPort = await udpServer((q, _raw, reply) => reply(encodeMessage({ ...emptyMessage({ id: q.id, qr: true, tc: true, questions: q.questions }) })));
  const srv: Server = createServer((c) => {
    c.on('data', (d) => {
      const q = decodeMessage(d.subarray(2));
      const a = encodeMessage(answerFor(q, [192, 0, 2, 9]));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(a.length);
      c.write(Buffer.concat([len, a]));
    });
  });
  open.push(srv);
  await new Promise<void>((r) => srv.listen(udpPort, ADDR, r));
  tcpPort = (srv.address() as { port: number }).port;
  assert.equal(tcpPort, udpPort);
  const t = new NetTransport();
  const r = await t.query({ address: ADDR, port: udpPort, name: nameFromText('big.example.'), type: Type.A, timeoutMs: 2000 });
  assert.equal(r.tcp, true);
  assert.deepEqual([...r.message.answers[0]!.rdata], [192, 0, 2, 9]);
  assert.equal(t.stats.tcpFallbacks, 1);
});

test('FORMERR to an EDNS query is retried without EDNS, and remembered', async () => {
  let withOpt = 0;
  const port = await udpServer((q, _raw, reply) => {
    if (q.edns) {
      withOpt++;
      reply(encodeMessage(emptyMessage({ id: q.id, qr: true, rcode: Rcode.FORMERR, questions: q.questions })));
    } else {
      reply(encodeMessage(answerFor(q, [192, 0, 2, 3])));
    }
  });
  const t = new NetTransport();
  const r = await t.query({ address: ADDR, port, name: nameFromText('old.example.'), type: Type.A, timeoutMs: 2000 });
  assert.equal(r.message.rcode, Rcode.NOERROR);
  await t.query({ address: ADDR, port, name: nameFromText('old2.example.'), type: Type.A, timeoutMs: 2000 });
  assert.equal(withOpt, 1, 'the second query goes without OPT at once');
});

test('a silent server times out within the bound', async () => {
  const port = await udpServer(() => undefined);
  const t = new NetTransport();
  const started = Date.now();
  await assert.rejects(t.query({ address: ADDR, port, name: nameFromText('x.example.'), type: Type.A, timeoutMs: 200 }), /no answer/);
  assert.ok(Date.now() - started < 1000);
});

test('source sockets come from a rotating pool: reused, at most uses_per_socket times each, chosen at random', async () => {
  const ports: number[] = [];
  const serverPort = await udpServer((q, _raw, reply, rinfo) => {
    ports.push(rinfo.port);
    reply(encodeMessage(answerFor(q, [192, 0, 2, 1])));
  });
  const t = new NetTransport(1232, { size: 8, usesPerSocket: 4 });
  try {
    // The pool fills at its first query; let it open its 8 sockets, so choices are among 8 (bounded wait).
    await t.query({ address: ADDR, port: serverPort, name: nameFromText('p.example.'), type: Type.A, timeoutMs: 2000 });
    for (let i = 0; i < 100 && t.pool.idleCount < 8; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(t.pool.idleCount, 8);
    ports.length = 0;
    for (let i = 0; i < 64; i++) await t.query({ address: ADDR, port: serverPort, name: nameFromText(`p${i}.example.`), type: Type.A, timeoutMs: 2000 });
    const uses = new Map<number, number>();
    for (const p of ports) uses.set(p, (uses.get(p) ?? 0) + 1);
    const most = Math.max(...uses.values());
    assert.ok(most > 1, 'sockets are reused (a new socket per query would use each port once)');
    assert.ok(most <= 4, `a port carried ${most} queries, more than uses_per_socket`);
    assert.ok(uses.size >= 16, `64 queries at 4 per socket need at least 16 ports, saw ${uses.size}`);
    // Consecutive queries on one socket would mean no random choice among the 8 idle ones.
    let repeats = 0;
    for (let i = 1; i < ports.length; i++) if (ports[i] === ports[i - 1]) repeats++;
    assert.ok(repeats < 32, `${repeats} of 63 consecutive queries left from the same port`);
    assert.ok(t.pool.stats.opened >= 16 && t.pool.stats.closed >= 8, JSON.stringify(t.pool.stats));
  } finally {
    t.close();
  }
});

test('a late answer to a timed-out query, arriving on the reused socket, is not taken for the next query', async () => {
  let first: { q: Message; reply: (b: Buffer) => void } | undefined;
  const serverPort = await udpServer((q, _raw, reply) => {
    if (!first) { first = { q, reply }; return; } // the first query: no answer in time
    // The second query (same socket: the pool has one): the late answer to the first
    // one (right address and port, its own ID and question) comes before the real one.
    first.reply(encodeMessage(answerFor(first.q, [203, 0, 113, 66])));
    setTimeout(() => reply(encodeMessage(answerFor(q, [192, 0, 2, 1]))), 5);
  });
  const t = new NetTransport(1232, { size: 1, usesPerSocket: 100 });
  try {
    await assert.rejects(t.query({ address: ADDR, port: serverPort, name: nameFromText('late.example.'), type: Type.A, timeoutMs: 150 }), /no answer/);
    const before = t.stats.mismatched;
    const r = await t.query({ address: ADDR, port: serverPort, name: nameFromText('late.example.'), type: Type.A, timeoutMs: 2000 });
    assert.deepEqual([...r.message.answers[0]!.rdata], [192, 0, 2, 1]);
    assert.equal(t.stats.mismatched - before, 1, 'the late answer was seen on the query socket and refused');
  } finally {
    t.close();
  }
});

test('uses_per_socket 1: a new socket (a new random port) for every query', async () => {
  const ports = new Set<number>();
  let n = 0;
  const serverPort = await udpServer((q, _raw, reply, rinfo) => {
    ports.add(rinfo.port);
    n++;
    reply(encodeMessage(answerFor(q, [192, 0, 2, 1])));
  });
  const t = new NetTransport(1232, { size: 8, usesPerSocket: 1 });
  try {
    for (let i = 0; i < 20; i++) await t.query({ address: ADDR, port: serverPort, name: nameFromText(`f${i}.example.`), type: Type.A, timeoutMs: 2000 });
    assert.equal(n, 20);
    assert.equal(ports.size, 20);
    assert.equal(t.pool.idleCount, 0);
  } finally {
    t.close();
  }
});
