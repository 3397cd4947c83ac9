/**
 * Serve-stale (RFC 8767) end to end: Verdict instances on loopback resolving
 * from scripted authoritative servers on 127.55.253.0/24 (real UDP sockets),
 * which the tests make dead or slow. Verdict's clock is injected (the real
 * clock plus a skew the tests advance), so TTLs run out without sleeping; the
 * timers that bound a query (upstream, client response) run in real time.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfigText } from '../src/config/load.js';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message, Record } from '../src/dns/message.js';
import { namesEqual } from '../src/dns/name.js';
import { answerKey } from '../src/resolver/cache/answers.js';
import { rdataToIp } from '../src/resolver/iterator/iterator.js';
import { NetTransport } from '../src/resolver/transport.js';
import type { Transport } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';
import { authoritative, n, rr } from './helpers/scripted-net.js';

const ROOT = '127.55.253.1';
/** One zone per scenario, each on its own server, so scenarios share no data. */
const ZONES = { dead: '127.55.253.10', back: '127.55.253.20', gone: '127.55.253.30', neg: '127.55.253.40', slow: '127.55.253.50' };
type ZoneName = keyof typeof ZONES;

const UPSTREAM_MS = 200;
const QUERY_MS = 3000;
const MAX_STALE_TTL = 600;
/** Slack for timers and a loaded CI machine. */
const SLACK = 1000;

/** An authoritative server: answers from its records, or is dead (silent), or slow (answers after `delayMs`). */
interface Authority {
  apex: string;
  mode: 'up' | 'dead' | 'slow';
  delayMs: number;
  records: Record[];
  /** Queries received, and answers sent. */
  asked: number;
  answered: number;
}

const sockets: Socket[] = [];
const authorities = new Map<ZoneName, Authority>();
let port = 0;
let skew = 0;
const now = () => Date.now() + skew;
/** Let `s` seconds pass on Verdict's clock. */
const advance = (s: number) => { skew += s * 1000; };

async function serve(address: string, auth: Authority): Promise<void> {
  const u = createSocket('udp4');
  sockets.push(u);
  u.on('message', (raw, rinfo) => {
    let q: Message;
    try { q = decodeMessage(raw); } catch { return; }
    auth.asked++;
    if (auth.mode === 'dead') return;
    // Echo the ID and the question exactly as sent (0x20 case).
    const reply = encodeMessage({ ...authoritative([{ apex: auth.apex, records: auth.records }])(q.questions[0]!), id: q.id, questions: q.questions });
    const send = () => {
      auth.answered++;
      u.send(reply, rinfo.port, rinfo.address);
    };
    if (auth.mode === 'slow') setTimeout(send, auth.delayMs);
    else send();
  });
  await new Promise<void>((r) => u.bind(port, address, r));
  if (port === 0) port = u.address().port;
}

/** A Verdict resolving from ROOT; upstream queries go to the test servers' port. */
async function startVerdict(resolverYaml: string): Promise<{ verdict: Verdict; port: number }> {
  const text = `server: { listen: ["127.0.0.1:0"], allow: ["127.0.0.0/8"] }\n`
    + `resolver: { qname_minimisation: false, ${resolverYaml} }\n`
    + 'log: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\n';
  const net = new NetTransport(1232);
  const transport: Transport = { query: (q) => net.query({ ...q, port }) };
  const verdict = new Verdict({ config: parseConfigText(text, 'serve-stale-test.yaml'), file: 'serve-stale-test.yaml', baseDir: '.' }, {
    rootHints: [{ name: 'a.root.stale', address: ROOT }], transport, now,
  });
  await verdict.start();
  return { verdict, port: verdict.server.addresses.find((a) => a.transport === 'udp')!.port };
}

let on: { verdict: Verdict; port: number };
let off: { verdict: Verdict; port: number };
let slow: { verdict: Verdict; port: number };

before(async () => {
  const root: Record[] = [rr('.', 'SOA', 'a.root.stale'), rr('.', 'NS', 'a.root.stale'), rr('a.root.stale', 'A', ROOT)];
  for (const [zone, address] of Object.entries(ZONES)) root.push(rr(zone, 'NS', `ns.${zone}`), rr(`ns.${zone}`, 'A', address));
  await serve(ROOT, { apex: '.', mode: 'up', delayMs: 0, records: root, asked: 0, answered: 0 });
  for (const [zone, address] of Object.entries(ZONES) as [ZoneName, string][]) {
    const auth: Authority = {
      apex: zone, mode: 'up', delayMs: 0, asked: 0, answered: 0,
      records: [rr(zone, 'SOA', `ns.${zone}`), rr(zone, 'NS', `ns.${zone}`), rr(`ns.${zone}`, 'A', address), rr(`www.${zone}`, 'A', '192.0.2.1', 60), rr(`alias.${zone}`, 'CNAME', `www.${zone}`, 60)],
    };
    authorities.set(zone, auth);
    await serve(address, auth);
  }
  const timeouts = `upstream_timeout_ms: ${UPSTREAM_MS}, query_timeout_ms: ${QUERY_MS}`;
  on = await startVerdict(`${timeouts}, serve_stale: { enabled: true, max_stale_ttl: ${MAX_STALE_TTL} }`);
  off = await startVerdict(timeouts);
  // The slow server answers after 1.5 s: within the upstream timeout, after the client response timer.
  slow = await startVerdict('upstream_timeout_ms: 2500, query_timeout_ms: 4000, serve_stale: { enabled: true, client_timeout_ms: 600 }');
});

after(async () => {
  await on?.verdict.stop();
  await off?.verdict.stop();
  await slow?.verdict.stop();
  for (const s of sockets) s.close();
});

interface Answer {
  m: Message;
  ms: number;
  /** Addresses in the answer (the chain's A records). */
  ips: string[];
  ede: { code: number; text: string }[];
}

async function query(v: { port: number }, name: string): Promise<Answer> {
  const t0 = performance.now();
  const m = await ask(name, Type.A, v.port, { edns: makeEdns(1232) });
  return { m, ms: performance.now() - t0, ips: m.answers.filter((r) => r.type === Type.A).map(rdataToIp), ede: readEde(m) };
}

function assertStale(a: Answer, ips: string[]): void {
  assert.equal(a.m.rcode, Rcode.NOERROR);
  assert.deepEqual(a.ips, ips);
  assert.deepEqual(a.m.answers.map((r) => r.ttl), a.m.answers.map(() => 30), 'stale records carry the stale answer TTL (RFC 8767 4)');
  assert.equal(a.ede[0]?.code, Ede.STALE_ANSWER, 'EDE 3, Stale Answer (RFC 8914)');
}

function assertFresh(a: Answer, ips: string[]): void {
  assert.equal(a.m.rcode, Rcode.NOERROR);
  assert.deepEqual(a.ips, ips);
  assert.deepEqual(a.ede, []);
  assert.ok(a.m.answers.every((r) => r.ttl > 30), 'the records\' own TTL');
}

function setA(zone: ZoneName, ip: string): void {
  const auth = authorities.get(zone)!;
  const www = n(`www.${zone}`);
  auth.records = auth.records.filter((r) => !(r.type === Type.A && namesEqual(r.name, www))).concat(rr(`www.${zone}`, 'A', ip, 60));
}

/** Whether the wire-form answer cache holds a reply to `name` A (asked with EDNS, as query() does). */
function inAnswerCache(v: { verdict: Verdict }, name: string): boolean {
  const q = makeQuery(1, n(name), Type.A, { rd: true, edns: makeEdns(1232) });
  return v.verdict.answers.reply(answerKey(q), encodeMessage(q), q.questions[0]!.name, 65535) !== undefined;
}

async function staleCount(v: { verdict: Verdict }): Promise<number> {
  return (await v.verdict.metrics.staleAnswers.get()).values[0]?.value ?? 0;
}

test('all servers of a zone dead: the old data with TTL 30 and EDE 3 when enabled, SERVFAIL when not, within the time bound', async () => {
  for (const v of [on, off]) {
    assertFresh(await query(v, 'www.dead.'), ['192.0.2.1']);
    assertFresh(await query(v, 'alias.dead.'), ['192.0.2.1']);
  }
  assert.ok(inAnswerCache(on, 'www.dead.'), 'a fresh answer is in the wire-form answer cache');
  advance(61);
  authorities.get('dead')!.mode = 'dead';
  const counted = await staleCount(on);

  const stale = await query(on, 'www.dead.');
  assertStale(stale, ['192.0.2.1']);
  assert.match(stale.ede[0]!.text, /no reachable authority for dead\./, 'the EDE says why');
  assert.ok(stale.ms < QUERY_MS + SLACK, `answered in ${stale.ms} ms`);
  const chain = await query(on, 'alias.dead.');
  assertStale(chain, ['192.0.2.1']);
  assert.deepEqual(chain.m.answers.map((r) => r.type), [Type.CNAME, Type.A], 'a stale CNAME chain');
  assert.ok(!inAnswerCache(on, 'www.dead.') && !inAnswerCache(on, 'alias.dead.'), 'stale answers are never put in the wire-form answer cache');
  assert.equal(await staleCount(on) - counted, 2, 'verdict_stale_answers_total');

  const failed = await query(off, 'www.dead.');
  assert.equal(failed.m.rcode, Rcode.SERVFAIL, 'serve-stale off: SERVFAIL as before');
  assert.equal(failed.ede[0]?.code, Ede.NO_REACHABLE_AUTHORITY);
  assert.ok(failed.ms < QUERY_MS + SLACK, `answered in ${failed.ms} ms`);
});

test('after a failed refresh, stale data answers at once and the dead server is not asked again (failure recheck timer)', async () => {
  const auth = authorities.get('back')!;
  assertFresh(await query(on, 'www.back.'), ['192.0.2.1']);
  advance(61);
  auth.mode = 'dead';
  assertStale(await query(on, 'www.back.'), ['192.0.2.1']);
  const asked = auth.asked;
  for (let i = 0; i < 5; i++) {
    const a = await query(on, 'www.back.');
    assertStale(a, ['192.0.2.1']);
    assert.match(a.ede[0]!.text, /refresh failed, next attempt in \d+ s/);
    assert.ok(a.ms < 200, `at once, not after a timeout (${a.ms} ms)`);
  }
  assert.equal(auth.asked, asked, 'no refresh within the failure recheck timer');

  // The server comes back with new data: once the recheck timer has run out, fresh data replaces stale.
  auth.mode = 'up';
  setA('back', '192.0.2.2');
  assertStale(await query(on, 'www.back.'), ['192.0.2.1']);
  advance(31);
  assertFresh(await query(on, 'www.back.'), ['192.0.2.2']);
  assertFresh(await query(on, 'www.back.'), ['192.0.2.2']);
  assert.equal(auth.asked, asked + 1, 'refreshed once, then answered from the cache');
});

test('max_stale_ttl past expiry the stale data is gone: SERVFAIL', async () => {
  assertFresh(await query(on, 'www.gone.'), ['192.0.2.1']);
  authorities.get('gone')!.mode = 'dead';
  advance(MAX_STALE_TTL); // the TTL was 60 s: 540 s past expiry
  assertStale(await query(on, 'www.gone.'), ['192.0.2.1']);
  advance(60); // 600 s past expiry
  const a = await query(on, 'www.gone.');
  assert.equal(a.m.rcode, Rcode.SERVFAIL);
  assert.equal(a.ede[0]?.code, Ede.NO_REACHABLE_AUTHORITY);
  assert.ok(a.ms < QUERY_MS + SLACK, `answered in ${a.ms} ms`);
});

test('a negative answer is served stale too: NXDOMAIN with its SOA at TTL 30 and EDE 3', async () => {
  const fresh = await query(on, 'nothing.neg.');
  assert.equal(fresh.m.rcode, Rcode.NXDOMAIN);
  advance(301); // the SOA's negative TTL (RFC 2308) is 300 s
  authorities.get('neg')!.mode = 'dead';
  const stale = await query(on, 'nothing.neg.');
  assert.equal(stale.m.rcode, Rcode.NXDOMAIN);
  assert.deepEqual(stale.m.authorities.map((r) => [r.type, r.ttl]), [[Type.SOA, 30]]);
  assert.equal(stale.ede[0]?.code, Ede.STALE_ANSWER);
});

test('client response timer: a slow server and stale data, the stale answer within client_timeout_ms, then the refreshed data', async () => {
  const auth = authorities.get('slow')!;
  assertFresh(await query(slow, 'www.slow.'), ['192.0.2.1']);
  advance(61);
  auth.mode = 'slow';
  auth.delayMs = 1500;
  setA('slow', '192.0.2.5');
  const answered = auth.answered;
  const stale = await query(slow, 'www.slow.');
  assertStale(stale, ['192.0.2.1']);
  assert.match(stale.ede[0]!.text, /no answer after 600 ms, still resolving/);
  assert.ok(stale.ms >= 500 && stale.ms < 600 + SLACK, `stale answer after ${stale.ms} ms`);
  // The resolution went on: wait (bounded) for the slow server's answer to reach the cache.
  for (let i = 0; i < 60 && auth.answered === answered; i++) await sleep(50);
  assert.ok(auth.answered > answered, 'the slow server answered the refresh');
  await sleep(100);
  const fresh = await query(slow, 'www.slow.');
  assertFresh(fresh, ['192.0.2.5']);
  assert.ok(fresh.ms < 200, `from the refreshed cache (${fresh.ms} ms)`);
});
