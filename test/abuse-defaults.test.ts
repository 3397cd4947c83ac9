/**
 * Limits against abuse as shipped (issue 7), through real sockets:
 *
 * - Not an open resolver by default: the default listen addresses and
 *   allow-list are loopback only (also in the shipped configs), and a client
 *   outside the allow-list gets REFUSED with EDE 18.
 * - The per-client rate limit is off by default. Configured, it holds
 *   non-loopback UDP clients to their bucket (silence past it), while
 *   loopback clients are exempt unless `limit_loopback`, and TCP is never
 *   limited. Repeated names are cache hits, so this covers every path an
 *   answer can take, not only recursion.
 * - The cap on concurrent recursions answers SERVFAIL at once (with an EDE),
 *   gives its slots back, and does not hold up answers from the cache.
 * - ANY over UDP stays minimal (RFC 8482) even once the full answer, resolved
 *   over TCP, is in the cache.
 *
 * All traffic is on 127.0.0.0/8: strangers are loopback sources outside the
 * configured allow-list (the default list is checked address by address).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { test } from 'node:test';
import { loadConfig, parseConfigText } from '../src/config/load.js';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { AccessList, ipToBytes, isLoopback, cidrContains, parseCidr } from '../src/resolver/acl.js';
import type { RequestContext } from '../src/resolver/context.js';
import { RateLimiter } from '../src/resolver/ratelimit.js';
import { AccessStage } from '../src/resolver/stages/access.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';


/** An upstream that answers every question with one A record after `delayMs`, and counts. */
class Upstream implements Transport {
  queries = 0;
  /** Every question asked, in presentation form (the root priming query included). */
  names: string[] = [];
  constructor(private readonly delayMs = 0) {}
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.queries++;
    this.names.push(nameToText(q.name));
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: this.delayMs, sentName: q.name, tcp: false };
  }
}

async function startVerdict(yaml: string, net: Transport): Promise<{ v: Verdict; port: number }> {
  const cfg = parseConfigText(`${yaml}\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\n`, 'abuse.yaml');
  const v = new Verdict({ config: cfg, file: 'abuse.yaml', baseDir: '.' }, { transport: net, rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  return { v, port: v.server.addresses[0]!.port };
}

/** One query over UDP from `from` (a local address) to `to`:`port`; undefined when nothing comes back in `timeoutMs`. */
function udpFrom(from: string, to: string, port: number, name: string, timeoutMs = 500, id = 77): Promise<Message | undefined> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve(undefined); }, timeoutMs);
    s.on('error', (e) => { clearTimeout(t); s.close(); reject(e); });
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(decodeMessage(m)); });
    s.bind(0, from, () => s.send(encodeMessage(makeQuery(id, nameFromText(name), Type.A, { rd: true, edns: makeEdns(1232) })), port, to));
  });
}

/** One query over TCP from `from` to `to`:`port`. */
function tcpFrom(from: string, to: string, port: number, name: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const c = new Socket();
    const t = setTimeout(() => { c.destroy(); reject(new Error('no TCP answer')); }, 3000);
    let buf = Buffer.alloc(0);
    c.on('error', (e) => { clearTimeout(t); reject(e); });
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(t);
        c.destroy();
        resolve(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      }
    });
    c.connect({ host: to, port, localAddress: from }, () => {
      const q = encodeMessage(makeQuery(78, nameFromText(name), Type.A, { rd: true }));
      c.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]));
    });
  });
}

/** How many of `n` UDP queries (one at a time, the same name: cache hits after the first) get an answer. */
async function answered(from: string, to: string, port: number, n: number, name = 'rl.example.'): Promise<number> {
  let got = 0;
  for (let i = 0; i < n; i++) if (await udpFrom(from, to, port, name, 300, 1000 + i)) got++;
  return got;
}

// ------------------------------------------------------------------ not an open resolver

test('defaults: loopback listeners and allow-list, no rate limit; the shipped configs allow loopback only', () => {
  const d = parseConfigText('', 'empty.yaml');
  assert.deepEqual(d.server.allow, ['127.0.0.0/8', '::1/128']);
  assert.deepEqual(d.server.listen, ['127.0.0.1:5353', '[::1]:5353']);
  assert.equal(d.server.rate_limit.qps, 0, 'rate limit off by default');
  assert.equal(d.server.rate_limit.limit_loopback, false, 'loopback exempt by default');
  const loopback = [parseCidr('127.0.0.0/8'), parseCidr('::1/128')];
  for (const file of ['config/verdict.yaml', 'config/demo.yaml']) {
    const c = loadConfig(file).config;
    for (const p of c.server.allow) {
      const cidr = parseCidr(p);
      assert.ok(loopback.some((l) => l.bits <= cidr.bits && cidrContains(l, cidr.bytes)), `${file}: server.allow ${p} is not loopback`);
    }
    for (const l of c.server.listen) assert.ok(isLoopback(l.replace(/^\[?([^\]]*?)\]?(:[0-9]+)?$/, '$1')), `${file}: listens on ${l}`);
  }
  const acl = new AccessList(d.server.allow);
  for (const ip of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(acl.allows(ip), true, ip);
  for (const ip of ['192.0.2.1', '10.0.0.1', '0.0.0.0', '255.255.255.255', '2001:db8::1', '::ffff:192.0.2.1', '::2', 'fe80::1', 'not-an-ip']) assert.equal(acl.allows(ip), false, ip);
  assert.ok(ipToBytes('::ffff:192.0.2.1')!.length === 4, 'IPv4-mapped IPv6 is judged as IPv4');
});

// Network traffic stays on 127.0.0.0/8 (the project's rule for tests). A "stranger" is a
// loopback source outside a configured allow-list; the default allow-list itself is checked
// above and, address by address, through the access stage below. The rate-limit cases set
// limit_loopback where the client must count as a stranger.
const SERVER = '127.0.0.1';
const STRANGER = '127.0.0.2';
const MEMBER = '127.0.0.3';

test('a client outside the allow-list gets REFUSED with EDE 18 over UDP and TCP, and nothing from the cache', async () => {
  const net = new Upstream();
  const { v, port } = await startVerdict(`server: { listen: ["${SERVER}:0"], allow: ["${MEMBER}/32"] }\nresolver: { qname_minimisation: false }`, net);
  try {
    const r = (await udpFrom(STRANGER, SERVER, port, 'open.example.'))!;
    assert.equal(r.rcode, Rcode.REFUSED);
    assert.equal(r.answers.length, 0);
    assert.equal(readEde(r)[0]?.code, Ede.PROHIBITED);
    assert.equal((await tcpFrom(STRANGER, SERVER, port, 'open.example.')).rcode, Rcode.REFUSED);
    assert.equal(net.queries, 0, 'nothing was resolved for the stranger');
    // The same server answers its member.
    const ok = (await udpFrom(MEMBER, SERVER, port, 'open.example.'))!;
    assert.equal(ok.rcode, Rcode.NOERROR);
    // Now that the name is cached (answer cache and fast path included), the stranger still gets nothing.
    for (let i = 0; i < 3; i++) {
      const again = (await udpFrom(STRANGER, SERVER, port, 'open.example.'))!;
      assert.equal(again.rcode, Rcode.REFUSED);
      assert.equal(again.answers.length, 0);
    }
  } finally {
    await v.stop();
  }
});

// ------------------------------------------------------------------ per-client rate limit

test('rate limit off by default: 300 queries in a row from one client are all answered', async () => {
  const { v, port } = await startVerdict(`server: { listen: ["${SERVER}:0"], rate_limit: { limit_loopback: true } }\nresolver: { qname_minimisation: false }`, new Upstream());
  try {
    assert.equal(await answered(STRANGER, SERVER, port, 300), 300);
  } finally {
    await v.stop();
  }
});

test('rate limit configured: a client gets its burst then silence; TCP is not limited; loopback is exempt unless limit_loopback', async () => {
  const { v, port } = await startVerdict(
    `server: { listen: ["${SERVER}:0"], rate_limit: { qps: 0.01, burst: 5, limit_loopback: true } }\nresolver: { qname_minimisation: false }`,
    new Upstream(),
  );
  try {
    assert.equal(await answered(STRANGER, SERVER, port, 12), 5, 'the burst, then nothing (cache hits included)');
    assert.equal(await answered(MEMBER, SERVER, port, 8), 5, 'buckets are per client');
    assert.equal((await tcpFrom(STRANGER, SERVER, port, 'rl.example.')).rcode, Rcode.NOERROR, 'TCP proves the source: not limited');
    assert.equal(await answered(STRANGER, SERVER, port, 3), 0, 'the UDP bucket is still empty');
  } finally {
    await v.stop();
  }
  const exempt = await startVerdict(`server: { listen: ["${SERVER}:0"], rate_limit: { qps: 0.01, burst: 5 } }\nresolver: { qname_minimisation: false }`, new Upstream());
  try {
    assert.equal(await answered(STRANGER, SERVER, exempt.port, 40), 40, 'loopback: exempt (limit_loopback is false)');
  } finally {
    await exempt.v.stop();
  }
});

test('rate limit: a reload that turns it off lets the silenced client through at once', async () => {
  const yaml = (limit: string) => `server: { listen: ["${SERVER}:0"]${limit} }\nresolver: { qname_minimisation: false }`;
  const { v, port } = await startVerdict(yaml(', rate_limit: { qps: 0.01, burst: 2, limit_loopback: true }'), new Upstream());
  try {
    assert.equal(await answered(STRANGER, SERVER, port, 4), 2);
    const next = parseConfigText(`${yaml('')}\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\n`, 'abuse.yaml');
    await v.reload({ config: next, file: 'abuse.yaml', baseDir: '.' });
    assert.equal(await answered(STRANGER, SERVER, port, 10), 10);
  } finally {
    await v.stop();
  }
});

/** A context as the server builds it, for the access stage alone. */
function ctxFrom(address: string, transport: 'udp' | 'tcp' = 'udp'): RequestContext {
  const query = makeQuery(9, nameFromText('x.example.'), Type.A, { rd: true });
  return { raw: encodeMessage(query), client: { address, port: 4000 }, transport, started: 0, query, maxSize: 512, notes: {} };
}

test('access stage: default allow-list refuses strangers; the bucket limits them; loopback and TCP pass', () => {
  const d = parseConfigText('', 'empty.yaml');
  const open = new AccessStage(new AccessList(d.server.allow));
  assert.equal(open.handle(ctxFrom('127.0.0.1')), 'next');
  const stranger = ctxFrom('198.51.100.7');
  assert.equal(open.handle(stranger), 'answered');
  assert.equal(decodeMessage(stranger.wire!).rcode, Rcode.REFUSED);

  let now = 0;
  const limited = new AccessStage(new AccessList(['0.0.0.0/0', '::/0']), new RateLimiter(1, 3, () => now), false);
  const results = Array.from({ length: 5 }, () => limited.handle(ctxFrom('198.51.100.7')));
  assert.deepEqual(results, ['next', 'next', 'next', 'drop', 'drop']);
  assert.equal(limited.handle(ctxFrom('198.51.100.8')), 'next', 'another client has its own bucket');
  assert.equal(limited.handle(ctxFrom('198.51.100.7', 'tcp')), 'next', 'TCP is not limited');
  for (let i = 0; i < 50; i++) assert.equal(limited.handle(ctxFrom('127.0.0.1')), 'next', 'loopback exempt');
  for (let i = 0; i < 50; i++) assert.equal(limited.handle(ctxFrom('::1')), 'next', 'IPv6 loopback exempt');
  now += 1000;
  assert.equal(limited.handle(ctxFrom('198.51.100.7')), 'next', 'one token back after one second at 1 qps');
  assert.equal(limited.handle(ctxFrom('198.51.100.7')), 'drop');

  const strict = new AccessStage(new AccessList(['127.0.0.0/8']), new RateLimiter(1, 2, () => now), true);
  assert.deepEqual(Array.from({ length: 3 }, () => strict.handle(ctxFrom('127.0.0.1'))), ['next', 'next', 'drop'], 'limit_loopback: loopback limited too');
});

// ------------------------------------------------------------------ cap on concurrent recursions

test('past max_concurrent: SERVFAIL at once with an EDE; slots come back; cached answers are not held up', async () => {
  const DELAY = 600;
  const net = new Upstream(DELAY);
  const { v, port } = await startVerdict('server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false, max_concurrent: 3 }', net);
  try {
    await ask('cached.example.', Type.A, port);
    const t0 = performance.now();
    const slow = Array.from({ length: 3 }, (_, i) => ask(`slow${i}.example.`, Type.A, port, { id: 100 + i }));
    await new Promise((r) => setTimeout(r, 50)); // the three are resolving
    const over = await Promise.all(Array.from({ length: 5 }, (_, i) => ask(`over${i}.example.`, Type.A, port, { id: 200 + i, edns: makeEdns(1232) }).then((m) => ({ m, ms: performance.now() - t0 }))));
    for (const { m, ms } of over) {
      assert.equal(m.rcode, Rcode.SERVFAIL);
      assert.ok(ms < DELAY / 2, `SERVFAIL after ${ms.toFixed(0)} ms: not at once`);
      assert.match(readEde(m)[0]?.text ?? '', /busy|concurrent/);
    }
    const hit = await ask('cached.example.', Type.A, port);
    assert.equal(hit.rcode, Rcode.NOERROR, 'a cached name is answered while every slot is taken');
    assert.ok(performance.now() - t0 < DELAY, 'and at once');
    // The same name with EDNS: another wire-form answer-cache key (a miss there), but the record
    // cache holds it, so it is answered, not refused as busy.
    const records = await ask('cached.example.', Type.A, port, { edns: makeEdns(1232), id: 250 });
    assert.equal(records.rcode, Rcode.NOERROR, 'answered from the record cache while every slot is taken');
    assert.equal(records.answers.length, 1);
    assert.ok(performance.now() - t0 < DELAY, 'and at once');
    for (const m of await Promise.all(slow)) assert.equal(m.rcode, Rcode.NOERROR);
    // The slots were given back, the refused ones included: three more resolve, then a fourth is busy again.
    const again = await Promise.all(Array.from({ length: 4 }, (_, i) => ask(`again${i}.example.`, Type.A, port, { id: 300 + i })));
    assert.deepEqual(again.map((m) => m.rcode).sort(), [Rcode.NOERROR, Rcode.NOERROR, Rcode.NOERROR, Rcode.SERVFAIL].sort());
    assert.equal(net.names.filter((x) => x.startsWith('over')).length, 0, 'no upstream query for a refused recursion');
    assert.equal(net.names.filter((x) => x.startsWith('again')).length, 3);
  } finally {
    await v.stop();
  }
});

// ------------------------------------------------------------------ ANY (RFC 8482)

test('ANY over UDP stays minimal after the same ANY was resolved over TCP and cached', async () => {
  const net = new Upstream();
  const { v, port } = await startVerdict('server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false }', net);
  try {
    const full = await ask('amp.example.', Type.ANY, port, { tcp: true });
    assert.equal(full.rcode, Rcode.NOERROR);
    assert.equal(full.answers[0]?.type, Type.A, 'over TCP: resolved');
    for (const edns of [undefined, makeEdns(4096)]) {
      for (let i = 0; i < 3; i++) {
        const m = await ask('amp.example.', Type.ANY, port, { edns, id: 500 + i });
        assert.equal(m.answers.length, 1);
        assert.equal(m.answers[0]!.type, Type.HINFO, 'over UDP: the one HINFO record, never the cached RRsets');
      }
    }
    const again = await ask('amp.example.', Type.ANY, port, { tcp: true });
    assert.equal(again.answers[0]?.type, Type.A);
  } finally {
    await v.stop();
  }
});

// ------------------------------------------------------------------ UDP receive buffer

test('UDP listeners get server.udp_receive_buffer (4 MiB by default); 0 leaves the kernel default', async () => {
  assert.equal(parseConfigText('', 'empty.yaml').server.udp_receive_buffer, 4 * 1024 * 1024);
  const sized = await startVerdict('server: { listen: ["127.0.0.1:0"], udp_receive_buffer: 1048576 }', new Upstream());
  const kernel = await startVerdict('server: { listen: ["127.0.0.1:0"], udp_receive_buffer: 0 }', new Upstream());
  try {
    const [set] = sized.v.server.udpReceiveBufferSizes;
    const [dflt] = kernel.v.server.udpReceiveBufferSizes;
    // Linux reports twice the size set (its bookkeeping), the size capped by net.core.rmem_max.
    const cap = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    assert.equal(set, 2 * Math.min(1048576, cap), `SO_RCVBUF ${set} (rmem_max ${cap})`);
    if (cap > 262144) assert.ok(dflt! < set!, `kernel default ${dflt} below the configured ${set}`);
  } finally {
    await sized.v.stop();
    await kernel.v.stop();
  }
});
