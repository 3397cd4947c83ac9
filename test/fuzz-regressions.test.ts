/**
 * Inputs the fuzzer (fuzz/, `npm run fuzz`) found, kept as regression tests.
 * Each names the target, the seed and input index that found it, and the fix.
 */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage, WireError } from '../src/dns/message.js';
import { ResolverCache } from '../src/resolver/cache/cache.js';
import { Iterator } from '../src/resolver/iterator/iterator.js';
import { ServerSelection } from '../src/resolver/selection.js';
import { parseOrder } from '../src/rpz/orders/load.js';
import { authoritative, n, rr, ScriptedNet } from './helpers/scripted-net.js';
import type { Handler } from './helpers/scripted-net.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';

test('orders: an alias bomb ("billion laughs") is a reported error, not an exception', () => {
  // Found by `npm run fuzz -- --target orders --seed 1` (inputs 139, 214, 316, ...): yaml's toJS()
  // throws ReferenceError "Excessive alias count" and parseOrder let it out. Fixed in src/rpz/orders/load.ts.
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 8; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  lines.push('domains: *a7');
  let r: ReturnType<typeof parseOrder> | undefined;
  assert.doesNotThrow(() => { r = parseOrder(lines.join('\n') + '\n', 'bomb.yaml'); });
  assert.equal(r!.order, undefined);
  assert.equal(r!.errors.length, 1);
  assert.equal(r!.errors[0]!.code, 'yaml');
  assert.match(r!.errors[0]!.message, /alias/i);
});

test('iterator: resolving glueless NS names never takes the query count past max_queries', async () => {
  // Found by `npm run fuzz -- --target response --seed 20240601` (inputs 455, 2837, 4610: 32
  // upstream queries for a budget of 30). The budget was checked before the glueless NS lookups
  // and spent after them without a second look. Fixed in src/resolver/iterator/iterator.ts.
  // Here the lookup of ns.provider.net costs 3 queries; after priming, root and TLD, a budget
  // of 6 is spent exactly when the delegation's address is known.
  const world = () => new ScriptedNet(new Map<string, Handler>([
    ['198.51.100.1', authoritative([{ apex: '.', records: [rr('.', 'SOA', 'a.root.test'), rr('.', 'NS', 'a.root.test'), rr('a.root.test', 'A', '198.51.100.1'),
      rr('com', 'NS', 'a.gtld.test'), rr('net', 'NS', 'a.gtld.test'), rr('a.gtld.test', 'A', '198.51.100.2')] }])],
    ['198.51.100.2', authoritative([
      { apex: 'com', records: [rr('com', 'SOA', 'a.gtld.test'), rr('glueless.com', 'NS', 'ns.provider.net')] },
      { apex: 'net', records: [rr('net', 'SOA', 'a.gtld.test'), rr('provider.net', 'NS', 'ns.provider.net'), rr('ns.provider.net', 'A', '198.51.100.4')] },
    ])],
    ['198.51.100.4', authoritative([
      { apex: 'provider.net', records: [rr('provider.net', 'SOA', 'ns.provider.net'), rr('ns.provider.net', 'A', '198.51.100.4')] },
      { apex: 'glueless.com', records: [rr('glueless.com', 'SOA', 'ns.provider.net'), rr('www.glueless.com', 'A', '192.0.2.50')] },
    ])],
  ]));
  for (let maxQueries = 1; maxQueries <= 10; maxQueries++) {
    const w = world();
    const it = new Iterator({
      rootHints: [{ name: 'a.root.test', address: '198.51.100.1' }], qnameMinimisation: false, upstreamTimeoutMs: 100,
      maxQueries, maxDepth: 16, maxCnameHops: 12, queryTimeoutMs: 5000, maxNsPerReferral: 8,
    }, w, new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 3600 }), new ServerSelection(Date.now, () => 0.99), Date.now);
    const r = await it.resolve(n('www.glueless.com'), Type.A, it.newBudget());
    assert.ok(w.log.length <= maxQueries, `max_queries ${maxQueries}: ${w.log.length} queries sent`);
    assert.equal(r.rcode, maxQueries >= 7 ? Rcode.NOERROR : Rcode.SERVFAIL, `max_queries ${maxQueries}`);
  }
});

const ROOT_SRV = '198.51.100.1';
const TLD_SRV = '198.51.100.2';
const rootZone = { apex: '.', records: [rr('.', 'SOA', 'a.root.test'), rr('.', 'NS', 'a.root.test'), rr('a.root.test', 'A', ROOT_SRV),
  rr('com', 'NS', 'a.gtld.test'), rr('net', 'NS', 'a.gtld.test'), rr('a.gtld.test', 'A', TLD_SRV)] };
function iter(w: Transport, queryTimeoutMs = 5000): Iterator {
  return new Iterator({
    rootHints: [{ name: 'a.root.test', address: ROOT_SRV }], qnameMinimisation: false, upstreamTimeoutMs: 100,
    maxQueries: 60, maxDepth: 16, maxCnameHops: 12, queryTimeoutMs, maxNsPerReferral: 8,
  }, w, new ResolverCache({ maxEntries: 1000, maxTtl: 86400, maxNegativeTtl: 3600 }), new ServerSelection(Date.now, () => 0.99), Date.now);
}
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'hung'> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<'hung'>((r) => { t = setTimeout(() => r('hung'), ms); })]).finally(() => clearTimeout(t));
}

test('iterator: a delegation cycle through glueless NS names ends in SERVFAIL instead of waiting forever', async () => {
  // Found by `npm run fuzz -- --target response --seed 20261129` (input 149: the root NS set named
  // "." itself; the resolution of ./A waited on its own promise). Here: a.net is served by
  // ns.b.com, b.com by ns.a.net, no glue. Resolving ns.a.net needs ns.b.com, which needs
  // ns.a.net: the shared in-flight resolution waited on itself and never finished.
  // Fixed in src/resolver/iterator/iterator.ts (the name being resolved counts as in progress;
  // waiting on a shared resolution is bounded by the client query's deadline).
  const world = () => new ScriptedNet(new Map<string, Handler>([
    [ROOT_SRV, authoritative([rootZone])],
    [TLD_SRV, authoritative([
      { apex: 'com', records: [rr('com', 'SOA', 'a.gtld.test'), rr('b.com', 'NS', 'ns.a.net')] },
      { apex: 'net', records: [rr('net', 'SOA', 'a.gtld.test'), rr('a.net', 'NS', 'ns.b.com')] },
    ])],
  ]));
  const it = iter(world(), 1000);
  const r = await within(it.resolve(n('ns.a.net'), Type.A, it.newBudget()), 3000);
  assert.notEqual(r, 'hung');
  assert.equal((r as { rcode: number }).rcode, Rcode.SERVFAIL);
  // Two clients entering the cycle from both ends (each waits on the other's resolution).
  const it2 = iter(world(), 500);
  const t0 = performance.now();
  const both = await within(Promise.all([it2.resolve(n('ns.a.net'), Type.A, it2.newBudget()), it2.resolve(n('ns.b.com'), Type.A, it2.newBudget())]), 3000);
  assert.notEqual(both, 'hung');
  assert.ok(performance.now() - t0 < 2000);
  // Nothing stays stuck in flight: the same question later ends too.
  assert.notEqual(await within(it2.resolve(n('ns.a.net'), Type.A, it2.newBudget()), 3000), 'hung');
});

test('iterator: an AAAA glue record of 4 bytes is a malformed message, not a crash', async () => {
  // Found by `npm run fuzz -- --target response --seed 20261129` (input 1137): rdataToIp read 16
  // bytes from a 4-byte AAAA and the RangeError rejected resolve(). Fixed in src/dns/message.ts:
  // A and AAAA RDATA of the wrong size are a WireError (the transport ignores such a reply).
  const m = emptyMessage({ id: 1, qr: true, questions: [{ name: n('www.example.com'), type: Type.A, class: 1 }] });
  m.authorities.push(rr('example.com', 'NS', 'ns.example.com'));
  m.additionals.push({ name: n('ns.example.com'), type: Type.AAAA, class: 1, ttl: 60, rdata: Buffer.from([192, 0, 2, 1]) });
  assert.throws(() => decodeMessage(encodeMessage(m)), WireError);
  m.additionals[0] = { name: n('ns.example.com'), type: Type.A, class: 1, ttl: 60, rdata: Buffer.from([192, 0, 2]) };
  assert.throws(() => decodeMessage(encodeMessage(m)), WireError);
  // The replayed input itself: the third upstream response of input 1137 (the AAAA glue of ns "SlfR.HOOUNu.").
  assert.throws(() => decodeMessage(Buffer.from('biSAAAABAAAAAQABB2N2YU1mb1QIYTVpY3d6UVMBLgRmdXp6BHRlc3QAAAEAAcAdAAIAAQABUYAADwRTbGZSBkhPT1VOdQEuAMA6ABwAAQAAASwABMYzZAU=', 'base64')), /AAAA RDATA of 4 bytes/);
});

test('cache: a NODATA for QTYPE 0 does not make every type of the name NODATA', async () => {
  // Found by `npm run fuzz -- --target server --seed 20261129` (batches from input 149000: the
  // good query www.fuzz.test/A answered NOERROR with no data). NXDOMAIN was cached under type 0,
  // so a client's QTYPE 0 query, answered NODATA, poisoned the name for every type for the
  // negative TTL. Fixed in src/resolver/cache/cache.ts (NXDOMAIN has a key of its own).
  const w = new ScriptedNet(new Map<string, Handler>([
    [ROOT_SRV, authoritative([rootZone])],
    [TLD_SRV, authoritative([{ apex: 'com', records: [rr('com', 'SOA', 'a.gtld.test'), rr('www.example.com', 'A', '192.0.2.1')] }])],
  ]));
  const it = iter(w);
  const zero = await it.resolve(n('www.example.com'), 0, it.newBudget());
  assert.equal(zero.rcode, Rcode.NOERROR);
  assert.equal(zero.answers.length, 0);
  const a = await it.resolve(n('www.example.com'), Type.A, it.newBudget());
  assert.equal(a.answers.length, 1, 'the A record still resolves');
  // NXDOMAIN still covers every type.
  const cache = new ResolverCache({ maxEntries: 100, maxTtl: 86400, maxNegativeTtl: 3600 });
  cache.putNegative(n('gone.example.com'), Type.A, 'nxdomain', [rr('example.com', 'SOA', 'ns.example.com')]);
  assert.equal(cache.getNegative(n('gone.example.com'), Type.MX)?.kind, 'nxdomain');
});

class OneAnswer implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 60, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

let v: Verdict;
let port = 0;
before(async () => {
  const cfg = parseConfigText('server: { listen: ["127.0.0.1:0"] }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\n', 'f.yaml');
  v = new Verdict({ config: cfg, file: 'f.yaml', baseDir: '.' }, { transport: new OneAnswer(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  port = v.server.addresses[0]!.port;
});
after(() => v.stop());

/** Write `stream` on one TCP connection; collect reply frames until the server closes (bounded). */
function exchange(stream: Buffer): Promise<{ replies: Buffer[]; closed: boolean }> {
  return new Promise((resolve) => {
    const c = new Socket();
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { c.destroy(); resolve({ replies, closed: false }); }, 3000);
    c.on('error', () => undefined);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    c.on('close', () => { clearTimeout(t); resolve({ replies, closed: true }); });
    c.connect(port, '127.0.0.1', () => c.write(stream));
  });
}

const frame = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);

test('server: queries before a too-short TCP frame are still answered, then the connection closes', async () => {
  // Found by `npm run fuzz -- --target server --seed 2`: a 29-byte query and a 1-byte frame in one
  // segment. The server destroyed the connection at the short frame, discarding the answer it had
  // just written. Fixed in src/resolver/server.ts: stop reading, end() once pending answers are out.
  const query = Buffer.from('KrsBAAABAAAAAAAAP2FhYWFhYWFhYWFhYWFhYWFhYQAABgAB', 'base64');
  const r = await exchange(Buffer.concat([frame(query), frame(Buffer.from('4A==', 'base64'))]));
  assert.equal(r.closed, true, 'the out-of-sync stream is closed');
  assert.equal(r.replies.length, 1);
  const m = decodeMessage(r.replies[0]!);
  assert.equal(m.id, query.readUInt16BE(0));
  assert.equal(m.rcode, Rcode.FORMERR); // its label length lies: 63 announced, 18 present
});

test('server: answers that need recursion are also delivered before the close', async () => {
  // The same shape with queries that resolve asynchronously: the close waits for them.
  const q = (id: number, name: string) => {
    const labels = name.split('.').filter(Boolean);
    const qn = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    return Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), qn, Buffer.from([0, 1, 0, 1])]);
  };
  const r = await exchange(Buffer.concat([frame(q(1, 'a.example')), frame(q(2, 'b.example')), frame(q(3, 'c.example')), frame(Buffer.from([7]))]));
  assert.equal(r.closed, true);
  assert.deepEqual(r.replies.map((x) => decodeMessage(x).id).sort(), [1, 2, 3]);
  assert.ok(r.replies.every((x) => decodeMessage(x).rcode === Rcode.NOERROR));
});
