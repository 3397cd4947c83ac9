/**
 * Never fail open at start (issue 7): until the configured policy is loaded,
 * no answer leaves unfiltered.
 *
 * 1. The startup gate alone, with a fake clock: held queries go on when it
 *    opens, in arrival order; a query held past wait_ms, one past
 *    max_waiting, and every query in mode servfail get SERVFAIL with EDE 14
 *    (Not Ready); one timer serves every held query.
 * 2. The whole server (`verdict serve`, a child process) with a 300,000-rule
 *    zone that blocks `blocked.example`, recursing through one NSD serving a
 *    root zone in which `blocked.example` has an address. A client sends
 *    queries every few ms from before the process starts; no reply may
 *    carry that address. `wait`: every reply is the policy's (NXDOMAIN), the
 *    ones asked during the load included; `servfail`: SERVFAIL + EDE 14 until
 *    the policy is loaded, then NXDOMAIN; `closed`: no reply before it.
 *
 * Addresses: NSD root 127.55.207.1 port 53, Verdict 127.55.207.2 port 5480,
 * the client 127.55.207.3.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import { parseConfigText } from '../src/config/load.js';
import type { RequestContext, StageResult } from '../src/resolver/context.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { StartupGate } from '../src/resolver/stages/startup-gate.js';
import type { GateClock, GateOutcome, StartupGateOptions } from '../src/resolver/stages/startup-gate.js';
import { ask } from './helpers/client.js';
import { hasNsd, startMiniHier } from './helpers/minihier.js';
import type { MiniHierHandle } from './helpers/minihier.js';

// ================================================================ 1. the gate alone

class FakeClock implements GateClock {
  t = 0;
  timersSet = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private seq = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.timersSet++;
    this.timers.set(++this.seq, { at: this.t + ms, fn });
    return this.seq;
  }
  clearTimer(h: unknown): void {
    this.timers.delete(h as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

function ctx(id: number): RequestContext {
  const raw = encodeMessage(makeQuery(id, nameFromText('blocked.example.'), Type.A, { rd: true, edns: makeEdns(1232) }));
  return { raw, client: { address: '127.0.0.1', port: 5000 }, transport: 'udp', started: 0, maxSize: 1232, notes: {}, query: decodeMessage(raw) };
}

function gate(opts: Partial<StartupGateOptions> = {}) {
  const clock = new FakeClock();
  const outcomes: GateOutcome[] = [];
  const g = new StartupGate({ mode: 'wait', waitMs: 3000, maxWaiting: 100, clock, onOutcome: (o) => outcomes.push(o), ...opts });
  /** Each query's result as it settles, in settling order. */
  const settled: { id: number; result: StageResult }[] = [];
  const send = (id: number) => {
    const c = ctx(id);
    const r = g.handle(c);
    if (typeof r === 'string') settled.push({ id, result: r });
    else void r.then((result) => settled.push({ id, result }));
    return c;
  };
  return { g, clock, outcomes, settled, send };
}

/** The SERVFAIL the gate answers with: EDE 14 (Not Ready), saying why. */
function assertNotReady(c: RequestContext): void {
  const m = decodeMessage(c.wire!);
  assert.equal(m.rcode, Rcode.SERVFAIL);
  assert.equal(m.id, c.query!.id);
  assert.deepEqual(readEde(m), [{ code: Ede.NOT_READY, text: 'policy not loaded yet (server starting)' }]);
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('the startup gate', () => {
  test('wait: queries are held, then go on in arrival order when the policy is loaded', async () => {
    const h = gate();
    for (let id = 1; id <= 3; id++) h.send(id);
    h.clock.advance(2999);
    await flush();
    assert.deepEqual(h.settled, [], 'nothing goes on while the policy loads');
    assert.equal(h.g.waiting, 3);
    h.g.open();
    await flush();
    assert.deepEqual(h.settled, [1, 2, 3].map((id) => ({ id, result: 'next' })));
    assert.deepEqual(h.outcomes, ['released', 'released', 'released']);
    assert.equal(h.clock.pending, 0, 'no timer left');
    assert.equal(h.g.handle(ctx(4)), 'next', 'once open: synchronous, no promise');
  });

  test('wait: a query held wait_ms gets SERVFAIL with EDE 14; one timer serves them all', async () => {
    const h = gate({ waitMs: 3000 });
    const a = h.send(1);
    h.clock.advance(1000);
    const b = h.send(2);
    const c = h.send(3);
    assert.equal(h.clock.timersSet, 1, 'one timer, for the oldest');
    h.clock.advance(2000);
    await flush();
    assert.deepEqual(h.settled, [{ id: 1, result: 'answered' }]);
    assertNotReady(a);
    h.clock.advance(999);
    await flush();
    assert.equal(h.settled.length, 1);
    h.clock.advance(1);
    await flush();
    assert.deepEqual(h.settled.map((s) => s.id), [1, 2, 3]);
    assertNotReady(b);
    assertNotReady(c);
    assert.deepEqual(h.outcomes, ['timeout', 'timeout', 'timeout']);
    assert.equal(h.clock.timersSet, 2);
    assert.equal(h.g.waiting, 0);
  });

  test('wait: past max_waiting the next query gets SERVFAIL at once (bounded memory)', async () => {
    const h = gate({ maxWaiting: 2 });
    h.send(1);
    h.send(2);
    const third = h.send(3);
    assert.deepEqual(h.settled, [{ id: 3, result: 'answered' }]);
    assertNotReady(third);
    h.g.open();
    await flush();
    assert.deepEqual(h.outcomes, ['full', 'released', 'released']);
  });

  const table: { mode: StartupGateOptions['mode']; waitMs: number; outcome: GateOutcome }[] = [
    { mode: 'servfail', waitMs: 3000, outcome: 'servfail' },
    { mode: 'wait', waitMs: 0, outcome: 'servfail' },
  ];
  for (const t of table) {
    test(`${t.mode} with wait_ms ${t.waitMs}: SERVFAIL with EDE 14 at once until open, then every query goes on`, () => {
      const h = gate({ mode: t.mode, waitMs: t.waitMs });
      const c = h.send(1);
      assert.deepEqual(h.settled, [{ id: 1, result: 'answered' }]);
      assertNotReady(c);
      assert.deepEqual(h.outcomes, [t.outcome]);
      h.g.open();
      assert.equal(h.g.handle(ctx(2)), 'next');
    });
  }

  test('shut (stop, or the policy failed to load): held queries get SERVFAIL now', async () => {
    const h = gate();
    const a = h.send(1);
    h.g.shut();
    await flush();
    assertNotReady(a);
    assert.deepEqual(h.outcomes, ['shut']);
    assert.equal(h.clock.pending, 0);
    assertNotReady(h.send(2));
  });
});

// ================================================================ 2. the whole server

const ROOT = '127.55.207.1';
const VERDICT = { address: '127.55.207.2', port: 5480 };
const CLIENT = '127.55.207.3';
const RULES = 300_000;
const UNFILTERED = '192.0.2.1';
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'verdict-startup-'));
let hier: MiniHierHandle | undefined;
const skip = hasNsd() ? false : 'needs nsd (Debian package nsd)';

before(async () => {
  if (skip) return;
  writeFileSync(join(work, 'root.zone'), `$TTL 300
. SOA a.root.test. admin.root.test. 1 3600 600 86400 300
. NS a.root.test.
a.root.test. A ${ROOT}
blocked.example. A ${UNFILTERED}
open.example. A 192.0.2.2
`);
  // Many rules, so that loading takes a while; the rule that matters comes last.
  const lines = ['$TTL 60', '@ SOA ns.big.rpz. admin.big.rpz. 1 3600 600 86400 60', '@ NS ns.big.rpz.'];
  for (let i = 0; i < RULES; i++) lines.push(`s${i}.site${i % 977}.example CNAME .`);
  lines.push('blocked.example CNAME .', '');
  writeFileSync(join(work, 'big.rpz'), lines.join('\n'));
  hier = await startMiniHier([{ name: 'root', address: ROOT, zones: [{ origin: '.', file: join(work, 'root.zone') }] }]);
});
after(() => hier?.stop());

interface Reply {
  qname: string;
  sentAt: number;
  at: number;
  rcode: number;
  addresses: string[];
  ede: number[];
}

/**
 * Start `verdict serve` and query it every `everyMs` from just before the
 * process starts, alternating the blocked and an open name, until `after`
 * replies have come since the policy was loaded (bounded: `maxMs`).
 */
async function run(mode: string, opts: { waitMs?: number; everyMs?: number; maxMs?: number } = {}): Promise<{ replies: Reply[]; loadedAt: number; listeningAt: number | undefined; sent: number }> {
  const cfg = join(work, `${mode}.yaml`);
  writeFileSync(cfg, `server: { listen: ["${VERDICT.address}:${VERDICT.port}"] }
resolver:
  qname_minimisation: false
  root_hints: [{ name: a.root.test, address: ${ROOT} }]
rpz:
  startup: { mode: ${mode}, wait_ms: ${opts.waitMs ?? 30000} }
  zones: [{ name: big.rpz, file: big.rpz }]
log: { level: info, policy_hits: false }
control: { enabled: false }
dnssec: { validation: false }
mirrors: { enabled: false }
`);
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, CLIENT, () => r()));
  const sent = new Map<number, { qname: string; at: number }>();
  const replies: Reply[] = [];
  sock.on('message', (raw) => {
    const m = decodeMessage(raw);
    const q = sent.get(m.id);
    if (!q) return;
    sent.delete(m.id);
    replies.push({
      qname: q.qname, sentAt: q.at, at: Date.now(), rcode: m.rcode,
      addresses: m.answers.filter((r) => r.type === Type.A).map((r) => [...r.rdata].join('.')),
      ede: readEde(m).map((e) => e.code),
    });
  });
  let out = '';
  let loadedAt = 0;
  let listeningAt: number | undefined;
  let proc: ChildProcess | undefined;
  let id = 0;
  try {
    const send = () => {
      id++;
      const qname = id % 2 ? 'blocked.example.' : 'open.example.';
      sent.set(id, { qname, at: Date.now() });
      sock.send(encodeMessage(makeQuery(id, nameFromText(qname), Type.A, { rd: true, edns: makeEdns(1232) })), VERDICT.port, VERDICT.address);
    };
    send();
    proc = spawn(process.execPath, [CLI, 'serve', '-c', cfg], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    const onLog = (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n')) {
        if (!line.startsWith('{')) continue;
        const j = JSON.parse(line) as { msg: string; time: number };
        if (j.msg === 'policy loaded') loadedAt = j.time;
        if (j.msg.startsWith('listening; loading the policy')) listeningAt = j.time;
      }
    };
    proc.stdout!.on('data', onLog);
    proc.stderr!.on('data', onLog);
    const end = Date.now() + (opts.maxMs ?? 60_000);
    const every = opts.everyMs ?? 4;
    for (let i = 0; Date.now() < end && i < (opts.maxMs ?? 60_000) / every; i++) {
      if (proc.exitCode !== null) throw new Error(`verdict exited ${proc.exitCode}: ${out}`);
      if (loadedAt && replies.filter((r) => r.sentAt > loadedAt).length >= 20) break;
      send();
      await sleep(every);
    }
    assert.ok(loadedAt, `the policy loaded within the bound: ${out}`);
    // What is still held comes out now that the policy is loaded.
    for (let i = 0; i < 40 && sent.size > 0; i++) await sleep(50);
  } finally {
    sock.close();
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  }
  return { replies, loadedAt, listeningAt, sent: id };
}

function assertNeverUnfiltered(replies: Reply[]): void {
  const leaked = replies.filter((r) => r.qname === 'blocked.example.' && r.addresses.includes(UNFILTERED));
  assert.equal(leaked.length, 0, `${leaked.length} unfiltered answer(s) for blocked.example`);
}

describe('verdict serve with a 300,000-rule zone, queried from before the port opens', { skip }, () => {
  test('wait: the port opens at once; every reply is the policy\'s, the queries held during the load included', async (t) => {
    const { replies, loadedAt, listeningAt, sent } = await run('wait');
    t.diagnostic(`load ${loadedAt - listeningAt!} ms after the port opened; ${sent} sent, ${replies.length} replies, ${replies.filter((r) => r.sentAt < loadedAt).length} of them held during the load`);
    assertNeverUnfiltered(replies);
    assert.ok(listeningAt && listeningAt < loadedAt, 'the listeners opened before the policy was loaded');
    const blocked = replies.filter((r) => r.qname === 'blocked.example.');
    for (const r of blocked) assert.equal(r.rcode, Rcode.NXDOMAIN, JSON.stringify(r));
    for (const r of replies.filter((x) => x.qname === 'open.example.')) assert.deepEqual([r.rcode, r.addresses], [Rcode.NOERROR, ['192.0.2.2']]);
    const held = replies.filter((r) => r.sentAt < loadedAt);
    assert.ok(held.some((r) => r.qname === 'blocked.example.'), 'queries sent during the load were held and answered with the policy');
    for (const r of replies) assert.ok(r.at >= loadedAt - 5, 'no reply before the policy was loaded');
  });

  test('servfail: SERVFAIL with EDE 14 until the policy is loaded, then the policy\'s answer', async (t) => {
    const { replies, loadedAt, listeningAt, sent } = await run('servfail');
    t.diagnostic(`load ${loadedAt - listeningAt!} ms after the port opened; ${sent} sent, ${replies.length} replies, ${replies.filter((r) => r.rcode === Rcode.SERVFAIL).length} SERVFAIL`);
    assertNeverUnfiltered(replies);
    const early = replies.filter((r) => r.rcode === Rcode.SERVFAIL);
    assert.ok(early.length > 0, 'queries during the load got SERVFAIL');
    for (const r of early) {
      assert.deepEqual(r.ede, [Ede.NOT_READY]);
      assert.ok(r.sentAt < loadedAt, `SERVFAIL only for queries sent before the policy was loaded (${r.sentAt - loadedAt} ms)`);
    }
    const late = replies.filter((r) => r.rcode !== Rcode.SERVFAIL);
    assert.ok(late.length >= 20);
    for (const r of late) {
      if (r.qname === 'blocked.example.') assert.equal(r.rcode, Rcode.NXDOMAIN);
      else assert.deepEqual(r.addresses, ['192.0.2.2']);
    }
  });

  test('closed: no reply at all before the policy is loaded (the port opens after it)', async () => {
    const { replies, loadedAt, listeningAt } = await run('closed');
    assertNeverUnfiltered(replies);
    assert.equal(listeningAt, undefined);
    assert.ok(replies.length >= 20);
    for (const r of replies) {
      assert.ok(r.at >= loadedAt - 5, 'no reply before the policy was loaded');
      if (r.qname === 'blocked.example.') assert.equal(r.rcode, Rcode.NXDOMAIN);
    }
  });
});

test('SIGTERM while the policy loads: held TCP queries get SERVFAIL (EDE 14), never the unfiltered answer, then exit 0', { skip }, async () => {
  const cfg = join(work, 'sigterm.yaml');
  writeFileSync(cfg, `server: { listen: ["${VERDICT.address}:${VERDICT.port}"] }
resolver:
  qname_minimisation: false
  root_hints: [{ name: a.root.test, address: ${ROOT} }]
rpz:
  startup: { mode: wait, wait_ms: 30000 }
  zones: [{ name: big.rpz, file: big.rpz }]
log: { level: info, policy_hits: false }
control: { enabled: false }
dnssec: { validation: false }
mirrors: { enabled: false }
`);
  const proc = spawn(process.execPath, [CLI, 'serve', '-c', cfg], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 400 && !out.includes('listening; loading the policy'); i++) await sleep(10);
    assert.ok(out.includes('listening; loading the policy'), `the port opened before the load: ${out}`);
    // Two queries on one connection, held by the gate while the zone loads.
    const frames = [1, 2].map((id) => {
      const q = encodeMessage(makeQuery(id, nameFromText('blocked.example.'), Type.A, { rd: true, edns: makeEdns(1232) }));
      const f = Buffer.alloc(2 + q.length);
      f.writeUInt16BE(q.length, 0);
      q.copy(f, 2);
      return f;
    });
    const replies: Buffer[] = [];
    const c = connect(VERDICT.port, VERDICT.address);
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    c.on('error', () => undefined);
    await new Promise<void>((r) => c.once('connect', () => r()));
    c.write(Buffer.concat(frames));
    await sleep(50);
    assert.ok(!out.includes('"policy loaded"'), 'still loading when the signal comes (300,000 rules)');
    proc.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
    c.destroy();
    assert.equal(code, 0, `exit status after SIGTERM during the load: ${out.slice(-2000)}`);
    assert.equal(replies.length, 2, 'both held queries were answered before the exit');
    for (const raw of replies) {
      const m = decodeMessage(raw);
      assert.equal(m.rcode, Rcode.SERVFAIL);
      assert.deepEqual(readEde(m).map((e) => e.code), [Ede.NOT_READY]);
      assert.equal(m.answers.length, 0, 'never the unfiltered answer');
    }
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
});

// ================================================================ 3. zones from a primary (in the process)

/** Every name answered 192.0.2.1 by "the internet": any other answer was written by policy. */
class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const running: Verdict[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const v of running) await v.stop();
  for (const c of closers) c();
  rmSync(work, { recursive: true, force: true });
});

async function verdict(name: string, yaml: string): Promise<{ v: Verdict; started: Promise<void> }> {
  const file = join(work, `${name}.yaml`);
  const cfg = parseConfigText(`server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\n${yaml}`, file);
  const v = new Verdict({ config: cfg, file, baseDir: work }, { transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  running.push(v);
  return { v, started: v.start() };
}

/** A TCP relay to `to` that connects only after `delayMs`: a primary slow to send its zone. */
async function slowRelay(to: number, delayMs: number): Promise<number> {
  const srv = createServer((c) => {
    c.pause();
    setTimeout(() => {
      const u = connect(to, '127.0.0.1', () => {
        c.pipe(u);
        u.pipe(c);
        c.resume();
      });
      u.on('error', () => c.destroy());
      c.on('error', () => u.destroy());
    }, delayMs);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  closers.push(() => srv.close());
  return (srv.address() as { port: number }).port;
}

describe('zones from a primary at start', () => {
  test('the gate waits for the first transfer: queries during it are held, then get the feed\'s answer', async () => {
    writeFileSync(join(work, 'feed.rpz'), '$TTL 60\n@ SOA ns.feed.rpz. admin.feed.rpz. 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\nbad.example CNAME .\n');
    const p = await verdict('primary', 'rpz:\n  zones: [{ name: feed.rpz, file: feed.rpz }]\ntransfer: { allow: ["127.0.0.0/8"] }\n');
    await p.started;
    const xfrPort = await slowRelay(p.v.server.addresses[0]!.port, 800);
    // A zone without a copy goes straight to AXFR, over TCP: through the relay.
    const s = await verdict('secondary', `rpz:\n  zones: [{ name: feed.rpz, primary: "127.0.0.1:${xfrPort}" }]\n`);
    let loaded = false;
    void s.started.then(() => { loaded = true; });
    for (let i = 0; i < 100 && s.v.server.addresses.length === 0; i++) await sleep(5);
    const port = s.v.server.addresses[0]!.port;
    assert.equal(s.v.ready().ready, false);
    const during = ask('bad.example.', Type.A, port);
    await sleep(200);
    assert.equal(loaded, false, 'still transferring');
    const m = await during;
    assert.equal(m.rcode, Rcode.NXDOMAIN, 'held during the transfer, then answered with the feed');
    await s.started;
    assert.deepEqual(s.v.policy.status().map((z) => [z.zone, z.serial, z.enforced]), [['feed.rpz.', 1, true]]);
    assert.equal(s.v.ready().ready, true);
  });

  test('a primary that refuses the connection: the server starts without that zone, reported not enforced', async () => {
    const s = await verdict('unreachable', 'rpz:\n  zones: [{ name: down.rpz, primary: "127.0.0.1:1" }]\n');
    await s.started;
    const st = s.v.policy.status()[0]!;
    assert.equal(st.ok, false);
    assert.equal(st.enforced, false);
    assert.match(st.error ?? '', /cannot connect to 127\.0\.0\.1 port 1: .*\(not enforced until a transfer succeeds\)/);
    assert.match(await s.v.metrics.registry.metrics(), /verdict_rpz_zone_load_success\{zone="down\.rpz\."\} 0/);
    const m = await ask('bad.example.', Type.A, s.v.server.addresses[0]!.port);
    assert.equal(m.rcode, Rcode.NOERROR, 'answered, without the zone that could not load');
  });
});
