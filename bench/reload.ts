/**
 * A 1,000,000-rule RPZ zone loaded while the server keeps answering.
 *
 * Starts Verdict (in-process, real UDP socket on loopback, a scripted upstream
 * so every name resolves at once) with a small policy, then reloads with a
 * config whose zone file holds RULES QNAME triggers (plus RULES/10 CIDR
 * triggers), while a client sends queries back to back over UDP. Prints, as
 * the median of RUNS runs: the load time, queries answered during the load,
 * the worst and p99 latency of those answers, how many were lost, the longest
 * event-loop stall (perf_hooks monitorEventLoopDelay), the memory the new
 * policy holds (V8 heap plus memory outside it: typed arrays and Buffers,
 * `external`, which includes `arrayBuffers`) and the RSS; then that a rule
 * from the big zone is enforced.
 *
 * The big zone is a different file from the small one (`feed-big.rpz`, set by
 * the reloaded config), so the zone-file watcher (which reloads `feed.rpz`
 * when it changes) stays out of it: copying over `feed.rpz` made the watcher
 * run a second 1M-rule load right after the measured one, which then ran on
 * into the next run.
 *
 * Usage: npm run bench:reload [-- RULES [RUNS]]
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { createSocket } from 'node:dgram';
import { open } from 'node:fs/promises';
import { writeRpz } from './gen-rpz.js';

const rules = Number(process.argv[2] ?? 1_000_000);
const runs = Number(process.argv[3] ?? 3);

class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 0, sentName: q.name, tcp: false };
  }
}

const big = join(tmpdir(), `verdict-bench-${rules}.rpz`);
if (!existsSync(big)) {
  process.stdout.write(`generating ${big} ...\n`);
  await writeRpz(big, rules, Math.floor(rules / 10));
}
const names = await writeRpz(join(tmpdir(), 'verdict-bench-names.rpz'), 1000, 0);

const mb = (n: number) => (n / 1048576).toFixed(0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Mem { heap: number; external: number; arrayBuffers: number }
interface Run { loadS: number; before: Mem; after: Mem; rssAfter: number; answered: number; lost: number; worstMs: number; p99Ms: number; stallMs: number; enforced: boolean }

/** Heap and off-heap memory after GC (ArrayBuffers are freed by finalisers, hence the pauses). */
async function memory(): Promise<Mem> {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}
/** What the policy holds: heap + external (external already counts arrayBuffers). */
const held = (r: Run) => r.after.heap + r.after.external - r.before.heap - r.before.external;

async function once(): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-bench-reload-'));
  const zone = join(dir, 'feed.rpz');
  writeFileSync(zone, '$TTL 300\n@ SOA ns.bench.rpz. h.bench.rpz. 1 3600 600 86400 60\n@ NS ns.bench.rpz.\nsmall.example CNAME .\n');
  const yaml = 'server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { enabled: false }\nrpz:\n  qname_wait_recurse: false\n  zones:\n    - { name: bench.rpz, file: feed.rpz }\n';
  const loaded = { config: parseConfigText(yaml, join(dir, 'v.yaml')), file: join(dir, 'v.yaml'), baseDir: dir };
  const bigYaml = yaml.replace('file: feed.rpz', 'file: feed-big.rpz');
  const bigLoaded = { config: parseConfigText(bigYaml, join(dir, 'v.yaml')), file: join(dir, 'v.yaml'), baseDir: dir };
  copyFileSync(big, join(dir, 'feed-big.rpz'));
  const v = new Verdict(loaded, { transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  const port = v.server.addresses[0]!.port;
  const before = await memory();

  // The client: one query in flight at a time, 1 s timeout each (a lost query counts once).
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let id = 0;
  const pending = new Map<number, { t0: number; done: (ok: boolean) => void }>();
  sock.on('message', (msg) => {
    const p = pending.get(msg.readUInt16BE(0));
    if (p) { pending.delete(msg.readUInt16BE(0)); p.done(true); }
  });
  const latencies: number[] = [];
  let lost = 0;
  let stop = false;
  const client = (async () => {
    for (let i = 0; !stop && i < 10_000_000; i++) {
      const qid = (id = (id + 1) & 0xffff);
      const wire = encodeMessage(makeQuery(qid, nameFromText(`q${i % 5000}.${names[i % names.length]}.`), Type.A, { rd: true }));
      const t0 = performance.now();
      const ok = await new Promise<boolean>((done) => {
        pending.set(qid, { t0, done });
        sock.send(wire, port, '127.0.0.1');
        setTimeout(() => { if (pending.delete(qid)) done(false); }, 1000);
      });
      if (ok) latencies.push(performance.now() - t0); else lost++;
    }
  })();

  await new Promise((r) => setTimeout(r, 300));
  const answeredBefore = latencies.length;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  await v.reload(bigLoaded);
  const loadS = (performance.now() - t0) / 1000;
  loop.disable();
  const during = latencies.slice(answeredBefore);
  stop = true;
  await client;
  const after = await memory();
  const rssAfter = process.memoryUsage().rss;
  // A rule of the big zone is enforced: its first name is a QNAME trigger; the upstream would say 192.0.2.1.
  const ruleName = await firstRule();
  const probe = await new Promise<Buffer>((res) => {
    sock.removeAllListeners('message');
    sock.once('message', (msg) => res(msg));
    sock.send(encodeMessage(makeQuery(4242, nameFromText(`${ruleName}.`), Type.A, { rd: true })), port, '127.0.0.1');
  });
  const answer = decodeMessage(probe);
  const rewritten = answer.rcode !== Rcode.NOERROR || !answer.answers.some((r) => r.type === Type.A && r.rdata.equals(Buffer.from([192, 0, 2, 1])));
  sock.close();
  await v.stop();
  rmSync(dir, { recursive: true, force: true });
  during.sort((a, b) => a - b);
  return {
    loadS, before, after, rssAfter, stallMs: loop.max / 1e6,
    answered: during.length, lost,
    worstMs: during[during.length - 1] ?? 0,
    p99Ms: during[Math.floor(during.length * 0.99)] ?? 0,
    enforced: rewritten,
  };
}

let first: string | undefined;
async function firstRule(): Promise<string> {
  if (first) return first;
  const fh = await open(big);
  const buf = Buffer.alloc(4096);
  await fh.read(buf, 0, 4096, 0);
  await fh.close();
  const line = buf.toString().split('\n').find((l) => l && !l.startsWith('$') && !l.startsWith('@') && !l.startsWith(';'))!;
  first = line.split(/\s+/)[0]!.replace(/^\*\./, 'x.');
  return first;
}

const results: Run[] = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  results.push(r);
  process.stdout.write(`run ${i + 1}: load ${r.loadS.toFixed(2)} s, answered during load ${r.answered}, lost ${r.lost}, worst ${r.worstMs.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, longest event-loop stall ${r.stallMs.toFixed(0)} ms, ` +
    `policy memory +${mb(held(r))} MiB (heap +${mb(r.after.heap - r.before.heap)}, external +${mb(r.after.external - r.before.external)} of which arrayBuffers +${mb(r.after.arrayBuffers - r.before.arrayBuffers)}), rss ${mb(r.rssAfter)} MiB\n`);
}
const m = (f: (r: Run) => number) => median(results.map(f));
process.stdout.write(`\n${rules} QNAME + ${Math.floor(rules / 10)} CIDR rules, median of ${runs} runs (node ${process.version}):\n`);
process.stdout.write(`  load (parse + build + swap) while serving: ${m((r) => r.loadS).toFixed(2)} s\n`);
process.stdout.write(`  queries answered during the load: ${m((r) => r.answered)}, lost: ${m((r) => r.lost)}\n`);
process.stdout.write(`  latency during the load: p99 ${m((r) => r.p99Ms).toFixed(1)} ms, worst ${m((r) => r.worstMs).toFixed(1)} ms; longest event-loop stall ${m((r) => r.stallMs).toFixed(0)} ms (worst run ${Math.max(...results.map((r) => r.stallMs)).toFixed(0)} ms)\n`);
process.stdout.write(`  memory held by the policy (heap + external incl. arrayBuffers): ${mb(m(held))} MiB (${(m(held) / (rules * 1.1)).toFixed(0)} bytes/rule), process RSS after: ${mb(m((r) => r.rssAfter))} MiB\n`);
process.stdout.write(`  rule from the new zone enforced after the load: ${results.every((r) => r.enforced) ? 'yes' : 'NO'}\n`);
