/**
 * SIGTERM during load (issue 7, "Faults"): `verdict serve` as a process, a
 * slow authoritative server (127.55.254.1:53, answers after 1.5 s), and
 * queries in flight over TCP (several connections, several queries each) and
 * UDP when SIGTERM arrives. Every one of them is answered, with the real data,
 * after the signal; no new connection or datagram is accepted meanwhile; then
 * the process exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { udpExchange } from './helpers/client.js';
import { waitForOutput } from './helpers/process.js';

const UPSTREAM = '127.55.254.1';
const LISTEN = '127.55.254.2';
const DELAY_MS = 1500;
const dir = mkdtempSync(join(tmpdir(), 'verdict-sigterm-'));

// ------------------------------------------------------------------ the slow upstream

const seen: string[] = [];
const udp = createSocket('udp4');
const conns = new Set<Socket>();
let tcp: Server | undefined;
after(() => {
  udp.close();
  for (const c of conns) c.destroy();
  tcp?.close();
});

/** The root answers everything itself: priming at once, `slow*` names after DELAY_MS. */
function answer(q: Message): Promise<Buffer> {
  const question = q.questions[0]!;
  const name = nameToText(question.name).toLowerCase();
  seen.push(name);
  const m = emptyMessage({ id: q.id, qr: true, aa: true, questions: q.questions });
  if (question.type === Type.NS && name === '.') {
    m.answers.push({ name: question.name, type: Type.NS, class: 1, ttl: 3600, rdata: nameFromText('a.root.lab.') });
    m.additionals.push({ name: nameFromText('a.root.lab.'), type: Type.A, class: 1, ttl: 3600, rdata: Buffer.from([127, 55, 254, 1]) });
  } else if (question.type === Type.A) {
    m.answers.push({ name: question.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 7]) });
  }
  const wire = encodeMessage(m);
  return name.startsWith('slow') ? sleep(DELAY_MS).then(() => wire) : Promise.resolve(wire);
}

async function startUpstream(): Promise<void> {
  udp.on('message', (raw, rinfo) => {
    void answer(decodeMessage(raw)).then((w) => udp.send(w, rinfo.port, rinfo.address));
  });
  await new Promise<void>((r) => udp.bind(53, UPSTREAM, r));
  tcp = createServer((c) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
    c.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        void answer(q).then((w) => c.write(Buffer.concat([Buffer.from([w.length >> 8, w.length & 0xff]), w])));
      }
    });
  });
  await new Promise<void>((r) => tcp!.listen(53, UPSTREAM, r));
}

// ------------------------------------------------------------------ clients

interface Pending { sock: Socket; answers: { m: Message; at: number }[]; done: Promise<void> }

/** One TCP connection with `names` sent at once; resolves when every answer has come or the peer closed. */
function tcpClient(port: number, names: string[]): Promise<Pending> {
  return new Promise((resolve, reject) => {
    const sock = new Socket();
    const answers: Pending['answers'] = [];
    let buf = Buffer.alloc(0);
    let finish!: () => void;
    const done = new Promise<void>((r) => { finish = r; });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        answers.push({ m: decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))), at: performance.now() });
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (answers.length === names.length) finish();
    });
    sock.on('close', () => finish());
    sock.on('error', reject);
    sock.connect(port, LISTEN, () => {
      names.forEach((n, i) => {
        const q = encodeMessage(makeQuery(i + 1, nameFromText(n), Type.A, { rd: true }));
        sock.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]));
      });
      resolve({ sock, answers, done });
    });
  });
}

/** Does a new TCP connection get in? (false: refused or closed at once) */
function tcpAccepted(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('error', () => resolve(false));
    s.connect(port, LISTEN, () => {
      const q = encodeMessage(makeQuery(99, nameFromText('late.example.'), Type.A, { rd: true }));
      s.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]));
      s.once('data', () => { s.destroy(); resolve(true); });
      s.once('close', () => resolve(false));
      setTimeout(() => { s.destroy(); resolve(false); }, 1000);
    });
  });
}

// ------------------------------------------------------------------ the scenario

test('SIGTERM with queries in flight: every TCP (and UDP) answer is finished, nothing new is taken, then exit 0', async () => {
  await startUpstream();
  const cfg = join(dir, 'verdict.yaml');
  writeFileSync(cfg, `server: { listen: ["${LISTEN}:0"] }
resolver: { root_hints: [{ name: a.root.lab, address: ${UPSTREAM} }], qname_minimisation: false, upstream_timeout_ms: 4000, query_timeout_ms: 8000 }
control: { enabled: false }
dnssec: { validation: false }
mirrors: { enabled: false }
log: { level: info }
`);
  const proc = spawn(process.execPath, ['dist/src/cli.js', 'serve', '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; at: number }>((r) => proc.once('exit', (code) => r({ code, at: performance.now() })));
  try {
    const started = await waitForOutput(proc, /verdict listening/, 20_000);
    const port = Number(/"port":([0-9]+)/.exec(started)?.[1]);
    assert.ok(port > 0, `port from: ${started}`);
    // Priming done and the path works.
    const warm = decodeMessage((await udpExchange(encodeMessage(makeQuery(1, nameFromText('warm.example.'), Type.A, { rd: true })), port, LISTEN))!);
    assert.equal(warm.rcode, Rcode.NOERROR);
    // Before the signal a new connection is served (and late.example. is now cached, so after it
    // only draining, not a slow upstream, can explain a missing answer).
    assert.equal(await tcpAccepted(port), true);

    // Load: 3 connections x 4 queries over TCP, 2 over UDP, all waiting on the slow upstream.
    const clients = await Promise.all([0, 1, 2].map((c) => tcpClient(port, [0, 1, 2, 3].map((q) => `slow-${c}-${q}.example.`))));
    const udpAnswers = [0, 1].map((i) => udpExchange(encodeMessage(makeQuery(50 + i, nameFromText(`slow-udp-${i}.example.`), Type.A, { rd: true })), port, LISTEN, 6000));
    for (let i = 0; i < 100 && seen.filter((n) => n.startsWith('slow')).length < 14; i++) await sleep(20);
    assert.equal(seen.filter((n) => n.startsWith('slow')).length, 14, 'every query is in flight upstream');

    const signalled = performance.now();
    proc.kill('SIGTERM');
    await sleep(200);
    assert.equal(await tcpAccepted(port), false, 'no new TCP connection once draining');
    assert.equal(await udpExchange(encodeMessage(makeQuery(98, nameFromText('late.example.'), Type.A, { rd: true })), port, LISTEN, 500), undefined, 'no new UDP query once draining');

    await Promise.all(clients.map((c) => c.done));
    const all = clients.flatMap((c) => c.answers);
    assert.equal(all.length, 12, 'every TCP query answered');
    for (const { m, at } of all) {
      assert.equal(m.rcode, Rcode.NOERROR);
      assert.deepEqual([...m.answers[0]!.rdata], [192, 0, 2, 7]);
      assert.ok(at > signalled, 'answered after SIGTERM, i.e. it was in flight');
    }
    for (const raw of await Promise.all(udpAnswers)) {
      assert.ok(raw, 'the UDP queries in flight are answered too');
      assert.equal(decodeMessage(raw).rcode, Rcode.NOERROR);
    }
    const { code, at } = await exited;
    assert.equal(code, 0);
    assert.ok(at >= Math.max(...all.map((a) => a.at)), 'exit after the last answer');
    assert.ok(at - signalled < 5000 + DELAY_MS, `exit ${(at - signalled).toFixed(0)} ms after SIGTERM`);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
});
