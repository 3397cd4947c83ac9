/**
 * Upstream faults over real loopback sockets (127.55.252.0/24): the iterator
 * with the real NetTransport against servers that drip, send oversized
 * answers, stay silent or answer garbage. Each ends in an answer or SERVFAIL
 * within the time bound, and the resolver keeps working afterwards.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { after, test } from 'node:test';
import { Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { ResolverCache } from '../src/resolver/cache/cache.js';
import { Iterator, rdataToIp } from '../src/resolver/iterator/iterator.js';
import type { IteratorOptions } from '../src/resolver/iterator/iterator.js';
import { ServerSelection } from '../src/resolver/selection.js';
import { NetTransport, UpstreamError } from '../src/resolver/transport.js';
import { authoritative, n, rr } from './helpers/scripted-net.js';
import type { Zone } from './helpers/scripted-net.js';

const ROOT = '127.55.252.1';
const open: (UdpSocket | Server)[] = [];
const conns = new Set<Socket>();
after(() => {
  for (const c of conns) c.destroy();
  for (const s of open) s.close();
});

type Reply = Buffer | undefined;
interface Behaviour {
  udp(q: Message, raw: Buffer): Reply | Reply[];
  /** TCP: called with the socket; default answers like udp() would, framed. */
  tcp?(q: Message, sock: Socket): void;
}

let port = 0;

/** A UDP+TCP server on `address`, on the shared test port. */
async function serve(address: string, b: Behaviour): Promise<void> {
  const u = createSocket('udp4');
  open.push(u);
  u.on('message', (raw, rinfo) => {
    let q: Message;
    try { q = decodeMessage(raw); } catch { return; }
    const out = b.udp(q, raw);
    for (const r of Array.isArray(out) ? out : [out]) if (r) u.send(r, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => u.bind(port, address, r));
  if (port === 0) port = u.address().port;
  const t = createServer((c) => {
    conns.add(c);
    c.on('error', () => undefined);
    c.on('close', () => conns.delete(c));
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const q = decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      if (b.tcp) return b.tcp(q, c);
      const out = b.udp(q, buf.subarray(2));
      for (const r of Array.isArray(out) ? out : [out]) if (r) c.write(Buffer.concat([Buffer.from([r.length >> 8, r.length & 0xff]), r]));
    });
  });
  open.push(t);
  await new Promise<void>((r) => t.listen(port, address, r));
}

/** Answers from zone tables, echoing the question exactly as sent (0x20 case) and the ID. */
function tables(zones: Zone[]): Behaviour {
  const auth = authoritative(zones);
  return { udp: (q) => encodeMessage({ ...auth({ name: q.questions[0]!.name, type: q.questions[0]!.type }), id: q.id, questions: q.questions }) };
}

function reply(q: Message, init: Partial<Message> = {}): Message {
  return emptyMessage({ id: q.id, qr: true, aa: true, questions: q.questions, ...init });
}

const UPSTREAM_MS = 200;
const QUERY_MS = 1500;
/** Slack for timers and a loaded CI machine. */
const SLACK = 1000;

function iterator(): Iterator {
  const opts: IteratorOptions = {
    rootHints: [{ name: 'a.root.abuse', address: ROOT }], port,
    qnameMinimisation: false, upstreamTimeoutMs: UPSTREAM_MS, maxQueries: 60, maxDepth: 16, maxCnameHops: 12,
    queryTimeoutMs: QUERY_MS, maxNsPerReferral: 8,
  };
  return new Iterator(opts, new NetTransport(1232), new ResolverCache({ maxEntries: 1000, maxTtl: 86400, maxNegativeTtl: 3600 }), new ServerSelection(), Date.now);
}

async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await p;
  return [r, performance.now() - t0];
}

// The root delegates one zone per scenario, each to its own servers.
const SCENARIOS: { [zone: string]: string[] } = {
  'drip.': ['127.55.252.10'],
  'big.': ['127.55.252.20'],
  'down.': ['127.55.252.30', '127.55.252.31', '127.55.252.32'],
  'garbage.': ['127.55.252.40', '127.55.252.41', '127.55.252.42'],
  'fine.': ['127.55.252.50'],
};

const setup = (async () => {
  const records = [rr('.', 'SOA', 'a.root.abuse'), rr('.', 'NS', 'a.root.abuse'), rr('a.root.abuse', 'A', ROOT)];
  for (const [zone, addrs] of Object.entries(SCENARIOS)) {
    addrs.forEach((a, i) => records.push(rr(zone, 'NS', `ns${i}.${zone}`), rr(`ns${i}.${zone}`, 'A', a)));
  }
  await serve(ROOT, tables([{ apex: '.', records }]));
  await serve('127.55.252.50', tables([{ apex: 'fine', records: [rr('fine', 'SOA', 'ns0.fine'), rr('www.fine', 'A', '192.0.2.50')] }]));
})();

/** After each fault the resolver still answers a healthy zone. */
async function stillResolves(it: Iterator): Promise<void> {
  const r = await it.resolve(n('www.fine'), Type.A, it.newBudget());
  assert.equal(r.rcode, Rcode.NOERROR);
  assert.deepEqual(r.answers.map(rdataToIp), ['192.0.2.50']);
}

test('slow-drip TCP upstream: the TCP fallback gives up at its deadline, not at the drip\'s pace', async () => {
  await setup;
  let dripped = 0;
  await serve('127.55.252.10', {
    udp: (q) => encodeMessage(reply(q, { tc: true })), // truncated: go to TCP
    tcp: (_q, c) => {
      // Claim a 65535-byte answer, then send one byte every 20 ms, forever.
      c.write(Buffer.from([0xff, 0xff]));
      const t = setInterval(() => {
        if (c.destroyed) return clearInterval(t);
        dripped++;
        c.write(Buffer.from([0]));
      }, 20);
      c.on('close', () => clearInterval(t));
    },
  });
  // The transport alone: one TCP exchange is bounded by its timeout.
  const t = new NetTransport();
  const t0 = performance.now();
  await assert.rejects(t.query({ address: '127.55.252.10', port, name: n('www.drip'), type: Type.A, timeoutMs: UPSTREAM_MS }),
    (e: unknown) => e instanceof UpstreamError && e.code === 'VERDICT_ERR_TIMEOUT');
  const ms = performance.now() - t0;
  assert.ok(dripped > 0, 'the server was dripping');
  assert.ok(ms < 2 * UPSTREAM_MS + SLACK, `transport took ${ms} ms`);
  // The whole resolution: SERVFAIL within the query bound.
  const it = iterator();
  const [r, total] = await timed(it.resolve(n('www.drip'), Type.A, it.newBudget()));
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.ok(total < QUERY_MS + SLACK, `resolution took ${total} ms`);
  await stillResolves(it);
});

test('oversized answers: a 64 KB UDP datagram and a 4,000-record TCP answer are handled within bounds', async () => {
  await setup;
  const many = (q: Message, count: number) => {
    const m = reply(q);
    for (let i = 0; i < count; i++) m.answers.push({ name: q.questions[0]!.name, type: Type.A, class: 1, ttl: 60, rdata: Buffer.from([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]) });
    return m;
  };
  await serve('127.55.252.20', {
    // UDP: far more than the 1232 bytes we advertise, without TC; TCP: 4,000 records (~64 KB).
    udp: (q) => (q.questions[0]!.name.toString('latin1').toLowerCase().includes('tcp') ? encodeMessage(reply(q, { tc: true })) : encodeMessage(many(q, 3000))),
    tcp: (q, c) => {
      const wire = encodeMessage(many(q, 4000));
      assert.ok(wire.length <= 65535, `${wire.length}`);
      c.write(Buffer.concat([Buffer.from([wire.length >> 8, wire.length & 0xff]), wire]));
    },
  });
  const it = iterator();
  const [u, ums] = await timed(it.resolve(n('udp.big'), Type.A, it.newBudget()));
  assert.ok(u.rcode === Rcode.NOERROR || u.rcode === Rcode.SERVFAIL, `rcode ${u.rcode}`);
  assert.ok(ums < QUERY_MS + SLACK, `${ums} ms`);
  const [t, tms] = await timed(it.resolve(n('tcp.big'), Type.A, it.newBudget()));
  assert.equal(t.rcode, Rcode.NOERROR);
  assert.equal(t.answers.length, 4000);
  assert.ok(tms < QUERY_MS + SLACK, `${tms} ms`);
  // The reply to a UDP client is cut to fit (TC=1), never sent oversized.
  const m = emptyMessage({ id: 1, qr: true, questions: [{ name: n('tcp.big'), type: Type.A, class: 1 }], answers: t.answers });
  assert.ok(encodeMessage(m, 1232).length <= 1232);
  assert.equal(decodeMessage(encodeMessage(m, 1232)).tc, true);
  await stillResolves(it);
});

test('all servers of a zone down: SERVFAIL (No Reachable Authority) within the query bound', async () => {
  await setup;
  // Bound, but silent: datagrams go in, nothing comes out.
  for (const a of SCENARIOS['down.']!) await serve(a, { udp: () => undefined, tcp: () => undefined });
  const it = iterator();
  const [r, ms] = await timed(it.resolve(n('www.down'), Type.A, it.newBudget()));
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.ok(r.ede, 'an Extended DNS Error says why');
  assert.ok(ms < QUERY_MS + SLACK, `${ms} ms`);
  assert.ok(ms >= UPSTREAM_MS, 'it did wait for the servers');
  await stillResolves(it);
});

test('servers answering garbage: SERVFAIL within the bound, no crash', async () => {
  await setup;
  let seed = 7;
  const rand = (k: number) => Buffer.from(Array.from({ length: k }, () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 24; }));
  const [g1, g2, g3] = SCENARIOS['garbage.']!;
  // 1: random bytes; 2: the right ID and QR, then garbage (a header that lies about its counts);
  // 3: TC=1, then garbage over TCP.
  await serve(g1!, { udp: () => [rand(3), rand(12), rand(300)] });
  await serve(g2!, {
    udp: (q, raw) => {
      const h = Buffer.from(raw.subarray(0, 12));
      h[2] = h[2]! | 0x80;
      h.writeUInt16BE(0xffff, 6);
      return [Buffer.concat([h, rand(40)]), Buffer.concat([raw.subarray(0, 2), Buffer.from([0x84, 0x00]), rand(10)]), encodeMessage({ ...reply(q), questions: [{ name: n('other.garbage'), type: Type.A, class: 1 }] })];
    },
  });
  await serve(g3!, {
    udp: (q) => encodeMessage(reply(q, { tc: true })),
    tcp: (_q, c) => c.write(Buffer.concat([Buffer.from([0, 50]), rand(50)])),
  });
  const it = iterator();
  const [r, ms] = await timed(it.resolve(n('www.garbage'), Type.A, it.newBudget()));
  assert.equal(r.rcode, Rcode.SERVFAIL);
  assert.ok(ms < QUERY_MS + SLACK, `${ms} ms`);
  // Many at once, each bounded.
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(it.resolve(n(`h${i}.garbage`), Type.A, it.newBudget()))));
  for (const [x, t] of many) {
    assert.equal(x.rcode, Rcode.SERVFAIL);
    assert.ok(t < QUERY_MS + SLACK, `${t} ms`);
  }
  await stillResolves(it);
});
