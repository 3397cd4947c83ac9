/**
 * Traffic shaped like an ISP's (issue 14, the headline of bench/README.md):
 * Verdict and the four resolvers ISPs run (Unbound, BIND 9, PowerDNS Recursor,
 * Knot Resolver; bench/peers/), one after the other in one run, each with the
 * same 1,000,000-rule RPZ zone (QNAME triggers, applied before recursion),
 * against the NSD lab (bench/nsdlab.ts), one worker thread, validation and
 * QNAME minimisation off, as bench:e2e.
 *
 * The queries: one stream of names drawn from a Zipf distribution (exponent
 * --zipf, 1.1 by default) over --names ranks (1,000,000), most queries to few
 * names and a long tail asked once; the rank decides the name:
 *   - 3 in 100 ranks (by a hash of the rank; the top 20 are all real names): a name the RPZ blocks (its answer never goes upstream);
 *   - 5 in 100: a name that does not exist (NXDOMAIN from example.org, then
 *     negatively cached);
 *   - the rest: `nRANK.wild.example.com` (a wildcard answer); one rank in ten
 *     asks AAAA (NODATA there), the others A.
 * The stream is cut into files: a warm-up (--warm queries), then one file per
 * run, so every run continues the stream where the last one stopped, and every
 * resolver gets the same files. Every line is asked once (dnsperf -n 1).
 *
 * Per resolver: start (time to the first policy-correct answer), warm-up at
 * saturation, RUNS runs at saturation (q/s, CPU µs per query from
 * /proc/PID/stat, hit share = 1 - NSD's queries for the two zones / answers),
 * one run at a fixed offered load (--rate, dnsperf -Q: p99 latency, lost), and
 * resident memory at the end. Then one table, with ratios to Unbound.
 *
 * Usage: npm run bench:isp [-- OPTIONS]
 *   --runs N (3)  --duration S (10)  --rules N (1,000,000)  --names N (1,000,000)
 *   --zipf S (1.1)  --warm N (400,000)  --rate Q (5,000)  --only a,b  --quick  --keep
 */
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rng, writeBenchZone } from './gen-rpz.js';
import { ask, DNSPERF, dnsperf, freePort, median, out, rssMiB, startPeer, toolVersions, TYPES } from './measure.js';
import type { Perf, Readiness, Running } from './measure.js';
import { startNsdLab } from './nsdlab.js';
import type { NsdLab } from './nsdlab.js';
import { selectPeers } from './peers/index.js';
import type { Peer } from './peers/peer.js';
import { stopAll, stopOnSignals, stopProc } from './processes.js';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string' }, duration: { type: 'string' }, rules: { type: 'string' }, names: { type: 'string' },
    zipf: { type: 'string' }, warm: { type: 'string' }, rate: { type: 'string' }, only: { type: 'string' },
    quick: { type: 'boolean' }, keep: { type: 'boolean' },
  },
});
const RUNS = Number(argv.runs ?? (argv.quick ? 2 : 3));
const DURATION = Number(argv.duration ?? (argv.quick ? 4 : 10));
const RULES = Number(argv.rules ?? (argv.quick ? 100_000 : 1_000_000));
const NAMES = Number(argv.names ?? 1_000_000);
const ZIPF = Number(argv.zipf ?? 1.1);
const WARM = Number(argv.warm ?? (argv.quick ? 150_000 : 400_000));
const RATE = Number(argv.rate ?? 5000);
/** Lines per run file: more than the fastest resolver answers in DURATION s. */
const PER_RUN = 60_000 * DURATION;
const PROBE = 'mail.example.com';
const START_TIMEOUT_S = 180;
const ZONES = ['example.com', 'example.org'];

const policyApplied: Readiness = async (port) => {
  const r = await ask('127.0.0.1', port, PROBE, TYPES.A!, 200);
  return r?.rcode === 3 ? true : r ? `rcode ${r.rcode} (policy not applied yet)` : 'no answer';
};

/** Ranks 1..n drawn with P(r) proportional to 1/r^s (inverse CDF over a table, binary search). */
function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 1; r <= n; r++) cdf[r - 1] = sum += 1 / Math.pow(r, s);
  return () => {
    const x = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

/** The question a rank stands for (see the header). */
function question(rank: number, blocked: readonly string[], wild: readonly boolean[]): string {
  // A hash of the rank, not the rank: the most popular names are not all of one kind (ranks 1-3 would all be blocked).
  const k = rank <= 20 ? 99 : (Math.imul(rank, 0x9e3779b1) >>> 0) % 100;
  if (k < 3) {
    const i = rank % blocked.length;
    return `${wild[i] ? 'www.' : ''}${blocked[i]} A`;
  }
  if (k < 8) return `nx${rank.toString(36)}.example.org A`;
  return `n${rank.toString(36)}.wild.example.com ${rank % 10 === 9 ? 'AAAA' : 'A'}`;
}

/** The stream, cut into the warm-up file and RUNS run files; with the share of distinct names per file. */
async function writeStream(dir: string, blocked: readonly string[], wild: readonly boolean[]): Promise<{ warm: string; runs: string[]; notes: string[] }> {
  const draw = zipfSampler(NAMES, ZIPF, rng(2026));
  const seen = new Set<number>();
  const notes: string[] = [];
  const file = async (name: string, lines: number): Promise<string> => {
    const path = join(dir, name);
    const ws = createWriteStream(path);
    let chunk = '';
    let fresh = 0;
    for (let i = 0; i < lines; i++) {
      const r = draw();
      if (!seen.has(r)) { seen.add(r); fresh++; }
      chunk += question(r, blocked, wild) + '\n';
      if (chunk.length > 1 << 16) {
        if (!ws.write(chunk)) await new Promise<void>((res) => ws.once('drain', () => res()));
        chunk = '';
      }
    }
    ws.end(chunk);
    await new Promise<void>((res) => ws.once('finish', () => res()));
    notes.push(`${name}: ${lines.toLocaleString('en')} queries, ${(100 * fresh / lines).toFixed(1)}% names not asked before in the stream`);
    return path;
  };
  const warm = await file('warm.txt', WARM);
  const runs: string[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await file(`run-${i}.txt`, PER_RUN));
  return { warm, runs, notes };
}

interface Result {
  peer: Peer;
  error?: string;
  startS?: number;
  qps: number[]; cpuUs: number[]; hit: number[]; lost: number[];
  loadP99Ms?: number; loadMeanMs?: number; loadLost?: number; loadSent?: number;
  rssMiB?: number;
  rcodes?: string;
}

const upstream = (lab: NsdLab): number => ZONES.reduce((a, z) => a + lab.queries(z), 0);

async function measurePeer(peer: Peer, lab: NsdLab, zone: string, files: { warm: string; runs: string[] }, root: string, port: number): Promise<Result> {
  const res: Result = { peer, qps: [], cpuUs: [], hit: [], lost: [] };
  const why = peer.missing();
  if (why) { res.error = why; out(`  SKIPPED: ${why}`); return res; }
  let run: Running | undefined;
  try {
    run = await startPeer(peer, { dir: join(root, peer.id), port, rpz: zone, hints: lab.rootHints }, policyApplied, START_TIMEOUT_S, 50);
    res.startS = run.startS;
    out(`  started (pid ${run.pid}), first policy-correct answer after ${run.startS.toFixed(1)} s`);
    const w = await dnsperf(port, files.warm, { seconds: 120, once: true, pid: run.pid });
    out(`  warm-up: ${w.completed.toLocaleString('en')} answers at ${Math.round(w.qps)} q/s, lost ${w.lost}`);
    for (const f of files.runs.slice(0, RUNS - 1)) {
      const u0 = upstream(lab);
      const p: Perf = await dnsperf(port, f, { seconds: DURATION, once: true, pid: run.pid });
      const hit = 1 - (upstream(lab) - u0) / Math.max(1, p.completed);
      res.qps.push(p.qps); res.cpuUs.push(p.cpuUs); res.hit.push(hit); res.lost.push(p.lost);
      res.rcodes = p.rcodes;
      out(`  saturated: ${Math.round(p.qps)} q/s, ${p.cpuUs.toFixed(1)} µs CPU/query, ${(hit * 100).toFixed(1)}% answered without going upstream, lost ${p.lost}; ${p.rcodes}`);
    }
    // The last file at a fixed offered load: the latency a subscriber sees.
    const l = await dnsperf(port, files.runs[RUNS - 1]!, { seconds: DURATION, once: true, rate: RATE, verbose: true, pid: run.pid });
    Object.assign(res, { loadP99Ms: l.p99Ms, loadMeanMs: l.meanMs, loadLost: l.lost, loadSent: l.sent });
    out(`  at ${RATE} q/s offered: answered ${l.completed} of ${l.sent}, lost ${l.lost}, mean ${l.meanMs.toFixed(2)} ms, p99 ${l.p99Ms.toFixed(2)} ms`);
    res.rssMiB = rssMiB(run.pid);
    out(`  VmRSS ${res.rssMiB.toFixed(0)} MiB`);
  } catch (e) {
    res.error = (e as Error).message;
    out(`  FAILED: ${res.error}`);
  } finally {
    if (run) await stopProc(run.proc, 10_000);
  }
  return res;
}

function printTable(results: Result[]): void {
  const ub = results.find((r) => r.peer.id === 'unbound' && !r.error);
  type Row = [string, (r: Result) => number | undefined, number];
  const med = (xs: number[]) => (xs.length ? median(xs) : undefined);
  const span = (xs: number[], d: number) => (xs.length > 1 ? ` [${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}]` : '');
  const rows: [Row, (r: Result) => number[]][] = [
    [['q/s at saturation (median)', (r) => med(r.qps), 0], (r) => r.qps],
    [['CPU µs per query', (r) => med(r.cpuUs), 1], (r) => r.cpuUs],
    [['answered without going upstream %', (r) => { const h = med(r.hit); return h === undefined ? undefined : h * 100; }, 1], (r) => r.hit.map((h) => h * 100)],
    [[`p99 latency ms @ ${RATE} q/s`, (r) => r.loadP99Ms, 2], () => []],
    [[`mean latency ms @ ${RATE} q/s`, (r) => r.loadMeanMs, 2], () => []],
    [[`lost @ ${RATE} q/s`, (r) => r.loadLost, 0], () => []],
    [['VmRSS MiB at the end', (r) => r.rssMiB, 0], () => []],
    [['start to policy answer s', (r) => r.startS, 1], () => []],
  ];
  const cell = (r: Result, [row, runs]: [Row, (r: Result) => number[]]) => {
    const v = row[1](r);
    if (v === undefined || !Number.isFinite(v)) return r.error ? 'failed' : '-';
    const base = ub ? row[1](ub) : undefined;
    const ratio = base && Number.isFinite(base) && base > 0 && r !== ub ? ` (${(v / base).toFixed(2)}x)` : '';
    return v.toFixed(row[2]) + span(runs(r), row[2]) + ratio;
  };
  out(`\nbench:isp (${new Date().toISOString().slice(0, 16)}Z, node ${process.version}): Zipf s=${ZIPF} over ${NAMES.toLocaleString('en')} names, ${RULES.toLocaleString('en')} RPZ rules, medians of ${RUNS - 1} saturated runs of ${DURATION} s [min-max], ratio to Unbound in parentheses`);
  out(`| figure | ${results.map((r) => r.peer.label).join(' | ')} |`);
  out(`| --- | ${results.map(() => '---').join(' | ')} |`);
  for (const row of rows) out(`| ${row[0][0]} | ${results.map((r) => cell(r, row)).join(' | ')} |`);
  for (const r of results) if (r.error) out(`  ${r.peer.label}: ${r.error}`);
}

async function main(): Promise<void> {
  if (RUNS < 2) throw new Error('--runs must be at least 2 (the last run is the fixed-load one)');
  if (!existsSync(DNSPERF)) throw new Error(`${DNSPERF} not found (apt-get install dnsperf)`);
  const root = mkdtempSync(join(tmpdir(), 'verdict-isp-'));
  stopOnSignals(() => { if (!argv.keep) rmSync(root, { recursive: true, force: true }); });
  try {
    const cpu = cpus();
    out(`bench:isp  ${new Date().toISOString()}  node ${process.version}  ${cpu.length} x ${cpu[0]?.model ?? '?'}`);
    out(`  ${toolVersions()}`);
    out(`  ${RUNS - 1} saturated runs of ${DURATION} s + 1 at ${RATE} q/s; ${RULES.toLocaleString('en')} rules; Zipf s=${ZIPF} over ${NAMES.toLocaleString('en')} names; warm-up ${WARM.toLocaleString('en')} queries`);
    const zone = join(root, 'isp.rpz');
    const wild: boolean[] = [];
    const t0 = performance.now();
    const blocked = await writeBenchZone(zone, RULES, [PROBE], wild);
    out(`  zone: ${RULES.toLocaleString('en')} QNAME triggers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const files = await writeStream(root, blocked, wild);
    for (const n of files.notes) out(`  ${n}`);
    const lab = await startNsdLab(join(root, 'nsd'));
    out(`  NSD lab: ${lab.pids.length} nsd processes on 127.57/16:53`);
    const results: Result[] = [];
    let port = 15600;
    for (const peer of selectPeers(argv.only)) {
      out(`\n== ${peer.label}`);
      port = await freePort(port + 10);
      results.push(await measurePeer(peer, lab, zone, files, root, port));
    }
    printTable(results);
    if (argv.keep) out(`\n(kept ${root})`);
  } finally {
    await stopAll();
    if (!argv.keep) rmSync(root, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:isp: ${(e as Error).stack ?? e}\n`);
  await stopAll();
  process.exit(1);
});
