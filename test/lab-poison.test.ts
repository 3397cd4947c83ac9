/**
 * Anti-poisoning against the lab, with real sockets:
 *  - ns1.poisoner.net adds out-of-bailiwick records (a forged www.example.com,
 *    NS for example.com and com, glue for ns1.example.com and a.gtld.lab) to
 *    every answer;
 *  - the test takes the place of ns1.racing.net and, for every query Verdict
 *    sends it, races forged answers (wrong IDs from the right address and port,
 *    the right ID from a wrong port or address, the right ID with the question's
 *    0x20 case changed) ahead of the real one.
 * Nothing forged may reach the cache or the client.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { AuthData, AuthoritativeStage } from '../src/lab/authserver.js';
import { startLab } from '../src/lab/lab.js';
import type { Lab } from '../src/lab/lab.js';
import { rdataToIp } from '../src/resolver/iterator/iterator.js';
import { Pipeline } from '../src/resolver/pipeline.js';
import { DecodeStage } from '../src/resolver/stages/decode.js';
import { NetTransport } from '../src/resolver/transport.js';
import { ask } from './helpers/client.js';
import { answerLines, startVerdict } from './helpers/lab.js';
import type { VerdictOnLab } from './helpers/lab.js';

const RACING = '127.55.7.2';
/** A bystander address, not in the lab, for answers from the wrong address. */
const ELSEWHERE = '127.55.7.9';
const FORGED = [203, 0, 113, 66];
const WRONG_IDS = 120;

let lab: Lab;
let v: VerdictOnLab;
let server: Socket;
let otherPort: Socket;
let otherAddress: Socket;
const seen: { id: number; port: number }[] = [];

function bind(s: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => { s.off('error', reject); resolve(); });
  });
}

function send(s: Socket, m: Message, to: RemoteInfo): Promise<void> {
  return new Promise((resolve) => s.send(encodeMessage(m), to.port, to.address, () => resolve()));
}

/** The answer an attacker would like the resolver to take. */
function forgery(query: Message, id: number): Message {
  const q = query.questions[0]!;
  return emptyMessage({
    id, qr: true, aa: true, questions: [q],
    answers: [{ name: q.name, type: Type.A, class: 1, ttl: 86400, rdata: Buffer.from(FORGED) }],
  });
}

function flipCase(name: Buffer): Buffer {
  const out = Buffer.from(name);
  for (let i = 0; i < out.length; i++) {
    const c = out[i]!;
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) out[i] = c ^ 0x20;
  }
  return out;
}

before(async () => {
  lab = await startLab({ omit: [RACING] });
  v = await startVerdict(lab.rootHints);
  // The real racing.net server, answering from the lab's zone file, after the forgeries.
  const zone = new Pipeline([new DecodeStage(4096), new AuthoritativeStage(new AuthData([lab.zones.get('racing.net')!]))]);
  server = createSocket('udp4');
  otherPort = createSocket('udp4');
  otherAddress = createSocket('udp4');
  await bind(server, 53, RACING);
  await bind(otherPort, 0, RACING);
  await bind(otherAddress, 53, ELSEWHERE);
  server.on('message', (raw, rinfo) => {
    const query = decodeMessage(raw);
    seen.push({ id: query.id, port: rinfo.port });
    void (async () => {
      for (let i = 1; i <= WRONG_IDS; i++) {
        await send(server, forgery(query, (query.id + i) & 0xffff), rinfo);
        if (i % 20 === 0) await sleep(1); // let the resolver's socket drain
      }
      await send(otherPort, forgery(query, query.id), rinfo);
      await send(otherAddress, forgery(query, query.id), rinfo);
      const recased = forgery(query, query.id);
      recased.questions = [{ ...recased.questions[0]!, name: flipCase(recased.questions[0]!.name) }];
      await send(server, recased, rinfo);
      await sleep(20);
      const real = zone.run({ raw, client: rinfo, transport: 'udp', started: 0, maxSize: 512, notes: {} }) as Buffer;
      server.send(real, rinfo.port, rinfo.address);
    })();
  });
});

after(async () => {
  for (const s of [server, otherPort, otherAddress]) s?.close();
  await v?.stop();
  await lab?.stop();
});

const n = (t: string) => nameFromText(t);
const ips = (rrs: { rdata: Buffer; type: number; name: Buffer; class: number; ttl: number }[] | undefined) => (rrs ?? []).map(rdataToIp).sort();
const targets = (rrs: { rdata: Buffer }[] | undefined) => (rrs ?? []).map((r) => nameToText(r.rdata).toLowerCase()).sort();

/** What the cache knows about the names the poisoner tries to take over. */
function assertCacheClean(): void {
  const c = v.verdict.cache;
  const www = c.getRRset(n('www.example.com.'), Type.A);
  if (www) assert.deepEqual(ips(www), ['192.0.2.10']);
  const exNs = c.getRRset(n('example.com.'), Type.NS);
  if (exNs) assert.deepEqual(targets(exNs), ['ns1.example.com.', 'ns2.example.com.']);
  const comNs = c.getRRset(n('com.'), Type.NS);
  if (comNs) assert.deepEqual(targets(comNs), ['a.gtld.lab.', 'b.gtld.lab.']);
  const ns1 = c.getRRset(n('ns1.example.com.'), Type.A);
  if (ns1) assert.deepEqual(ips(ns1), ['127.55.2.1']);
  const gtld = c.getRRset(n('a.gtld.lab.'), Type.A);
  if (gtld) assert.deepEqual(ips(gtld), ['127.55.1.1']);
}

for (const tcp of [false, true]) {
  const via = tcp ? 'TCP' : 'UDP';

  test(`out-of-bailiwick records are dropped: the client (${via}) gets only poisoner.net's own data`, async () => {
    v.flush();
    const m = await ask('www.poisoner.net.', Type.A, v.port, { tcp });
    assert.deepEqual(answerLines(m), ['www.poisoner.net. A 198.51.100.66']);
    assert.equal(m.authorities.length, 0);
    assert.equal(m.additionals.length, 0);
    assert.equal(v.verdict.cache.getRRset(n('www.example.com.'), Type.A), undefined, 'the forged www.example.com was not cached');
    assert.equal(v.verdict.cache.getRRset(n('example.com.'), Type.NS), undefined, 'the forged delegation was not cached');
    assert.equal(v.verdict.cache.getRRset(n('ns1.example.com.'), Type.A), undefined, 'the forged glue was not cached');
    assertCacheClean();
  });

  test(`a CNAME out of the poisoner's zone is resolved from its own servers (${via})`, async () => {
    v.flush();
    const m = await ask('to-example.poisoner.net.', Type.A, v.port, { tcp });
    assert.deepEqual(answerLines(m), ['to-example.poisoner.net. CNAME www.example.com.', 'www.example.com. A 192.0.2.10']);
    assertCacheClean();
    const after = await ask('www.example.com.', Type.A, v.port, { tcp });
    assert.deepEqual(answerLines(after), ['www.example.com. A 192.0.2.10']);
    assertCacheClean();
  });

  test(`forged answers raced to the upstream socket are ignored; the real one wins (${via})`, async () => {
    v.flush();
    const stats = (v.verdict.transport as NetTransport).stats;
    const mismatched = stats.mismatched;
    const queries = seen.length;
    const m = await ask('www.racing.net.', Type.A, v.port, { tcp });
    assert.deepEqual(answerLines(m), ['www.racing.net. A 198.51.100.77']);
    assert.deepEqual(ips(v.verdict.cache.getRRset(n('www.racing.net.'), Type.A)), ['198.51.100.77']);
    const raced = seen.length - queries;
    assert.ok(raced >= 1, 'Verdict asked the racing server');
    // Every forged datagram was received and counted as not matching (none taken).
    assert.ok(stats.mismatched - mismatched >= raced * (WRONG_IDS + 2), `mismatched: ${stats.mismatched - mismatched} for ${raced} queries`);
    // Each query came from its own source port with its own ID (RFC 5452).
    const recent = seen.slice(-raced);
    assert.equal(new Set(recent.map((s) => s.port)).size, recent.length);
  });
}

test('many racing resolutions in a row: never a forged address in any answer or in the cache', async () => {
  for (let i = 0; i < 5; i++) {
    v.flush();
    const m = await ask(`www.racing.net.`, Type.A, v.port, { tcp: i % 2 === 1 });
    assert.deepEqual(answerLines(m), ['www.racing.net. A 198.51.100.77']);
  }
  assert.equal(v.verdict.cache.getRRset(n('www.racing.net.'), Type.A)!.some((r) => r.rdata.equals(Buffer.from(FORGED))), false);
});
